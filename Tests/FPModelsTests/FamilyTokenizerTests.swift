import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// Each family's tokenizer.json pipeline (Tests/fixtures/tokenizers/families/NAME, built by
/// Tests/fixtures/make_family_tokenizers.py with the `tokenizers` library) against that library's
/// ids and decodes over the corpus, and transformers' BOS default.
final class FamilyTokenizerTests: XCTestCase {
    static let familiesDir = TokenizerTests.fixtureDir.appendingPathComponent("families")
    static let families = ["qwen2", "gpt_neox", "olmo2", "gemma", "llama2", "mistral", "phi3",
                           "variants_sp", "variants_bl"]   // the last two: components no family uses

    func load(_ name: String) throws -> (Tokenizer, [String: Any]) {
        let dir = FamilyTokenizerTests.familiesDir.appendingPathComponent(name)
        let tok = try TokenizerLoader.fromHuggingFaceFolder(dir.path)
        let d = try Data(contentsOf: dir.appendingPathComponent("expected.json"))
        guard let exp = try JSONSerialization.jsonObject(with: d) as? [String: Any] else {
            throw TensorError("\(name)/expected.json is not an object")
        }
        return (tok, exp)
    }

    func testEveryFamilyMatchesTheTokenizersLibrary() throws {
        for name in FamilyTokenizerTests.families {
            let (tok, exp) = try load(name)
            compare(tok, exp, name)
            XCTAssertEqual(tok.addBosByDefault, (exp["bos_default"] as? Bool) ?? !tok.addBosByDefault, "\(name): BOS default")
        }
    }

    /// The ids and decodes of expected.json over its whole corpus. `otherwise(text)`: ids that
    /// are also right for a text (nil: none); returns how many texts needed them.
    @discardableResult
    func compare(_ tok: Tokenizer, _ exp: [String: Any], _ name: String,
                 otherwise: (String) -> [Int]? = { _ in nil }) -> Int {
        let texts = exp["texts"] as? [String] ?? []
        let ids = TokenizerTests.ids(exp["ids"])
        let decoded = exp["decoded"] as? [String] ?? []
        XCTAssertGreaterThan(texts.count, 400, name)
        XCTAssertEqual(texts.count, ids.count, name)
        XCTAssertEqual(texts.count, decoded.count, name)
        var badIds = 0, badDecode = 0, other = 0
        for (k, t) in texts.enumerated() where k < ids.count && k < decoded.count {
            let got = tok.encode(t)
            if got != ids[k] {
                if let alt = otherwise(t), alt == got {
                    other += 1
                } else {
                    badIds += 1
                    if badIds <= 3 { XCTFail("\(name): \(TinyQuote.q(t)): got \(got), expected \(ids[k])") }
                }
            }
            let back = tok.decode(ids[k])
            if back != decoded[k] {
                badDecode += 1
                if badDecode <= 3 { XCTFail("\(name): decode of \(TinyQuote.q(t)): got \(TinyQuote.q(back)), expected \(TinyQuote.q(decoded[k]))") }
            }
        }
        XCTAssertEqual(badIds, 0, "\(name): \(badIds) of \(texts.count) texts encode differently")
        XCTAssertEqual(badDecode, 0, "\(name): \(badDecode) of \(texts.count) decodes differ")
        XCTAssertEqual(tok.vocabSize, (exp["vocab_size"] as? NSNumber)?.intValue, "\(name): vocabulary size")
        return other
    }

    func expected(_ name: String, file: String = "expected.json") throws -> [String: Any] {
        let url = FamilyTokenizerTests.familiesDir.appendingPathComponent(name).appendingPathComponent(file)
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    }

    /// The same tokenizers as GGUF metadata (NAME/tokenizer.gguf, written the way llama.cpp's
    /// converter writes them by Tests/fixtures/make_family_gguf_tokenizers.py): the ids and
    /// decodes of the `tokenizers` library on the tokenizer.json, and the file's add_bos_token.
    func testGGUFTokenizersMatchTheTokenizersLibrary() throws {
        // Mistral v0.3's non-legacy pipeline (Metaspace, prepend_scheme "first") writes no "▁"
        // before a text that starts with a space or follows a special token; a GGUF cannot say
        // so, and is read as llama.cpp reads it: "▁" before every text segment, the legacy
        // pipeline of Llama 2 and Mistral v0.1. Where the two differ, the GGUF must give the ids
        // of the legacy pipeline on the same vocabulary (mistral/gguf_ids.json).
        let legacy = try expected("mistral", file: "gguf_ids.json")
        var legacyIds: [String: [Int]] = [:]
        for (t, i) in zip(legacy["texts"] as? [String] ?? [], TokenizerTests.ids(legacy["ids"])) { legacyIds[t] = i }
        for name in ["qwen2", "gpt_neox", "olmo2", "gemma", "llama2", "mistral", "phi3"] {
            let g = try GGUFFile(path: FamilyTokenizerTests.familiesDir.appendingPathComponent(name)
                .appendingPathComponent("tokenizer.gguf").path)
            guard let tok = try TokenizerFactory.fromGGUF(g) else { XCTFail("\(name): no tokenizer in the GGUF"); continue }
            let exp = try expected(name)
            if name == "mistral" {
                let viaLegacy = compare(tok, exp, name + " (GGUF)") { legacyIds[$0] }
                XCTAssertGreaterThan(viaLegacy, 20, "the legacy rule differs on texts starting with a space")
            } else {
                compare(tok, exp, name + " (GGUF)")
            }
            XCTAssertEqual(tok.addBosByDefault, g.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, "\(name): add_bos_token")
        }
    }

    /// BOS / EOS / PAD ids from tokenizer_config.json, and the token texts to_str_tokens shows.
    func testSpecialIdsAndTokenTexts() throws {
        let (qwen, _) = try load("qwen2")
        XCTAssertNil(qwen.bosId)   // Qwen names no BOS
        XCTAssertEqual(qwen.eosId, qwen.id(ofToken: "<|im_end|>"))
        XCTAssertEqual(qwen.padId, qwen.id(ofToken: "<|endoftext|>"))
        XCTAssertEqual(qwen.encode("2024"), "2024".map { qwen.id(ofToken: String($0))! })   // one digit per token
        let (gemma, _) = try load("gemma")
        XCTAssertEqual(gemma.bosId, 2)
        XCTAssertEqual(gemma.eosId, 1)
        XCTAssertEqual(gemma.padId, 0)
        XCTAssertEqual(gemma.encode("<bos>x").first, 2)
        // Byte fallback: a CJK character outside the trained alphabet is its UTF-8 bytes.
        let cjk = gemma.encode("\u{9F98}")
        XCTAssertEqual(cjk.map { gemma.tokenText($0) }.count, 3)
        XCTAssertEqual(gemma.decode(cjk), "\u{9F98}")
        XCTAssertEqual(gemma.tokenText(gemma.id(ofToken: "\n") ?? -1), "\n")
        let (llama, _) = try load("llama2")
        XCTAssertEqual(llama.bosId, 1)
        XCTAssertEqual(llama.eosId, 2)
        XCTAssertNil(llama.padId)
        // The token text keeps the word's space (the decoder's Strip applies to whole texts only).
        let hello = llama.encode("Hello")
        XCTAssertTrue(llama.tokenText(hello[0]).hasPrefix(" "))
        XCTAssertEqual(llama.decode(hello), "Hello")
        XCTAssertEqual(llama.id(ofToken: llama.tokenText(hello[0])), hello[0])
        let (neox, _) = try load("gpt_neox")
        // Runs of spaces are added tokens matched after normalization, longest first.
        XCTAssertEqual(neox.encode("a" + String(repeating: " ", count: 8) + "b").count, 3)
        XCTAssertEqual(neox.tokenText(neox.encode(String(repeating: " ", count: 5))[0]), "     ")
        let (phi3, _) = try load("phi3")
        XCTAssertEqual(phi3.encode("<|end|>  \n x"), phi3.encode("<|end|>x"))   // rstrip
    }

    /// Components fp does not implement are named in the error.
    func testUnsupportedComponentsAreNamed() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fp-famtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: FamilyTokenizerTests.familiesDir
            .appendingPathComponent("qwen2/tokenizer.json"))) as? [String: Any] ?? [:]
        func check(_ key: String, _ value: Any, _ fragment: String, line: UInt = #line) throws {
            var j = base
            j[key] = value
            let f = tmp.appendingPathComponent("tokenizer.json")
            try JSONSerialization.data(withJSONObject: j).write(to: f)
            do {
                _ = try TokenizerLoader.fromHuggingFaceFolder(tmp.path)
                XCTFail("expected an error mentioning \(fragment)", line: line)
            } catch let e as TensorError {
                XCTAssertTrue(e.message.contains(fragment), "\(e.message) lacks \(fragment)", line: line)
            }
        }
        try check("normalizer", ["type": "Precompiled", "precompiled_charsmap": "AA=="], "normalizer \"Precompiled\" is not implemented")
        try check("normalizer", ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "BertNormalizer"]]],
                  "normalizer \"BertNormalizer\"")
        try check("normalizer", ["type": "Replace", "pattern": ["Regex": " {2,}"], "content": " "], "regex \" {2,}\" is not implemented")
        try check("normalizer", ["type": "Replace", "pattern": ["String": " "], "content": String(repeating: "x", count: 100)],
                  "Replace content is longer than 64 bytes")
        try check("normalizer", ["type": "Prepend", "prepend": String(repeating: "x", count: 100)], "Prepend needs")
        try check("pre_tokenizer", ["type": "Whitespace"], "pre_tokenizer \"Whitespace\" is not implemented")
        try check("pre_tokenizer", ["type": "Split", "pattern": ["Regex": "\\d+"], "behavior": "Isolated", "invert": false],
                  "Split regex \"\\\\d+\" is not implemented")
        try check("pre_tokenizer", ["type": "Split", "pattern": ["String": " "], "behavior": "Sideways"], "behavior \"Sideways\"")
        try check("pre_tokenizer", ["type": "Sequence", "pretokenizers": [["type": "ByteLevel"], ["type": "Digits"]]],
                  "ByteLevel must be the last step")
        try check("decoder", ["type": "WordPiece", "prefix": "##"], "decoder \"WordPiece\" is not implemented")
        try check("decoder", ["type": "Strip", "content": "ab", "start": 1, "stop": 0], "decoder Strip")
        var model = base["model"] as? [String: Any] ?? [:]
        model["type"] = "Unigram"
        try check("model", model, "model type \"Unigram\" is not supported")
        model = base["model"] as? [String: Any] ?? [:]
        model["dropout"] = 0.1
        try check("model", model, "model.dropout")
    }

    /// Literal Split behaviours; the expected pieces are what the `tokenizers` library gives for
    /// `pre_tokenizers.Split(" ", behavior).pre_tokenize_str("a  b c ")`.
    func testSplitBehaviours() {
        let b = Array("a  b c ".utf8)
        let marks = HFPreTokenizer.literalMatches(b, [0x20])
        func run(_ beh: HFPreTokenizer.Behavior) -> [String] {
            HFPreTokenizer.merge(marks, beh).map { String(decoding: b[$0], as: UTF8.self) }
        }
        XCTAssertEqual(run(.removed), ["a", "b", "c"])
        XCTAssertEqual(run(.isolated), ["a", " ", " ", "b", " ", "c", " "])
        XCTAssertEqual(run(.mergedWithPrevious), ["a ", " ", "b ", "c "])
        XCTAssertEqual(run(.mergedWithNext), ["a", " ", " b", " c", " "])
        XCTAssertEqual(run(.contiguous), ["a", "  ", "b", " ", "c", " "])
    }
}
