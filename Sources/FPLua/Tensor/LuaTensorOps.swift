import CLua
import FPTensor

/// Matrix parts, running sums and repetition: t:diagonal, t:tril / t:triu, t:cumsum,
/// t:logsumexp, t:repeat_interleave, t:tile (torch's Tensor.repeat: `repeat` is a Lua keyword).
/// Each is also an fp function taking the tensor first (fp.tril(t), as torch.tril(t)).
enum LuaTensorOps {
    static var methods: [(String, LuaFunction)] {
        [
            ("diagonal", { l in
                // t:diagonal(offset, dim1, dim2) or t:diagonal({offset =, dim1 =, dim2 =})
                let t = try l.tensor(1)
                var offset = 0, d1 = 0, d2 = 1
                if l.type(2) == LUA_TTABLE {
                    try l.checkOptions(2, ["offset", "dim1", "dim2"])
                    offset = try l.intOption(2, "offset") ?? 0
                    d1 = try l.intOption(2, "dim1") ?? 0
                    d2 = try l.intOption(2, "dim2") ?? 1
                    try l.noArgsAfter(2)
                } else {
                    offset = l.isNone(2) ? 0 : try l.dimArg(2, "offset")
                    d1 = try l.optDimArg(3, default: 0, "dim1")
                    d2 = try l.optDimArg(4, default: 1, "dim2")
                }
                l.push(try AG.diagonal(t, offset: offset, d1, d2)); return 1
            }),
            ("tril", triangle(lower: true)),
            ("triu", triangle(lower: false)),
            ("cumsum", { l in
                let t = try l.tensor(1)
                guard !l.isNone(2) else { throw l.argError(2, message: "dim must be given (as in torch.cumsum), e.g. t:cumsum(-1)") }
                l.push(try AG.cumsum(t, try l.dimArg(2))); return 1
            }),
            ("logsumexp", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try LuaTensorMethods.reduceArgs(l, 2)
                guard let dims else { throw l.argError(2, message: "dim must be given (as in torch.logsumexp), e.g. t:logsumexp(-1)") }
                return try LuaTensorMethods.pushReduced(l, try AG.logsumexp(t, dims: dims, keepdim: keep))
            }),
            ("repeat_interleave", { l in
                // t:repeat_interleave(repeats[, dim]) with repeats a number, an int tensor or a list
                let t = try l.tensor(1)
                let repeats: Tensor
                switch l.type(2) {
                case LUA_TNUMBER: repeats = try Tensor(ints: [try l.int(2)], shape: [])
                case LUA_TTABLE: repeats = try Tensor(ints: try l.intTable(2), shape: [Int(lua_rawlen(l.L, 2))])
                default:
                    guard let r = LuaTensor.get(l.L, 2) else { throw l.argError(2, "repeats (an integer, a list or an int tensor) expected") }
                    repeats = r
                }
                var dim: Int? = nil
                if l.type(3) == LUA_TTABLE && lua_rawlen(l.L, 3) == 0 {
                    try l.checkOptions(3, ["dim"])
                    dim = try l.intOption(3, "dim")
                } else if !l.isNone(3) {
                    dim = try l.dimArg(3)
                }
                l.push(try AG.repeatInterleave(t, repeats: repeats, dim: dim)); return 1
            }),
            ("tile", { l in
                let t = try l.tensor(1)
                guard !l.isNone(2) else { throw l.argError(2, message: "repeats expected, e.g. t:tile(2, 1) or t:tile({2, 1})") }
                let reps = l.type(2) == LUA_TTABLE ? try l.dimList(2, "repeats") : try l.intList(from: 2)
                if l.type(2) == LUA_TTABLE { try l.noArgsAfter(2) }
                l.push(try AG.tile(t, reps)); return 1
            }),
        ]
    }

    static func triangle(lower: Bool) -> LuaFunction {
        { l in
            let t = try l.tensor(1)
            let k = l.isNone(2) ? 0 : try l.dimArg(2, "diagonal")
            l.push(try AG.triangle(t, k, lower: lower)); return 1
        }
    }

    /// The same functions as fp.name(t, ...): argument 1 is the tensor.
    static var functions: [(String, LuaFunction)] { methods }
}
