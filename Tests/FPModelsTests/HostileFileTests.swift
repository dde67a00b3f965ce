import Foundation
import XCTest
@testable import FPModels
@testable import FPTensor

/// Truncated real model files (an interrupted download) and the files the fuzzer found
/// (Tests/fixtures/bad, see docs/fuzzing.md): each must end in an error that names the file
/// and says what is wrong, never in a crash, a hang or a huge allocation.
final class HostileFileTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures")

    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    /// Asserts that `body` throws a TensorError containing every fragment of `fragments`.
    func expectError<T>(_ fragments: [String], _ what: String, line: UInt = #line, _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("\(what): no error (expected one containing \(fragments))", line: line)
        } catch let e as TensorError {
            for f in fragments {
                XCTAssertTrue(e.message.contains(f), "\(what): message \"\(e.message)\" lacks \"\(f)\"", line: line)
            }
        } catch {
            XCTFail("\(what): unexpected error type \(error)", line: line)
        }
    }

    /// Writes the first `n` bytes of `data` to `name` in the temporary folder.
    func writePrefix(_ data: Data, _ n: Int, to name: String) throws -> String {
        let url = tempDir.appendingPathComponent(name)
        try data.prefix(n).write(to: url)
        return url.path
    }

    /// The SmolLM2 GGUF cut inside the magic, the header counts, the metadata (tokenizer
    /// arrays), the tensor infos, at the start of the data and inside it.
    func testTruncatedSmolLM2GGUF() throws {
        let real = (ModelLoader.modelsFolder as NSString).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: real) else {
            throw XCTSkip("\(real) is absent (scripts/fetch-models.sh fetches it)")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: real), options: .alwaysMapped)
        let full = try GGUFFile(path: real)
        let infosStart = full.dataOffset - 200   // inside the last tensor infos
        // (cut, what the message must say): SmolLM2 has 272 tensors, 49152 tokens, 48900 merges.
        let cuts: [(Int, String)] = [
            (0, "too short for a GGUF file (0 bytes)"), (3, "too short for a GGUF file (3 bytes)"),
            (4, "truncated file: the version needs 4 bytes at offset 4"),
            (10, "truncated file: the tensor count needs 8 bytes at offset 8"),
            (23, "truncated file: the metadata count needs 8 bytes at offset 16"),
            (24, "tensor count 272 is impossible for a file of 24 bytes"),
            (1_000, "tensor count 272 is impossible for a file of 1000 bytes"),
            (100_000, "metadata 'tokenizer.ggml.tokens' claims 49152 array elements, more than the rest of the file"),
            (1_000_000, "metadata 'tokenizer.ggml.merges' claims 48900 array elements, more than the rest of the file"),
            (infosStart, "truncated file"), (full.dataOffset - 1, "truncated file"),
            (full.dataOffset, "run past the end of the file (\(full.dataOffset) bytes)"),
            (full.dataOffset + 1_000, "run past the end of the file (\(full.dataOffset + 1_000) bytes)"),
            (data.count / 2, "run past the end of the file (\(data.count / 2) bytes)"),
            (data.count - 1, "run past the end of the file (\(data.count - 1) bytes)"),
        ]
        for (n, expected) in cuts {
            let path = try writePrefix(data, n, to: "smollm2-cut.gguf")
            expectError([path, expected], "cut at \(n)") { try ModelLoader.load(path) }
        }
    }

    /// A Hugging Face folder whose model.safetensors was cut: in the length, in the JSON
    /// header, at the data start and inside the data.
    func testTruncatedSafetensorsFolder() throws {
        let src = Self.fixtures.appendingPathComponent("models/gpt2-tiny")
        let data = try Data(contentsOf: src.appendingPathComponent("model.safetensors"))
        try FileManager.default.copyItem(at: src.appendingPathComponent("config.json"),
                                         to: tempDir.appendingPathComponent("config.json"))
        let headerEnd = 8 + Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let cuts: [(Int, String)] = [
            (0, "too short for a safetensors file (0 bytes)"), (7, "too short for a safetensors file (7 bytes)"),
            (8, "runs past the end of the file (8 bytes)"), (100, "runs past the end of the file (100 bytes)"),
            (headerEnd - 1, "runs past the end of the file"), (headerEnd, "lie outside the 0-byte data buffer"),
            (headerEnd + 1, "lie outside the 1-byte data buffer"), (data.count / 2, "lie outside the"),
            (data.count - 1, "lie outside the"),
        ]
        for (n, expected) in cuts {
            let path = try writePrefix(data, n, to: "model.safetensors")
            expectError([path, expected], "load_model, cut at \(n)") { try ModelLoader.load(tempDir.path) }
            expectError(["load_tensors: '\(path)'", expected], "load_tensors, cut at \(n)") {
                try TensorFile.loadMany(path)
            }
        }
    }

    // MARK: findings (docs/fuzzing.md)

    /// A size beyond 2^31 in config.json used to overflow `4 * n_embd` (a trap).
    func testConfigSizeOutOfRange() throws {
        let folder = Self.fixtures.appendingPathComponent("bad/config_huge_n_embd").path
        expectError(["config.json", "n_embd = 4611686018427387904 is out of range"], "n_embd 2^62") {
            try Architectures.config(huggingFaceFolder: folder)
        }
    }

    /// max_position_embeddings sizes the RoPE tables and nothing in the weights bounds it.
    func testRopeTablesAreBounded() throws {
        let src = Self.fixtures.appendingPathComponent("models/llama-tiny")
        for f in try FileManager.default.contentsOfDirectory(atPath: src.path) where f != "expected.npz" {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: tempDir.appendingPathComponent(f))
        }
        let cfgURL = tempDir.appendingPathComponent("config.json")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: cfgURL)) as! [String: Any]
        cfg["max_position_embeddings"] = 4_000_000
        try JSONSerialization.data(withJSONObject: cfg).write(to: cfgURL)
        let m = try ModelLoader.load(tempDir.path)
        XCTAssertEqual(m.cfg.dHead, 16)
        XCTAssertEqual(m.cfg.nCtx, (1 << 25) / 16)
        // made for what runs reach (none yet), never past n_ctx
        XCTAssertEqual(try m.rope?.tables(covering: 16).cos.shape, [1024, 8])
        XCTAssertEqual(try m.rope?.tables(covering: Int.max).cos.shape, [(1 << 25) / 16, 8])
        cfg["max_position_embeddings"] = 64
        try JSONSerialization.data(withJSONObject: cfg).write(to: cfgURL)
        XCTAssertEqual(try ModelLoader.load(tempDir.path).cfg.nCtx, 64)   // real sizes are kept
    }

    /// A tiktoken token of n bytes used to cost n^2 (every split hashed; 100 KB: minutes and
    /// gigabytes). Long tokens are no longer split into merges but still encode and decode.
    func testTiktokenLongToken() throws {
        let long = Data(repeating: UInt8(ascii: "b"), count: 20_000)
        let text = "YQ== 0\nYg== 1\n" + long.base64EncodedString() + " 2\n"
        let path = tempDir.appendingPathComponent("long.tiktoken")
        try text.write(to: path, atomically: true, encoding: .utf8)
        let tok = try TokenizerLoader.fromTiktoken(path: path.path)
        XCTAssertEqual(tok.vocabSize, 4)   // a, b, the long token, <|endoftext|>
        let word = String(repeating: "b", count: 20_000)
        XCTAssertEqual(tok.encode(word), [2])
        XCTAssertEqual(tok.decode([2]), word)
        XCTAssertEqual(tok.encode("ab"), [0, 1])
    }

    /// The same for a llama2.c tokenizer piece; and a vocab_size the file cannot hold is an
    /// error before anything is reserved for it.
    func testLlama2CTokenizerHostile() throws {
        var pieces: [[UInt8]] = [Array("<unk>".utf8), Array("<s>".utf8), Array("</s>".utf8), [0x61], [0x62]]
        pieces.append([UInt8](repeating: 0x61, count: 50_000))
        pieces.append([0x61, 0x62])
        var file = Data()
        func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { file.append(contentsOf: $0) } }
        i32(50_000)
        for (i, p) in pieces.enumerated() {
            withUnsafeBytes(of: Float(-Float(i)).bitPattern.littleEndian) { file.append(contentsOf: $0) }
            i32(Int32(p.count))
            file.append(contentsOf: p)
        }
        let path = tempDir.appendingPathComponent("tok.bin").path
        try file.write(to: URL(fileURLWithPath: path))
        let tok = try TokenizerLoader.fromLlama2C(path: path, vocabSize: pieces.count)
        XCTAssertEqual(tok.decode([5]).utf8.count, 50_000)
        XCTAssertTrue(tok.encode("ab").contains(6))   // the short merge still applies
        expectError([path, "cannot hold the 4000000 tokens"], "vocab_size 4000000") {
            try TokenizerLoader.fromLlama2C(path: path, vocabSize: 4_000_000)
        }
    }
}
