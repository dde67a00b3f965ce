import CLua
import FPModels
import FPTensor

/// A run's `bwd_hooks = { {name, fn}, ... }`: fn(grad, hook) is called with the gradient at that
/// hook point when the run's graph is backpropagated. The Lua functions stay referenced for as
/// long as the graph (the closures) lives, and are released with it.
final class LuaBackwardHooks: BackwardHookDispatcher {
    /// The main thread's state (the graph may be backpropagated from another thread than the
    /// one that ran it, after that one is gone); hooks run on LuaThreads.running(or: L).
    let L: OpaquePointer
    private var entries: [(name: String, ref: Int32)] = []

    init(_ L: OpaquePointer) { self.L = LuaThreads.main(L) }

    deinit { for e in entries { luaL_unref(L, fp_registryindex(), e.ref) } }

    var isEmpty: Bool { entries.isEmpty }

    /// Parses opts.bwd_hooks at options index `opts`; nil when there are none.
    static func parse(_ l: Lua, _ opts: Int32, knownPoints: Set<String>) throws -> LuaBackwardHooks? {
        guard let idx = l.option(opts, "bwd_hooks") else { return nil }
        defer { fp_pop(l.L, 1) }
        guard lua_type(l.L, idx) == LUA_TTABLE else { throw LuaError("\(l.function): bwd_hooks must be a list of {name, fn} pairs") }
        let h = LuaBackwardHooks(l.L)
        for k in 0..<Int(lua_rawlen(l.L, idx)) {
            lua_rawgeti(l.L, idx, lua_Integer(k + 1))
            let pair = lua_gettop(l.L)
            defer { lua_settop(l.L, pair - 1) }
            guard lua_type(l.L, pair) == LUA_TTABLE else { throw LuaError("\(l.function): bwd_hooks entry \(k + 1) must be a {name, fn} pair") }
            lua_rawgeti(l.L, pair, 1)
            lua_rawgeti(l.L, pair, 2)
            guard lua_type(l.L, pair + 1) == LUA_TSTRING else { throw LuaError("\(l.function): bwd_hooks entry \(k + 1): the hook point must be a name") }
            let name = String(cString: lua_tolstring(l.L, pair + 1, nil))
            guard knownPoints.contains(name) else { throw LuaError("\(l.function): bwd_hooks: \(HookNameSuggestions.message(name, in: knownPoints.sorted())); model:hook_points() lists them") }
            guard fp_isfunction(l.L, pair + 2) != 0 else { throw LuaError("\(l.function): bwd_hooks entry \(k + 1): a hook must be a function(grad, hook)") }
            lua_pushvalue(l.L, pair + 2)
            h.entries.append((name, luaL_ref(l.L, fp_registryindex())))
        }
        return h.entries.isEmpty ? nil : h
    }

    func wantsBackward(_ name: String) -> Bool { entries.contains { $0.name == name } }

    func backwardHook(_ name: String, layer: Int?) -> (Tensor) throws -> Void {
        let refs = entries.filter { $0.name == name }.map { $0.ref }
        // the closure keeps this object (and so the Lua functions) alive with the graph
        return { [self] grad in
            for ref in refs {
                try LuaHookDispatcher.callHook(LuaThreads.running(or: L), ref, grad, name: name, layer: layer, results: 0, kind: "backward hook")
            }
        }
    }
}
