import Foundation
import Synchronization

/// Recently freed tensor buffers, kept for the next allocation of the same size. A forward pass
/// allocates the same sizes layer after layer and pass after pass; without reuse, glibc hands
/// multi-megabyte buffers back to the kernel when they are freed, and every new one costs a
/// page fault and a cleared page per 4 KB (7% of a 512-token SmolLM2 forward, AMD EPYC Zen 4).
/// Bounded: at most `capacity` bytes are kept, oldest dropped first; none under --max-memory
/// (Limits.maxTensorBytes), so that limit keeps counting live tensors only.
enum BufferCache {
    /// Smaller buffers come from malloc's own free lists.
    static let minBytes = 128 << 10
    /// 256 MB, or 1/32 of the machine's memory if that is less.
    static let capacity = Swift.min(256 << 20, Int(clamping: ProcessInfo.processInfo.physicalMemory / 32))

    private struct State {
        var bySize: [Int: [UnsafeMutableRawPointer]] = [:]
        var order: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []   // oldest first
        var bytes = 0
    }
    private static let state = Mutex(State())

    /// A kept buffer of exactly `bytes` bytes (64-byte aligned, contents undefined), or nil.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= minBytes else { return nil }
        return state.withLock { s in
            guard let p = s.bySize[bytes]?.popLast() else { return nil }
            if s.bySize[bytes]?.isEmpty == true { s.bySize[bytes] = nil }   // sizes seen once do not pile up
            if let i = s.order.lastIndex(where: { $0.pointer == p }) { s.order.remove(at: i) }
            s.bytes -= bytes
            return p
        }
    }

    /// Keeps `pointer` (from posix_memalign, `bytes` long) for reuse, freeing older buffers to
    /// make room; false when it is not kept (the caller frees it).
    static func keep(_ pointer: UnsafeMutableRawPointer, bytes: Int) -> Bool {
        guard bytes >= minBytes, bytes <= capacity, Limits.maxTensorBytes == nil else { return false }
        var drop: [UnsafeMutableRawPointer] = []
        state.withLock { s in
            while s.bytes + bytes > capacity, !s.order.isEmpty {
                let old = s.order.removeFirst()
                if let i = s.bySize[old.bytes]?.lastIndex(of: old.pointer) { s.bySize[old.bytes]?.remove(at: i) }
                if s.bySize[old.bytes]?.isEmpty == true { s.bySize[old.bytes] = nil }
                s.bytes -= old.bytes
                drop.append(old.pointer)
            }
            s.bySize[bytes, default: []].append(pointer)
            s.order.append((bytes, pointer))
            s.bytes += bytes
        }
        for p in drop { free(p) }
        return true
    }

    /// Frees every kept buffer.
    static func purge() {
        let all = state.withLock { s -> [UnsafeMutableRawPointer] in
            let ps = s.order.map(\.pointer)
            s = State()
            return ps
        }
        for p in all { free(p) }
    }

    /// Bytes kept right now.
    static var bytes: Int { state.withLock { $0.bytes } }
}
