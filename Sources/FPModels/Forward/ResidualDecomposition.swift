import FPTensor

/// The block's residual arithmetic, read from the block definition itself: running `block` on
/// symbols, each residual-stream hook point (resid_pre, resid_mid, resid_post, attn_out,
/// mlp_out) becomes a symbol, `add` collects terms and every other operation is opaque. A
/// sequential block gives resid_mid = resid_pre + attn_out and resid_post = resid_mid +
/// mlp_out; a parallel one resid_post = resid_pre + attn_out + mlp_out (no resid_mid). The
/// sweep engine's entries (PatchSweep.entry) and fp.patching's arithmetic follow from it.
struct ResidualDecomposition {
    /// Each residual point that is a sum, in forward order, with its terms in the order added.
    let sums: [(point: String, terms: [String])]
    /// Every residual point the block has.
    let points: Set<String>

    static let residualPoints = ["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"]

    /// Block outputs (attn_out, mlp_out) that are a base of another's entry: the sweep engine
    /// keeps the corrupted run's (parallel blocks; a sequential block's bases are all resid_*).
    var outputBases: Set<String> {
        var out = Set<String>()
        for s in sums {
            for t in s.terms where !t.hasPrefix("resid_") {
                out.formUnion(s.terms.filter { $0 != t && !$0.hasPrefix("resid_") })
            }
        }
        return out
    }

    init(_ model: Transformer) throws {
        let w = Walker(names: model.hookNames[0])
        _ = try model.block(w, 0, .terms(["input"]))
        sums = w.found.sums
        points = w.found.points
    }

    /// The symbolic executor: Value is a sum of residual points, or opaque.
    final class Walker: BlockOps {
        enum Value { case terms([String]), opaque }
        final class Found { var sums: [(point: String, terms: [String])] = []; var points: Set<String> = [] }
        let found = Found()
        let shortNames: [String: String]

        init(names n: LayerHookNames) {
            shortNames = [n.residPre: "resid_pre", n.residMid: "resid_mid", n.residPost: "resid_post",
                          n.attnOut: "attn_out", n.mlpOut: "mlp_out"]
        }

        func hook(_ name: String, _ layer: Int?, _ x: Value) throws -> Value {
            guard let point = shortNames[name] else { return x }
            found.points.insert(point)
            if case .terms(let t) = x, t.count > 1 { found.sums.append((point, t)) }
            return .terms([point])
        }

        func add(_ a: Value, _ b: Value) throws -> Value {
            if case .terms(let x) = a, case .terms(let y) = b { return .terms(x + y) }
            return .opaque
        }

        func embed(_ table: Tensor) throws -> Value { .opaque }
        func positionEmbed(_ table: Tensor) throws -> Value { .opaque }
        func norm(_ x: Value, _ kind: BlockShape.Normalization, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> Value { .opaque }
        func linear(_ x: Value, _ w: Tensor, _ b: Tensor?) throws -> Value { .opaque }
        func splitHeads(_ qkv: Value) throws -> (q: Value, k: Value, v: Value) { (.opaque, .opaque, .opaque) }
        func reshapeHeads(_ x: Value, heads: Int?) throws -> Value { .opaque }
        func rotary(_ x: Value, _ layer: Int) throws -> Value { .opaque }
        func attention(_ layer: Int, q: Value, k: Value, v: Value, _ names: LayerHookNames) throws -> Value { .opaque }
        func projectHeads(_ z: Value, _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ layer: Int) throws -> Value { .opaque }
        func activation(_ kind: BlockShape.Activation, _ x: Value) throws -> Value { .opaque }
        func scale(_ x: Value, _ s: Float) throws -> Value { .opaque }
        func softcap(_ x: Value, _ cap: Float) throws -> Value { .opaque }
        func mul(_ a: Value, _ b: Value) throws -> Value { .opaque }
        func selectPositions(_ x: Value, _ positions: [Int]) throws -> Value { .opaque }
    }
}
