import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Saving and loading tensors by file name; the extension picks the format (.npy, .npz,
/// .safetensors; PyTorch state dicts .pt / .pth are read only, by TorchCheckpoint). Writes are atomic: the bytes go to a temporary file in the same folder
/// which is then renamed over the target, so a failed save never leaves a half-written file.
/// Every error starts with `fn` (the Lua-facing function name) and names the path.
public enum TensorFile {
    enum Format { case npy, npz, safetensors, torch }

    /// The key a single tensor is stored under in .npz and .safetensors files.
    public static let singleKey = "tensor"

    static func format(_ path: String, _ fn: String) throws -> Format {
        let base = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        let parts = base.split(separator: ".", omittingEmptySubsequences: false)
        let ext = parts.count > 1 ? (parts.last ?? "").lowercased() : ""
        switch ext {
        case "npy": return .npy
        case "npz": return .npz
        case "safetensors": return .safetensors
        case "pt", "pth": return .torch
        default: throw TensorError("\(fn): '\(path)': unknown extension (expected .npy, .npz, .safetensors, or .pt / .pth to read)")
        }
    }

    /// Saves one tensor (.npy; in .npz or .safetensors under the key "tensor").
    public static func save(_ t: Tensor, to path: String, fn: String = "save") throws {
        switch try format(path, fn) {
        case .npy:
            let data = try withErrorPrefix("\(fn): '\(path)'") { try NPY.write(t) }
            try writeAtomically(data, to: path, fn: fn)
        case .npz, .safetensors, .torch:
            try saveMany([(singleKey, t)], to: path, fn: fn)
        }
    }

    /// Saves named tensors (.npz or .safetensors), in order for .npz.
    public static func saveMany(_ entries: [(String, Tensor)], to path: String,
                                metadata: [String: String] = [:], fn: String = "save") throws {
        let data: Data = try withErrorPrefix("\(fn): '\(path)'") {
            switch try format(path, fn) {
            case .npz: return try NPZ.write(entries)
            case .safetensors: return try Safetensors.write(entries, metadata: metadata)
            case .npy: throw TensorError(".npy holds a single tensor; use .npz or .safetensors for several")
            case .torch: throw TensorError("PyTorch checkpoints are read, not written; use .safetensors")
            }
        }
        try writeAtomically(data, to: path, fn: fn)
    }

    /// Loads one tensor: a .npy, or a .npz / .safetensors file that holds exactly one.
    public static func load(_ path: String, fn: String = "load_tensor") throws -> Tensor {
        let all = try loadMany(path, fn: fn)
        guard all.count == 1, let only = all.first else {
            let names = all.prefix(8).map { $0.0 }.joined(separator: ", ") + (all.count > 8 ? ", ..." : "")
            throw TensorError("\(fn): '\(path)' holds \(all.count) tensors (\(names)); load them by name with load_tensors")
        }
        return only.1
    }

    /// Loads all tensors of a file (.npz in archive order, .safetensors sorted by name; a .npy
    /// gives one entry named "tensor").
    public static func loadMany(_ path: String, fn: String = "load_tensors") throws -> [(String, Tensor)] {
        let format = try format(path, fn)
        let data = try readFile(path, fn: fn)
        return try withErrorPrefix(fn) {
            switch format {
            case .npy: return [(singleKey, try NPY.read(data: data, name: path))]
            case .npz: return try NPZ.read(data: data, name: path)
            case .safetensors: return try Safetensors.read(data: data, name: path)
            case .torch: return try TorchCheckpoint.read(data: data, name: path)
            }
        }
    }

    static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The whole file, or an error like "load_tensor: cannot read 'x.npy': No such file or directory".
    static func readFile(_ path: String, fn: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TensorError("\(fn): cannot read '\(path)': \(errnoText(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TensorError("\(fn): cannot read '\(path)': \(errnoText(errno))") }
        guard (st.st_mode & S_IFMT) != S_IFDIR else { throw TensorError("\(fn): cannot read '\(path)': \(errnoText(EISDIR))") }
        let size = Int(st.st_size)
        guard size <= Storage.maxAllocationBytes else { throw TensorError("\(fn): '\(path)' is too large (\(size) bytes)") }
        var data = Data(count: size)
        var got = 0
        let failure: Int32? = data.withUnsafeMutableBytes { buf -> Int32? in
            guard let base = buf.baseAddress else { return nil }
            while got < size {
                let r = sysRead(fd, base + got, size - got)
                if r < 0 { if errno == EINTR { continue }; return errno }
                if r == 0 { break }    // the file shrank while reading
                got += r
            }
            return nil
        }
        if let code = failure { throw TensorError("\(fn): cannot read '\(path)': \(errnoText(code))") }
        if got < size { data.count = got }
        return data
    }

    /// Writes `data` to a temporary file next to `path`, then renames it over `path`. The
    /// temporary file is created with O_EXCL | O_NOFOLLOW (never through a link), removed if a
    /// signal ends the process meanwhile, and stale ones of dead processes are cleared first.
    public static func writeAtomically(_ data: Data, to path: String, fn: String) throws {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temp = (dir.isEmpty ? "" : dir + "/") + TemporaryFiles.name(for: base)
        func fail(_ code: Int32) -> TensorError { TensorError("\(fn): cannot write '\(path)': \(errnoText(code))") }

        TemporaryFiles.removeStale(in: dir.isEmpty ? "/" : dir)
        let slot = TemporaryFiles.register(temp)
        defer { TemporaryFiles.unregister(slot) }
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw fail(errno) }
        var failure: Int32? = data.withUnsafeBytes { buf -> Int32? in
            var done = 0
            while done < buf.count {
                guard let p = buf.baseAddress else { break }
                let w = sysWrite(fd, p + done, buf.count - done)
                if w < 0 { if errno == EINTR { continue }; return errno }
                done += w
            }
            return nil
        }
        if failure == nil && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == nil { failure = errno }
        if failure == nil && rename(temp, path) != 0 { failure = errno }
        if let code = failure {
            unlink(temp)
            throw fail(code)
        }
    }
}

// The C functions, named apart from Swift's own `read`/`write` methods and Foundation overloads.
@inline(__always) private func sysRead(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Int {
    read(fd, p, n)
}
@inline(__always) private func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
