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
    /// Join stages: pre, mid (sequential blocks only) and z. attn_out and mlp_out are the
    /// corrupted run's block outputs, kept for parallel blocks' residual arithmetic only.
    public enum Stage: String { case pre, mid, z, attnOut = "attn_out", mlpOut = "mlp_out" }

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
    /// The block's residual arithmetic (which point is the sum of which).
    let decomposition: ResidualDecomposition
    /// The corrupted run's activations that cells are compared with and filled from, [batch, P, width].
    var reference: [String: Tensor] = [:]
    var cells: [Cell] = []

    /// Runs the corrupted tokens [batch, pos] once (no padding: every item has pos tokens),
    /// keeping its keys, values, residual streams and hook_z outputs.
    public init(model: Transformer, tokens: Tensor, logitPositions: [Int]?) throws {
        if let why = Self.unsupported(model.cfg) { throw Unsupported(reason: why) }
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
        self.logitPositions = try ForwardPlan.resolve(logitPositions ?? Array(0..<P), P, "patch sweep: logit position")
        logitRows = Array(Set(self.logitPositions)).sorted()
        kv = try KVCache(cfg: model.cfg, batch: batch, capacity: P)
        decomposition = try ResidualDecomposition(model)
        let capture = ReferenceCapture(model.hookNames, layers: model.cfg.nLayers, outputs: !decomposition.outputBases.isEmpty)
        var opts = Transformer.Options()
        opts.kvCache = kv
        opts.logitPositions = self.logitPositions
        corruptedLogits = try model.forward(tokens, options: opts, hooks: capture)
        reference = capture.kept
    }

    /// Why the engine cannot run this model's block (nil: it can); callers fall back to hooked
    /// runs (fp.patching does). The packed executor runs every BlockShape the block implements;
    /// a new variant whose join points or residual decomposition differ must be refused here
    /// until `entry` and the packed executor describe it.
    public static func unsupported(_ cfg: ModelConfig) -> String? {
        nil
    }

    /// The engine cannot run this model: a value for Lua (`nil, reason`), not an error.
    public struct Unsupported: Error { public let reason: String }

    /// Where a patch of a block's hook point enters the engine, from the block's residual
    /// decomposition (ResidualDecomposition, read from the block definition): a join point
    /// (resid_pre, resid_mid, z; resid_post is the next block's resid_pre) is replaced by the
    /// patch itself (bases empty); a term of a sum (attn_out, mlp_out) enters at the first join
    /// point that sums it, as the corrupted activations `bases` (the sum's other terms, in the
    /// block's order) plus the patch.
    public func entry(_ point: String, layer: Int) throws -> (layer: Int, stage: Stage, bases: [(layer: Int, stage: Stage)]) {
        guard layer >= 0 && layer < model.cfg.nLayers else {
            throw TensorError("patch sweep: layer \(layer) is out of range (0..\(model.cfg.nLayers - 1))")
        }
        if point == "z" { return (layer, .z, []) }
        guard ResidualDecomposition.residualPoints.contains(point) else {
            throw TensorError("patch sweep: no entry for hook point '\(point)' (resid_pre, resid_mid, resid_post, attn_out, mlp_out, z)")
        }
        guard decomposition.points.contains(point) else {
            throw TensorError("patch sweep: this model's block has no \(point) (\(model.cfg.block.residual.rawValue) block)")
        }
        /// The join point or reference a residual point is at.
        func stage(_ p: String) throws -> (layer: Int, stage: Stage) {
            switch p {
            case "resid_pre": return (layer, .pre)
            case "resid_mid": return (layer, .mid)
            case "resid_post": return (layer + 1, .pre)
            case "attn_out": return (layer, .attnOut)
            case "mlp_out": return (layer, .mlpOut)
            default: throw TensorError("patch sweep: internal error (residual point \(p))")
            }
        }
        if point.hasPrefix("resid_") { let s = try stage(point); return (s.layer, s.stage, []) }
        guard let sum = decomposition.sums.first(where: { $0.terms.contains(point) }) else {
            throw TensorError("patch sweep: internal error (\(point) is added to no residual point)")
        }
        let at = try stage(sum.point)
        return (at.layer, at.stage, try sum.terms.filter { $0 != point }.map(stage))
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
        guard stage == .pre || stage == .mid || stage == .z else {
            throw TensorError("patch sweep: cells join at \"pre\", \"mid\" or \"z\", not \"\(stage.rawValue)\"")
        }
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
    /// The block definition runs on the packed executor from the first cell's layer on.
    public func run() throws -> Tensor {
        let L = model.cfg.nLayers, npos = logitPositions.count, V = model.cfg.dVocab
        let all = cells
        cells = []
        let out = try Tensor.empty([all.count, batch, npos, V])
        for c in 0..<all.count { try out.select(0, c).copyFrom(corruptedLogits) }
        let e = PackedExecutor(sweep: self, cells: all)
        var x = PackedExecutor.Rows(t: nil, layout: 0)
        for l in (all.map(\.layer).min() ?? L)..<L {
            try Limits.checkCancel()   // Ctrl-C / --timeout stop a long sweep between layers
            x = try model.block(e, l, x)
        }
        x = try e.join(L, .pre, x, residual: .pre)
        guard let xf = try e.current(x) else { return out }
        // Unembed the rows at the requested positions and scatter them into the output.
        var rowIndex: [Int] = [], target: [(cell: Int, item: Int, pos: Int)] = []
        for s in e.segments {
            for (j, q) in logitPositions.enumerated() {
                if let k = s.positions.firstIndex(of: q) { rowIndex.append(s.offset + k); target.append((s.cell, s.item, j)) }
            }
        }
        // A chunk of rows at a time: the pass holds its output and one chunk's logits, not a
        // second copy of every cell's full-vocabulary logits (the unembedding is row by row).
        var start = 0
        while start < rowIndex.count {
            let end = min(rowIndex.count, start + 64)
            let rows = try xf.indexSelect(0, try Tensor(ints: Array(rowIndex[start..<end]), shape: [end - start]))
            guard let logits = try model.unembedding(e, PackedExecutor.Rows(t: rows, layout: e.layout), positions: nil).t else { return out }
            for r in start..<end {
                let t = target[r]
                try out.select(0, t.cell).select(0, t.item).select(0, t.pos).copyFrom(try logits.select(0, r - start))
            }
            start = end
        }
        return out
    }
}

/// Keeps the corrupted run's residual streams and heads' outputs during its forward pass.
final class ReferenceCapture: HookDispatcher {
    var kept: [String: Tensor] = [:]
    let wanted: [String: String]

    init(_ names: [LayerHookNames], layers: Int, outputs: Bool) {
        var w: [String: String] = [:]
        for (l, n) in names.enumerated() {
            w[n.residPre] = PatchSweep.key(l, .pre)
            w[n.residMid] = PatchSweep.key(l, .mid)
            w[n.z] = PatchSweep.key(l, .z)
            if outputs {
                w[n.attnOut] = PatchSweep.key(l, .attnOut)
                w[n.mlpOut] = PatchSweep.key(l, .mlpOut)
            }
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
