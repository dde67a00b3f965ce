// Lua's allocator with a byte budget, so a string or table bomb ends in Lua's catchable
// "not enough memory" instead of the OS killing fp. The budget (what --max-memory leaves
// after tensor storage) comes from a Swift callback; Lua's own bytes are counted here.
#include "CLua.h"
#include <stdlib.h>

static size_t heap_bytes;                 // live bytes of every state using fp_lua_alloc
static size_t (*heap_cap)(void);          // bytes the heap may reach now (NULL: no cap)
static int swift_frames;                  // the innermost native frames are Swift's
// While Swift code runs, its own small pushes (a message, a shape table) must not fail:
// Lua would longjmp across Swift frames. They get this much above the cap; Swift code that
// builds a Lua value sized by the script (tolist, token lists) checks the budget first.
static const size_t swift_headroom = (size_t)64 << 20;

static void *fp_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    size_t old = ptr ? osize : 0;         // without ptr, osize is a type tag
    if (nsize == 0) {
        free(ptr);
        heap_bytes -= old;
        return NULL;
    }
    if (nsize > old && heap_cap) {
        size_t cap = heap_cap();
        if (swift_frames) cap = cap > SIZE_MAX - swift_headroom ? SIZE_MAX : cap + swift_headroom;
        size_t grow = nsize - old;
        if (heap_bytes > cap || grow > cap - heap_bytes) return NULL;   // Lua collects and retries once
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        // Lua requires that shrinking never fails: keep the larger block, count what Lua sees.
        if (nsize <= old) { heap_bytes -= old - nsize; return ptr; }
        return NULL;
    }
    heap_bytes = heap_bytes - old + nsize;
    return p;
}

void fp_lua_use_budget_allocator(lua_State *L, size_t (*cap)(void)) {
    // What the state already holds (allocated by luaL_newstate's allocator, also malloc/free)
    // is counted from Lua's own exact total.
    heap_bytes += (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    heap_cap = cap;
    lua_setallocf(L, fp_lua_alloc, NULL);
}

size_t fp_lua_heap_bytes(void) { return heap_bytes; }

int fp_lua_swift_frames(int on) {
    int prev = swift_frames;
    swift_frames = on;
    return prev;
}
