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
        let cuts = [0, 3, 4, 10, 23, 24, 1_000, 100_000, 1_000_000, infosStart, full.dataOffset - 1,
                    full.dataOffset, full.dataOffset + 1_000, data.count / 2, data.count - 1]
        for n in cuts {
            let path = try writePrefix(data, n, to: "smollm2-cut.gguf")
            let expected: String
            switch n {
            case 0..<4: expected = "too short for a GGUF file (\(n) bytes)"
            case ..<full.dataOffset: expected = "truncated file"
            default: expected = "past the end of the file (\(n) bytes)"
            }
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
}
