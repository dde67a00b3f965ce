import FPTensor
import Foundation

/// Backward hooks of one run: the gradient reaching a hook point (TransformerLens's
/// `backward_hooks`). The Lua bridge implements it.
public protocol BackwardHookDispatcher: AnyObject {
    func wantsBackward(_ name: String) -> Bool
    /// The function to call with the gradient at `name` during backward.
    func backwardHook(_ name: String, layer: Int?) -> (Tensor) throws -> Void
}

/// The differentiable forward pass. When a tensor that requires grad can enter the forward pass
/// (a trainable weight, a hook that may return or write a taped tensor, a backward hook), the
/// layers before the first such point run the fast executor and the rest the taped one, so
/// that `loss:backward()` reaches the trainable tensors. With no grad-requiring tensor alive
/// (or in no-grad mode) this is exactly `forward`.
extension Transformer {
    public func forwardDifferentiable(_ input: Tensor, options: Options = Options(), hooks: HookDispatcher? = nil,
                                      backward: BackwardHookDispatcher? = nil) throws -> Tensor {
        guard Autograd.enabled, options.kvCache == nil, options.prefix == nil,
              Autograd.liveGradTensors > 0 || backward != nil else {
            return try forward(input, options: options, hooks: hooks)
        }
        let plan = try ForwardPlan(cfg, input, options)
        guard let start = tapeStart(input, plan, hooks: hooks, backward: backward) else {
            return try forward(input, options: options, hooks: hooks)
        }
        let e = TapedExecutor(model: self, plan: plan, tokens: plan.fromResidual ? nil : input, hooks: hooks, backward: backward)
        if start < 0 { return try run(e, plan) }
        var resid = input
        if start > plan.start || !plan.fromResidual {
            // the layers before the first taped one run on the fast executor
            var o = options
            o.stopAtLayer = start
            resid = try forward(input, options: o, hooks: hooks)
        }
        let taped = ForwardPlan(plan, start: start)
        return try run(e, taped, from: resid)
    }

    /// The first layer that must be taped (-1: the embedding, n_layers: only the unembedding), or nil.
    func tapeStart(_ input: Tensor, _ plan: ForwardPlan, hooks: HookDispatcher?, backward: BackwardHookDispatcher?) -> Int? {
        let L = cfg.nLayers
        func wanted(_ name: String) -> Bool {
            (hooks?.wants(name) ?? false) || (backward?.wantsBackward(name) ?? false)
        }
        if input.requiresGrad { return plan.start }
        if !plan.fromResidual {
            if weights.wE.requiresGrad || weights.wPos?.requiresGrad == true { return -1 }
            if hookPointsByLayer[L].contains(where: { $0.hasPrefix("hook_") && wanted($0) }) { return -1 }
        }
        for l in plan.start..<plan.stop {
            if weights.blocks[l].all.contains(where: { $0.requiresGrad }) { return l }
            if hookPointsByLayer[l].contains(where: wanted) { return l }
        }
        if !plan.stopsEarly {
            let finals = [weights.lnFinalW, weights.wU] + [weights.lnFinalB, weights.bU].compactMap { $0 }
            if finals.contains(where: { $0.requiresGrad }) || hookPointsByLayer[L].contains(where: { !$0.hasPrefix("hook_") && wanted($0) }) {
                return L
            }
        }
        return nil
    }
}

/// The block's operations on autograd ops: every activation is a taped tensor, hooks get a
/// taped copy (edits and replacements stay on the tape) and backward hooks attach to it.
struct TapedExecutor: BlockOps {
    let model: Transformer
    let plan: ForwardPlan
    let tokens: Tensor?
    let hooks: HookDispatcher?
    let backward: BackwardHookDispatcher?
    var cfg: ModelConfig { model.cfg }

    /// Whether a forward or backward hook reads hook point `name`.
    func wanted(_ name: String) -> Bool {
        (hooks?.wants(name) ?? false) || (backward?.wantsBackward(name) ?? false)
    }

    /// Runs the forward hooks of `name` on a taped copy of `x` (hooks may edit it in place or
    /// return a replacement) and attaches the backward hook, if any.
    func hook(_ name: String, _ layer: Int?, _ x: Tensor) throws -> Tensor {
        var y = x
        if let hooks, hooks.wants(name) {
            let act = try AG.clone(x)
            if let r = try hooks.fire(name, layer: layer, act) {
                guard r.shape == x.shape else {
                    throw TensorError("hook '\(name)' returned a tensor of shape \(r.shape), expected \(x.shape)")
                }
                y = r.dtype == .float32 ? r : try r.to(.float32)
            } else {
                y = act
            }
        }
        if let backward, backward.wantsBackward(name) {
            if !y.requiresGrad {
                // the gradient at an activation nothing trainable reaches: make it a leaf
                y = y.detached()
                y.requiresGrad = true
            }
            y = try AG.reshaped(y, "hook") { $0 }
            try Autograd.addGradHook(y, backward.backwardHook(name, layer: layer))
        }
        return y
    }

    func embed(_ table: Tensor) throws -> Tensor {
        guard let tokens else { throw TensorError("forward: internal error (no tokens to embed)") }
        for t in try tokens.toInts() where t < 0 || t >= cfg.dVocab {
            throw TensorError("forward: token id \(t) is out of range for a vocabulary of \(cfg.dVocab)")
        }
        return try AG.embedding(table, tokens)
    }

    func positionEmbed(_ table: Tensor) throws -> Tensor {
        try AG.embedding(table, Tensor(ints: plan.positions.map { Int($0) }, shape: [plan.B, plan.P]))
    }

    func norm(_ x: Tensor, _ kind: BlockShape.Normalization, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> Tensor {
        if !(wanted(names.scale) || wanted(names.normalized)) {
            return try AG.normAffine(x, eps: Float(cfg.normEps), centered: kind == .layerNorm, w, b)
        }
        let (n, s) = try AG.normalize(x, eps: Float(cfg.normEps), centered: kind == .layerNorm)
        // the scale is shown to hooks; on the tape it is not an input that edits can change
        if let hooks, hooks.wants(names.scale) { _ = try hooks.fire(names.scale, layer: layer, s.clone()) }
        var y = try hook(names.normalized, layer, n)
        y = try AG.binary(.mul, y, w)
        if let b { y = try AG.binary(.add, y, b) }
        return y
    }

    func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) throws -> Tensor {
        let y = try AG.linear(x, weight: w, precision: model.matmulPrecision, copiesAllowed: model.copiesWeights)
        return try b.map { try AG.binary(.add, y, $0) } ?? y
    }

    func splitHeads(_ qkv: Tensor) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, B = plan.B, P = plan.P
        func part(_ a: Int, _ b: Int, _ heads: Int) throws -> Tensor {
            let s = try AG.region(qkv, "slice") { try $0.slice(2, a, b) }
            return try AG.reshaped(s, "view") { try $0.reshape([B, P, heads, dh]) }
        }
        return (try part(0, nH * dh, nH), try part(nH * dh, (nH + nKV) * dh, nKV), try part((nH + nKV) * dh, cfg.qkvWidth, nKV))
    }

    func reshapeHeads(_ x: Tensor, heads: Int?) throws -> Tensor {
        let lead = Array(x.shape.dropLast(heads == nil ? 2 : 1)), d = x.shape.last ?? 0
        let shape = heads.map { lead + [$0, d / Swift.max($0, 1)] } ?? lead + [d * x.shape[x.rank - 2]]
        return try AG.reshaped(x, "reshape") { try $0.reshape(shape) }
    }

    func rotary(_ x: Tensor, _ layer: Int) throws -> Tensor {
        guard let t = try model.ropeTables(layer, positions: plan.positions) else { return x }
        return try RowKernels.rope(x, positions: plan.positions, cos: t.cos, sin: t.sin)
    }

    func attention(_ l: Int, q: Tensor, k: Tensor, v: Tensor, _ n: LayerHookNames) throws -> Tensor {
        if !(wanted(n.scores) || wanted(n.pattern)) {
            return try AG.attention(q: q, k: k, v: v, plan.attentionMasking(cfg, layer: l))
        }
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, B = plan.B, P = plan.P
        var kr = k, vr = v
        if nKV != nH {
            let idx = try Tensor(ints: (0..<nH).map { $0 / (nH / nKV) }, shape: [nH])
            kr = try AG.indexSelect(k, 2, idx)
            vr = try AG.indexSelect(v, 2, idx)
        }
        let qh = try AG.permute(q, [0, 2, 1, 3]), kh = try AG.permute(kr, [0, 2, 3, 1]), vh = try AG.permute(vr, [0, 2, 1, 3])
        var scores = try AG.binary(.mul, AG.matmul(qh, kh), Tensor.scalar(RowKernels.attentionScale(cfg)))
        if let cap = cfg.block.attentionSoftcap { scores = try RowKernels.softcap(scores, Float(cap)) }
        // masked: keys the query does not see (RowKernels.visible), and padding keys
        let window = cfg.block.slidingWindows[l]
        var hidden = [Bool](repeating: false, count: B * P * P)
        var deadRow = [Bool](repeating: false, count: B * P)
        for b in 0..<B {
            for i in 0..<P {
                var any = false
                for j in 0..<P {
                    let off = !RowKernels.visible(query: i, key: j, window: window) || (plan.mask.map { $0[b * P + j] == 0 } ?? false)
                    hidden[(b * P + i) * P + j] = off
                    if !off { any = true }
                }
                deadRow[b * P + i] = !any
            }
        }
        scores = try AG.maskedFill(scores, Tensor(bools: hidden, shape: [B, 1, P, P]), -.infinity)
        scores = try hook(n.scores, l, scores)
        var pattern: Tensor
        if deadRow.contains(true) {
            // a query with no visible key (padding) attends to nothing: zeros, not NaN
            let dead = try Tensor(bools: deadRow, shape: [B, 1, P, 1])
            pattern = try AG.maskedFill(AG.softmax(AG.maskedFill(scores, dead, 0), dim: -1, log: false), dead, 0)
        } else {
            pattern = try AG.softmax(scores, dim: -1, log: false)
        }
        pattern = try hook(n.pattern, l, pattern)
        return try AG.permute(AG.matmul(pattern, vh), [0, 2, 1, 3])   // [B, P, H, dh]
    }

    func projectHeads(_ z: Tensor, _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ l: Int) throws -> Tensor {
        let nH = cfg.nHeads, dh = cfg.dHead, d = cfg.dModel
        if (hooks?.wants(resultHook) ?? false) || (backward?.wantsBackward(resultHook) ?? false) {
            let wO3 = try AG.reshaped(wO, "view") { try $0.reshape([nH, dh, d]) }
            let result = try hook(resultHook, l, AG.einsum("bphe,hed->bphd", [z, wO3]))
            let out = try AG.reduce(.sum, result, dims: [2], keepdim: false)
            return try bO.map { try AG.binary(.add, out, $0) } ?? out
        }
        let zf = try AG.reshaped(z, "reshape") { try $0.reshape([plan.B, plan.P, nH * dh]) }
        return try linear(zf, wO, bO)
    }

    func activation(_ kind: BlockShape.Activation, _ x: Tensor) throws -> Tensor { try AG.unary(kind.unaryOp, x) }

    func scale(_ x: Tensor, _ s: Float) throws -> Tensor { try AG.binary(.mul, x, Tensor.scalar(s)) }
    func softcap(_ x: Tensor, _ cap: Float) throws -> Tensor { try RowKernels.softcap(x, cap) }
    func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try AG.binary(.mul, a, b) }
    func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try AG.binary(.add, a, b) }

    func selectPositions(_ x: Tensor, _ positions: [Int]) throws -> Tensor {
        try AG.indexSelect(x, 1, Tensor(ints: positions, shape: [positions.count]))
    }
}
