import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The operating system's half of `fp run --sandbox`: once applied, the kernel itself refuses
/// file access outside the allowed folders and the system calls that start programs or leave
/// the process, whatever the Lua code (or a memory-safety bug) does. Linux: Landlock and a
/// seccomp filter (Sources/CSandbox). macOS would apply a sandbox_init(3) profile with the same
/// read and write folders behind the same `apply` (see docs/security.md); not built yet.
public enum KernelSandbox {
    public typealias Bytes = [UInt8]

    /// What this kernel offers.
    public static var landlockABI: Int { Int(fp_landlock_abi()) }
    public static var seccompSupported: Bool { fp_seccomp_supported() != 0 }

    /// One line for `fp info` and the --sandbox warning.
    public static var statusDescription: String {
        let abi = landlockABI
        let ll = abi > 0 ? "Landlock ABI \(abi)" : abi == 0 ? "Landlock not available (kernel without it, or disabled at boot)" : "no kernel file confinement on this system"
        let sc = seccompSupported ? "seccomp filter" : "no seccomp filter"
        return "\(ll); \(sc)"
    }

    /// What `apply` did.
    public struct Applied {
        public let landlockABI: Int     // 0: Landlock was not available
        public let seccomp: Bool
    }

    /// Files and folders the process still needs after start-up (found with strace; see
    /// docs/security.md): read-only, skipped where absent.
    public static let systemReadPaths: [String] = [
        // This process only (/proc/PID): not /proc, where other processes' environ and maps
        // stay readable under Landlock. (So fp avoids libdispatch's thread pool, whose
        // monitor reads /proc/TID/stat: see FPTensor/ParallelFor.swift.)
        "/proc/self",
        "/sys/devices/system/cpu",                       // sysconf(_SC_NPROCESSORS_*) (glibc, OpenBLAS)
        "/etc/localtime", "/usr/share/zoneinfo",         // os.date (TZ)
        "/usr/lib/locale", "/usr/share/locale/locale.alias",   // os.setlocale
        "/usr/lib/x86_64-linux-gnu/gconv", "/usr/lib/aarch64-linux-gnu/gconv",   // os.setlocale's charset
    ]

    /// Restricts the process to reading `read`, reading and writing `write` (absolute,
    /// resolved; missing paths are skipped), and applies the seccomp filter. Throws if the
    /// kernel offers a mechanism and applying it fails; a missing mechanism is reported in the
    /// result, not thrown.
    /// `files` are single files that fp itself (not the script: the policy does not list
    /// them) reads and rewrites, e.g. the REPL's history.
    public static func apply(read: [Bytes], write: [Bytes], files: [Bytes] = []) throws -> Applied {
        var entries = [(Bytes, Bool)]()
        for p in files { entries.append((p, true)) }
        for p in systemReadPaths { entries.append((Array(p.utf8), false)) }
        for p in read { entries.append((p, false)) }
        for p in write { entries.append((p, true)) }
        entries = entries.filter { exists($0.0) }
        var owned = [UnsafeMutablePointer<CChar>]()
        defer { owned.forEach { free($0) } }
        var rules = [fp_landlock_path]()
        for (path, writable) in entries {
            let c = UnsafeMutablePointer<CChar>.allocate(capacity: path.count + 1)
            path.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(c).copyMemory(from: raw.baseAddress!, byteCount: path.count)
            }
            c[path.count] = 0
            owned.append(c)
            rules.append(fp_landlock_path(path: UnsafePointer(c), writable: writable ? 1 : 0))
        }
        var bad: Int32 = -1
        let ll = fp_landlock_restrict(rules, Int32(rules.count), &bad)
        if ll < 0 {
            let which = bad >= 0 && Int(bad) < entries.count ? " (at '\(String(decoding: entries[Int(bad)].0, as: UTF8.self))')" : ""
            throw LuaError("cannot apply Landlock\(which): \(String(cString: strerror(-ll)))")
        }
        var seccomp = false
        if seccompSupported {
            let r = fp_seccomp_restrict()
            if r != 0 { throw LuaError("cannot apply the seccomp filter: \(String(cString: strerror(-r)))") }
            seccomp = true
        }
        return Applied(landlockABI: Int(ll), seccomp: seccomp)
    }

    static func exists(_ p: Bytes) -> Bool {
        var st = stat()
        return (p + [0]).withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { stat($0, &st) == 0 }
        }
    }
}
