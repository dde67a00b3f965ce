import Foundation

/// Cumulative sums along a dim (torch.cumsum): float32 stays float32 (accumulated in double, as
/// torch's CPU kernel does), int64 and bool give int64.
extension Tensor {
    /// Running sum along `d`; `reverse` sums from the end (the gradient of cumsum).
    public func cumsum(_ d: Int, reverse: Bool = false) throws -> Tensor {
        if rank == 0 { return try (dtype == .float32 ? self : to(.int64)).clone() }
        let dd = try dim(d, "cumsum")
        let isFloat = dtype == .float32
        // move d last so each run is one contiguous row
        let last = rank - 1
        let moved = try (isFloat ? self : to(.int64)).transpose(dd, last).contiguous()
        let out = try Tensor.empty(moved.shape, dtype: isFloat ? .float32 : .int64)
        let n = shape[dd], rows = n > 0 ? moved.count / n : 0
        if isFloat {
            let s = try moved.floatPointer(), o = try out.floatPointer()
            for r in 0..<rows {
                var acc = 0.0
                for j in 0..<n {
                    let i = r * n + (reverse ? n - 1 - j : j)
                    acc += Double(s[i]); o[i] = Float(acc)
                }
            }
        } else {
            let s = try moved.intPointer(), o = try out.intPointer()
            for r in 0..<rows {
                var acc: Int64 = 0
                for j in 0..<n {
                    let i = r * n + (reverse ? n - 1 - j : j)
                    acc = acc &+ s[i]; o[i] = acc   // wraps on overflow, as torch
                }
            }
        }
        return dd == last ? out : try out.transpose(dd, last).contiguous()
    }
}
