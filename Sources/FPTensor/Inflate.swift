/// A decoder for raw DEFLATE streams (RFC 1951: stored, fixed-Huffman and dynamic-Huffman
/// blocks), used for compressed .npz entries. The input is untrusted: every code, length and
/// distance is validated, and the output is bounded by the size the archive declares, so a
/// corrupt or malicious stream ends in a thrown error, never in a crash or unbounded memory.
enum Inflate {
    /// The largest ratio DEFLATE can reach (a 258-byte match coded in 2 bits). A declared
    /// size beyond `compressed * maxRatio` cannot be honest, so callers reject it before
    /// allocating the output.
    static let maxRatio = 1032

    /// Decodes `input`, which must produce exactly `expectedSize` bytes.
    static func inflate(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        guard expectedSize >= 0 else { throw TensorError("negative output size \(expectedSize)") }
        var out = [UInt8](repeating: 0, count: expectedSize)
        var reader = BitReader(bytes: input)
        let produced = try out.withUnsafeMutableBufferPointer { buf -> Int in
            var op = 0   // bytes written so far
            var final = false
            while !final {
                final = try reader.bits(1) == 1
                switch try reader.bits(2) {
                case 0: try storedBlock(&reader, buf, &op)
                case 1:
                    guard let (lit, dist) = fixedCodes else { throw TensorError("internal error: fixed Huffman codes") }
                    try huffmanBlock(&reader, lit, dist, buf, &op)
                case 2:
                    let (lit, dist) = try dynamicCodes(&reader)
                    try huffmanBlock(&reader, lit, dist, buf, &op)
                default: throw TensorError("invalid block type 3")
                }
            }
            return op
        }
        guard produced == expectedSize else {
            throw TensorError("stream inflates to \(produced) bytes, expected \(expectedSize)")
        }
        return out
    }

    // MARK: blocks

    private static func storedBlock(_ r: inout BitReader, _ out: UnsafeMutableBufferPointer<UInt8>, _ op: inout Int) throws {
        r.alignToByte()
        let len = Int(try r.bits(16)), nlen = Int(try r.bits(16))
        guard len == (~nlen & 0xffff) else { throw TensorError("stored block length \(len) does not match its complement") }
        guard len <= out.count - op else { throw TensorError("stream inflates to more than the declared \(out.count) bytes") }
        try r.copyBytes(len, to: out, at: op)
        op += len
    }

    private static func huffmanBlock(_ r: inout BitReader, _ lit: Huffman, _ dist: Huffman,
                                     _ out: UnsafeMutableBufferPointer<UInt8>, _ op: inout Int) throws {
        let size = out.count
        while true {
            let sym = try lit.decode(&r)
            if sym < 256 {
                guard op < size else { throw TensorError("stream inflates to more than the declared \(size) bytes") }
                out[op] = UInt8(sym)
                op += 1
                continue
            }
            if sym == 256 { return }                                    // end of block
            let li = sym - 257
            guard li < lengthBase.count else { throw TensorError("invalid length symbol \(sym)") }
            let length = lengthBase[li] + Int(try r.bits(lengthExtra[li]))
            let ds = try dist.decode(&r)
            guard ds < distBase.count else { throw TensorError("invalid distance symbol \(ds)") }
            let distance = distBase[ds] + Int(try r.bits(distExtra[ds]))
            guard distance <= op else { throw TensorError("distance \(distance) reaches before the start of the output") }
            guard length <= size - op else { throw TensorError("stream inflates to more than the declared \(size) bytes") }
            // Byte by byte: source and destination overlap when distance < length (run-length).
            var from = op - distance
            for _ in 0..<length { out[op] = out[from]; op += 1; from += 1 }
        }
    }

    /// Reads a dynamic block's code-length header and builds its two codes.
    private static func dynamicCodes(_ r: inout BitReader) throws -> (Huffman, Huffman) {
        let hlit = Int(try r.bits(5)) + 257, hdist = Int(try r.bits(5)) + 1, hclen = Int(try r.bits(4)) + 4
        guard hlit <= 286, hdist <= 30 else { throw TensorError("too many length or distance codes (\(hlit), \(hdist))") }
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var clen = [UInt8](repeating: 0, count: 19)
        for i in 0..<hclen { clen[order[i]] = UInt8(try r.bits(3)) }
        let clCode = try Huffman(lengths: clen[...])

        let total = hlit + hdist
        var lengths = [UInt8](repeating: 0, count: total)
        var i = 0
        while i < total {
            let sym = try clCode.decode(&r)
            var value: UInt8 = 0, repeatCount = 1
            switch sym {
            case 0..<16: value = UInt8(sym)
            case 16:
                guard i > 0 else { throw TensorError("repeat code with no previous length") }
                value = lengths[i - 1]; repeatCount = 3 + Int(try r.bits(2))
            case 17: repeatCount = 3 + Int(try r.bits(3))
            case 18: repeatCount = 11 + Int(try r.bits(7))
            default: throw TensorError("invalid code-length symbol \(sym)")
            }
            guard repeatCount <= total - i else { throw TensorError("code lengths run past the \(total) codes") }
            for _ in 0..<repeatCount { lengths[i] = value; i += 1 }
        }
        guard lengths[256] != 0 else { throw TensorError("dynamic block has no end-of-block code") }
        return (try Huffman(lengths: lengths[0..<hlit]), try Huffman(lengths: lengths[hlit...]))
    }

    /// The fixed codes of RFC 1951 section 3.2.6 (built once).
    private static let fixedCodes: (Huffman, Huffman)? = {
        var lit = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { lit[i] = 9 }
        for i in 256..<280 { lit[i] = 7 }
        let dist = [UInt8](repeating: 5, count: 32)   // codes 30 and 31 exist but are invalid
        guard let l = try? Huffman(lengths: lit[...]), let d = try? Huffman(lengths: dist[...]) else { return nil }
        return (l, d)
    }()

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                     35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                      3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                   257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                   8193, 12289, 16385, 24577]
    private static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                    7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
}

/// Reads bits least-significant first, as DEFLATE packs them.
private struct BitReader {
    let bytes: UnsafeRawBufferPointer
    var pos = 0                 // next byte to move into `buffer`
    var buffer: UInt64 = 0      // pending bits, the next one in bit 0
    var available = 0           // number of valid bits in `buffer`

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func refill() {
        while available <= 56 && pos < bytes.count {
            buffer |= UInt64(bytes[pos]) << UInt64(available)
            pos += 1
            available += 8
        }
    }

    /// The next `n` (<= 32) bits as a number.
    mutating func bits(_ n: Int) throws -> UInt32 {
        if n == 0 { return 0 }
        if available < n {
            refill()
            guard available >= n else { throw TensorError("deflate stream is truncated") }
        }
        let v = UInt32(truncatingIfNeeded: buffer & ((1 << UInt64(n)) - 1))
        buffer >>= UInt64(n)
        available -= n
        return v
    }

    /// The next `n` bits without consuming them; bits past the end of the input read as 0.
    mutating func peek(_ n: Int) -> Int {
        if available < n { refill() }
        return Int(truncatingIfNeeded: buffer & ((1 << UInt64(n)) - 1))
    }

    mutating func consume(_ n: Int) throws {
        guard n <= available else { throw TensorError("deflate stream is truncated") }
        buffer >>= UInt64(n)
        available -= n
    }

    mutating func alignToByte() {
        let drop = available % 8
        buffer >>= UInt64(drop)
        available -= drop
    }

    /// Copies `n` whole bytes (after `alignToByte`) into `out` at `at`.
    mutating func copyBytes(_ n: Int, to out: UnsafeMutableBufferPointer<UInt8>, at: Int) throws {
        // Give back the whole bytes still held in the bit buffer, then copy straight from the input.
        pos -= available / 8
        buffer = 0
        available = 0
        guard n <= bytes.count - pos else { throw TensorError("deflate stream is truncated") }
        guard n > 0 else { return }
        for k in 0..<n { out[at + k] = bytes[pos + k] }
        pos += n
    }
}

/// A canonical Huffman code decoded with one table lookup: the table is indexed by the next
/// `maxLength` input bits and holds (symbol << 4 | code length), 0 for bit patterns that
/// are not a code (possible when the code is incomplete; reaching one is an error).
private struct Huffman {
    let table: [UInt16]
    let maxLength: Int

    init(lengths: ArraySlice<UInt8>) throws {
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[Int(l)] += 1 }   // lengths are < 16 by construction
        counts[0] = 0
        // Kraft check: more codes of a length than the tree has room for is corrupt.
        var room = 1
        for len in 1...15 {
            room = room * 2 - counts[len]
            guard room >= 0 else { throw TensorError("over-subscribed Huffman code") }
        }
        let maxLength = (1...15).last { counts[$0] > 0 } ?? 0
        var next = [Int](repeating: 0, count: 16)   // first code of each length (RFC 1951 3.2.2)
        var code = 0
        for len in 1...15 {
            code = (code + counts[len - 1]) << 1
            next[len] = code
        }
        var table = [UInt16](repeating: 0, count: 1 << maxLength)
        for (symbol, l) in zip(0..., lengths) where l > 0 {
            let len = Int(l)
            let c = next[len]
            next[len] += 1
            // Codes are sent most-significant bit first, the reader yields bits LSB first.
            var reversed = 0
            for b in 0..<len where c & (1 << b) != 0 { reversed |= 1 << (len - 1 - b) }
            let entry = UInt16(symbol << 4 | len)
            var i = reversed
            while i < table.count { table[i] = entry; i += 1 << len }
        }
        self.table = table
        self.maxLength = maxLength
    }

    func decode(_ r: inout BitReader) throws -> Int {
        let entry = table[r.peek(maxLength)]
        let len = Int(entry & 15)
        guard len != 0 else { throw TensorError("invalid Huffman code") }
        try r.consume(len)
        return Int(entry >> 4)
    }
}
