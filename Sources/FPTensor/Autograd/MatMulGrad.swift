import CBLAS

/// matmul / bmm / outer / einsum. Every backward product is again a BLAS matmul.
extension AG {
    public static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard Autograd.taping(a, b) else { return try a.matmul(b) }
        // 1-D operands as torch: add a dim, multiply, remove it (all taped)
        if a.rank == 1 && b.rank == 1 {
            return try reshaped(matmul(reshaped(a, "unsqueeze") { try $0.unsqueeze(0) }, b), "squeeze") { try $0.reshape([]) }
        }
        if a.rank == 1 { return try reshaped(matmul(reshaped(a, "unsqueeze") { try $0.unsqueeze(0) }, b), "squeeze") { try $0.squeeze(-2) } }
        if b.rank == 1 { return try reshaped(matmul(a, reshaped(b, "unsqueeze") { try $0.unsqueeze(1) }), "squeeze") { try $0.squeeze(-1) } }
        let out = try a.matmul(b)
        let av = Autograd.save(a), bv = Autograd.save(b), ga = a.requiresGrad, gb = b.requiresGrad
        return Autograd.record(out, "matmul", [a, b]) { g in
            var gA: Tensor? = nil, gB: Tensor? = nil
            if ga {
                if let v = try rowTimesTransposed(g, bv.value) { gA = try Autograd.sumToShape(v, av.value.shape) }
                else { gA = try Autograd.sumToShape(g.matmul(bv.value.transpose(-1, -2)), av.value.shape) }
            }
            if gb {
                if bv.value.rank == 2 && av.value.rank > 2 {
                    // fold a's batch dims into rows: one GEMM instead of a batch and a sum
                    let k = av.value.shape[av.value.rank - 1], n = g.shape[g.rank - 1]
                    gB = try av.value.contiguous().reshape([-1, k]).T().matmul(g.contiguous().reshape([-1, n]))
                } else {
                    gB = try Autograd.sumToShape(av.value.transpose(-1, -2).matmul(g), bv.value.shape)
                }
            }
            return [gA, gB]
        }
    }

    public static func bmm(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank == 3, b.rank == 3, a.shape[0] == b.shape[0] else { return try a.bmm(b) }  // bmm's error
        return try matmul(a, b)
    }

    public static func outer(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank == 1, b.rank == 1 else { return try Tensor.outer(a, b) }
        return try matmul(reshaped(a, "unsqueeze") { try $0.unsqueeze(1) }, reshaped(b, "unsqueeze") { try $0.unsqueeze(0) })
    }

    /// einsum: the gradient of each operand is the einsum of the output gradient with the
    /// other operands, back to that operand's axes (so it also runs through matmul).
    public static func einsum(_ equation: String, _ ts: [Tensor]) throws -> Tensor {
        let out = try Einsum.evaluate(equation, ts)
        guard Autograd.enabled, ts.contains(where: { $0.requiresGrad }) else { return out }
        let spec = try Einsum.parse(equation, operands: ts.count, ranks: ts.map(\.rank))
        let named = spec.inputs.joined().contains { $0.count > 1 } || spec.output.contains { $0.count > 1 }
        func side(_ axes: [String]) -> String { named ? axes.joined(separator: " ") : axes.joined() }
        let saved = ts.map { Autograd.save($0) }
        return Autograd.record(out, "einsum", ts) { g in
            try (0..<ts.count).map { i -> Tensor? in
                guard ts[i].requiresGrad else { return nil }
                let mine = spec.inputs[i]
                guard Set(mine).count == mine.count else {
                    throw TensorError("einsum backward: repeated axis in operand \(i + 1) of \"\(equation)\" (diagonals have no gradient here)")
                }
                let others = (0..<ts.count).filter { $0 != i }
                let available = Set(spec.output).union(others.flatMap { spec.inputs[$0] })
                // axes summed inside operand i only: the gradient is broadcast along them
                let local = mine.filter { !available.contains($0) }
                let target = mine.filter { available.contains($0) }
                let eq = ([side(spec.output)] + others.map { side(spec.inputs[$0]) }).joined(separator: ",") + "->" + side(target)
                var r = try Einsum.evaluate(eq, [g] + others.map { saved[$0].value })
                if !local.isEmpty {
                    var shape = [Int](), at = 0
                    for a in mine { if local.contains(a) { shape.append(1) } else { shape.append(r.shape[at]); at += 1 } }
                    r = try r.contiguous().reshape(shape).expand(saved[i].value.shape).contiguous()
                }
                // an operand broadcast under "..." (size 1 against n) gets the summed gradient
                return r.shape == saved[i].value.shape ? r : try Autograd.sumToShape(r, saved[i].value.shape)
            }
        }
    }

    /// g @ B^T for a single row g [..., 1, n] and a contiguous 2-D B [k, n] as one sgemv (y = B g).
    /// sgemm would pack all of B for one row: for the unembedding's backward at one position
    /// that copy is larger than the product. nil when the shapes do not fit this case.
    static func rowTimesTransposed(_ g: Tensor, _ b: Tensor) throws -> Tensor? {
        guard b.rank == 2, b.isContiguous, g.rank >= 1, g.count == g.shape[g.rank - 1], g.shape[g.rank - 1] == b.shape[1] else { return nil }
        let k = b.shape[0], n = b.shape[1]
        guard k > 0, n > 0, k < Int(Int32.max), n < Int(Int32.max) else { return nil }
        let gc = try g.contiguous()
        var shape = g.shape
        shape[shape.count - 1] = k
        let out = try Tensor.empty(shape)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(k), Int32(n), 1, try b.floatPointer(), Int32(n),
                    try gc.floatPointer(), 1, 0, try out.floatPointer(), 1)
        return out
    }
}
