import Foundation

/// Run limits that a script cannot lift: a cap on live memory (`fp run --max-memory`: tensor
/// storage, fp's own buffers sized by the script, and Lua's heap together) and a cancellation
/// check that long Swift loops call (Ctrl-C, `--timeout`).
public enum Limits {
    /// Live bytes allowed (nil: no limit beyond the machine's memory).
    public nonisolated(unsafe) static var maxTensorBytes: Int? = nil
    /// Live bytes of Lua's heap (set by the Lua bridge; counted against the same limit).
    public nonisolated(unsafe) static var luaHeapBytes: () -> Int = { 0 }
    /// Without --max-memory, Lua's heap alone may grow to half the machine's memory: a string or
    /// table bomb then ends in Lua's "not enough memory" instead of the OS killing fp.
    public static let defaultLuaHeapCap = Int(clamping: ProcessInfo.processInfo.physicalMemory / 2)
    /// fp's own temporary buffers sized by the script (index lists, printed text, ...) that
    /// are live right now: see `withReserved`.
    public nonisolated(unsafe) private(set) static var bufferBytes = 0

    /// Everything that counts against --max-memory.
    public static var usedBytes: Int { Storage.liveBytes + bufferBytes + luaHeapBytes() }

    /// Bytes Lua's heap may reach right now (the allocator asks at each growth).
    public static func luaHeapCap() -> Int {
        guard let limit = maxTensorBytes else { return defaultLuaHeapCap }
        return Swift.max(0, limit - Storage.liveBytes - bufferBytes)
    }
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
    public static func reserve(_ bytes: Int) throws {
        guard let limit = maxTensorBytes else { return }
        if bytes <= limit - usedBytes { return }
        reclaim?()
        guard bytes > limit - usedBytes else { return }
        // (the limit sits before the colon so the Lua bridge still prefixes the function name)
        throw TensorError("out of tensor memory (limit \(Storage.describe(bytes: limit))): requested \(Storage.describe(bytes: bytes)) with \(Storage.describe(bytes: usedBytes)) in use (fp run --max-memory SIZE)")
    }

    /// Runs `body` with `bytes` counted against the limit while it runs: for fp's own
    /// temporary buffers whose size the script chooses (`[Int](repeating:count:)`, text).
    /// Also refuses sizes beyond the machine's memory when there is no limit.
    public static func withReserved<R>(_ bytes: Int, _ body: () throws -> R) throws -> R {
        guard bytes >= 0, bytes <= Storage.maxAllocationBytes else {
            throw TensorError("cannot allocate \(Storage.describe(bytes: Swift.max(bytes, 0))) (more than the \(Storage.describe(bytes: Storage.maxAllocationBytes)) limit)")
        }
        try reserve(bytes)
        bufferBytes += bytes
        defer { bufferBytes -= bytes }
        return try body()
    }

    /// Throws when Lua's heap has no room for `bytes` more: for Swift code about to build a Lua
    /// value whose size the script chose (tolist, token lists). Lua's allocator would refuse it
    /// past the cap, and that refusal must not happen inside a Swift frame.
    public static func checkLuaRoom(_ bytes: Int) throws {
        if bytes <= luaHeapCap() - luaHeapBytes() { return }
        reclaim?()
        let room = luaHeapCap() - luaHeapBytes()
        guard bytes > room else { return }
        throw TensorError("the result needs about \(Storage.describe(bytes: bytes)) of Lua memory, more than the \(Storage.describe(bytes: Swift.max(room, 0))) left" + (maxTensorBytes != nil ? " (fp run --max-memory SIZE)" : ""))
    }

    /// Throws unless `bytes` more would fit: a check before fp builds buffers whose size the
    /// script chose and that live for one call (token lists of many prompts).
    public static func check(_ bytes: Int) throws { try withReserved(bytes) {} }

    /// Bytes of `count` elements of `size` bytes, saturating (a huge count then fails the check).
    public static func bytes(_ count: Int, _ size: Int) -> Int {
        let (b, o) = Swift.max(count, 0).multipliedReportingOverflow(by: size)
        return o ? Int.max : b
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
