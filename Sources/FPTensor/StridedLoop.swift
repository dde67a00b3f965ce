/// Iteration over strided operands sharing one shape: the innermost run of elements is handed
/// to a kernel as (offsets, count, inner strides) so that kernels see plain pointer loops.
/// Dims that are contiguous for every operand are merged first, so contiguous data is one row.
struct StridedLoop {
    let shape: [Int]
    let strides: [[Int]]

    init(shape: [Int], strides: [[Int]]) {
        // Drop size-1 dims, then merge dim d into d+1 where every operand is contiguous across them.
        var sh = [Int](), st = [[Int]](repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            sh.append(shape[d])
            for k in 0..<strides.count { st[k].append(strides[k][d]) }
        }
        var i = sh.count - 2
        while i >= 0 {
            let mergeable = (0..<st.count).allSatisfy { st[$0][i] == st[$0][i + 1] * sh[i + 1] }
            if mergeable {
                sh[i + 1] *= sh[i]
                sh.remove(at: i)
                for k in 0..<st.count { st[k].remove(at: i) }
            }
            i -= 1
        }
        self.shape = sh
        self.strides = st
    }

    /// The number of innermost rows (1 for a 0-d loop, 0 when a dim is 0).
    var rowCount: Int { shape.isEmpty ? 1 : shape.contains(0) ? 0 : shape.dropLast().reduce(1, *) }

    /// Calls `body(offsets, n, innerStrides)` once per innermost row; offsets are in elements.
    @inline(__always)
    func forEachRow(_ body: (_ offsets: UnsafePointer<Int>, _ n: Int, _ inner: UnsafePointer<Int>) throws -> Void) rethrows {
        try forEachRow(in: 0..<rowCount, body)
    }

    /// forEachRow over the rows `rows` of 0..<rowCount only (in order), so that pieces of the
    /// rows can run on different threads.
    @inline(__always)
    func forEachRow(in rows: Range<Int>, _ body: (_ offsets: UnsafePointer<Int>, _ n: Int, _ inner: UnsafePointer<Int>) throws -> Void) rethrows {
        let k = strides.count
        if shape.contains(0) || rows.isEmpty { return }
        var offsets = [Int](repeating: 0, count: k)
        if shape.isEmpty {
            let inner = [Int](repeating: 1, count: k)
            try body(offsets, 1, inner)
            return
        }
        let r = shape.count
        let n = shape[r - 1]
        let inner = (0..<k).map { strides[$0][r - 1] }
        // the outer dims' counter of the first row (mixed radix), and its offsets
        var counter = [Int](repeating: 0, count: r)
        var rest = rows.lowerBound
        for d in stride(from: r - 2, through: 0, by: -1) {
            counter[d] = rest % shape[d]
            rest /= shape[d]
            for j in 0..<k { offsets[j] += counter[d] * strides[j][d] }
        }
        var left = rows.count
        while true {
            try body(offsets, n, inner)
            left -= 1
            if left == 0 { return }
            // advance the outer dims (odometer)
            var d = r - 2
            while d >= 0 {
                counter[d] += 1
                for j in 0..<k { offsets[j] += strides[j][d] }
                if counter[d] < shape[d] { break }
                for j in 0..<k { offsets[j] -= strides[j][d] * shape[d] }
                counter[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }
}

/// Broadcast shape of two shapes (numpy rules), or an error naming `fn`.
public func broadcastShapes(_ a: [Int], _ b: [Int], _ fn: String) throws -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let x = i < r - a.count ? 1 : a[i - (r - a.count)]
        let y = i < r - b.count ? 1 : b[i - (r - b.count)]
        if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else {
            throw TensorError("\(fn): shapes \(fmt(a)) and \(fmt(b)) cannot be broadcast (dim \(i): \(x) vs \(y))")
        }
    }
    return out
}

/// Product of sizes, nil on overflow.
func checkedProduct(_ xs: [Int]) -> Int? {
    // The product of the non-zero sizes must fit too: contiguous strides multiply them, so a
    // shape like [0, 2^62, 4] (0 elements) would overflow there.
    var n = 1, strides = 1
    for x in xs {
        let (m, o) = n.multipliedReportingOverflow(by: x)
        let (st, so) = strides.multipliedReportingOverflow(by: Swift.max(x, 1))
        if o || so { return nil }
        n = m
        strides = st
    }
    return n
}
