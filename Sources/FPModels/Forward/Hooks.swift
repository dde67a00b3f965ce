import FPTensor

/// Receives activations at named hook points during a forward pass. The Lua bridge implements
/// it; `wants` is asked first so that unhooked points cost nothing.
public protocol HookDispatcher: AnyObject {
    func wants(_ name: String) -> Bool
    /// Called with the live activation; may edit it in place or return a replacement.
    func fire(_ name: String, layer: Int?, _ act: Tensor) throws -> Tensor?
}

extension HookDispatcher {
    /// Runs the hooks for `name` on `act`: they see a view that expires when they return
    /// (buffers are reused), and a returned tensor is written into the live activation.
    func run(_ name: String, layer: Int?, _ act: Tensor) throws {
        guard wants(name) else { return }
        let view = try act.borrowedView(expiry: "the activation of hook '\(name)' was used after its hook returned (buffers are reused); keep it with act:clone()")
        defer { view.storage.invalidate(view.storage.expiryMessage ?? "expired hook view") }
        if let replacement = try fire(name, layer: layer, view) {
            guard replacement.shape == act.shape else {
                throw TensorError("hook '\(name)' returned a tensor of shape \(replacement.shape), expected \(act.shape)")
            }
            try act.copyFrom(replacement)
        }
    }
}

extension Tensor {
    /// A view of the same memory through a separate Storage that can be invalidated on its own.
    func borrowedView(expiry: String) throws -> Tensor {
        let raw = try storage.raw()
        let s = Storage(borrowing: raw, count: storage.count, dtype: dtype, owner: storage)
        s.expiryMessage = expiry
        return Tensor(storage: s, shape: shape, strides: strides, offset: offset)
    }
}
