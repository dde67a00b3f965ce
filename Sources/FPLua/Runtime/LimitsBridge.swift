import CLua
import FPTensor

/// Connects FPTensor's Limits to the Lua side: the cancellation flags live in the C shim
/// (set by SIGINT and the --timeout thread), and a too-large allocation first runs Lua's GC.
public enum LimitsBridge {
    /// Called once per Lua state, by LuaHost.
    static func install(_ L: OpaquePointer) {
        fp_install_coroutine_tracking(L)
        // Lua's heap counts against --max-memory too (a string or table bomb is a Lua error).
        fp_lua_use_budget_allocator(L) { Limits.luaHeapCap() }
        Limits.luaHeapBytes = { fp_lua_heap_bytes() }
        Limits.cancelReason = {
            if fp_timed_out() != 0 { return "timeout after \(fp_timeout_seconds()) s" }
            return fp_cancel_requested() != 0 ? "interrupted" : nil
        }
        state = L
        Limits.reclaim = {
            // on the thread running Swift right now (finalizers run on it), else the main one
            guard let L = LuaThreads.calling ?? state else { return }
            fp_gc_collect(L)
            fp_gc_collect(L)   // the second pass frees what the first one's finalizers released
        }
    }

    /// The state whose GC reclaims memory; cleared when that state closes.
    nonisolated(unsafe) static var state: OpaquePointer?

    static func uninstall(_ L: OpaquePointer) {
        if state == L { state = nil }
    }

    /// `fp run --timeout SECONDS`: starts the timer (the process exits with status 124 if the
    /// script has not stopped `grace` seconds after the deadline).
    public static func startTimeout(seconds: Int, grace: Int = 5) -> Bool {
        fp_timeout_start(Int32(clamping: seconds), Int32(clamping: grace)) == 0
    }

    public static var timedOut: Bool { fp_timed_out() != 0 }
}
