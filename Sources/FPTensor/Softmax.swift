import Foundation

extension Tensor {
    /// softmax / log_softmax along `dim`, computed on contiguous rows with the max subtracted.
    public func softmax(dim d: Int, log: Bool = false) throws -> Tensor {
        let fn = log ? "log_softmax" : "softmax"
        let x = try to(.float32)
        if rank == 0 { return try Tensor(log ? [0] : [1], shape: []) }
        let dd = try dim(d, fn)
        // Move dim last, compute on rows, move back (a copy only when dim is not last).
        let last = rank - 1
        let moved = dd == last ? x : try x.transpose(dd, last)
        let src = try moved.contiguous()
        let out = try Tensor.empty(src.shape)
        let n = src.shape[last], rows = n > 0 ? src.count / n : 0
        let s = try src.floatPointer(), o = try out.floatPointer()
        for r in 0..<rows {
            softmaxRow(s + r * n, o + r * n, n, log: log)
        }
        return dd == last ? out : try out.transpose(dd, last).contiguous()
    }
}

/// One softmax row: m = max, e = exp(x - m), out = e / sum(e) or (x - m) - log(sum(e)).
@inline(__always) public func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
    guard n > 0 else { return }
    var m = -Float.infinity
    for i in 0..<n where x[i] > m || x[i].isNaN { m = x[i]; if m.isNaN { break } }
    if m == -.infinity {   // every entry masked: torch gives NaN
        for i in 0..<n { y[i] = .nan }
        return
    }
    let mv = F16x(repeating: m)
    map16(x, y, n, { vexp($0 - mv) }, { expf($0 - m) })
    let s = sumRow(y, n)
    if log {
        let ls = logf(s)
        map16(x, y, n, { $0 - mv - ls }, { $0 - m - ls })
    } else {
        let inv = 1 / s
        map16(y, y, n, { $0 * inv }, { $0 * inv })
    }
}

