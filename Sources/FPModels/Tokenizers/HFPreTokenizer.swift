import Foundation
import FPTensor

/// A tokenizer.json `pre_tokenizer` (one component or a "Sequence"): splits normalized text into
/// the words that BPE sees, with the `tokenizers` library's semantics. Regular expressions are not
/// compiled: a Split pattern must be one of the expressions fp has a scanner for
/// (BytePreTokenizer: GPT-2, cl100k / Llama 3, Qwen 2), or a literal string.
struct HFPreTokenizer {
    /// How a Split keeps what its pattern matched.
    enum Behavior: String {
        case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
    }

    enum PrependScheme: String { case always, first, never }

    enum Step {
        /// ByteLevel: optional " " in front of each piece, optional GPT-2 split; the words are then
        /// spelled in GPT-2's byte alphabet (done by the model, see `byteLevel`).
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        case splitRegex(BytePreTokenizer)
        case splitString([UInt8], Behavior, invert: Bool)
        case digits(individual: Bool)
        case metaspace(replacement: [UInt8], prepend: PrependScheme, split: Bool)
    }

    /// One piece of text on its way through the steps. `atStart`: it begins at offset 0 of the
    /// original text (Metaspace's prepend_scheme "first").
    struct Piece {
        var bytes: [UInt8]
        var atStart: Bool
    }

    let steps: [Step]
    /// True when a ByteLevel step ran: words are bytes to spell in GPT-2's byte alphabet.
    let byteLevel: Bool

    /// When the steps amount to one of the scanners over the text as given (the common
    /// byte-level cases), that scanner: words are then ranges of the text, found without copies.
    let scanner: BytePreTokenizer?

    init(steps: [Step]) {
        self.steps = steps
        self.byteLevel = steps.contains { if case .byteLevel = $0 { return true } else { return false } }
        switch steps.count {
        case 1:
            switch steps[0] {
            case .byteLevel(false, true): scanner = .gpt2
            case .byteLevel(false, false): scanner = BytePreTokenizer.none
            case .splitRegex(let k): scanner = k
            default: scanner = nil
            }
        case 2:
            switch (steps[0], steps[1]) {
            case (.splitRegex(let k), .byteLevel(false, false)): scanner = k
            case (.digits(true), .byteLevel(false, true)): scanner = .smollm
            default: scanner = nil
            }
        default: scanner = nil
        }
    }

    init(json: Any?, file: String) throws {
        var steps: [Step] = []
        let list = HFTokenizerJSON.flatten(json, listKey: "pretokenizers")
        for (k, p) in list.enumerated() {
            let type = p["type"] as? String ?? "?"
            switch type {
            case "ByteLevel":
                // Steps after ByteLevel would see GPT-2's alphabet; no published tokenizer does that.
                guard k == list.count - 1 else {
                    throw TensorError("\(file): pre_tokenizer ByteLevel must be the last step for fp")
                }
                steps.append(.byteLevel(addPrefixSpace: jsonBool(p["add_prefix_space"]) ?? true,
                                        useRegex: jsonBool(p["use_regex"]) ?? true))
            case "Split":
                let behaviorName = p["behavior"] as? String ?? "Isolated"
                guard let behavior = Behavior(rawValue: behaviorName) else {
                    throw TensorError("\(file): pre_tokenizer Split behavior \(TinyQuote.q(behaviorName)) is not one of "
                                      + "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous")
                }
                let invert = jsonBool(p["invert"]) ?? false
                let pattern = p["pattern"] as? [String: Any]
                if let s = pattern?["String"] as? String {
                    steps.append(.splitString(Array(s.utf8), behavior, invert: invert))
                } else if let rx = pattern?["Regex"] as? String {
                    guard let kind = BytePreTokenizer.referenceRegexes.first(where: { $0.0 == rx })?.1 else {
                        throw TensorError("\(file): pre_tokenizer Split regex \(TinyQuote.q(rx)) is not implemented by fp "
                                          + "(fp has the GPT-2, cl100k/Llama 3 and Qwen 2 expressions)")
                    }
                    guard behavior == .isolated, !invert else {
                        throw TensorError("\(file): pre_tokenizer Split with a regex is implemented for behavior Isolated, invert false only")
                    }
                    steps.append(.splitRegex(kind))
                } else {
                    throw TensorError("\(file): pre_tokenizer Split needs a pattern {\"String\": ...} or {\"Regex\": ...}")
                }
            case "Digits":
                steps.append(.digits(individual: jsonBool(p["individual_digits"]) ?? false))
            case "Metaspace":
                let r = p["replacement"] as? String ?? "▁"
                guard r.unicodeScalars.count == 1 else {
                    throw TensorError("\(file): pre_tokenizer Metaspace replacement must be one character")
                }
                var scheme: PrependScheme
                if let s = p["prepend_scheme"] as? String {
                    guard let v = PrependScheme(rawValue: s) else {
                        throw TensorError("\(file): pre_tokenizer Metaspace prepend_scheme \(TinyQuote.q(s)) is not always, first or never")
                    }
                    scheme = v
                } else {
                    scheme = (jsonBool(p["add_prefix_space"]) ?? true) ? .always : .never
                }
                steps.append(.metaspace(replacement: Array(r.utf8), prepend: scheme, split: jsonBool(p["split"]) ?? true))
            default:
                throw TensorError("\(file): pre_tokenizer \(TinyQuote.q(type)) is not implemented by fp "
                                  + "(fp has ByteLevel, Split, Digits, Metaspace, Sequence)")
            }
        }
        self.init(steps: steps)
    }

    /// The words of one piece of normalized text.
    func words(_ text: [UInt8], atStart: Bool) -> [[UInt8]] {
        var pieces = [Piece(bytes: text, atStart: atStart)]
        for step in steps {
            var next: [Piece] = []
            next.reserveCapacity(pieces.count)
            for p in pieces { apply(step, p, into: &next) }
            pieces = next
        }
        return pieces.map { $0.bytes }
    }

    private func apply(_ step: Step, _ p: Piece, into out: inout [Piece]) {
        switch step {
        case .byteLevel(let prefix, let regex):
            var b = p.bytes
            if prefix && b.first != 0x20 { b.insert(0x20, at: 0) }
            if regex { HFPreTokenizer.regexSplit(b, .gpt2, p.atStart, into: &out) } else if !b.isEmpty {
                out.append(Piece(bytes: b, atStart: p.atStart))
            }
        case .splitRegex(let kind):
            HFPreTokenizer.regexSplit(p.bytes, kind, p.atStart, into: &out)
        case .splitString(let pattern, let behavior, let invert):
            let marks = HFPreTokenizer.literalMatches(p.bytes, pattern).map { ($0.0, $0.1 != invert) }
            HFPreTokenizer.emit(p, HFPreTokenizer.merge(marks, behavior), into: &out)
        case .digits(let individual):
            var marks: [(Range<Int>, Bool)] = []
            let b = p.bytes
            b.withUnsafeBufferPointer { buf in
                let run = PreTokenizerRun(buf, 0..<buf.count)
                for k in 0..<run.cps.count {
                    let isDigit = HFPreTokenizer.isNumeric(run.cps[k])
                    marks.append((run.offs[k]..<run.offs[k + 1], isDigit))
                }
            }
            // Digits is Split(digits, individual ? Isolated : Contiguous) over one-scalar marks,
            // where neighbouring non-digits form one gap.
            var joined: [(Range<Int>, Bool)] = []
            for m in marks {
                if let last = joined.last, !last.1 && !m.1 {
                    joined[joined.count - 1].0 = last.0.lowerBound..<m.0.upperBound
                } else {
                    joined.append(m)
                }
            }
            HFPreTokenizer.emit(p, HFPreTokenizer.merge(joined, individual ? .isolated : .contiguous), into: &out)
        case .metaspace(let r, let scheme, let split):
            var b: [UInt8] = []
            b.reserveCapacity(p.bytes.count + 3)
            for c in p.bytes { if c == 0x20 { b.append(contentsOf: r) } else { b.append(c) } }
            let startsWithR = b.count >= r.count && b[0..<r.count].elementsEqual(r)
            switch scheme {
            case .always: if !startsWithR { b.insert(contentsOf: r, at: 0) }
            case .first: if !startsWithR && p.atStart { b.insert(contentsOf: r, at: 0) }
            case .never: break
            }
            let q = Piece(bytes: b, atStart: p.atStart)
            if split {
                HFPreTokenizer.emit(q, HFPreTokenizer.merge(HFPreTokenizer.literalMatches(b, r), .mergedWithNext), into: &out)
            } else if !b.isEmpty {
                out.append(q)
            }
        }
    }

    /// Rust's char::is_numeric: general category Nd, Nl or No.
    static func isNumeric(_ v: UInt32) -> Bool {
        guard let s = Unicode.Scalar(v) else { return false }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    private static func regexSplit(_ b: [UInt8], _ kind: BytePreTokenizer, _ atStart: Bool, into out: inout [Piece]) {
        b.withUnsafeBufferPointer { buf in
            var first = true
            PreTokenizerRun(buf, 0..<buf.count).split(kind) { r in
                out.append(Piece(bytes: Array(buf[r]), atStart: atStart && first))
                first = false
            }
        }
    }

    /// The pieces of `b` at and between non-overlapping occurrences of `pattern` (true = match).
    static func literalMatches(_ b: [UInt8], _ pattern: [UInt8]) -> [(Range<Int>, Bool)] {
        guard !pattern.isEmpty else { return b.isEmpty ? [] : [(0..<b.count, false)] }
        var out: [(Range<Int>, Bool)] = []
        var gap = 0
        var i = 0
        while i + pattern.count <= b.count {
            if b[i] == pattern[0] && b[i..<(i + pattern.count)].elementsEqual(pattern) {
                if gap < i { out.append((gap..<i, false)) }
                out.append((i..<(i + pattern.count), true))
                i += pattern.count
                gap = i
            } else {
                i += 1
            }
        }
        if gap < b.count { out.append((gap..<b.count, false)) }
        return out
    }

    /// The `tokenizers` library's SplitDelimiterBehavior over (range, isMatch) marks.
    static func merge(_ marks: [(Range<Int>, Bool)], _ behavior: Behavior) -> [Range<Int>] {
        var acc: [Range<Int>] = []
        switch behavior {
        case .removed:
            return marks.filter { !$0.1 }.map { $0.0 }
        case .isolated:
            return marks.map { $0.0 }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in marks {
                if isMatch && !previousMatch, let last = acc.last {
                    acc[acc.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    acc.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (r, isMatch) in marks.reversed() {
                if isMatch && !previousMatch, let last = acc.last {
                    acc[acc.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    acc.append(r)
                }
                previousMatch = isMatch
            }
            acc.reverse()
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in marks {
                if isMatch == previousMatch, let last = acc.last {
                    acc[acc.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    acc.append(r)
                }
                previousMatch = isMatch
            }
        }
        return acc
    }

    private static func emit(_ p: Piece, _ ranges: [Range<Int>], into out: inout [Piece]) {
        for r in ranges where !r.isEmpty {
            out.append(Piece(bytes: Array(p.bytes[r]), atStart: p.atStart && r.lowerBound == 0))
        }
    }
}
