#include "CLua.h"
#include "CSandbox.h"
#include <signal.h>
#include <string.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

// Calls the Swift function stored as light userdata in upvalue 1. A negative return means
// the Swift side pushed an error message: raise it here, after the Swift frame is gone.
static int trampoline(lua_State *L) {
    fp_swift_fn fn = (fp_swift_fn)lua_touserdata(L, lua_upvalueindex(1));
    int prev = fp_lua_swift_frames(1);
    int n = fn(L);
    fp_lua_swift_frames(prev);
    if (n >= 0) return n;
    if (n != FP_LUA_RERAISE && lua_type(L, -1) == LUA_TSTRING) {
        // "file:line:" of the nearest Lua caller (metamethods such as __index sit between).
        lua_Debug ar;
        for (int level = 1; level <= 3 && lua_getstack(L, level, &ar); level++) {
            if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
                lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
                lua_pushvalue(L, -2);
                lua_concat(L, 2);
                break;
            }
        }
    }
    return lua_error(L);
}

void fp_pushswift(lua_State *L, fp_swift_fn fn) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushcclosure(L, trampoline, 1);
}

void fp_pushswift_id(lua_State *L, fp_swift_fn fn, lua_Integer id) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushinteger(L, id);
    lua_pushcclosure(L, trampoline, 2);
}

void fp_setfield_swift(lua_State *L, int table, const char *name, fp_swift_fn fn) {
    table = lua_absindex(L, table);
    fp_pushswift(L, fn);
    lua_setfield(L, table, name);
}

static int index_metamethod(lua_State *L) {
    // Fast path: methods table, raw lookup, no Swift involved.
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

void fp_push_index_metamethod(lua_State *L, int methods, fp_swift_fn fn, lua_Integer id) {
    methods = lua_absindex(L, methods);
    lua_pushvalue(L, methods);
    fp_pushswift_id(L, fn, id);
    lua_pushcclosure(L, index_metamethod, 2);
}

static int traceback_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int fp_pcall_traceback(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    int prev = fp_lua_swift_frames(0);
    int status = lua_pcall(L, nargs, nresults, base);
    fp_lua_swift_frames(prev);
    lua_remove(L, base);
    return status;
}

// --- Ctrl-C and --timeout ----------------------------------------------------------------

static volatile sig_atomic_t cancel_flag = 0;    // Ctrl-C: set until the run ends
static volatile sig_atomic_t timeout_flag = 0;   // --timeout expired: sticky, raised again and again
static volatile int timeout_seconds = 0;
static lua_State *volatile armed_state = NULL;
// The coroutine running right now (NULL: the main thread), kept by fp's coroutine.resume and
// coroutine.wrap. Hooks are per thread, so a stop request must reach the running coroutine.
// No permanent hook is set: any hook makes the Lua VM check it at every instruction (~2x
// slower loops); the hook is set only when Ctrl-C or the timeout asks to stop.
static lua_State *volatile running_co = NULL;
// The thread that runs Lua (fp_sigint_arm's caller). Hooks are set only on it: lua_sethook
// walks the state's call frames, which that thread may be changing at the same moment, so a
// hook set from another thread can write into a frame just freed (heap corruption). A
// process-directed SIGINT runs its handler on any thread that does not block it (OpenBLAS's
// workers, fp's own; while the Lua thread is inside oneDNN it blocks SIGINT, see
// Sources/CDNNL/signal_guard.h), and the timeout thread is another thread: both hand the stop
// request to the Lua thread with pthread_kill, where it waits for oneDNN's call to return.
static pthread_t lua_thread;
static volatile sig_atomic_t lua_thread_known = 0;
static volatile sig_atomic_t stop_kick = 0;      // another thread asks the Lua thread for stop_now

int fp_cancel_requested(void) { return cancel_flag || timeout_flag; }
int fp_timed_out(void) { return timeout_flag; }
int fp_timeout_seconds(void) { return timeout_seconds; }
void fp_clear_cancel(void) { cancel_flag = 0; }
void fp_request_cancel(void) { cancel_flag = 1; }

static void cancel_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    // Both keep the every-instruction hook until the run ends (fp_sigint_disarm): a pcall or
    // a coroutine.resume in the script cannot swallow them.
    if (timeout_flag) luaL_error(L, "timeout after %d s", (int)timeout_seconds);
    if (cancel_flag) luaL_error(L, "interrupted");
    lua_sethook(L, NULL, 0, 0);
}

static void hook_stop(lua_State *L) {
    // lua_sethook is safe to call asynchronously (lua.c calls it from its signal handler).
    if (L) lua_sethook(L, cancel_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

// Makes the armed state and the running coroutine stop at their next instruction, call or return.
static void stop_now(void) {
    if (!armed_state) return;
    hook_stop(armed_state);
    hook_stop(running_co);
}

static void interrupted_twice(void) {
    // The first Ctrl-C has not been acted on: a long native call without checks is running
    // (a huge matmul, a C string function). A second one ends the process.
    static const char msg[] = "\nfp: interrupted twice; exiting\n";
    ssize_t w = write(2, msg, sizeof msg - 1); (void)w;
    fp_tempfiles_unlink_all();
    _exit(130);
}

static void on_sigint(int sig) {
    if (lua_thread_known && !pthread_equal(pthread_self(), lua_thread)) {
        // another thread: count the Ctrl-C here, and let the Lua thread set its own hooks
        if (cancel_flag) interrupted_twice();
        cancel_flag = 1;
        stop_kick = 1;
        pthread_kill(lua_thread, sig);   // async-signal-safe (tgkill)
        return;
    }
    if (stop_kick) {   // passed on by another thread (above) or the timeout thread
        stop_kick = 0;
        stop_now();
        return;
    }
    if (cancel_flag) interrupted_twice();
    cancel_flag = 1;
    stop_now();
}

// The SIGINT action before fp_sigint_arm, restored by fp_sigint_disarm: the default, the handler
// that removes temporary files of saves, or the REPL's / kernel worker's prompt handler (they
// ignore SIGINT between chunks, so a Ctrl-C that arrives just after one ends is harmless).
static struct sigaction saved_sigint;
static int sigint_saved = 0;

void fp_sigint_arm(lua_State *L) {
    int nested = armed_state != NULL;
    lua_thread = pthread_self();
    lua_thread_known = 1;
    armed_state = L;
    running_co = NULL;
    cancel_flag = 0;
    if (timeout_flag) stop_now();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    if (!nested && sigaction(SIGINT, &sa, &saved_sigint) == 0) sigint_saved = 1;
    else sigaction(SIGINT, &sa, NULL);
}

// coroutine.resume(co, ...) through the original (upvalue 1), with co marked as running so a
// stop request reaches it; a stop already pending is passed on before it starts.
static int co_resume_marked(lua_State *L, lua_State *co, int first_arg) {
    int nargs = lua_gettop(L) - first_arg + 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, first_arg);
    if (armed_state && (cancel_flag || timeout_flag)) hook_stop(co);
    lua_State *prev = running_co;
    running_co = co;
    // resume itself never raises for errors inside co, but a stop hook on L can raise at the
    // call: running_co must be restored before any error leaves (co may be collected later)
    int status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    running_co = prev;
    if (status != LUA_OK) return lua_error(L);
    if (armed_state && (cancel_flag || timeout_flag)) stop_now();
    return lua_gettop(L) - first_arg + 1;
}

static int co_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    return co_resume_marked(L, co, 1);
}

// The function coroutine.wrap returns: upvalue 1 the original resume, upvalue 2 the coroutine.
static int co_wrap_call(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    int n = co_resume_marked(L, co, 1);
    int base = lua_gettop(L) - n + 1;
    if (lua_toboolean(L, base)) return n - 1;
    // an error inside the coroutine: raise it here, with position information for strings
    if (lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int co_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushvalue(L, lua_upvalueindex(1));   // the original resume
    lua_insert(L, -2);                       // resume, co
    lua_pushcclosure(L, co_wrap_call, 2);
    return 1;
}

void fp_install_coroutine_tracking(lua_State *L) {
    lua_getglobal(L, "coroutine");
    if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
    lua_getfield(L, -1, "resume");
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, co_resume, 1);
    lua_setfield(L, -3, "resume");
    lua_pushcclosure(L, co_wrap, 1);          // takes the original resume as its upvalue
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
}

void fp_sigint_disarm(void) {
    lua_State *L = armed_state;
    armed_state = NULL;
    running_co = NULL;
    if (L) lua_sethook(L, NULL, 0, 0);
    cancel_flag = 0;
    if (sigint_saved && saved_sigint.sa_handler != on_sigint) sigaction(SIGINT, &saved_sigint, NULL);
    else signal(SIGINT, SIG_DFL);
    sigint_saved = 0;
}

// The timeout thread: sets the flag after `seconds`; if the process is still running
// `grace` seconds later (stuck in one long native call), it exits with status 124.
static void *timeout_thread(void *arg) {
    int grace = (int)(intptr_t)arg;
    struct timespec ts = { timeout_seconds, 0 };
    while (nanosleep(&ts, &ts) != 0) {}
    timeout_flag = 1;
    // the Lua thread sets its own hooks (see lua_thread); Swift code checks timeout_flag
    if (armed_state && lua_thread_known) {
        stop_kick = 1;
        pthread_kill(lua_thread, SIGINT);
    }
    ts.tv_sec = grace; ts.tv_nsec = 0;
    while (nanosleep(&ts, &ts) != 0) {}
    char msg[96];
    int n = snprintf(msg, sizeof msg, "fp: timeout after %d s (did not stop within %d s more; exiting)\n", (int)timeout_seconds, grace);
    if (n > 0) { ssize_t w = write(2, msg, (size_t)n); (void)w; }
    fp_tempfiles_unlink_all();
    _exit(124);
    return NULL;
}

int fp_timeout_start(int seconds, int grace) {
    if (seconds <= 0) return -1;
    timeout_seconds = seconds;
    pthread_t th;
    if (pthread_create(&th, NULL, timeout_thread, (void *)(intptr_t)grace) != 0) return -1;
    pthread_detach(th);
    return 0;
}
