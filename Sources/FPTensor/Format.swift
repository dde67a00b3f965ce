import Foundation

/// Printing in PyTorch's style: a common number format for all elements, nested brackets
/// aligned under each other, and "..." summarization past 1000 elements (3 at each edge).
extension Tensor {
    public func formatted(threshold: Int = 1000, edge: Int = 3) -> String {
        guard storage.isValid else { return "tensor(<freed>)" }
        let summarize = count > threshold
        let values: [Double]
        do { values = try toDoubles() } catch {
            // E.g. a huge expanded view that cannot be materialized: no elements to show.
            return "tensor(<\(error)>, shape=\(fmt(shape)))"
        }
        let fmtElem = Tensor.elementFormatter(values, dtype, summarize ? sampled(edge) : nil)
        var body: String
        if rank == 0 {
            body = values.first.map(fmtElem) ?? ""
        } else {
            body = render(values, dim: 0, base: 0, indent: 7, summarize: summarize, edge: edge, fmtElem)
        }
        var extras = [String]()
        if rank != 1 || summarize || count == 0 { if rank > 0 { extras.append("shape=\(fmt(shape))") } }
        // int64 and bool print without a dtype, as torch does: "1" vs "1." and true/false tell them apart.
        if requiresGrad { extras.append("requires_grad=true") }
        if !extras.isEmpty { body += ", " + extras.joined(separator: ", ") }
        return "tensor(" + body + ")"
    }

    /// The elements that a summarized print shows (for choosing the format).
    private func sampled(_ edge: Int) -> Set<Int> {
        var keep = Set<Int>()
        func walk(_ d: Int, _ base: Int) {
            if d == rank { keep.insert(base); return }
            let n = shape[d], st = Tensor.contiguousStrides(shape)[d]
            let idx = n > 2 * edge ? Array(0..<edge) + Array((n - edge)..<n) : Array(0..<n)
            for i in idx { walk(d + 1, base + i * st) }
        }
        walk(0, 0)
        return keep
    }

    private func render(_ v: [Double], dim d: Int, base: Int, indent: Int, summarize: Bool, edge: Int,
                        _ f: (Double) -> String) -> String {
        let n = shape[d], st = Tensor.contiguousStrides(shape)[d]
        let cut = summarize && n > 2 * edge
        let idx: [Int?] = cut ? Array(0..<edge).map { $0 } + [nil] + Array((n - edge)..<n).map { $0 } : Array(0..<n).map { $0 }
        if d == rank - 1 {
            return "[" + idx.map { $0.map { f(v[base + $0 * st]) } ?? "..." }.joined(separator: ", ") + "]"
        }
        let sep = "," + String(repeating: "\n", count: rank - d - 1) + String(repeating: " ", count: indent + 1)
        let parts = idx.map { i -> String in
            guard let i else { return "..." }
            return render(v, dim: d + 1, base: base + i * st, indent: indent + 1, summarize: summarize, edge: edge, f)
        }
        return "[" + parts.joined(separator: sep) + "]"
    }

    static func elementFormatter(_ values: [Double], _ dtype: DType, _ only: Set<Int>?) -> (Double) -> String {
        switch dtype {
        case .bool: return { $0 != 0 ? "true" : "false" }
        case .int64:
            let w = values.indices.filter { only?.contains($0) ?? true }.map { String(Int64(clampingToInt64: values[$0])).count }.max() ?? 1
            return { String(Int64(clampingToInt64: $0)).leftPad(w) }
        case .float32: break
        }
        let shown = values.indices.filter { only?.contains($0) ?? true }.map { values[$0] }
        let finite = shown.filter { $0.isFinite }
        let nonzero = finite.map(Swift.abs).filter { $0 > 0 }
        let allInts = finite.allSatisfy { $0 == $0.rounded() }
        let maxA = nonzero.max() ?? 0, minA = nonzero.min() ?? 0
        let sci = !nonzero.isEmpty && (maxA / minA > 1000 || maxA > 1e8 || minA < 1e-4) && !(allInts && maxA < 1e8)
        func one(_ x: Double) -> String {
            if x.isNaN { return "nan" }
            if x.isInfinite { return x > 0 ? "inf" : "-inf" }
            if sci { return String(format: "%.4e", x) }
            if allInts { return String(format: "%.0f.", x) }
            return String(format: "%.4f", x)
        }
        let w = shown.map { one($0).count }.max() ?? 1
        return { one($0).leftPad(w) }
    }
}

extension String {
    func leftPad(_ w: Int) -> String { count >= w ? self : String(repeating: " ", count: w - count) + self }
}
