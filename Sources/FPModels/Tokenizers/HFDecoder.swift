import Foundation
import FPTensor

/// A tokenizer.json `decoder` (one component or a "Sequence"): turns token strings back into
/// text as the `tokenizers` library does (each step maps the list of token strings; the results
/// are concatenated). Without a decoder the library joins tokens with spaces.
struct HFDecoder {
    enum Step {
        /// GPT-2's byte alphabet back to bytes (a token with a character outside it is its own
        /// UTF-8), all tokens joined, invalid UTF-8 replaced.
        case byteLevel
        case replace(String, String)
        /// Runs of "<0xNN>" tokens become their bytes (one U+FFFD per byte if not valid UTF-8).
        case byteFallback
        /// All tokens joined into one.
        case fuse
        /// Up to `left` / `right` copies of `content` removed from each token's ends.
        case strip(content: Unicode.Scalar, left: Int, right: Int)
        /// The replacement character becomes " "; in the first token it is dropped (unless the
        /// prepend scheme is "never").
        case metaspace(replacement: Unicode.Scalar, dropInFirst: Bool)
    }

    let steps: [Step]
    let hasDecoder: Bool

    init(json: Any?, file: String) throws {
        var steps: [Step] = []
        let list = HFTokenizerJSON.flatten(json, listKey: "decoders")
        for d in list {
            let type = d["type"] as? String ?? "?"
            switch type {
            case "ByteLevel": steps.append(.byteLevel)
            case "Replace":
                let (pattern, content) = try HFTokenizerJSON.literalReplace(d, what: "decoder", file: file)
                steps.append(.replace(pattern, content))
            case "ByteFallback": steps.append(.byteFallback)
            case "Fuse": steps.append(.fuse)
            case "Strip":
                guard let c = (d["content"] as? String)?.unicodeScalars, c.count == 1, let scalar = c.first,
                      let left = jsonInt(d["start"] ?? 0), let right = jsonInt(d["stop"] ?? 0),
                      (0...1_000_000).contains(left), (0...1_000_000).contains(right) else {
                    throw TensorError("\(file): decoder Strip needs one \"content\" character and counts \"start\", \"stop\"")
                }
                steps.append(.strip(content: scalar, left: left, right: right))
            case "Metaspace":
                guard let r = (d["replacement"] as? String ?? "▁").unicodeScalars.first,
                      (d["replacement"] as? String ?? "▁").unicodeScalars.count == 1 else {
                    throw TensorError("\(file): decoder Metaspace replacement must be one character")
                }
                let scheme = d["prepend_scheme"] as? String
                    ?? ((jsonBool(d["add_prefix_space"]) ?? true) ? "always" : "never")
                steps.append(.metaspace(replacement: r, dropInFirst: scheme != "never"))
            default:
                throw TensorError("\(file): decoder \(TinyQuote.q(type)) is not implemented by fp "
                                  + "(fp has ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)")
            }
        }
        self.steps = steps
        self.hasDecoder = !list.isEmpty
    }

    /// The text of token strings (given as their UTF-8 bytes). `display`: one token as
    /// to_str_tokens shows it, without the Strip and Metaspace steps that remove the
    /// start-of-text space.
    func decode(_ tokens: [[UInt8]], display: Bool = false) -> String {
        guard hasDecoder else { return tokens.map { lossyString($0) }.joined(separator: " ") }
        var toks = tokens
        for step in steps {
            switch step {
            case .byteLevel:
                var bytes: [UInt8] = []
                for t in toks { bytes.append(contentsOf: ByteLevelBPE.bytes(ofByteLevel: lossyString(t))) }
                toks = [Array(lossyString(bytes).utf8)]
            case .replace(let a, let b):
                let pa = Array(a.utf8), pb = Array(b.utf8)
                toks = toks.map { HFDecoder.replace($0, pa, pb) }
            case .byteFallback:
                toks = HFDecoder.byteFallback(toks)
            case .fuse:
                toks = [toks.flatMap { $0 }]
            case .strip(let c, let left, let right):
                if display { continue }
                toks = toks.map { HFDecoder.strip($0, c, left, right) }
            case .metaspace(let r, let dropInFirst):
                let rb = Array(String(r).utf8)
                toks = toks.enumerated().map { i, t in
                    HFDecoder.replace(t, rb, (i == 0 && dropInFirst && !display) ? [] : [0x20])
                }
            }
        }
        return lossyString(toks.flatMap { $0 })
    }

    static func replace(_ b: [UInt8], _ p: [UInt8], _ c: [UInt8]) -> [UInt8] {
        guard !p.isEmpty, b.count >= p.count else { return b }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == p[0] && i + p.count <= b.count && b[i..<(i + p.count)].elementsEqual(p) {
                out.append(contentsOf: c)
                i += p.count
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }

    static func byteFallback(_ toks: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let s = String(validating: pending, as: UTF8.self) {
                out.append(Array(s.utf8))
            } else {
                for _ in pending { out.append([0xEF, 0xBF, 0xBD]) }
            }
            pending.removeAll()
        }
        for t in toks {
            if let b = parseByteToken(t) {
                pending.append(b)
            } else {
                flush()
                out.append(t)
            }
        }
        flush()
        return out
    }

    static func strip(_ b: [UInt8], _ c: Unicode.Scalar, _ left: Int, _ right: Int) -> [UInt8] {
        var sc = Array(lossyString(b).unicodeScalars)
        var l = 0
        while l < left && l < sc.count && sc[l] == c { l += 1 }
        sc.removeFirst(l)
        var r = 0
        while r < right && r < sc.count && sc[sc.count - 1 - r] == c { r += 1 }
        sc.removeLast(r)
        var s = String.UnicodeScalarView()
        s.append(contentsOf: sc)
        return Array(String(s).utf8)
    }
}
