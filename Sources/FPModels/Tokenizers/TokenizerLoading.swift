import Foundation
import FPTensor

/// Builds tokenizers from the files and metadata that models ship with. Every malformed input
/// is a thrown `TensorError` that names the file.
///
/// BOS/EOS/PAD: each tokenizer exposes `bosId`, `eosId`, `padId` (nil when its files name none;
/// GPT-2 names no pad — a caller that needs one uses eos, as TransformerLens does) and
/// `addBosByDefault`, what its own configuration says about prepending BOS. Callers add BOS
/// themselves (`encode` never does).
public enum TokenizerLoader {
    /// A Hugging Face model folder: `tokenizer.json`, else `vocab.json` + `merges.txt`;
    /// `tokenizer_config.json` and `special_tokens_map.json` give bos/eos/pad/unk and add_bos_token.
    public static func fromHuggingFaceFolder(_ dir: String) throws -> Tokenizer {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw TensorError("\(dir): not a folder")
        }
        let base = URL(fileURLWithPath: dir)
        func path(_ name: String) -> String { base.appendingPathComponent(name).path }
        let config = try HFTokenizerConfig.read(folder: dir)
        if fm.fileExists(atPath: path("tokenizer.json")) {
            return try fromHuggingFaceJSON(path: path("tokenizer.json"), config: config)
        }
        if fm.fileExists(atPath: path("vocab.json")) && fm.fileExists(atPath: path("merges.txt")) {
            var specials = config.allSpecialNames
            if specials.isEmpty { specials = ["<|endoftext|>"] }
            return try ByteLevelBPE.load(vocabJSON: path("vocab.json"), mergesTXT: path("merges.txt"),
                                         specialTokens: specials, bos: config.bos, eos: config.eos,
                                         pad: config.pad, unk: config.unk, addBos: config.addBos ?? false,
                                         addPrefixSpace: config.addPrefixSpace ?? false)
        }
        if fm.fileExists(atPath: path("tokenizer.model")) {
            throw TensorError("\(path("tokenizer.model")): SentencePiece model files are not supported; "
                              + "a tokenizer.json (or a GGUF file) is needed")
        }
        throw TensorError("\(dir): no tokenizer.json, nor vocab.json with merges.txt")
    }

    /// A Hugging Face `tokenizer.json` of model type "BPE", byte-level (GPT-2, Llama 3, Qwen 2,
    /// GPT-NeoX, OLMo 2) or SentencePiece-style with byte fallback (Llama 2, Mistral, Gemma,
    /// Phi-3), run by `HFPipelineTokenizer`. bos/eos/pad names come from tokenizer_config.json
    /// (and special_tokens_map.json) in the same folder.
    public static func fromHuggingFaceJSON(path: String) throws -> Tokenizer {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try fromHuggingFaceJSON(path: path, config: HFTokenizerConfig.read(folder: dir))
    }

    static func fromHuggingFaceJSON(path: String, config: HFTokenizerConfig) throws -> Tokenizer {
        let root = try TokenizerFiles.jsonObject(path)
        return try HFPipelineTokenizer(hf: try HFTokenizerJSON(root, file: path), config: config)
    }

    /// GPT-2's `vocab.json` + `merges.txt` with "<|endoftext|>" as bos/eos.
    public static func fromVocabMerges(vocab: String, merges: String) throws -> ByteLevelBPE {
        try ByteLevelBPE.load(vocabJSON: vocab, mergesTXT: merges)
    }

    /// A tiktoken rank file (e.g. `gpt2.tiktoken`, r50k_base), "<|endoftext|>" after the last rank.
    public static func fromTiktoken(path: String, specialTokens: [String: Int]? = nil,
                                    preTokenizer: BytePreTokenizer = .gpt2) throws -> ByteLevelBPE {
        try ByteLevelBPE.load(tiktoken: path, specialTokens: specialTokens, preTokenizer: preTokenizer)
    }

    /// A llama2.c `tokenizer.bin`; `vocabSize` from the checkpoint header.
    public static func fromLlama2C(path: String, vocabSize: Int) throws -> SentencePieceBPE {
        try SentencePieceBPE.load(llama2c: path, vocabSize: vocabSize)
    }

    /// GGUF tokenizer metadata as plain values: `model` is `tokenizer.ggml.model` ("gpt2" for
    /// byte-level BPE, "llama" for SentencePiece BPE); `pre` is `tokenizer.ggml.pre`.
    /// `addBos` (`tokenizer.ggml.add_bos_token`) defaults to llama.cpp's default for the model.
    /// `modelName` is `general.name`, which llama.cpp reads for one rule (`ggufRStripIds`).
    public static func fromGGUFMetadata(model: String, tokens: [String], scores: [Float]? = nil,
                                        merges: [String]? = nil, tokenTypes: [Int]? = nil, pre: String? = nil,
                                        bos: Int? = nil, eos: Int? = nil, pad: Int? = nil, unk: Int? = nil,
                                        addBos: Bool? = nil, addSpacePrefix: Bool? = nil, modelName: String? = nil,
                                        source: String = "GGUF metadata") throws -> Tokenizer {
        switch model {
        case "gpt2":
            guard let merges = merges else { throw TensorError("\(source): tokenizer.ggml.merges is missing") }
            let llama3 = pre.map { ["llama3", "llama-v3", "llama-bpe"].contains($0) } ?? false
            return try ByteLevelBPE.load(ggufTokens: tokens, merges: merges, tokenTypes: tokenTypes, pre: pre,
                                         bos: bos, eos: eos, pad: pad, unk: unk, addBos: addBos ?? llama3,
                                         source: source)
        case "llama":
            return try SentencePieceBPE.load(ggufTokens: tokens, scores: scores, tokenTypes: tokenTypes,
                                             bos: bos, eos: eos, pad: pad, unk: unk, addBos: addBos ?? true,
                                             addSpacePrefix: addSpacePrefix ?? true,
                                             rstrip: ggufRStripIds(tokens: tokens, tokenTypes: tokenTypes, modelName: modelName),
                                             source: source)
        default:
            throw TensorError("\(source): unsupported tokenizer.ggml.model \(TinyQuote.q(model)) "
                              + "(supported: \"gpt2\", \"llama\")")
        }
    }
}

extension TokenizerLoader {
    /// Special tokens that swallow the whitespace after them, which GGUF files do not record:
    /// llama.cpp sets it by the model's name (lowercased `general.name` containing "phi-3" or
    /// "phi3": every control, user-defined and unknown token and "</s>", except "<unk>", "<s>" and
    /// "<|endoftext|>"), matching Phi-3's tokenizer.json (its chat tokens have rstrip).
    static func ggufRStripIds(tokens: [String], tokenTypes: [Int]?, modelName: String?) -> Set<Int> {
        guard let name = modelName?.lowercased(), name.contains("phi-3") || name.contains("phi3") else { return [] }
        var ids = Set<Int>()
        for (i, t) in tokens.enumerated() {
            let type = tokenTypes?[i] ?? 1
            if (type == 2 || type == 3 || type == 4 || t == "</s>") && !["<unk>", "<s>", "<|endoftext|>"].contains(t) { ids.insert(i) }
        }
        return ids
    }
}

extension Tokenizer {
    /// What the tokenizer's own configuration says about prepending BOS (tokenizer_config.json
    /// add_bos_token, the post-processor template, GGUF add_bos_token; llama2.c: true).
    /// A model family may override it (GPT-2: true, TransformerLens's convention).
    public var addBosByDefault: Bool {
        if let t = self as? ByteLevelBPE { return t.addBosToken }
        if let t = self as? SentencePieceBPE { return t.addBosToken }
        if let t = self as? HFPipelineTokenizer { return t.addBosToken }
        return false
    }
}

// MARK: - Hugging Face files

/// tokenizer_config.json + special_tokens_map.json.
struct HFTokenizerConfig {
    var bos: String?
    var eos: String?
    var pad: String?
    var unk: String?
    var additional: [String] = []
    var addBos: Bool?
    var addPrefixSpace: Bool?

    var allSpecialNames: [String] {
        var out: [String] = []
        var seen = Set<String>()
        for s in [bos, eos, unk, pad].compactMap({ $0 }) + additional where seen.insert(s).inserted { out.append(s) }
        return out
    }

    static func read(folder: String) throws -> HFTokenizerConfig {
        var c = HFTokenizerConfig()
        var seen = Set<String>()   // `additional` as a set: configs may list many thousands
        let base = URL(fileURLWithPath: folder)
        // special_tokens_map.json first, tokenizer_config.json overrides.
        for name in ["special_tokens_map.json", "tokenizer_config.json"] {
            let p = base.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: p) else { continue }
            let o = try TokenizerFiles.jsonObject(p)
            if let s = jsonTokenContent(o["bos_token"]) { c.bos = s }
            if let s = jsonTokenContent(o["eos_token"]) { c.eos = s }
            if let s = jsonTokenContent(o["pad_token"]) { c.pad = s }
            if let s = jsonTokenContent(o["unk_token"]) { c.unk = s }
            if let a = o["additional_special_tokens"] as? [Any] {
                for v in a { if let s = jsonTokenContent(v), seen.insert(s).inserted { c.additional.append(s) } }
            }
            if let b = jsonBool(o["add_bos_token"]) { c.addBos = b }
            if let b = jsonBool(o["add_prefix_space"]) { c.addPrefixSpace = b }
            // Newer configs list added tokens as {"id": {"content": ..., "special": true}}.
            if let d = o["added_tokens_decoder"] as? [String: Any] {
                for (_, v) in d {
                    if let e = v as? [String: Any], jsonBool(e["special"]) == true,
                       let s = e["content"] as? String, seen.insert(s).inserted {
                        c.additional.append(s)
                    }
                }
            }
        }
        return c
    }
}

/// The parts of a tokenizer.json (model type "BPE") read before the pipeline is built.
struct HFTokenizerJSON {
    struct Added {
        let id: Int
        let content: String
        let special: Bool
        let lstrip: Bool
        let rstrip: Bool
        let singleWord: Bool
        /// Matched in the normalized text (else in the raw text).
        let normalized: Bool
    }

    let file: String
    let root: [String: Any]
    let model: [String: Any]
    let vocab: [String: Int]
    let merges: [(String, String)]
    let added: [Added]
    let unkToken: String?

    init(_ root: [String: Any], file: String) throws {
        self.file = file
        self.root = root
        guard let model = root["model"] as? [String: Any] else { throw TensorError("\(file): missing \"model\"") }
        self.model = model
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else {
            throw TensorError("\(file): model type \(TinyQuote.q(type)) is not supported (only \"BPE\")")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty {
                throw TensorError("\(file): model.\(key) \(TinyQuote.q(s)) is not supported")
            }
        }
        guard let v = model["vocab"] as? [String: Any] else { throw TensorError("\(file): model.vocab is not an object") }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(v.count)
        for (k, x) in v {
            guard let id = jsonInt(x), id >= 0, id <= ByteLevelBPE.maxId else {
                throw TensorError("\(file): model.vocab[\(TinyQuote.q(k))] is not an id in 0...\(ByteLevelBPE.maxId)")
            }
            vocab[k] = id
        }
        self.vocab = vocab
        var merges: [(String, String)] = []
        if let ms = model["merges"] as? [Any] {
            merges.reserveCapacity(ms.count)
            for (i, m) in ms.enumerated() {
                if let s = m as? String {
                    let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw TensorError("\(file): model.merges[\(i)] is not \"left right\"") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let p = m as? [Any], p.count == 2, let a = p[0] as? String, let b = p[1] as? String {
                    merges.append((a, b))
                } else {
                    throw TensorError("\(file): model.merges[\(i)] is neither \"left right\" nor a pair of strings")
                }
            }
        } else if model["merges"] != nil && !(model["merges"] is NSNull) {
            throw TensorError("\(file): model.merges is not an array")
        }
        self.merges = merges
        var added: [Added] = []
        if let list = root["added_tokens"] as? [Any] {
            for (i, x) in list.enumerated() {
                guard let e = x as? [String: Any], let id = jsonInt(e["id"]), id >= 0, id <= ByteLevelBPE.maxId,
                      let content = e["content"] as? String else {
                    throw TensorError("\(file): added_tokens[\(i)] needs an \"id\" and a \"content\"")
                }
                added.append(Added(id: id, content: content, special: jsonBool(e["special"]) ?? false,
                                   lstrip: jsonBool(e["lstrip"]) ?? false, rstrip: jsonBool(e["rstrip"]) ?? false,
                                   singleWord: jsonBool(e["single_word"]) ?? false,
                                   normalized: jsonBool(e["normalized"]) ?? !(jsonBool(e["special"]) ?? false)))
            }
        }
        self.added = added
        self.unkToken = model["unk_token"] as? String
    }

    var byteFallback: Bool { jsonBool(model["byte_fallback"]) ?? false }
    var ignoreMerges: Bool { jsonBool(model["ignore_merges"]) ?? false }

    static func type(_ v: Any?) -> String? { (v as? [String: Any])?["type"] as? String }

    /// The components of a (possibly Sequence, possibly nested) normalizer / pre-tokenizer / decoder.
    static func flatten(_ v: Any?, listKey: String, depth: Int = 0) -> [[String: Any]] {
        guard let o = v as? [String: Any] else { return [] }
        if o["type"] as? String == "Sequence", let list = o[listKey] as? [Any], depth < 8 {
            return list.flatMap { flatten($0, listKey: listKey, depth: depth + 1) }
        }
        return [o]
    }

    var normalizers: [[String: Any]] { HFTokenizerJSON.flatten(root["normalizer"], listKey: "normalizers") }
    var preTokenizers: [[String: Any]] { HFTokenizerJSON.flatten(root["pre_tokenizer"], listKey: "pretokenizers") }
    var decoders: [[String: Any]] { HFTokenizerJSON.flatten(root["decoder"], listKey: "decoders") }

    /// Whether the post-processor template puts a special token before the sequence; nil when
    /// there is no TemplateProcessing.
    var templateAddsBos: Bool? {
        for p in HFTokenizerJSON.flatten(root["post_processor"], listKey: "processors")
        where p["type"] as? String == "TemplateProcessing" {
            guard let single = p["single"] as? [Any], let first = single.first as? [String: Any] else { return false }
            return first["SpecialToken"] != nil
        }
        return nil
    }

    /// Longest string fp accepts where a normalizer or pre-tokenizer inserts text (Replace content,
    /// Prepend, Metaspace replacement); real files use one character.
    static let maxComponentString = 64

    /// A Replace normalizer / decoder with a literal pattern: (pattern, content).
    static func literalReplace(_ o: [String: Any], what: String, file: String) throws -> (String, String) {
        let pattern = o["pattern"] as? [String: Any]
        guard let content = o["content"] as? String else {
            throw TensorError("\(file): \(what) Replace needs a \"content\" string")
        }
        // A long content would let a small hostile file multiply the text's size at every match.
        guard content.utf8.count <= maxComponentString else {
            throw TensorError("\(file): \(what) Replace content is longer than \(maxComponentString) bytes")
        }
        if let s = pattern?["String"] as? String { return (s, content) }
        if let rx = pattern?["Regex"] as? String {
            throw TensorError("\(file): \(what) Replace with the regex \(TinyQuote.q(rx)) is not implemented by fp "
                              + "(only literal {\"String\": ...} patterns)")
        }
        throw TensorError("\(file): \(what) Replace needs a pattern {\"String\": ...}")
    }

    /// Id of a token name: added tokens first, then the vocabulary.
    func id(of name: String?) -> Int? {
        guard let n = name else { return nil }
        if let a = added.first(where: { $0.content == n }) { return a.id }
        return vocab[n]
    }
}
