import Foundation

/// Printing in PyTorch's style: a common number format for all elements, nested brackets
/// aligned under each other, and "..." summarization past 1000 elements (3 at each edge).
extension Tensor {
    public func formatted(threshold: Int = 1000, edge: Int = 3) -> String {
        guard storage.isValid, let raw = try? storage.raw() else { return "tensor(<freed>)" }
        // A dim longer than the threshold is cut even when the tensor is empty ([2^40, 0]):
        // printing costs what it shows, never what the shape claims.
        let summarize = count > threshold || shape.contains { $0 > threshold }
        let shown = shape.reduce(1) { Limits.bytes($0, summarize ? Swift.min($1, 2 * edge) : $1) }
        guard shown <= 100_000 else { return "tensor(<\(count) elements>, shape=\(fmt(shape)))" }
        // elements are read where they are (through the strides): no copy of the tensor
        let base = raw + offset * dtype.byteSize
        func value(_ off: Int) -> Double {
            switch dtype {
            case .float32: return Double(base.assumingMemoryBound(to: Float.self)[off])
            case .int64: return Double(base.assumingMemoryBound(to: Int64.self)[off])
            case .bool: return Double(base.assumingMemoryBound(to: UInt8.self)[off])
            }
        }
        func text(_ off: Int, _ f: (Double) -> String) -> String {
            // int64 prints from the integer itself (exact beyond 2^53)
            dtype == .int64 ? String(base.assumingMemoryBound(to: Int64.self)[off]).leftPad(intWidth) : f(value(off))
        }
        var offsets = [Int]()
        walk(dim: 0, off: 0, summarize: summarize, edge: edge) { offsets.append($0) }
        let intWidth = dtype == .int64 ? offsets.map { String(base.assumingMemoryBound(to: Int64.self)[$0]).count }.max() ?? 1 : 0
        let fmtElem = Tensor.elementFormatter(offsets.map(value), dtype, nil)
        var body: String
        if rank == 0 {
            body = text(0, fmtElem)
        } else {
            body = render(dim: 0, off: 0, indent: 7, summarize: summarize, edge: edge) { text($0, fmtElem) }
        }
        var extras = [String]()
        if rank != 1 || summarize || count == 0 { if rank > 0 { extras.append("shape=\(fmt(shape))") } }
        // int64 and bool print without a dtype, as torch does: "1" vs "1." and true/false tell them apart.
        if requiresGrad { extras.append("requires_grad=true") }
        if !extras.isEmpty { body += ", " + extras.joined(separator: ", ") }
        return "tensor(" + body + ")"
    }

    /// The indices of dim `d` that a print shows (nil stands for "...").
    private func shownIndices(_ d: Int, summarize: Bool, edge: Int) -> [Int?] {
        let n = shape[d]
        if summarize && n > 2 * edge { return Array(0..<edge) + [nil] + Array((n - edge)..<n) }
        return Array(0..<n)
    }

    /// Calls `visit` with the storage offset (from `offset`) of each shown element, in order.
    private func walk(dim d: Int, off: Int, summarize: Bool, edge: Int, _ visit: (Int) -> Void) {
        if d == rank { visit(off); return }
        for case let i? in shownIndices(d, summarize: summarize, edge: edge) {
            walk(dim: d + 1, off: off + i * strides[d], summarize: summarize, edge: edge, visit)
        }
    }

    private func render(dim d: Int, off: Int, indent: Int, summarize: Bool, edge: Int, _ f: (Int) -> String) -> String {
        let idx = shownIndices(d, summarize: summarize, edge: edge)
        if d == rank - 1 {
            return "[" + idx.map { $0.map { f(off + $0 * strides[d]) } ?? "..." }.joined(separator: ", ") + "]"
        }
        let sep = "," + String(repeating: "\n", count: rank - d - 1) + String(repeating: " ", count: indent + 1)
        let parts = idx.map { i -> String in
            guard let i else { return "..." }
            return render(dim: d + 1, off: off + i * strides[d], indent: indent + 1, summarize: summarize, edge: edge, f)
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
