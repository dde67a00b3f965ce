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
/// layers before the first such point run the fast path and the rest runs on autograd ops, so
/// that `loss:backward()` reaches the trainable tensors. With no grad-requiring tensor alive
/// (or in no-grad mode) this is exactly `forward`.
extension Transformer {
    public func forwardAuto(_ input: Tensor, options: Options = Options(), hooks: HookDispatcher? = nil,
                            backward: BackwardHookDispatcher? = nil) throws -> Tensor {
        guard Autograd.enabled, options.kvCache == nil, options.prefix == nil,
              Autograd.liveGradTensors > 0 || backward != nil,
              let start = try tapeStart(input, options: options, hooks: hooks, backward: backward) else {
            return try forward(input, options: options, hooks: hooks)
        }
        return try tapedForward(input, from: start, options: options, hooks: hooks, backward: backward)
    }

    /// The first layer that must be taped (-1: the embedding, n_layers: only the unembedding), or nil.
    func tapeStart(_ input: Tensor, options: Options, hooks: HookDispatcher?, backward: BackwardHookDispatcher?) throws -> Int? {
        let L = cfg.nLayers
        let first = options.startAtLayer < 0 ? options.startAtLayer + L : options.startAtLayer
        let stop = options.stopAtLayer.map { $0 < 0 ? $0 + L : $0 } ?? L
        func wanted(_ name: String) -> Bool {
            (hooks?.wants(name) ?? false) || (backward?.wantsBackward(name) ?? false)
        }
        if input.requiresGrad { return first }
        if input.dtype != .float32 {
            if weights.wE.requiresGrad || weights.wPos?.requiresGrad == true { return -1 }
            if wanted("hook_embed") || wanted("hook_pos_embed") { return -1 }
        }
        if first < L && first < stop {
            for l in first..<stop {
                if weights.blocks[l].all.contains(where: { $0.requiresGrad }) { return l }
                let n = hookNames[l]
                let names = [n.residPre, n.ln1Scale, n.ln1Normalized, n.q, n.k, n.v, n.rotQ, n.rotK, n.scores,
                             n.pattern, n.z, n.result, n.attnOut, n.residMid, n.ln2Scale, n.ln2Normalized,
                             n.mlpPre, n.mlpPreLinear, n.mlpPost, n.mlpOut, n.residPost]
                if names.contains(where: wanted) { return l }
            }
        }
        if options.stopAtLayer == nil {
            let finals = [weights.lnFinalW, weights.wU] + [weights.lnFinalB, weights.bU].compactMap { $0 }
            if finals.contains(where: { $0.requiresGrad }) || wanted("ln_final.hook_scale") || wanted("ln_final.hook_normalized") {
                return L
            }
        }
        return nil
    }

    func tapedForward(_ input: Tensor, from start: Int, options: Options, hooks: HookDispatcher?,
                      backward: BackwardHookDispatcher?) throws -> Tensor {
        let L = cfg.nLayers
        let first = options.startAtLayer < 0 ? options.startAtLayer + L : options.startAtLayer
        let stop = options.stopAtLayer.map { $0 < 0 ? $0 + L : $0 } ?? L
        guard input.rank >= 2 else { return try forward(input, options: options, hooks: hooks) }
        let B = input.shape[0], P = input.shape[1]
        // empty or too long inputs: the fast path reports them
        guard B > 0, P > 0, P <= cfg.nCtx else { return try forward(input, options: options, hooks: hooks) }
        let mask = try attentionMask(options.attentionMask, B: B, P: P, past: 0)
        let positions = Transformer.positions(mask: mask, B: B, P: P, past: 0)
        let run = TapedRun(model: self, hooks: hooks, backward: backward, B: B, P: P, mask: mask, positions: positions)
        var resid: Tensor
        if start < 0 {
            resid = try run.embed(input)
        } else if input.dtype == .float32 && start == first {
            guard input.rank == 3, input.shape[2] == cfg.dModel else { return try forward(input, options: options, hooks: hooks) }
            resid = input
        } else {
            var o = options
            o.stopAtLayer = start
            resid = try forward(input, options: o, hooks: hooks)
        }
        for l in Swift.max(start, first)..<Swift.max(stop, Swift.max(start, first)) {
            resid = try run.block(l, resid)
        }
        if options.stopAtLayer != nil { return resid }
        return try run.unembed(resid, positions: options.logitPositions)
    }
}

/// One taped forward pass: the model's layers written with autograd ops.
struct TapedRun {
    let model: Transformer
    let hooks: HookDispatcher?
    let backward: BackwardHookDispatcher?
    let B: Int, P: Int
    let mask: [UInt8]?
    let positions: [Int32]
    var cfg: ModelConfig { model.cfg }

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

    func embed(_ tokens: Tensor) throws -> Tensor {
        let w = model.weights
        for t in try tokens.toInts() where t < 0 || t >= cfg.dVocab {
            throw TensorError("forward: token id \(t) is out of range for a vocabulary of \(cfg.dVocab)")
        }
        var e = try AG.embedding(w.wE, tokens)
        e = try hook("hook_embed", nil, e)
        guard let wPos = w.wPos else { return e }
        var pos = try AG.embedding(wPos, Tensor(ints: positions.map { Int($0) }, shape: [B, P]))
        pos = try hook("hook_pos_embed", nil, pos)
        return try AG.binary(.add, e, pos)
    }

    func norm(_ x: Tensor, _ w: Tensor, _ b: Tensor?, scaleHook: String, normalizedHook: String, layer: Int?) throws -> Tensor {
        let (n, s) = try AG.normalize(x, eps: Float(cfg.normEps), centered: cfg.normalization == .layerNorm)
        // the scale is shown to hooks; on the tape it is not an input that edits can change
        if let hooks, hooks.wants(scaleHook) { _ = try hooks.fire(scaleHook, layer: layer, s.clone()) }
        var y = try hook(normalizedHook, layer, n)
        y = try AG.binary(.mul, y, w)
        if let b { y = try AG.binary(.add, y, b) }
        return y
    }

    func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) throws -> Tensor {
        let y = try AG.matmul(x, w)
        return try b.map { try AG.binary(.add, y, $0) } ?? y
    }

    func block(_ l: Int, _ residPre0: Tensor) throws -> Tensor {
        let w = model.weights.blocks[l], n = model.hookNames[l]
        let residPre = try hook(n.residPre, l, residPre0)
        let x1 = try norm(residPre, w.ln1W, w.ln1B, scaleHook: n.ln1Scale, normalizedHook: n.ln1Normalized, layer: l)
        let attnOut = try hook(n.attnOut, l, attention(l, x1))
        let residMid = try hook(n.residMid, l, AG.binary(.add, residPre, attnOut))
        let x2 = try norm(residMid, w.ln2W, w.ln2B, scaleHook: n.ln2Scale, normalizedHook: n.ln2Normalized, layer: l)
        let mlpOut = try hook(n.mlpOut, l, mlp(l, x2))
        return try hook(n.residPost, l, AG.binary(.add, residMid, mlpOut))
    }

    func attention(_ l: Int, _ x: Tensor) throws -> Tensor {
        let w = model.weights.blocks[l], n = model.hookNames[l]
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, d = cfg.dModel
        let qkv = try linear(x, w.wQKV, w.bQKV)
        func part(_ a: Int, _ b: Int, _ heads: Int) throws -> Tensor {
            let s = try AG.region(qkv, "slice") { try $0.slice(2, a, b) }
            return try AG.reshaped(s, "view") { try $0.reshape([B, P, heads, dh]) }
        }
        var q = try hook(n.q, l, part(0, nH * dh, nH))
        var k = try hook(n.k, l, part(nH * dh, (nH + nKV) * dh, nKV))
        let v = try hook(n.v, l, part((nH + nKV) * dh, (nH + 2 * nKV) * dh, nKV))
        if let c = model.ropeCos, let s = model.ropeSin {
            q = try hook(n.rotQ, l, AG.rope(q, positions: positions, cos: c, sin: s))
            k = try hook(n.rotK, l, AG.rope(k, positions: positions, cos: c, sin: s))
        }
        var kr = k, vr = v
        if nKV != nH {
            let idx = try Tensor(ints: (0..<nH).map { $0 / (nH / nKV) }, shape: [nH])
            kr = try AG.indexSelect(k, 2, idx)
            vr = try AG.indexSelect(v, 2, idx)
        }
        let qh = try AG.permute(q, [0, 2, 1, 3]), kh = try AG.permute(kr, [0, 2, 3, 1]), vh = try AG.permute(vr, [0, 2, 1, 3])
        var scores = try AG.binary(.mul, AG.matmul(qh, kh), Tensor.scalar(1 / Float(dh).squareRoot()))
        // masked: keys after the query, and padding keys
        var hidden = [Bool](repeating: false, count: B * P * P)
        var deadRow = [Bool](repeating: false, count: B * P)
        for b in 0..<B {
            for i in 0..<P {
                var any = false
                for j in 0..<P {
                    let off = j > i || (mask.map { $0[b * P + j] == 0 } ?? false)
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
        let z = try hook(n.z, l, AG.permute(AG.matmul(pattern, vh), [0, 2, 1, 3]))   // [B, P, H, dh]
        let wO3 = try AG.reshaped(w.wO, "view") { try $0.reshape([nH, dh, d]) }
        if (hooks?.wants(n.result) ?? false) || (backward?.wantsBackward(n.result) ?? false) {
            let result = try hook(n.result, l, AG.einsum("bphe,hed->bphd", [z, wO3]))
            let out = try AG.reduce(.sum, result, dims: [2], keepdim: false)
            return try w.bO.map { try AG.binary(.add, out, $0) } ?? out
        }
        let zf = try AG.reshaped(z, "reshape") { try $0.reshape([B, P, nH * dh]) }
        return try linear(zf, w.wO, w.bO)
    }

    func mlp(_ l: Int, _ x: Tensor) throws -> Tensor {
        let w = model.weights.blocks[l], n = model.hookNames[l]
        let post: Tensor
        if let wGate = w.wGate {
            let pre = try hook(n.mlpPre, l, AG.matmul(x, wGate))
            let lin = try hook(n.mlpPreLinear, l, linear(x, w.wIn, w.bIn))
            post = try AG.binary(.mul, AG.unary(.silu, pre), lin)
        } else {
            let pre = try hook(n.mlpPre, l, linear(x, w.wIn, w.bIn))
            post = try AG.unary(.gelu, pre)
        }
        return try linear(hook(n.mlpPost, l, post), w.wOut, w.bOut)
    }

    func unembed(_ resid: Tensor, positions: [Int]?) throws -> Tensor {
        let w = model.weights
        var x = try norm(resid, w.lnFinalW, w.lnFinalB, scaleHook: "ln_final.hook_scale",
                         normalizedHook: "ln_final.hook_normalized", layer: nil)
        if let positions {
            let idx = try positions.map { p -> Int in
                let q = p < 0 ? p + P : p
                guard q >= 0 && q < P else { throw TensorError("forward: logit position \(p) is out of range for \(P) positions") }
                return q
            }
            x = try AG.indexSelect(x, 1, Tensor(ints: idx, shape: [idx.count]))
        }
        return try linear(x, w.wU, w.bU)
    }
}
