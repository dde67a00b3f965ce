import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a sandboxed script may read and write. One object decides for every file access a
/// script can make: the C wrappers of io.open, io.lines, io.input, io.output, loadfile,
/// dofile, require, os.remove and os.rename, and the Swift bindings (fp.save,
/// fp.load_tensor(s), fp.load_model, fp.make_dirs, fp.write_file_atomic) all ask
/// `SandboxPolicy.current`. Paths are byte strings, as the kernel sees them: they are resolved
/// with realpath on the exact bytes and compared byte by byte (no Unicode decoding, so invalid
/// UTF-8 cannot turn into U+FFFD and canonically equivalent names stay different).
/// The kernel (Landlock, KernelSandbox) enforces the same folders underneath.
public final class SandboxPolicy {
    /// The active policy; nil when not sandboxed (everything is allowed).
    public nonisolated(unsafe) static var current: SandboxPolicy?

    public typealias Bytes = [UInt8]

    /// Resolved folders (or single files) that may be read.
    public let readRoots: [Bytes]
    /// Resolved folders that may be written (and read).
    public let writeRoots: [Bytes]

    public init(read: [Bytes], write: [Bytes]) {
        readRoots = SandboxPolicy.unique(read.compactMap { SandboxPolicy.resolve($0) })
        writeRoots = SandboxPolicy.unique(write.compactMap { SandboxPolicy.resolve($0) })
    }

    static func unique(_ xs: [Bytes]) -> [Bytes] {
        var seen = Set<Bytes>()
        return xs.filter { seen.insert($0).inserted }
    }

    /// For messages only (invalid UTF-8 is shown as U+FFFD; decisions never use this).
    static func shown(_ b: Bytes) -> String { String(decoding: b, as: UTF8.self) }

    /// Throws a message naming the function, the path and how to allow it.
    public func check(_ path: Bytes, write: Bool, function: String) throws {
        let p = SandboxPolicy.shown(path)
        let resolved: Bytes
        switch write ? SandboxPolicy.resolveForWrite(path) : SandboxPolicy.resolve(path).map(Resolution.ok) ?? .unresolvable {
        case .ok(let r): resolved = r
        case .unresolvable:
            throw LuaError("\(function): sandbox: cannot resolve '\(p)' ('..' after a folder that does not exist)")
        case .symlink:
            throw LuaError("\(function): sandbox: writing '\(p)' is not allowed (it is a symbolic link; write to the file itself)")
        case .dangling:
            throw LuaError("\(function): sandbox: writing '\(p)' is not allowed (it goes through a symbolic link that points nowhere)")
        }
        let roots = write ? writeRoots : readRoots + writeRoots
        if roots.contains(where: { SandboxPolicy.isInside(resolved, $0) }) { return }
        let shown = resolved == path ? "'\(p)'" : "'\(p)' (\(SandboxPolicy.shown(resolved)))"
        if write {
            let allowed = writeRoots.isEmpty ? "no folder is writable" : "writable: " + writeRoots.map(SandboxPolicy.shown).joined(separator: ", ")
            throw LuaError("\(function): sandbox: writing \(shown) is not allowed (\(allowed); allow a folder with fp run --allow-write DIR)")
        }
        throw LuaError("\(function): sandbox: reading \(shown) is not allowed (readable: the script's folder, fp's stdlib, the models folders, paths given on the command line and --allow-write folders; allow more with fp run --allow-read PATH)")
    }

    /// Checks against the current policy, if any. A String path is checked as its UTF-8
    /// bytes, which are the bytes Swift's file functions open.
    public static func checkRead(_ path: String, _ function: String) throws {
        try current?.check(Array(path.utf8), write: false, function: function)
    }

    public static func checkWrite(_ path: String, _ function: String) throws {
        try current?.check(Array(path.utf8), write: true, function: function)
    }

    public static func isInside(_ path: Bytes, _ root: Bytes) -> Bool {
        if root == [0x2F] || path == root { return true }
        return path.count > root.count && path[root.count] == 0x2F && path.starts(with: root)
    }

    /// realpath(3) of exact bytes, nil if it fails.
    static func realpathBytes(_ path: Bytes) -> Bytes? {
        guard let real = (path + [0]).withUnsafeBufferPointer({ buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { realpath($0, nil) }
        }) else { return nil }
        defer { free(real) }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(real).assumingMemoryBound(to: UInt8.self), count: strlen(real)))
    }

    /// lstat(2) of exact bytes: nil if nothing is there, else whether it is a symbolic link.
    public static func isSymlink(_ path: Bytes) -> Bool? {
        var st = stat()
        let r = (path + [0]).withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { lstat($0, &st) }
        }
        guard r == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFLNK
    }

    static func currentDirectory() -> Bytes {
        guard let cwd = getcwd(nil, 0) else { return [0x2F] }
        defer { free(cwd) }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(cwd).assumingMemoryBound(to: UInt8.self), count: strlen(cwd)))
    }

    /// The path's components after making it absolute; nil for an empty path or one with NUL.
    static func components(_ path: Bytes) -> [Bytes]? {
        guard !path.isEmpty, !path.contains(0) else { return nil }
        let abs = path.first == 0x2F ? path : currentDirectory() + [0x2F] + path
        return abs.split(separator: 0x2F).map(Array.init)
    }

    static func join(_ comps: ArraySlice<Bytes>) -> Bytes {
        comps.reduce(into: Bytes()) { $0 += [0x2F] + $1 }
    }

    static func append(_ base: Bytes, _ rest: [Bytes]) -> Bytes {
        rest.isEmpty ? base : (base == [0x2F] ? [] : base) + join(rest[...])
    }

    /// The absolute path with every symbolic link and `..` resolved. For a path that does not
    /// exist yet, the longest existing prefix is resolved and the rest appended; nil if that
    /// rest contains `..`.
    public static func resolve(_ path: Bytes) -> Bytes? {
        guard let comps = components(path) else { return nil }
        var k = comps.count
        while k >= 0 {
            if let base = realpathBytes(k == 0 ? [0x2F] : join(comps[0..<k])) {
                let rest = comps[k...].filter { $0 != [0x2E] }
                if rest.contains([0x2E, 0x2E]) { return nil }
                return append(base, Array(rest))
            }
            k -= 1
        }
        return nil
    }

    public static func resolve(_ path: String) -> String? {
        resolve(Array(path.utf8)).map(shown)
    }

    enum Resolution { case ok(Bytes), unresolvable, symlink, dangling }

    /// Like `resolve`, but for a file about to be written, created, renamed or removed: the
    /// final component must not be a symbolic link, and the first component that does not
    /// exist must not be one either (a dangling link would create its target, anywhere).
    static func resolveForWrite(_ path: Bytes) -> Resolution {
        guard let comps = components(path) else { return .unresolvable }
        var k = comps.count
        while k >= 0 {
            let head = k == 0 ? [0x2F] : join(comps[0..<k])
            if let base = realpathBytes(head) {
                let rest = comps[k...].filter { $0 != [0x2E] }
                if rest.contains([0x2E, 0x2E]) { return .unresolvable }
                if k == comps.count, k > 0, isSymlink(head) == true { return .symlink }
                if k < comps.count, isSymlink(join(comps[0...k])) != nil { return .dangling }
                return .ok(append(base, rest))
            }
            k -= 1
        }
        return .unresolvable
    }

    /// A folder and, for a models folder, the targets of the symbolic links directly inside it
    /// (the user's own set-up, e.g. a model file kept on another disk).
    public static func folderAndLinkTargets(_ folder: String) -> [String] {
        var out = [folder]
        let fm = FileManager.default
        for item in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] {
            let p = (folder as NSString).appendingPathComponent(item)
            if (try? fm.destinationOfSymbolicLink(atPath: p)) != nil, let r = resolve(p) { out.append(r) }
        }
        return out
    }
}
