// The Lua side of `fp run --sandbox`: the standard functions that reach files are replaced by
// C wrappers that read the path (and io.open's mode) as raw bytes with lua_tolstring, ask the
// policy (Swift, through `check`) and then call the original function kept as an upvalue.
// Nothing here goes through a metatable or a global a script can replace.
#include "CLua.h"
#include <string.h>

static fp_sandbox_check_fn policy_check;

enum kind { K_OPEN, K_READ, K_WRITE, K_RENAME, K_LOADFILE, K_LOAD, K_DOFILE };

// Raises "file:line: message" at the caller of the wrapper.
static int raise_at_caller(lua_State *L) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
    return lua_error(L);
}

// Checks argument `i` if it is a path (a string, or a number Lua would turn into one).
static void check_arg(lua_State *L, const char *fn, int i, int write) {
    int t = lua_type(L, i);
    if (t != LUA_TSTRING && t != LUA_TNUMBER) return;
    size_t len;
    const char *path = lua_tolstring(L, i, &len);
    if (policy_check(L, fn, path, len, write) != 0) raise_at_caller(L);
}

// A mode argument of load/loadfile: absent, nil or exactly "t".
static void text_only(lua_State *L, const char *fn, int i) {
    if (lua_isnoneornil(L, i)) return;
    size_t len;
    const char *m = lua_type(L, i) == LUA_TSTRING ? lua_tolstring(L, i, &len) : NULL;
    if (m && len == 1 && m[0] == 't') return;
    lua_pushfstring(L, "%s: only text chunks (mode \"t\") are allowed in the sandbox, got mode %s",
                    fn, luaL_tolstring(L, i, NULL));
    raise_at_caller(L);
}

static void force_text_mode(lua_State *L, int i) {
    if (lua_gettop(L) < i) lua_settop(L, i);
    lua_pushliteral(L, "t");
    lua_replace(L, i);
}

// Upvalues: 1 the original function, 2 the kind, 3 the name shown in errors.
static int wrapper(lua_State *L) {
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    const char *fn = lua_tostring(L, lua_upvalueindex(3));
    switch (kind) {
    case K_OPEN: {
        int write = 0;
        int t = lua_type(L, 2);
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            size_t len;
            const char *mode = lua_tolstring(L, 2, &len);
            write = memchr(mode, 'w', len) || memchr(mode, 'a', len) || memchr(mode, '+', len);
        }
        check_arg(L, fn, 1, write);
        break;
    }
    case K_READ: check_arg(L, fn, 1, 0); break;
    case K_WRITE: check_arg(L, fn, 1, 1); break;
    case K_RENAME: check_arg(L, fn, 1, 1); check_arg(L, fn, 2, 1); break;
    case K_LOADFILE: text_only(L, fn, 2); check_arg(L, fn, 1, 0); force_text_mode(L, 2); break;
    case K_LOAD: text_only(L, fn, 3); force_text_mode(L, 3); break;
    case K_DOFILE: {
        check_arg(L, fn, 1, 0);
        const char *name = luaL_optstring(L, 1, NULL);
        lua_settop(L, 1);
        if (luaL_loadfilex(L, name, "t") != LUA_OK) return lua_error(L);
        lua_call(L, 0, LUA_MULTRET);
        return lua_gettop(L) - 1;
    }
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int disabled(lua_State *L) {
    lua_pushfstring(L, "%s: disabled in the sandbox (run without --sandbox to allow it; see docs/security.md)",
                    lua_tostring(L, lua_upvalueindex(1)));
    return raise_at_caller(L);
}

// package.searchers[2] in the sandbox: Lua files on package.path, checked, text only.
// Upvalues: 1 the package table, 2 the original package.searchpath.
static int lua_file_searcher(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "path");
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "'package.path' must be a string");
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2)) return 1;   // the "no file ..." text
    lua_pop(L, 1);
    size_t len;
    const char *path = lua_tolstring(L, -1, &len);
    if (policy_check(L, "require", path, len, 0) != 0) return lua_error(L);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path, lua_tostring(L, -1));
    }
    lua_insert(L, -2);   // loader, path
    return 2;
}

static void wrap(lua_State *L, const char *lib, const char *field, int kind, const char *shown) {
    lua_getglobal(L, lib);
    lua_getfield(L, -1, field);
    lua_pushinteger(L, kind);
    lua_pushstring(L, shown);
    lua_pushcclosure(L, wrapper, 3);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

static void wrap_global(lua_State *L, const char *name, int kind) {
    lua_getglobal(L, name);
    lua_pushinteger(L, kind);
    lua_pushstring(L, name);
    lua_pushcclosure(L, wrapper, 3);
    lua_setglobal(L, name);
}

static void disable(lua_State *L, const char *lib, const char *field, const char *shown) {
    lua_getglobal(L, lib);
    lua_pushstring(L, shown);
    lua_pushcclosure(L, disabled, 1);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

static int install(lua_State *L) {
    wrap(L, "io", "open", K_OPEN, "io.open");
    wrap(L, "io", "lines", K_READ, "io.lines");
    wrap(L, "io", "input", K_READ, "io.input");
    wrap(L, "io", "output", K_WRITE, "io.output");
    wrap(L, "os", "remove", K_WRITE, "os.remove");
    wrap(L, "os", "rename", K_RENAME, "os.rename");
    disable(L, "io", "popen", "io.popen");
    disable(L, "os", "execute", "os.execute");
    disable(L, "os", "tmpname", "os.tmpname");
    disable(L, "package", "loadlib", "package.loadlib");
    wrap_global(L, "load", K_LOAD);
    wrap_global(L, "loadfile", K_LOADFILE);
    wrap_global(L, "dofile", K_DOFILE);

    // require: preloaded modules and Lua files on package.path; no C modules.
    lua_getglobal(L, "package");
    int pkg = lua_gettop(L);
    lua_pushliteral(L, "");
    lua_setfield(L, pkg, "cpath");
    lua_createtable(L, 2, 0);
    lua_getfield(L, pkg, "searchers");
    lua_rawgeti(L, -1, 1);             // the preload searcher
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushvalue(L, pkg);
    lua_getfield(L, pkg, "searchpath");
    lua_pushcclosure(L, lua_file_searcher, 2);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, pkg, "searchers");

    // debug: only traceback (for xpcall); require "debug" gives the same table.
    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "traceback");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "debug");
    lua_getfield(L, pkg, "loaded");
    lua_insert(L, -2);
    lua_setfield(L, -2, "debug");
    lua_settop(L, 0);
    return 0;
}

int fp_sandbox_install(lua_State *L, fp_sandbox_check_fn check) {
    policy_check = check;
    lua_pushcfunction(L, install);
    return lua_pcall(L, 0, 0, 0);
}
