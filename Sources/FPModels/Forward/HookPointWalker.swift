import FPTensor

/// The block's operations on shapes only: walking the block definition lists every hook point
/// a model has, with its layer and shape, so that names never drift from the computation
/// (`model:hook_points()`, names_filter, `fp info`, the taped executor's start).
struct HookPointWalker: BlockOps {
    typealias Value = [Int]
    let cfg: ModelConfig
    let B: Int, P: Int
    final class Points { var list: [(name: String, layer: Int?, shape: [Int])] = []; var seen: Set<String> = [] }
    let points = Points()

    /// Every hook point of `model` in forward order, hook_result included.
    static func points(of model: Transformer, batch: Int = 1, positions: Int = 1) throws -> [(name: String, layer: Int?, shape: [Int])] {
        let w = HookPointWalker(cfg: model.cfg, B: batch, P: positions)
        let tokens = try Tensor(ints: [Int](repeating: 0, count: batch * positions), shape: [batch, positions])
        let plan = try ForwardPlan(model.cfg, tokens, Transformer.Options())
        _ = try model.run(w, plan)
        return w.points.list
    }

    /// Records each point once (ln1 runs once per split input when the inputs are per head).
    func hook(_ name: String, _ layer: Int?, _ x: [Int]) throws -> [Int] {
        if points.seen.insert(name).inserted { points.list.append((name, layer, x)) }
        return x
    }

    func embed(_ table: Tensor) throws -> [Int] { [B, P, cfg.dModel] }
    func positionEmbed(_ table: Tensor) throws -> [Int] { [B, P, cfg.dModel] }

    func norm(_ x: [Int], _ kind: BlockShape.Normalization, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> [Int] {
        // ln1 of per-head inputs (AttentionInputs.swift) is listed with the residual stream's
        // shape, which it has in a run that does not ask for them
        let shape = x.count == 4 && names.normalized.hasSuffix(".ln1.hook_normalized") ? [x[0], x[1], x[3]] : x
        _ = try hook(names.scale, layer, Array(shape.dropLast()) + [1])
        _ = try hook(names.normalized, layer, shape)
        return x
    }

    func linear(_ x: [Int], _ w: Tensor, _ b: Tensor?) throws -> [Int] { Array(x.dropLast()) + [w.shape[1]] }

    func splitHeads(_ qkv: [Int]) throws -> (q: [Int], k: [Int], v: [Int]) {
        let lead = Array(qkv.dropLast())
        return (lead + [cfg.nHeads, cfg.dHead], lead + [cfg.nKVHeads, cfg.dHead], lead + [cfg.nKVHeads, cfg.dHead])
    }

    func reshapeHeads(_ x: [Int], heads: Int?) throws -> [Int] {
        let lead = Array(x.dropLast(heads == nil ? 2 : 1)), d = x.last ?? 0
        return heads.map { lead + [$0, d / Swift.max($0, 1)] } ?? lead + [d * x[x.count - 2]]
    }

    func rotary(_ x: [Int], _ layer: Int) throws -> [Int] { x }

    func attention(_ l: Int, q: [Int], k: [Int], v: [Int], _ n: LayerHookNames) throws -> [Int] {
        _ = try hook(n.scores, l, [B, cfg.nHeads, P, P])
        _ = try hook(n.pattern, l, [B, cfg.nHeads, P, P])
        return q
    }

    func projectHeads(_ z: [Int], _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ l: Int) throws -> [Int] {
        _ = try hook(resultHook, l, [B, P, cfg.nHeads, cfg.dModel])
        return [B, P, cfg.dModel]
    }

    func activation(_ kind: BlockShape.Activation, _ x: [Int]) throws -> [Int] { x }
    func scale(_ x: [Int], _ s: Float) throws -> [Int] { x }
    func softcap(_ x: [Int], _ cap: Float) throws -> [Int] { x }
    func mul(_ a: [Int], _ b: [Int]) throws -> [Int] { a }
    func add(_ a: [Int], _ b: [Int]) throws -> [Int] { a }
    func selectPositions(_ x: [Int], _ positions: [Int]) throws -> [Int] { [x[0], positions.count] + x.dropFirst(2) }
}
