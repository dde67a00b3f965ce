import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a sandboxed script may read and write. One object decides for every file access a
/// script can make: the Lua wrappers (io.open, io.lines, loadfile, dofile, require, os.remove,
/// os.rename) and the Swift bindings (fp.save, fp.load_tensor(s), fp.load_model,
/// fp.write_file_atomic) all ask `SandboxPolicy.current`. Paths are resolved with realpath
/// before the check, so symbolic links and `..` cannot lead outside an allowed folder.
public final class SandboxPolicy {
    /// The active policy; nil when not sandboxed (everything is allowed).
    public nonisolated(unsafe) static var current: SandboxPolicy?

    /// Resolved folders (or single files) that may be read.
    public let readRoots: [String]
    /// Resolved folders that may be written (and read).
    public let writeRoots: [String]

    public init(read: [String], write: [String]) {
        readRoots = SandboxPolicy.unique(read.compactMap(SandboxPolicy.resolve))
        writeRoots = SandboxPolicy.unique(write.compactMap(SandboxPolicy.resolve))
    }

    static func unique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }

    /// Throws a message naming the function, the path and how to allow it.
    public func check(_ path: String, write: Bool, function: String) throws {
        guard let resolved = SandboxPolicy.resolve(path) else {
            throw LuaError("\(function): sandbox: cannot resolve '\(path)' ('..' after a folder that does not exist)")
        }
        let roots = write ? writeRoots : readRoots + writeRoots
        if roots.contains(where: { SandboxPolicy.isInside(resolved, $0) }) { return }
        let shown = resolved == path ? "'\(path)'" : "'\(path)' (\(resolved))"
        if write {
            let allowed = writeRoots.isEmpty ? "no folder is writable" : "writable: " + writeRoots.joined(separator: ", ")
            throw LuaError("\(function): sandbox: writing \(shown) is not allowed (\(allowed); allow a folder with fp run --allow-write DIR)")
        }
        throw LuaError("\(function): sandbox: reading \(shown) is not allowed (readable: the script's folder, fp's stdlib, the models folders, paths given on the command line and --allow-write folders; allow more with fp run --allow-read PATH)")
    }

    /// Checks against the current policy, if any.
    public static func checkRead(_ path: String, _ function: String) throws {
        try current?.check(path, write: false, function: function)
    }

    public static func checkWrite(_ path: String, _ function: String) throws {
        try current?.check(path, write: true, function: function)
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    /// The absolute path with every symbolic link and `..` resolved. For a path that does not
    /// exist yet (a file about to be written), the longest existing prefix is resolved and the
    /// rest appended; nil if that rest contains `..`.
    public static func resolve(_ path: String) -> String? {
        guard !path.isEmpty, !path.utf8.contains(0) else { return nil }
        let abs = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let comps = abs.split(separator: "/").map(String.init)
        var k = comps.count
        while k >= 0 {
            let head = "/" + comps[0..<k].joined(separator: "/")
            if let real = realpath(head, nil) {
                defer { free(real) }
                let rest = comps[k...].filter { $0 != "." }
                if rest.contains("..") { return nil }
                let base = String(cString: real)
                if rest.isEmpty { return base }
                return (base == "/" ? "" : base) + "/" + rest.joined(separator: "/")
            }
            k -= 1
        }
        return nil
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
