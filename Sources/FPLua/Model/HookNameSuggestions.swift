import Foundation

/// What to tell someone who named a hook point that does not exist: the nearest valid names
/// by edit distance within the layer they named, the valid layer range when the layer is out of
/// range, or the per-layer name when they left the layer out.
///   hint("blocks.3.hook_resid_pr", in: names)  -> " (did you mean blocks.3.hook_resid_pre?)"
///   hint("blocks.40.hook_resid_pre", in: names) -> " (layers are 0..29: blocks.29.hook_resid_pre is the last)"
public enum HookNameSuggestions {
    /// The text to append to "no hook point named 'NAME'" (empty when nothing is close).
    public static func hint(_ name: String, in names: [String]) -> String {
        let layers = Set(names.compactMap(layer(of:)))
        if let (l, rest) = split(name) {
            guard let lo = layers.min(), let hi = layers.max() else { return nearest(name, names) }
            if !layers.contains(l) {
                let fixed = "blocks.\(hi).\(rest)"
                let example = names.contains(fixed) ? ": \(fixed) is the last" : ""
                return " (layer \(l) is out of range: layers are \(lo)..\(hi)\(example))"
            }
            if rest == "hook_attn_in" && names.contains("blocks.\(l).hook_q_input") {
                return " (this model has grouped-query attention, where TransformerLens refuses use_attn_in too: use blocks.\(l).hook_q_input, hook_k_input or hook_v_input)"
            }
            return nearest(name, names.filter { layer(of: $0) == l })
        }
        // a per-layer name without its layer ("hook_resid_pre", "attn.hook_z")
        let inLayer = names.filter { n in split(n).map { $0.rest == name } ?? false }
        if !inLayer.isEmpty, let lo = layers.min(), let hi = layers.max() {
            return " (it is per layer: blocks.L.\(name) with L from \(lo) to \(hi))"
        }
        return nearest(name, names)
    }

    /// The full message: "no hook point named 'x' (did you mean ...?)".
    public static func message(_ name: String, in names: [String]) -> String {
        "no hook point named '\(name)'" + hint(name, in: names)
    }

    static func split(_ name: String) -> (layer: Int, rest: String)? {
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]) else { return nil }
        return (l, String(parts[2]))
    }

    static func layer(of name: String) -> Int? { split(name)?.layer }

    /// Up to three names within an edit distance of a third of the name's length (at least 2).
    static func nearest(_ name: String, _ names: [String]) -> String {
        let limit = Swift.max(2, name.count / 3)
        let scored = names.map { ($0, distance(name, $0)) }.filter { $0.1 <= limit }
        let best = scored.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.prefix(3).map(\.0)
        return best.isEmpty ? "" : " (did you mean \(best.joined(separator: ", "))?)"
    }

    /// Levenshtein distance over Unicode scalars.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }
}
