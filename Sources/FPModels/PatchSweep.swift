import FPTensor
import Foundation

/// Runs many patched copies of one prompt ("cells" of an activation-patching sweep) together.
///
/// A cell is the corrupted run with one activation replaced at one layer: the residual stream
/// before the block (`pre`), between attention and MLP (`mid`) or the heads' outputs (`z`).
/// Two facts keep the work small, and neither changes a number:
/// - Causal attention: rows before the first position where the cell differs from the
///   corrupted run stay equal to it at every later layer, so only the rows from that position
///   on are computed, attending to the corrupted run's cached keys and values for the rows
///   before it.
/// - Layers: every layer before the cell's own is the corrupted run's, so a cell joins at its
///   layer. Cells of all layers run as one wavefront: at each layer every cell that has
///   joined shares the layer's GEMMs (bigger matrices; each weight matrix packed once).
/// In the last layer only the rows whose logits are asked for go past attention.
public final class PatchSweep {
    public enum Stage: String { case pre, mid, z }

    struct Cell {
        let layer: Int
        let stage: Stage
        /// First position that differs from the corrupted run in any batch item (P: none does).
        let first: Int
        /// The cell's activation rows first..<P of every item, [batch, P - first, width].
        let rows: Tensor?

        /// Item b's rows; only cells with first < P are ever asked (they have rows).
        func rows(item b: Int) throws -> Tensor {
            guard let rows else { throw TensorError("patch sweep: internal error (a cell without rows)") }
            return try rows.select(0, b)
        }
    }

    /// Rows of one batch item of one cell in the packed activations.
    struct Segment {
        let cell: Int
        let item: Int
        var offset: Int
        var positions: [Int]
    }

    public let model: Transformer
    public let batch: Int
    public let positionsCount: Int
    /// The positions whose logits are returned (absolute, in the order asked).
    public let logitPositions: [Int]
    /// The same positions sorted, without repeats: the rows kept past the last attention.
    let logitRows: [Int]
    /// The corrupted run's logits at those positions, [batch, npos, d_vocab].
    public let corruptedLogits: Tensor
    let kv: KVCache
    /// The corrupted run's activations that cells are compared with and filled from, [batch, P, width].
    var reference: [String: Tensor] = [:]
    var cells: [Cell] = []

    /// Runs the corrupted tokens [batch, pos] once (no padding: every item has pos tokens),
    /// keeping its keys, values, residual streams and hook_z outputs.
    public init(model: Transformer, tokens: Tensor, logitPositions: [Int]?) throws {
        guard tokens.rank == 2, tokens.dtype == .int64, tokens.shape[0] > 0, tokens.shape[1] > 0 else {
            throw TensorError("patch sweep: tokens must be an int tensor [batch, pos], got \(tokens.dtype.rawValue) \(tokens.shape)")
        }
        let P = tokens.shape[1]
        guard P <= model.cfg.nCtx else {
            throw TensorError("patch sweep: \(P) positions exceed the model's context of \(model.cfg.nCtx)")
        }
        self.model = model
        batch = tokens.shape[0]
        positionsCount = P
        self.logitPositions = try (logitPositions ?? Array(0..<P)).map { p in
            let q = p < 0 ? p + P : p
            guard q >= 0 && q < P else { throw TensorError("patch sweep: logit position \(p) is out of range for \(P) positions") }
            return q
        }
        logitRows = Array(Set(self.logitPositions)).sorted()
        kv = try KVCache(cfg: model.cfg, batch: batch, capacity: P)
        let capture = ReferenceCapture(model.hookNames, layers: model.cfg.nLayers)
        var opts = Transformer.Options()
        opts.kvCache = kv
        opts.logitPositions = self.logitPositions
        corruptedLogits = try model.forward(tokens, options: opts, hooks: capture)
        reference = capture.kept
    }

    /// The corrupted run's activation at a stage: [batch, P, d_model] for pre (at n_layers:
    /// the final residual) and mid, [batch, P, n_heads, d_head] for z.
    public func referenceActivation(layer: Int, stage: Stage) throws -> Tensor {
        let t = try referenceRows(layer: layer, stage: stage)
        return stage == .z ? try t.view([batch, positionsCount, model.cfg.nHeads, model.cfg.dHead]) : t
    }

    /// The same as [batch, P, width].
    func referenceRows(layer: Int, stage: Stage) throws -> Tensor {
        guard let t = reference[Self.key(layer, stage)] else {
            throw TensorError("patch sweep: no \(stage.rawValue) activation at layer \(layer) (layers 0..\(model.cfg.nLayers - 1)\(stage == .pre ? ", or \(model.cfg.nLayers) for the final residual" : ""))")
        }
        return t
    }

    static func key(_ layer: Int, _ stage: Stage) -> String { "\(stage.rawValue).\(layer)" }

    /// Adds a cell: `act` is the whole patched activation at (layer, stage), shaped like
    /// `referenceActivation`. Returns the cell's index in the next `run()`'s output.
    @discardableResult
    public func add(layer: Int, stage: Stage, _ act: Tensor) throws -> Int {
        let ref = try referenceRows(layer: layer, stage: stage)
        let B = batch, P = positionsCount, width = ref.shape[2]
        let want = stage == .z ? [B, P, model.cfg.nHeads, model.cfg.dHead] : [B, P, width]
        guard act.dtype == .float32, act.shape == want else {
            throw TensorError("patch sweep: a \(stage.rawValue) activation must be \(want), got \(act.dtype.rawValue) \(act.shape)")
        }
        let a = try act.contiguous().view([B, P, width])
        // Bitwise comparison: rows equal to the corrupted run's in every item are skipped exactly.
        let pa = try a.floatPointer(), pr = try ref.floatPointer()
        var first = P
        for b in 0..<B {
            for r in 0..<first {
                let o = (b * P + r) * width
                if memcmp(pa + o, pr + o, width * MemoryLayout<Float>.size) != 0 { first = r; break }
            }
        }
        // a cell that changes no position whose logits are read gives the corrupted logits
        if !logitRows.contains(where: { $0 >= first }) { first = P }
        let rows = first < P ? try a.slice(1, first, P).clone() : nil
        cells.append(Cell(layer: layer, stage: stage, first: first, rows: rows))
        return cells.count - 1
    }

    public var pendingCells: Int { cells.count }
    /// Rows the queued cells will compute (their positions from the first difference on).
    public var pendingRows: Int { cells.reduce(0) { $0 + batch * (positionsCount - $1.first) } }

    /// Runs every added cell and forgets them. Returns logits [cells, batch, npos, d_vocab] at
    /// `logitPositions` (positions before a cell's first difference get the corrupted logits).
    public func run() throws -> Tensor {
        let cfg = model.cfg, L = cfg.nLayers, d = cfg.dModel, P = positionsCount, B = batch
        let npos = logitPositions.count, V = cfg.dVocab
        let all = cells
        cells = []
        let out = try Tensor.empty([all.count, B, npos, V])
        for c in 0..<all.count { try out.select(0, c).copyFrom(corruptedLogits) }
        var segments: [Segment] = []
        var x: Tensor? = nil
        var rowCount = 0
        /// Appends the cells joining at (layer, stage): rowsFor gives item b's rows [n, width].
        func join(_ stage: Stage, _ layer: Int, rowsFor: (Cell, Int) throws -> Tensor) throws {
            var parts: [Tensor] = []
            for (i, c) in all.enumerated() where c.layer == layer && c.stage == stage && c.first < P {
                for b in 0..<B {
                    let r = try rowsFor(c, b)
                    parts.append(r)
                    segments.append(Segment(cell: i, item: b, offset: rowCount, positions: Array(c.first..<P)))
                    rowCount += r.shape[0]
                }
            }
            guard !parts.isEmpty else { return }
            x = try Tensor.cat((x.map { [$0] } ?? []) + parts, dim: 0)
        }
        let firstLayer = all.map(\.layer).min() ?? L
        for l in firstLayer..<L {
            try Limits.checkCancel()   // Ctrl-C / --timeout stop a long sweep between layers
            let w = model.weights.blocks[l], last = l == L - 1
            try join(.pre, l) { c, b in try c.rows(item: b) }
            var z: Tensor? = nil
            if let xin = x { z = try attention(l, xin, segments) }
            // z cells: their heads' outputs join here; their residual is the corrupted one.
            let zRows = try all.filter { $0.layer == l && $0.stage == .z && $0.first < P }
                .flatMap { c in try (0..<B).map { try c.rows(item: $0) } }
            if !zRows.isEmpty {
                let refPre = try referenceRows(layer: l, stage: .pre)
                z = try Tensor.cat((z.map { [$0] } ?? []) + zRows, dim: 0)
                try join(.z, l) { c, b in try refPre.select(0, b).slice(0, c.first, P) }
            }
            if let zz = z, var xx = x {
                var zUsed = zz
                if last {
                    // Only the rows whose logits are read go on past the last attention.
                    let rows = keepLogitRows(&segments)
                    let keep = try Tensor(ints: rows, shape: [rows.count])
                    zUsed = try zz.indexSelect(0, keep)
                    xx = try xx.indexSelect(0, keep)
                    rowCount = xx.shape[0]
                }
                let o = try Tensor.empty([zUsed.shape[0], d])
                try gemm(zUsed, w.wO, into: o)
                if let b = w.bO { try Kernels.addBias(o, b) }
                x = try Tensor.binary(.add, xx, o)
            }
            try join(.mid, l) { c, b in
                let rows = try c.rows(item: b)
                guard last else { return rows }
                let keep = logitRows.filter { $0 >= c.first }.map { $0 - c.first }
                return try rows.indexSelect(0, try Tensor(ints: keep, shape: [keep.count]))
            }
            if last { _ = keepLogitRows(&segments) }   // mid cells joined with their logit rows only
            if let xx = x {
                let n = xx.shape[0]
                let x2 = try model.norm(xx.view([1, n, d]), w: w.ln2W, b: w.ln2B, scaleHook: "", normalizedHook: "", layer: l, hooks: nil)
                let m = try model.mlp(l, x2.view([n, d]), B: 1, P: n, hooks: nil)
                x = try Tensor.binary(.add, xx, m.view([n, d]))
            }
        }
        try join(.pre, L) { c, b in try c.rows(item: b) }
        guard let xf = x else { return out }
        // Unembed the rows at the requested positions and scatter them into the output.
        var rowIndex: [Int] = [], target: [(cell: Int, item: Int, pos: Int)] = []
        for s in segments {
            for (j, q) in logitPositions.enumerated() {
                if let k = s.positions.firstIndex(of: q) { rowIndex.append(s.offset + k); target.append((s.cell, s.item, j)) }
            }
        }
        guard !rowIndex.isEmpty else { return out }
        let rows = try xf.indexSelect(0, try Tensor(ints: rowIndex, shape: [rowIndex.count]))
        let logits = try model.unembed(rows.view([1, rowIndex.count, d]), B: 1, P: rowIndex.count, positions: nil, hooks: nil)
        let lv = try logits.view([rowIndex.count, V])
        for (r, t) in target.enumerated() {
            try out.select(0, t.cell).select(0, t.item).select(0, t.pos).copyFrom(try lv.select(0, r))
        }
        return out
    }

    /// Keeps each segment's rows at logit positions: returns their indices in the packed rows
    /// and renumbers the segments for the packed rows that remain.
    func keepLogitRows(_ segments: inout [Segment]) -> [Int] {
        var keep: [Int] = [], offset = 0
        for k in segments.indices {
            let s = segments[k]
            var kept: [Int] = []
            for (j, q) in s.positions.enumerated() where logitRows.contains(q) {
                keep.append(s.offset + j)
                kept.append(q)
            }
            segments[k].positions = kept
            segments[k].offset = offset
            offset += kept.count
        }
        return keep
    }

    /// Causal self-attention of layer l for the packed rows x [R, d]; each segment's rows
    /// (positions first..<P of one batch item) attend to that item's corrupted keys/values
    /// before `first` and to their own. Returns the heads' outputs z [R, n_heads * d_head].
    func attention(_ l: Int, _ x: Tensor, _ segments: [Segment]) throws -> Tensor {
        let cfg = model.cfg, w = model.weights.blocks[l]
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, W = cfg.qkvWidth, P = positionsCount, d = cfg.dModel
        let R = x.shape[0], group = nH / nKV, kvw = nKV * dh
        let x1 = try model.norm(x.view([1, R, d]), w: w.ln1W, b: w.ln1B, scaleHook: "", normalizedHook: "", layer: l, hooks: nil)
        let qkv = try Tensor.empty([R, W])
        try gemm(x1.view([R, d]), w.wQKV, into: qkv)
        if let b = w.bQKV { try Kernels.addBias(qkv, b) }
        if let cosT = model.ropeCos, let sinT = model.ropeSin {
            var pos = [Int32](repeating: 0, count: R)
            for s in segments { for (j, q) in s.positions.enumerated() { pos[s.offset + j] = Int32(q) } }
            let qkv4 = try qkv.view([1, R, W])
            try Kernels.rope(try qkv4.slice(2, 0, nH * dh).view([1, R, nH, dh]), positions: pos, cos: cosT, sin: sinT)
            try Kernels.rope(try qkv4.slice(2, nH * dh, (nH + nKV) * dh).view([1, R, nKV, dh]), positions: pos, cos: cosT, sin: sinT)
        }
        let z = try Tensor.empty([R, nH * dh])
        let keys = try Tensor.empty([P, kvw]), vals = try Tensor.empty([P, kvw]), scores = try Tensor.empty([P, P])
        let pk = try keys.floatPointer(), pv = try vals.floatPointer(), pq = try qkv.floatPointer()
        let ck = try kv.keys[l].floatPointer(), cv = try kv.values[l].floatPointer()
        let alpha = 1 / Float(dh).squareRoot()
        let ps = try scores.floatPointer()
        for s in segments {
            let first = s.positions[0], n = s.positions.count
            // keys/values: the item's corrupted rows before `first`, then the cell's own
            if first > 0 {
                pk.update(from: ck + s.item * P * kvw, count: first * kvw)
                pv.update(from: cv + s.item * P * kvw, count: first * kvw)
            }
            for j in 0..<n {
                let src = pq + (s.offset + j) * W
                (pk + (first + j) * kvw).update(from: src + nH * dh, count: kvw)
                (pv + (first + j) * kvw).update(from: src + (nH + nKV) * dh, count: kvw)
            }
            let sc = Tensor(storage: scores.storage, shape: [n, P], strides: [P, 1], offset: scores.offset)
            for h in 0..<nH {
                let g = h / group
                let q = Tensor(storage: qkv.storage, shape: [n, dh], strides: [W, 1], offset: qkv.offset + s.offset * W + h * dh)
                let kT = Tensor(storage: keys.storage, shape: [dh, P], strides: [1, kvw], offset: keys.offset + g * dh)
                try gemm(q, kT, into: sc, alpha: alpha)
                // causal: the row at position first + j sees keys 0...first + j
                for j in 0..<n {
                    let row = ps + j * P, visible = first + j + 1
                    softmaxRow(row, row, visible, log: false)
                    if visible < P { (row + visible).update(repeating: 0, count: P - visible) }
                }
                let v = Tensor(storage: vals.storage, shape: [P, dh], strides: [kvw, 1], offset: vals.offset + g * dh)
                let zv = Tensor(storage: z.storage, shape: [n, dh], strides: [nH * dh, 1], offset: z.offset + s.offset * nH * dh + h * dh)
                try gemm(sc, v, into: zv)
            }
        }
        return z
    }
}

/// Keeps the corrupted run's residual streams and heads' outputs during its forward pass.
final class ReferenceCapture: HookDispatcher {
    var kept: [String: Tensor] = [:]
    let wanted: [String: String]

    init(_ names: [LayerHookNames], layers: Int) {
        var w: [String: String] = [:]
        for (l, n) in names.enumerated() {
            w[n.residPre] = PatchSweep.key(l, .pre)
            w[n.residMid] = PatchSweep.key(l, .mid)
            w[n.z] = PatchSweep.key(l, .z)
        }
        if let last = names.last { w[last.residPost] = PatchSweep.key(layers, .pre) }
        wanted = w
    }

    func wants(_ name: String) -> Bool { wanted[name] != nil }

    func fire(_ name: String, layer: Int?, _ act: Tensor) throws -> Tensor? {
        guard let key = wanted[name] else { return nil }
        let B = act.shape[0], P = act.shape[1]
        kept[key] = try act.contiguous().clone().view([B, P, act.count / (B * P)])
        return nil
    }
}
