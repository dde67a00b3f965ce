import Foundation
import FPTensor

/// A Hugging Face tokenizer.json run as the `tokenizers` library runs it (Qwen 2, GPT-NeoX,
/// OLMo 2, Gemma, Llama 2, Mistral, Phi-3, GPT-2, Llama 3, SmolLM2 ...):
///
/// 1. added tokens with `normalized: false` are cut out of the raw text (leftmost-longest, with
///    their lstrip / rstrip / single_word options);
/// 2. each remaining piece is normalized (`HFNormalizer`), then added tokens with
///    `normalized: true` are cut out of the normalized text;
/// 3. the pre-tokenizer splits each piece into words (`HFPreTokenizer`);
/// 4. BPE turns each word into ids (`HFBPEModel`; words are cached).
///
/// Decoding maps ids to token strings (added tokens: their content) and runs the decoder
/// (`HFDecoder`). Components fp does not implement are named in the loading error.
public final class HFPipelineTokenizer: Tokenizer {
    public let vocabSize: Int
    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?
    /// Whether the tokenizer's own configuration prepends BOS: the tokenizer.json post-processor
    /// template when it has one (transformers 5 keeps it), else tokenizer_config.json add_bos_token.
    public let addBosToken: Bool

    let rawAdded: SpecialTokenMatcher
    let normalizedAdded: SpecialTokenMatcher
    let addedContent: [Int: [UInt8]]
    let normalizer: HFNormalizer
    let preTokenizer: HFPreTokenizer
    let model: HFBPEModel
    let decoder: HFDecoder
    let cache = WordCache()
    private var tokenIds: [String: Int]? = nil
    private let lock = NSLock()

    init(hf: HFTokenizerJSON, config: HFTokenizerConfig) throws {
        normalizer = try HFNormalizer(json: hf.root["normalizer"], file: hf.file)
        preTokenizer = try HFPreTokenizer(json: hf.root["pre_tokenizer"], file: hf.file)
        decoder = try HFDecoder(json: hf.root["decoder"], file: hf.file)
        model = try HFBPEModel(hf: hf)
        var raw: [SpecialTokenMatcher.Entry] = []
        var norm: [SpecialTokenMatcher.Entry] = []
        var content: [Int: [UInt8]] = [:]
        var maxId = model.tokens.count - 1
        for a in hf.added {
            content[a.id] = Array(a.content.utf8)
            maxId = max(maxId, a.id)
            if a.normalized {
                // Matched as the normalizer writes it (the library normalizes the content too).
                norm.append(.init(id: a.id, bytes: Array(normalizer.apply(a.content).utf8), lstrip: a.lstrip,
                                  rstrip: a.rstrip, singleWord: a.singleWord))
            } else {
                raw.append(.init(id: a.id, bytes: Array(a.content.utf8), lstrip: a.lstrip, rstrip: a.rstrip,
                                 singleWord: a.singleWord))
            }
        }
        rawAdded = SpecialTokenMatcher(raw)
        normalizedAdded = SpecialTokenMatcher(norm)
        addedContent = content
        vocabSize = maxId + 1
        let inRange = { (i: Int?) -> Int? in i.flatMap { $0 >= 0 && $0 <= maxId ? $0 : nil } }
        bosId = inRange(hf.id(of: config.bos))
        eosId = inRange(hf.id(of: config.eos))
        padId = inRange(hf.id(of: config.pad))
        addBosToken = hf.templateAddsBos ?? config.addBos ?? false
    }

    // MARK: Tokenizer

    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        let raw = Array(text.utf8)
        raw.withUnsafeBufferPointer { b in
            for seg in rawAdded.split(b) {
                switch seg {
                case .special(let id): out.append(id)
                case .text(let r):
                    var piece = Array(b[r])
                    if !normalizer.isEmpty && !(normalizer.keepsASCII && piece.allSatisfy({ $0 < 0x80 })) {
                        piece = Array(normalizer.apply(lossyString(piece)).utf8)
                    }
                    piece.withUnsafeBufferPointer { nb in
                        for seg2 in normalizedAdded.split(nb) {
                            switch seg2 {
                            case .special(let id): out.append(id)
                            case .text(let r2):
                                encodeWords(Array(nb[r2]), atStart: r.lowerBound == 0 && r2.lowerBound == 0, into: &out)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    private func encodeWords(_ text: [UInt8], atStart: Bool, into out: inout [Int]) {
        if let scanner = preTokenizer.scanner {
            text.withUnsafeBufferPointer { b in
                PreTokenizerRun(b, 0..<b.count).split(scanner) { encodeWord(Array(b[$0]), into: &out) }
            }
            return
        }
        let words = preTokenizer.steps.isEmpty ? [text] : preTokenizer.words(text, atStart: atStart)
        for w in words where !w.isEmpty { encodeWord(w, into: &out) }
    }

    private func encodeWord(_ w: [UInt8], into out: inout [Int]) {
        if let ids = cache.get(w) {
            for t in ids { out.append(Int(t)) }
            return
        }
        let ids = model.tokenize(w, byteLevel: preTokenizer.byteLevel)
        cache.put(w, ids)
        for t in ids { out.append(Int(t)) }
    }

    /// The token string of an id (added tokens: their content), nil for an unused id.
    func tokenString(_ id: Int) -> [UInt8]? {
        if let c = addedContent[id] { return c }
        guard id >= 0 && id < model.tokens.count, !model.tokens[id].isEmpty else { return nil }
        return model.tokens[id]
    }

    public func decode(_ ids: [Int]) -> String {
        decoder.decode(ids.compactMap { tokenString($0) })
    }

    /// The token's own text: the decoder without the steps that drop a start-of-text space.
    public func tokenText(_ id: Int) -> String {
        guard let t = tokenString(id) else { return "" }
        return decoder.decode([t], display: true)
    }

    public func id(ofToken text: String) -> Int? {
        lock.lock(); defer { lock.unlock() }
        if tokenIds == nil {
            var m: [String: Int] = [:]
            // Ordinary tokens first, then added tokens, then byte-fallback tokens ("<0x20>" and
            // "▁" both show " "). Texts with a replacement character are partial UTF-8: no token.
            func add(_ id: Int) {
                let t = tokenText(id)
                if !t.isEmpty && !t.unicodeScalars.contains("\u{FFFD}") && m[t] == nil { m[t] = id }
            }
            let isByte = { (id: Int) in self.model.byteFallback && self.addedContent[id] == nil
                && id < self.model.tokens.count && parseByteToken(self.model.tokens[id]) != nil }
            let ordinary = model.vocab.values.map { Int($0) }.filter { addedContent[$0] == nil }.sorted()
            for id in ordinary where !isByte(id) { add(id) }
            for id in addedContent.keys.sorted() { add(id) }
            for id in ordinary where isByte(id) { add(id) }
            tokenIds = m
        }
        return tokenIds?[text]
    }

    /// The token string as stored in tokenizer.json ("Ġworld", "▁Hello", "<0x0A>").
    public func piece(_ id: Int) -> String {
        tokenString(id).map { lossyString($0) } ?? ""
    }
}
