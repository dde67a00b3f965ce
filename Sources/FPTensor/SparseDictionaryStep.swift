import CBLAS

/// One training step of a TopK or BatchTopK sparse autoencoder (SAELens 6's TrainingSAE
/// semantics: stdlib/fp/sae_train.lua), forward and backward in one pass that uses the sparsity.
/// Only the encoder product is dense (one sgemm); the decode, the auxiliary dead-latent decode
/// and every gradient touch only the k selected latents of each row: the gradient of W_dec only
/// its selected rows, the gradient of W_enc is s^T times a sparse matrix. The autograd path does
/// six dense [batch, d_sae] products for the same numbers.
public enum SparseDictionaryStep {
    public struct Settings {
        public var k: Int                 // latents per row (TopK) or per row on average (BatchTopK: k * batch in all)
        public var batchTopK: Bool
        public var rescaleByDecoderNorm: Bool
        public var applyBDecToInput: Bool
        public var deadWindow: Double     // a latent is dead when it has not fired for more steps than this
        public var auxCoefficient: Float
        public var clipGradNorm: Double?  // torch's clip_grad_norm_ over the four gradients, in place
        public init(k: Int, batchTopK: Bool, rescaleByDecoderNorm: Bool, applyBDecToInput: Bool, deadWindow: Double,
                    auxCoefficient: Float, clipGradNorm: Double? = nil) {
            self.k = k; self.batchTopK = batchTopK; self.rescaleByDecoderNorm = rescaleByDecoderNorm
            self.applyBDecToInput = applyBDecToInput; self.deadWindow = deadWindow; self.auxCoefficient = auxCoefficient
            self.clipGradNorm = clipGradNorm
        }
    }

    public struct Result {
        public let gradWEnc: Tensor, gradBEnc: Tensor, gradWDec: Tensor, gradBDec: Tensor
        public let mseLoss: Double, auxLoss: Double
        public let l0: Double             // mean number of firing latents per row
        public let deadBefore: Int        // dead latents at the start of the step (they feed the auxiliary loss)
        public let minPositiveAct: Float? // smallest firing activation (BatchTopK's running threshold)
        public let gradNorm: Double       // the gradients' total norm before clipping
    }

    /// The selected (row, latent) entries, row by row (CSR); `pre` and `raw` are the
    /// pre-activation with and without the decoder-norm factor.
    struct Entries {
        var rowStart: [Int]
        var col: [Int32]
        var pre: [Float]
        var raw: [Float]
    }

    /// x [B, d_in] (already scaled), W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in];
    /// sinceFired [d_sae] (steps since each latent last fired) is updated in place.
    public static func run(x: Tensor, wEnc: Tensor, bEnc: Tensor, wDec: Tensor, bDec: Tensor, sinceFired: Tensor,
                           _ s: Settings) throws -> Result {
        let fn = "sae_topk_step"
        guard x.rank == 2, wEnc.rank == 2, wDec.rank == 2, bEnc.rank == 1, bDec.rank == 1, sinceFired.rank == 1 else {
            throw TensorError("\(fn): expected x [batch, d_in], W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], since_fired [d_sae]")
        }
        let B = x.shape[0], n = x.shape[1], m = wEnc.shape[1]
        guard wEnc.shape[0] == n, wDec.shape == [m, n], bEnc.shape[0] == m, bDec.shape[0] == n, sinceFired.shape[0] == m else {
            throw TensorError("\(fn): shapes do not fit: x \(fmt(x.shape)), W_enc \(fmt(wEnc.shape)), b_enc \(fmt(bEnc.shape)), W_dec \(fmt(wDec.shape)), b_dec \(fmt(bDec.shape)), since_fired \(fmt(sinceFired.shape))")
        }
        guard B > 0, n > 0, m > 0, s.k >= 1, s.k <= m, m < Int(Int32.max), B < Int(Int32.max) else {
            throw TensorError("\(fn): need a non-empty batch and 1 <= k <= d_sae (k = \(s.k), d_sae = \(m))")
        }
        for t in [x, wEnc, bEnc, wDec, bDec, sinceFired] where t.dtype != .float32 || !t.isContiguous {
            throw TensorError("\(fn): tensors must be contiguous float32")
        }
        guard checkedProduct([B, m]) != nil, checkedProduct([s.k, B]) != nil else { throw TensorError("\(fn): batch too large") }
        let px = try x.floatPointer(), pWe = try wEnc.floatPointer(), pbe = try bEnc.floatPointer()
        let pWd = try wDec.floatPointer(), pbd = try bDec.floatPointer(), pSince = try sinceFired.floatPointer()

        // decoder norms (1 without rescaling) and the dead latents
        var norms = [Float](repeating: 1, count: m)
        if s.rescaleByDecoderNorm {
            for j in 0..<m { norms[j] = Float(dot(pWd + j * n, pWd + j * n, n).squareRoot()) }
        }
        var dead = [Bool](repeating: false, count: m)
        var nDead = 0
        for j in 0..<m where Double(pSince[j]) > s.deadWindow { dead[j] = true; nDead += 1 }

        // encoder: raw = (x - b_dec) W_enc + b_enc, the one dense product
        let sIn = try Tensor.empty([B, n]), raw = try Tensor.empty([B, m])
        let ps = try sIn.floatPointer(), praw = try raw.floatPointer()
        for b in 0..<B { for i in 0..<n { ps[b * n + i] = px[b * n + i] - (s.applyBDecToInput ? pbd[i] : 0) } }
        try gemm(sIn, wEnc, into: raw)
        for b in 0..<B { for j in 0..<m { praw[b * m + j] += pbe[j] } }

        let main = s.batchTopK ? selectBatch(praw, B, m, norms, total: s.k * B)
                               : selectRows(praw, B, m, norms, k: s.k, allowed: nil)

        // decode from the sparse activations: out_b = b_dec + sum_j relu(pre_bj) / norm_j W_dec_j; r = out - x
        let r = try Tensor.empty([B, n]), pr = try r.floatPointer()
        var mseRows = [Double](repeating: 0, count: B)
        norms.withUnsafeBufferPointer { nb in
            mseRows.withUnsafeMutableBufferPointer { mse in
                parallelRows(B) { b in
                    let row = pr + b * n
                    for i in 0..<n { row[i] = pbd[i] - px[b * n + i] }
                    for e in main.rowStart[b]..<main.rowStart[b + 1] {
                        let j = Int(main.col[e])
                        let a = Swift.max(main.pre[e], 0)
                        if a > 0 { axpy(a / nb[j], pWd + j * n, row, n) }
                    }
                    mse[b] = dot(row, row, n)
                }
            }
        }
        let mse = mseRows.reduce(0, +) / Double(B)

        // TopK's auxiliary loss: the k_aux largest pre-activations of dead latents (no ReLU)
        // reconstruct the residual x - out; e = aux_out + r
        var aux: Entries? = nil
        var auxLoss = 0.0, auxScale: Float = 0
        let e = try Tensor(zeros: [nDead > 0 ? B : 1, n]), pe = try e.floatPointer()
        if nDead > 0 {
            let kAuxFull = n / 2
            auxScale = s.auxCoefficient * Float(Swift.min(Double(nDead) / Double(Swift.max(kAuxFull, 1)), 1.0))
            let kAux = Swift.min(kAuxFull, nDead)
            if kAux > 0 {
                let a = selectRows(praw, B, m, norms, k: kAux, allowed: dead)
                var rows = [Double](repeating: 0, count: B)
                norms.withUnsafeBufferPointer { nb in
                    rows.withUnsafeMutableBufferPointer { rb in
                        parallelRows(B) { b in
                            let row = pe + b * n
                            for i in 0..<n { row[i] = pr[b * n + i] }
                            for q in a.rowStart[b]..<a.rowStart[b + 1] {
                                let j = Int(a.col[q])
                                axpy(a.pre[q] / nb[j], pWd + j * n, row, n)
                            }
                            rb[b] = dot(row, row, n)
                        }
                    }
                }
                auxLoss = Double(auxScale) * rows.reduce(0, +) / Double(B)
                aux = a
            }
        }

        // backward, per entry: the gradient of the loss w.r.t. each selected pre-activation (draw
        // is w.r.t. raw) and its share of the decoder-norm gradient; g = 2 r / B, h = 2 c e / B
        let gScale = 2 / Float(B), hScale = 2 * auxScale / Float(B)
        let nMain = main.col.count, nAux = aux?.col.count ?? 0
        var draw = [Float](repeating: 0, count: nMain + nAux), dnorm = [Float](repeating: 0, count: nMain + nAux)
        var decVal = [Float](repeating: 0, count: nMain + nAux)
        norms.withUnsafeBufferPointer { nb in
            draw.withUnsafeMutableBufferPointer { dr in
                dnorm.withUnsafeMutableBufferPointer { dn in
                    decVal.withUnsafeMutableBufferPointer { dv in
                        parallelRows(B) { b in
                            for q in main.rowStart[b]..<main.rowStart[b + 1] {
                                let j = Int(main.col[q]), nj = nb[j]
                                let act = Swift.max(main.pre[q], 0)
                                let ddec = gScale * Float(dot(pr + b * n, pWd + j * n, n))
                                let dpre: Float = main.pre[q] > 0 ? ddec * (1 / nj) : 0
                                dv[q] = act * (1 / nj)
                                dr[q] = dpre * nj
                                dn[q] = -ddec * act / (nj * nj) + dpre * main.raw[q]
                            }
                            if let a = aux {
                                for q in a.rowStart[b]..<a.rowStart[b + 1] {
                                    let j = Int(a.col[q]), nj = nb[j], t = nMain + q
                                    let din = hScale * Float(dot(pe + b * n, pWd + j * n, n))
                                    let dpre = din * (1 / nj)
                                    dv[t] = a.pre[q] * (1 / nj)
                                    dr[t] = dpre * nj
                                    dn[t] = -din * a.pre[q] / (nj * nj) + dpre * a.raw[q]
                                }
                            }
                        }
                    }
                }
            }
        }

        // the entries latent by latent (a counting sort), so each latent's gradient rows are
        // written by one thread: dW_dec_j = sum dec g_b (+ aux h_b) + dnorm_j W_dec_j / norm_j,
        // dW_enc^T_j = sum draw s_b, db_enc_j = sum draw
        var byLatentStart = [Int](repeating: 0, count: m + 1)
        var entryRow = [Int32](repeating: 0, count: nMain + nAux)
        for b in 0..<B {
            for q in main.rowStart[b]..<main.rowStart[b + 1] { byLatentStart[Int(main.col[q]) + 1] += 1; entryRow[q] = Int32(b) }
            if let a = aux {
                for q in a.rowStart[b]..<a.rowStart[b + 1] { byLatentStart[Int(a.col[q]) + 1] += 1; entryRow[nMain + q] = Int32(b) }
            }
        }
        for j in 0..<m { byLatentStart[j + 1] += byLatentStart[j] }
        var fill = byLatentStart
        var byLatent = [Int32](repeating: 0, count: nMain + nAux)
        for q in 0..<nMain { let j = Int(main.col[q]); byLatent[fill[j]] = Int32(q); fill[j] += 1 }
        if let a = aux { for q in 0..<nAux { let j = Int(a.col[q]); byLatent[fill[j]] = Int32(nMain + q); fill[j] += 1 } }

        let gWDec = try Tensor(zeros: [m, n]), gWEncT = try Tensor(zeros: [m, n]), gBEnc = try Tensor(zeros: [m])
        let pgWd = try gWDec.floatPointer(), pgWeT = try gWEncT.floatPointer(), pgbe = try gBEnc.floatPointer()
        var fired = [Bool](repeating: false, count: m)
        norms.withUnsafeBufferPointer { nb in
            fired.withUnsafeMutableBufferPointer { fb in
                parallelRows(m) { j in
                    var dn: Float = 0, dbe: Float = 0
                    for t in byLatentStart[j]..<byLatentStart[j + 1] {
                        let q = Int(byLatent[t]), b = Int(entryRow[q])
                        if q < nMain {
                            if decVal[q] != 0 { axpy(decVal[q] * gScale, pr + b * n, pgWd + j * n, n); fb[j] = true }
                        } else {
                            axpy(decVal[q] * hScale, pe + b * n, pgWd + j * n, n)
                        }
                        if draw[q] != 0 { axpy(draw[q], ps + b * n, pgWeT + j * n, n) }
                        dbe += draw[q]
                        dn += dnorm[q]
                    }
                    if s.rescaleByDecoderNorm && dn != 0 && nb[j] > 0 { axpy(dn / nb[j], pWd + j * n, pgWd + j * n, n) }
                    pgbe[j] = dbe
                }
            }
        }
        let gWEnc = try gWEncT.transpose(0, 1).contiguous()

        // db_dec = sum_b g_b - W_enc db_enc (through x - b_dec)
        let gBDec = try Tensor(zeros: [n]), pgbd = try gBDec.floatPointer()
        for b in 0..<B { axpy(gScale, pr + b * n, pgbd, n) }
        if s.applyBDecToInput {
            for i in 0..<n { pgbd[i] -= Float(dot(pWe + i * m, pgbe, m)) }
        }

        // gradient clipping: scale by max_norm / (norm + 1e-6) when that is below 1
        var sq = 0.0
        for g in [gWEnc, gBEnc, gWDec, gBDec] { let p = try g.floatPointer(); sq += dot(p, p, g.count) }
        let gradNorm = sq.squareRoot()
        if let maxNorm = s.clipGradNorm {
            let coef = Float(maxNorm / (gradNorm + 1e-6))
            if coef < 1 {
                for g in [gWEnc, gBEnc, gWDec, gBDec] {
                    let p = try g.floatPointer()
                    for i in 0..<g.count { p[i] *= coef }
                }
            }
        }

        // statistics and the dead-latent clock (after the step's firing)
        var firing = 0
        var minPos: Float? = nil
        for q in 0..<nMain where main.pre[q] > 0 {
            firing += 1
            minPos = Swift.min(minPos ?? main.pre[q], main.pre[q])
        }
        for j in 0..<m { pSince[j] = fired[j] ? 0 : pSince[j] + 1 }
        return Result(gradWEnc: gWEnc, gradBEnc: gBEnc, gradWDec: gWDec, gradBDec: gBDec, mseLoss: mse, auxLoss: auxLoss,
                      l0: Double(firing) / Double(B), deadBefore: nDead, minPositiveAct: minPos, gradNorm: gradNorm)
    }

    // MARK: selection

    /// The k largest pre-activations (raw * norm) of each row among the allowed latents, with
    /// a min-heap per row; on equal values the lower latent index wins.
    static func selectRows(_ raw: UnsafeMutablePointer<Float>, _ B: Int, _ m: Int, _ norms: [Float], k: Int,
                           allowed: [Bool]?) -> Entries {
        var col = [Int32](repeating: 0, count: B * k), pre = [Float](repeating: 0, count: B * k)
        var rawv = [Float](repeating: 0, count: B * k)
        col.withUnsafeMutableBufferPointer { cb in
            pre.withUnsafeMutableBufferPointer { pb in
                rawv.withUnsafeMutableBufferPointer { rb in
                    norms.withUnsafeBufferPointer { nb in
                        parallelRows(B) { b in
                            let hv = pb.baseAddress! + b * k, hi = cb.baseAddress! + b * k
                            var size = 0
                            let row = raw + b * m
                            for j in 0..<m {
                                if let al = allowed, !al[j] { continue }
                                let v = row[j] * nb[j]
                                if size < k {
                                    hv[size] = v; hi[size] = Int32(j); size += 1
                                    siftUp(hv, hi, size - 1)
                                } else if v > hv[0] {
                                    hv[0] = v; hi[0] = Int32(j)
                                    siftDown(hv, hi, size)
                                }
                            }
                            for q in 0..<k { rb[b * k + q] = row[Int(hi[q])] }
                        }
                    }
                }
            }
        }
        return Entries(rowStart: (0...B).map { $0 * k }, col: col, pre: pre, raw: rawv)
    }

    /// min-heap order: smaller value first; on a tie the higher index is nearer the top (it is
    /// evicted first, so the lower index stays selected).
    @inline(__always) static func less(_ v: UnsafeMutablePointer<Float>, _ i: UnsafeMutablePointer<Int32>, _ a: Int, _ b: Int) -> Bool {
        v[a] < v[b] || (v[a] == v[b] && i[a] > i[b])
    }

    static func siftUp(_ v: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>, _ start: Int) {
        var c = start
        while c > 0 {
            let p = (c - 1) / 2
            if less(v, idx, c, p) { v.swapAt(c, p, idx); c = p } else { return }
        }
    }

    static func siftDown(_ v: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int32>, _ size: Int) {
        var p = 0
        while true {
            let l = 2 * p + 1, r = l + 1
            var s = p
            if l < size && less(v, idx, l, s) { s = l }
            if r < size && less(v, idx, r, s) { s = r }
            if s == p { return }
            v.swapAt(p, s, idx); p = s
        }
    }

    /// BatchTopK: the `total` largest ReLU'd pre-activations over the whole batch. Only positive
    /// values matter (a selected zero contributes nothing); the threshold is found by a binary
    /// search on the bit patterns of the positive floats (ordered like their values).
    static func selectBatch(_ raw: UnsafeMutablePointer<Float>, _ B: Int, _ m: Int, _ norms: [Float], total: Int) -> Entries {
        var bits = [UInt32]()
        bits.reserveCapacity(B * m / 2)
        for b in 0..<B {
            for j in 0..<m {
                let v = raw[b * m + j] * norms[j]
                if v > 0 { bits.append(v.bitPattern) }
            }
        }
        // without more positive values than `total`, every positive value is taken
        var threshold: UInt32 = 0, atThreshold = 0
        if bits.count > total {
            // the largest T with count(bits >= T) >= total; values above T are taken, and
            // values equal to T (in order) until `total`
            var lo: UInt32 = 1, hi: UInt32 = 0x7F80_0001
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2
                var c = 0
                for v in bits where v >= mid { c += 1 }
                if c >= total { lo = mid } else { hi = mid }
            }
            var above = 0
            for v in bits where v > lo { above += 1 }
            threshold = lo; atThreshold = total - above
        }
        var rowStart = [Int](repeating: 0, count: B + 1)
        var col = [Int32](), pre = [Float](), rawv = [Float]()
        for b in 0..<B {
            for j in 0..<m {
                let v = raw[b * m + j] * norms[j]
                guard v > 0 else { continue }
                let vb = v.bitPattern
                var take = threshold == 0 || vb > threshold
                if !take && vb == threshold && atThreshold > 0 { take = true; atThreshold -= 1 }
                if take { col.append(Int32(j)); pre.append(v); rawv.append(raw[b * m + j]) }
            }
            rowStart[b + 1] = col.count
        }
        return Entries(rowStart: rowStart, col: col, pre: pre, raw: rawv)
    }

    // MARK: small vector kernels

    /// Runs body over 0..<n in chunks on the cores.
    static func parallelRows(_ n: Int, _ body: (Int) -> Void) {
        let chunk = Swift.max(1, (n + 63) / 64)
        ParallelFor.run((n + chunk - 1) / chunk) { c in
            for i in (c * chunk)..<Swift.min(n, (c + 1) * chunk) { body(i) }
        }
    }

    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
        typealias V = SIMD16<Float>
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc += V(UnsafeBufferPointer(start: a + i, count: 16)) * V(UnsafeBufferPointer(start: b + i, count: 16))
            i += 16
        }
        var sum = Double(acc.sum())
        while i < n { sum += Double(a[i] * b[i]); i += 1 }
        return sum
    }

    @inline(__always) static func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ n: Int) -> Double {
        dot(UnsafePointer(a), UnsafePointer(b), n)
    }

    /// y += alpha x
    @inline(__always) static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        typealias V = SIMD16<Float>
        var i = 0
        while i + 16 <= n {
            let r = V(UnsafeBufferPointer(start: y + i, count: 16)) + alpha * V(UnsafeBufferPointer(start: x + i, count: 16))
            for t in 0..<16 { y[i + t] = r[t] }
            i += 16
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    @inline(__always) static func axpy(_ alpha: Float, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        axpy(alpha, UnsafePointer(x), y, n)
    }
}

private extension UnsafeMutablePointer where Pointee == Float {
    /// Swaps entries a and b here and in the parallel index array.
    func swapAt(_ a: Int, _ b: Int, _ idx: UnsafeMutablePointer<Int32>) {
        let t = self[a]; self[a] = self[b]; self[b] = t
        let u = idx[a]; idx[a] = idx[b]; idx[b] = u
    }
}
