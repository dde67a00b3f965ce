import CKernels
import Foundation

/// Differentiable operations: each runs the plain op and, when an input requires grad,
/// records its backward rule. Called by the Lua bridge and the taped model forward.
public enum AG {}

extension AG {
    @inline(__always) static func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try Tensor.binary(.mul, a, b) }
    @inline(__always) static func scale(_ a: Tensor, _ s: Float) throws -> Tensor { try Tensor.binary(.mul, a, Tensor.scalar(s)) }

    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let out = try Tensor.binary(op, a, b)
        guard Autograd.taping(a, b), out.dtype == .float32 else { return out }
        let sa = a.shape, sb = b.shape
        let ga = a.requiresGrad, gb = b.requiresGrad
        switch op {
        case .add:
            return Autograd.record(out, "add", [a, b]) { g in
                [ga ? try Autograd.sumToShape(g, sa) : nil, gb ? try Autograd.sumToShape(g, sb) : nil]
            }
        case .sub:
            return Autograd.record(out, "sub", [a, b]) { g in
                [ga ? try Autograd.sumToShape(g, sa) : nil, gb ? try Autograd.sumToShape(g.unary(.neg), sb) : nil]
            }
        case .mul:
            let av = Autograd.save(a), bv = Autograd.save(b)
            return Autograd.record(out, "mul", [a, b]) { g in
                [ga ? try Autograd.sumToShape(mul(g, bv.value), sa) : nil, gb ? try Autograd.sumToShape(mul(g, av.value), sb) : nil]
            }
        case .div:
            let av = Autograd.save(a), bv = Autograd.save(b)
            return Autograd.record(out, "div", [a, b]) { g in
                let gq = try Tensor.binary(.div, g, bv.value)
                return [ga ? try Autograd.sumToShape(gq, sa) : nil,
                        gb ? try Autograd.sumToShape(Tensor.binary(.div, mul(gq, av.value), bv.value).unary(.neg), sb) : nil]
            }
        case .pow:
            let av = Autograd.save(a), bv = Autograd.save(b), ov = Autograd.save(out)
            return Autograd.record(out, "pow", [a, b]) { g in
                // d/da a^b = b a^(b-1); d/db a^b = a^b log a
                var gaT: Tensor? = nil, gbT: Tensor? = nil
                if ga {
                    let bm1 = try Tensor.binary(.sub, bv.value, Tensor.scalar(1))
                    gaT = try Autograd.sumToShape(mul(g, mul(bv.value, Tensor.binary(.pow, av.value, bm1))), sa)
                }
                if gb { gbT = try Autograd.sumToShape(mul(g, mul(ov.value, av.value.unary(.log))), sb) }
                return [gaT, gbT]
            }
        case .maximum, .minimum:
            // the gradient goes to the selected input (to a on ties)
            let pick = try Tensor.compare(op == .maximum ? .ge : .le, a, b)
            return Autograd.record(out, op.rawValue, [a, b]) { g in
                let z = Tensor.scalar(0)
                return [ga ? try Autograd.sumToShape(Tensor.whereSelect(pick, g, z), sa) : nil,
                        gb ? try Autograd.sumToShape(Tensor.whereSelect(pick, z, g), sb) : nil]
            }
        default:
            throw TensorError("\(op.rawValue): no gradient is defined (use detach() for the input that requires grad)")
        }
    }

    public static func unary(_ op: UnaryOp, _ x: Tensor) throws -> Tensor {
        let out = try x.unary(op)
        guard Autograd.taping(x), out.dtype == .float32 else { return out }
        let xv = Autograd.save(x), ov = Autograd.save(out)
        let rule: (Tensor) throws -> Tensor
        switch op {
        case .neg: rule = { try $0.unary(.neg) }
        case .exp: rule = { try mul($0, ov.value) }
        case .log: rule = { try Tensor.binary(.div, $0, xv.value) }
        case .sqrt: rule = { try Tensor.binary(.div, $0, scale(ov.value, 2)) }
        case .rsqrt: rule = { try mul($0, scale(mul(ov.value, mul(ov.value, ov.value)), -0.5)) }
        case .tanh: rule = { try mul($0, Tensor.binary(.sub, Tensor.scalar(1), mul(ov.value, ov.value))) }
        case .sigmoid: rule = { try mul($0, mul(ov.value, Tensor.binary(.sub, Tensor.scalar(1), ov.value))) }
        case .silu: rule = { g in try activationGrad(Int32(FPK_SILU), xv.value, g) }
        case .gelu: rule = { g in try activationGrad(Int32(FPK_GELU_TANH), xv.value, g) }
        case .gelu_erf: rule = { g in try activationGrad(Int32(FPK_GELU_ERF), xv.value, g) }
        case .relu: rule = { g in try Tensor.whereSelect(Tensor.compare(.gt, xv.value, Tensor.scalar(0)), g, Tensor.scalar(0)) }
        case .abs: rule = { g in try mul(g, xv.value.unary(.sign)) }
        case .sin: rule = { g in try mul(g, xv.value.unary(.cos)) }
        case .cos: rule = { g in try mul(g, xv.value.unary(.sin).unary(.neg)) }
        case .square: rule = { g in try mul(g, scale(xv.value, 2)) }
        case .reciprocal: rule = { g in try mul(g, mul(ov.value, ov.value).unary(.neg)) }
        case .log1p: rule = { g in try Tensor.binary(.div, g, Tensor.binary(.add, xv.value, Tensor.scalar(1))) }
        case .expm1: rule = { g in try mul(g, Tensor.binary(.add, ov.value, Tensor.scalar(1))) }
        case .erf: rule = { g in try mul(g, scale(mul(xv.value, xv.value).unary(.neg).unary(.exp), Float(2 / Double.pi.squareRoot()))) }
        case .sign, .floor, .ceil, .round: rule = { g in try Tensor(zeros: g.shape) }
        }
        return Autograd.record(out, op.rawValue, [x]) { g in [try rule(g)] }
    }

    /// g * act'(x) in one pass (CKernels: SiLU s (1 + x (1 - s)), the GELUs' closed forms);
    /// g is broadcast to x's shape first.
    static func activationGrad(_ op: Int32, _ x: Tensor, _ g: Tensor) throws -> Tensor {
        let xc = try x.to(.float32).contiguous()
        let gc = try (g.shape == x.shape ? g : g.expand(x.shape)).to(.float32).contiguous()
        let out = try Tensor.empty(x.shape)
        let px = try xc.readFloatPointer(), pg = try gc.readFloatPointer(), po = try out.floatPointer()
        withExtendedLifetime((xc, gc)) {
            SplitRange.run(out.count) { lo, hi in fpk_activation_grad(op, px + lo, pg + lo, po + lo, hi - lo) }
        }
        return out
    }

    public static func clamp(_ x: Tensor, min lo: Double?, max hi: Double?) throws -> Tensor {
        let out = try x.clamp(min: lo, max: hi)
        guard Autograd.taping(x) else { return out }
        let xv = Autograd.save(x)
        return Autograd.record(out, "clamp", [x]) { g in
            var keep = try Tensor(zeros: xv.value.shape, dtype: .bool).logicalNot()
            if let lo { keep = try Tensor.logical(.and, keep, Tensor.compare(.ge, xv.value, Tensor.scalar(Float(lo)))) }
            if let hi { keep = try Tensor.logical(.and, keep, Tensor.compare(.le, xv.value, Tensor.scalar(Float(hi)))) }
            return [try Tensor.whereSelect(keep, g, Tensor.scalar(0))]
        }
    }

    public static func whereSelect(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let out = try Tensor.whereSelect(cond, a, b)
        guard Autograd.taping(a, b) else { return out }
        let c = cond.detached(), sa = a.shape, sb = b.shape
        return Autograd.record(out, "where", [a, b]) { g in
            let z = Tensor.scalar(0)
            return [try Autograd.sumToShape(Tensor.whereSelect(c, g, z), sa),
                    try Autograd.sumToShape(Tensor.whereSelect(c, z, g), sb)]
        }
    }

    public static func maskedFill(_ x: Tensor, _ mask: Tensor, _ value: Double) throws -> Tensor {
        let out = try x.maskedFill(mask, value)
        guard Autograd.taping(x) else { return out }
        let m = mask.detached(), sx = x.shape
        return Autograd.record(out, "masked_fill", [x]) { g in
            [try Autograd.sumToShape(Tensor.whereSelect(m, Tensor.scalar(0), g), sx)]
        }
    }

    public static func clone(_ x: Tensor) throws -> Tensor {
        let out = try x.clone()
        guard Autograd.taping(x) else { return out }
        return Autograd.record(out, "clone", [x]) { g in [g] }
    }

    public static func contiguous(_ x: Tensor) throws -> Tensor {
        if x.isContiguous { return x }
        return try clone(x)
    }
}
