import CLua
import Foundation

/// `fp run --sandbox` inside Lua: installs `policy` as SandboxPolicy.current and replaces the
/// Lua functions that reach the system (C wrappers in Sources/CLua/sandbox_io.c). Disabled
/// outright: os.execute, io.popen, os.tmpname, package.loadlib, C modules (package.cpath
/// searchers) and the debug library (except debug.traceback). Checked against the policy on the
/// raw bytes of the path: io.open (its mode read as bytes too), io.lines, io.input, io.output,
/// loadfile, dofile, require, os.remove, os.rename. load/loadfile/dofile/require accept text
/// chunks only (a crafted binary chunk can crash Lua). The kernel layer is KernelSandbox.
public enum Sandbox {
    /// Installs `policy` and the wrappers in `L`; nil or an error message.
    public static func install(_ L: OpaquePointer, policy: SandboxPolicy) -> String? {
        SandboxPolicy.current = policy
        guard fp_sandbox_install(L, check) == LUA_OK else {
            let m = fp_tostring(L, -1).map { String(cString: $0) } ?? "sandbox setup failed"
            fp_pop(L, 1)
            return m
        }
        return nil
    }

    /// The policy as the C wrappers call it: 0 to allow, or 1 after pushing the message.
    static let check: fp_sandbox_check_fn = { L, fn, path, len, write in
        guard let L else { return 1 }
        let name = fn.map { String(cString: $0) } ?? "sandbox"
        let bytes = path.map { Array(UnsafeRawBufferPointer(start: $0, count: len)) } ?? []
        do {
            guard let policy = SandboxPolicy.current else { throw LuaError("\(name): sandbox: no policy installed") }
            try policy.check(bytes, write: write != 0, function: name)
            return 0
        } catch let e as LuaError {
            lua_pushstring(L, e.message)
        } catch {
            lua_pushstring(L, "\(name): sandbox: \(error)")
        }
        return 1
    }

    /// Argument `i` as a path for fp's own file functions: in the sandbox it is checked on its
    /// bytes, and a name that is not valid UTF-8 is refused (Swift would open a different name).
    public static func path(_ l: Lua, _ i: Int32, write: Bool, function: String) throws -> String {
        guard l.type(i) == LUA_TSTRING else { throw l.argError(i, "string expected") }
        var len = 0
        guard let p = lua_tolstring(l.L, i, &len) else { throw l.argError(i, "string expected") }
        let bytes = Array(UnsafeRawBufferPointer(start: p, count: len))
        guard let policy = SandboxPolicy.current else { return String(decoding: bytes, as: UTF8.self) }
        try policy.check(bytes, write: write, function: function)
        guard let s = String(validating: bytes, as: UTF8.self), !bytes.contains(0) else {
            throw LuaError("\(function): sandbox: the path '\(String(decoding: bytes, as: UTF8.self))' is not valid UTF-8 (or holds a NUL byte); fp's file functions take UTF-8 names")
        }
        return s
    }
}
