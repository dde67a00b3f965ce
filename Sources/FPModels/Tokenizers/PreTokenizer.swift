import Foundation

/// How byte-level BPE splits text into words before merging. Each case is a hand-written
/// state machine over Unicode scalars that reproduces the reference regular expression exactly
/// (\p{L}: general category L*, \p{N}: N*, \s: the White_Space property).
public enum BytePreTokenizer: String, Sendable {
    /// GPT-2, r50k/p50k (tiktoken), Hugging Face ByteLevel(use_regex: true):
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Llama 3 (GGUF pre "llama-bpe"/"llama3"), cl100k-style:
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// Qwen2 (GGUF pre "qwen2"): the Llama 3 expression with `\p{N}` (single digits) for `\p{N}{1,3}`.
    case qwen2
    /// SmolLM / StarCoder (GGUF pre "smollm"; tokenizer.json Digits(individual_digits) then
    /// ByteLevel): every \p{N} scalar is its own word, the rest is split with the GPT-2 rule.
    case smollm
    /// llama.cpp's fallback for GGUF pre "default": `[\p{P}\$\+<=>\^~\|]+` isolated, then the
    /// GPT-2 rule, then `\p{N}+` isolated, then `[0-9][0-9][0-9]` isolated.
    case llamaCppDefault
    /// No splitting: each text segment is one word (ByteLevel with use_regex: false).
    case none

    /// The regular expression each scanner reproduces, as tokenizer.json's Split writes it.
    static let referenceRegexes: [(String, BytePreTokenizer)] = [
        (#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, .llama3),
        (#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, .qwen2),
        (#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#, .gpt2),
    ]

    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value, nil if unsupported.
    public init?(ggufPre pre: String) {
        switch pre {
        case "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion", "granite-docling": self = .gpt2
        case "llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe", "chatglm-bpe": self = .llama3
        case "qwen2", "qwen2.5", "qwen-2.5", "stablelm2", "deepseek-r1-qwen", "hunyuan": self = .qwen2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b": self = .smollm
        case "default", "": self = .llamaCppDefault
        default: return nil
        }
    }

    /// GGUF `pre` values whose Hugging Face tokenizer.json starts with an NFC normalizer: Qwen 2 /
    /// 2.5 / 3's, and GPT-NeoX-20B's (Pythia; llama.cpp's converter names it "olmo", or "mpt", as
    /// OLMo 1 and MPT share it). fp applies it so that a GGUF gives the `tokenizers` library's
    /// ids; llama.cpp does not normalize.
    public static func normalizesNFC(ggufPre pre: String) -> Bool {
        ["qwen2", "qwen2.5", "qwen-2.5", "deepseek-r1-qwen", "olmo", "mpt"].contains(pre)
    }
}

// Scalar classes used by the state machines.
private let cL: UInt8 = 1   // \p{L}
private let cN: UInt8 = 2   // \p{N}
private let cS: UInt8 = 3   // \s other than \r and \n
private let cR: UInt8 = 4   // \r or \n
private let cO: UInt8 = 5   // anything else

private let asciiClass: [UInt8] = (0..<128).map { v -> UInt8 in
    switch v {
    case 0x0A, 0x0D: return cR
    case 0x09, 0x0B, 0x0C, 0x20: return cS
    case 0x30...0x39: return cN
    case 0x41...0x5A, 0x61...0x7A: return cL
    default: return cO
    }
}

@inline(__always)
private func classify(_ v: UInt32) -> UInt8 {
    if v < 0x80 { return asciiClass[Int(v)] }
    guard let s = Unicode.Scalar(v) else { return cO }
    let p = s.properties
    if p.isWhitespace { return cS }   // U+0085, U+00A0, U+2028, U+3000, ...
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return cL
    case .decimalNumber, .letterNumber, .otherNumber: return cN
    default: return cO
    }
}

/// \p{P} or one of $ + < = > ^ ~ | (llama.cpp's default first stage).
private func isPunctOrSymbol(_ v: UInt32) -> Bool {
    switch v {
    case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true
    default: break
    }
    guard let s = Unicode.Scalar(v) else { return false }
    switch s.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
         .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
    default: return false
    }
}

@inline(__always) private func isSpace(_ c: UInt8) -> Bool { c == cS || c == cR }
@inline(__always) private func isLetterNumberOther(_ c: UInt8) -> Bool { c == cL || c == cN || c == cO }
@inline(__always) private func lowerASCII(_ v: UInt32) -> UInt32 { (v >= 0x41 && v <= 0x5A) ? v + 32 : v }

/// One text segment decoded to scalars, with the split rules applied over scalar indices.
struct PreTokenizerRun {
    var cps: [UInt32] = []
    var cls: [UInt8] = []
    var offs: [Int] = []   // byte offset of each scalar, plus the end

    init(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        let n = range.count
        cps.reserveCapacity(n)
        cls.reserveCapacity(n)
        offs.reserveCapacity(n + 1)
        var i = range.lowerBound
        while i < range.upperBound {
            var (v, len) = UTF8Scan.decode(b, i)
            if i + len > range.upperBound { v = 0xFFFD; len = range.upperBound - i }
            cps.append(v)
            cls.append(classify(v))
            offs.append(i)
            i += len
        }
        offs.append(range.upperBound)
    }

    /// Calls `emit` with the byte range of each word, in order.
    func split(_ kind: BytePreTokenizer, _ emit: (Range<Int>) -> Void) {
        let n = cps.count
        if n == 0 { return }
        withoutActuallyEscaping(emit) { emit in
            let e: (Int, Int) -> Void = { lo, hi in emit(self.offs[lo]..<self.offs[hi]) }
            splitScalars(kind, n, e)
        }
    }

    private func splitScalars(_ kind: BytePreTokenizer, _ n: Int, _ e: (Int, Int) -> Void) {
        switch kind {
        case .gpt2: gpt2(0, n, e)
        case .llama3: llama3(0, n, maxDigits: 3, e)
        case .qwen2: llama3(0, n, maxDigits: 1, e)
        case .smollm:
            var start = 0
            for i in 0..<n where cls[i] == cN {
                if start < i { gpt2(start, i, e) }
                e(i, i + 1)
                start = i + 1
            }
            if start < n { gpt2(start, n, e) }
        case .llamaCppDefault: llamaCppDefault(n, e)
        case .none: e(0, n)
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` over [lo, hi).
    func gpt2(_ lo: Int, _ hi: Int, _ emit: (Int, Int) -> Void) {
        var i = lo
        while i < hi {
            let c = cps[i]
            if c == 0x27 && i + 1 < hi {   // 's 't 'm 'd 're 've 'll (case-sensitive)
                let a = cps[i + 1]
                if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { emit(i, i + 2); i += 2; continue }
                if i + 2 < hi {
                    let b = cps[i + 2]
                    if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) {
                        emit(i, i + 3); i += 3; continue
                    }
                }
            }
            var j = i
            if c == 0x20 && i + 1 < hi && isLetterNumberOther(cls[i + 1]) { j = i + 1 }
            let k = cls[j]
            if isLetterNumberOther(k) {   //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+
                var end = j + 1
                while end < hi && cls[end] == k { end += 1 }
                emit(i, end); i = end
                continue
            }
            // \s+(?!\S) | \s+ : a whitespace run leaves its last scalar to the next word
            // when a non-space follows and the run is longer than one.
            var end = i + 1
            while end < hi && isSpace(cls[end]) { end += 1 }
            if end < hi && end - i >= 2 { end -= 1 }
            emit(i, end); i = end
        }
    }

    /// The Llama 3 expression over [lo, hi) with \p{N}{1,maxDigits}.
    func llama3(_ lo: Int, _ hi: Int, maxDigits: Int, _ emit: (Int, Int) -> Void) {
        var i = lo
        while i < hi {
            let c = cps[i]
            if c == 0x27 && i + 1 < hi {   // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                let a = lowerASCII(cps[i + 1])
                if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { emit(i, i + 2); i += 2; continue }
                if i + 2 < hi {
                    let b = lowerASCII(cps[i + 2])
                    if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) {
                        emit(i, i + 3); i += 3; continue
                    }
                }
            }
            let k = cls[i]
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if k == cL || (k != cR && k != cN && i + 1 < hi && cls[i + 1] == cL) {
                var end = i + 1
                while end < hi && cls[end] == cL { end += 1 }
                emit(i, end); i = end
                continue
            }
            // \p{N}{1,max}
            if k == cN {
                var end = i + 1
                while end < hi && end - i < maxDigits && cls[end] == cN { end += 1 }
                emit(i, end); i = end
                continue
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            var j = i
            if c == 0x20 && i + 1 < hi && cls[i + 1] == cO { j = i + 1 }
            if cls[j] == cO {
                var end = j + 1
                while end < hi && cls[end] == cO { end += 1 }
                while end < hi && cls[end] == cR { end += 1 }
                emit(i, end); i = end
                continue
            }
            // Whitespace run [i, end).
            var end = i + 1
            while end < hi && isSpace(cls[end]) { end += 1 }
            // \s*[\r\n]+ : up to the last \r or \n of the run.
            var lastNL = -1
            var m = end - 1
            while m >= i {
                if cls[m] == cR { lastNL = m; break }
                m -= 1
            }
            if lastNL >= 0 { emit(i, lastNL + 1); i = lastNL + 1; continue }
            // \s+(?!\S) | \s+
            if end < hi && end - i >= 2 { end -= 1 }
            emit(i, end); i = end
        }
    }

    /// llama.cpp's default BPE pre-tokenizer: four expressions applied in sequence, each one
    /// splitting every word of the previous stage into its matches and the gaps between them.
    func llamaCppDefault(_ n: Int, _ emit: (Int, Int) -> Void) {
        // Stage 1: [\p{P}\$\+<=>\^~\|]+
        var s1: [(Int, Int)] = []
        var i = 0
        while i < n {
            let p = isPunctOrSymbol(cps[i])
            var end = i + 1
            while end < n && isPunctOrSymbol(cps[end]) == p { end += 1 }
            s1.append((i, end)); i = end
        }
        // Stage 2: the GPT-2 rule.
        var s2: [(Int, Int)] = []
        for (lo, hi) in s1 { gpt2(lo, hi) { s2.append(($0, $1)) } }
        // Stage 3: \p{N}+
        var s3: [(Int, Int)] = []
        for (lo, hi) in s2 {
            var k = lo
            while k < hi {
                let isN = cls[k] == cN
                var end = k + 1
                while end < hi && (cls[end] == cN) == isN { end += 1 }
                s3.append((k, end)); k = end
            }
        }
        // Stage 4: [0-9][0-9][0-9]
        @inline(__always) func digit(_ k: Int) -> Bool { cps[k] >= 0x30 && cps[k] <= 0x39 }
        for (lo, hi) in s3 {
            var gap = lo
            var k = lo
            while k < hi {
                if k + 3 <= hi && digit(k) && digit(k + 1) && digit(k + 2) {
                    if gap < k { emit(gap, k) }
                    emit(k, k + 3)
                    k += 3; gap = k
                } else {
                    k += 1
                }
            }
            if gap < hi { emit(gap, hi) }
        }
    }
}
