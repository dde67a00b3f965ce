import CLua
import FPTensor

/// Autograd-aware tensor methods and fp functions. They replace the plain bindings of the same
/// name (registered after them): with no grad-requiring input each one runs the plain op, so
/// untaped code is unchanged. Also the autograd API: requires_grad, backward, detach, grad,
/// zero_grad, fp.no_grad, fp.cross_entropy.
enum LuaAutograd {
    typealias R = LuaTensorMethods

    static func unary(_ op: UnaryOp) -> LuaFunction {
        { l in l.push(try AG.unary(op, try l.tensor(1))); return 1 }
    }

    static func binary(_ op: BinaryOp) -> LuaFunction {
        { l in l.push(try AG.binary(op, try l.tensor(1), try l.tensorOrScalar(2))); return 1 }
    }

    static func reduce(_ op: ReduceOp) -> LuaFunction {
        { l in
            let t = try l.tensor(1)
            let (dims, keep) = try R.reduceArgs(l, 2)
            return try R.pushReduced(l, try AG.reduce(op, t, dims: dims, keepdim: keep))
        }
    }

    static func extreme(max: Bool) -> LuaFunction {
        { l in
            let t = try l.tensor(1)
            if LuaTensor.get(l.L, 2) != nil {
                l.push(try AG.binary(max ? .maximum : .minimum, t, try l.tensor(2))); return 1
            }
            let (dims, keep) = try R.reduceArgs(l, 2)
            guard let dims else { return try R.pushReduced(l, try AG.reduce(max ? .max : .min, t, dims: nil, keepdim: keep)) }
            guard dims.count == 1 else { throw l.argError(2, message: "a single dim expected") }
            let (v, i) = try AG.extremeWithIndices(t, dim: dims[0], keepdim: keep, max: max)
            l.push(v); l.push(i)
            return 2
        }
    }

    /// A view method whose gradient only needs reshaping back.
    static func shapeView(_ name: String, _ make: @escaping (Lua, Tensor) throws -> Tensor) -> LuaFunction {
        { l in let t = try l.tensor(1); l.push(try AG.reshaped(t, name) { try make(l, $0) }); return 1 }
    }

    static func correctionIndex(_ l: Lua) -> Int32 { l.type(2) == LUA_TTABLE && lua_rawlen(l.L, 2) == 0 ? 2 : 3 }

    static var methods: [(String, LuaFunction)] {
        var m: [(String, LuaFunction)] = [
            // autograd API
            ("requires_grad", { l in
                let t = try l.tensor(1)
                let on = l.isNone(2) ? true : try l.bool(2)
                guard t.dtype == .float32 || !on else { throw LuaError("requires_grad: only float tensors can require grad, got \(t.dtype.rawValue)") }
                guard t.isLeaf else { throw LuaError("requires_grad: only leaf tensors can change requires_grad (this one is the result of a taped operation; use detach())") }
                t.requiresGrad = on
                l.push(t); return 1
            }),
            ("requires_grad_", { l in
                let t = try l.tensor(1)
                guard t.dtype == .float32 else { throw LuaError("requires_grad_: only float tensors can require grad, got \(t.dtype.rawValue)") }
                guard t.isLeaf else { throw LuaError("requires_grad_: only leaf tensors can change requires_grad") }
                t.requiresGrad = l.isNone(2) ? true : try l.bool(2)
                l.push(t); return 1
            }),
            ("backward", { l in
                let t = try l.tensor(1)
                let seed = l.isNone(2) ? nil : try l.tensorOrScalar(2)
                try Autograd.backward(t, seed)
                return 0
            }),
            ("detach", { l in
                let t = try l.tensor(1)
                _ = try t.storage.raw()   // a freed or expired tensor is an error here, not later
                l.push(t.detached())
                return 1
            }),
            ("zero_grad", { l in (try l.tensor(1)).grad = nil; return 0 }),
            ("is_leaf", { l in l.push(bool: try l.tensor(1).isLeaf); return 1 }),
            ("grad_fn", { l in
                if let n = try l.tensor(1).gradNode { l.pushString(n.name) } else { l.pushNil() }
                return 1
            }),
            // differentiable ops
            ("clone", { l in l.push(try AG.clone(try l.tensor(1))); return 1 }),
            ("contiguous", { l in l.push(try AG.contiguous(try l.tensor(1))); return 1 }),
            ("view", shapeView("view") { l, t in try t.view(try l.intList(from: 2)) }),
            ("reshape", shapeView("reshape") { l, t in try t.reshape(try l.intList(from: 2)) }),
            ("flatten", shapeView("flatten") { l, t in try t.flatten(try l.optDimArg(2, default: 0, "start_dim"), try l.optDimArg(3, default: -1, "end_dim")) }),
            ("unsqueeze", shapeView("unsqueeze") { l, t in try t.unsqueeze(try l.dimArg(2)) }),
            ("squeeze", shapeView("squeeze") { l, t in try R.squeeze(l, t) }),
            ("transpose", { l in l.push(try AG.transpose(try l.tensor(1), try l.dimArg(2, "dim0"), try l.dimArg(3, "dim1"))); return 1 }),
            ("T", { l in
                let t = try l.tensor(1)
                guard t.rank >= 2 else { l.push(t); return 1 }   // T() of a 0-d or 1-d tensor is itself
                l.push(try AG.transpose(t, -2, -1)); return 1
            }),
            ("permute", { l in l.push(try AG.permute(try l.tensor(1), try l.intList(from: 2))); return 1 }),
            ("expand", { l in l.push(try AG.expand(try l.tensor(1), try l.intList(from: 2))); return 1 }),
            ("expand_as", { l in l.push(try AG.expand(try l.tensor(1), try l.tensor(2).shape)); return 1 }),
            ("narrow", { l in
                let t = try l.tensor(1)
                let d = try l.dimArg(2), s = try l.int(3), n = try l.int(4)
                l.push(try AG.region(t, "narrow") { try $0.narrow(d, s, n) }); return 1
            }),
            ("select", { l in
                let t = try l.tensor(1)
                let d = try l.dimArg(2), i = try l.int(3)
                l.push(try AG.region(t, "select") { try $0.select(d, i) }); return 1
            }),
            ("matmul", { l in l.push(try AG.matmul(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("bmm", { l in l.push(try AG.bmm(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("outer", { l in l.push(try AG.outer(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("sum", reduce(.sum)), ("mean", reduce(.mean)), ("prod", reduce(.prod)),
            ("amax", reduce(.amax)), ("amin", reduce(.amin)),
            ("max", extreme(max: true)), ("min", extreme(max: false)),
            ("norm", { l in
                let t = try l.tensor(1)
                let (p, next) = try LuaTensorMethods.normOrder(l)
                let (dims, keep) = try R.reduceArgs(l, next)
                return try R.pushReduced(l, try AG.norm(t, p: p, dims: dims, keepdim: keep))
            }),
            ("var", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try R.reduceArgs(l, 2, options: ["keepdim", "correction"])
                let corr = try l.intOption(correctionIndex(l), "correction") ?? 1
                return try R.pushReduced(l, try AG.variance(t, dims: dims, correction: corr, keepdim: keep))
            }),
            ("std", { l in
                let t = try l.tensor(1)
                let (dims, keep) = try R.reduceArgs(l, 2, options: ["keepdim", "correction"])
                let corr = try l.intOption(correctionIndex(l), "correction") ?? 1
                return try R.pushReduced(l, try AG.unary(.sqrt, AG.variance(t, dims: dims, correction: corr, keepdim: keep)))
            }),
            ("softmax", { l in l.push(try AG.softmax(try l.tensor(1), dim: try l.optDimArg(2, default: -1), log: false)); return 1 }),
            ("log_softmax", { l in l.push(try AG.softmax(try l.tensor(1), dim: try l.optDimArg(2, default: -1), log: true)); return 1 }),
            ("gelu", { l in
                let t = try l.tensor(1)
                let mode = try l.optString(2) ?? "none"
                guard mode == "none" || mode == "tanh" else { throw l.argError(2, message: "approximate must be \"none\" or \"tanh\", got \"\(mode)\"") }
                l.push(try AG.unary(mode == "tanh" ? .gelu : .gelu_erf, t)); return 1
            }),
            ("gelu_new", unary(.gelu)),
            ("pow", binary(.pow)), ("add", binary(.add)), ("sub", binary(.sub)),
            ("mul", binary(.mul)), ("div", binary(.div)),
            ("maximum", binary(.maximum)), ("minimum", binary(.minimum)),
            ("clamp", { l in
                let t = try l.tensor(1)
                let lo = try l.optNumber(2), hi = try l.optNumber(3)
                guard lo != nil || hi != nil else { throw LuaError("clamp: at least one of min and max must be given") }
                l.push(try AG.clamp(t, min: lo, max: hi)); return 1
            }),
            ("where", { l in l.push(try AG.whereSelect(try l.tensorOrScalar(2), try l.tensor(1), try l.tensorOrScalar(3))); return 1 }),
            ("masked_fill", { l in l.push(try AG.maskedFill(try l.tensor(1), try l.tensor(2), try l.number(3))); return 1 }),
            ("copy_", { l in let t = try l.tensor(1); try AG.copyInto(t, try l.tensorOrScalar(2)); l.push(t); return 1 }),
            // plain in-place writes: saved tensors that use the memory keep their values first;
            // on a tensor that requires grad they would bypass the tape, so they are refused
            ("fill_", { l in let t = try inPlaceTarget(l, "fill_"); try l.fill(t, from: 2); l.push(t); return 1 }),
            ("zero_", { l in let t = try inPlaceTarget(l, "zero_"); try t.fill(0); l.push(t); return 1 }),
            ("masked_fill_", { l in
                let t = try inPlaceTarget(l, "masked_fill_"); try t.maskedFillInPlace(try l.tensor(2), try l.number(3)); l.push(t); return 1
            }),
            ("scatter_", { l in
                let t = try inPlaceTarget(l, "scatter_")
                try t.scatterInPlace(try l.dimArg(2), try l.tensor(3), try l.tensorOrScalar(4)); l.push(t); return 1
            }),
            ("gather", { l in l.push(try AG.gather(try l.tensor(1), dim: try l.dimArg(2), try l.tensor(3))); return 1 }),
            ("index_select", { l in l.push(try AG.indexSelect(try l.tensor(1), try l.dimArg(2), try l.tensor(3))); return 1 }),
            ("cross_entropy", crossEntropy),
            ("layer_norm", { l in
                let t = try l.tensor(1)
                let w = LuaTensor.get(l.L, 2), b = LuaTensor.get(l.L, 3)
                l.push(try AG.layerNorm(t, w, b, eps: Float(try l.optNumber(4) ?? 1e-5))); return 1
            }),
            ("rms_norm", { l in
                let t = try l.tensor(1)
                l.push(try AG.rmsNorm(t, LuaTensor.get(l.L, 2), eps: Float(try l.optNumber(3) ?? 1e-6))); return 1
            }),
        ]
        for op in UnaryOp.allCases where op != .gelu && op != .gelu_erf { m.append((op.rawValue, unary(op))) }
        return m
    }

    /// The tensor an untaped in-place method writes into (argument 1).
    static func inPlaceTarget(_ l: Lua, _ fn: String) throws -> Tensor { try inPlaceTarget(l, 1, fn) }

    static func inPlaceTarget(_ l: Lua, _ i: Int32, _ fn: String? = nil) throws -> Tensor {
        let fn = fn ?? l.function
        let t = try l.tensor(i)
        if Autograd.enabled && t.requiresGrad {
            throw LuaError("\(fn): in-place on a tensor that requires grad is not differentiable (use the out-of-place form, index assignment t[{...}] = v, detach(), or fp.no_grad)")
        }
        try Autograd.willWrite(t)
        return t
    }

    /// t:cross_entropy(targets[, opts]) / fp.cross_entropy(logits, targets[, opts]):
    /// opts.reduction = "mean" | "sum" | "none", opts.ignore_index.
    static let crossEntropy: LuaFunction = { l in
        let logits = try l.tensor(1), targets = try l.tensorOrScalar(2)
        if !l.isNone(3) && l.type(3) != LUA_TTABLE { throw l.argError(3, "options table expected") }
        try l.checkOptions(3, ["reduction", "ignore_index"])
        let red = try l.stringOption(3, "reduction") ?? "mean"
        let ignore = try l.intOption(3, "ignore_index") ?? -100
        guard targets.dtype == .int64 else { throw l.argError(2, "int tensor of class indices expected") }
        return try R.pushReduced(l, try AG.crossEntropy(logits, targets, reduction: red, ignoreIndex: ignore))
    }

    /// Calls the function at `i` with grad mode `on`, returning all its results.
    static func withGradMode(_ on: Bool) -> LuaFunction {
        { l in
            guard fp_isfunction(l.L, 1) != 0 else { throw l.argError(1, "function expected") }
            let base = lua_gettop(l.L)
            lua_pushvalue(l.L, 1)
            for i in 2...Swift.max(2, base) where i <= base { lua_pushvalue(l.L, i) }
            let was = Autograd.enabled
            Autograd.enabled = on
            let rc = fp_pcall_traceback(l.L, base - 1, LUA_MULTRET)
            Autograd.enabled = was
            guard rc == LUA_OK else {
                let msg = fp_tostring(l.L, -1).map { String(cString: $0) } ?? "(error object is not a string)"
                fp_pop(l.L, 1)
                throw LuaError(msg)
            }
            return lua_gettop(l.L) - base
        }
    }

    static var functions: [(String, LuaFunction)] {
        [
            ("cat", { l in l.push(try AG.cat(try LuaFPModule.tensorList(l, 1), dim: try l.optDimArg(2, default: 0))); return 1 }),
            ("stack", { l in l.push(try AG.stack(try LuaFPModule.tensorList(l, 1), dim: try l.optDimArg(2, default: 0))); return 1 }),
            ("einsum", { l in
                let eq = try l.string(1)
                var ts = [Tensor]()
                if l.type(2) == LUA_TTABLE { ts = try LuaFPModule.tensorList(l, 2) } else {
                    var i: Int32 = 2
                    while i <= l.top { ts.append(try l.tensor(i)); i += 1 }
                }
                l.push(try AG.einsum(eq, ts)); return 1
            }),
            ("outer", { l in l.push(try AG.outer(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("matmul", { l in l.push(try AG.matmul(try l.tensor(1), try l.tensor(2))); return 1 }),
            ("where", { l in l.push(try AG.whereSelect(try l.tensor(1), try l.tensorOrScalar(2), try l.tensorOrScalar(3))); return 1 }),
            ("cosine_similarity", { l in
                let a = try l.tensor(1), b = try l.tensor(2)
                let d = try l.optDimArg(3, default: -1)
                let eps = try l.optNumber(4) ?? 1e-8
                let dot = try AG.reduce(.sum, AG.binary(.mul, a, b), dims: [d], keepdim: false)
                let na = try AG.norm(a, p: 2, dims: [d], keepdim: false), nb = try AG.norm(b, p: 2, dims: [d], keepdim: false)
                let den = try AG.binary(.maximum, AG.binary(.mul, na, nb), Tensor.scalar(Float(eps)))
                l.push(try AG.binary(.div, dot, den)); return 1
            }),
            ("cross_entropy", crossEntropy),
            ("no_grad", withGradMode(false)),
            ("enable_grad", withGradMode(true)),
            // update kernels of stdlib/fp/optim.lua (in place): p, g, state..., hyperparameters
            ("_sgd_step", { l in
                try OptimizerSteps.sgd(try l.tensor(1), try l.tensor(2), LuaTensor.get(l.L, 3), lr: Float(try l.number(4)),
                                       momentum: Float(try l.number(5)), weightDecay: Float(try l.number(6)),
                                       nesterov: try l.bool(7), first: try l.bool(8))
                return 0
            }),
            ("_adam_step", { l in
                try OptimizerSteps.adam(try l.tensor(1), try l.tensor(2), try l.tensor(3), try l.tensor(4), step: try l.int(5),
                                        lr: Float(try l.number(6)), beta1: Float(try l.number(7)), beta2: Float(try l.number(8)),
                                        eps: Float(try l.number(9)), weightDecay: Float(try l.number(10)), decoupled: try l.bool(11))
                return 0
            }),
            ("is_grad_enabled", { l in l.push(bool: Autograd.enabled); return 1 }),
            ("set_grad_enabled", { l in
                let was = Autograd.enabled
                Autograd.enabled = try l.bool(1)
                l.push(bool: was); return 1
            }),
        ]
    }

    /// Metamethods routed through autograd (installed over the plain ones).
    static var metamethods: [(String, String, LuaFunction)] {
        func arith(_ op: BinaryOp) -> LuaFunction {
            { l in l.push(try AG.binary(op, try l.tensorOrScalar(1), try l.tensorOrScalar(2))); return 1 }
        }
        return [
            ("__add", "add", arith(.add)), ("__sub", "sub", arith(.sub)), ("__mul", "mul", arith(.mul)),
            ("__div", "div", arith(.div)), ("__pow", "pow", arith(.pow)),
            ("__unm", "unm", { l in l.push(try AG.unary(.neg, try l.tensor(1))); return 1 }),
        ]
    }
}
