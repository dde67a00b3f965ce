import CLua

/// Which lua_State to use. A coroutine's state is freed when the coroutine is collected, so
/// nothing that outlives one Swift call may keep it: objects keep the main thread's state
/// (alive as long as the Lua state), read arguments from the state of the call they serve,
/// and call Lua functions on the thread that is running Swift right now.
enum LuaThreads {
    /// The main thread of the Lua state that `L` belongs to.
    static func main(_ L: OpaquePointer) -> OpaquePointer {
        lua_rawgeti(L, fp_registryindex(), lua_Integer(LUA_RIDX_MAINTHREAD))
        let m = lua_tothread(L, -1)
        fp_pop(L, 1)
        return m ?? L
    }

    /// The thread of the innermost Swift function call in progress (set by LuaRegistry's
    /// dispatcher for the length of each call), nil outside any call.
    nonisolated(unsafe) static var calling: OpaquePointer?

    /// The thread to call a stored Lua function on: the calling one, else the main one.
    static func running(or main: OpaquePointer) -> OpaquePointer { calling ?? main }
}
