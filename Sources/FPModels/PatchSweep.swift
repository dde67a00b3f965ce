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
        /// First position that differs from the corrupted run (P: none does).
        let first: Int
        /// The cell's activation rows first..<P, [P - first, width].
        let rows: Tensor?
    }

    public let model: Transformer
    public let positionsCount: Int
    /// The positions whose logits are returned (absolute, in the order asked).
    public let logitPositions: [Int]
    /// The corrupted run's logits at those positions, [1, npos, d_vocab].
    public let corruptedLogits: Tensor
    let kv: KVCache
    /// The corrupted run's activations that cells are compared with and filled from.
    var reference: [String: Tensor] = [:]
    var cells: [Cell] = []

    /// Runs the corrupted tokens [1, pos] once, keeping its keys, values, residual streams and
    /// hook_z outputs.
    public init(model: Transformer, tokens: Tensor, logitPositions: [Int]?) throws {
        guard tokens.rank == 2, tokens.shape[0] == 1, tokens.dtype == .int64 else {
            throw TensorError("patch sweep: tokens must be an int tensor [1, pos], got \(tokens.dtype.rawValue) \(tokens.shape)")
        }
        let P = tokens.shape[1]
        self.model = model
        positionsCount = P
        self.logitPositions = try (logitPositions ?? Array(0..<P)).map { p in
            let q = p < 0 ? p + P : p
            guard q >= 0 && q < P else { throw TensorError("patch sweep: logit position \(p) is out of range for \(P) positions") }
            return q
        }
        kv = try KVCache(cfg: model.cfg, batch: 1, capacity: P)
        let capture = ReferenceCapture(model.hookNames, layers: model.cfg.nLayers)
        var opts = Transformer.Options()
        opts.kvCache = kv
        opts.logitPositions = self.logitPositions
        corruptedLogits = try model.forward(tokens, options: opts, hooks: capture)
        reference = capture.kept
    }

    /// The corrupted run's activation at a stage, [P, width] (pre at n_layers = the final residual).
    public func referenceActivation(layer: Int, stage: Stage) throws -> Tensor {
        let t = try referenceRows(layer: layer, stage: stage)
        return stage == .z ? try t.view([positionsCount, model.cfg.nHeads, model.cfg.dHead]) : t
    }

    /// The same as [P, width] rows.
    func referenceRows(layer: Int, stage: Stage) throws -> Tensor {
        guard let t = reference[Self.key(layer, stage)] else {
            throw TensorError("patch sweep: no \(stage.rawValue) activation at layer \(layer) (layers 0..\(model.cfg.nLayers - 1)\(stage == .pre ? ", or \(model.cfg.nLayers) for the final residual" : ""))")
        }
        return t
    }

    static func key(_ layer: Int, _ stage: Stage) -> String { "\(stage.rawValue).\(layer)" }

    /// Adds a cell: `act` is the whole patched activation at (layer, stage), [P, d_model] for
    /// pre/mid or [P, n_heads, d_head] for z (a leading batch dim of 1 is allowed). Returns
    /// the cell's index in the next `run()`'s output.
    @discardableResult
    public func add(layer: Int, stage: Stage, _ act: Tensor) throws -> Int {
        let ref = try referenceRows(layer: layer, stage: stage)
        let P = positionsCount, width = ref.shape[1]
        guard act.dtype == .float32, act.count == P * width,
              act.shape.last == (stage == .z ? model.cfg.dHead : width) else {
            let want = stage == .z ? "[\(P), \(model.cfg.nHeads), \(model.cfg.dHead)]" : "[\(P), \(width)]"
            throw TensorError("patch sweep: a \(stage.rawValue) activation must be \(want), got \(act.dtype.rawValue) \(act.shape)")
        }
        let a = try act.contiguous().view([P, width])
        // Bitwise comparison: rows equal to the corrupted run's are skipped exactly.
        let pa = try a.floatPointer(), pr = try ref.floatPointer()
        var first = P
        for r in 0..<P where memcmp(pa + r * width, pr + r * width, width * MemoryLayout<Float>.size) != 0 {
            first = r
            break
        }
        let rows = first < P ? try a.slice(0, first, P).clone() : nil
        cells.append(Cell(layer: layer, stage: stage, first: first, rows: rows))
        return cells.count - 1
    }

    public var pendingCells: Int { cells.count }
    /// Rows the queued cells will compute (their positions from the first difference on).
    public var pendingRows: Int { cells.reduce(0) { $0 + positionsCount - $1.first } }

    /// Runs every added cell and forgets them. Returns logits [cells, npos, d_vocab] at
    /// `logitPositions` (positions before a cell's first difference get the corrupted logits).
    public func run() throws -> Tensor {
        let cfg = model.cfg, L = cfg.nLayers, d = cfg.dModel, P = positionsCount
        let npos = logitPositions.count, V = cfg.dVocab
        let all = cells
        cells = []
        let out = try Tensor.empty([all.count, npos, V])
        for c in 0..<all.count { try out.select(0, c).copyFrom(try corruptedLogits.select(0, 0)) }
        // Active cells in X's row order: (cell index, first row in X, positions of its rows).
        var active: [(cell: Int, offset: Int, positions: [Int])] = []
        var x: Tensor? = nil
        func join(_ stage: Stage, _ layer: Int, rowsFor: (Int, Cell) throws -> Tensor) throws {
            var parts: [Tensor] = []
            var rowCount = x?.shape[0] ?? 0
            for (i, c) in all.enumerated() where c.layer == layer && c.stage == stage && c.first < P {
                let r = try rowsFor(i, c)
                parts.append(r)
                active.append((i, rowCount, Array(c.first..<P)))
                rowCount += r.shape[0]
            }
            guard !parts.isEmpty else { return }
            x = try Tensor.cat((x.map { [$0] } ?? []) + parts, dim: 0)
        }
        let firstLayer = all.map(\.layer).min() ?? L
        for l in firstLayer..<L {
            let w = model.weights.blocks[l]
            try join(.pre, l) { _, c in c.rows! }
            var z: Tensor? = nil
            if let xin = x {
                z = try attention(l, xin, active)
            }
            // z cells: their heads' outputs join here; their residual is the corrupted one.
            let zCells = all.enumerated().filter { $0.element.layer == l && $0.element.stage == .z && $0.element.first < P }
            if !zCells.isEmpty {
                let refPre = try referenceRows(layer: l, stage: .pre)
                let zs = try zCells.map { $0.element.rows! }
                z = try Tensor.cat((z.map { [$0] } ?? []) + zs, dim: 0)
                try join(.z, l) { _, c in try refPre.slice(0, c.first, P) }
            }
            if let zz = z, var xx = x {
                var rowsZ = zz
                if l == L - 1 {
                    // Only the rows whose logits are read go on past attention.
                    let keep = lastLayerRows(&active)
                    rowsZ = try zz.indexSelect(0, try Tensor(ints: keep, shape: [keep.count]))
                    xx = try xx.indexSelect(0, try Tensor(ints: keep, shape: [keep.count]))
                }
                let o = try Tensor.empty([rowsZ.shape[0], d])
                try gemm(rowsZ, w.wO, into: o)
                if let b = w.bO { try Kernels.addBias(o, b) }
                x = try Tensor.binary(.add, xx, o)
            }
            try join(.mid, l) { _, c in
                guard l == L - 1 else { return c.rows! }
                let keep = logitPositions.filter { $0 >= c.first }.map { $0 - c.first }
                return try c.rows!.indexSelect(0, try Tensor(ints: keep, shape: [keep.count]))
            }
            if l == L - 1 {
                // mid cells joined with only their logit rows
                for k in active.indices where all[active[k].cell].layer == l && all[active[k].cell].stage == .mid {
                    active[k].positions = logitPositions.filter { $0 >= all[active[k].cell].first }
                }
                try recomputeOffsets(&active)
            }
            if let xx = x {
                let n = xx.shape[0]
                let x2 = try model.norm(xx.view([1, n, d]), w: w.ln2W, b: w.ln2B, scaleHook: "", normalizedHook: "", layer: l, hooks: nil)
                let m = try model.mlp(l, x2.view([n, d]), B: 1, P: n, hooks: nil)
                x = try Tensor.binary(.add, xx, m.view([n, d]))
            }
        }
        try join(.pre, L) { _, c in c.rows! }
        guard let xf = x else { return out }
        // Unembed the rows at the requested positions and scatter them into the output.
        var rowIndex: [Int] = [], target: [(cell: Int, pos: Int)] = []
        for a in active {
            for (j, q) in logitPositions.enumerated() {
                if let k = a.positions.firstIndex(of: q) { rowIndex.append(a.offset + k); target.append((a.cell, j)) }
            }
        }
        guard !rowIndex.isEmpty else { return out }
        let rows = try xf.indexSelect(0, try Tensor(ints: rowIndex, shape: [rowIndex.count]))
        let logits = try model.unembed(rows.view([1, rowIndex.count, d]), B: 1, P: rowIndex.count, positions: nil, hooks: nil)
        let lv = try logits.view([rowIndex.count, V])
        for (r, t) in target.enumerated() {
            try out.select(0, t.cell).select(0, t.pos).copyFrom(try lv.select(0, r))
        }
        return out
    }

    /// In the last layer: keep each active cell's rows at logit positions; returns their row
    /// indices in X and updates the bookkeeping to the shrunk X.
    func lastLayerRows(_ active: inout [(cell: Int, offset: Int, positions: [Int])]) -> [Int] {
        var keep: [Int] = []
        for k in active.indices {
            let a = active[k]
            var kept: [Int] = []
            for (j, q) in a.positions.enumerated() where logitPositions.contains(q) {
                keep.append(a.offset + j)
                kept.append(q)
            }
            active[k].positions = kept
        }
        try? recomputeOffsets(&active)
        return keep
    }

    func recomputeOffsets(_ active: inout [(cell: Int, offset: Int, positions: [Int])]) throws {
        var o = 0
        for k in active.indices { active[k].offset = o; o += active[k].positions.count }
    }

    /// Causal self-attention of layer l for the packed rows x [R, d]; each active cell's rows
    /// (positions first..<P) attend to the corrupted run's keys/values before `first` and to
    /// their own. Returns the heads' outputs z [R, n_heads * d_head].
    func attention(_ l: Int, _ x: Tensor, _ active: [(cell: Int, offset: Int, positions: [Int])]) throws -> Tensor {
        let cfg = model.cfg, w = model.weights.blocks[l]
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, W = cfg.qkvWidth, P = positionsCount, d = cfg.dModel
        let R = x.shape[0], group = nH / nKV, kvw = nKV * dh
        let x1 = try model.norm(x.view([1, R, d]), w: w.ln1W, b: w.ln1B, scaleHook: "", normalizedHook: "", layer: l, hooks: nil)
        let qkv = try Tensor.empty([R, W])
        try gemm(x1.view([R, d]), w.wQKV, into: qkv)
        if let b = w.bQKV { try Kernels.addBias(qkv, b) }
        if let cosT = model.ropeCos, let sinT = model.ropeSin {
            var pos = [Int32](repeating: 0, count: R)
            for a in active { for (j, q) in a.positions.enumerated() { pos[a.offset + j] = Int32(q) } }
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
        for a in active {
            let first = a.positions[0], n = a.positions.count
            // keys/values: the corrupted run's rows before `first`, then the cell's own
            if first > 0 {
                pk.update(from: ck, count: first * kvw)
                pv.update(from: cv, count: first * kvw)
            }
            for j in 0..<n {
                let src = pq + (a.offset + j) * W
                (pk + (first + j) * kvw).update(from: src + nH * dh, count: kvw)
                (pv + (first + j) * kvw).update(from: src + (nH + nKV) * dh, count: kvw)
            }
            let sc = Tensor(storage: scores.storage, shape: [n, P], strides: [P, 1], offset: scores.offset)
            for h in 0..<nH {
                let g = h / group
                let q = Tensor(storage: qkv.storage, shape: [n, dh], strides: [W, 1], offset: qkv.offset + a.offset * W + h * dh)
                let kT = Tensor(storage: keys.storage, shape: [dh, P], strides: [1, kvw], offset: keys.offset + g * dh)
                try gemm(q, kT, into: sc, alpha: alpha)
                // causal: the row at position first + j sees keys 0...first + j
                for j in 0..<n {
                    let row = ps + j * P, visible = first + j + 1
                    softmaxRow(row, row, visible, log: false)
                    if visible < P { (row + visible).update(repeating: 0, count: P - visible) }
                }
                let v = Tensor(storage: vals.storage, shape: [P, dh], strides: [kvw, 1], offset: vals.offset + g * dh)
                let zv = Tensor(storage: z.storage, shape: [n, dh], strides: [nH * dh, 1], offset: z.offset + a.offset * nH * dh + h * dh)
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
        let width = act.count / act.shape[1]
        kept[key] = try act.contiguous().clone().view([act.shape[1], width])
        return nil
    }
}
