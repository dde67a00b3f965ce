import FPTensor
import Foundation

/// Maps fresh memory in one call before it is written. A loaded model's float32 weights are
/// gigabytes of new anonymous pages; touched one by one, each 4 KiB page costs the kernel a
/// page fault, and asking for all of a range at once (MADV_POPULATE_WRITE, Linux 5.14) takes a
/// third less system time here (docs/performance.md, "Loading"). Only a hint: if the kernel
/// refuses, the pages fault in as they are written. It never changes the memory's contents,
/// so a range that shares pages with other data is safe.
enum Prefault {
    static let page = max(1, Int(sysconf(Int32(_SC_PAGESIZE))))
    /// Below this, the pages are likely mapped already (heap) and a system call costs more.
    static let minBytes = 1 << 16

    static func write(_ p: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= minBytes else { return }
        let start = UInt(bitPattern: p), pageSize = UInt(page)
        let lo = start / pageSize * pageSize
        let hi = (start + UInt(bytes) + pageSize - 1) / pageSize * pageSize
        guard let base = UnsafeMutableRawPointer(bitPattern: lo) else { return }
        _ = madvise(base, Int(hi - lo), MADV_POPULATE_WRITE)
    }

    /// `bytes` at p in chunks spread over the cores (the kernel zero-fills each page it maps).
    static func writeParallel(_ p: UnsafeMutableRawPointer, bytes: Int, chunk: Int = 8 << 20) {
        guard bytes >= minBytes else { return }
        let n = (bytes + chunk - 1) / chunk
        if n == 1 { write(p, bytes: bytes); return }
        ParallelFor.run(n) { i in write(p + i * chunk, bytes: min(chunk, bytes - i * chunk)) }
    }
}
