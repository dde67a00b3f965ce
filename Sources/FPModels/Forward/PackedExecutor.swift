import FPTensor
import Foundation

/// The block's operations on packed rows: the rows of many patched copies of one prompt (the
/// patch-sweep engine's cells), stacked into one matrix so that each layer's products are
/// shared. A cell joins at its own hook point (its stage) with only the positions from its
/// first difference on; earlier positions' keys and values are the corrupted run's. Hooks are
/// the join points: `hook_resid_pre`, `hook_resid_mid` and `attn.hook_z` of the block definition.
///
/// A join changes the row layout. A value made before it (the residual stream that is added
/// to after hook_z) is brought to the current layout by replaying the changes: the joined
/// cells' rows of that value are the corrupted run's residual stream at the joined stage.
final class PackedExecutor: BlockOps {
    /// Packed rows [R, width] in layout `layout`; nil until a cell has joined.
    struct Rows {
        var t: Tensor?
        var layout: Int
    }

    /// A change of the row layout: cells appended (their residual rows come from the corrupted
    /// run at `residual`), or only some rows kept.
    enum Change {
        case append(layer: Int, residual: PatchSweep.Stage, rows: [(item: Int, positions: [Int])])
        case keep([Int])
    }

    /// Rows of one batch item of one cell in the packed activations.
    struct Segment {
        let cell: Int
        let item: Int
        var offset: Int
        var positions: [Int]
    }

    let sweep: PatchSweep
    let cells: [PatchSweep.Cell]
    var model: Transformer { sweep.model }
    var cfg: ModelConfig { sweep.model.cfg }
    private(set) var segments: [Segment] = []
    private var changes: [Change] = []
    /// The join point of each hook name: (layer, stage).
    private let joins: [String: (Int, PatchSweep.Stage)]

    init(sweep: PatchSweep, cells: [PatchSweep.Cell]) {
        self.sweep = sweep
        self.cells = cells
        var j: [String: (Int, PatchSweep.Stage)] = [:]
        for (l, n) in sweep.model.hookNames.enumerated() {
            j[n.residPre] = (l, .pre); j[n.residMid] = (l, .mid); j[n.z] = (l, .z)
        }
        joins = j
    }

    var layout: Int { changes.count }
    var rowCount: Int { segments.reduce(0) { $0 + $1.positions.count } }

    /// `x` in the current layout.
    func current(_ x: Rows) throws -> Tensor? {
        var t = x.t
        for change in changes[x.layout...] {
            switch change {
            case .append(let layer, let stage, let rows):
                let ref = try sweep.referenceRows(layer: layer, stage: stage)
                let parts = try rows.map { r in try ref.select(0, r.item).indexSelect(0, try Tensor(ints: r.positions, shape: [r.positions.count])) }
                if let tt = t, tt.shape[1] != ref.shape[2] {
                    throw TensorError("patch sweep: internal error (a value of width \(tt.shape[1]) crosses a join)")
                }
                t = parts.isEmpty ? t : try Tensor.cat((t.map { [$0] } ?? []) + parts, dim: 0)
            case .keep(let rows):
                t = try t.map { try $0.indexSelect(0, try Tensor(ints: rows, shape: [rows.count])) }
            }
        }
        return t
    }

    /// Appends the cells that join at (layer, stage) to `x`; rowsFor gives item b's rows.
    func join(_ layer: Int, _ stage: PatchSweep.Stage, _ x: Rows, residual: PatchSweep.Stage) throws -> Rows {
        let P = sweep.positionsCount, last = layer == cfg.nLayers - 1
        var parts: [Tensor] = [], appended: [(item: Int, positions: [Int])] = []
        var offset = rowCount
        for (i, c) in cells.enumerated() where c.layer == layer && c.stage == stage && c.first < P {
            // in the last layer, mid cells join with their logit rows only
            let positions = stage == .mid && last ? sweep.logitRows.filter { $0 >= c.first } : Array(c.first..<P)
            for b in 0..<sweep.batch {
                var r = try c.rows(item: b)
                if positions.count != P - c.first {
                    r = try r.indexSelect(0, try Tensor(ints: positions.map { $0 - c.first }, shape: [positions.count]))
                }
                parts.append(r)
                segments.append(Segment(cell: i, item: b, offset: offset, positions: positions))
                appended.append((b, positions))
                offset += positions.count
            }
        }
        guard !parts.isEmpty else { return x }
        let t = try current(x)
        changes.append(.append(layer: layer, residual: residual, rows: appended))
        return Rows(t: try Tensor.cat((t.map { [$0] } ?? []) + parts, dim: 0), layout: layout)
    }

    /// Keeps only each segment's rows at logit positions (past the last attention nothing
    /// else is read).
    func keepLogitRows(_ x: Rows) throws -> Rows {
        var keep: [Int] = [], offset = 0
        for k in segments.indices {
            let s = segments[k]
            var kept: [Int] = []
            for (j, q) in s.positions.enumerated() where sweep.logitRows.contains(q) {
                keep.append(s.offset + j)
                kept.append(q)
            }
            segments[k].positions = kept
            segments[k].offset = offset
            offset += kept.count
        }
        let t = try current(x)
        changes.append(.keep(keep))
        return Rows(t: try t.map { try $0.indexSelect(0, try Tensor(ints: keep, shape: [keep.count])) }, layout: layout)
    }

    // MARK: operations

    func hook(_ name: String, _ layer: Int?, _ x: Rows) throws -> Rows {
        guard let (l, stage) = joins[name] else { return x }
        switch stage {
        case .pre, .mid: return try join(l, stage, x, residual: stage)
        case .z:
            // z cells' residual stream is the corrupted one before the block
            let joined = try join(l, .z, x, residual: .pre)
            return l == cfg.nLayers - 1 && joined.t != nil ? try keepLogitRows(joined) : joined
        case .attnOut, .mlpOut: return x   // not join points
        }
    }

    func embed(_ table: Tensor) throws -> Rows { throw TensorError("patch sweep: internal error (the engine does not embed)") }
    func positionEmbed(_ table: Tensor) throws -> Rows { try embed(table) }

    func norm(_ x: Rows, _ kind: BlockShape.Normalization, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> Rows {
        guard let t = try current(x) else { return Rows(t: nil, layout: layout) }
        let (normalized, _) = try RowKernels.normalize(t, eps: Float(cfg.normEps), centered: kind == .layerNorm)
        let out = try Tensor.empty(t.shape)
        try RowKernels.affine(normalized, w, b, into: out)
        return Rows(t: out, layout: layout)
    }

    func linear(_ x: Rows, _ w: Tensor, _ b: Tensor?) throws -> Rows {
        guard let t = try current(x) else { return Rows(t: nil, layout: layout) }
        let out = try Tensor.empty([t.shape[0], w.shape[1]])
        // no blocked copies for a sweep's few-row passes: they are a small part of its time
        // (level in scripts/bench/patching_memory) and the copies would add to its peak memory
        try gemm(t.contiguous().view([t.shape[0], w.shape[0]]), weight: w, into: out, precision: model.matmulPrecision)
        if let b { try RowKernels.addBias(out, b) }
        return Rows(t: out, layout: layout)
    }

    func splitHeads(_ qkv: Rows) throws -> (q: Rows, k: Rows, v: Rows) {
        guard let t = try current(qkv) else { return (qkv, qkv, qkv) }
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, R = t.shape[0]
        return (Rows(t: try t.slice(1, 0, nH * dh).view([R, nH, dh]), layout: layout),
                Rows(t: try t.slice(1, nH * dh, (nH + nKV) * dh).view([R, nKV, dh]), layout: layout),
                Rows(t: try t.slice(1, (nH + nKV) * dh, cfg.qkvWidth).view([R, nKV, dh]), layout: layout))
    }

    func reshapeHeads(_ x: Rows, heads: Int?) throws -> Rows {
        guard let t = try current(x) else { return x }
        let R = t.shape[0], d = t.shape[t.rank - 1]
        let shape = heads.map { [R, $0, d / Swift.max($0, 1)] } ?? [R, d * t.shape[1]]
        return Rows(t: try t.contiguous().view(shape), layout: layout)
    }

    func rotary(_ x: Rows, _ layer: Int) throws -> Rows {
        guard let t = try current(x), let (cosT, sinT) = try model.ropeTables(layer, positions: [Int32(sweep.positionsCount - 1)]) else { return x }
        let R = t.shape[0]
        var pos = [Int32](repeating: 0, count: R)
        for s in segments { for (j, q) in s.positions.enumerated() { pos[s.offset + j] = Int32(q) } }
        let r = try RowKernels.rope(t.view([1, R, t.shape[1], t.shape[2]]), positions: pos, cos: cosT, sin: sinT)
        return Rows(t: try r.view(t.shape), layout: layout)
    }

    /// Each segment's rows (positions first..<P of one batch item) attend to that item's
    /// corrupted keys/values before `first` and to their own (within the layer's window).
    func attention(_ l: Int, q: Rows, k: Rows, v: Rows, _ n: LayerHookNames) throws -> Rows {
        guard let qt = try current(q), let kt = try current(k), let vt = try current(v) else { return Rows(t: nil, layout: layout) }
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, P = sweep.positionsCount
        let R = qt.shape[0], group = nH / nKV, kvw = nKV * dh, qw = nH * dh
        let qc = try qt.contiguous(), kc = try kt.contiguous(), vc = try vt.contiguous()
        let z = try Tensor.empty([R, qw])   // z rows [R, n_heads * d_head], as cells give them
        let keys = try Tensor.empty([P, kvw]), vals = try Tensor.empty([P, kvw]), scores = try Tensor.empty([P, P])
        let pk = try keys.floatPointer(), pv = try vals.floatPointer()
        let sk = try kc.floatPointer(), sv = try vc.floatPointer()
        let ck = try sweep.kv.keys[l].floatPointer(), cv = try sweep.kv.values[l].floatPointer()
        let alpha = RowKernels.attentionScale(cfg), cap = cfg.block.attentionSoftcap.map { Float($0) }
        let window = cfg.block.slidingWindows[l]
        let ps = try scores.floatPointer()
        for s in segments {
            guard let first = s.positions.first else { continue }
            let count = s.positions.count
            // keys/values: the item's corrupted rows before `first`, then the cell's own
            if first > 0 {
                pk.update(from: ck + s.item * P * kvw, count: first * kvw)
                pv.update(from: cv + s.item * P * kvw, count: first * kvw)
            }
            (pk + first * kvw).update(from: sk + s.offset * kvw, count: count * kvw)
            (pv + first * kvw).update(from: sv + s.offset * kvw, count: count * kvw)
            let sc = Tensor(storage: scores.storage, shape: [count, P], strides: [P, 1], offset: scores.offset)
            for h in 0..<nH {
                let g = h / group
                let qh = Tensor(storage: qc.storage, shape: [count, dh], strides: [qw, 1], offset: qc.offset + s.offset * qw + h * dh)
                let kT = Tensor(storage: keys.storage, shape: [dh, P], strides: [1, kvw], offset: keys.offset + g * dh)
                try gemm(qh, kT, into: sc, alpha: alpha)
                if let cap { try sc.copyFrom(try RowKernels.softcap(sc, cap)) }
                // the row at position q = first + j sees keys lo...q (RowKernels.visible)
                for j in 0..<count {
                    let row = ps + j * P, q = first + j, visible = q + 1
                    var lo = 0
                    while !RowKernels.visible(query: q, key: lo, window: window) { lo += 1 }
                    softmaxRow(row + lo, row + lo, visible - lo, log: false)
                    if lo > 0 { row.update(repeating: 0, count: lo) }
                    if visible < P { (row + visible).update(repeating: 0, count: P - visible) }
                }
                let vh = Tensor(storage: vals.storage, shape: [P, dh], strides: [kvw, 1], offset: vals.offset + g * dh)
                let zh = Tensor(storage: z.storage, shape: [count, dh], strides: [qw, 1], offset: z.offset + s.offset * qw + h * dh)
                try gemm(sc, vh, into: zh)
            }
        }
        return Rows(t: z, layout: layout)
    }

    func projectHeads(_ z: Rows, _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ layer: Int) throws -> Rows {
        guard let t = try current(z) else { return Rows(t: nil, layout: layout) }
        return try linear(Rows(t: try t.contiguous().view([t.shape[0], cfg.nHeads * cfg.dHead]), layout: layout), wO, bO)
    }

    func activation(_ kind: BlockShape.Activation, _ x: Rows) throws -> Rows {
        guard let t = try current(x) else { return Rows(t: nil, layout: layout) }
        return Rows(t: try t.unary(kind.unaryOp), layout: layout)
    }

    func scale(_ x: Rows, _ s: Float) throws -> Rows {
        guard let t = try current(x) else { return x }
        return Rows(t: try Tensor.binary(.mul, t, Tensor.scalar(s)), layout: layout)
    }

    func softcap(_ x: Rows, _ cap: Float) throws -> Rows {
        guard let t = try current(x) else { return x }
        return Rows(t: try RowKernels.softcap(t, cap), layout: layout)
    }

    func mul(_ a: Rows, _ b: Rows) throws -> Rows { try elementwise(.mul, a, b) }
    func add(_ a: Rows, _ b: Rows) throws -> Rows { try elementwise(.add, a, b) }

    private func elementwise(_ op: BinaryOp, _ a: Rows, _ b: Rows) throws -> Rows {
        guard let x = try current(a), let y = try current(b) else { return Rows(t: nil, layout: layout) }
        return Rows(t: try Tensor.binary(op, x, y), layout: layout)
    }

    func selectPositions(_ x: Rows, _ positions: [Int]) throws -> Rows {
        throw TensorError("patch sweep: internal error (the engine selects logit rows itself)")
    }
}
