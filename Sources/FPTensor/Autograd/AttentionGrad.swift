import CKernels
import Foundation

/// Which keys each query sees, and how scores are scaled, for `AG.attention`.
public struct AttentionMasking {
    /// Keys before this run (a KV cache): query i is at sequence index past + i.
    public var past: Int
    /// Query at index i sees key j when i - j < window (nil: every earlier key).
    public var window: Int?
    /// Key mask [B, past + P] (nonzero = attend); nil: every key.
    public var keyMask: [UInt8]?
    public var scale: Float
    /// cap * tanh(score / cap) before the softmax (Gemma 2); nil: none.
    public var softcap: Float?

    public init(past: Int, window: Int?, keyMask: [UInt8]?, scale: Float, softcap: Float?) {
        self.past = past; self.window = window; self.keyMask = keyMask; self.scale = scale; self.softcap = softcap
    }
}

/// Causal attention in one kernel per (batch, head): scores, soft-cap, mask, softmax and the
/// weighted sum of values (CKernels' fpk_attention_*), with no [B, H, P, T] scores tensor and no
/// GEMM call per head. Used by the fast and taped executors when no hook reads the scores or
/// the pattern; the backward is one kernel per (batch, K/V head), from the saved pattern.
extension AG {
    /// z [B, P, nH, dh] from q [B, P, nH, dh] and k, v [B, T, nKV, dh] (nH a multiple of nKV:
    /// grouped-query heads share their K/V head).
    public static func attention(q: Tensor, k: Tensor, v: Tensor, _ m: AttentionMasking) throws -> Tensor {
        guard q.rank == 4, k.rank == 4, v.rank == 4, k.shape == v.shape, q.shape[0] == k.shape[0], q.shape[3] == k.shape[3] else {
            throw TensorError("attention: expected q [B, P, H, dh] and k, v [B, T, H_kv, dh], got \(fmt(q.shape)), \(fmt(k.shape)), \(fmt(v.shape))")
        }
        let B = q.shape[0], P = q.shape[1], nH = q.shape[2], dh = q.shape[3], T = k.shape[1], nKV = k.shape[2]
        guard nKV > 0, nH % nKV == 0, T == m.past + P, m.keyMask.map({ $0.count == B * T }) ?? true, (m.window ?? 1) > 0 else {
            throw TensorError("attention: inconsistent shapes (\(nH) query heads, \(nKV) K/V heads, \(T) keys for \(m.past) + \(P) positions)")
        }
        for t in [q, k, v] { guard t.dtype == .float32 else { throw TensorError("attention: expected float32 tensors") } }
        // nothing to compute; past this point every dim is below 2^31 (the kernel's int)
        if q.count == 0 { return try Tensor.empty([B, P, nH, dh]) }
        let qc = try lastContiguous(q), kc = try lastContiguous(k), vc = try lastContiguous(v)
        let taped = Autograd.taping(q, k, v)
        let z = try Tensor.empty([B, P, nH, dh])
        let pattern = taped ? try Tensor.empty([B, nH, P, T]) : nil
        try withShape(qc, kc, vc, m) { shape in
            let pz = try z.floatPointer(), pp = try pattern?.floatPointer()
            let parts = queryParts(pairs: B * nH, P: P, past: m.past, window: m.window, work: q.count * T)
            let scratch = ((T + 15) / 16 * 16 + 16) * (dh + 4)
            if parts.count == 2 {
                split(B * nH, work: q.count * T, scratch: scratch) { lo, hi, buf in
                    withUnsafePointer(to: shape) { fpk_attention_forward($0, pz, pp, Int32(lo), Int32(hi), 0, Int32(P), buf) }
                }
            } else {
                // units of equal work, handed out one at a time
                let np = parts.count - 1
                ParallelFor.run(B * nH * np) { u in
                    let pair = Int32(u / np), part = u % np
                    let buf = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
                    defer { buf.deallocate() }
                    withUnsafePointer(to: shape) {
                        fpk_attention_forward($0, pz, pp, pair, pair + 1, Int32(parts[part]), Int32(parts[part + 1]), buf)
                    }
                }
            }
        }
        guard taped, let pattern else { return z }
        let qs = Autograd.save(qc), ks = Autograd.save(kc), vs = Autograd.save(vc)
        return Autograd.record(z, "attention", [q, k, v]) { g in
            let gz = try g.contiguous()
            let dq = try Tensor.empty(q.shape), dk = try zeros(k.shape), dv = try zeros(k.shape)
            try withShape(qs.value, ks.value, vs.value, m) { shape in
                let pp = try pattern.floatPointer(), pg = try gz.floatPointer()
                let pq = try dq.floatPointer(), pk = try dk.floatPointer(), pv = try dv.floatPointer()
                split(B * nKV, work: 2 * q.count * T, scratch: T) { lo, hi, scratch in
                    withUnsafePointer(to: shape) { fpk_attention_backward($0, pp, pg, pq, pk, pv, Int32(lo), Int32(hi), scratch) }
                }
            }
            return [dq, dk, dv]
        }
    }

    private static func zeros(_ shape: [Int]) throws -> Tensor {
        Tensor(storage: try Storage(count: shape.reduce(1, *), dtype: .float32), shape: shape,
               strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// The tensor itself when its last dim is contiguous (the kernel takes the other strides).
    private static func lastContiguous(_ t: Tensor) throws -> Tensor {
        t.strides[3] == 1 || t.shape[3] == 1 ? t : try t.contiguous()
    }

    /// The kernel's description of q, k, v and the masking, valid inside `body`.
    private static func withShape(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ m: AttentionMasking,
                                  _ body: (fpk_attention_shape) throws -> Void) throws {
        let pq = try q.floatPointer(), pk = try k.floatPointer(), pv = try v.floatPointer()
        func run(_ mask: UnsafePointer<UInt8>?) throws {
            let shape = fpk_attention_shape(
                q: pq, q_sb: q.strides[0], q_sp: q.strides[1], q_sh: q.strides[2],
                k: pk, k_sb: k.strides[0], k_sp: k.strides[1], k_sh: k.strides[2],
                v: pv, v_sb: v.strides[0], v_sp: v.strides[1], v_sh: v.strides[2],
                mask: mask, B: Int32(q.shape[0]), P: Int32(q.shape[1]), T: Int32(k.shape[1]),
                nH: Int32(q.shape[2]), nKV: Int32(k.shape[2]), dh: Int32(q.shape[3]),
                past: Int32(clamping: m.past), window: Int32(clamping: m.window ?? 0), alpha: m.scale, softcap: m.softcap ?? 0)
            try withExtendedLifetime((q, k, v)) { try body(shape) }
        }
        guard [q.count, k.count, v.count].allSatisfy({ $0 < Int(Int32.max) }) else {
            throw TensorError("attention: tensors of more than 2^31 elements")
        }
        if let mask = m.keyMask { try mask.withUnsafeBufferPointer { try run($0.baseAddress) } } else { try run(nil) }
    }

    /// Multiply-adds from which attention runs on several threads.
    static let parallelWork = 1 << 22

    /// Query boundaries [0, ..., P] splitting each (batch, head) pair into parts of about equal
    /// work (a query's work grows with the keys it sees), when there are too few pairs to keep
    /// every thread busy (one prompt of 9 heads on 2 threads left one idle a fifth of the time);
    /// boundaries are multiples of 4 (the kernel's query blocks). [0, P] otherwise.
    static func queryParts(pairs: Int, P: Int, past: Int, window: Int?, work: Int) -> [Int] {
        let threads = BLASThreads.forLoops
        guard threads > 1, work >= parallelWork, pairs < 8 * threads, P >= 16 else { return [0, P] }
        let want = Swift.min((8 * threads + pairs - 1) / pairs, P / 8)
        func keys(_ i: Int) -> Int { Swift.min(past + i + 1, window ?? Int.max) + 16 }   // + a row's fixed cost
        let total = (0..<P).reduce(0) { $0 + keys($1) }
        var bounds = [0], acc = 0
        for i in 0..<P {
            acc += keys(i)
            let next = bounds.count
            if next < want, acc * want >= next * total, (i + 1) % 4 == 0, i + 1 > bounds[bounds.count - 1], i + 1 < P {
                bounds.append(i + 1)
            }
        }
        bounds.append(P)
        return bounds
    }

    /// Runs body over [0, n) in chunks, on both cores when the work (multiply-adds) is large
    /// enough to pay for starting a thread; each chunk gets its own scratch of `scratch` floats.
    private static func split(_ n: Int, work: Int, scratch: Int, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let threads = BLASThreads.forLoops
        let chunks = threads > 1 && work >= parallelWork ? Swift.min(n, 4 * threads) : 1
        ParallelFor.run(chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(scratch, 1))
            defer { buf.deallocate() }
            body(lo, hi, buf)
        }
    }
}
