import CLua
import Foundation

/// `fp run --sandbox`: installs `policy` as SandboxPolicy.current and replaces the Lua
/// functions that reach the system. Disabled outright: os.execute, io.popen, os.tmpname,
/// package.loadlib, C modules (package.cpath searchers) and the debug library (except
/// debug.traceback). Checked against the policy: io.open, io.lines, io.input, io.output,
/// loadfile, dofile, require, os.remove, os.rename. load/loadfile/dofile/require accept text
/// chunks only (a crafted binary chunk can crash Lua).
public enum Sandbox {
    /// The wrappers, in Lua: each keeps the original function as an upvalue the script cannot
    /// reach (the debug library is gone) and asks `check(function, path, write)` first.
    static let wrappers = #"""
local check = ...
local io_open, io_lines, io_input, io_output = io.open, io.lines, io.input, io.output
local os_remove, os_rename = os.remove, os.rename
local load0, loadfile0, searchpath = load, loadfile, package.searchpath
local error, type, tostring, select = error, type, tostring, select

local function allow(fn, path, write)
  local ok, msg = check(fn, path, write)
  if not ok then error(msg, 3) end
end
local function disabled(name)
  return function()
    error(name .. ": disabled in the sandbox (run without --sandbox to allow it; see docs/security.md)", 2)
  end
end
local function pathstr(p) if type(p) == "number" then return tostring(p) end return p end

io.open = function(path, mode)
  path = pathstr(path)
  mode = mode == nil and "r" or pathstr(mode)
  if type(path) == "string" and type(mode) == "string" then
    allow("io.open", path, mode:find("[wa+]") ~= nil)
  end
  return io_open(path, mode)
end
io.lines = function(path, ...)
  path = pathstr(path)
  if type(path) == "string" then allow("io.lines", path, false) end
  return io_lines(path, ...)
end
io.input = function(f)
  f = pathstr(f)
  if type(f) == "string" then allow("io.input", f, false) end
  return io_input(f)
end
io.output = function(f)
  f = pathstr(f)
  if type(f) == "string" then allow("io.output", f, true) end
  return io_output(f)
end
io.popen = disabled("io.popen")
os.execute = disabled("os.execute")
os.tmpname = disabled("os.tmpname")
os.remove = function(path)
  path = pathstr(path)
  if type(path) == "string" then allow("os.remove", path, true) end
  return os_remove(path)
end
os.rename = function(a, b)
  a, b = pathstr(a), pathstr(b)
  if type(a) == "string" and type(b) == "string" then
    allow("os.rename", a, true)
    allow("os.rename", b, true)
  end
  return os_rename(a, b)
end

local function text_only(fn, mode)
  if mode ~= nil and mode ~= "t" then
    error(fn .. ": only text chunks (mode \"t\") are allowed in the sandbox, got mode " .. tostring(mode), 3)
  end
end
load = function(chunk, name, mode, ...)
  text_only("load", mode)
  if select("#", ...) > 0 then return load0(chunk, name, "t", ...) end
  return load0(chunk, name, "t")
end
loadfile = function(path, mode, ...)
  text_only("loadfile", mode)
  path = pathstr(path)
  if type(path) == "string" then allow("loadfile", path, false) end
  if select("#", ...) > 0 then return loadfile0(path, "t", ...) end
  return loadfile0(path, "t")
end
dofile = function(path)
  path = pathstr(path)
  if type(path) == "string" then allow("dofile", path, false) end
  local f, err = loadfile0(path, "t")
  if not f then error(err, 2) end
  return f()
end

-- require: preloaded modules and Lua files on package.path (checked, text only); no C modules.
package.cpath = ""
package.loadlib = disabled("package.loadlib")
local preload_searcher = package.searchers[1]
local function lua_searcher(name)
  local path, err = searchpath(name, package.path)
  if not path then return err end
  local ok, msg = check("require", path, false)
  if not ok then error(msg, 0) end
  local f, lerr = loadfile0(path, "t")
  if not f then error("error loading module '" .. name .. "' from file '" .. path .. "':\n\t" .. lerr, 0) end
  return f, path
end
package.searchers = { preload_searcher, lua_searcher }

local traceback = debug.traceback
debug = { traceback = traceback }
package.loaded.debug = debug
"""#

    /// Installs `policy` and the Lua wrappers in `L`; nil or an error message.
    public static func install(_ L: OpaquePointer, policy: SandboxPolicy) -> String? {
        SandboxPolicy.current = policy
        let status = wrappers.withCString { fp_loadbuffer(L, $0, strlen($0), "=sandbox") }
        guard status == LUA_OK else { return popMessage(L) }
        LuaRegistry.push(L, id: checkFunction)
        guard fp_pcall(L, 1, 0) == LUA_OK else { return popMessage(L) }
        return nil
    }

    static func popMessage(_ L: OpaquePointer) -> String {
        let m = fp_tostring(L, -1).map { String(cString: $0) } ?? "sandbox setup failed"
        fp_pop(L, 1)
        return m
    }

    /// check(function, path, write) -> true, or nil and the message (the Lua wrapper raises it
    /// at the caller's level).
    static let checkFunction = LuaRegistry.register("sandbox check") { l in
        let fn = try l.string(1), path = try l.string(2), write = try l.bool(3)
        do {
            try SandboxPolicy.current?.check(path, write: write, function: fn)
            l.push(bool: true)
            return 1
        } catch let e as LuaError {
            l.pushNil()
            l.pushString(e.message)
            return 2
        }
    }
}
