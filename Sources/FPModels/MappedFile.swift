import FPTensor
import Foundation

/// A read-only memory-mapped file: weights are read (and converted) straight from the page
/// cache, never copied whole into memory first. Unmapped when the last user lets go.
public final class MappedFile {
    public let path: String
    public let count: Int
    private let base: UnsafeRawPointer?

    public init(path: String, fn: String = "load_model") throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw TensorError("\(fn): cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TensorError("\(fn): cannot stat '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw TensorError("\(fn): '\(path)' is not a regular file") }
        count = Int(st.st_size)
        if count == 0 { base = nil; return }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TensorError("\(fn): cannot map '\(path)': \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The whole file as bytes (valid while this object lives).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
