import FPTensor
import Foundation

/// A read-only memory-mapped file: weights are read (and converted) straight from the page
/// cache, never copied whole into memory first. Unmapped when the last user lets go.
/// (In-memory bytes, for tests, are held as an owned copy instead.)
public final class MappedFile {
    public let path: String
    public let count: Int
    private let base: UnsafeRawPointer?
    private let mapped: Bool

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
        mapped = count > 0
        if count == 0 { base = nil; return }   // mmap refuses length 0; parsers report the empty file
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TensorError("\(fn): cannot map '\(path)': \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    /// An owned copy of `data`, named `name` in messages.
    public init(copying data: Data, name: String) throws {
        path = name
        count = data.count
        mapped = false
        guard count > 0 else { base = nil; return }
        guard let p = malloc(count) else { throw TensorError("out of memory copying \(Storage.describe(bytes: count))") }
        data.withUnsafeBytes { src in if let s = src.baseAddress { p.copyMemory(from: s, byteCount: src.count) } }
        base = UnsafeRawPointer(p)
    }

    deinit {
        guard let base else { return }
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) } else { free(UnsafeMutableRawPointer(mutating: base)) }
    }

    /// Drops the pages holding `range` from this process's resident set once their bytes have
    /// been copied out (a loader converts each tensor to float32 once), so a model's peak RSS
    /// is its float32 weights, not those plus the whole file. Safe at any time: the mapping is
    /// read-only and private, so a later read faults the same bytes back in from the file.
    public func release(_ range: Range<Int>) { advise(range, MADV_DONTNEED) }

    private func advise(_ range: Range<Int>, _ advice: Int32) {
        guard mapped, let base, !range.isEmpty, range.lowerBound >= 0, range.upperBound <= count else { return }
        let page = max(1, Int(sysconf(Int32(_SC_PAGESIZE))))
        let lo = range.lowerBound / page * page
        let hi = min(count, (range.upperBound + page - 1) / page * page)
        guard hi > lo else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + lo), hi - lo, advice)
    }

    /// Asks the kernel to start reading `range` from disk now (a cold file is then read ahead
    /// of the conversion instead of one page fault at a time).
    public func prefetch(_ range: Range<Int>) { advise(range, MADV_WILLNEED) }

    /// The whole file as bytes (valid while this object lives).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
