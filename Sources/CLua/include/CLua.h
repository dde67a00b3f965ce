// Lua 5.4 for Swift: the C API, wrappers for its macros, and the error trampoline.
#ifndef FP_CLUA_H
#define FP_CLUA_H

#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

// A Swift function callable from Lua. It returns the number of results it pushed, or
// FP_LUA_ERROR after pushing an error message: the trampoline then raises the error once the
// Swift frame has returned (a longjmp across Swift frames is never allowed).
typedef int (*fp_swift_fn)(lua_State *L);
#define FP_LUA_ERROR (-1)
// Like FP_LUA_ERROR, but the message is raised as it is (it already carries its position).
#define FP_LUA_RERAISE (-2)

// Pushes a Lua function that calls `fn` through the trampoline. `fp_pushswift_id` adds an
// integer upvalue (index 2) that the Swift side reads with fp_swift_id to dispatch on.
void fp_pushswift(lua_State *L, fp_swift_fn fn);
void fp_pushswift_id(lua_State *L, fp_swift_fn fn, lua_Integer id);
static inline lua_Integer fp_swift_id(lua_State *L) { return lua_tointeger(L, lua_upvalueindex(2)); }
// table[name] = a Lua function calling `fn` through the trampoline.
void fp_setfield_swift(lua_State *L, int table, const char *name, fp_swift_fn fn);

// __index for userdata: upvalue 1 is a methods table consulted first with a raw lookup;
// upvalue 2 is the fallback (fields, index tables): Swift function `fn` with dispatch id `id`,
// called as fallback(self, key).
void fp_push_index_metamethod(lua_State *L, int methods, fp_swift_fn fn, lua_Integer id);

// Protected call with a traceback message handler. Returns the lua_pcall status.
int fp_pcall_traceback(lua_State *L, int nargs, int nresults);

// Ctrl-C: while armed, SIGINT makes the running Lua code raise "interrupted".
void fp_sigint_arm(lua_State *L);
void fp_sigint_disarm(void);
// Set by SIGINT (and by fp_request_cancel) until cleared, or by the timeout; long Swift
// loops poll it.
int fp_cancel_requested(void);
// --timeout: after `seconds` the running Lua code raises "timeout after N s" (again at every
// instruction, so pcall cannot swallow it); `grace` seconds later the process exits (124).
int fp_timeout_start(int seconds, int grace);
// Replaces coroutine.resume and coroutine.wrap with versions that track the running
// coroutine, so Ctrl-C and the timeout stop a loop inside a coroutine too.
void fp_install_coroutine_tracking(lua_State *L);
int fp_timed_out(void);
int fp_timeout_seconds(void);
void fp_clear_cancel(void);
void fp_request_cancel(void);

// `fp run --sandbox`: the policy, called with the raw bytes of a path. Returns 0 to allow, or
// pushes an error message (without position) and returns 1 to refuse.
typedef int (*fp_sandbox_check_fn)(lua_State *L, const char *function, const char *path, size_t len, int write);
// Replaces io.open, io.lines, io.input, io.output, os.remove, os.rename, load, loadfile, dofile
// and require's file searcher with wrappers that ask `check` (decisions in C/Swift on bytes);
// disables io.popen, os.execute, os.tmpname, package.loadlib, C modules and the debug library
// but traceback. Returns a lua_pcall status (an error message is left on the stack).
int fp_sandbox_install(lua_State *L, fp_sandbox_check_fn check);
// Lua's heap under a byte budget (alloc.c): from now on L allocates through an allocator that
// refuses to grow the heap past cap() bytes (cap is asked at each growth), so the script gets
// a catchable "not enough memory". Frees and shrinks never fail.
void fp_lua_use_budget_allocator(lua_State *L, size_t (*cap)(void));
// Live bytes of Lua heaps that use the budget allocator.
size_t fp_lua_heap_bytes(void);
// Marks whether the innermost native frames are Swift's (the trampoline sets 1, calls from
// Swift into Lua set 0); returns the previous value. Swift frames get headroom above the cap.
int fp_lua_swift_frames(int on);

// Macro wrappers.
static inline void fp_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void fp_newtable(lua_State *L) { lua_newtable(L); }
static inline lua_Number fp_tonumber(lua_State *L, int i) { return lua_tonumber(L, i); }
static inline lua_Integer fp_tointeger(lua_State *L, int i) { return lua_tointeger(L, i); }
static inline const char *fp_tostring(lua_State *L, int i) { return lua_tostring(L, i); }
static inline int fp_isnil(lua_State *L, int i) { return lua_isnil(L, i); }
static inline int fp_isnoneornil(lua_State *L, int i) { return lua_isnoneornil(L, i); }
static inline int fp_istable(lua_State *L, int i) { return lua_istable(L, i); }
static inline int fp_isfunction(lua_State *L, int i) { return lua_isfunction(L, i); }
static inline int fp_isboolean(lua_State *L, int i) { return lua_isboolean(L, i); }
static inline void fp_insert(lua_State *L, int i) { lua_insert(L, i); }
static inline void fp_remove(lua_State *L, int i) { lua_remove(L, i); }
static inline void fp_replace(lua_State *L, int i) { lua_replace(L, i); }
static inline int fp_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline int fp_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void *fp_newuserdata(lua_State *L, size_t sz) { return lua_newuserdatauv(L, sz, 1); }
static inline int fp_getmetatable_named(lua_State *L, const char *name) { return luaL_getmetatable(L, name); }
static inline int fp_pcall(lua_State *L, int nargs, int nresults) {
    int prev = fp_lua_swift_frames(0);
    int status = lua_pcall(L, nargs, nresults, 0);
    fp_lua_swift_frames(prev);
    return status;
}
static inline void fp_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
static inline int fp_loadstring(lua_State *L, const char *s) { return luaL_loadstring(L, s); }
static inline int fp_loadbuffer(lua_State *L, const char *s, size_t n, const char *name) {
    return luaL_loadbufferx(L, s, n, name, "t");
}
static inline int fp_loadfile(lua_State *L, const char *f) { return luaL_loadfilex(L, f, "t"); }
static inline lua_Integer fp_gc_count_kb(lua_State *L) { return lua_gc(L, LUA_GCCOUNT); }
static inline void fp_gc_step(lua_State *L, int kb) { lua_gc(L, LUA_GCSTEP, kb); }
static inline void fp_gc_collect(lua_State *L) { lua_gc(L, LUA_GCCOLLECT); }

#endif
