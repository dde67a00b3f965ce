import CLua
import FPModels
import FPTensor

/// `model:patch_sweep(corrupted_tokens, { positions = {-1} })`: the engine under fp.patching's
/// sweeps (see PatchSweep). `s:reference(layer, stage)` is the corrupted run's activation,
/// `s:add(layer, stage, act)` queues a patched copy, `s:run()` returns the queued cells' logits
/// [cells, batch, npos, d_vocab]; `s.corrupted_logits`, `s.pending`, `s.pending_rows`.
/// `s:entry(point, layer)` says where a patch of blocks.{layer}.hook_{point} enters (the block's
/// residual decomposition): layer, stage and a list of {layer, stage} references it adds to. When the engine cannot run (hooks attached, a block shape it does not
/// implement), model:patch_sweep returns nil and the reason.
enum LuaPatchSweep {
    static let metatableName = "fp.PatchSweep"

    static func get(_ l: Lua, _ i: Int32) throws -> PatchSweep {
        guard let s = LuaObjectBox.get(l.L, i, metatable: metatableName, as: PatchSweep.self) else {
            throw l.argError(i, "patch sweep (from model:patch_sweep)")
        }
        return s
    }

    /// A join stage (s:add) or any reference stage (s:reference also has attn_out, mlp_out).
    static func stage(_ l: Lua, _ i: Int32, join: Bool) throws -> PatchSweep.Stage {
        let s = try l.string(i)
        guard let st = PatchSweep.Stage(rawValue: s), !join || [.pre, .mid, .z].contains(st) else {
            let names = join ? "\"pre\", \"mid\" or \"z\"" : "\"pre\", \"mid\", \"z\", \"attn_out\" or \"mlp_out\""
            throw l.argError(i, message: "stage must be \(names), got \"\(s)\"")
        }
        return st
    }

    static func push(_ L: OpaquePointer, _ s: PatchSweep) {
        install(L)
        LuaObjectBox.push(L, s, metatable: metatableName)
    }

    static let methods: [(String, LuaFunction)] = [
        ("add", { l in
            let s = try get(l, 1)
            let i = try s.add(layer: try l.int(2), stage: try stage(l, 3, join: true), try l.tensor(4))
            l.push(int: i)
            return 1
        }),
        ("run", { l in
            let s = try get(l, 1)
            l.push(try s.run())
            return 1
        }),
        ("entry", { l in
            let s = try get(l, 1)
            let e = try s.entry(try l.string(2), layer: try l.int(3))
            l.push(int: e.layer)
            l.pushString(e.stage.rawValue)
            // bases: a list of {layer, stage} whose corrupted activations the patch is added to
            lua_createtable(l.L, Int32(e.bases.count), 0)
            for (k, b) in e.bases.enumerated() {
                lua_createtable(l.L, 2, 0)
                l.push(int: b.layer)
                lua_rawseti(l.L, -2, 1)
                l.pushString(b.stage.rawValue)
                lua_rawseti(l.L, -2, 2)
                lua_rawseti(l.L, -2, lua_Integer(k + 1))
            }
            return 3
        }),
        ("reference", { l in
            let s = try get(l, 1)
            // a copy: the engine compares cells with it
            l.push(try s.referenceActivation(layer: try l.int(2), stage: try stage(l, 3, join: false)).clone())
            return 1
        }),
    ]

    static func install(_ L: OpaquePointer) {
        guard luaL_newmetatable(L, metatableName) != 0 else { fp_pop(L, 1); return }
        let entries: [(String, LuaFunction)] = [
            ("__gc", LuaObjectBox.collector(metatable: metatableName, PatchSweep.self)),
            ("__index", { l in
                let s = try get(l, 1)
                let key = try l.string(2)
                if let id = methodIDs[key] {
                    LuaRegistry.push(l.L, id: id)
                    return 1
                }
                switch key {
                case "corrupted_logits": l.push(s.corruptedLogits)
                case "pending": l.push(int: s.pendingCells)
                case "pending_rows": l.push(int: s.pendingRows)
                case "positions": l.push(ints: s.logitPositions)
                default: l.pushNil()
                }
                return 1
            }),
            ("__tostring", { l in
                let s = try get(l, 1)
                l.pushString("PatchSweep(\(s.positionsCount) positions, \(s.pendingCells) cells queued)")
                return 1
            }),
        ]
        for (name, body) in entries {
            LuaRegistry.push(L, id: LuaRegistry.register("patch_sweep." + String(name.dropFirst(2)), body))
            lua_setfield(L, -2, name)
        }
        fp_pop(L, 1)
    }

    static let methodIDs: [String: Int] = {
        var ids: [String: Int] = [:]
        for (name, body) in methods { ids[name] = LuaRegistry.register("patch_sweep:" + name, method: true, body) }
        return ids
    }()

    /// model:patch_sweep(tokens, opts): runs the corrupted tokens once and returns the engine.
    static let make: LuaFunction = { l in
        let b = try LuaModel.box(l)
        let tokens = try l.tensor(2)
        var positions: [Int]? = nil
        if !l.isNone(3) {
            guard l.type(3) == LUA_TTABLE else { throw l.argError(3, "options table") }
            try l.checkOptions(3, ["positions"])
            if let idx = l.option(3, "positions") { positions = try l.intTable(idx) }
        }
        func cannot(_ why: String) -> Int32 {
            l.pushNil()
            l.pushString(why)
            return 2
        }
        guard b.activeHooks() == nil else {
            return cannot("patch_sweep: the model has hooks attached (permanent or scoped); the sweep engine runs without hooks")
        }
        do {
            push(l.L, try PatchSweep(model: b.model, tokens: tokens, logitPositions: positions))
        } catch let u as PatchSweep.Unsupported {
            return cannot("patch_sweep: " + u.reason)
        }
        return 1
    }
}
