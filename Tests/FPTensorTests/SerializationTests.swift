import Foundation
import XCTest
@testable import FPTensor

/// .npy / .npz / .safetensors reading and writing. The oracle is a set of small files written
/// by numpy and by the safetensors reference library (Tests/fixtures/make_io_fixtures.py) with
/// their expected values in expected.json; hostile inputs must end in an error, never a crash.
final class SerializationTests: XCTestCase {
    // MARK: fixtures

    struct ExpectedTensor: Decodable {
        let name: String
        let dtype: String
        let shape: [Int]
        /// float32 bit patterns for float tensors, values for int64, 0/1 for bool
        let values: [Int64]
    }

    struct DeflateCase: Decodable {
        let name: String
        let deflated: String
        let length: Int
        let crc32: UInt32
        let plain: String
    }

    struct Expected: Decodable {
        let files: [String: [ExpectedTensor]]
        let deflate: [DeflateCase]
    }

    static let fixtureDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures").appendingPathComponent("io")

    func fixturePath(_ name: String) -> String { Self.fixtureDir.appendingPathComponent(name).path }

    func fixture(_ name: String) throws -> Data { try Data(contentsOf: Self.fixtureDir.appendingPathComponent(name)) }

    func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: fixture("expected.json"))
    }

    func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16) ?? 0) }
        return out
    }

    /// Asserts that `t` holds exactly what numpy / safetensors wrote.
    func check(_ t: Tensor, _ e: ExpectedTensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(t.dtype.rawValue, e.dtype, "\(label): dtype", file: file, line: line)
        XCTAssertEqual(t.shape, e.shape, "\(label): shape", file: file, line: line)
        let got: [Int64]
        switch t.dtype {
        case .float32: got = try t.toFloats().map { Int64($0.bitPattern) }
        case .int64: got = try t.toInts().map { Int64($0) }
        case .bool: got = try t.toInts().map { Int64($0) }
        }
        XCTAssertEqual(got, e.values, "\(label): values", file: file, line: line)
    }

    func tensor(from e: ExpectedTensor) throws -> Tensor {
        switch e.dtype {
        case "float32": return try Tensor(e.values.map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }, shape: e.shape)
        case "int64": return try Tensor(ints: e.values.map { Int($0) }, shape: e.shape)
        default: return try Tensor(bools: e.values.map { $0 != 0 }, shape: e.shape)
        }
    }

    /// Asserts that `body` throws a TensorError whose message contains `fragment`.
    func assertThrows<T>(_ fragment: String, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected an error containing '\(fragment)'", file: file, line: line)
        } catch let e as TensorError {
            XCTAssertTrue(e.message.contains(fragment), "'\(e.message)' does not contain '\(fragment)'", file: file, line: line)
        } catch {
            XCTFail("not a TensorError: \(error)", file: file, line: line)
        }
    }

    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    // MARK: reading files written by numpy and safetensors

    func testNPYFixtures() throws {
        let exp = try expected()
        let names = exp.files.keys.filter { $0.hasSuffix(".npy") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 14)
        for name in names {
            guard let e = exp.files[name]?.first else { continue }
            try check(try NPY.read(data: fixture(name), name: name), e, name)
            try check(try TensorFile.load(fixturePath(name)), e, "\(name) via TensorFile")
        }
    }

    func testNPYHeaderDetails() throws {
        // Fortran order is visible in the header numpy wrote; the values were checked above.
        let header = String(decoding: try fixture("f32_fortran.npy").prefix(128), as: UTF8.self)
        XCTAssertTrue(header.contains("'fortran_order': True"))
        XCTAssertTrue(String(decoding: try fixture("f32_bigendian.npy").prefix(64), as: UTF8.self).contains(">f4"))
        let v2 = try fixture("f32_v2.npy"), v3 = try fixture("f32_v3.npy")
        XCTAssertEqual([v2[v2.startIndex + 6], v3[v3.startIndex + 6]], [2, 3])
    }

    func testNPZFixtures() throws {
        let exp = try expected()
        for name in ["stored.npz", "compressed.npz", "zip64.npz"] {
            let want = try XCTUnwrap(exp.files[name])
            let got = try NPZ.read(data: fixture(name), name: name)
            XCTAssertEqual(got.map { $0.0 }, want.map { $0.name }, "\(name): names in archive order")
            for (g, w) in zip(got, want) { try check(g.1, w, "\(name)/\(w.name)") }
            let viaFile = try TensorFile.loadMany(fixturePath(name))
            XCTAssertEqual(viaFile.map { $0.0 }, want.map { $0.name })
        }
    }

    func testSafetensorsFixtures() throws {
        let exp = try expected()
        for name in ["mixed.safetensors", "ref_write.safetensors"] {
            let want = try XCTUnwrap(exp.files[name])
            let got = try Safetensors.read(data: fixture(name), name: name)
            XCTAssertEqual(got.map { $0.0 }, want.map { $0.name }, "\(name): names sorted")
            for (g, w) in zip(got, want) { try check(g.1, w, "\(name)/\(w.name)") }
        }
        let data = try fixture("mixed.safetensors")
        try data.withUnsafeBytes { buf in
            let h = try Safetensors.parseHeader(buf, name: "mixed.safetensors")
            XCTAssertEqual(h.metadata, ["format": "np", "note": "fp fixture"])
            let dtypes = Dictionary(uniqueKeysWithValues: h.entries.map { ($0.name, $0.dtype) })
            XCTAssertEqual(dtypes["bf16"], "BF16")
            XCTAssertEqual(dtypes["f16"], "F16")
            XCTAssertEqual(dtypes["u8"], "U8")
            let bf16 = try XCTUnwrap(h.entries.first { $0.name == "bf16" })
            XCTAssertEqual(bf16.shape, [2, 4])
            XCTAssertEqual(bf16.byteRange.count, 16)
            XCTAssertGreaterThanOrEqual(bf16.byteRange.lowerBound, h.dataStart)
            // Lazy decode of one entry from the whole-file buffer.
            let t = try Safetensors.decode(bf16, from: buf, file: "mixed.safetensors")
            XCTAssertEqual(t.shape, [2, 4])
        }
    }

    // MARK: writers reproduce the reference bytes

    func testWritersMatchReferenceBytes() throws {
        let exp = try expected()
        for name in ["ref_write_f32.npy", "ref_write_i64.npy", "ref_write_bool.npy"] {
            let e = try XCTUnwrap(exp.files[name]?.first)
            XCTAssertEqual(try NPY.write(tensor(from: e)), try fixture(name), "\(name): same bytes as np.save")
        }
        let entries = try XCTUnwrap(exp.files["ref_write.safetensors"]).map { ($0.name, try tensor(from: $0)) }
        let written = try Safetensors.write(entries, metadata: ["quote": "a\"b\\c"])
        XCTAssertEqual(written, try fixture("ref_write.safetensors"), "same bytes as safetensors.numpy.save")
    }

    func testNPYWriteOfViews() throws {
        // A transposed (non-contiguous) view is written in its logical C order.
        let t = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]).transpose(0, 1)
        let back = try NPY.read(data: NPY.write(t), name: "t.npy")
        XCTAssertEqual(back.shape, [3, 2])
        XCTAssertEqual(try back.toFloats(), [1, 4, 2, 5, 3, 6])
        // Data starts at a multiple of 64 bytes, as numpy aligns it.
        let d = try NPY.write(try Tensor(zeros: [7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
        let headerLength = Int(d[d.startIndex + 8]) | Int(d[d.startIndex + 9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
    }

    // MARK: inflate, CRC-32, half floats

    func testInflateZlibStreams() throws {
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { CRC32.checksum($0) }, 0xCBF4_3926)
        for c in try expected().deflate {
            let input = bytes(hex: c.deflated)
            let out = try input.withUnsafeBytes { try Inflate.inflate($0, expectedSize: c.length) }
            XCTAssertEqual(out.count, c.length, c.name)
            XCTAssertEqual(out.withUnsafeBytes { CRC32.checksum($0) }, c.crc32, c.name)
            if !c.plain.isEmpty { XCTAssertEqual(out, bytes(hex: c.plain), c.name) }
            if c.length > 0 {
                // A smaller or larger declared size is an error, not a truncated or padded result.
                assertThrows("more than the declared") { try input.withUnsafeBytes { try Inflate.inflate($0, expectedSize: c.length - 1) } }
                assertThrows("expected \(c.length + 1)") { try input.withUnsafeBytes { try Inflate.inflate($0, expectedSize: c.length + 1) } }
            }
            // Every truncation of the stream fails cleanly.
            for n in 0..<input.count {
                let prefix = Array(input[0..<n])
                XCTAssertThrowsError(try prefix.withUnsafeBytes { try Inflate.inflate($0, expectedSize: c.length) }, "\(c.name) cut at \(n)")
            }
        }
    }

    func testInflateHostileStreams() throws {
        func inflate(_ b: [UInt8], _ size: Int) throws -> [UInt8] { try b.withUnsafeBytes { try Inflate.inflate($0, expectedSize: size) } }
        // Stored block: BFINAL=1, BTYPE=00, LEN=3, NLEN=~3.
        XCTAssertEqual(try inflate([0x01, 3, 0, 0xfc, 0xff, 7, 8, 9], 3), [7, 8, 9])
        assertThrows("complement") { try inflate([0x01, 3, 0, 0xfc, 0xfe, 7, 8, 9], 3) }
        assertThrows("truncated") { try inflate([0x01, 3, 0, 0xfc, 0xff, 7], 3) }
        assertThrows("more than the declared") { try inflate([0x01, 3, 0, 0xfc, 0xff, 7, 8, 9], 2) }
        assertThrows("invalid block type 3") { try inflate([0x07], 0) }
        // Fixed block whose first symbol is a match (length 3, distance 1) with no output yet.
        // Bits: BFINAL 1, BTYPE 01, symbol 257 = 0000001 (7 bits), distance code 0 = 00000.
        assertThrows("before the start") { try inflate([0x03, 0x02, 0x00], 10) }
        assertThrows("truncated") { try inflate([], 1) }
        // Dynamic block with an over-subscribed code-length code: HCLEN=4+15 lengths all 1.
        var bits: [Int] = [1, 0, 1]                                   // BFINAL, BTYPE=10 (LSB first)
        bits += [0, 0, 0, 0, 0] + [0, 0, 0, 0, 0] + [1, 1, 1, 1]      // HLIT=257, HDIST=1, HCLEN=19
        for _ in 0..<19 { bits += [1, 0, 0] }                         // every code length = 1
        var packed = [UInt8](repeating: 0, count: (bits.count + 7) / 8 + 4)
        for (i, b) in bits.enumerated() where b == 1 { packed[i / 8] |= 1 << UInt8(i % 8) }
        assertThrows("over-subscribed") { try inflate(packed, 10) }

        // Random garbage must never crash, whatever the declared size.
        var rng = SplitMix(seed: 7)
        for i in 0..<3000 {
            let n = Int(rng.next() % 64)
            var garbage = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if i % 3 == 0, !garbage.isEmpty { garbage[0] = (garbage[0] & ~6) | 4 }   // force dynamic blocks
            _ = try? inflate(garbage, Int(rng.next() % 300))
        }
    }

    func testHalfFloatConversions() {
        // Every float16 bit pattern survives half -> float -> half (NaN stays NaN).
        for h in 0...UInt16.max {
            let f = HalfFloat.f16ToFloat(h)
            if f.isNaN { XCTAssertTrue(HalfFloat.f16ToFloat(HalfFloat.floatToF16(f)).isNaN); continue }
            XCTAssertEqual(HalfFloat.floatToF16(f), h, "f16 \(h)")
            let b = HalfFloat.bf16ToFloat(h)
            if !b.isNaN { XCTAssertEqual(HalfFloat.floatToBF16(b), h, "bf16 \(h)") }
        }
        XCTAssertEqual(HalfFloat.f16ToFloat(0x0001), 0x1p-24)              // smallest subnormal
        XCTAssertEqual(HalfFloat.f16ToFloat(0x03ff), 0x3ffp-24)            // largest subnormal
        XCTAssertEqual(HalfFloat.f16ToFloat(0x7bff), 65504)
        XCTAssertEqual(HalfFloat.f16ToFloat(0xfc00), -.infinity)
        XCTAssertEqual(HalfFloat.floatToF16(65519), 0x7bff)                // rounds down to max
        XCTAssertEqual(HalfFloat.floatToF16(65520), 0x7c00)                // rounds up to inf
        XCTAssertEqual(HalfFloat.floatToF16(0x1p-25), 0)                   // tie to even: zero
        XCTAssertEqual(HalfFloat.floatToF16(0x1.8p-25), 1)                 // above the tie
        XCTAssertEqual(HalfFloat.floatToF16(0x3ffp-24 + 0x1p-25), 0x0400)  // carries into the smallest normal
        XCTAssertEqual(HalfFloat.floatToF16(1e-30), 0)
        XCTAssertEqual(HalfFloat.floatToF16(-1e30), 0xfc00)
        XCTAssertEqual(HalfFloat.floatToBF16(1 + 0x1p-8), 0x3f80)          // tie to even
        XCTAssertEqual(HalfFloat.floatToBF16(1 + 0x1.8p-8), 0x3f81)
        XCTAssertTrue(HalfFloat.bf16ToFloat(HalfFloat.floatToBF16(.nan)).isNaN)
    }

    // MARK: TensorFile round trips

    func testRoundTripThroughFiles() throws {
        let dir = try tempDir()
        let f = try Tensor([1.5, -2, 0, 3.25, .infinity, -0.0], shape: [2, 3])
        let i = try Tensor(ints: [Int(Int64.min), -1, 0, Int(Int64.max)], shape: [4])
        let b = try Tensor(bools: [true, false, true, true], shape: [2, 2])
        let scalar = Tensor.scalar(7)
        let empty = try Tensor(zeros: [0, 5], dtype: .int64)
        let view = try f.transpose(0, 1)
        for ext in ["npy", "npz", "safetensors"] {
            for (k, t) in [("f", f), ("i", i), ("b", b), ("scalar", scalar), ("empty", empty), ("view", view)] {
                let path = "\(dir)/\(k).\(ext)"
                try TensorFile.save(t, to: path)
                let back = try TensorFile.load(path)
                XCTAssertEqual(back.shape, t.shape, path)
                XCTAssertEqual(back.dtype, t.dtype, path)
                XCTAssertEqual(try back.toDoubles(), try t.toDoubles(), path)
            }
        }
        for ext in ["npz", "safetensors"] {
            let path = "\(dir)/many.\(ext)"
            try TensorFile.saveMany([("weights", f), ("ids", i), ("mask", b)], to: path)
            let back = try TensorFile.loadMany(path)
            let expectedOrder = ext == "npz" ? ["weights", "ids", "mask"] : ["ids", "mask", "weights"]
            XCTAssertEqual(back.map { $0.0 }, expectedOrder)
            for (name, t) in back {
                let orig = name == "weights" ? f : name == "ids" ? i : b
                XCTAssertEqual(try t.toDoubles(), try orig.toDoubles(), "\(path)/\(name)")
            }
            assertThrows("load_tensor: '\(path)' holds 3 tensors") { try TensorFile.load(path) }
            // Saving over an existing file replaces it.
            try TensorFile.saveMany([("only", i)], to: path)
            XCTAssertEqual(try TensorFile.load(path).toInts(), try i.toInts())
        }
        // Metadata survives in safetensors.
        try TensorFile.saveMany([("x", f)], to: "\(dir)/meta.safetensors", metadata: ["k": "v\n\u{1}é"])
        let metaData = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/meta.safetensors"))
        try metaData.withUnsafeBytes { XCTAssertEqual(try Safetensors.parseHeader($0, name: "m").metadata, ["k": "v\n\u{1}é"]) }
        // Atomic writes leave no temporary files behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
    }

    func testFileErrors() throws {
        let dir = try tempDir()
        let t = try Tensor([1, 2], shape: [2])
        assertThrows("load_tensor: cannot read '\(dir)/missing.npy': No such file or directory") { try TensorFile.load("\(dir)/missing.npy") }
        assertThrows("load_tensor: 'x.bin': unknown extension (expected .npy, .npz, .safetensors, or .pt / .pth to read)") { try TensorFile.load("x.bin") }
        assertThrows("unknown extension") { try TensorFile.load("\(dir)/noext") }
        assertThrows("save: 'x.txt': unknown extension") { try TensorFile.save(t, to: "x.txt") }
        assertThrows("PyTorch checkpoints are read, not written") { try TensorFile.save(t, to: "\(dir)/x.pt") }
        assertThrows("save: cannot write '\(dir)/nope/x.npy': No such file or directory") { try TensorFile.save(t, to: "\(dir)/nope/x.npy") }
        assertThrows("use .npz or .safetensors") { try TensorFile.saveMany([("a", t)], to: "\(dir)/a.npy") }
        assertThrows("duplicate entry name 'a'") { try TensorFile.saveMany([("a", t), ("a", t)], to: "\(dir)/a.npz") }
        assertThrows("duplicate tensor name 'a'") { try TensorFile.saveMany([("a", t), ("a", t)], to: "\(dir)/a.safetensors") }
        assertThrows("'__metadata__' cannot be a tensor name") { try Safetensors.write([("__metadata__", t)]) }
        try FileManager.default.createDirectory(atPath: "\(dir)/d.npy", withIntermediateDirectories: true)
        assertThrows("cannot read '\(dir)/d.npy': Is a directory") { try TensorFile.load("\(dir)/d.npy") }
        assertThrows("cannot write '\(dir)/d.npy'") { try TensorFile.save(t, to: "\(dir)/d.npy") }
        // A freed tensor cannot be saved.
        let gone = try Tensor([1], shape: [1])
        gone.storage.free()
        assertThrows("save: '\(dir)/g.npy': tensor was freed") { try TensorFile.save(gone, to: "\(dir)/g.npy") }
        // Errors from inside a file name the path, prefixed with the function.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: "\(dir)/bad.npy"))
        assertThrows("load_tensor: '\(dir)/bad.npy': too short for a .npy file") { try TensorFile.load("\(dir)/bad.npy") }
    }

    // MARK: hostile inputs

    /// Every proper prefix of a valid file is an error (and never a crash).
    func testTruncatedFilesAlwaysThrow() throws {
        let files = ["f32_c.npy", "f32_fortran.npy", "bool.npy", "f32_v2.npy", "stored.npz", "compressed.npz",
                     "zip64.npz", "mixed.safetensors"]
        for name in files {
            let data = try fixture(name)
            for n in 0..<data.count {
                let prefix = data.prefix(n)
                XCTAssertThrowsError(try readAny(prefix, name), "\(name) cut at \(n)")
            }
            XCTAssertNoThrow(try readAny(data, name))
        }
    }

    func readAny(_ data: Data, _ name: String) throws -> Int {
        if name.hasSuffix(".npy") { return try NPY.read(data: data, name: name).count }
        if name.hasSuffix(".npz") { return try NPZ.read(data: data, name: name).count }
        return try Safetensors.read(data: data, name: name).count
    }

    /// Corrupting any single byte of a valid file may still load or may throw; it must not crash.
    func testCorruptedBytesNeverCrash() throws {
        for name in ["f32_c.npy", "f16.npy", "compressed.npz", "zip64.npz", "mixed.safetensors"] {
            let data = [UInt8](try fixture(name))
            for i in 0..<data.count {
                for mask: UInt8 in [0xff, 0x01, 0x80] {
                    var bad = data
                    bad[i] ^= mask
                    _ = try? readAny(Data(bad), name)
                }
            }
        }
    }

    func npyFile(_ header: String, major: UInt8 = 1, data: [UInt8] = []) -> Data {
        var d = Data(NPY.magic)
        d.append(contentsOf: [major, 0])
        if major == 1 { d.appendLE(UInt16(header.utf8.count)) } else { d.appendLE(UInt32(header.utf8.count)) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    func testHostileNPY() throws {
        func read(_ d: Data) throws -> Tensor { try NPY.read(data: d, name: "h.npy") }
        func dict(_ descr: String = "'<f4'", fortran: String = "False", shape: String) -> String {
            "{'descr': \(descr), 'fortran_order': \(fortran), 'shape': \(shape), }\n"
        }
        assertThrows("'h.npy': not a .npy file (bad magic)") { try read(Data(repeating: 0x41, count: 64)) }
        assertThrows("unsupported .npy format version 9.0") { try read(npyFile(dict(shape: "(1,)"), major: 9)) }
        // Header length claims 4 GiB (format 2.0) in a tiny file.
        var huge = npyFile(dict(shape: "(1,)"), major: 2, data: [0, 0, 0, 0])
        huge.replaceSubrange(8..<12, with: [0xff, 0xff, 0xff, 0xff])
        assertThrows("header length 4294967295 exceeds the 1048576-byte limit") { try read(huge) }
        huge.replaceSubrange(8..<12, with: [0x00, 0x00, 0x01, 0x00])
        assertThrows("header length 65536 runs past the end of the file (74 bytes)") { try read(huge) }
        assertThrows("shape [4000000000, 4000000000, 4000000000] has too many elements") {
            try read(npyFile(dict(shape: "(4000000000, 4000000000, 4000000000)")))
        }
        // Billions of elements declared, a few bytes present: rejected before allocating.
        assertThrows("truncated data: shape [100000, 100000] of f32 needs 40000000000 bytes, the file has 4") {
            try read(npyFile(dict(shape: "(100000, 100000)"), data: [0, 0, 0, 0]))
        }
        assertThrows("integer '99999999999999999999999' is out of range") { try read(npyFile(dict(shape: "(99999999999999999999999,)"))) }
        assertThrows("'shape' must hold non-negative integers") { try read(npyFile(dict(shape: "(-1, 2)"))) }
        assertThrows("unsupported dtype '<c8'") { try read(npyFile(dict("'<c8'", shape: "(1,)"), data: [UInt8](repeating: 0, count: 8))) }
        assertThrows("pickle") { try read(npyFile(dict("'|O'", shape: "(1,)"))) }
        assertThrows("structured dtypes are not supported") { try read(npyFile(dict("[('a', '<f4')]", shape: "(1,)"))) }
        assertThrows("'fortran_order' is not True or False") { try read(npyFile(dict(fortran: "1", shape: "(1,)"))) }
        assertThrows("missing key 'shape'") { try read(npyFile("{'descr': '<f4', 'fortran_order': False}")) }
        assertThrows("nested too deeply") { try read(npyFile(dict(shape: String(repeating: "(", count: 5000)))) }
        assertThrows("unterminated string") { try read(npyFile("{'descr': '<f4")) }
        assertThrows("unexpected text after the dict") { try read(npyFile(dict(shape: "(1,)") + "x")) }
        assertThrows("header is not a dict") { try read(npyFile("(1, 2)")) }
        // Python 2 style headers (long integers, double quotes) still load.
        let t = try read(npyFile("{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2L,)}", data: [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]))
        XCTAssertEqual(try t.toInts(), [1, -1])
        // Bytes other than 0/1 in a bool array load as true.
        XCTAssertEqual(try read(npyFile(dict("'|b1'", shape: "(3,)"), data: [0, 1, 7])).toInts(), [0, 1, 1])
        assertThrows("uint64 value 18446744073709551615 does not fit in int64") {
            try read(npyFile(dict("'<u8'", shape: "(1,)"), data: [UInt8](repeating: 0xff, count: 8)))
        }
    }

    /// Sets a little-endian field in a byte array.
    func patch<T: FixedWidthInteger>(_ b: inout [UInt8], _ at: Int, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { for (k, x) in $0.enumerated() { b[at + k] = x } }
    }

    func testHostileNPZ() throws {
        let t = try Tensor([1, 2, 3], shape: [3])
        let good = [UInt8](try NPZ.write([("a", t)]))
        func read(_ b: [UInt8]) throws -> [(String, Tensor)] { try NPZ.read(data: Data(b), name: "h.npz") }
        XCTAssertEqual(try read(good).first?.0, "a")
        let end = good.count - 22                   // end of central directory record
        let central = Int(UInt32(good[end + 16]) | UInt32(good[end + 17]) << 8)

        assertThrows("'h.npz': not a zip archive") { try read([UInt8](repeating: 7, count: 100)) }
        assertThrows("truncated or corrupt zip archive") { try read(Array(good.prefix(40))) }
        var b = good
        patch(&b, end + 10, UInt16(60000)); patch(&b, end + 8, UInt16(60000))
        assertThrows("zip claims 60000 entries but its central directory has only") { try read(b) }
        b = good; patch(&b, end + 16, UInt32(0x7fff_0000))
        assertThrows("runs past the end of the file") { try read(b) }
        b = good; patch(&b, central + 42, UInt32(0x7fff_0000))
        assertThrows("entry 'a.npy': no local header at offset 2147418112") { try read(b) }
        b = good; patch(&b, central + 20, UInt32(0x7fff_0000)); patch(&b, central + 24, UInt32(0x7fff_0000))
        assertThrows("entry 'a.npy': data (2147418112 bytes at offset 35) runs past the end of the file") { try read(b) }
        b = good; patch(&b, central + 24, UInt32(5))
        assertThrows("stored entry has compressed size") { try read(b) }
        b = good; patch(&b, central + 16, UInt32(0xdead_beef))
        assertThrows("CRC-32 mismatch (archive says 0xdeadbeef") { try read(b) }
        b = good; patch(&b, central + 10, UInt16(12))
        assertThrows("compression method 12 is not supported") { try read(b) }
        b = good; patch(&b, central + 8, UInt16(1))
        assertThrows("encrypted entries are not supported") { try read(b) }
        // Two central records pointing at the same data (an overlapping zip bomb).
        let two = [UInt8](try NPZ.write([("a", t), ("b", t)]))
        let twoEnd = two.count - 22
        let twoCentral = (0..<4).reduce(0) { $0 | Int(two[twoEnd + 16 + $1]) << (8 * $1) }
        b = two; patch(&b, twoCentral + 46 + 5 + 42, UInt32(0))   // second record's local header offset
        assertThrows("entries 'a.npy' and 'b.npy' overlap") { try read(b) }
        XCTAssertEqual(try read(two).map { $0.0 }, ["a", "b"])
        b = good; b[central + 46 + 2] = UInt8(ascii: "x")   // name "a.xpy": not a .npy entry, but still parsed
        XCTAssertEqual(try read(b).first?.0, "a.xpy")

        // Deflated entries: lying uncompressed sizes.
        let comp = [UInt8](try fixture("compressed.npz"))
        // numpy writes zip64 extras only in local headers: the end record is the last 22 bytes.
        let cEnd = comp.count - 22
        let firstCentral = (0..<4).reduce(0) { $0 | Int(comp[cEnd + 16 + $1]) << (8 * $1) }
        XCTAssertEqual(comp[firstCentral], 0x50)    // "PK\x01\x02"
        b = comp; patch(&b, firstCentral + 24, UInt32(0xffff_fff0))
        assertThrows("declared size 4294967280 is impossible for") { try NPZ.read(data: Data(b), name: "c") }
        b = comp; patch(&b, firstCentral + 24, UInt32(5000))
        assertThrows("corrupt deflate data: stream inflates to 2528 bytes, expected 5000") { try NPZ.read(data: Data(b), name: "c") }
        b = comp; patch(&b, firstCentral + 24, UInt32(100))
        assertThrows("corrupt deflate data: stream inflates to more than the declared 100 bytes") { try NPZ.read(data: Data(b), name: "c") }
    }

    func safetensorsFile(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> Data {
        var d = Data()
        d.appendLE(length ?? UInt64(header.utf8.count))
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: data)
        return d
    }

    func testHostileSafetensors() throws {
        func read(_ d: Data) throws -> [(String, Tensor)] { try Safetensors.read(data: d, name: "h.safetensors") }
        func one(_ dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]") -> String {
            "{\"t\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}}"
        }
        let eight = [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(try read(safetensorsFile(one(), data: eight)).first?.1.shape, [2])

        assertThrows("'h.safetensors': too short for a safetensors file (3 bytes)") { try read(Data([1, 2, 3])) }
        assertThrows("header length 18446744073709551615 runs past the end of the file") {
            try read(safetensorsFile(one(), data: eight, length: .max))
        }
        assertThrows("header length 4611686018427387904 runs past the end") { try read(safetensorsFile(one(), data: eight, length: 1 << 62)) }
        assertThrows("header: invalid JSON at byte 1") { try read(safetensorsFile("{")) }
        assertThrows("invalid JSON") { try read(safetensorsFile("{\"t\": tru}")) }
        assertThrows("header is an array, expected a JSON object") { try read(safetensorsFile("[]")) }
        assertThrows("tensor 't': data_offsets [0, 800] lie outside the 8-byte data buffer") {
            try read(safetensorsFile(one(offsets: "[0,800]"), data: eight))
        }
        assertThrows("data_offsets [8, 0] lie outside") { try read(safetensorsFile(one(offsets: "[8,0]"), data: eight)) }
        assertThrows("tensor 't': shape [4611686018427387904, 4611686018427387904] has too many elements") {
            try read(safetensorsFile(one(shape: "[4611686018427387904,4611686018427387904]"), data: eight))
        }
        assertThrows("data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12") {
            try read(safetensorsFile(one(shape: "[3]"), data: eight))
        }
        assertThrows("unknown dtype 'F128'") { try read(safetensorsFile(one("F128"), data: eight)) }
        assertThrows("\"shape\" must hold non-negative integers") { try read(safetensorsFile(one(shape: "[-2]"), data: eight)) }
        assertThrows("\"data_offsets\" must hold non-negative integers") { try read(safetensorsFile(one(offsets: "[0,8.0]"), data: eight)) }
        assertThrows("\"data_offsets\" must hold non-negative integers") {
            try read(safetensorsFile(one(offsets: "[0,99999999999999999999999]"), data: eight))
        }
        assertThrows("\"data_offsets\" must be [begin, end]") { try read(safetensorsFile(one(offsets: "[0]"), data: eight)) }
        assertThrows("missing \"dtype\"") { try read(safetensorsFile("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", data: eight)) }
        assertThrows("duplicate key \"t\"") { try read(safetensorsFile("{\"t\":{},\"t\":{}}")) }
        assertThrows("nested deeper than 64 levels") {
            try read(safetensorsFile(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)))
        }
        assertThrows("__metadata__ value for 'k' is a number, expected a string") {
            try read(safetensorsFile("{\"__metadata__\":{\"k\":1}}"))
        }
        assertThrows("tensors 'a' and 'b' overlap") {
            try read(safetensorsFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: eight))
        }
        var badUTF8 = safetensorsFile("{\"?\":1}")
        badUTF8[badUTF8.startIndex + 10] = 0xff          // the '?' inside the key
        assertThrows("string is not valid UTF-8") { try read(badUTF8) }
        // F8 dtypes have valid sizes (the header parses) but cannot be decoded yet.
        let f8 = safetensorsFile(one("F8_E4M3", shape: "[8]"), data: eight)
        try f8.withUnsafeBytes { buf in
            let h = try Safetensors.parseHeader(buf, name: "f8")
            XCTAssertEqual(h.entries.first?.dtype, "F8_E4M3")
            assertThrows("dtype F8_E4M3 is not supported") { try Safetensors.decode(h.entries[0], from: buf, file: "f8") }
            let lying = SafetensorsEntry(name: "x", dtype: "F32", shape: [2], byteRange: 0..<(1 << 40))
            assertThrows("lies outside the") { try Safetensors.decode(lying, from: buf, file: "f8") }
            let wrong = SafetensorsEntry(name: "x", dtype: "F32", shape: [3], byteRange: 0..<8)
            assertThrows("8 bytes, but shape [3] of F32 needs 12") { try Safetensors.decode(wrong, from: buf, file: "f8") }
        }
        assertThrows("uint64 value 18446744073709551615 does not fit in int64") {
            try read(safetensorsFile(one("U64", shape: "[1]"), data: [UInt8](repeating: 0xff, count: 8)))
        }
        // Metadata may be null; zero-size tensors may share an offset.
        let ok = try read(safetensorsFile("{\"__metadata__\":null,\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data: eight))
        XCTAssertEqual(ok.map { $0.1.shape }, [[0, 3], [2]])
    }

    func testTinyJSON() throws {
        func parse(_ s: String) throws -> TinyJSON { try Array(s.utf8).withUnsafeBytes { try TinyJSON.parse($0) } }
        guard case .string(let s) = try parse(#" "a\"\\\/\n\u00e9\ud83d\ude00" "#) else { return XCTFail("not a string") }
        XCTAssertEqual(s, "a\"\\/\né😀")
        guard case .int(let big) = try parse("9223372036854775807") else { return XCTFail("not an int") }
        XCTAssertEqual(big, Int.max)
        guard case .double = try parse("9223372036854775808") else { return XCTFail("overflowing integer should be a double") }
        guard case .double(let d) = try parse("-1.5e3") else { return XCTFail("not a double") }
        XCTAssertEqual(d, -1500)
        assertThrows("leading zero") { try parse("01") }
        assertThrows("unpaired surrogate") { try parse(#""\udc00""#) }
        assertThrows("control character") { try parse("\"a\u{1}\"") }
        assertThrows("unexpected data after") { try parse("{} {}") }
        XCTAssertEqual(TinyJSON.quote("a\"b\\c\n\u{1}"), #""a\"b\\c\n\u0001""#)
    }
}

/// A small seeded generator so the fuzz loops are reproducible.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
