import Foundation
import Synchronization

/// A flat buffer of elements shared by a tensor and its views. Storage is freed when the last
/// tensor referencing it goes away, or at once with `free()`; afterwards every access through
/// any view throws instead of touching released memory.
public final class Storage {
    /// Live bytes of all storages (what `fp.memory()` reports).
    public nonisolated(unsafe) private(set) static var liveBytes = 0
    /// Bytes allocated since the Lua bridge last asked (it steps Lua's GC by this much).
    public nonisolated(unsafe) static var allocatedSinceCheck = 0
    /// Upper bound for one allocation, so a lying size never reaches malloc.
    /// Defaults to the machine's physical memory: Linux overcommits, so a larger request would
    /// "succeed" and then get the process killed when the memory is touched.
    public nonisolated(unsafe) static var maxAllocationBytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)

    nonisolated(unsafe) static let emergencyCell = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 64)

    /// "1.5 GB" style sizes for messages.
    public static func describe(bytes: Int) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(bytes) bytes" : String(format: "%.1f", v) + " " + units[u]
    }

    /// Memory held on behalf of storages outside their buffers (oneDNN's reordered weights):
    /// counted as live so `fp.memory()` and --max-memory see it.
    static func addDerivedBytes(_ bytes: Int) {
        liveBytes += bytes
        if bytes > 0 { allocatedSinceCheck += bytes }
    }

    public let dtype: DType
    public let count: Int
    public let byteCount: Int
    /// Dangling once released: every access goes through `raw()`, which checks `released`.
    private let base: UnsafeMutableRawPointer
    private var released = false
    /// Non-nil for storage that borrows memory (a memory-mapped file); kept alive with it.
    private let owner: AnyObject?
    /// Why this storage can no longer be used (freed, or an expired hook view).
    public private(set) var invalidReason: String?
    /// The message to use when a borrowed view expires (set by whoever lends it).
    public var expiryMessage: String?
    /// Counts accesses that may write: `raw()` bumps it (every mutation path goes through it),
    /// `rawForReading()` does not. Copies derived from the contents (oneDNN's reordered
    /// weights) are valid while it is unchanged.
    private let versionCounter = Atomic<UInt64>(0)
    public var version: UInt64 { versionCounter.load(ordering: .relaxed) }
    /// Reordered copies of weight matrices in this storage (WeightPack), freed with it.
    var packs: [WeightPackKey: WeightPack] = [:]

    public init(count: Int, dtype: DType, zeroed: Bool = true) throws {
        guard count >= 0 else { throw TensorError("cannot allocate a negative number of elements (\(count))") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes <= Storage.maxAllocationBytes else {
            throw TensorError("cannot allocate \(count) elements of \(dtype.rawValue) (\(Storage.describe(bytes: overflow ? Int.max : bytes))): more than the \(Storage.describe(bytes: Storage.maxAllocationBytes)) limit")
        }
        try Limits.reserve(bytes)
        var raw = BufferCache.take(bytes)
        if raw == nil, posix_memalign(&raw, 64, max(bytes, 1)) != 0 {
            // the kept buffers may be what stands in the way
            BufferCache.purge()
            if posix_memalign(&raw, 64, max(bytes, 1)) != 0 { raw = nil }
        }
        guard let p = raw else {
            throw TensorError("out of memory allocating \(Storage.describe(bytes: bytes))")
        }
        if zeroed { memset(p, 0, max(bytes, 1)) }
        self.base = p
        self.dtype = dtype
        self.count = count
        self.byteCount = bytes
        self.owner = nil
        Storage.liveBytes += bytes
        Storage.allocatedSinceCheck += bytes
    }

    /// One element, for scalars (cannot fail the size checks).
    init(scalarOf dtype: DType) {
        // A failed 8-byte allocation means the process is already lost; fall back to a static cell.
        var raw: UnsafeMutableRawPointer?
        _ = posix_memalign(&raw, 64, 8)
        let p = raw ?? Storage.emergencyCell
        memset(p, 0, 8)
        self.base = p
        self.dtype = dtype
        self.count = 1
        self.byteCount = dtype.byteSize
        self.owner = nil
        Storage.liveBytes += byteCount
        Storage.allocatedSinceCheck += byteCount
    }

    /// Borrows `count` elements at `pointer`, keeping `owner` alive (e.g. a mapped file).
    public init(borrowing pointer: UnsafeMutableRawPointer, count: Int, dtype: DType, owner: AnyObject) {
        self.base = pointer
        self.dtype = dtype
        self.count = count
        self.byteCount = count * dtype.byteSize
        self.owner = owner
    }

    deinit { release() }

    private func release() {
        guard !released else { return }
        released = true
        packs.removeAll()
        if owner == nil {
            if base != Storage.emergencyCell, !BufferCache.keep(base, bytes: byteCount) { Foundation.free(base) }
            Storage.liveBytes -= byteCount
        }
    }

    /// Releases the memory now; later use of any view of it is an error.
    public func free() {
        release()
        if invalidReason == nil { invalidReason = "tensor was freed (t:free() or <close>)" }
    }

    /// Marks the storage unusable without releasing it (e.g. a hook's activation view that expired).
    public func invalidate(_ reason: String) { invalidReason = reason }

    public var isValid: Bool { !released && invalidReason == nil }

    /// The raw memory, or an error if the storage was freed or invalidated. The caller may
    /// write through it, so the version changes.
    @inline(__always) public func raw() throws -> UnsafeMutableRawPointer {
        guard !released, invalidReason == nil else {
            throw TensorError(invalidReason ?? "tensor was freed")
        }
        versionCounter.add(1, ordering: .relaxed)
        return base
    }

    /// The raw memory for a caller that only reads it (the version stays).
    @inline(__always) public func rawForReading() throws -> UnsafeRawPointer {
        guard !released, invalidReason == nil else {
            throw TensorError(invalidReason ?? "tensor was freed")
        }
        return UnsafeRawPointer(base)
    }

    /// For storage the caller just allocated (known valid).
    @inline(__always) func fresh<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        base.assumingMemoryBound(to: T.self)
    }
}
