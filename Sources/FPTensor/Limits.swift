import Foundation

/// Run limits that a script cannot lift: a cap on live tensor bytes (`fp run --max-memory`)
/// and a cancellation check that long Swift loops call (Ctrl-C, `--timeout`).
public enum Limits {
    /// Live tensor bytes allowed (nil: no limit beyond the machine's memory).
    public nonisolated(unsafe) static var maxTensorBytes: Int? = nil
    /// Called once before a too-large allocation fails (the Lua bridge runs a full GC here,
    /// so tensors that are already garbage do not count against the limit).
    public nonisolated(unsafe) static var reclaim: (() -> Void)? = nil
    /// Why the run must stop ("interrupted", "timeout after 2 s"), or nil to go on. The Lua
    /// bridge sets it to read the flags that SIGINT and the timeout timer set.
    public nonisolated(unsafe) static var cancelReason: () -> String? = { nil }

    /// Throws when Ctrl-C or the timeout asked the run to stop. One call per layer, per token,
    /// per batch: cheap (a flag read).
    @inline(__always) public static func checkCancel() throws {
        if let reason = cancelReason() { throw TensorError(reason) }
    }

    /// Throws "out of tensor memory" when `bytes` more would exceed the limit.
    static func reserve(_ bytes: Int) throws {
        guard let limit = maxTensorBytes else { return }
        if Storage.liveBytes + bytes <= limit { return }
        reclaim?()
        guard Storage.liveBytes + bytes > limit else { return }
        // (the limit sits before the colon so the Lua bridge still prefixes the function name)
        throw TensorError("out of tensor memory (limit \(Storage.describe(bytes: limit))): requested \(Storage.describe(bytes: bytes)) with \(Storage.describe(bytes: Storage.liveBytes)) in use (fp run --max-memory SIZE)")
    }

    /// "512M", "2G", "1.5g", "100000" (bytes), "64K" as a byte count; nil if malformed.
    public static func parseSize(_ s: String) -> Int? {
        var text = s.trimmingCharacters(in: .whitespaces).uppercased()
        if text.hasSuffix("B") { text.removeLast() }
        var mult = 1.0
        if let last = text.last, let m = ["K": 1024.0, "M": 1048576.0, "G": 1073741824.0, "T": 1099511627776.0][String(last)] {
            mult = m
            text.removeLast()
        }
        guard let v = Double(text), v.isFinite, v > 0, v * mult < 9e18 else { return nil }
        return Int(v * mult)
    }
}
