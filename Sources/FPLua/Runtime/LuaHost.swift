import CLua
import FPTensor
import Foundation

/// One Lua 5.4 state with the standard libraries, `fp` preloaded (and global), and
/// fp's stdlib plus the script's folder on package.path.
public final class LuaHost {
    public let L: OpaquePointer
    let stdlibPath: String?

    public init(stdlibPath: String?) throws {
        guard let L = luaL_newstate() else { throw LuaError("cannot create a Lua state (out of memory)") }
        self.L = L
        self.stdlibPath = stdlibPath
        luaL_openlibs(L)
        LimitsBridge.install(L)
        // package.preload.fp returns the module; the global fp is the same table.
        LuaFPModule.push(L)
        lua_pushvalue(L, -1)
        lua_setglobal(L, "fp")
        lua_getglobal(L, "package")
        lua_getfield(L, -1, "loaded")
        lua_pushvalue(L, -3)
        lua_setfield(L, -2, "fp")
        lua_settop(L, 0)
        if let stdlibPath { addToPackagePath(stdlibPath) }
    }

    /// Loads stdlib/fp/extensions.lua (Lua-written model methods: model:batch, ...); fp works
    /// without it if absent. Separate from init because it is Lua code from a file: a
    /// sandboxed run calls it only once the sandbox is on.
    public func loadExtensions() {
        guard stdlibPath != nil else { return }
        if let err = runString("require('fp.extensions')", name: "=fp.extensions") {
            FileHandle.standardError.write("fp: warning: cannot load fp.extensions: \(err)\n".data(using: .utf8) ?? Data())
        }
    }

    deinit {
        LimitsBridge.uninstall(L)
        lua_close(L)
    }

    /// Prepends `dir/?.lua;dir/?/init.lua` to package.path.
    public func addToPackagePath(_ dir: String) {
        lua_getglobal(L, "package")
        lua_getfield(L, -1, "path")
        let old = fp_tostring(L, -1).map { String(cString: $0) } ?? ""
        fp_pop(L, 1)
        lua_pushstring(L, "\(dir)/?.lua;\(dir)/?/init.lua;" + old)
        lua_setfield(L, -2, "path")
        fp_pop(L, 1)
    }

    /// Sets the global `arg` table as lua.c does: arg[0] = script, arg[1...] = its arguments.
    public func setArgs(script: String, _ args: [String]) {
        lua_createtable(L, Int32(args.count), 1)
        lua_pushstring(L, script)
        lua_rawseti(L, -2, 0)
        for (i, a) in args.enumerated() {
            lua_pushstring(L, a)
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
        lua_setglobal(L, "arg")
    }

    /// Runs a file; returns nil on success or the error message with its traceback.
    public func runFile(_ path: String, args: [String] = []) -> String? {
        if fp_loadfile(L, path) != LUA_OK { return popError() }
        for a in args { lua_pushstring(L, a) }
        return call(nargs: Int32(args.count), nresults: 0)
    }

    /// Runs a chunk of code; returns nil on success or the error message with its traceback.
    public func runString(_ code: String, name: String = "=(command line)") -> String? {
        let status = code.withCString { fp_loadbuffer(L, $0, strlen($0), name) }
        if status != LUA_OK { return popError() }
        return call(nargs: 0, nresults: 0)
    }

    /// Calls the function below `nargs` arguments with a traceback handler and Ctrl-C armed.
    public func call(nargs: Int32, nresults: Int32) -> String? {
        fp_sigint_arm(L)
        defer { fp_sigint_disarm() }
        let status = fp_pcall_traceback(L, nargs, nresults)
        LuaTensor.accountAllocations(L)
        return status == LUA_OK ? nil : popError()
    }

    func popError() -> String {
        let msg = fp_tostring(L, -1).map { String(cString: $0) } ?? "(error object is not a string)"
        fp_pop(L, 1)
        return msg
    }

    /// Where fp's Lua stdlib lives: $FP_STDLIB, else a `stdlib` folder next to or above the
    /// executable (the source tree when run from .build/release), else /usr/local/share/fp/stdlib.
    public static func findStdlib(executable: String) -> String? {
        if let env = ProcessInfo.processInfo.environment["FP_STDLIB"] { return env }
        // /proc/self/exe is the running binary even when it was found through PATH
        let exe = FileManager.default.fileExists(atPath: "/proc/self/exe") ? "/proc/self/exe" : executable
        var dir = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let cand = dir.appendingPathComponent("stdlib")
            if FileManager.default.fileExists(atPath: cand.appendingPathComponent("fp").path) { return cand.path }
            dir = dir.deletingLastPathComponent()
        }
        let shared = "/usr/local/share/fp/stdlib"
        return FileManager.default.fileExists(atPath: shared) ? shared : nil
    }
}
