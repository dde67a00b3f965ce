import Foundation

/// einsum with single-letter axes ("bpd,d->bp") or whitespace-separated names
/// ("batch pos d, d -> batch pos"), and "..." for broadcast leading dims ("...ij,...jk->...ik"). Contractions go through matmul (BLAS): for two operands,
/// axes are sorted into batch / left-only / right-only / contracted groups, both sides are
/// permuted and reshaped into one batched matrix product, and the result is permuted back.
public enum Einsum {
    struct Spec {
        var inputs: [[String]]
        var output: [String]
    }

    /// Axis names standing for the dims an ellipsis covers ("…0", "…1", ...): '…' is no
    /// letter, so they never clash with a user's axis names.
    static func ellipsisAxis(_ k: Int) -> String { "\u{2026}\(k)" }

    static func isEllipsisAxis(_ a: String) -> Bool {
        a.first == "\u{2026}" && a.count > 1 && a.dropFirst().allSatisfy(\.isNumber)
    }

    /// Parses the equation; `ranks` (the operands' ranks) is needed to expand "...", which
    /// stands for the same trailing-aligned broadcast dims in every operand (as torch.einsum).
    static func parse(_ equation: String, operands: Int, ranks: [Int]? = nil) throws -> Spec {
        let parts = equation.components(separatedBy: "->")
        guard parts.count <= 2 else { throw TensorError("einsum: more than one '->' in \"\(equation)\"") }
        let lhs = parts[0]
        let named = lhs.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).contains(" ") }
            || (parts.count == 2 && parts[1].trimmingCharacters(in: .whitespaces).contains(" "))
        func names(_ s: Substring) throws -> [String] {
            let t = s.trimmingCharacters(in: .whitespaces)
            let list = named ? t.split(separator: " ").map(String.init) : t.map { String($0) }
            for a in list where !(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } || isEllipsisAxis(a)) || a.isEmpty {
                throw TensorError("einsum: invalid axis name '\(a)' in \"\(equation)\"")
            }
            return list
        }
        // one side: the names before and after its "..." (nil: no ellipsis)
        func side(_ s: Substring) throws -> (before: [String], after: [String]?) {
            let pieces = s.components(separatedBy: "...")
            guard pieces.count <= 2 else { throw TensorError("einsum: more than one '...' in one operand of \"\(equation)\"") }
            if pieces.count == 1 { return (try names(s), nil) }
            return (try names(Substring(pieces[0])), try names(Substring(pieces[1])))
        }
        let sides = try lhs.split(separator: ",", omittingEmptySubsequences: false).map(side)
        guard sides.count == operands else {
            throw TensorError("einsum: equation \"\(equation)\" has \(sides.count) operand\(sides.count == 1 ? "" : "s"), got \(operands) tensor\(operands == 1 ? "" : "s")")
        }
        // dims under each operand's ellipsis, aligned from the right
        var covered = [Int](repeating: 0, count: operands)
        for (i, sd) in sides.enumerated() {
            guard let after = sd.after else { continue }
            guard let ranks, i < ranks.count else { throw TensorError("einsum: '...' needs the operands' ranks") }
            covered[i] = ranks[i] - sd.before.count - after.count
            guard covered[i] >= 0 else {
                throw TensorError("einsum: operand \(i + 1) has \(ranks[i]) dims, fewer than the \(sd.before.count + after.count) named in \"\(equation)\"")
            }
        }
        let e = covered.max() ?? 0
        let inputs = sides.enumerated().map { i, sd in
            sd.after.map { sd.before + (e - covered[i]..<e).map(ellipsisAxis) + $0 } ?? sd.before
        }
        var output: [String]
        if parts.count == 2 {
            let out = try side(Substring(parts[1]))
            output = out.after.map { out.before + (0..<e).map(ellipsisAxis) + $0 } ?? out.before
            let all = Set(inputs.joined())
            for a in output where !all.contains(a) {
                throw TensorError("einsum: output axis '\(a)' does not appear in any input of \"\(equation)\"")
            }
            guard Set(output).count == output.count else { throw TensorError("einsum: output axis repeated in \"\(equation)\"") }
        } else {
            // Implicit output: the ellipsis dims, then axes that appear once in alphabetical order (numpy's rule).
            let flat = inputs.joined().filter { !isEllipsisAxis($0) }
            output = (0..<e).map(ellipsisAxis) + Set(flat).filter { a in flat.filter { $0 == a }.count == 1 }.sorted()
        }
        return Spec(inputs: inputs, output: output)
    }

    public static func evaluate(_ equation: String, _ operands: [Tensor]) throws -> Tensor {
        guard !operands.isEmpty else { throw TensorError("einsum: expected at least one tensor") }
        let spec = try parse(equation, operands: operands.count, ranks: operands.map(\.rank))
        var sizes = [String: Int]()
        var terms = [(Tensor, [String])]()
        for (i, (t, ax)) in zip(operands, spec.inputs).enumerated() {
            guard t.rank == ax.count else {
                throw TensorError("einsum: operand \(i + 1) has \(t.rank) dims but the equation gives it \(ax.count) (\(ax.joined(separator: " ")))")
            }
            for (k, a) in ax.enumerated() {
                if let s = sizes[a], s != t.shape[k] {
                    if s == 1 { sizes[a] = t.shape[k] } else if t.shape[k] != 1 {
                        throw TensorError("einsum: axis '\(a)' has size \(s) in one operand and \(t.shape[k]) in operand \(i + 1)")
                    }
                } else if sizes[a] == nil { sizes[a] = t.shape[k] }
            }
            terms.append(try diagonal(t.to(.float32), ax))
        }
        // Fold left to right; an axis is summed away as soon as no later operand or the output needs it.
        var (acc, accAx) = terms[0]
        for i in 1..<Swift.max(terms.count, 1) where i < terms.count {
            let later = Set(terms[(i + 1)...].flatMap { $0.1 }).union(spec.output)
            (acc, accAx) = try contract(acc, accAx, terms[i].0, terms[i].1, keep: later, sizes: sizes)
        }
        // Sum axes not in the output, then order as the output asks.
        let drop = accAx.indices.filter { !spec.output.contains(accAx[$0]) }
        if !drop.isEmpty {
            acc = try acc.reduce(.sum, dims: drop)
            accAx = accAx.enumerated().filter { !drop.contains($0.offset) }.map { $0.element }
        }
        let perm = spec.output.compactMap { accAx.firstIndex(of: $0) }
        let permuted = perm == Array(0..<perm.count) ? acc : try acc.permute(perm)
        return try permuted.expand(spec.output.compactMap { sizes[$0] }).contiguous()
    }

    /// Takes diagonals for axes repeated within one operand ("ii->i").
    static func diagonal(_ t: Tensor, _ ax: [String]) throws -> (Tensor, [String]) {
        var names = [String](), shape = [Int](), strides = [Int]()
        for (k, a) in ax.enumerated() {
            if let j = names.firstIndex(of: a) {
                guard shape[j] == t.shape[k] else { throw TensorError("einsum: repeated axis '\(a)' has sizes \(shape[j]) and \(t.shape[k])") }
                strides[j] += t.strides[k]
            } else {
                names.append(a); shape.append(t.shape[k]); strides.append(t.strides[k])
            }
        }
        return (t.withView(shape, strides, t.offset), names)
    }

    /// Contracts two terms into one whose axes are batch + left + right.
    static func contract(_ a: Tensor, _ ax: [String], _ b: Tensor, _ bx: [String], keep: Set<String>,
                         sizes: [String: Int]) throws -> (Tensor, [String]) {
        // Sum out axes private to one side and not needed later (cheap before the product).
        func sumPrivate(_ t: Tensor, _ names: [String], _ other: [String]) throws -> (Tensor, [String]) {
            let drop = names.indices.filter { !keep.contains(names[$0]) && !other.contains(names[$0]) }
            if drop.isEmpty { return (t, names) }
            return (try t.reduce(.sum, dims: drop), names.enumerated().filter { !drop.contains($0.offset) }.map { $0.element })
        }
        let (x, xn) = try sumPrivate(a, ax, bx)
        let (y, yn) = try sumPrivate(b, bx, ax)
        let batch = xn.filter { yn.contains($0) && keep.contains($0) }
        let contracted = xn.filter { yn.contains($0) && !keep.contains($0) }
        let left = xn.filter { !yn.contains($0) }
        let right = yn.filter { !xn.contains($0) }
        func size(_ n: String) -> Int { sizes[n] ?? 1 }
        func arrange(_ t: Tensor, _ names: [String], _ order: [String]) throws -> Tensor {
            let p = order.compactMap { names.firstIndex(of: $0) }
            let pt = p == Array(0..<p.count) ? t : try t.permute(p)
            return try pt.expand(order.map(size))
        }
        let B = batch.map(size).reduce(1, *), M = left.map(size).reduce(1, *)
        let K = contracted.map(size).reduce(1, *), N = right.map(size).reduce(1, *)
        let xa = try arrange(x, xn, batch + left + contracted).reshape([B, M, K])
        let ya = try arrange(y, yn, batch + contracted + right).reshape([B, K, N])
        let prod = try xa.matmul(ya)
        let names = batch + left + right
        return (try prod.reshape(names.map(size)), names)
    }
}
