import CLua
import FPModels
import FPTensor

/// Keys and values of a run, kept for later runs to use as their past (`model:kv_cache`,
/// forward's `past` option): a patched run then recomputes only the positions after the patch.
enum LuaKVCache {
    static let metatableName = "fp.KVCache"

    static func get(_ L: OpaquePointer, _ i: Int32) -> KVCache? {
        LuaObjectBox.get(L, i, metatable: metatableName, as: KVCache.self)
    }

    static func push(_ L: OpaquePointer, _ c: KVCache) {
        install(L)
        LuaObjectBox.push(L, c, metatable: metatableName)
    }

    static func install(_ L: OpaquePointer) {
        guard luaL_newmetatable(L, metatableName) != 0 else { fp_pop(L, 1); return }
        let entries: [(String, LuaFunction)] = [
            ("__gc", LuaObjectBox.collector(metatable: metatableName, KVCache.self)),
            ("__index", { l in
                guard let c = get(l.L, 1) else { throw l.argError(1, "KV cache expected") }
                switch try l.string(2) {
                case "length": l.push(int: c.length)
                case "batch": l.push(int: c.batch)
                default: l.pushNil()
                }
                return 1
            }),
            ("__tostring", { l in
                guard let c = get(l.L, 1) else { throw l.argError(1, "KV cache expected") }
                l.pushString("KVCache(batch \(c.batch), \(c.length) positions)")
                return 1
            }),
        ]
        for (name, body) in entries {
            LuaRegistry.push(L, id: LuaRegistry.register(String(name.dropFirst(2)), body))
            lua_setfield(L, -2, name)
        }
        fp_pop(L, 1)
    }

    /// model:kv_cache(tokens, opts): runs the tokens and keeps every layer's keys and values.
    static let make: LuaFunction = { l in
        let b = try LuaModel.box(l)
        try l.checkOptions(3, LuaModelMethods.forwardOptionNames)
        let (tokens, mask, _) = try LuaModelMethods.input(l, b, 2, 3)
        var o = try LuaModelMethods.forwardOptions(l, b, 3, mask: mask)
        let cache = try KVCache(cfg: b.model.cfg, batch: tokens.shape[0], capacity: tokens.shape[1])
        o.kvCache = cache
        o.logitPositions = [-1]
        _ = try b.model.forward(tokens, options: o, hooks: b.activeHooks())
        push(l.L, cache)
        return 1
    }
}
