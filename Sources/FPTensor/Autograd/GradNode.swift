/// Reverse-mode autograd. An operation whose inputs include a tensor that requires grad (and
/// runs while grad mode is on) records a `GradNode` on its result: the inputs and a closure that
/// maps the gradient of the result to gradients of the inputs. `Autograd.backward` walks the
/// nodes from a root in reverse topological order and accumulates `.grad` on leaves (tensors
/// that require grad and were made by no taped operation). Without a grad-requiring input
/// nothing is recorded and the plain operation runs unchanged.
public final class GradNode {
    /// Where an input's gradient goes: the node that made it (captured when this node is
    /// recorded, so a later in-place write that gives the tensor a new node does not change
    /// this graph), a leaf to accumulate into, or nowhere.
    enum Edge { case node(GradNode), leaf(Tensor), none }

    public let name: String
    let edges: [Edge]
    /// Gradient of the result -> one gradient (or nil) per input, shaped like that input.
    let backward: (Tensor) throws -> [Tensor?]
    /// Called with the gradient that reaches this node's result (backward hooks).
    var gradHooks: [(Tensor) throws -> Void] = []

    init(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name
        self.edges = inputs.map { t in
            guard t.requiresGrad else { return .none }
            if let n = t.gradNode { return .node(n) }
            return .leaf(t)
        }
        self.backward = backward
    }
}

public enum Autograd {
    /// Grad mode (off inside fp.no_grad).
    public nonisolated(unsafe) static var enabled = true
    /// How many live tensors require grad: zero means no forward pass needs a tape.
    public nonisolated(unsafe) static var liveGradTensors = 0

    /// True when an operation on these inputs must be recorded.
    @inline(__always) public static func taping(_ inputs: Tensor?...) -> Bool {
        guard enabled else { return false }
        for t in inputs where t?.requiresGrad == true { return true }
        return false
    }

    /// Marks `out` as the result of a taped operation on `inputs`.
    @discardableResult
    public static func record(_ out: Tensor, _ name: String, _ inputs: [Tensor],
                              _ backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        out.gradNode = GradNode(name, inputs, backward)
        out.requiresGrad = true
        return out
    }

    /// Runs `body` with grad mode set to `on`, restoring the previous mode afterwards.
    public static func withMode<R>(_ on: Bool, _ body: () throws -> R) rethrows -> R {
        let was = enabled
        enabled = on
        defer { enabled = was }
        return try body()
    }

    /// Adds a hook called with the gradient of `t` during backward (t must be taped or a leaf).
    public static func addGradHook(_ t: Tensor, _ hook: @escaping (Tensor) throws -> Void) throws {
        guard t.requiresGrad else { throw TensorError("backward hook: the tensor does not require grad") }
        if t.gradNode == nil {
            // a leaf: an identity node in front would not be reached; use a pass-through node
            throw TensorError("backward hook: cannot hook a leaf tensor")
        }
        t.gradNode?.gradHooks.append(hook)
    }

    /// Backpropagates from `root` (gradient `seed`, default 1 for a one-element root) and adds
    /// the gradients into `.grad` of the leaves that require grad.
    public static func backward(_ root: Tensor, _ seed: Tensor? = nil) throws {
        guard root.requiresGrad else {
            throw TensorError("backward: the tensor does not require grad (no input of the computation called requires_grad)")
        }
        let g0: Tensor
        if let seed {
            guard seed.shape == root.shape || seed.count == root.count else {
                throw TensorError("backward: gradient of shape \(fmt(seed.shape)) does not match the tensor's shape \(fmt(root.shape))")
            }
            g0 = try seed.to(.float32).contiguous().reshape(root.shape)
        } else {
            guard root.count == 1 else {
                throw TensorError("backward: a gradient argument is needed for a tensor of shape \(fmt(root.shape)) (only one-element tensors default to 1)")
            }
            g0 = try Tensor([1], shape: []).reshape(root.shape)
        }
        guard let rootNode = root.gradNode else {
            try accumulate(root, g0)
            return
        }
        // Reverse topological order of the nodes by an iterative depth-first search.
        var order: [GradNode] = []
        var seen = Set<ObjectIdentifier>([ObjectIdentifier(rootNode)])
        var stack: [(GradNode, Int)] = [(rootNode, 0)]
        while let (n, i) = stack.popLast() {
            if i < n.edges.count {
                stack.append((n, i + 1))
                if case .node(let u) = n.edges[i], !seen.contains(ObjectIdentifier(u)) {
                    seen.insert(ObjectIdentifier(u))
                    stack.append((u, 0))
                }
            } else {
                order.append(n)
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(rootNode): g0]
        try withMode(false) {
            for node in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                for h in node.gradHooks { try h(g) }
                let ins = try node.backward(g)
                for (edge, gu) in zip(node.edges, ins) {
                    guard let gu else { continue }
                    switch edge {
                    case .none: break
                    case .leaf(let t): try accumulate(t, gu)
                    case .node(let u):
                        let k = ObjectIdentifier(u)
                        if let prev = grads[k] { grads[k] = try Tensor.binary(.add, prev, gu) } else { grads[k] = gu }
                    }
                }
            }
        }
    }

    /// Adds `g` (summed to the leaf's shape) into `t.grad`.
    static func accumulate(_ t: Tensor, _ g: Tensor) throws {
        let gg = try sumToShape(g, t.shape)
        t.grad = try withMode(false) { try t.grad.map { try Tensor.binary(.add, $0, gg) } ?? gg.contiguous().clone() }
    }

    /// Sums a broadcast gradient back to `shape` (the inverse of broadcasting).
    public static func sumToShape(_ g: Tensor, _ shape: [Int]) throws -> Tensor {
        if g.shape == shape { return g }
        var r = g
        let extra = r.rank - shape.count
        if extra > 0 { r = try r.reduce(.sum, dims: Array(0..<extra)) }
        let dims = (0..<shape.count).filter { shape[$0] == 1 && r.shape[$0] != 1 }
        if !dims.isEmpty { r = try r.reduce(.sum, dims: dims, keepdim: true) }
        guard r.shape == shape else {
            throw TensorError("backward: cannot reduce a gradient of shape \(fmt(g.shape)) to \(fmt(shape))")
        }
        return r
    }
}

extension Tensor {
    /// A tensor sharing this one's memory with no autograd history.
    public func detached() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    public var isLeaf: Bool { gradNode == nil }
}

/// A tensor kept for a backward rule. Before a taped or plain in-place write into memory that a
/// saved tensor uses (`Autograd.willWrite`), the saved tensor is replaced by a copy of its
/// current values, so backward sees the values the forward pass used (torch raises an error
/// here instead).
public final class SavedTensor {
    public private(set) var value: Tensor
    init(_ t: Tensor) { value = t.detached() }
    func preserve() throws { value = try value.clone() }
}

private final class WeakSaved { weak var ref: SavedTensor?; init(_ s: SavedTensor) { ref = s } }

extension Autograd {
    /// Saved tensors by the base address of their storage.
    nonisolated(unsafe) private static var saved: [UnsafeMutableRawPointer: [WeakSaved]] = [:]
    nonisolated(unsafe) private static var registrations = 0

    static func save(_ t: Tensor) -> SavedTensor {
        let s = SavedTensor(t)
        // reading the address is no write: a saved weight keeps its reordered copy (WeightPack)
        guard let key = try? UnsafeMutableRawPointer(mutating: t.storage.rawForReading()) else { return s }
        saved[key, default: []].append(WeakSaved(s))
        registrations += 1
        if registrations >= 4096 {
            // drop entries whose backward rules are gone
            registrations = 0
            saved = saved.compactMapValues { l in
                let alive = l.filter { $0.ref != nil }
                return alive.isEmpty ? nil : alive
            }
        }
        return s
    }

    /// Call before writing into `t`'s memory in place.
    public static func willWrite(_ t: Tensor) throws {
        guard !saved.isEmpty, let key = try? t.storage.raw(), let list = saved.removeValue(forKey: key) else { return }
        for w in list { try w.ref?.preserve() }
    }
}
