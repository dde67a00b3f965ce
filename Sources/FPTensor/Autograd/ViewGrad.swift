/// Views, indexing, gathering and joining: gradients are routed back to the positions read.
extension AG {
    /// Any shape-only view (reshape, view, flatten, unsqueeze, squeeze): the gradient is reshaped back.
    public static func reshaped(_ x: Tensor, _ name: String, _ make: (Tensor) throws -> Tensor) throws -> Tensor {
        let out = try make(x)
        guard Autograd.taping(x) else { return out }
        let shape = x.shape
        let r = out === x ? out.detached() : out
        return Autograd.record(r, name, [x]) { g in [try g.contiguous().reshape(shape)] }
    }

    public static func permute(_ x: Tensor, _ dims: [Int]) throws -> Tensor {
        let out = try x.permute(dims)
        guard Autograd.taping(x) else { return out }
        let ds = try dims.map { try x.dim($0, "permute") }
        var inv = [Int](repeating: 0, count: ds.count)
        for (i, d) in ds.enumerated() { inv[d] = i }
        return Autograd.record(out, "permute", [x]) { g in [try g.permute(inv)] }
    }

    public static func transpose(_ x: Tensor, _ a: Int, _ b: Int) throws -> Tensor {
        let out = try x.transpose(a, b)
        guard Autograd.taping(x) else { return out }
        return Autograd.record(out, "transpose", [x]) { g in [try g.transpose(a, b)] }
    }

    public static func expand(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
        let out = try x.expand(shape)
        guard Autograd.taping(x) else { return out }
        let s = x.shape
        return Autograd.record(out === x ? out.detached() : out, "expand", [x]) { g in [try Autograd.sumToShape(g, s)] }
    }

    /// narrow/slice/select: the gradient lands in the selected region of zeros.
    public static func region(_ x: Tensor, _ name: String, _ make: @escaping (Tensor) throws -> Tensor) throws -> Tensor {
        let out = try make(x)
        guard Autograd.taping(x) else { return out }
        let shape = x.shape
        let r = out === x ? out.detached() : out
        let pick = make
        return Autograd.record(r, name, [x]) { g in
            let z = try Tensor(zeros: shape)
            try pick(z).copyFrom(g)
            return [z]
        }
    }

    /// t[items]: basic items make a view; an index tensor or a mask gathers.
    public static func index(_ x: Tensor, _ items: [IndexItem]) throws -> Tensor {
        let out = try x.index(items)
        guard Autograd.taping(x) else { return out }
        let shape = x.shape
        let r = out === x ? out.detached() : out
        let advanced = items.contains { if case .tensor = $0 { return true }; return false }
        return Autograd.record(r, "index", [x]) { g in
            let z = try Tensor(zeros: shape)
            if advanced {
                // where each output element came from: the same index applied to 0..<n; the
                // gradient is scatter-added there, so repeated indices accumulate
                let n = shape.reduce(1, *)
                let iota = try Tensor(ints: Array(0..<n), shape: shape)
                let from = try iota.index(items).contiguous().reshape([-1])
                let flat = try z.reshape([-1])
                try flat.scatterInPlace(0, from, g.contiguous().reshape([-1]), add: true)
            } else {
                try z.index(items).copyFrom(g)
            }
            return [z]
        }
    }

    /// t[items] = v in place. If v (or t) requires grad, t becomes the result of a taped op whose
    /// inputs are t's previous version and v (the gradient of v is the assigned region's);
    /// operations recorded earlier keep using t's previous node.
    public static func indexAssign(_ t: Tensor, _ items: [IndexItem], _ value: Tensor) throws {
        try Autograd.willWrite(t)
        guard Autograd.taping(t, value) else { try t.indexAssign(items, value); return }
        if t.requiresGrad && t.isLeaf {
            throw TensorError("index assignment: a leaf tensor that requires grad cannot be changed in place (assign into a clone, or use fp.no_grad)")
        }
        try t.indexAssign(items, value)
        let vshape = value.shape
        let advanced = items.contains { if case .tensor = $0 { return true }; return false }
        // the node's edge to t is t's node before this write (captured when it is recorded)
        Autograd.record(t, "index_assign", [t, value]) { g in
            let gt = try g.clone()
            let gv: Tensor
            if advanced {
                gv = try g.index(items)
                try gt.indexAssign(items, Tensor.scalar(0))
            } else {
                let region = try gt.index(items)
                gv = try region.clone()
                try region.fill(0)
            }
            return [gt, try Autograd.sumToShape(gv, vshape)]
        }
    }

    /// t:copy_(src) as a full assignment.
    public static func copyInto(_ t: Tensor, _ src: Tensor) throws {
        try indexAssign(t, [.ellipsis], src)
    }

    public static func indexSelect(_ x: Tensor, _ d: Int, _ index: Tensor) throws -> Tensor {
        let out = try x.indexSelect(d, index)
        guard Autograd.taping(x) else { return out }
        let dd = try x.dim(d, "index_select"), shape = x.shape, idx = index.detached()
        return Autograd.record(out, "index_select", [x]) { g in
            // index_add: scatter_add of the rows along dd
            let z = try Tensor(zeros: shape)
            var ishape = [Int](repeating: 1, count: g.rank)
            ishape[dd] = idx.count
            let full = try idx.contiguous().reshape(ishape).expand(g.shape).contiguous()
            try z.scatterInPlace(dd, full, g.contiguous(), add: true)
            return [z]
        }
    }

    public static func gather(_ x: Tensor, dim d: Int, _ index: Tensor) throws -> Tensor {
        let out = try x.gather(d, index)
        guard Autograd.taping(x) else { return out }
        let dd = try x.dim(d, "gather"), shape = x.shape, idx = index.detached()
        return Autograd.record(out, "gather", [x]) { g in
            let z = try Tensor(zeros: shape)
            try z.scatterInPlace(dd, idx, g.contiguous(), add: true)
            return [z]
        }
    }

    public static func cat(_ ts: [Tensor], dim d: Int) throws -> Tensor {
        let out = try Tensor.cat(ts, dim: d)
        guard Autograd.enabled, ts.contains(where: { $0.requiresGrad }) else { return out }
        let dd = try out.dim(d, "cat")
        let sizes = ts.map { $0.rank > dd ? $0.shape[dd] : 0 }
        return Autograd.record(out, "cat", ts) { g in
            var at = 0
            return try sizes.map { n in
                defer { at += n }
                return n == 0 ? nil : try g.slice(dd, at, at + n).contiguous()
            }
        }
    }

    public static func stack(_ ts: [Tensor], dim d: Int) throws -> Tensor {
        let out = try Tensor.stack(ts, dim: d)
        guard Autograd.enabled, ts.contains(where: { $0.requiresGrad }) else { return out }
        let dd = try out.dim(d, "stack")
        return Autograd.record(out, "stack", ts) { g in
            try (0..<ts.count).map { try g.select(dd, $0).contiguous() }
        }
    }
}
