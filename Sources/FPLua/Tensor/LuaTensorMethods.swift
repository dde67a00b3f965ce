import CLua
import FPTensor

/// The tensor methods table (`t:matmul(u)`), the metamethods and the field lookup. Methods that
/// autograd records (views, softmax, gather, ...) are bound in LuaAutograd instead.
enum LuaTensorMethods {
    /// Dims and keepdim for reductions: `t:sum()`, `t:sum(1)`, `t:sum({0, 1}, true)`,
    /// `t:sum(1, {keepdim = true})`, `t:sum({dim = 1, keepdim = true})` (torch's keywords).
    /// Anything else at these positions, a dim given twice and extra arguments are errors.
    static func reduceArgs(_ l: Lua, _ i: Int32, options: [String] = ["keepdim"]) throws -> (dims: [Int]?, keepdim: Bool) {
        var dims: [Int]? = nil
        var keepdim = false
        var optsAt: Int32? = nil
        switch l.type(i) {
        case LUA_TNUMBER: dims = [try l.dimArg(i)]
        case LUA_TTABLE:
            if lua_rawlen(l.L, i) > 0 { dims = try l.dimList(i) } else { optsAt = i }
        case LUA_TNIL, LUA_TNONE: break
        default: throw l.argError(i, message: "dim must be an integer, a list of integers or an options table, got \(l.typeName(i))")
        }
        if optsAt == nil {
            switch l.type(i + 1) {
            case LUA_TBOOLEAN: keepdim = try l.bool(i + 1)
            case LUA_TTABLE: optsAt = i + 1
            case LUA_TNIL, LUA_TNONE: break
            default: throw l.argError(i + 1, message: "keepdim must be a boolean or an options table, got \(l.typeName(i + 1))")
            }
        }
        if let o = optsAt {
            try l.checkOptions(o, options + ["dim"])
            if let d = try l.dimOption(o) {
                guard dims == nil else { throw LuaError("\(l.function): dim given twice (as an argument and as option 'dim')") }
                dims = d
            }
            keepdim = try l.boolOption(o, "keepdim", default: keepdim)
            try l.noArgsAfter(o)
        } else {
            try l.noArgsAfter(i + 1)
        }
        return (dims, keepdim)
    }

    /// Full reductions give Lua numbers (DESIGN.md: scalars are numbers off the autograd tape);
    /// a 0-d result of a reduction over every dim is one.
    /// norm's optional order at argument 2: a number, "inf", "-inf" or "fro" (= 2); returns the
    /// order and the index of the next argument.
    static func normOrder(_ l: Lua) throws -> (p: Double, next: Int32) {
        switch l.type(2) {
        case LUA_TNUMBER: return (try l.number(2), 3)
        case LUA_TSTRING:
            let s = try l.string(2)
            guard s == "inf" || s == "-inf" || s == "fro" else {
                throw l.argError(2, message: "p must be a number, \"inf\", \"-inf\" or \"fro\"")
            }
            return (s == "inf" ? .infinity : (s == "-inf" ? -.infinity : 2), 3)
        default: return (2, 2)
        }
    }

    /// t:squeeze(), t:squeeze(d) or t:squeeze({d1, d2}) (torch >= 2.0 takes a tuple of dims);
    /// a listed dim whose size is not 1 is left alone, as in torch.
    static func squeeze(_ l: Lua, _ t: Tensor) throws -> Tensor {
        guard l.type(2) == LUA_TTABLE else { return try t.squeeze(l.isNone(2) ? nil : try l.dimArg(2)) }
        let dims = try l.dimList(2).map { try t.dim($0, "squeeze") }
        guard Set(dims).count == dims.count else { throw LuaError("squeeze: dim repeated in \(shapeString(dims))") }
        var r = t
        for d in dims.sorted(by: >) { r = try r.squeeze(d) }
        return r
    }

    static func pushReduced(_ l: Lua, _ r: Tensor) throws -> Int32 {
        if r.rank == 0 && !r.requiresGrad {
            try pushScalar(l, r)
        } else {
            l.push(r)
        }
        return 1
    }

    static func pushScalar(_ l: Lua, _ r: Tensor) throws {
        switch r.dtype {
        case .float32: l.push(try r.toDoubles()[0])
        case .int64: l.push(int: try r.toInts()[0])   // exact: an int64 beyond 2^53 is no Double
        case .bool: l.push(bool: try r.toDoubles()[0] != 0)
        }
    }

    static func unaryMethod(_ op: UnaryOp) -> LuaFunction {
        { l in l.push(try l.tensor(1).unary(op)); return 1 }
    }

    static func binaryMethod(_ op: BinaryOp) -> LuaFunction {
        { l in l.push(try Tensor.binary(op, try l.tensor(1), try l.tensorOrScalar(2))); return 1 }
    }

    static func compareMethod(_ op: CompareOp) -> LuaFunction {
        { l in l.push(try Tensor.compare(op, try l.tensor(1), try l.tensorOrScalar(2))); return 1 }
    }

    static func reduceMethod(_ op: ReduceOp) -> LuaFunction {
        { l in
            let t = try l.tensor(1)
            let (dims, keep) = try reduceArgs(l, 2)
            return try pushReduced(l, try t.reduce(op, dims: dims, keepdim: keep))
        }
    }

    /// max/min: no dim -> number; a dim -> values, indices; a tensor -> elementwise.
    static func extremeMethod(max: Bool) -> LuaFunction {
        { l in
            let t = try l.tensor(1)
            if LuaTensor.get(l.L, 2) != nil {
                l.push(try Tensor.binary(max ? .maximum : .minimum, t, try l.tensor(2)))
                return 1
            }
            let (dims, keep) = try reduceArgs(l, 2)
            guard let dims else {
                return try pushReduced(l, try t.reduce(max ? .max : .min, dims: nil, keepdim: keep))
            }
            guard dims.count == 1 else { throw l.argError(2, message: "a single dim expected") }
            let (v, i) = try t.extremeWithIndices(dim: dims[0], keepdim: keep, max: max)
            l.push(v); l.push(i)
            return 2
        }
    }

    static func argExtremeMethod(max: Bool) -> LuaFunction {
        { l in
            let t = try l.tensor(1)
            let (dims, keep) = try reduceArgs(l, 2)
            guard (dims?.count ?? 1) == 1 else { throw l.argError(2, message: "a single dim expected") }
            let r = try t.argExtreme(dim: dims?.first, keepdim: keep, max: max)
            return try pushReduced(l, r)
        }
    }

    static func dtypeMethod(_ dt: DType) -> LuaFunction {
        { l in l.push(try l.tensor(1).to(dt)); return 1 }
    }

    static func parseDType(_ l: Lua, _ i: Int32) throws -> DType {
        let s = try l.string(i)
        guard let d = DType.parse(s) else {
            throw l.argError(i, message: "unknown dtype \"\(s)\" (expected \"float32\", \"int64\" or \"bool\")")
        }
        return d
    }

    static var methods: [(String, LuaFunction)] {
        var m: [(String, LuaFunction)] = [
            ("dim", { l in l.push(int: try l.tensor(1).rank); return 1 }),
            ("numel", { l in l.push(int: try l.tensor(1).count); return 1 }),
            ("size", { l in
                let t = try l.tensor(1)
                if l.isNone(2) { l.push(ints: t.shape); return 1 }
                l.push(int: t.shape[try t.dim(try l.dimArg(2), "size")]); return 1
            }),
            ("item", { l in
                let t = try l.tensor(1)
                guard t.count == 1 else {
                    throw LuaError("item: a tensor with \(t.count) elements cannot be converted to a number (shape \(shapeString(t.shape)))")
                }
                try pushScalar(l, t); return 1
            }),
            ("tolist", { l in try LuaConvert.pushList(l.L, try l.tensor(1)); return 1 }),
            ("clone", { l in l.push(try l.tensor(1).clone()); return 1 }),
            ("contiguous", { l in l.push(try l.tensor(1).contiguous()); return 1 }),
            ("is_contiguous", { l in l.push(bool: try l.tensor(1).isContiguous); return 1 }),
            ("free", { l in try l.tensor(1).storage.free(); return 0 }),
            ("view", { l in l.push(try l.tensor(1).view(try l.intList(from: 2))); return 1 }),
            ("reshape", { l in l.push(try l.tensor(1).reshape(try l.intList(from: 2))); return 1 }),
            ("T", { l in l.push(try l.tensor(1).T()); return 1 }),
            ("permute", { l in l.push(try l.tensor(1).permute(try l.intList(from: 2))); return 1 }),
            ("squeeze", { l in l.push(try squeeze(l, try l.tensor(1))); return 1 }),
            ("expand", { l in l.push(try l.tensor(1).expand(try l.intList(from: 2))); return 1 }),
            ("expand_as", { l in l.push(try l.tensor(1).expand(try l.tensor(2).shape)); return 1 }),
            ("float", dtypeMethod(.float32)),
            ("int", dtypeMethod(.int64)),
            ("long", dtypeMethod(.int64)),
            ("bool", dtypeMethod(.bool)),
            ("to", { l in l.push(try l.tensor(1).to(try parseDType(l, 2))); return 1 }),
            ("type", { l in
                // t:type() names the dtype; converting (torch's t.type(dtype)) is t:float()/t:int()/t:bool()
                let t = try l.tensor(1)
                guard l.isNone(2) else {
                    throw l.argError(2, message: "t:type() takes no argument (it returns the dtype name); convert with t:float(), t:int() or t:bool()")
                }
                l.pushString(t.dtype.rawValue)
                return 1
            }),
            ("matmul", { l in l.push(try l.tensor(1).matmul(try l.tensor(2))); return 1 }),
            ("bmm", { l in l.push(try l.tensor(1).bmm(try l.tensor(2))); return 1 }),
            ("sum", reduceMethod(.sum)),
            ("mean", reduceMethod(.mean)),
            ("prod", reduceMethod(.prod)),
            ("any", reduceMethod(.any)),
            ("all", reduceMethod(.all)),
            ("amax", reduceMethod(.amax)),
            ("amin", reduceMethod(.amin)),
            ("max", extremeMethod(max: true)),
            ("min", extremeMethod(max: false)),
            ("argmax", argExtremeMethod(max: true)),
            ("argmin", argExtremeMethod(max: false)),
            ("norm", { l in
                let t = try l.tensor(1)
                let (p, next) = try LuaTensorMethods.normOrder(l)
                let (dims, keep) = try reduceArgs(l, next)
                return try pushReduced(l, try t.norm(p: p, dims: dims, keepdim: keep))
            }),
            ("var", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try reduceArgs(l, 2, options: ["keepdim", "correction"])
                let corr = try l.intOption(l.type(2) == LUA_TTABLE && lua_rawlen(l.L, 2) == 0 ? 2 : 3, "correction") ?? 1
                return try pushReduced(l, try t.variance(dims: dims, correction: corr, keepdim: keep))
            }),
            ("std", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try reduceArgs(l, 2, options: ["keepdim", "correction"])
                let corr = try l.intOption(l.type(2) == LUA_TTABLE && lua_rawlen(l.L, 2) == 0 ? 2 : 3, "correction") ?? 1
                return try pushReduced(l, try t.variance(dims: dims, correction: corr, keepdim: keep).unary(.sqrt))
            }),
            ("gelu", { l in
                let t = try l.tensor(1)
                let mode = try l.optString(2) ?? "none"
                guard mode == "none" || mode == "tanh" else { throw l.argError(2, message: "approximate must be \"none\" or \"tanh\", got \"\(mode)\"") }
                l.push(try t.unary(mode == "tanh" ? .gelu : .gelu_erf)); return 1
            }),
            ("gelu_new", unaryMethod(.gelu)),
            ("pow", binaryMethod(.pow)),
            ("add", binaryMethod(.add)),
            ("sub", binaryMethod(.sub)),
            ("mul", binaryMethod(.mul)),
            ("div", binaryMethod(.div)),
            ("maximum", binaryMethod(.maximum)),
            ("minimum", binaryMethod(.minimum)),
            ("fmod", binaryMethod(.fmod)),
            ("eq", compareMethod(.eq)), ("ne", compareMethod(.ne)),
            ("lt", compareMethod(.lt)), ("le", compareMethod(.le)),
            ("gt", compareMethod(.gt)), ("ge", compareMethod(.ge)),
            ("logical_and", { l in l.push(try Tensor.logical(.and, try l.tensor(1), try l.tensorOrScalar(2))); return 1 }),
            ("logical_or", { l in l.push(try Tensor.logical(.or, try l.tensor(1), try l.tensorOrScalar(2))); return 1 }),
            ("logical_xor", { l in l.push(try Tensor.logical(.xor, try l.tensor(1), try l.tensorOrScalar(2))); return 1 }),
            ("logical_not", { l in l.push(try l.tensor(1).logicalNot()); return 1 }),
            ("isnan", { l in l.push(try l.tensor(1).isnan()); return 1 }),
            ("clamp", { l in
                let t = try l.tensor(1)
                let lo = try l.optNumber(2), hi = try l.optNumber(3)
                guard lo != nil || hi != nil else { throw LuaError("clamp: at least one of min and max must be given") }
                l.push(try t.clamp(min: lo, max: hi)); return 1
            }),
            ("where", { l in l.push(try Tensor.whereSelect(try l.tensorOrScalar(2), try l.tensor(1), try l.tensorOrScalar(3))); return 1 }),
            ("masked_fill", { l in l.push(try l.tensor(1).maskedFill(try l.tensor(2), try l.number(3))); return 1 }),
            ("masked_fill_", { l in
                let t = try l.tensor(1); try t.maskedFillInPlace(try l.tensor(2), try l.number(3)); l.push(t); return 1
            }),
            ("fill_", { l in let t = try l.tensor(1); try l.fill(t, from: 2); l.push(t); return 1 }),
            ("zero_", { l in let t = try l.tensor(1); try t.fill(0); l.push(t); return 1 }),
            ("copy_", { l in let t = try l.tensor(1); try t.copyFrom(try l.tensorOrScalar(2)); l.push(t); return 1 }),
            ("scatter", { l in
                let out = try l.tensor(1).clone()
                try out.scatterInPlace(try l.dimArg(2), try l.tensor(3), try l.tensorOrScalar(4)); l.push(out); return 1
            }),
            ("scatter_add", { l in
                let out = try l.tensor(1).clone()
                try out.scatterInPlace(try l.dimArg(2), try l.tensor(3), try l.tensorOrScalar(4), add: true); l.push(out); return 1
            }),
            ("nonzero", { l in l.push(try l.tensor(1).nonzero()); return 1 }),
            ("outer", { l in l.push(try Tensor.outer(try l.tensor(1), try l.tensor(2))); return 1 }),
        ]
        for op in UnaryOp.allCases where op != .gelu && op != .gelu_erf {
            m.append((op.rawValue, unaryMethod(op)))
        }
        return m
    }
}
