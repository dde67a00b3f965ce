import CLua
import FPModels
import FPTensor
import Foundation

/// model:generate(input, opts): greedy or sampled continuation with a KV cache.
enum LuaGenerate {
    static let generate: LuaFunction = { l in
        let b = try LuaModel.box(l)
        let opts: Int32 = 3
        try l.checkOptions(opts, LuaModelMethods.tokenOptionNames + ["max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "stop_at_eos"])
        let (tokens, mask, fromText) = try LuaModelMethods.input(l, b, 2, opts)
        let maxNew = try l.intOption(opts, "max_new_tokens") ?? 10
        guard maxNew >= 0 else { throw LuaError("generate: max_new_tokens must be >= 0, got \(maxNew)") }
        let doSample = try l.boolOption(opts, "do_sample", default: false)
        let temperature = try l.numberOption(opts, "temperature") ?? 1.0
        let topK = try l.intOption(opts, "top_k")
        let topP = try l.numberOption(opts, "top_p")
        let stopAtEOS = try l.boolOption(opts, "stop_at_eos", default: true)
        guard temperature >= 0, temperature.isFinite else { throw LuaError("generate: temperature must be a finite number >= 0, got \(temperature)") }
        if let k = topK, k < 1 { throw LuaError("generate: top_k must be >= 1") }
        if let p = topP, !(p > 0 && p <= 1) { throw LuaError("generate: top_p must be in (0, 1]") }
        let m = b.model
        let B = tokens.shape[0], P = tokens.shape[1]
        guard P + maxNew <= m.cfg.nCtx else {
            throw LuaError("generate: \(P) prompt tokens + \(maxNew) new ones exceed the context of \(m.cfg.nCtx)")
        }
        let hooks = b.activeHooks()
        let cache = try KVCache(cfg: m.cfg, batch: B, capacity: P + maxNew)
        var o = Transformer.Options()
        o.kvCache = cache
        o.logitPositions = [-1]
        var fullMask = try mask.map { try $0.toInts() } ?? [Int](repeating: 1, count: B * P)
        var maskWidth = P
        func maskTensor() throws -> Tensor { try Tensor(ints: fullMask, shape: [B, maskWidth]) }
        if mask != nil { o.attentionMask = try maskTensor() }
        var out = try tokens.toInts().chunked(P)
        var finished = [Bool](repeating: false, count: B)
        let eos = m.tokenizer?.eosId
        var next = tokens
        for _ in 0..<maxNew {
            try Limits.checkCancel()
            let logits = try m.forward(next, options: o, hooks: hooks)   // [B, 1, V]
            var step = [Int]()
            for bb in 0..<B {
                let row = try logits.select(0, bb).select(0, 0)
                let id = finished[bb] ? (m.tokenizer?.padId ?? eos ?? 0)
                    : try pick(row, sample: doSample && temperature > 0, temperature: temperature, topK: topK, topP: topP)
                step.append(id)
                out[bb].append(id)
                if stopAtEOS, let eos, id == eos { finished[bb] = true }
            }
            if finished.allSatisfy({ $0 }) { break }
            next = try Tensor(ints: step, shape: [B, 1])
            if mask != nil {
                // the mask grows with the sequence: [B, past + 1]
                var grown = [Int]()
                for bb in 0..<B { grown += Array(fullMask[(bb * maskWidth)..<((bb + 1) * maskWidth)]) + [1] }
                fullMask = grown; maskWidth += 1
                o.attentionMask = try maskTensor()
            }
        }
        if fromText, let tok = m.tokenizer, l.type(2) == LUA_TSTRING {
            let (bos, _) = try LuaModelMethods.tokenOptions(l, b, opts)
            let ids = bos ? Array(out[0].dropFirst()) : out[0]
            l.pushString(tok.decode(ids))
            return 1
        }
        let width = out.map(\.count).max() ?? 0
        let pad = m.tokenizer?.padId ?? eos ?? 0
        l.push(try Tensor(ints: out.flatMap { $0 + [Int](repeating: pad, count: width - $0.count) }, shape: [B, width]))
        return 1
    }

    /// Greedy argmax, or a sample from softmax(logits / temperature) restricted to top_k / top_p.
    static func pick(_ logits: Tensor, sample: Bool, temperature: Double, topK: Int?, topP: Double?) throws -> Int {
        let v = try logits.toFloats()
        if !sample {
            var best = 0
            for i in 1..<v.count where v[i] > v[best] { best = i }
            return best
        }
        var order = Array(0..<v.count).sorted { v[$0] > v[$1] }
        if let k = topK { order = Array(order.prefix(k)) }
        let mx = Double(v[order[0]])
        var probs = order.map { exp((Double(v[$0]) - mx) / temperature) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if let p = topP {
            var acc = 0.0, keep = 0
            for q in probs { acc += q; keep += 1; if acc >= p { break } }
            order = Array(order.prefix(keep)); probs = Array(probs.prefix(keep))
            let t = probs.reduce(0, +); probs = probs.map { $0 / t }
        }
        var r = RandomSource.nextDouble(), i = 0
        while i < probs.count - 1 && r >= probs[i] { r -= probs[i]; i += 1 }
        return order[i]
    }
}

extension Array {
    func chunked(_ n: Int) -> [[Element]] {
        stride(from: 0, to: count, by: Swift.max(n, 1)).map { Array(self[$0..<Swift.min($0 + n, count)]) }
    }
}
