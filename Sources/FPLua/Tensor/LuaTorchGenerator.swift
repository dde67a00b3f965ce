import CLua
import FPTensor

/// fp.torch_generator(seed): a generator whose randint / rand / randn / randperm / uniform_ /
/// normal_ give the numbers of `torch.manual_seed(seed)` and the same torch calls on CPU
/// (FPTensor/TorchGenerator.swift says which match bit for bit). fp's own fp.randn & co. keep
/// their faster generator.
enum LuaTorchGenerator {
    static let metatableName = "fp.TorchGenerator"

    static func generator(_ l: Lua) throws -> TorchGenerator {
        guard let g = LuaObjectBox.get(l.L, 1, metatable: metatableName, as: TorchGenerator.self) else {
            throw l.argError(1, "torch generator expected (call methods with ':', e.g. g:randn(3))")
        }
        return g
    }

    static let make: LuaFunction = { l in
        let s = l.isNone(1) ? 0 : try l.int(1)
        try l.noArgsAfter(1)
        LuaObjectBox.push(l.L, TorchGenerator(seed: UInt64(bitPattern: Int64(s))), metatable: metatableName)
        return 1
    }

    /// A float shape after self: g:randn(2, 3), g:randn({2, 3}); a dtype other than float32 is an error.
    static func floatShape(_ l: Lua) throws -> [Int] {
        let (shape, dt) = try LuaFPModule.shapeAndDType(l, from: 2)
        guard dt == .float32 else { throw LuaError("\(l.function): only float32 is supported (use randint for integers)") }
        return shape
    }

    static var methods: [(String, LuaFunction)] {
        [
            ("manual_seed", { l in
                let g = try generator(l)
                g.manualSeed(UInt64(bitPattern: Int64(try l.int(2))))
                try l.noArgsAfter(2)
                lua_pushvalue(l.L, 1); return 1
            }),
            ("initial_seed", { l in l.push(int: Int(Int64(bitPattern: try generator(l).seed))); return 1 }),
            ("randint", { l in
                // g:randint(high, shape) or g:randint(low, high, shape), as torch.randint
                let g = try generator(l)
                let a = try l.int(2)
                let (low, high, from): (Int, Int, Int32) = l.type(3) == LUA_TNUMBER ? (a, try l.int(3), 4) : (0, a, 3)
                guard l.type(from) == LUA_TTABLE else { throw l.argError(from, "shape table expected (as torch.randint(low, high, (2, 3)))") }
                let shape = try l.dimList(from, "shape")
                try l.noArgsAfter(from)
                l.push(try g.randint(low: low, high: high, shape: shape)); return 1
            }),
            ("rand", { l in
                let g = try generator(l)
                let t = try Tensor.empty(try floatShape(l))
                try g.uniform(t); l.push(t); return 1
            }),
            ("randn", { l in
                let g = try generator(l)
                let t = try Tensor.empty(try floatShape(l))
                try g.normal(t); l.push(t); return 1
            }),
            ("randperm", { l in
                let g = try generator(l)
                let n = try l.int(2)
                try l.noArgsAfter(2)
                l.push(try g.randperm(n)); return 1
            }),
            ("uniform_", { l in
                // g:uniform_(t, from, to) as t.uniform_(from, to, generator=g)
                let g = try generator(l)
                let t = try LuaAutograd.inPlaceTarget(l, 2)
                let a = try l.optNumber(3) ?? 0, b = try l.optNumber(4) ?? 1
                try l.noArgsAfter(4)
                try g.uniform(t, from: a, to: b); l.push(t); return 1
            }),
            ("normal_", { l in
                // g:normal_(t, mean, std) as t.normal_(mean, std, generator=g)
                let g = try generator(l)
                let t = try LuaAutograd.inPlaceTarget(l, 2)
                let m = try l.optNumber(3) ?? 0, s = try l.optNumber(4) ?? 1
                guard s >= 0 else { throw l.argError(4, message: "std must be non-negative, got \(s)") }
                try l.noArgsAfter(4)
                try g.normal(t, mean: m, std: s); l.push(t); return 1
            }),
        ]
    }

    static func install(_ L: OpaquePointer) {
        guard luaL_newmetatable(L, metatableName) != 0 else { fp_pop(L, 1); return }
        fp_newtable(L)
        for (name, body) in methods {
            LuaRegistry.push(L, id: LuaRegistry.register(name, method: true, body))
            lua_setfield(L, -2, name)
        }
        lua_setfield(L, -2, "__index")
        let meta: [(String, LuaFunction)] = [
            ("__gc", LuaObjectBox.collector(metatable: metatableName, TorchGenerator.self)),
            ("__tostring", { l in l.pushString("TorchGenerator(seed \(Int64(bitPattern: try generator(l).seed)))"); return 1 }),
        ]
        for (name, body) in meta {
            LuaRegistry.push(L, id: LuaRegistry.register(String(name.dropFirst(2)), body))
            lua_setfield(L, -2, name)
        }
        lua_pushstring(L, metatableName)
        lua_setfield(L, -2, "__name")
        fp_pop(L, 1)
    }
}
