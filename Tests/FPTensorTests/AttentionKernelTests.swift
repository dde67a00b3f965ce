import XCTest
@testable import FPTensor

/// AG.attention (the CKernels attention kernel) against a plain double-precision reference
/// written here from the definition, and its backward against central differences of that
/// reference: grouped-query heads, key mask with a query that sees nothing, sliding window,
/// soft-cap, a past (KV cache), d_head not a multiple of the vector width, both score paths
/// (K transposed for P >= 4, dot products below) and a strided q; each on every kernel variant
/// the CPU runs (AVX-512, AVX2, baseline: KernelISA.forEachSupported).
final class AttentionKernelTests: XCTestCase {
    struct Case {
        var B, P, past, nH, nKV, dh: Int
        var window: Int?
        var softcap: Float?
        var mask: Bool
        var T: Int { past + P }
    }

    private var seed: UInt64 = 12345
    private func random(_ n: Int) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 2000 - 1000) / 1000
        }
    }

    /// Key mask [B, T]: batch item 1 has its first two keys padded (its query 0 sees nothing
    /// when past = 0), the others see every key.
    private func keyMask(_ c: Case) -> [UInt8]? {
        guard c.mask else { return nil }
        return (0..<(c.B * c.T)).map { ($0 / c.T == 1 && $0 % c.T < 2) ? 0 : 1 }
    }

    /// z [B, P, nH, dh] from the definition, in double.
    private func reference(_ c: Case, _ q: [Double], _ k: [Double], _ v: [Double], scale: Double) -> [Double] {
        var z = [Double](repeating: 0, count: c.B * c.P * c.nH * c.dh)
        let mask = keyMask(c), group = c.nH / c.nKV
        for b in 0..<c.B {
            for h in 0..<c.nH {
                let g = h / group
                for i in 0..<c.P {
                    let qi = c.past + i
                    var s = [Double](repeating: -.infinity, count: c.T)
                    for j in 0..<c.T where j <= qi && (c.window.map { qi - j < $0 } ?? true) && (mask.map { $0[b * c.T + j] != 0 } ?? true) {
                        var d = 0.0
                        for e in 0..<c.dh { d += q[((b * c.P + i) * c.nH + h) * c.dh + e] * k[((b * c.T + j) * c.nKV + g) * c.dh + e] }
                        d *= scale
                        if let cap = c.softcap { d = Double(cap) * tanh(d / Double(cap)) }
                        s[j] = d
                    }
                    let m = s.max() ?? -.infinity
                    guard m > -.infinity else { continue }
                    let e = s.map { exp($0 - m) }, sum = e.reduce(0, +)
                    for j in 0..<c.T where e[j] > 0 {
                        for x in 0..<c.dh { z[((b * c.P + i) * c.nH + h) * c.dh + x] += e[j] / sum * v[((b * c.T + j) * c.nKV + g) * c.dh + x] }
                    }
                }
            }
        }
        return z
    }

    private func check(_ c: Case, stridedQ: Bool = false) throws {
        let scale: Float = 0.7
        let qn = c.B * c.P * c.nH * c.dh, kn = c.B * c.T * c.nKV * c.dh
        let qv = random(qn), kv = random(kn), vv = random(kn), r = random(qn)
        let m = AttentionMasking(past: c.past, window: c.window, keyMask: keyMask(c), scale: scale, softcap: c.softcap)
        // q as a view into a wider buffer (as the executors' q is a slice of the QKV product)
        var q = try Tensor(qv, shape: [c.B, c.P, c.nH, c.dh])
        if stridedQ {
            let wide = try Tensor.cat([q, q], dim: 3)
            q = try wide.slice(3, 0, c.dh)
            XCTAssertFalse(q.isContiguous)
        }
        q.requiresGrad = true
        let k = try Tensor(kv, shape: [c.B, c.T, c.nKV, c.dh]), v = try Tensor(vv, shape: [c.B, c.T, c.nKV, c.dh])
        k.requiresGrad = true
        v.requiresGrad = true
        let z = try AG.attention(q: q, k: k, v: v, m)
        let d = { (a: [Float]) in a.map(Double.init) }
        let want = reference(c, d(qv), d(kv), d(vv), scale: Double(scale))
        let got = try z.toFloats()
        for (a, b) in zip(got, want) { XCTAssertEqual(Double(a), b, accuracy: 1e-5) }
        // the kernel without a tape gives the same bits
        let plain = try Autograd.withMode(false) { try AG.attention(q: q, k: k, v: v, m) }
        XCTAssertEqual(try plain.toFloats(), got)

        // L = sum(z * r): gradients against central differences of the reference
        try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, z, Tensor(r, shape: z.shape)), dims: nil, keepdim: false))
        func loss(_ qd: [Double], _ kd: [Double], _ vd: [Double]) -> Double {
            zip(reference(c, qd, kd, vd, scale: Double(scale)), r).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let eps = 1e-5
        for (which, grad) in [(0, q.grad), (1, k.grad), (2, v.grad)] {
            let g = try XCTUnwrap(grad).contiguous().toFloats()
            for idx in stride(from: 0, to: g.count, by: Swift.max(1, g.count / 40)) {
                var ins = [d(qv), d(kv), d(vv)]
                ins[which][idx] += eps
                let up = loss(ins[0], ins[1], ins[2])
                ins[which][idx] -= 2 * eps
                let down = loss(ins[0], ins[1], ins[2])
                XCTAssertEqual(Double(g[idx]), (up - down) / (2 * eps), accuracy: 1e-4, "\(KernelISA.name) input \(which) element \(idx)")
            }
        }
    }

    func testGroupedQueryMaskWindowSoftcap() throws {
        try KernelISA.forEachSupported { _ in try check(Case(B: 2, P: 6, past: 0, nH: 4, nKV: 2, dh: 20, window: 3, softcap: 1.5, mask: true)) }
    }

    func testShortQueriesWithPast() throws {
        try KernelISA.forEachSupported { _ in try check(Case(B: 2, P: 3, past: 4, nH: 2, nKV: 1, dh: 37, window: nil, softcap: nil, mask: true)) }
    }

    func testLongerRowsStridedQuery() throws {
        try KernelISA.forEachSupported { _ in try check(Case(B: 1, P: 40, past: 0, nH: 3, nKV: 3, dh: 64, window: nil, softcap: nil, mask: false), stridedQ: true) }
    }

    /// Queries are taken four at a time: blocks with a past, a window and a key mask, and a head
    /// width past the 64-wide value block.
    func testQueryBlocksWithPastWindowWideHead() throws {
        try KernelISA.forEachSupported { _ in try check(Case(B: 2, P: 9, past: 3, nH: 2, nKV: 1, dh: 80, window: 5, softcap: nil, mask: true)) }
    }

    /// A query never reads a value it does not see: a NaN in the last position's value reaches
    /// only the last query, also when it shares a block of four with earlier ones.
    func testAFutureNaNValueStaysOutOfEarlierQueries() throws {
        let P = 8, dh = 64
        let q = try Tensor(random(P * dh), shape: [1, P, 1, dh]), k = try Tensor(random(P * dh), shape: [1, P, 1, dh])
        var vv = random(P * dh)
        vv[(P - 1) * dh + 5] = .nan
        let v = try Tensor(vv, shape: [1, P, 1, dh])
        let m = AttentionMasking(past: 0, window: nil, keyMask: nil, scale: 0.125, softcap: nil)
        try KernelISA.forEachSupported { isa in
            let z = try AG.attention(q: q, k: k, v: v, m).toFloats()
            for i in 0..<(P - 1) { XCTAssertTrue(z[(i * dh)..<((i + 1) * dh)].allSatisfy { $0.isFinite }, "\(isa) query \(i)") }
            XCTAssertTrue(z[(P - 1) * dh + 5].isNaN, isa)
        }
    }

    /// Few (batch, head) pairs on several threads: each pair's queries are split into parts of
    /// about equal work at multiples of 4, and the result is the bits of one thread.
    func testQueryPartsBalanceWorkAndKeepTheBits() throws {
        let saved = BLASThreads.configured
        defer { BLASThreads.configure(saved) }
        BLASThreads.configure(2)
        let parts = AG.queryParts(pairs: 3, P: 256, past: 0, window: nil, work: 3 * 256 * 64 * 256)
        XCTAssertEqual(parts.first, 0)
        XCTAssertEqual(parts.last, 256)
        XCTAssertGreaterThan(parts.count, 3)
        for (a, b) in zip(parts, parts.dropFirst()) { XCTAssertLessThan(a, b); XCTAssertEqual(a % 4, 0) }
        // causal work of a part ~ sum of (i + 1 + 16) over its queries: within 2x of each other
        let work = zip(parts, parts.dropFirst()).map { (a, b) in (a..<b).reduce(0) { $0 + $1 + 17 } }
        XCTAssertLessThan(Double(work.max()!), 2.0 * Double(work.min()!), "\(parts)")
        XCTAssertEqual(AG.queryParts(pairs: 64, P: 256, past: 0, window: nil, work: 1 << 30), [0, 256])   // enough pairs
        XCTAssertEqual(AG.queryParts(pairs: 3, P: 8, past: 0, window: nil, work: 1 << 30), [0, 8])       // too few queries

        let q = try Tensor(random(256 * 3 * 64), shape: [1, 256, 3, 64]), k = try Tensor(random(256 * 64), shape: [1, 256, 1, 64])
        let v = try Tensor(random(256 * 64), shape: [1, 256, 1, 64])
        let m = AttentionMasking(past: 0, window: nil, keyMask: nil, scale: 0.125, softcap: nil)
        let two = try AG.attention(q: q, k: k, v: v, m).toFloats()
        BLASThreads.configure(1)
        let one = try AG.attention(q: q, k: k, v: v, m).toFloats()
        XCTAssertTrue(one.elementsEqual(two) { $0.bitPattern == $1.bitPattern })
    }

    func testRejectsInconsistentShapes() throws {
        let q = try Tensor(random(2 * 4 * 3 * 8), shape: [2, 4, 3, 8]), k = try Tensor(random(2 * 4 * 2 * 8), shape: [2, 4, 2, 8])
        let m = AttentionMasking(past: 0, window: nil, keyMask: nil, scale: 1, softcap: nil)
        assertThrows(try AG.attention(q: q, k: k, v: k, m), contains: "inconsistent")
        let bad = AttentionMasking(past: 0, window: nil, keyMask: [1, 1], scale: 1, softcap: nil)
        let k3 = try Tensor(random(2 * 4 * 3 * 8), shape: [2, 4, 3, 8])
        assertThrows(try AG.attention(q: q, k: k3, v: k3, bad), contains: "inconsistent")
    }
}
