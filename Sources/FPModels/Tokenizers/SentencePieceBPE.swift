import Foundation
import FPTensor

/// SentencePiece-style BPE with byte fallback (llama2.c, GGUF model "llama"; a tokenizer.json
/// is run by HFPipelineTokenizer).
///
/// Encoding: special tokens are matched in the text first; in each remaining segment spaces
/// become "▁" and a "▁" is prepended (add_dummy_prefix); the segment starts as one piece per
/// character (a character missing from the vocabulary becomes its UTF-8 bytes as "<0xAB>"
/// pieces) and adjacent pairs are merged, best first by piece score, leftmost among equals. Decoding turns "▁" into spaces and byte pieces
/// into bytes, and drops the dummy-prefix space of the first piece: of the first token (llama.cpp,
/// and Hugging Face's Strip decoder, for GGUF files), or of the first piece after leading control
/// tokens (llama2.c, which strips it after BOS).
public final class SentencePieceBPE: Tokenizer {
    public let vocabSize: Int
    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?
    public let unkId: Int?
    /// Whether the tokenizer's own configuration prepends BOS (llama2.c and Llama 2: true).
    public let addBosToken: Bool
    /// Ids matched literally in the input text (control, user-defined and unknown pieces).
    public let specialTokenIds: [Int]

    /// How SentencePiece and its ports treat each piece.
    enum Kind: UInt8 { case normal = 1, unknown, control, userDefined, unused, byte }

    /// Where the dummy prefix "▁" goes.
    enum Prefix {
        case none
        /// Every text segment (llama.cpp; Hugging Face legacy Prepend normalizer).
        case everySegment
        /// Only a segment at the very start of the input (Metaspace prepend_scheme "first").
        case textStart
    }

    let pieces: [[UInt8]]          // piece bytes, "▁" kept
    let display: [[UInt8]]         // what decode / tokenText show
    let kinds: [Kind]
    let byteValue: [Int16]         // the byte of a byte piece, else -1
    let pieceToId: [[UInt8]: Int32]
    let byteIds: [Int32]
    let merges: MergeTable
    let specials: SpecialTokenMatcher
    let prefix: Prefix
    /// Decoding drops the dummy prefix of the first piece after leading control tokens
    /// (llama2.c) rather than only of the first token (llama.cpp).
    let stripAfterControl: Bool
    /// True when no piece holds "▁" after another character: then no merge can cross the start
    /// of a "▁"-word and words can be encoded (and cached) one at a time.
    let wordsAreIndependent: Bool
    let cache = WordCache()

    static let space: [UInt8] = [0xE2, 0x96, 0x81]   // "▁" U+2581

    /// - pieces: each id's piece bytes ("▁" for spaces); display: the text shown for control
    ///   pieces (defaults to the piece); mergeable: pieces that a merge may produce and that a
    ///   single character may map to.
    ///   rstrip: special pieces that swallow the whitespace after them (llama.cpp's Phi-3 rule).
    init(pieces: [[UInt8]], kinds: [Kind], display: [Int: String] = [:], merges: MergeTable,
         prefix: Prefix, bos: Int?, eos: Int?, pad: Int?, unk: Int?, addBos: Bool, rstrip: Set<Int> = [],
         stripAfterControl: Bool = false) {
        self.pieces = pieces
        self.vocabSize = pieces.count
        self.kinds = kinds
        var disp = pieces
        for (i, s) in display where i >= 0 && i < disp.count { disp[i] = Array(s.utf8) }
        self.display = disp
        var bv = [Int16](repeating: -1, count: pieces.count)
        var bi = [Int32](repeating: -1, count: 256)
        var map: [[UInt8]: Int32] = [:]
        map.reserveCapacity(pieces.count)
        var specialEntries: [SpecialTokenMatcher.Entry] = []
        var independent = true
        for (i, p) in pieces.enumerated() {
            switch kinds[i] {
            case .byte:
                if let v = parseByteToken(p) {
                    bv[i] = Int16(v)
                    if bi[Int(v)] < 0 { bi[Int(v)] = Int32(i) }
                }
            case .control, .userDefined, .unknown:
                specialEntries.append(.init(id: i, bytes: disp[i], lstrip: false, rstrip: rstrip.contains(i), singleWord: false))
            default: break
            }
            if kinds[i] == .normal || kinds[i] == .userDefined, !p.isEmpty, map[p] == nil { map[p] = Int32(i) }
            if independent && SentencePieceBPE.hasInnerSpace(p) && (kinds[i] == .normal || kinds[i] == .userDefined) {
                independent = false
            }
        }
        self.byteValue = bv
        self.byteIds = bi
        self.pieceToId = map
        self.merges = merges
        self.prefix = prefix
        self.stripAfterControl = stripAfterControl
        self.wordsAreIndependent = independent
        let inRange = { (i: Int?) -> Int? in i.flatMap { $0 >= 0 && $0 < pieces.count ? $0 : nil } }
        self.bosId = inRange(bos)
        self.eosId = inRange(eos)
        self.padId = inRange(pad)
        self.unkId = inRange(unk)
        self.addBosToken = addBos
        self.specialTokenIds = specialEntries.map { $0.id }
        self.specials = SpecialTokenMatcher(specialEntries)
    }

    /// "▁" somewhere after a character that is not "▁".
    static func hasInnerSpace(_ p: [UInt8]) -> Bool {
        var i = 0
        var sawOther = false
        while i < p.count {
            if i + 3 <= p.count && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81 {
                if sawOther { return true }
                i += 3
            } else {
                sawOther = true
                i += 1
            }
        }
        return false
    }

    // MARK: Tokenizer

    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { b in
            for seg in specials.split(b) {
                switch seg {
                case .special(let id): out.append(id)
                case .text(let r):
                    var s: [UInt8] = []
                    s.reserveCapacity(r.count + r.count / 2 + 3)
                    switch prefix {
                    case .everySegment: s.append(contentsOf: SentencePieceBPE.space)
                    case .textStart: if r.lowerBound == 0 { s.append(contentsOf: SentencePieceBPE.space) }
                    case .none: break
                    }
                    for c in b[r] {
                        if c == 0x20 { s.append(contentsOf: SentencePieceBPE.space) } else { s.append(c) }
                    }
                    encodeNormalized(s, into: &out)
                }
            }
        }
        return out
    }

    public func decode(_ ids: [Int]) -> String {
        var out: [UInt8] = []
        var first = true
        for id in ids where id >= 0 && id < pieces.count {
            switch kinds[id] {
            case .control, .unknown, .unused:
                out.append(contentsOf: display[id])
                if !stripAfterControl { first = false }
            case .byte where byteValue[id] >= 0:
                out.append(UInt8(byteValue[id]))
                first = false
            default:
                var p = display[id]
                if first && prefix != .none && p.starts(with: SentencePieceBPE.space) { p.removeFirst(3) }
                appendUnescaped(p, to: &out)
                first = false
            }
        }
        return lossyString(out)
    }

    public func tokenText(_ id: Int) -> String {
        guard id >= 0 && id < pieces.count else { return "" }
        if kinds[id] == .byte && byteValue[id] >= 0 { return lossyString([UInt8(byteValue[id])]) }
        if kinds[id] == .normal || kinds[id] == .userDefined {
            var out: [UInt8] = []
            appendUnescaped(display[id], to: &out)
            return lossyString(out)
        }
        return lossyString(display[id])
    }

    public func id(ofToken text: String) -> Int? {
        var s: [UInt8] = []
        for c in text.utf8 { if c == 0x20 { s.append(contentsOf: SentencePieceBPE.space) } else { s.append(c) } }
        if let id = pieceToId[s] { return Int(id) }
        let raw = Array(text.utf8)
        for id in specialTokenIds where display[id] == raw { return id }
        if raw.count == 1, byteIds[Int(raw[0])] >= 0 { return Int(byteIds[Int(raw[0])]) }
        return nil
    }

    /// The piece as stored ("▁Hello", "<0x0A>", "<s>").
    public func piece(_ id: Int) -> String {
        guard id >= 0 && id < pieces.count else { return "" }
        return lossyString(pieces[id])
    }

    private func appendUnescaped(_ p: [UInt8], to out: inout [UInt8]) {
        var i = 0
        while i < p.count {
            if i + 3 <= p.count && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81 {
                out.append(0x20); i += 3
            } else {
                out.append(p[i]); i += 1
            }
        }
    }

    // MARK: Encoding

    /// Encodes text already in SentencePiece form (spaces as "▁", dummy prefix added).
    func encodeNormalized(_ s: [UInt8], into out: inout [Int]) {
        guard wordsAreIndependent else {
            for t in bpe(s[...]) { out.append(Int(t)) }
            return
        }
        // Words start at a "▁" that follows another character.
        var start = 0
        var i = 0
        var sawOther = false
        while i < s.count {
            if i + 3 <= s.count && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81 {
                if sawOther {
                    encodeWord(s, start..<i, into: &out)
                    start = i
                    sawOther = false
                }
                i += 3
            } else {
                sawOther = true
                i += 1
            }
        }
        if start < s.count { encodeWord(s, start..<s.count, into: &out) }
    }

    private func encodeWord(_ s: [UInt8], _ r: Range<Int>, into out: inout [Int]) {
        let key = Array(s[r])
        if let ids = cache.get(key) {
            for t in ids { out.append(Int(t)) }
            return
        }
        let ids = bpe(key[...])
        cache.put(key, ids)
        for t in ids { out.append(Int(t)) }
    }

    /// One piece per character (bytes for a character without a piece), then merges.
    func bpe(_ s: ArraySlice<UInt8>) -> [Int32] {
        var syms: [Int32] = []
        syms.reserveCapacity(s.count)
        s.withUnsafeBufferPointer { b in
            var i = 0
            while i < b.count {
                let (_, len) = UTF8Scan.decode(b, i)
                let ch = Array(b[i..<min(i + len, b.count)])
                if let id = pieceToId[ch] {
                    syms.append(id)
                } else {
                    for c in ch {
                        let t = byteIds[Int(c)]
                        if t >= 0 { syms.append(t) } else if let u = unkId { syms.append(Int32(u)) }
                    }
                }
                i += len
            }
        }
        merges.apply(&syms)
        return syms
    }
}

// MARK: - Constructors

extension SentencePieceBPE {
    /// Merges implied by piece scores: every split of a mergeable piece into two pieces merges
    /// with that piece's score (higher first; equal scores tie and the leftmost pair wins).
    static func scoreMerges(pieces: [[UInt8]], scores: [Float], mergeable: (Int) -> Bool,
                            lookup: [[UInt8]: Int32]) -> MergeTable {
        var cand: [Int] = []
        // Each split costs a hash of both halves, so a piece of n bytes costs n^2: over-long
        // pieces (none in real vocabularies) would let a small file stall loading for minutes.
        for i in 0..<pieces.count where pieces[i].count >= 2 && pieces[i].count <= ByteLevelBPE.maxMergedTokenBytes
            && mergeable(i) { cand.append(i) }
        cand.sort { (scores[$0].isNaN ? -Float.infinity : scores[$0]) > (scores[$1].isNaN ? -Float.infinity : scores[$1]) }
        var m = MergeTable()
        m.reserve(cand.count * 2)
        var rank: UInt32 = 0
        var last: Float? = nil
        for i in cand {
            let sc = scores[i].isNaN ? -Float.infinity : scores[i]
            if let l = last, sc != l { rank += 1 }
            last = sc
            let p = pieces[i]
            for k in 1..<p.count {
                guard let a = lookup[Array(p[0..<k])], let b = lookup[Array(p[k...])] else { continue }
                m.add(a, b, priority: rank, merged: Int32(i))
            }
        }
        return m
    }

    /// A llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32
    /// length and the bytes. `vocabSize` comes from the model header. Ids 0, 1, 2 are
    /// <unk>, <s>, </s>; pieces "<0xAB>" are bytes; spaces in pieces stand for "▁".
    public static func load(llama2c path: String, vocabSize: Int) throws -> SentencePieceBPE {
        guard vocabSize > 0 && vocabSize <= ByteLevelBPE.maxId else {
            throw TensorError("\(path): vocab_size \(vocabSize) out of range 1...\(ByteLevelBPE.maxId)")
        }
        let data = try TokenizerFiles.read(path)
        // Each token takes at least 8 bytes: a vocab_size the file cannot hold fails before
        // anything is reserved for it.
        guard vocabSize <= (data.count - 4) / 8 else {
            throw TensorError("\(path): \(data.count) bytes cannot hold the \(vocabSize) tokens of the model's vocabulary")
        }
        var pieces: [[UInt8]] = []
        var scores: [Float] = []
        pieces.reserveCapacity(vocabSize)
        scores.reserveCapacity(vocabSize)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            func i32(_ at: Int) -> Int32? {
                guard at >= 0, at <= raw.count - 4 else { return nil }
                return Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self))
            }
            guard let maxLen = i32(0), maxLen >= 0 else { throw TensorError("\(path): missing max_token_length header") }
            var off = 4
            for i in 0..<vocabSize {
                guard let bits = i32(off), let len = i32(off + 4) else {
                    throw TensorError("\(path): file ends at token \(i) of \(vocabSize)")
                }
                guard len >= 0, Int(len) <= raw.count - (off + 8) else {
                    throw TensorError("\(path): token \(i) has length \(len), past the end of the file")
                }
                let start = off + 8
                var p = Array(raw[start..<(start + Int(len))])
                if p.contains(0x20) {
                    var q: [UInt8] = []
                    for c in p { if c == 0x20 { q.append(contentsOf: space) } else { q.append(c) } }
                    p = q
                }
                pieces.append(p)
                scores.append(Float(bitPattern: UInt32(bitPattern: bits)))
                off = start + Int(len)
            }
        }
        var kinds = [Kind](repeating: .normal, count: vocabSize)
        for i in 0..<vocabSize where parseByteToken(pieces[i]) != nil { kinds[i] = .byte }
        var display: [Int: String] = [:]
        let names = ["<unk>", "<s>", "</s>"]
        for i in 0..<min(3, vocabSize) { kinds[i] = i == 0 ? .unknown : .control; display[i] = names[i] }
        var lookup: [[UInt8]: Int32] = [:]
        for (i, p) in pieces.enumerated() where lookup[p] == nil { lookup[p] = Int32(i) }
        // llama2.c looks concatenations up among all pieces.
        let m = scoreMerges(pieces: pieces, scores: scores, mergeable: { kinds[$0] == .normal }, lookup: lookup)
        return SentencePieceBPE(pieces: pieces, kinds: kinds, display: display, merges: m, prefix: .everySegment,
                                bos: vocabSize > 1 ? 1 : nil, eos: vocabSize > 2 ? 2 : nil, pad: nil,
                                unk: 0, addBos: true, stripAfterControl: true)
    }

    /// GGUF metadata of a "llama"-model (SentencePiece) tokenizer: `tokenizer.ggml.tokens`,
    /// `.scores`, `.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
    /// `rstrip`: special ids that swallow the whitespace after them.
    public static func load(ggufTokens tokens: [String], scores: [Float]?, tokenTypes: [Int]?,
                            bos: Int?, eos: Int?, pad: Int?, unk: Int? = nil, addBos: Bool = true,
                            addSpacePrefix: Bool = true, rstrip: Set<Int> = [],
                            source: String = "GGUF metadata") throws -> SentencePieceBPE {
        guard !tokens.isEmpty else { throw TensorError("\(source): tokenizer.ggml.tokens is empty") }
        if let s = scores, s.count != tokens.count {
            throw TensorError("\(source): tokenizer.ggml.scores has \(s.count) entries, expected \(tokens.count)")
        }
        if let t = tokenTypes, t.count != tokens.count {
            throw TensorError("\(source): tokenizer.ggml.token_type has \(t.count) entries, expected \(tokens.count)")
        }
        let pieces = tokens.map { Array($0.utf8) }
        var kinds = [Kind](repeating: .normal, count: tokens.count)
        for i in 0..<tokens.count {
            switch tokenTypes?[i] ?? 1 {
            case 2: kinds[i] = .unknown
            case 3: kinds[i] = .control
            case 4: kinds[i] = .userDefined
            case 5: kinds[i] = .unused
            case 6: kinds[i] = parseByteToken(pieces[i]) != nil ? .byte : .normal
            default: kinds[i] = .normal
            }
        }
        var lookup: [[UInt8]: Int32] = [:]
        for (i, p) in pieces.enumerated() where (kinds[i] == .normal || kinds[i] == .userDefined) && lookup[p] == nil {
            lookup[p] = Int32(i)
        }
        let sc = scores ?? [Float](repeating: 0, count: tokens.count)
        let m = scoreMerges(pieces: pieces, scores: sc, mergeable: { kinds[$0] == .normal || kinds[$0] == .userDefined },
                            lookup: lookup)
        let unkId = unk ?? kinds.firstIndex(of: .unknown)
        return SentencePieceBPE(pieces: pieces, kinds: kinds, merges: m,
                                prefix: addSpacePrefix ? .everySegment : .none,
                                bos: bos, eos: eos, pad: pad, unk: unkId, addBos: addBos, rstrip: rstrip)
    }
}
