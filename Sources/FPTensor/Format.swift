import Foundation

/// Printing in PyTorch's style: a common number format for all elements, nested brackets
/// aligned under each other, and "..." summarization past 1000 elements (3 at each edge).
extension Tensor {
    /// Printing reads only the elements it shows (never a copy of the tensor), so its work and
    /// memory do not grow with a size the script chose; a print that would show more than
    /// `maxShown` elements (many small dims) shows the shape only.
    public func formatted(threshold: Int = 1000, edge: Int = 3, maxShown: Int = 10_000) -> String {
        guard storage.isValid else { return "tensor(<freed>)" }
        let summarize = count > threshold
        // indices shown along each dim (all of them, or `edge` at each end when summarized)
        let shownIdx: [[Int]] = shape.map { n in
            summarize && n > 2 * edge ? Array(0..<edge) + Array((n - edge)..<n) : (n <= maxShown ? Array(0..<n) : [])
        }
        var shownCount = 1
        for (d, idx) in shownIdx.enumerated() {
            let n = idx.isEmpty ? shape[d] : idx.count
            let (m, o) = shownCount.multipliedReportingOverflow(by: n)
            shownCount = o ? Int.max : m
        }
        if count == 0 { return "tensor([], shape=\(fmt(shape)))" }
        guard shownCount <= maxShown else { return "tensor(..., shape=\(fmt(shape)))" }
        // the shown elements as text, in print order (storage positions relative to the offset)
        var positions = [Int]()
        positions.reserveCapacity(shownCount)
        func walk(_ d: Int, _ pos: Int) {
            if d == rank { positions.append(pos); return }
            for i in shownIdx[d] { walk(d + 1, pos + i * strides[d]) }
        }
        walk(0, 0)
        let texts: [String]
        do {
            switch dtype {
            case .int64:
                // exact: int64 values beyond 2^53 do not go through Double
                let p = try intPointer()
                let raw = positions.map { String(p[$0]) }
                let w = raw.map(\.count).max() ?? 1
                texts = raw.map { $0.leftPad(w) }
            case .float32, .bool:
                let values = try dtype == .float32 ? { let p = try floatPointer(); return positions.map { Double(p[$0]) } }()
                                                   : { let p = try boolPointer(); return positions.map { Double(p[$0]) } }()
                let f = Tensor.elementFormatter(values, dtype, nil)
                texts = values.map(f)
            }
        } catch { return "tensor(<\(error)>, shape=\(fmt(shape)))" }
        var next = 0
        func take() -> String { defer { next += 1 }; return texts[next] }
        var body: String
        if rank == 0 {
            body = take()
        } else {
            body = render(dim: 0, indent: 7, cut: { d in summarize && shape[d] > 2 * edge }, shownIdx, take)
        }
        var extras = [String]()
        if rank != 1 || summarize { if rank > 0 { extras.append("shape=\(fmt(shape))") } }
        // int64 and bool print without a dtype, as torch does: "1" vs "1." and true/false tell them apart.
        if requiresGrad { extras.append("requires_grad=true") }
        if !extras.isEmpty { body += ", " + extras.joined(separator: ", ") }
        return "tensor(" + body + ")"
    }

    /// Nested brackets for the shown elements, which `take` hands out in print order.
    private func render(dim d: Int, indent: Int, cut: (Int) -> Bool, _ shownIdx: [[Int]], _ take: () -> String) -> String {
        let idx = shownIdx[d]
        var parts = [String]()
        for (k, _) in idx.enumerated() {
            if cut(d) && k == idx.count / 2 { parts.append("...") }
            parts.append(d == rank - 1 ? take() : render(dim: d + 1, indent: indent + 1, cut: cut, shownIdx, take))
        }
        if d == rank - 1 { return "[" + parts.joined(separator: ", ") + "]" }
        let sep = "," + String(repeating: "\n", count: rank - d - 1) + String(repeating: " ", count: indent + 1)
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
