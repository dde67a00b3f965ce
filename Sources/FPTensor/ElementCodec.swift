import CKernels
import Foundation

/// Element encodings found in tensor files, and their conversion to fp's three dtypes:
/// floats of every width become float32, integers become int64, booleans stay bool.
enum StoredElement: String, Sendable {
    case f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, bool

    var byteSize: Int {
        switch self {
        case .i8, .u8, .bool: return 1
        case .f16, .bf16, .i16, .u16: return 2
        case .f32, .i32, .u32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// The dtype fp loads it as.
    var dtype: DType {
        switch self {
        case .f16, .bf16, .f32, .f64: return .float32
        case .bool: return .bool
        default: return .int64
        }
    }
}

enum ElementCodec {
    /// Bytes needed for `shape` elements of `kind`, or an error (prefixed with `context`) when the
    /// element count or the byte count overflows. Callers check this against the file size
    /// before anything is allocated.
    static func byteCount(_ kind: StoredElement, _ shape: [Int], _ context: String) throws -> Int {
        for s in shape where s < 0 { throw TensorError("\(context): negative dimension \(s) in shape \(fmt(shape))") }
        guard shape.count <= 64 else { throw TensorError("\(context): too many dimensions (\(shape.count))") }
        guard let n = checkedProduct(shape), let bytes = checkedMul(n, kind.byteSize) else {
            throw TensorError("\(context): shape \(fmt(shape)) has too many elements")
        }
        return bytes
    }

    /// A new contiguous tensor of `shape` decoded from the packed elements at the start of
    /// `bytes` (C order). `context` starts error messages (file and tensor names).
    static func decode(_ kind: StoredElement, bigEndian: Bool, shape: [Int],
                       from bytes: UnsafeRawBufferPointer, context: String) throws -> Tensor {
        let need = try byteCount(kind, shape, context)
        guard need <= bytes.count else {
            throw TensorError("\(context): data needs \(need) bytes, only \(bytes.count) available")
        }
        let n = need / kind.byteSize
        let out = try withErrorPrefix(context) { try Tensor.empty(shape, dtype: kind.dtype) }
        guard n > 0, let src = bytes.baseAddress else { return out }

        // The i-th stored word, byte-swapped to host order.
        @inline(__always) func word<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
            let raw = src.loadUnaligned(fromByteOffset: i &* MemoryLayout<T>.size, as: T.self)
            return bigEndian ? T(bigEndian: raw) : T(littleEndian: raw)
        }
        let hostIsLittle = 1.littleEndian == 1

        switch kind {
        case .f32:
            let d = try out.floatPointer()
            if !bigEndian && hostIsLittle { memcpy(d, src, need) }
            else { for i in 0..<n { d[i] = Float(bitPattern: word(i, UInt32.self)) } }
        case .f64:
            let d = try out.floatPointer()
            for i in 0..<n { d[i] = Float(Double(bitPattern: word(i, UInt64.self))) }
        case .f16:
            let d = try out.floatPointer()
            if !bigEndian && hostIsLittle { fpk_to_f32(src, Int32(FPK_F16), n, d) }
            else { for i in 0..<n { d[i] = HalfFloat.f16ToFloat(word(i, UInt16.self)) } }
        case .bf16:
            let d = try out.floatPointer()
            if !bigEndian && hostIsLittle { fpk_to_f32(src, Int32(FPK_BF16), n, d) }
            else { for i in 0..<n { d[i] = HalfFloat.bf16ToFloat(word(i, UInt16.self)) } }
        case .i64:
            let d = try out.intPointer()
            if !bigEndian && hostIsLittle { memcpy(d, src, need) }
            else { for i in 0..<n { d[i] = word(i, Int64.self) } }
        case .i32:
            let d = try out.intPointer()
            for i in 0..<n { d[i] = Int64(word(i, Int32.self)) }
        case .i16:
            let d = try out.intPointer()
            for i in 0..<n { d[i] = Int64(word(i, Int16.self)) }
        case .i8:
            let d = try out.intPointer()
            for i in 0..<n { d[i] = Int64(word(i, Int8.self)) }
        case .u8:
            let d = try out.intPointer()
            for i in 0..<n { d[i] = Int64(word(i, UInt8.self)) }
        case .u16:
            let d = try out.intPointer()
            for i in 0..<n { d[i] = Int64(word(i, UInt16.self)) }
        case .u32:
            let d = try out.intPointer()
            for i in 0..<n { d[i] = Int64(word(i, UInt32.self)) }
        case .u64:
            let d = try out.intPointer()
            for i in 0..<n {
                let v = word(i, UInt64.self)
                guard let x = Int64(exactly: v) else {
                    throw TensorError("\(context): uint64 value \(v) does not fit in int64")
                }
                d[i] = x
            }
        case .bool:
            // Any nonzero byte is true; stored as exactly 0/1 so later code can rely on it.
            let d = try out.boolPointer()
            for i in 0..<n { d[i] = word(i, UInt8.self) != 0 ? 1 : 0 }
        }
        return out
    }

    /// The elements of `t` in C order as little-endian bytes (float32, int64 or bool 0/1).
    static func littleEndianBytes(_ t: Tensor) throws -> Data {
        let c = try t.contiguous()
        let n = c.count
        switch c.dtype {
        case .float32:
            let p = try c.floatPointer()
            if 1.littleEndian == 1 { return Data(bytes: p, count: n * 4) }
            var d = Data(capacity: n * 4)
            for i in 0..<n { d.appendLE(p[i].bitPattern) }
            return d
        case .int64:
            let p = try c.intPointer()
            if 1.littleEndian == 1 { return Data(bytes: p, count: n * 8) }
            var d = Data(capacity: n * 8)
            for i in 0..<n { d.appendLE(p[i]) }
            return d
        case .bool:
            let p = try c.boolPointer()
            var d = Data(count: n)
            d.withUnsafeMutableBytes { (b: UnsafeMutableRawBufferPointer) in for i in 0..<n { b[i] = p[i] != 0 ? 1 : 0 } }
            return d
        }
    }
}
