import Foundation
import FPTensor

/// A tokenizer.json `normalizer` (one component or a "Sequence"), applied to each piece of text
/// between added tokens, as the `tokenizers` library does.
struct HFNormalizer {
    enum Step {
        case nfc, nfd, nfkc, nfkd, lowercase
        /// Prepends the string to a non-empty piece.
        case prepend(String)
        /// Every occurrence of a literal string, left to right, without overlaps.
        case replace(String, String)
        /// Whitespace removed at the left and/or right end.
        case strip(left: Bool, right: Bool)
    }

    let steps: [Step]

    var isEmpty: Bool { steps.isEmpty }

    /// True when every step is a Unicode normalization form: ASCII text is then unchanged.
    var keepsASCII: Bool {
        steps.allSatisfy {
            switch $0 {
            case .nfc, .nfd, .nfkc, .nfkd: return true
            default: return false
            }
        }
    }

    init(steps: [Step]) { self.steps = steps }

    init(json: Any?, file: String) throws {
        var steps: [Step] = []
        for n in HFTokenizerJSON.flatten(json, listKey: "normalizers") {
            let type = n["type"] as? String ?? "?"
            switch type {
            case "NFC": steps.append(.nfc)
            case "NFD": steps.append(.nfd)
            case "NFKC": steps.append(.nfkc)
            case "NFKD": steps.append(.nfkd)
            case "Lowercase": steps.append(.lowercase)
            case "Prepend":
                guard let p = n["prepend"] as? String, p.utf8.count <= HFTokenizerJSON.maxComponentString else {
                    throw TensorError("\(file): normalizer Prepend needs a \"prepend\" string of at most "
                                      + "\(HFTokenizerJSON.maxComponentString) bytes")
                }
                steps.append(.prepend(p))
            case "Replace":
                let (pattern, content) = try HFTokenizerJSON.literalReplace(n, what: "normalizer", file: file)
                steps.append(.replace(pattern, content))
            case "Strip":
                steps.append(.strip(left: jsonBool(n["strip_left"]) ?? true, right: jsonBool(n["strip_right"]) ?? true))
            default:
                throw TensorError("\(file): normalizer \(TinyQuote.q(type)) is not implemented by fp "
                                  + "(fp has NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)")
            }
        }
        self.steps = steps
    }

    func apply(_ text: String) -> String {
        var s = text
        for step in steps {
            switch step {
            case .nfc: s = s.precomposedStringWithCanonicalMapping
            case .nfd: s = s.decomposedStringWithCanonicalMapping
            case .nfkc: s = s.precomposedStringWithCompatibilityMapping
            case .nfkd: s = s.decomposedStringWithCompatibilityMapping
            case .lowercase: s = s.lowercased()
            case .prepend(let p): if !s.isEmpty { s = p + s }
            case .replace(let a, let b): s = HFNormalizer.replaceAll(s, a, b)
            case .strip(let left, let right):
                var sc = Substring.UnicodeScalarView(s.unicodeScalars)
                if left { while let f = sc.first, f.properties.isWhitespace { sc.removeFirst() } }
                if right { while let l = sc.last, l.properties.isWhitespace { sc.removeLast() } }
                s = String(String.UnicodeScalarView(sc))
            }
        }
        return s
    }

    /// Byte-wise literal replacement (Swift's String comparison would match by grapheme cluster
    /// and canonical equivalence; the `tokenizers` library matches bytes).
    static func replaceAll(_ s: String, _ pattern: String, _ content: String) -> String {
        String(decoding: HFDecoder.replace(Array(s.utf8), Array(pattern.utf8), Array(content.utf8)), as: UTF8.self)
    }
}
