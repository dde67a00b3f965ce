import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The temporary files of atomic saves, `.NAME.tmp-PID-RAND` next to the target. While one
/// exists its path is registered with a C signal handler that unlinks it on SIGTERM, SIGINT
/// or SIGHUP; one left by a process that was killed outright (SIGKILL, power loss) is removed
/// by the next save into the same folder once its PID is no longer alive.
public enum TemporaryFiles {
    /// Sets the signal handlers (once; signals that are ignored or handled are left alone).
    public static func installSignalCleanup() { fp_tempfiles_install() }

    /// The name of a new temporary file for `base` in this process.
    static func name(for base: String) -> String {
        ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Registers `path` for removal on a signal; returns the slot for `unregister`.
    static func register(_ path: String) -> Int32 { fp_tempfile_register(path) }
    static func unregister(_ slot: Int32) { fp_tempfile_unregister(slot) }

    /// The PID in a temporary file's name, nil if the name is not `.X.tmp-PID-RAND`.
    static func ownerPID(_ name: String) -> pid_t? {
        guard name.hasPrefix("."), let r = name.range(of: ".tmp-", options: .backwards), r.lowerBound > name.index(after: name.startIndex) else { return nil }
        let parts = name[r.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let pid = pid_t(parts[0]), pid > 0, UInt32(parts[1]) != nil else { return nil }
        return pid
    }

    /// Removes the regular files in `dir` named like a temporary file whose PID is not alive
    /// (kill(pid, 0) says "no such process"; a PID in use by anyone, even another user, stays).
    static func removeStale(in dir: String) {
        guard let d = opendir(dir.isEmpty ? "." : dir) else { return }
        defer { closedir(d) }
        let me = getpid()
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = ownerPID(name), pid != me else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let path = (dir.isEmpty ? "" : dir + "/") + name
            var st = stat()
            if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { unlink(path) }
        }
    }
}
