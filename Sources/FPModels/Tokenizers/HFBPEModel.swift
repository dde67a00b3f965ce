import Foundation
import FPTensor

/// A tokenizer.json `model` of type "BPE", as the `tokenizers` library applies it to one word:
/// the word starts as one symbol per character (per byte, in GPT-2's alphabet, after a ByteLevel
/// pre-tokenizer); a character missing from the vocabulary becomes its "<0xNN>" byte tokens
/// (byte_fallback) or the unknown token (consecutive ones fused with fuse_unk) or is dropped;
/// then adjacent pairs merge by rank, lowest first, leftmost among equals.
struct HFBPEModel {
    let vocab: [[UInt8]: Int32]
    /// Each id's token string (UTF-8), empty for ids the vocabulary does not use.
    let tokens: [[UInt8]]
    let merges: MergeTable
    let unkId: Int32?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    /// Id of "<0xNN>" for each byte (-1 if absent).
    let byteTokenIds: [Int32]
    /// Id of each byte's GPT-2 alphabet character (-1 if absent).
    let byteLevelIds: [Int32]

    init(hf: HFTokenizerJSON) throws {
        let file = hf.file
        if let d = hf.model["dropout"], !(d is NSNull) {
            guard let x = (d as? NSNumber)?.doubleValue, x == 0 else {
                throw TensorError("\(file): model.dropout is not implemented by fp (it makes encoding random)")
            }
        }
        var maxId = -1
        var map: [[UInt8]: Int32] = [:]
        map.reserveCapacity(hf.vocab.count)
        for (t, id) in hf.vocab {
            maxId = max(maxId, id)
            map[Array(t.utf8)] = Int32(id)
        }
        var tokens = [[UInt8]](repeating: [], count: maxId + 1)
        for (t, id) in map { tokens[Int(id)] = t }
        self.vocab = map
        self.tokens = tokens
        self.merges = ByteLevelBPE.mergeTable(hf.merges, vocab: hf.vocab)
        self.unkId = hf.unkToken.flatMap { hf.vocab[$0] }.map(Int32.init)
        self.fuseUnk = jsonBool(hf.model["fuse_unk"]) ?? false
        self.byteFallback = hf.byteFallback
        self.ignoreMerges = hf.ignoreMerges
        var bt = [Int32](repeating: -1, count: 256)
        var bl = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            bt[b] = map[Array(String(format: "<0x%02X>", b).utf8)] ?? -1
            bl[b] = map[Array(ByteLevelBPE.byteLevelString([UInt8(b)]).utf8)] ?? -1
        }
        self.byteTokenIds = bt
        self.byteLevelIds = bl
    }

    /// The ids of one word. `byteLevel`: the word is raw bytes to spell in GPT-2's alphabet.
    func tokenize(_ word: [UInt8], byteLevel: Bool) -> [Int32] {
        if ignoreMerges {
            let key = byteLevel ? Array(ByteLevelBPE.byteLevelString(word).utf8) : word
            if let id = vocab[key] { return [id] }
        }
        var syms: [Int32] = []
        syms.reserveCapacity(word.count)
        var pendingUnk = false
        func unknown(_ unitBytes: [UInt8]) {
            if byteFallback {
                let ids = unitBytes.map { byteTokenIds[Int($0)] }
                if !ids.contains(-1) {
                    if pendingUnk, let u = unkId { syms.append(u); pendingUnk = false }
                    syms.append(contentsOf: ids)
                    return
                }
            }
            guard let u = unkId else { return }
            if pendingUnk && !fuseUnk { syms.append(u) }
            pendingUnk = true
        }
        func known(_ id: Int32) {
            if pendingUnk, let u = unkId { syms.append(u); pendingUnk = false }
            syms.append(id)
        }
        if byteLevel {
            for b in word {
                let id = byteLevelIds[Int(b)]
                if id >= 0 { known(id) } else { unknown(Array(ByteLevelBPE.byteLevelString([b]).utf8)) }
            }
        } else {
            word.withUnsafeBufferPointer { buf in
                var i = 0
                while i < buf.count {
                    let (_, len) = UTF8Scan.decode(buf, i)
                    let unit = Array(buf[i..<min(i + len, buf.count)])
                    if let id = vocab[unit] { known(id) } else { unknown(unit) }
                    i += len
                }
            }
        }
        if pendingUnk, let u = unkId { syms.append(u) }
        merges.apply(&syms)
        return syms
    }
}
