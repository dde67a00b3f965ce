import Foundation

/// NumPy's .npz format: a zip archive whose entries are .npy files (`np.savez` stores them,
/// `np.savez_compressed` deflates them). Reading handles stored and deflated entries and zip64
/// records (numpy always writes zip64 extra fields); entries are returned in archive order with
/// the ".npy" suffix removed. Writing produces an uncompressed archive.
public enum NPZ {
    // zip record signatures (APPNOTE.TXT)
    static let localSig: UInt32 = 0x0403_4b50
    static let centralSig: UInt32 = 0x0201_4b50
    static let endSig: UInt32 = 0x0605_4b50
    static let end64Sig: UInt32 = 0x0606_4b50
    static let end64LocatorSig: UInt32 = 0x0706_4b50

    public static func read(data: Data, name: String) throws -> [(String, Tensor)] {
        try data.withUnsafeBytes { try read(bytes: $0, name: name) }
    }

    /// One central-directory record.
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localOffset: Int
    }

    static func read(bytes: UnsafeRawBufferPointer, name: String) throws -> [(String, Tensor)] {
        let q = "'\(name)'"
        let entries = try centralDirectory(bytes, q).filter { !$0.name.hasSuffix("/") }   // skip directories
        // Entries whose bytes overlap would let a small file expand into many copies of the same
        // data (a known zip bomb): every entry must own its local header and data.
        var spans: [(Range<Int>, String)] = []
        for e in entries {
            let data = try dataRange(bytes, e, "\(q): entry '\(e.name)'")
            spans.append((e.localOffset..<data.upperBound, e.name))
        }
        spans.sort { $0.0.lowerBound < $1.0.lowerBound }
        for (a, b) in zip(spans, spans.dropFirst()) where b.0.lowerBound < a.0.upperBound {
            throw TensorError("\(q): entries '\(a.1)' and '\(b.1)' overlap")
        }
        var result: [(String, Tensor)] = []
        for entry in entries {
            let eq = "\(q): entry '\(entry.name)'"
            let tensor = try withEntryBytes(bytes, entry, eq) { try NPY.read(bytes: $0, name: "\(name)/\(entry.name)") }
            let key = entry.name.hasSuffix(".npy") ? String(entry.name.dropLast(4)) : entry.name
            result.append((key, tensor))
        }
        return result
    }

    /// Finds the end-of-central-directory record and parses the entries it points to.
    static func centralDirectory(_ b: UnsafeRawBufferPointer, _ q: String) throws -> [Entry] {
        // The end record (22 bytes + a comment of up to 64 KiB) is found by scanning backwards.
        var endPos = -1
        var p = b.count - 22
        while p >= 0 && p >= b.count - 22 - 0xffff {
            if b.loadLE(at: p, as: UInt32.self) == endSig,
               let commentLength = b.loadLE(at: p + 20, as: UInt16.self), p + 22 + Int(commentLength) <= b.count {
                endPos = p
                break
            }
            p -= 1
        }
        guard endPos >= 0 else {
            if b.loadLE(at: 0, as: UInt32.self) == localSig {
                throw TensorError("\(q): truncated or corrupt zip archive (no end of central directory record)")
            }
            throw TensorError("\(q): not a zip archive (.npz)")
        }
        func u16(_ at: Int) -> Int { Int(b.loadLE(at: at, as: UInt16.self) ?? 0) }
        func u32(_ at: Int) -> Int { Int(b.loadLE(at: at, as: UInt32.self) ?? 0) }
        guard u16(endPos + 4) == 0 || u16(endPos + 4) == 0xffff, u16(endPos + 6) == 0 || u16(endPos + 6) == 0xffff else {
            throw TensorError("\(q): multi-volume zip archives are not supported")
        }
        var count = u16(endPos + 10), dirSize = u32(endPos + 12), dirOffset = u32(endPos + 16)

        // zip64: a locator just before the end record points to the zip64 end record.
        if endPos >= 20, b.loadLE(at: endPos - 20, as: UInt32.self) == end64LocatorSig {
            guard let at64 = b.loadLE(at: endPos - 12, as: UInt64.self).flatMap({ Int(exactly: $0) }),
                  b.loadLE(at: at64, as: UInt32.self) == end64Sig,
                  let c = b.loadLE(at: at64 + 32, as: UInt64.self).flatMap({ Int(exactly: $0) }),
                  let s = b.loadLE(at: at64 + 40, as: UInt64.self).flatMap({ Int(exactly: $0) }),
                  let o = b.loadLE(at: at64 + 48, as: UInt64.self).flatMap({ Int(exactly: $0) }) else {
                throw TensorError("\(q): corrupt zip64 end of central directory record")
            }
            count = c; dirSize = s; dirOffset = o
        }
        guard let dirEnd = checkedAdd(dirOffset, dirSize), dirEnd <= b.count else {
            throw TensorError("\(q): central directory (offset \(dirOffset), \(dirSize) bytes) runs past the end of the file (\(b.count) bytes)")
        }
        // Each record takes at least 46 bytes: a lying count fails here, before any allocation.
        guard count <= dirSize / 46 else {
            throw TensorError("\(q): zip claims \(count) entries but its central directory has only \(dirSize) bytes")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var at = dirOffset
        for i in 0..<count {
            guard at <= dirEnd - 46, b.loadLE(at: at, as: UInt32.self) == centralSig else {
                throw TensorError("\(q): corrupt central directory (record \(i))")
            }
            let nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32)
            guard let nameBytes = b.bytes(at: at + 46, count: nameLength),
                  let extra = b.bytes(at: at + 46 + nameLength, count: extraLength),
                  at + 46 + nameLength + extraLength + commentLength <= dirEnd else {
                throw TensorError("\(q): corrupt central directory (record \(i) runs past its end)")
            }
            var e = Entry(name: String(decoding: nameBytes, as: UTF8.self), method: UInt16(u16(at + 10)),
                          flags: UInt16(u16(at + 8)), crc: UInt32(u32(at + 16)),
                          compressedSize: u32(at + 20), size: u32(at + 24), localOffset: u32(at + 42))
            try applyZip64Extra(extra, &e, "\(q): entry '\(e.name)'")
            entries.append(e)
            at += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// Sizes and offsets that do not fit in 32 bits are 0xFFFFFFFF in the record and the real
    /// values follow, in this order and only for those fields, in the zip64 extra field (id 1).
    static func applyZip64Extra(_ extra: UnsafeRawBufferPointer, _ e: inout Entry, _ eq: String) throws {
        var at = 0
        while let id = extra.loadLE(at: at, as: UInt16.self), let len = extra.loadLE(at: at + 2, as: UInt16.self) {
            guard let field = extra.bytes(at: at + 4, count: Int(len)) else { break }
            at += 4 + Int(len)
            guard id == 1 else { continue }
            var k = 0
            func next() throws -> Int {
                guard let v = field.loadLE(at: k, as: UInt64.self).flatMap({ Int(exactly: $0) }) else {
                    throw TensorError("\(eq): corrupt zip64 extra field")
                }
                k += 8
                return v
            }
            if e.size == 0xffff_ffff { e.size = try next() }
            if e.compressedSize == 0xffff_ffff { e.compressedSize = try next() }
            if e.localOffset == 0xffff_ffff { e.localOffset = try next() }
        }
    }

    /// Where an entry's (possibly compressed) bytes are, after its local header.
    static func dataRange(_ b: UnsafeRawBufferPointer, _ e: Entry, _ eq: String) throws -> Range<Int> {
        guard b.loadLE(at: e.localOffset, as: UInt32.self) == localSig,
              let nameLength = b.loadLE(at: e.localOffset + 26, as: UInt16.self),
              let extraLength = b.loadLE(at: e.localOffset + 28, as: UInt16.self) else {
            throw TensorError("\(eq): no local header at offset \(e.localOffset)")
        }
        // The local header's own sizes may be 0 or 0xFFFFFFFF (streamed or zip64); the central
        // directory's are authoritative.
        let start = e.localOffset + 30 + Int(nameLength) + Int(extraLength)
        guard start <= b.count, e.compressedSize <= b.count - start else {
            throw TensorError("\(eq): data (\(e.compressedSize) bytes at offset \(start)) runs past the end of the file (\(b.count) bytes)")
        }
        return start..<(start + e.compressedSize)
    }

    /// Calls `body` with the uncompressed, CRC-checked bytes of one entry (stored entries are
    /// passed in place, without a copy).
    static func withEntryBytes<R>(_ b: UnsafeRawBufferPointer, _ e: Entry, _ eq: String,
                                  _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard e.flags & 1 == 0 else { throw TensorError("\(eq): encrypted entries are not supported") }
        let range = try dataRange(b, e, eq)
        guard let stored = b.bytes(at: range.lowerBound, count: range.count) else {
            throw TensorError("\(eq): data runs past the end of the file")
        }
        func checkCRC(_ content: UnsafeRawBufferPointer) throws {
            let crc = CRC32.checksum(content)
            guard crc == e.crc else {
                throw TensorError("\(eq): CRC-32 mismatch (archive says \(hex(e.crc)), data has \(hex(crc)))")
            }
        }
        switch e.method {
        case 0:
            guard e.compressedSize == e.size else {
                throw TensorError("\(eq): stored entry has compressed size \(e.compressedSize) but size \(e.size)")
            }
            try checkCRC(stored)
            return try body(stored)
        case 8:
            // Checked before the output buffer is allocated.
            let bound = checkedAdd(checkedMul(e.compressedSize, Inflate.maxRatio) ?? Int.max, 64) ?? Int.max
            guard e.size <= bound, e.size <= Storage.maxAllocationBytes else {
                throw TensorError("\(eq): declared size \(e.size) is impossible for \(e.compressedSize) deflated bytes")
            }
            // the declared size is the file's choice: it counts against --max-memory while in use
            return try Limits.withReserved(e.size) {
                let content = try withErrorPrefix("\(eq): corrupt deflate data") {
                    try Inflate.inflate(stored, expectedSize: e.size)
                }
                return try content.withUnsafeBytes { buf in
                    try checkCRC(buf)
                    return try body(buf)
                }
            }
        default:
            throw TensorError("\(eq): compression method \(e.method) is not supported (only stored and deflate)")
        }
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - s.count) + s
    }

    /// An uncompressed .npz holding `entries` as "<name>.npy", in order.
    public static func write(_ entries: [(String, Tensor)]) throws -> Data {
        var seen = Set<String>()
        for (key, _) in entries where !seen.insert(key).inserted {
            throw TensorError("duplicate entry name '\(key)'")
        }
        guard entries.count < 0xffff else { throw TensorError("too many entries (\(entries.count)) for a zip without zip64") }
        var out = Data(), directory = Data()
        let dosTime: UInt16 = 0, dosDate: UInt16 = (0 << 9) | (1 << 5) | 1   // 1980-01-01 00:00
        for (key, tensor) in entries {
            let npy = try NPY.write(tensor)
            let fileName = Array((key + ".npy").utf8)
            guard fileName.count <= 0xffff else { throw TensorError("entry name '\(key)' is too long") }
            let offset = out.count
            guard npy.count < 0xffff_ffff, offset < 0xffff_ffff else {
                throw TensorError("entry '\(key)' does not fit in a zip without zip64 (4 GiB); use .safetensors")
            }
            let crc = npy.withUnsafeBytes { CRC32.checksum($0) }
            let flags: UInt16 = fileName.allSatisfy { $0 < 0x80 } ? 0 : 0x800   // bit 11: UTF-8 names

            out.appendLE(localSig)
            out.appendLE(UInt16(20))                  // version needed to extract (2.0)
            out.appendLE(flags)
            out.appendLE(UInt16(0))                   // method: stored
            out.appendLE(dosTime); out.appendLE(dosDate)
            out.appendLE(crc)
            out.appendLE(UInt32(npy.count)); out.appendLE(UInt32(npy.count))
            out.appendLE(UInt16(fileName.count)); out.appendLE(UInt16(0))
            out.append(contentsOf: fileName)
            out.append(npy)

            directory.appendLE(centralSig)
            directory.appendLE(UInt16(0x0314))        // made by: Unix, spec 2.0 (so attributes are Unix modes)
            directory.appendLE(UInt16(20))
            directory.appendLE(flags)
            directory.appendLE(UInt16(0))
            directory.appendLE(dosTime); directory.appendLE(dosDate)
            directory.appendLE(crc)
            directory.appendLE(UInt32(npy.count)); directory.appendLE(UInt32(npy.count))
            directory.appendLE(UInt16(fileName.count))
            directory.appendLE(UInt16(0)); directory.appendLE(UInt16(0))   // extra, comment
            directory.appendLE(UInt16(0)); directory.appendLE(UInt16(0))   // disk, internal attributes
            directory.appendLE(UInt32(0o100644) << 16)                     // external: regular file rw-r--r--
            directory.appendLE(UInt32(offset))
            directory.append(contentsOf: fileName)
        }
        let dirOffset = out.count
        guard dirOffset < 0xffff_ffff, directory.count < 0xffff_ffff else {
            throw TensorError("archive does not fit in a zip without zip64 (4 GiB); use .safetensors")
        }
        out.append(directory)
        out.appendLE(endSig)
        out.appendLE(UInt16(0)); out.appendLE(UInt16(0))                   // disk numbers
        out.appendLE(UInt16(entries.count)); out.appendLE(UInt16(entries.count))
        out.appendLE(UInt32(directory.count)); out.appendLE(UInt32(dirOffset))
        out.appendLE(UInt16(0))                                            // comment length
        return out
    }
}
