import Foundation

// Bounds-checked access to untrusted bytes (file contents). Every file-format parser reads
// through these so that a lying offset or length becomes an error, never a read out of bounds.

extension UnsafeRawBufferPointer {
    /// The little-endian integer at byte `offset`, or nil when it does not fit in the buffer.
    func loadLE<T: FixedWidthInteger>(at offset: Int, as: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, count >= size, offset <= count - size else { return nil }
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The `length` bytes at `start`, or nil when they are not all inside the buffer.
    func bytes(at start: Int, count length: Int) -> UnsafeRawBufferPointer? {
        guard start >= 0, length >= 0, start <= count, length <= count - start else { return nil }
        return UnsafeRawBufferPointer(rebasing: self[start..<(start + length)])
    }

    /// True when the buffer holds `prefix` at `offset`.
    func hasBytes(_ prefix: [UInt8], at offset: Int) -> Bool {
        guard let b = bytes(at: offset, count: prefix.count) else { return false }
        return b.elementsEqual(prefix)
    }
}

extension Data {
    /// Appends `v` in little-endian byte order.
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}

/// a + b, or nil on overflow.
@inline(__always) func checkedAdd(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}

/// a * b, or nil on overflow.
@inline(__always) func checkedMul(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}

extension TensorError {
    /// The same error with `prefix: ` in front (to add a function or file name on the way up).
    func prefixed(_ prefix: String) -> TensorError { TensorError("\(prefix): \(message)") }
}

/// Runs `body`, adding `prefix` to any TensorError it throws (other errors become TensorErrors).
func withErrorPrefix<R>(_ prefix: String, _ body: () throws -> R) throws -> R {
    do { return try body() }
    catch let e as TensorError { throw e.prefixed(prefix) }
    catch { throw TensorError("\(prefix): \(error)") }
}
