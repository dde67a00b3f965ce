import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// GGUF reading. The oracle is a set of small files written by llama.cpp's `gguf` Python package
/// (Tests/fixtures/make_gguf_fixtures.py), with expected float32 values from its
/// `gguf.quants.dequantize` in .npy files; hostile inputs are crafted here byte by byte and must
/// end in an error that says what is wrong, never a crash.
final class GGUFTests: XCTestCase {
    // MARK: fixtures

    struct ExpectedTensor: Decodable {
        let name: String
        let type: String
        let shape: [Int]
        let npy: String
    }

    struct Expected: Decodable {
        let files: [String: [ExpectedTensor]]
        let llama: [String: Int]
    }

    static let fixtureDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures").appendingPathComponent("gguf")

    func path(_ name: String) -> String { Self.fixtureDir.appendingPathComponent(name).path }

    func fixture(_ name: String) throws -> Data { try Data(contentsOf: Self.fixtureDir.appendingPathComponent(name)) }

    func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: fixture("expected.json"))
    }

    func npy(_ name: String) throws -> Tensor { try NPY.read(data: fixture(name), name: name) }

    func assertThrows<T>(_ fragment: String, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected an error containing \"\(fragment)\"", file: file, line: line)
        } catch let e as TensorError {
            XCTAssertTrue(e.message.contains(fragment), "\"\(e.message)\" does not contain \"\(fragment)\"",
                          file: file, line: line)
        } catch {
            XCTFail("expected a TensorError, got \(error)", file: file, line: line)
        }
    }

    /// Same values, compared by bit pattern (so -0.0, infinities and NaN payloads count).
    func assertBitEqual(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        let x = try a.toFloats(), y = try b.toFloats()
        guard x.count == y.count else { return XCTFail("\(what): \(x.count) vs \(y.count) values", file: file, line: line) }
        var mismatches = 0, first = -1
        for i in 0..<x.count where x[i].bitPattern != y[i].bitPattern {
            if first < 0 { first = i }
            mismatches += 1
        }
        if mismatches > 0 {
            XCTFail("\(what): \(mismatches) of \(x.count) values differ; first at \(first): \(x[first]) vs \(y[first])",
                    file: file, line: line)
        }
    }

    // MARK: metadata

    func testMetadataOfEveryValueType() throws {
        let g = try GGUFFile(path: path("types.gguf"))
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.alignment, 32)
        XCTAssertEqual(g.dataOffset % 32, 0)
        XCTAssertEqual(g.architecture, "llama")
        XCTAssertEqual(g.metadataKeys.first, "general.architecture")
        XCTAssertEqual(g.metadataKeys.count, g.metadata.count)
        let m = g.metadata

        XCTAssertEqual(m["fixture.u8"], .uint8(200))
        XCTAssertEqual(m["fixture.i8"], .int8(-100))
        XCTAssertEqual(m["fixture.u16"], .uint16(60000))
        XCTAssertEqual(m["fixture.i16"], .int16(-30000))
        XCTAssertEqual(m["fixture.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(m["fixture.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(m["fixture.u64"], .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(m["fixture.i64"], .int64(-9_000_000_000_000_000_000))
        XCTAssertEqual(m["fixture.f32"], .float32(0.1))
        XCTAssertEqual(m["fixture.f64"], .float64(-2.5e-300))
        XCTAssertEqual(m["fixture.true"], .bool(true))
        XCTAssertEqual(m["fixture.false"], .bool(false))
        XCTAssertEqual(m["fixture.string"], .string("héllo, wörld ✓"))
        XCTAssertEqual(m["fixture.empty_string"], .string(""))

        // accessors
        XCTAssertEqual(m["fixture.u8"]?.int, 200)
        XCTAssertEqual(m["fixture.i64"]?.int, -9_000_000_000_000_000_000)
        XCTAssertNil(m["fixture.u64"]?.int, "a UInt64 above Int.max is not an Int")
        XCTAssertEqual(m["fixture.u64"]?.double, 18e18)
        XCTAssertEqual(m["fixture.u32"]?.double, 4e9)
        XCTAssertEqual(m["fixture.f32"]?.double, Double(Float(0.1)))
        XCTAssertEqual(m["fixture.f64"]?.double, -2.5e-300)
        XCTAssertNil(m["fixture.string"]?.int)
        XCTAssertNil(m["fixture.u8"]?.string)
        XCTAssertEqual(m["fixture.true"]?.bool, true)
        XCTAssertEqual(m["fixture.string"]?.string, "héllo, wörld ✓")
        XCTAssertEqual(m["llama.attention.head_count"]?.int, 4)

        // arrays
        XCTAssertEqual(m["fixture.strings"]?.stringArray, ["a", "", "Ġthe", "<0x0A>", "日本"])
        XCTAssertNil(m["fixture.strings"]?.floatArray)
        XCTAssertEqual(m["fixture.floats"]?.floatArray, [0.5, -1.25, 3.0e-5])
        XCTAssertEqual(m["fixture.floats"]?.array?.first?.type, .float32)
        XCTAssertEqual(m["fixture.ints"]?.intArray, [1, -2, 3])
        XCTAssertEqual(m["fixture.ints"]?.array?.first?.type, .int32)
        XCTAssertEqual(m["fixture.ints"]?.floatArray, [1, -2, 3])
        XCTAssertEqual(m["fixture.u8s"], .array([.uint8(0), .uint8(7), .uint8(255)]))
        XCTAssertEqual(m["fixture.u8s"]?.intArray, [0, 7, 255])
        XCTAssertEqual(m["fixture.f64s"], .array([.float64(1.5), .float64(-0.25)]))
        XCTAssertEqual(m["fixture.bools"], .array([.bool(true), .bool(false), .bool(true)]))
        XCTAssertNil(m["fixture.bools"]?.intArray)
        XCTAssertNil(m["fixture.string"]?.stringArray)

        // nested arrays
        let nested = try XCTUnwrap(m["fixture.nested"]?.array)
        XCTAssertEqual(nested.map(\.intArray), [[1, 2], [3, 4, 5]])
        XCTAssertNil(m["fixture.nested"]?.intArray)
        XCTAssertEqual(m["fixture.nested_strings"]?.array?.map(\.stringArray), [["x"], ["y", "z"]])
        XCTAssertTrue(m["fixture.nested"]?.description.contains("[[1, 2], [3, 4, 5]]") ?? false)
    }

    func testVersion2WithCustomAlignment() throws {
        let g = try GGUFFile(path: path("small.gguf"))
        XCTAssertEqual(g.version, 2)
        XCTAssertEqual(g.alignment, 64)
        XCTAssertEqual(g.metadata["general.alignment"]?.int, 64)
        XCTAssertEqual(g.dataOffset % 64, 0)
        XCTAssertEqual(g.architecture, "gpt2")
        XCTAssertEqual(g.metadata["tokenizer.ggml.tokens"]?.stringArray, ["!", "\"", "Ġa"])
        XCTAssertEqual(g.tensorNames, ["w.q8_0", "v.f32"])
        for t in g.tensorInfos { XCTAssertEqual(t.fileOffset % 64, 0, t.name) }
    }

    // MARK: tensors

    func testDequantizationMatchesReference() throws {
        let exp = try expected()
        var checkedTypes = Set<String>()
        for (file, tensors) in exp.files {
            let g = try GGUFFile(path: path("\(file).gguf"))
            for e in tensors {
                XCTAssertEqual(g.shape(of: e.name), e.shape, "\(file): \(e.name)")
                XCTAssertEqual(g.tensorType(e.name)?.name, e.type, "\(file): \(e.name)")
                let t = try g.tensor(e.name)
                XCTAssertEqual(t.dtype, .float32)
                try assertBitEqual(t, try npy(e.npy), "\(file): \(e.name) (\(e.type))")
                checkedTypes.insert(e.type)
            }
        }
        XCTAssertEqual(checkedTypes, Set(GGUFDequantize.supported.map(\.name)), "every supported type has a fixture")
    }

    func testShapesArePyTorchOrder() throws {
        let g = try GGUFFile(path: path("types.gguf"))
        let info = try XCTUnwrap(g.info("f32.3d"))
        XCTAssertEqual(info.ggmlDims, [5, 4, 3])
        XCTAssertEqual(info.shape, [3, 4, 5])
        XCTAssertEqual(g.shape(of: "blk.0.attn_q.weight"), [24, 5])
        XCTAssertEqual(g.info("blk.0.attn_q.weight")?.ggmlDims, [5, 24])
        XCTAssertEqual(g.shape(of: "q6_k.random"), [3, 512])
        XCTAssertEqual(g.info("q6_k.random")?.byteCount, 6 * 210)
        XCTAssertNil(g.shape(of: "nope"))
        XCTAssertNil(g.tensorType("nope"))
        // WeightSource conveniences
        XCTAssertEqual(try g.tensor("f32.3d", shape: [3, 4, 5]).shape, [3, 4, 5])
        assertThrows("has shape [3, 4, 5], expected [5, 4, 3]") { try g.tensor("f32.3d", shape: [5, 4, 3]) }
        assertThrows("types.gguf: missing tensor 'nope'") { try g.tensor("nope") }
    }

    func testTensorsAreIndependentCopies() throws {
        var t: Tensor
        do {
            let g = try GGUFFile(path: path("types.gguf"))
            t = try g.tensor("f32.3d")
            try t.fill(7)          // must not write into the (read-only) mapping
            t = try g.tensor("f32.3d")
        }
        // the file object is gone (mapping unmapped); the tensor stays valid
        try assertBitEqual(t, try npy("types.f32.3d.npy"), "f32.3d after the file was closed")
    }

    func testUnsupportedTypeNamesTheFileTensorAndSupportedTypes() throws {
        let g = try GGUFFile(path: path("types.gguf"))
        XCTAssertEqual(g.tensorType("unsupported.q2_k"), .q2_K)
        XCTAssertEqual(g.shape(of: "unsupported.q2_k"), [1, 256])
        XCTAssertFalse(GGUFTensorType.q2_K.isDequantizable)
        assertThrows("types.gguf: tensor 'unsupported.q2_k' has type Q2_K, which fp cannot dequantize (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)") {
            try g.tensor("unsupported.q2_k")
        }
    }

    // MARK: Llama Q/K permutation

    func testUndoLlamaQKPermutationInvertsTheConverter() throws {
        let exp = try expected()
        let g = try GGUFFile(path: path("types.gguf"))
        let nHead = try XCTUnwrap(exp.llama["n_head"]), nKV = try XCTUnwrap(exp.llama["n_kv_head"])
        XCTAssertEqual(g.metadata["llama.attention.head_count"]?.int, nHead)
        XCTAssertEqual(g.metadata["llama.attention.head_count_kv"]?.int, nKV)
        try assertBitEqual(try undoLlamaQKPermutation(try g.tensor("blk.0.attn_q.weight"), nHeads: nHead),
                           try npy("llama_q_hf.npy"), "W_Q")
        try assertBitEqual(try undoLlamaQKPermutation(try g.tensor("blk.0.attn_k.weight"), nHeads: nKV),
                           try npy("llama_k_hf.npy"), "W_K (n_kv_heads)")
        try assertBitEqual(try undoLlamaQKPermutation(try g.tensor("blk.0.attn_q.bias"), nHeads: nHead),
                           try npy("llama_q_bias_hf.npy"), "b_Q (1-d)")
        // a non-contiguous input is read through its strides
        let hf = try npy("llama_q_hf.npy")
        let permutedT = try g.tensor("blk.0.attn_q.weight").T().contiguous().T()
        XCTAssertFalse(permutedT.isContiguous)
        try assertBitEqual(try undoLlamaQKPermutation(permutedT, nHeads: nHead), hf, "W_Q from a transposed view")
        // with the wrong head count the result differs
        XCTAssertNotEqual(try undoLlamaQKPermutation(try g.tensor("blk.0.attn_q.weight"), nHeads: 2).toFloats(), try hf.toFloats())

        assertThrows("24 rows are not divisible by 2 * nHeads = 10") {
            try undoLlamaQKPermutation(try g.tensor("blk.0.attn_q.weight"), nHeads: 5)
        }
        assertThrows("nHeads must be positive") { try undoLlamaQKPermutation(hf, nHeads: 0) }
        assertThrows("scalar") { try undoLlamaQKPermutation(Tensor.scalar(1), nHeads: 1) }
    }

    // MARK: hostile files

    func testEveryTruncatedPrefixThrows() throws {
        for name in ["small.gguf", "types.gguf"] {
            let data = try fixture(name)
            let whole = try GGUFFile(data: data, name: name)
            let dataEnd = whole.tensorInfos.map { $0.fileOffset + ($0.byteCount ?? 0) }.max() ?? data.count
            XCTAssertLessThanOrEqual(dataEnd, data.count)
            for n in 0..<dataEnd {
                XCTAssertThrowsError(try GGUFFile(data: data.prefix(n), name: name), "\(name) cut at \(n)") { e in
                    XCTAssertTrue(e is TensorError, "\(name) cut at \(n): \(e)")
                    XCTAssertTrue(String(describing: e).hasPrefix(name), "\(name) cut at \(n): \(e)")
                }
            }
        }
        // the same through files on disk (mmap path), including an empty file
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-gguf-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try fixture("small.gguf")
        let end = try GGUFFile(data: data, name: "small").tensorInfos.map { $0.fileOffset + ($0.byteCount ?? 0) }.max() ?? 0
        for n in [0, 3, 4, 8, 20, 100, end - 1] {
            let p = dir.appendingPathComponent("cut\(n).gguf").path
            try data.prefix(n).write(to: URL(fileURLWithPath: p))
            assertThrows(p) { try GGUFFile(path: p) }
        }
        assertThrows("too short for a GGUF file (0 bytes)") { try GGUFFile(path: dir.appendingPathComponent("cut0.gguf").path) }
        assertThrows("truncated file") { try GGUFFile(path: dir.appendingPathComponent("cut20.gguf").path) }
        assertThrows("cannot open") { try GGUFFile(path: dir.appendingPathComponent("missing.gguf").path) }
        assertThrows("not a regular file") { try GGUFFile(path: dir.path) }
    }

    /// Little-endian GGUF bytes built field by field.
    struct Builder {
        var bytes: [UInt8] = []
        mutating func u8(_ v: UInt8) { bytes.append(v) }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
        static func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) -> Builder {
            var b = Builder()
            b.bytes = Array("GGUF".utf8)
            b.u32(version); b.u64(tensors); b.u64(kvs)
            return b
        }
        mutating func tensor(_ name: String, ne: [UInt64], type: UInt32 = 0, offset: UInt64 = 0) {
            str(name); u32(UInt32(ne.count)); for d in ne { u64(d) }; u32(type); u64(offset)
        }
        mutating func pad(_ alignment: Int = 32) { while bytes.count % alignment != 0 { bytes.append(0) } }
        mutating func floats(_ n: Int) { for i in 0..<n { u32(Float(i).bitPattern) } }
        var data: Data { Data(bytes) }
    }

    func open(_ b: Builder) throws -> GGUFFile { try GGUFFile(data: b.data, name: "evil.gguf") }

    func testHostileHeaders() throws {
        var b = Builder()
        b.bytes = Array("GGML".utf8) + [0, 0, 0, 0]
        assertThrows("evil.gguf: not a GGUF file") { try open(b) }
        assertThrows("unsupported GGUF version 1") { try open(.header(version: 1, tensors: 0, kvs: 0)) }
        assertThrows("unsupported GGUF version 4") { try open(.header(version: 4, tensors: 0, kvs: 0)) }
        assertThrows("big-endian GGUF files are not supported") { try open(.header(version: UInt32(3).byteSwapped, tensors: 0, kvs: 0)) }
        XCTAssertEqual(try open(.header(tensors: 0, kvs: 0)).tensorNames, [])

        // counts in the billions
        assertThrows("evil.gguf: tensor count 1099511627776 is impossible for a file of 24 bytes") {
            try open(.header(tensors: 1 << 40, kvs: 0))
        }
        assertThrows("metadata count 1099511627776 is impossible") { try open(.header(tensors: 0, kvs: 1 << 40)) }
        assertThrows("tensor count 18446744073709551615 is impossible") { try open(.header(tensors: .max, kvs: 0)) }

        // a string length of 2^62 (key, value, tensor name)
        b = .header(tensors: 0, kvs: 1)
        b.u64(1 << 62); b.bytes += Array("key and more bytes".utf8)
        assertThrows("evil.gguf: metadata key #0 has length 4611686018427387904 at offset 24, which runs past the end of the file") { try open(b) }
        b = .header(tensors: 0, kvs: 1)
        b.str("k"); b.u32(8); b.u64(1 << 62); b.bytes += Array("value".utf8)
        assertThrows("metadata 'k' has length 4611686018427387904") { try open(b) }
        b = .header(tensors: 1, kvs: 0)
        b.u64(1 << 62); b.bytes += [UInt8](repeating: 0, count: 40)
        assertThrows("the name of tensor #0 has length 4611686018427387904") { try open(b) }
        b = .header(tensors: 0, kvs: 1)
        b.str("k"); b.u32(8); b.u64(.max)
        assertThrows("has length 18446744073709551615") { try open(b) }
    }

    func testHostileMetadata() throws {
        func kv(_ build: (inout Builder) -> Void) -> Builder {
            var b = Builder.header(tensors: 0, kvs: 1)
            b.str("k")
            build(&b)
            return b
        }
        assertThrows("metadata 'k' has unknown value type 13") { try open(kv { $0.u32(13); $0.u32(0) }) }
        assertThrows("metadata 'k' is an array of unknown value type 99") { try open(kv { $0.u32(9); $0.u32(99); $0.u64(0) }) }
        assertThrows("metadata 'k' claims 1152921504606846976 array elements") {
            try open(kv { $0.u32(9); $0.u32(0); $0.u64(1 << 60); $0.u8(1) })
        }
        assertThrows("claims 100 array elements") {      // 100 strings need at least 800 bytes
            try open(kv { $0.u32(9); $0.u32(8); $0.u64(100); for _ in 0..<100 { $0.u8(0) } })
        }
        assertThrows("metadata 'k' is a bool with byte value 2") { try open(kv { $0.u32(7); $0.u8(2) }) }
        assertThrows("truncated file: metadata 'k' needs 8 bytes") { try open(kv { $0.u32(12); $0.u32(0) }) }

        // arrays nested deeper than the limit (each level one element)
        let deep = kv { b in
            b.u32(9)
            for _ in 0..<40 { b.u32(9); b.u64(1) }
            b.u32(4); b.u64(1); b.u32(7)
        }
        assertThrows("metadata 'k' has arrays nested deeper than 8 levels") { try open(deep) }
        let ok = kv { b in
            b.u32(9)
            for _ in 0..<7 { b.u32(9); b.u64(1) }
            b.u32(4); b.u64(1); b.u32(7)
        }
        var v = try XCTUnwrap(try open(ok).metadata["k"])
        for _ in 0..<7 { v = try XCTUnwrap(v.array?.first) }
        XCTAssertEqual(v.intArray, [7])

        // an empty array is fine
        XCTAssertEqual(try open(kv { $0.u32(9); $0.u32(8); $0.u64(0) }).metadata["k"], .array([]))

        // duplicate keys, bad alignments
        var b = Builder.header(tensors: 0, kvs: 2)
        b.str("k"); b.u32(0); b.u8(1); b.str("k"); b.u32(0); b.u8(2)
        assertThrows("duplicate metadata key 'k'") { try open(b) }
        for bad: UInt32 in [0, 3, 48] {
            b = .header(tensors: 0, kvs: 1)
            b.str("general.alignment"); b.u32(4); b.u32(bad)
            assertThrows("general.alignment must be a positive power of two, got \(bad)") { try open(b) }
        }
        b = .header(tensors: 1, kvs: 1)
        b.str("general.alignment"); b.u32(10); b.u64(1 << 62)
        b.tensor("t", ne: [4])
        b.bytes += [UInt8](repeating: 0, count: 64)
        assertThrows("tensor 't': data offset 0 lies past the end of the file") { try open(b) }
        b = .header(tensors: 0, kvs: 1)
        b.str("general.alignment"); b.u32(10); b.u64(1 << 63)
        assertThrows("general.alignment must be a positive power of two, got 9223372036854775808") { try open(b) }
        b = .header(tensors: 0, kvs: 1)
        b.str("general.alignment"); b.u32(8); b.str("32")
        assertThrows("general.alignment must be a positive power of two") { try open(b) }
    }

    func testHostileTensorInfos() throws {
        func file(_ tensors: [(String, [UInt64], UInt32, UInt64)], dataBytes: Int = 64) -> Builder {
            var b = Builder.header(tensors: UInt64(tensors.count), kvs: 0)
            for t in tensors { b.tensor(t.0, ne: t.1, type: t.2, offset: t.3) }
            b.pad()
            b.bytes += [UInt8](repeating: 0, count: dataBytes)
            return b
        }
        // a valid baseline
        let g = try open(file([("a", [4, 2], 0, 0), ("b", [16], 0, 32)], dataBytes: 96))
        XCTAssertEqual(g.shape(of: "a"), [2, 4])
        XCTAssertEqual(try g.tensor("b").count, 16)

        assertThrows("evil.gguf: tensor 'a': data offset 4096 lies past the end of the file") {
            try open(file([("a", [4], 0, 4096)]))
        }
        assertThrows("tensor 'a': 256 bytes of F32 data at offset") { try open(file([("a", [64], 0, 0)])) }
        assertThrows("run past the end of the file") { try open(file([("a", [8], 0, 32)], dataBytes: 40)) }
        assertThrows("tensor 'a': data offset 18446744073709551615 lies past the end") {
            try open(file([("a", [4], 0, .max)]))
        }
        assertThrows("tensor 'a': data offset 9223372036854775776 lies past the end") {   // start overflows
            try open(file([("a", [4], 0, UInt64(Int.max) - 31)]))
        }
        assertThrows("tensor 'a': dims [4294967296, 4294967296, 4294967296] (ggml order) have too many elements: the product overflows") {
            try open(file([("a", [1 << 32, 1 << 32, 1 << 32], 0, 0)]))
        }
        assertThrows("tensor 'a': dims [1099511627776, 1099511627776] (ggml order) have too many elements") {
            try open(file([("a", [1 << 40, 1 << 40], 0, 0)]))
        }
        assertThrows("tensor 'a': dims [2305843009213693952, 2] (ggml order) of F32 need more bytes than can be addressed") {
            try open(file([("a", [1 << 61, 2], 0, 0)]))
        }
        assertThrows("tensor 'a': dimension 0 is 9223372036854775808, which is not a valid size") {
            try open(file([("a", [1 << 63], 0, 0)]))
        }
        assertThrows("tensor 'a' has 5 dimensions (GGUF allows at most 4)") {
            try open(file([("a", [1, 1, 1, 1, 1], 0, 0)]))
        }
        assertThrows("tensor 'a': row length 33 is not a multiple of the Q4_0 block size 32") {
            try open(file([("a", [33], 2, 0)]))
        }
        assertThrows("tensor 'a': data offset 8 is not a multiple of the alignment 32") {
            try open(file([("a", [2], 0, 8)]))
        }
        assertThrows("tensors 'a' and 'b' overlap") { try open(file([("a", [16], 0, 0), ("b", [4], 0, 32)])) }
        assertThrows("duplicate tensor name 'a'") { try open(file([("a", [4], 0, 0), ("a", [4], 0, 32)])) }

        // an unknown type id: the file opens, only that tensor fails
        let u = try open(file([("a", [4], 99, 0), ("b", [4], 0, 32)]))
        XCTAssertEqual(u.tensorType("a")?.name, "unknown type 99")
        XCTAssertEqual(u.shape(of: "a"), [4])
        XCTAssertEqual(try u.tensor("b").count, 4)
        assertThrows("tensor 'a' has type unknown type 99, which fp cannot dequantize") { try u.tensor("a") }

        // a tensor larger than the allocation limit fails before allocating
        let saved = Storage.maxAllocationBytes
        Storage.maxAllocationBytes = 32
        defer { Storage.maxAllocationBytes = saved }
        assertThrows("evil.gguf: tensor 'b': ") { try g.tensor("b") }
    }

    // MARK: dequantizer details

    /// The table the quantized blocks' scales are read through, against Swift's own Float16.
    func testHalfTableMatchesIEEE() {
        XCTAssertEqual(GGUFDequantize.halfTable.count, 65536)
        for h in 0...0xffff {
            let got = GGUFDequantize.halfTable[h], want = Float(Float16(bitPattern: UInt16(h)))
            if want.isNaN { XCTAssertTrue(got.isNaN, "f16 \(h)"); continue }
            XCTAssertEqual(got.bitPattern, want.bitPattern, "f16 \(h)")
        }
    }

    func testDequantizeRejectsWrongByteCounts() throws {
        var out = [Float](repeating: 0, count: 64)
        let bytes = [UInt8](repeating: 0, count: 40)
        try out.withUnsafeMutableBufferPointer { o in
            try bytes.withUnsafeBytes { b in
                let base = try XCTUnwrap(o.baseAddress)
                XCTAssertThrowsError(try GGUFDequantize.dequantize(.q8_0, b, count: 64, into: base))
                XCTAssertThrowsError(try GGUFDequantize.dequantize(.q8_0, b, count: 33, into: base))
                XCTAssertThrowsError(try GGUFDequantize.dequantize(.q2_K, b, count: 256, into: base))
                XCTAssertNoThrow(try GGUFDequantize.dequantize(.q8_0, UnsafeRawBufferPointer(rebasing: b[0..<34]), count: 32, into: base))
            }
        }
    }
}
