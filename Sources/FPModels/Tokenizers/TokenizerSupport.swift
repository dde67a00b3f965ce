import Foundation
import FPTensor

// Pieces shared by the two tokenizer algorithms (ByteLevelBPE, SentencePieceBPE): file and JSON
// reading with errors that name the file, UTF-8 scanning, the special-token splitter, the BPE
// merge engine and the word cache. Everything here treats file contents as untrusted.

// MARK: - Files and JSON

enum TokenizerFiles {
    static func read(_ path: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TensorError("\(path): no such file")
        }
        guard !isDir.boolValue else { throw TensorError("\(path): is a folder, expected a file") }
        guard let d = FileManager.default.contents(atPath: path) else {
            throw TensorError("\(path): cannot read the file")
        }
        return d
    }

    /// The file parsed as JSON (Foundation's parser: FPTensor's TinyJSON is internal to FPTensor).
    static func json(_ path: String) throws -> Any {
        let d = try read(path)
        do {
            return try JSONSerialization.jsonObject(with: d, options: [.fragmentsAllowed])
        } catch {
            throw TensorError("\(path): invalid JSON")
        }
    }

    static func jsonObject(_ path: String) throws -> [String: Any] {
        guard let o = try json(path) as? [String: Any] else {
            throw TensorError("\(path): expected a JSON object at the top level")
        }
        return o
    }

    /// The file as UTF-8 text.
    static func text(_ path: String) throws -> String {
        let d = try read(path)
        guard let s = String(data: d, encoding: .utf8) else { throw TensorError("\(path): not valid UTF-8 text") }
        return s
    }
}

/// JSONSerialization gives booleans as NSNumbers of ObjC type "c" (a JSON number never is).
private func isJSONBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

/// A JSON integer (booleans and fractions are not integers here).
func jsonInt(_ v: Any?) -> Int? {
    guard let n = v as? NSNumber, !isJSONBool(n) else { return nil }
    let d = n.doubleValue
    guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
    return n.intValue
}

func jsonBool(_ v: Any?) -> Bool? {
    guard let n = v as? NSNumber, isJSONBool(n) else { return nil }
    return n.boolValue
}

/// A special-token entry of tokenizer_config.json / special_tokens_map.json: a string or
/// an object with "content".
func jsonTokenContent(_ v: Any?) -> String? {
    if let s = v as? String { return s }
    if let o = v as? [String: Any], let s = o["content"] as? String { return s }
    return nil
}

// MARK: - UTF-8

enum UTF8Scan {
    /// Decodes the scalar starting at `i` of valid or invalid UTF-8; returns the scalar value
    /// (U+FFFD for an invalid sequence) and its length in bytes (at least 1).
    @inline(__always)
    static func decode(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
        let n = b.count
        let c0 = UInt32(b[i])
        if c0 < 0x80 { return (c0, 1) }
        @inline(__always) func cont(_ k: Int) -> UInt32? {
            guard k < n else { return nil }
            let c = b[k]
            return c & 0xC0 == 0x80 ? UInt32(c & 0x3F) : nil
        }
        if c0 >= 0xC2 && c0 <= 0xDF {
            if let c1 = cont(i + 1) { return ((c0 & 0x1F) << 6 | c1, 2) }
        } else if c0 >= 0xE0 && c0 <= 0xEF {
            if let c1 = cont(i + 1), let c2 = cont(i + 2) {
                let v = (c0 & 0x0F) << 12 | c1 << 6 | c2
                if v >= 0x800 && !(0xD800...0xDFFF).contains(v) { return (v, 3) }
            }
        } else if c0 >= 0xF0 && c0 <= 0xF4 {
            if let c1 = cont(i + 1), let c2 = cont(i + 2), let c3 = cont(i + 3) {
                let v = (c0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
                if v >= 0x10000 && v <= 0x10FFFF { return (v, 4) }
            }
        }
        return (0xFFFD, 1)
    }

    static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        guard let s = Unicode.Scalar(v) else { return false }
        return s.properties.isWhitespace
    }

    static func isWordChar(_ v: UInt32) -> Bool {
        if v == 0x5F { return true }
        guard let s = Unicode.Scalar(v) else { return false }
        return s.properties.isAlphabetic || s.properties.numericType != nil
    }

    /// Start index of the scalar that ends just before `end` (walks back over continuation bytes).
    static func previousStart(_ b: UnsafeBufferPointer<UInt8>, before end: Int, floor: Int) -> Int {
        var k = end - 1
        while k > floor && b[k] & 0xC0 == 0x80 && end - k < 4 { k -= 1 }
        return k
    }
}

/// Bytes as text, with invalid UTF-8 replaced by U+FFFD (maximal-subpart rule, like Rust's
/// from_utf8_lossy and Python's errors="replace").
func lossyString<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    String(decoding: bytes, as: UTF8.self)
}

// MARK: - Special (added) tokens

/// Tokens matched literally in the input text before any other processing, leftmost-longest.
struct SpecialTokenMatcher {
    struct Entry {
        let id: Int
        let bytes: [UInt8]
        let lstrip: Bool
        let rstrip: Bool
        let singleWord: Bool
    }
    enum Segment {
        case text(Range<Int>)
        case special(Int)
    }

    private(set) var entries: [Entry] = []
    /// For each first byte, indices into `entries`, longest first.
    private var byFirst: [[Int]] = Array(repeating: [], count: 256)

    var isEmpty: Bool { entries.isEmpty }

    init(_ list: [Entry]) {
        // One entry per distinct text; the first given wins.
        var seen = Set<[UInt8]>()
        for e in list where !e.bytes.isEmpty && seen.insert(e.bytes).inserted { entries.append(e) }
        for (k, e) in entries.enumerated() { byFirst[Int(e.bytes[0])].append(k) }
        for b in 0..<256 where byFirst[b].count > 1 {
            byFirst[b].sort { entries[$0].bytes.count > entries[$1].bytes.count }
        }
    }

    /// Splits `b` into text ranges and special tokens.
    func split(_ b: UnsafeBufferPointer<UInt8>) -> [Segment] {
        let n = b.count
        if entries.isEmpty { return n == 0 ? [] : [.text(0..<n)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        while i < n {
            let cands = byFirst[Int(b[i])]
            var matched: Entry? = nil
            if !cands.isEmpty {
                for k in cands {
                    let e = entries[k]
                    let len = e.bytes.count
                    guard len <= n - i else { continue }
                    var ok = true
                    var j = 1
                    while j < len {
                        if b[i + j] != e.bytes[j] { ok = false; break }
                        j += 1
                    }
                    if ok && e.singleWord {
                        if i > 0 {
                            let p = UTF8Scan.previousStart(b, before: i, floor: 0)
                            if UTF8Scan.isWordChar(UTF8Scan.decode(b, p).0) { ok = false }
                        }
                        if ok && i + len < n && UTF8Scan.isWordChar(UTF8Scan.decode(b, i + len).0) { ok = false }
                    }
                    if ok { matched = e; break }
                }
            }
            guard let e = matched else {
                i += 1
                continue
            }
            var textEnd = i
            if e.lstrip {
                while textEnd > textStart {
                    let p = UTF8Scan.previousStart(b, before: textEnd, floor: textStart)
                    guard UTF8Scan.isWhitespace(UTF8Scan.decode(b, p).0) else { break }
                    textEnd = p
                }
            }
            if textEnd > textStart { out.append(.text(textStart..<textEnd)) }
            out.append(.special(e.id))
            i += e.bytes.count
            if e.rstrip {
                while i < n {
                    let (v, len) = UTF8Scan.decode(b, i)
                    guard UTF8Scan.isWhitespace(v) else { break }
                    i += len
                }
            }
            textStart = i
        }
        if textStart < n { out.append(.text(textStart..<n)) }
        return out
    }
}

// MARK: - BPE merge engine

/// Pair of adjacent token ids -> (priority, merged id). Lower priority merges first; among
/// equal priorities the leftmost pair merges first. This one engine serves merge lists
/// (priority = rank), tiktoken ranks and SentencePiece scores (priority = order of score).
struct MergeTable {
    private var pairs: [UInt64: UInt64] = [:]

    var count: Int { pairs.count }

    mutating func reserve(_ n: Int) { pairs.reserveCapacity(n) }

    /// Adds a merge unless the pair already has one with a better (or equal) priority.
    mutating func add(_ a: Int32, _ b: Int32, priority: UInt32, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        let value = UInt64(priority) << 32 | UInt64(UInt32(bitPattern: merged))
        if let old = pairs[key], old >> 32 <= UInt64(priority) { return }
        pairs[key] = value
    }

    @inline(__always)
    func lookup(_ a: Int32, _ b: Int32) -> UInt64? {
        pairs[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
    }

    /// Merges `syms` in place until no adjacent pair has a merge.
    func apply(_ syms: inout [Int32]) {
        if syms.count < 2 { return }
        if syms.count <= 96 { applySmall(&syms) } else { applyLarge(&syms) }
    }

    /// O(n^2) scan with a cached priority per adjacent pair: fastest for words.
    private func applySmall(_ syms: inout [Int32]) {
        let none = UInt64.max
        var pri = [UInt64](repeating: none, count: syms.count - 1)
        for i in 0..<(syms.count - 1) { pri[i] = lookup(syms[i], syms[i + 1]) ?? none }
        while true {
            var bestPriority = UInt64.max
            var at = -1
            for i in 0..<pri.count {
                let p = pri[i]
                if p != none && p >> 32 < bestPriority { bestPriority = p >> 32; at = i }
            }
            if at < 0 { return }
            syms[at] = Int32(bitPattern: UInt32(truncatingIfNeeded: pri[at]))
            syms.remove(at: at + 1)
            pri.remove(at: at)
            if at < pri.count { pri[at] = lookup(syms[at], syms[at + 1]) ?? none }
            if at > 0 { pri[at - 1] = lookup(syms[at - 1], syms[at]) ?? none }
        }
    }

    /// Linked list plus a binary heap keyed by (priority, position): O(n log n) for long inputs.
    private func applyLarge(_ syms: inout [Int32]) {
        let n = syms.count
        var next = [Int32](repeating: -1, count: n)
        var prev = [Int32](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n {
            next[i] = i + 1 < n ? Int32(i + 1) : -1
            prev[i] = Int32(i - 1)
        }
        var heap: [UInt64] = []
        heap.reserveCapacity(n)
        func push(_ x: UInt64) {
            heap.append(x)
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                if heap[p] <= heap[c] { break }
                heap.swapAt(p, c); c = p
            }
        }
        func pop() -> UInt64? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var p = 0
                let m = heap.count
                while true {
                    let l = 2 * p + 1, r = l + 1
                    var s = p
                    if l < m && heap[l] < heap[s] { s = l }
                    if r < m && heap[r] < heap[s] { s = r }
                    if s == p { break }
                    heap.swapAt(p, s); p = s
                }
            }
            return top
        }
        func pushPair(_ i: Int) {
            guard i >= 0, next[i] >= 0, let v = lookup(syms[i], syms[Int(next[i])]) else { return }
            push((v >> 32) << 32 | UInt64(i))
        }
        for i in 0..<(n - 1) { pushPair(i) }
        while let top = pop() {
            let i = Int(top & 0xFFFF_FFFF)
            let priority = top >> 32
            guard alive[i], next[i] >= 0 else { continue }
            let r = Int(next[i])
            guard let v = lookup(syms[i], syms[r]), v >> 32 == priority else { continue }
            syms[i] = Int32(bitPattern: UInt32(truncatingIfNeeded: v))
            alive[r] = false
            next[i] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = Int32(i) }
            pushPair(Int(prev[i]))
            pushPair(i)
        }
        var out: [Int32] = []
        var k = 0
        while k >= 0 && k < n {
            out.append(syms[k])
            k = Int(next[k])
        }
        syms = out
    }
}

// MARK: - Word cache

/// Thread-safe cache from a word's bytes to its token ids, bounded in size.
final class WordCache {
    private var map: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()
    private let limit: Int

    init(limit: Int = 200_000) { self.limit = limit }

    func get(_ key: [UInt8]) -> [Int32]? {
        lock.lock(); defer { lock.unlock() }
        return map[key]
    }

    func put(_ key: [UInt8], _ value: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= limit { map.removeAll(keepingCapacity: true) }
        map[key] = value
    }
}

// MARK: - Small helpers

/// "<0xAB>" -> 0xAB (SentencePiece byte pieces), nil for anything else.
func parseByteToken<C: Collection>(_ b: C) -> UInt8? where C.Element == UInt8 {
    guard b.count == 6 else { return nil }
    let a = Array(b)
    guard a[0] == 0x3C, a[1] == 0x30, a[2] == 0x78, a[5] == 0x3E else { return nil }
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
    guard let h = hex(a[3]), let l = hex(a[4]) else { return nil }
    return h << 4 | l
}
