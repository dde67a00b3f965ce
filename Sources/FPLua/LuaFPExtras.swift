import CLua
import FPTensor

/// fp functions backed by FPTensor's random, linear algebra and sorting modules, and the
/// sorting methods added to the tensor methods table.
enum LuaFPExtras {
    static var functions: [(String, LuaFunction)] {
        [
            ("seed", { l in
                let s = try l.int(1)
                RandomSource.seed(UInt64(bitPattern: Int64(s)))
                return 0
            }),
            ("randn", { l in let (s, _) = try LuaFPModule.shapeAndDType(l, from: 1); l.push(try Tensor.randn(s)); return 1 }),
            ("rand", { l in let (s, _) = try LuaFPModule.shapeAndDType(l, from: 1); l.push(try Tensor.rand(s)); return 1 }),
            ("randint", { l in
                // randint(high, shape) or randint(low, high, shape), as torch.randint
                let a = try l.int(1)
                if l.type(2) == LUA_TNUMBER {
                    l.push(try Tensor.randint(low: a, high: try l.int(2), shape: try l.intList(from: 3)))
                } else {
                    l.push(try Tensor.randint(low: 0, high: a, shape: try l.intList(from: 2)))
                }
                return 1
            }),
            ("randperm", { l in l.push(try Tensor.randperm(try l.int(1))); return 1 }),
            ("multinomial", { l in
                let replacement = l.type(3) == LUA_TBOOLEAN ? try l.bool(3) : try l.boolOption(3, "replacement", default: false)
                l.push(try Tensor.multinomial(try l.tensor(1), numSamples: try l.int(2), replacement: replacement))
                return 1
            }),
            ("randn_like", { l in l.push(try Tensor.randn(try l.tensor(1).shape)); return 1 }),
        ]
    }

    static var submodules: [(String, [(String, LuaFunction)])] {
        [("linalg", [
            ("qr", { l in
                let mode = try l.optString(2) ?? "reduced"
                guard mode == "reduced" || mode == "complete" else { throw l.argError(2, message: "mode must be \"reduced\" or \"complete\"") }
                let (q, r) = try Linalg.qr(try l.tensor(1), reduced: mode == "reduced")
                l.push(q); l.push(r); return 2
            }),
            ("svd", { l in
                let full = l.type(2) == LUA_TBOOLEAN ? try l.bool(2) : try l.boolOption(2, "full_matrices", default: false)
                let (u, s, vh) = try Linalg.svd(try l.tensor(1), fullMatrices: full)
                l.push(u); l.push(s); l.push(vh); return 3
            }),
            ("pinv", { l in
                let rcond = try l.optNumber(2)
                l.push(try Linalg.pinv(try l.tensor(1), rcond: rcond.map { Float($0) })); return 1
            }),
            ("solve", { l in l.push(try Linalg.solve(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("eigh", { l in
                let (v, w) = try Linalg.eigh(try l.tensor(1))
                l.push(v); l.push(w); return 2
            }),
            ("norm", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try LuaTensorMethods.reduceArgs(l, 2)
                return try LuaTensorMethods.pushReduced(l, try t.norm(dims: dims, keepdim: keep), full: dims == nil && !keep)
            }),
        ])]
    }

    /// Tensor methods that live with these modules.
    static var methods: [(String, LuaFunction)] {
        [
            ("sort", { l in
                let t = try l.tensor(1)
                var dim = -1, desc = false
                if l.type(2) == LUA_TNUMBER { dim = try l.int(2); if l.type(3) == LUA_TBOOLEAN { desc = try l.bool(3) } }
                else if l.type(2) == LUA_TTABLE {
                    dim = try l.intOption(2, "dim") ?? -1
                    desc = try l.boolOption(2, "descending", default: false)
                } else if l.type(2) == LUA_TBOOLEAN { desc = try l.bool(2) }
                let (v, i) = try t.sort(dim: dim, descending: desc)
                l.push(v); l.push(i); return 2
            }),
            ("argsort", { l in
                let t = try l.tensor(1)
                let desc = l.type(3) == LUA_TBOOLEAN ? try l.bool(3) : try l.boolOption(2, "descending", default: false)
                l.push(try t.sort(dim: l.type(2) == LUA_TNUMBER ? try l.int(2) : -1, descending: desc).indices); return 1
            }),
            ("topk", { l in
                let t = try l.tensor(1)
                let k = try l.int(2)
                var dim = -1, largest = true
                if l.type(3) == LUA_TNUMBER { dim = try l.int(3) }
                else if l.type(3) == LUA_TTABLE {
                    dim = try l.intOption(3, "dim") ?? -1
                    largest = try l.boolOption(3, "largest", default: true)
                }
                let (v, i) = try t.topk(k, dim: dim, largest: largest)
                l.push(v); l.push(i); return 2
            }),
        ]
    }
}
