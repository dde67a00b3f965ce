import Foundation
import FPTensor

/// GPT-2-style byte-level BPE from vocab.json + merges.txt, tiktoken rank files and GGUF metadata
/// (GPT-2, Llama 3, Qwen2, SmolLM2 ...; a tokenizer.json is run by HFPipelineTokenizer).
///
/// Encoding: special (added) tokens are matched in the text first; each remaining segment is
/// split into words by the pre-tokenizer; each word's UTF-8 bytes start as one token per byte
/// and adjacent pairs are merged by rank (lowest first, leftmost among equals). Words are cached.
/// Decoding concatenates token bytes and reads them as UTF-8, invalid sequences becoming U+FFFD.
public final class ByteLevelBPE: Tokenizer {
    public let vocabSize: Int
    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?
    public let unkId: Int?
    /// Whether the tokenizer's own configuration prepends BOS (tokenizer_config.json
    /// `add_bos_token`, the post-processor template, GGUF `tokenizer.ggml.add_bos_token`).
    public let addBosToken: Bool
    public let preTokenizer: BytePreTokenizer
    /// Ids matched literally in the input text (added tokens, GGUF control/user-defined tokens).
    public let specialTokenIds: [Int]

    let tokenBytes: [[UInt8]]
    let bytesToId: [[UInt8]: Int32]
    let byteIds: [Int32]
    let merges: MergeTable
    let ignoreMerges: Bool
    let addPrefixSpace: Bool
    let nfc: Bool
    let specials: SpecialTokenMatcher
    let specialIdSet: Set<Int32>
    let cache = WordCache()

    struct Special {
        let id: Int
        let text: String
        var lstrip = false
        var rstrip = false
        var singleWord = false
    }

    /// - tokenBytes: each id's bytes (empty for an unused id).
    init(tokenBytes: [[UInt8]], merges: MergeTable, specials: [Special], preTokenizer: BytePreTokenizer,
         ignoreMerges: Bool = false, addPrefixSpace: Bool = false, nfc: Bool = false,
         bos: Int?, eos: Int?, pad: Int?, unk: Int?, addBos: Bool) {
        self.tokenBytes = tokenBytes
        self.vocabSize = tokenBytes.count
        var map: [[UInt8]: Int32] = [:]
        map.reserveCapacity(tokenBytes.count)
        let specialIds = Set(specials.map { $0.id })
        // Ordinary tokens first so that a special token's text never shadows an ordinary token.
        for (i, b) in tokenBytes.enumerated() where !b.isEmpty && !specialIds.contains(i) && map[b] == nil {
            map[b] = Int32(i)
        }
        for s in specials where s.id >= 0 && s.id < tokenBytes.count && map[Array(s.text.utf8)] == nil {
            map[Array(s.text.utf8)] = Int32(s.id)
        }
        self.bytesToId = map
        var bi = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { bi[b] = map[[UInt8(b)]] ?? -1 }
        self.byteIds = bi
        self.merges = merges
        self.ignoreMerges = ignoreMerges
        self.addPrefixSpace = addPrefixSpace
        self.nfc = nfc
        self.preTokenizer = preTokenizer
        let inRange = { (i: Int?) -> Int? in i.flatMap { $0 >= 0 && $0 < tokenBytes.count ? $0 : nil } }
        self.bosId = inRange(bos)
        self.eosId = inRange(eos)
        self.padId = inRange(pad)
        self.unkId = inRange(unk)
        self.addBosToken = addBos
        let valid = specials.filter { $0.id >= 0 && $0.id < tokenBytes.count }
        self.specialTokenIds = valid.map { $0.id }
        self.specialIdSet = Set(valid.map { Int32($0.id) })
        self.specials = SpecialTokenMatcher(valid.map {
            .init(id: $0.id, bytes: Array($0.text.utf8), lstrip: $0.lstrip, rstrip: $0.rstrip, singleWord: $0.singleWord)
        })
    }

    // MARK: Tokenizer

    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        var bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { b in
            for seg in specials.split(b) {
                switch seg {
                case .special(let id): out.append(id)
                case .text(let r):
                    if nfc || addPrefixSpace {
                        var s = Array(b[r])
                        if nfc {
                            s = Array(lossyString(s).precomposedStringWithCanonicalMapping.utf8)
                        }
                        if addPrefixSpace && s.first != 0x20 { s.insert(0x20, at: 0) }
                        s.withUnsafeBufferPointer { encodeSegment($0, 0..<$0.count, into: &out) }
                    } else {
                        encodeSegment(b, r, into: &out)
                    }
                }
            }
        }
        bytes.removeAll()
        return out
    }

    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && id < tokenBytes.count { bytes.append(contentsOf: tokenBytes[id]) }
        return lossyString(bytes)
    }

    public func tokenText(_ id: Int) -> String {
        guard id >= 0 && id < tokenBytes.count else { return "" }
        return lossyString(tokenBytes[id])
    }

    public func id(ofToken text: String) -> Int? {
        bytesToId[Array(text.utf8)].map(Int.init)
    }

    /// The raw bytes of a token (a token may hold part of a UTF-8 sequence).
    public func tokenBytes(_ id: Int) -> [UInt8] {
        guard id >= 0 && id < tokenBytes.count else { return [] }
        return tokenBytes[id]
    }

    // MARK: Encoding

    func encodeSegment(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, into out: inout [Int]) {
        let run = PreTokenizerRun(b, r)
        run.split(preTokenizer) { w in
            let key = Array(b[w])
            if let ids = cache.get(key) {
                for t in ids { out.append(Int(t)) }
                return
            }
            let ids = bpe(key)
            cache.put(key, ids)
            for t in ids { out.append(Int(t)) }
        }
    }

    /// BPE of one word's bytes.
    func bpe(_ word: [UInt8]) -> [Int32] {
        // ignore_merges: a word that is a whole ordinary token is that token.
        if ignoreMerges, let id = bytesToId[word], !specialIdSet.contains(id) { return [id] }
        var syms: [Int32] = []
        syms.reserveCapacity(word.count)
        for c in word {
            let t = byteIds[Int(c)]
            if t >= 0 { syms.append(t) } else if let u = unkId { syms.append(Int32(u)) }
        }
        merges.apply(&syms)
        return syms
    }

    // MARK: GPT-2's byte <-> unicode table

    /// bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
    /// U+0100 + n in byte order.
    static let byteToUnicode: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + n
                n += 1
            }
        }
        return table
    }()

    static let unicodeToByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, u) in byteToUnicode.enumerated() { m[u] = UInt8(b) }
        return m
    }()

    /// The bytes of a vocabulary entry written in GPT-2's byte-to-unicode alphabet; entries with
    /// a character outside that alphabet (added tokens) are taken as their own UTF-8 bytes, as
    /// the Hugging Face ByteLevel decoder does.
    static func bytes(ofByteLevel s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard let b = unicodeToByte[u.value] else { return Array(s.utf8) }
            out.append(b)
        }
        return out
    }

    /// The byte-level (GPT-2 alphabet) spelling of some bytes.
    static func byteLevelString(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { if let u = Unicode.Scalar(byteToUnicode[Int(b)]) { s.append(u) } }
        return String(s)
    }
}

// MARK: - Constructors

extension ByteLevelBPE {
    /// Largest id accepted from a file (a lying id must not allocate gigabytes).
    static let maxId = 4_000_000
    /// Tokens longer than this are not split into merges (rank files and score vocabularies
    /// imply merges from every split, n^2 work for an n-byte token); they still decode, and a
    /// whole pre-token equal to one still encodes to it. Real vocabularies stay far below.
    static let maxMergedTokenBytes = 256

    /// Token bytes by id from a byte-level vocabulary (token string -> id).
    static func tokenTable(_ vocab: [(String, Int)], extra: [(String, Int)], file: String) throws -> [[UInt8]] {
        var maxSeen = -1
        for (t, id) in vocab + extra {
            guard id >= 0 && id <= maxId else { throw TensorError("\(file): token \(TinyQuote.q(t)) has id \(id), expected 0...\(maxId)") }
            maxSeen = max(maxSeen, id)
        }
        var table = [[UInt8]](repeating: [], count: maxSeen + 1)
        for (t, id) in vocab { table[id] = bytes(ofByteLevel: t) }
        for (t, id) in extra { table[id] = Array(t.utf8) }
        return table
    }

    /// Merge table from "a b" merge rules over a byte-level vocabulary (rank = line order).
    /// Rules whose parts or result are not in the vocabulary are skipped.
    static func mergeTable(_ rules: [(String, String)], vocab: [String: Int]) -> MergeTable {
        var m = MergeTable()
        m.reserve(rules.count)
        for (rank, (a, b)) in rules.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b], let im = vocab[a + b] else { continue }
            m.add(Int32(ia), Int32(ib), priority: UInt32(rank), merged: Int32(im))
        }
        return m
    }

    /// GPT-2's Hugging Face files: `vocab.json` (token -> id) and `merges.txt`.
    /// `specialTokens` are matched in the text (added with new ids when absent from vocab.json).
    public static func load(vocabJSON: String, mergesTXT: String, specialTokens: [String] = ["<|endoftext|>"],
                            bos: String? = "<|endoftext|>", eos: String? = "<|endoftext|>",
                            pad: String? = nil, unk: String? = nil, addBos: Bool = false,
                            addPrefixSpace: Bool = false) throws -> ByteLevelBPE {
        guard let vobj = try TokenizerFiles.json(vocabJSON) as? [String: Any] else {
            throw TensorError("\(vocabJSON): expected a JSON object of token -> id")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vobj.count)
        for (k, v) in vobj {
            guard let id = jsonInt(v) else { throw TensorError("\(vocabJSON): token \(TinyQuote.q(k)) has a non-integer id") }
            vocab[k] = id
        }
        let rules = try parseMerges(try TokenizerFiles.text(mergesTXT), file: mergesTXT)
        var extra: [(String, Int)] = []
        var next = (vocab.values.max() ?? -1) + 1
        var specials: [Special] = []
        var added: [String: Int] = [:]   // a dictionary: configs may list many thousands
        for s in specialTokens where !s.isEmpty {
            if let id = vocab[s] { specials.append(Special(id: id, text: s)); continue }
            if added[s] != nil { continue }
            added[s] = next
            extra.append((s, next)); specials.append(Special(id: next, text: s)); next += 1
        }
        let table = try tokenTable(vocab.map { ($0.key, $0.value) }, extra: extra, file: vocabJSON)
        func idOf(_ name: String?) -> Int? {
            guard let n = name else { return nil }
            return vocab[n] ?? added[n]
        }
        return ByteLevelBPE(tokenBytes: table, merges: mergeTable(rules, vocab: vocab), specials: specials,
                            preTokenizer: .gpt2, addPrefixSpace: addPrefixSpace,
                            bos: idOf(bos), eos: idOf(eos), pad: idOf(pad), unk: idOf(unk), addBos: addBos)
    }

    /// merges.txt: an optional "#version" line, then "left right" per line.
    static func parseMerges(_ text: String, file: String) throws -> [(String, String)] {
        var rules: [(String, String)] = []
        var lineNo = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.isEmpty || (lineNo == 1 && l.hasPrefix("#version")) { continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TensorError("\(file): line \(lineNo): expected two tokens separated by one space")
            }
            rules.append((String(parts[0]), String(parts[1])))
        }
        return rules
    }

    /// A tiktoken rank file ("base64(token bytes) rank" per line, e.g. gpt2.tiktoken = r50k_base).
    /// Merges follow from the ranks: the adjacent pair whose concatenation has the lowest rank
    /// merges first. `specialTokens` default to "<|endoftext|>" with the id after the last rank.
    public static func load(tiktoken path: String, specialTokens: [String: Int]? = nil,
                            preTokenizer: BytePreTokenizer = .gpt2) throws -> ByteLevelBPE {
        let data = try TokenizerFiles.read(path)
        var ranks: [([UInt8], Int)] = []
        var lineNo = 0
        var maxRank = -1
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            var l = line
            if l.last == UInt8(ascii: "\r") { l = l.dropLast() }
            if l.isEmpty { continue }
            let parts = l.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard parts.count == 2,
                  let tok = Data(base64Encoded: Data(parts[0])),
                  let rank = Int(String(decoding: parts[1], as: UTF8.self)), rank >= 0, rank <= maxId else {
                throw TensorError("\(path): line \(lineNo): expected \"<base64 token> <rank>\"")
            }
            guard !tok.isEmpty else { throw TensorError("\(path): line \(lineNo): empty token") }
            ranks.append((Array(tok), rank))
            maxRank = max(maxRank, rank)
        }
        guard !ranks.isEmpty else { throw TensorError("\(path): no tokens") }
        var table = [[UInt8]](repeating: [], count: maxRank + 1)
        var rankOf: [[UInt8]: Int] = [:]
        rankOf.reserveCapacity(ranks.count)
        for (t, r) in ranks {
            guard table[r].isEmpty else { throw TensorError("\(path): rank \(r) appears twice") }
            table[r] = t
            if rankOf[t] == nil { rankOf[t] = r }
        }
        let specialMap = specialTokens ?? ["<|endoftext|>": maxRank + 1]
        var specials: [Special] = []
        for (text, id) in specialMap.sorted(by: { $0.value < $1.value }) {
            guard id >= 0 && id <= maxId else { throw TensorError("\(path): special token id \(id) out of range") }
            while table.count <= id { table.append([]) }
            table[id] = Array(text.utf8)
            specials.append(Special(id: id, text: text))
        }
        // Every split of a token into two tokens is a merge with that token's rank.
        var m = MergeTable()
        m.reserve(ranks.count * 2)
        for (t, r) in ranks where t.count >= 2 && t.count <= maxMergedTokenBytes {
            for k in 1..<t.count {
                guard let a = rankOf[Array(t[0..<k])], let b = rankOf[Array(t[k...])] else { continue }
                m.add(Int32(a), Int32(b), priority: UInt32(r), merged: Int32(r))
            }
        }
        let eot = specialMap["<|endoftext|>"]
        return ByteLevelBPE(tokenBytes: table, merges: m, specials: specials, preTokenizer: preTokenizer,
                            ignoreMerges: true, bos: eot, eos: eot, pad: nil, unk: nil, addBos: false)
    }

    /// GGUF metadata of a "gpt2"-model tokenizer: `tokenizer.ggml.tokens` (byte-level spelling),
    /// `.merges`, `.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte)
    /// and `.pre`. Control, user-defined and unknown tokens are matched in the text. Text is NFC
    /// normalized first for the `pre` values whose tokenizer.json does (`normalizesNFC`).
    public static func load(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int]?, pre: String?,
                            bos: Int?, eos: Int?, pad: Int?, unk: Int? = nil, addBos: Bool = false,
                            source: String = "GGUF metadata") throws -> ByteLevelBPE {
        guard !tokens.isEmpty else { throw TensorError("\(source): tokenizer.ggml.tokens is empty") }
        if let t = tokenTypes, t.count != tokens.count {
            throw TensorError("\(source): tokenizer.ggml.token_type has \(t.count) entries, expected \(tokens.count)")
        }
        let preName = pre ?? "default"
        guard let pt = BytePreTokenizer(ggufPre: preName) else {
            throw TensorError("\(source): unsupported tokenizer.ggml.pre \(TinyQuote.q(preName))")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        var table = [[UInt8]](repeating: [], count: tokens.count)
        var specials: [Special] = []
        for (i, t) in tokens.enumerated() {
            if vocab[t] == nil { vocab[t] = i }
            let type = tokenTypes?[i] ?? 1
            if type == 2 || type == 3 || type == 4 {
                table[i] = Array(t.utf8)
                specials.append(Special(id: i, text: t))
            } else {
                table[i] = bytes(ofByteLevel: t)
            }
        }
        var rules: [(String, String)] = []
        rules.reserveCapacity(merges.count)
        for (k, rule) in merges.enumerated() {
            // llama.cpp splits at the first space after the first character.
            let sc = Array(rule.unicodeScalars)
            guard sc.count >= 3, let sp = sc[1...].firstIndex(of: " ") else {
                throw TensorError("\(source): tokenizer.ggml.merges[\(k)] is not \"left right\"")
            }
            var l = String.UnicodeScalarView(); l.append(contentsOf: sc[..<sp])
            var r = String.UnicodeScalarView(); r.append(contentsOf: sc[(sp + 1)...])
            rules.append((String(l), String(r)))
        }
        let ignore = ["llama3", "llama-v3", "llama-bpe"].contains(preName)
        return ByteLevelBPE(tokenBytes: table, merges: mergeTable(rules, vocab: vocab), specials: specials,
                            preTokenizer: pt, ignoreMerges: ignore, nfc: BytePreTokenizer.normalizesNFC(ggufPre: preName),
                            bos: bos, eos: eos, pad: pad, unk: unk, addBos: addBos)
    }
}

/// JSON-style quoting for messages.
enum TinyQuote {
    static func q(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars.prefix(80) {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += "\\u" + String(format: "%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
