import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// Tokenizers against reference tokenizations written by Tests/fixtures/make_tokenizer_fixtures.py
/// (Hugging Face `tokenizers`, OpenAI `tiktoken`, a Python port of llama2.c's encode). Tests that
/// need ../shared/models skip when it is absent; the tiktoken test looks for gpt2.tiktoken in
/// $FP_MODELS and ~/.cache/fp/models.
final class TokenizerTests: XCTestCase {

    // MARK: fixtures and files

    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtureDir = repoRoot.appendingPathComponent("Tests/fixtures/tokenizers")
    /// ../shared/models beside the checkout, or $FP_SHARED_MODELS (a git worktree elsewhere).
    static let sharedModels: URL = {
        if let p = ProcessInfo.processInfo.environment["FP_SHARED_MODELS"], !p.isEmpty { return URL(fileURLWithPath: p) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared/models")
    }()

    static func fixture(_ name: String) throws -> [String: Any] {
        let d = try Data(contentsOf: fixtureDir.appendingPathComponent(name))
        guard let o = try JSONSerialization.jsonObject(with: d) as? [String: Any] else {
            throw TensorError("fixture \(name) is not an object")
        }
        return o
    }

    static let corpus: [String] = {
        guard let o = try? fixture("corpus.json"), let t = o["texts"] as? [String] else { return [] }
        return t
    }()

    static func ids(_ v: Any?) -> [[Int]] {
        (v as? [[Any]] ?? []).map { $0.compactMap { ($0 as? NSNumber)?.intValue } }
    }

    func shared(_ rel: String) throws -> String {
        let p = TokenizerTests.sharedModels.appendingPathComponent(rel).path
        guard FileManager.default.fileExists(atPath: p) else {
            throw XCTSkip("\(p) is absent (../shared/models is not on this machine)")
        }
        return p
    }

    func tiktokenPath() throws -> String {
        var dirs: [String] = []
        if let m = ProcessInfo.processInfo.environment["FP_MODELS"], !m.isEmpty { dirs.append(m) }
        dirs.append(FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/fp/models").path)
        for d in dirs {
            let p = URL(fileURLWithPath: d).appendingPathComponent("gpt2.tiktoken").path
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        // Required: scripts/fetch-models.sh (which CI runs) fetches it from the openai-whisper package.
        throw TensorError("gpt2.tiktoken not found in \(dirs): run scripts/fetch-models.sh")
    }

    /// Compares every corpus text, reporting the first few differences.
    func compare(_ tok: Tokenizer, _ texts: [String], _ expected: [[Int]], _ label: String,
                 roundTrip: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(texts.count, expected.count, "\(label): fixture size", file: file, line: line)
        XCTAssertGreaterThan(texts.count, 100, "\(label): fixture is missing", file: file, line: line)
        var bad = 0
        for (t, e) in zip(texts, expected) {
            let got = tok.encode(t)
            if got != e {
                bad += 1
                if bad <= 5 { XCTFail("\(label): \(TinyQuote.q(t)): got \(got), expected \(e)", file: file, line: line) }
            }
            if roundTrip && tok.decode(got) != t {
                bad += 1
                if bad <= 5 { XCTFail("\(label): decode(encode(\(TinyQuote.q(t)))) = \(TinyQuote.q(tok.decode(got)))", file: file, line: line) }
            }
        }
        XCTAssertEqual(bad, 0, "\(label): \(bad) of \(texts.count) texts differ", file: file, line: line)
    }

    // MARK: pre-tokenizers

    func testPreTokenizersMatchReferenceRegexes() throws {
        let ref = try TokenizerTests.fixture("pretokenize.json")
        let texts = TokenizerTests.corpus
        for (name, kind) in [("gpt2", BytePreTokenizer.gpt2), ("llama3", .llama3), ("qwen2", .qwen2), ("smollm", .smollm)] {
            guard let expected = ref[name] as? [[String]] else { return XCTFail("fixture lacks \(name)") }
            XCTAssertEqual(expected.count, texts.count)
            var bad = 0
            for (t, e) in zip(texts, expected) {
                let bytes = Array(t.utf8)
                var got: [String] = []
                bytes.withUnsafeBufferPointer { b in
                    PreTokenizerRun(b, 0..<b.count).split(kind) { got.append(lossyString(b[$0])) }
                }
                if got != e {
                    bad += 1
                    if bad <= 5 { XCTFail("\(name): \(TinyQuote.q(t)): got \(got.map(TinyQuote.q)), expected \(e.map(TinyQuote.q))") }
                }
            }
            XCTAssertEqual(bad, 0, "\(name): \(bad) of \(texts.count) texts split differently")
        }
    }

    func testLlamaCppDefaultPreTokenizer() {
        let t = "Hello, world! 12345 $x"
        let bytes = Array(t.utf8)
        var got: [String] = []
        bytes.withUnsafeBufferPointer { b in
            PreTokenizerRun(b, 0..<b.count).split(.llamaCppDefault) { got.append(lossyString(b[$0])) }
        }
        XCTAssertEqual(got, ["Hello", ",", " world", "!", " ", "123", "45", " ", "$", "x"])
    }

    // MARK: GPT-2 (byte-level BPE)

    func checkGPT2Basics(_ tok: Tokenizer, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(tok.vocabSize, 50257, file: file, line: line)
        XCTAssertEqual(tok.encode(" Paris"), [6342], file: file, line: line)
        XCTAssertEqual(tok.encode(" Mary"), [5335], file: file, line: line)
        XCTAssertEqual(tok.encode(" John"), [1757], file: file, line: line)
        XCTAssertEqual(tok.encode("<|endoftext|>"), [50256], file: file, line: line)
        XCTAssertEqual(tok.bosId, 50256, file: file, line: line)
        XCTAssertEqual(tok.eosId, 50256, file: file, line: line)
        XCTAssertNil(tok.padId, file: file, line: line)
        XCTAssertFalse(tok.addBosByDefault, file: file, line: line)
        XCTAssertEqual(tok.id(ofToken: " Mary"), 5335, file: file, line: line)
        XCTAssertEqual(tok.id(ofToken: "<|endoftext|>"), 50256, file: file, line: line)
        XCTAssertNil(tok.id(ofToken: " Mary and"), file: file, line: line)
        XCTAssertEqual(tok.tokenText(5335), " Mary", file: file, line: line)
        XCTAssertEqual(tok.tokenText(198), "\n", file: file, line: line)
        XCTAssertEqual(tok.tokenText(50256), "<|endoftext|>", file: file, line: line)
        XCTAssertEqual(tok.tokenText(-1), "", file: file, line: line)
        // A partial UTF-8 sequence decodes with a replacement character, never traps.
        let smiley = tok.encode("😀")
        XCTAssertGreaterThan(smiley.count, 1, file: file, line: line)
        XCTAssertEqual(tok.decode(Array(smiley.dropLast())), "\u{FFFD}", file: file, line: line)
        XCTAssertEqual(tok.decode([5335, 99_999_999, -3, 1757]), " Mary John", file: file, line: line)
    }

    func testGPT2TokenizerJSON() throws {
        let tok = try TokenizerLoader.fromHuggingFaceJSON(path: shared("gpt2-tokenizer/tokenizer.json"))
        XCTAssertTrue(tok is HFPipelineTokenizer)
        checkGPT2Basics(tok)
        compare(tok, TokenizerTests.corpus, TokenizerTests.ids(try TokenizerTests.fixture("gpt2_ids.json")["hf"]), "gpt2 tokenizer.json")
    }

    func testGPT2VocabAndMerges() throws {
        let tok = try TokenizerLoader.fromVocabMerges(vocab: shared("gpt2-tokenizer/vocab.json"),
                                                      merges: shared("gpt2-tokenizer/merges.txt"))
        checkGPT2Basics(tok)
        compare(tok, TokenizerTests.corpus, TokenizerTests.ids(try TokenizerTests.fixture("gpt2_ids.json")["hf"]), "gpt2 vocab+merges")
    }

    func testGPT2HuggingFaceFolder() throws {
        let dir = try shared("gpt2-tokenizer")
        let tok = try TokenizerLoader.fromHuggingFaceFolder(dir)
        checkGPT2Basics(tok)
        // The same folder without tokenizer.json: vocab.json + merges.txt + the configs.
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fp-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        for f in ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: dir + "/" + f, toPath: tmp.appendingPathComponent(f).path)
        }
        let slow = try TokenizerLoader.fromHuggingFaceFolder(tmp.path)
        checkGPT2Basics(slow)
        XCTAssertEqual(slow.encode("Hello<|endoftext|> world"), tok.encode("Hello<|endoftext|> world"))
    }

    func testGPT2Tiktoken() throws {
        let tok = try TokenizerLoader.fromTiktoken(path: tiktokenPath())
        checkGPT2Basics(tok)
        let ref = try TokenizerTests.fixture("gpt2_ids.json")
        XCTAssertNotNil(ref["tiktoken"], "gpt2_ids.json lacks the tiktoken reference ids")
        compare(tok, TokenizerTests.corpus, TokenizerTests.ids(ref["tiktoken"]), "gpt2.tiktoken")
    }

    func testAddedTokenOptions() throws {
        // A tiny byte-level vocabulary: single bytes only, no merges, special tokens with options.
        var table = (0..<256).map { [UInt8($0)] }
        table.append(Array("<A>".utf8)); table.append(Array("<B>".utf8)); table.append(Array("<AB>".utf8))
        let tok = ByteLevelBPE(tokenBytes: table, merges: MergeTable(),
                               specials: [.init(id: 256, text: "<A>", lstrip: true),
                                          .init(id: 257, text: "<B>", rstrip: true),
                                          .init(id: 258, text: "<AB>", singleWord: true)],
                               preTokenizer: .gpt2, bos: nil, eos: nil, pad: nil, unk: nil, addBos: false)
        XCTAssertEqual(tok.encode("x  <A>y"), [120, 256, 121])              // lstrip eats "  "
        XCTAssertEqual(tok.encode("x<B> \n y"), [120, 257, 121])            // rstrip eats " \n "
        XCTAssertEqual(tok.encode("<AB>"), [258])
        XCTAssertEqual(tok.encode("z<AB>"), [122, 60, 65, 66, 62])         // single_word: not inside a word
        XCTAssertEqual(tok.encode("<A><B>"), [256, 257])
        XCTAssertEqual(tok.decode([120, 256, 257]), "x<A><B>")
    }

    // MARK: llama2.c / SentencePiece BPE

    func testLlama2CTokenizer() throws {
        let tok = try TokenizerLoader.fromLlama2C(path: shared("stories260K/tok512.bin"), vocabSize: 512)
        let ref = try TokenizerTests.fixture("tok512_ids.json")
        let texts = ref["texts"] as? [String] ?? []
        compare(tok, texts, TokenizerTests.ids(ref["llama2c"]), "llama2.c tok512")
        XCTAssertEqual(tok.vocabSize, 512)
        XCTAssertEqual(tok.bosId, 1)
        XCTAssertEqual(tok.eosId, 2)
        XCTAssertNil(tok.padId)
        XCTAssertTrue(tok.addBosByDefault)
        XCTAssertEqual(tok.encode(""), [])
        // Special tokens written in the text; each following segment gets the dummy prefix.
        let hi = tok.encode("Hi")
        XCTAssertEqual(tok.encode("<s>Hi"), [1] + hi)
        XCTAssertEqual(tok.encode("Hi</s>Hi"), hi + [2] + hi)
        XCTAssertEqual(tok.tokenText(1), "<s>")
        XCTAssertEqual(tok.id(ofToken: "<s>"), 1)
        XCTAssertEqual(tok.decode([1] + hi), "<s>Hi")
        // Bytes: "\n" has no piece in tok512 and falls back to <0x0A> (id 13).
        XCTAssertEqual(tok.tokenText(13), "\n")
        XCTAssertEqual(tok.id(ofToken: "\n"), 13)
        XCTAssertEqual(tok.id(ofToken: " the"), tok.encode("the").first)
        XCTAssertEqual(tok.decode(tok.encode("Once upon a time")), "Once upon a time")
        XCTAssertEqual(tok.tokenText(tok.encode(" the").last ?? -1), " the")
        XCTAssertEqual(tok.decode([-5, 9999]), "")
    }

    /// The llama2.c pieces as GGUF "llama" metadata (tokens with "▁", scores, token types).
    func testGGUFLlamaMetadata() throws {
        let path = try shared("stories260K/tok512.bin")
        let (pieces, scores) = try readLlama2C(path, 512)
        var tokens: [String] = []
        var types: [Int] = []
        for (i, p) in pieces.enumerated() {
            let s = String(decoding: p, as: UTF8.self).replacingOccurrences(of: " ", with: "▁")
            switch i {
            case 0: tokens.append("<unk>"); types.append(2)
            case 1: tokens.append("<s>"); types.append(3)
            case 2: tokens.append("</s>"); types.append(3)
            default: tokens.append(s); types.append(parseByteToken(p) != nil ? 6 : 1)
            }
        }
        let tok = try TokenizerLoader.fromGGUFMetadata(model: "llama", tokens: tokens, scores: scores,
                                                       tokenTypes: types, bos: 1, eos: 2)
        XCTAssertTrue(tok is SentencePieceBPE)
        let ref = try TokenizerTests.fixture("tok512_ids.json")
        compare(tok, ref["texts"] as? [String] ?? [], TokenizerTests.ids(ref["llama2c"]), "GGUF llama (tok512)")
        XCTAssertEqual(tok.encode("<s>Hi"), [1] + tok.encode("Hi"))
    }

    /// Constructor (c): a Llama-2-style tokenizer.json, built here from tok512.bin with the rule
    /// that make_tokenizer_fixtures.py uses, against `tokenizers` running that file.
    func testSentencePieceTokenizerJSON() throws {
        let path = try shared("stories260K/tok512.bin")
        let (raw, scores) = try readLlama2C(path, 512)
        var pieces = raw.map { String(decoding: $0, as: UTF8.self).replacingOccurrences(of: " ", with: "▁") }
        pieces[1] = "<s>"; pieces[2] = "</s>"
        var firstId: [String: Int] = [:]
        for (i, s) in pieces.enumerated() where firstId[s] == nil { firstId[s] = i }
        let order = (3..<pieces.count).filter { pieces[$0].utf8.count >= 2 && parseByteToken(Array(pieces[$0].utf8)) == nil }
            .sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var merges: [[String]] = []
        for i in order {
            let b = Array(pieces[i].utf8)
            for k in 1..<b.count {
                guard let a = String(bytes: b[..<k], encoding: .utf8), let c = String(bytes: b[k...], encoding: .utf8),
                      firstId[a] != nil, firstId[c] != nil else { continue }
                merges.append([a, c])
            }
        }
        var vocab: [String: Int] = [:]
        for (i, s) in pieces.enumerated() { vocab[s] = i }
        let added: [[String: Any]] = [(0, "<unk>"), (1, "<s>"), (2, "</s>")].map {
            ["id": $0.0, "content": $0.1, "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true]
        }
        let json: [String: Any] = [
            "version": "1.0", "added_tokens": added,
            "normalizer": ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": "▁"],
                                                               ["type": "Replace", "pattern": ["String": " "], "content": "▁"]]],
            "pre_tokenizer": NSNull(), "post_processor": NSNull(),
            "decoder": ["type": "Sequence", "decoders": [["type": "Replace", "pattern": ["String": "▁"], "content": " "],
                                                         ["type": "ByteFallback"], ["type": "Fuse"],
                                                         ["type": "Strip", "content": " ", "start": 1, "stop": 0]]],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": "<unk>", "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                      "vocab": vocab, "merges": merges],
        ]
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fp-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let file = tmp.appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: json).write(to: file)
        let ref = try TokenizerTests.fixture("tok512_ids.json")
        XCTAssertEqual(merges.count, (ref["n_merges"] as? NSNumber)?.intValue)
        let tok = try TokenizerLoader.fromHuggingFaceFolder(tmp.path)
        XCTAssertTrue(tok is HFPipelineTokenizer)
        let texts = ref["texts"] as? [String] ?? []
        compare(tok, texts, TokenizerTests.ids(ref["hf"]), "tok512 tokenizer.json", roundTrip: false)
        let decoded = ref["hf_decoded"] as? [String] ?? []
        var bad = 0
        for (t, d) in zip(texts, decoded) where tok.decode(tok.encode(t)) != d {
            bad += 1
            if bad <= 3 { XCTFail("decode: \(TinyQuote.q(t)) -> \(TinyQuote.q(tok.decode(tok.encode(t)))), expected \(TinyQuote.q(d))") }
        }
        XCTAssertEqual(bad, 0)
    }

    func readLlama2C(_ path: String, _ n: Int) throws -> ([[UInt8]], [Float]) {
        let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var off = 4
        var pieces: [[UInt8]] = []
        var scores: [Float] = []
        func u32(_ o: Int) -> UInt32 { UInt32(d[o]) | UInt32(d[o + 1]) << 8 | UInt32(d[o + 2]) << 16 | UInt32(d[o + 3]) << 24 }
        for _ in 0..<n {
            scores.append(Float(bitPattern: u32(off)))
            let len = Int(u32(off + 4))
            pieces.append(Array(d[(off + 8)..<(off + 8 + len)]))
            off += 8 + len
        }
        return (pieces, scores)
    }

    // MARK: SmolLM2 (the real GGUF from scripts/fetch-models.sh: required)

    /// The tokenizer built from the GGUF's metadata reproduces the reference ids on the corpus
    /// (Tests/fixtures/tokenizers/smollm2_ids.json, from make_tokenizer_fixtures.py --smollm2).
    func testSmolLM2FromGGUF() throws {
        let path = (ModelLoader.modelsFolder as NSString).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("\(path) is missing: run scripts/fetch-models.sh")
            return
        }
        let g = try GGUFFile(path: path)
        let made = try TokenizerFactory.fromGGUF(g)
        let tok = try XCTUnwrap(made)
        XCTAssertEqual((tok as? ByteLevelBPE)?.preTokenizer, .smollm)
        XCTAssertFalse(tok.addBosByDefault)
        XCTAssertEqual(tok.bosId, 1)
        XCTAssertEqual(tok.eosId, 2)
        XCTAssertEqual(tok.encode("<|im_start|>user"), [1] + tok.encode("user"))
        compare(tok, TokenizerTests.corpus, TokenizerTests.ids(try TokenizerTests.fixture("smollm2_ids.json")["ids"]), "SmolLM2 GGUF")
    }

    // MARK: malformed input

    func assertThrows(_ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) {
        do {
            _ = try body()
            XCTFail("expected an error mentioning \(fragment)", file: file, line: line)
        } catch let e as TensorError {
            XCTAssertTrue(e.message.contains(fragment), "\(e.message) does not mention \(fragment)", file: file, line: line)
        } catch {
            XCTFail("not a TensorError: \(error)", file: file, line: line)
        }
    }

    func testMalformedFilesThrowNamedErrors() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fp-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        func write(_ name: String, _ bytes: [UInt8]) -> String {
            let p = tmp.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
            return p
        }
        func le(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func lef(_ v: Float) -> [UInt8] { withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }

        // llama2.c: truncated, lying lengths, too small a file.
        let oneTok = le(3) + lef(0) + le(1) + [0x61]
        let l2 = write("tok.bin", oneTok)
        assertThrows("tok.bin") { try TokenizerLoader.fromLlama2C(path: l2, vocabSize: 2) }
        let lying = write("lying.bin", le(3) + lef(0) + le(1_000_000) + [0x61])
        assertThrows("lying.bin: token 0 has length 1000000") { try TokenizerLoader.fromLlama2C(path: lying, vocabSize: 1) }
        let negative = write("neg.bin", le(3) + lef(0) + le(-4) + [0x61])
        assertThrows("neg.bin") { try TokenizerLoader.fromLlama2C(path: negative, vocabSize: 1) }
        assertThrows("empty.bin") { try TokenizerLoader.fromLlama2C(path: write("empty.bin", []), vocabSize: 1) }
        assertThrows("vocab_size") { try TokenizerLoader.fromLlama2C(path: l2, vocabSize: -1) }
        assertThrows("no such file") { try TokenizerLoader.fromLlama2C(path: tmp.path + "/missing.bin", vocabSize: 1) }
        XCTAssertEqual(try TokenizerLoader.fromLlama2C(path: l2, vocabSize: 1).vocabSize, 1)

        // tiktoken.
        assertThrows("bad.tiktoken: line 2") {
            try TokenizerLoader.fromTiktoken(path: write("bad.tiktoken", Array("IQ== 0\nnot-base64!! x\n".utf8)))
        }
        assertThrows("dup.tiktoken: rank 0 appears twice") {
            try TokenizerLoader.fromTiktoken(path: write("dup.tiktoken", Array("IQ== 0\nIg== 0\n".utf8)))
        }
        assertThrows("huge.tiktoken") {
            try TokenizerLoader.fromTiktoken(path: write("huge.tiktoken", Array("IQ== 99999999999\n".utf8)))
        }

        // JSON files.
        let d1 = tmp.appendingPathComponent("badjson")
        try FileManager.default.createDirectory(at: d1, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d1.appendingPathComponent("tokenizer.json").path, contents: Data("{\"model\": [1,".utf8))
        assertThrows("tokenizer.json: invalid JSON") { try TokenizerLoader.fromHuggingFaceFolder(d1.path) }
        let d2 = tmp.appendingPathComponent("wordpiece")
        try FileManager.default.createDirectory(at: d2, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d2.appendingPathComponent("tokenizer.json").path,
                                       contents: Data("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}".utf8))
        assertThrows("model type \"WordPiece\" is not supported") { try TokenizerLoader.fromHuggingFaceFolder(d2.path) }
        let d3 = tmp.appendingPathComponent("badid")
        try FileManager.default.createDirectory(at: d3, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d3.appendingPathComponent("tokenizer.json").path,
                                       contents: Data("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e300}, \"merges\": []}}".utf8))
        assertThrows("tokenizer.json: model.vocab") { try TokenizerLoader.fromHuggingFaceFolder(d3.path) }
        let d4 = tmp.appendingPathComponent("badmerge")
        try FileManager.default.createDirectory(at: d4, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d4.appendingPathComponent("tokenizer.json").path,
                                       contents: Data("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}".utf8))
        assertThrows("model.merges[0]") { try TokenizerLoader.fromHuggingFaceFolder(d4.path) }
        let d5 = tmp.appendingPathComponent("badcfg")
        try FileManager.default.createDirectory(at: d5, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: d5.appendingPathComponent("tokenizer_config.json").path, contents: Data("[1]".utf8))
        assertThrows("tokenizer_config.json: expected a JSON object") { try TokenizerLoader.fromHuggingFaceFolder(d5.path) }
        assertThrows("no tokenizer.json") { try TokenizerLoader.fromHuggingFaceFolder(tmp.path) }
        assertThrows("not a folder") { try TokenizerLoader.fromHuggingFaceFolder(tmp.path + "/nope") }

        // vocab.json + merges.txt.
        let v = write("vocab.json", Array("{\"a\": 0, \"b\": 1, \"ab\": 2}".utf8))
        assertThrows("merges.txt: line 2") {
            try TokenizerLoader.fromVocabMerges(vocab: v, merges: write("merges.txt", Array("#version: 0.2\na b c\n".utf8)))
        }
        assertThrows("vocab.json: token \"a\" has a non-integer id") {
            try TokenizerLoader.fromVocabMerges(vocab: write("badvocab.json", Array("{\"a\": \"x\"}".utf8)), merges: v)
        }
        let ok = try TokenizerLoader.fromVocabMerges(vocab: v, merges: write("m2.txt", Array("#version: 0.2\na b\n".utf8)))
        XCTAssertEqual(ok.encode("ab"), [2])
        XCTAssertEqual(ok.encode("ba"), [1, 0])
        XCTAssertEqual(ok.encode("xyz"), [])   // bytes without a token are dropped (no unk)

        // GGUF metadata.
        assertThrows("unsupported tokenizer.ggml.model \"bert\"") {
            try TokenizerLoader.fromGGUFMetadata(model: "bert", tokens: ["a"])
        }
        assertThrows("unsupported tokenizer.ggml.pre \"mystery\"") {
            try TokenizerLoader.fromGGUFMetadata(model: "gpt2", tokens: ["a"], merges: [], pre: "mystery")
        }
        assertThrows("token_type has 1 entries") {
            try TokenizerLoader.fromGGUFMetadata(model: "gpt2", tokens: ["a", "b"], merges: [], tokenTypes: [1], pre: "gpt-2")
        }
        assertThrows("scores has 1 entries") {
            try TokenizerLoader.fromGGUFMetadata(model: "llama", tokens: ["a", "b"], scores: [0])
        }
        assertThrows("merges[0]") {
            try TokenizerLoader.fromGGUFMetadata(model: "gpt2", tokens: ["a", "b"], merges: ["ab"], pre: "gpt-2")
        }
        // Out-of-range special ids are dropped, not trusted.
        let g = try TokenizerLoader.fromGGUFMetadata(model: "gpt2", tokens: ["a", "b", "ab"], merges: ["a b"], pre: "gpt-2",
                                                     bos: 7, eos: -1, pad: 2)
        XCTAssertNil(g.bosId); XCTAssertNil(g.eosId); XCTAssertEqual(g.padId, 2)
        XCTAssertEqual(g.encode("abab a"), [2, 2, 0])   // " a": the space byte has no token and is dropped
    }

    /// Random Unicode text round-trips through both algorithms without traps.
    func testRandomTextRoundTrips() throws {
        let gpt2 = try TokenizerLoader.fromHuggingFaceJSON(path: shared("gpt2-tokenizer/tokenizer.json"))
        let l2c = try TokenizerLoader.fromLlama2C(path: shared("stories260K/tok512.bin"), vocabSize: 512)
        var state: UInt64 = 7
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let ranges: [ClosedRange<UInt32>] = [0x00...0x7F, 0x80...0x7FF, 0x800...0xFFFF, 0x10000...0x10FFFF, 0x20...0x7E]
        for _ in 0..<2000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<(Int(next() % 24)) {
                let r = ranges[Int(next() % UInt64(ranges.count))]
                if let u = Unicode.Scalar(r.lowerBound + UInt32(next() % UInt64(r.count))), u != "\u{2581}" { s.append(u) }
            }
            let t = String(s)
            XCTAssertEqual(gpt2.decode(gpt2.encode(t)), t)
            XCTAssertEqual(l2c.decode(l2c.encode(t)), t)
        }
    }

    // MARK: speed

    func testEncodeSpeed() throws {
        let gpt2 = try TokenizerLoader.fromHuggingFaceJSON(path: shared("gpt2-tokenizer/tokenizer.json"))
        let l2c = try TokenizerLoader.fromLlama2C(path: shared("stories260K/tok512.bin"), vocabSize: 512)
        // ~1 MB: the corpus' prose and code, plus pseudo-random words (so the word cache is not all hits).
        var state: UInt64 = 42
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let letters = Array("etaoinshrdlucmfwypvbgkqjxz")
        var text = ""
        var k = 0
        let corpus = TokenizerTests.corpus.filter { !$0.contains("<|") }
        while text.utf8.count < 1_000_000 {
            if k % 4 == 0 { text += corpus[Int(next() % UInt64(corpus.count))] + " " }
            var w = ""
            for _ in 0..<(2 + Int(next() % 8)) { w.append(letters[Int(next() % 26)]) }
            text += w + (next() % 10 == 0 ? ".\n" : " ")
            k += 1
        }
        let mb = Double(text.utf8.count) / 1e6
        let gpt2Merges = try TokenizerLoader.fromVocabMerges(vocab: shared("gpt2-tokenizer/vocab.json"),
                                                             merges: shared("gpt2-tokenizer/merges.txt"))
        for (name, tok) in [("gpt2 tokenizer.json pipeline", gpt2 as Tokenizer),
                            ("gpt2 vocab.json + merges.txt byte-level BPE", gpt2Merges),
                            ("llama2.c tok512 SentencePiece BPE", l2c)] {
            var t0 = Date()
            let ids = tok.encode(text)
            let cold = Date().timeIntervalSince(t0)
            t0 = Date()
            let ids2 = tok.encode(text)
            let warm = Date().timeIntervalSince(t0)
            XCTAssertEqual(ids, ids2)
            XCTAssertEqual(tok.decode(ids), text)
            print(String(format: "[speed] %@: %.2f MB -> %d tokens; first pass %.3f s (%.1f MB/s), cached %.3f s (%.1f MB/s)",
                         name, mb, ids.count, cold, mb / cold, warm, mb / warm))
        }
    }
}
