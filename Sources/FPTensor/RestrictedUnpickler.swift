/// A pickle reader for PyTorch checkpoints (torch.save of a state dict) that can only build
/// plain data: numbers, strings, tuples, lists, dicts and tensor references. It never imports
/// or calls anything: the only globals it accepts are collections.OrderedDict (an empty dict),
/// torch._utils._rebuild_tensor_v2 / _rebuild_parameter (a tensor reference) and the typed
/// storage classes inside persistent ids; any other opcode or global is an error naming it.
/// Lists and dicts are shared boxes as in Python (APPEND and SETITEM mutate in place, so a long
/// pickle costs linear time); every container records its nesting depth, which is capped.
public enum RestrictedUnpickler {
    /// A tensor as the checkpoint describes it: a view of storage `key` in data/.
    public struct TensorRef {
        public let key: String
        public let storageType: String   // e.g. "FloatStorage"
        public let storageNumel: Int
        public let offset: Int
        public let shape: [Int]
        public let strides: [Int]
    }

    /// A tuple's or list's items, or a dict's pairs (in order), with the nesting depth.
    public final class Box {
        public internal(set) var items: [Value] = []
        public internal(set) var pairs: [(String, Value)] = []
        var depth = 1
        // set once the box is inside another container: it takes no more items, so no container
        // can come to hold itself (no reference cycles)
        var sealed = false
        init(items: [Value] = []) {
            self.items = items
            depth = 1 + (items.map { RestrictedUnpickler.depth($0) }.max() ?? 0)
            items.forEach(RestrictedUnpickler.seal)
        }
    }

    public enum Value {
        case none, bool(Bool), int(Int), float(Double), string(String)
        case tuple(Box), list(Box), dict(Box)
        case global(String)                 // an accepted callable or class, by module.name
        case storage(key: String, type: String, numel: Int)
        case tensor(TensorRef)
    }

    static let callables: Set<String> = ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                         "torch._utils._rebuild_parameter"]
    static let storageTypes: Set<String> = ["FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage",
                                            "IntStorage", "LongStorage", "ShortStorage", "CharStorage", "ByteStorage",
                                            "BoolStorage"]
    static let maxDepth = 32

    /// Runs the pickle program in `bytes`; `context` starts error messages (the file name).
    public static func load(_ bytes: UnsafeRawBufferPointer, context: String) throws -> Value {
        var stack: [Value] = []
        var marks: [Int] = []
        var memo: [Int: Value] = [:]
        var pos = 0
        func fail(_ msg: String) -> TensorError { TensorError("\(context): \(msg) (at byte \(pos))") }
        func byte() throws -> UInt8 {
            guard pos < bytes.count else { throw fail("truncated pickle") }
            defer { pos += 1 }
            return bytes[pos]
        }
        func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            guard n >= 0, n <= bytes.count - pos else { throw fail("truncated pickle") }
            defer { pos += n }
            return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
        }
        func uint(_ n: Int) throws -> Int {
            let b = try take(n)
            var v = 0
            for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | Int(b[i]) }
            return v
        }
        func line() throws -> String {
            var end = pos
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            guard end < bytes.count, end - pos < 256 else { throw fail("bad GLOBAL name") }
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<end]), as: UTF8.self)
            pos = end + 1
            return s
        }
        func pop() throws -> Value {
            guard let v = stack.popLast() else { throw fail("stack underflow") }
            if let m = marks.last, stack.count < m { throw fail("stack underflow past a MARK") }
            return v
        }
        func popMark() throws -> [Value] {
            guard let m = marks.popLast(), m <= stack.count else { throw fail("no MARK") }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }
        func push(_ v: Value) throws {
            guard depth(v) <= maxDepth else { throw fail("containers nested deeper than \(maxDepth)") }
            guard stack.count < 1_000_000 else { throw fail("stack too large") }
            stack.append(v)
        }
        func global(_ module: String, _ name: String) throws -> Value {
            let full = "\(module).\(name)"
            if callables.contains(full) { return .global(full) }
            if module == "torch" && storageTypes.contains(name) { return .global(full) }
            throw fail("global \(full) is not allowed (this reader accepts only tensors in plain containers)")
        }
        func setItems(_ items: [Value]) throws {
            guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
            items.forEach(seal)   // first, so that a dict set into itself is refused below
            guard case .dict(let d) = stack.last, !d.sealed else { throw fail("SETITEM(S) on something that is not a dict being built") }
            for i in stride(from: 0, to: items.count, by: 2) {
                guard case .string(let key) = items[i] else { throw fail("dict keys must be strings") }
                let dd = 1 + depth(items[i + 1])
                guard dd <= maxDepth else { throw fail("containers nested deeper than \(maxDepth)") }
                d.depth = Swift.max(d.depth, dd)
                d.pairs.append((key, items[i + 1]))
            }
        }

        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                           // PROTO
            case 0x95: _ = try take(8)                          // FRAME
            case 0x2E:                                          // STOP
                guard stack.count == 1, marks.isEmpty else { throw fail("STOP with \(stack.count) values on the stack") }
                return stack[0]
            case 0x28: marks.append(stack.count)                // MARK
            case 0x7D: try push(.dict(Box()))                   // EMPTY_DICT
            case 0x5D: try push(.list(Box()))                   // EMPTY_LIST
            case 0x29: try push(.tuple(Box()))                  // EMPTY_TUPLE
            case 0x74: try push(.tuple(Box(items: try popMark())))   // TUPLE
            case 0x85: let a = try pop(); try push(.tuple(Box(items: [a])))
            case 0x86: let b = try pop(), a = try pop(); try push(.tuple(Box(items: [a, b])))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(.tuple(Box(items: [a, b, c])))
            case 0x71, 0x72, 0x94:                              // BINPUT, LONG_BINPUT, MEMOIZE
                let key = op == 0x71 ? try uint(1) : op == 0x72 ? try uint(4) : memo.count
                guard let top = stack.last else { throw fail("memo of an empty stack") }
                guard memo.count < 1_000_000 else { throw fail("memo too large") }
                memo[key] = top
            case 0x68, 0x6A:                                    // BINGET, LONG_BINGET
                let key = op == 0x68 ? try uint(1) : try uint(4)
                guard let v = memo[key] else { throw fail("memo key \(key) not set") }
                try push(v)
            case 0x58, 0x8C, 0x8D:                              // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let n = op == 0x8C ? try uint(1) : op == 0x58 ? try uint(4) : try uint(8)
                guard n <= 1 << 20 else { throw fail("string too long") }
                try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))    // BININT
            case 0x4B: try push(.int(try uint(1)))              // BININT1
            case 0x4D: try push(.int(try uint(2)))              // BININT2
            case 0x8A:                                          // LONG1
                let n = try uint(1)
                guard n <= 8 else { throw fail("integer too large") }
                let b = try take(n)
                var v: Int64 = 0
                for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | Int64(b[i]) }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }   // two's complement
                try push(.int(Int(v)))
            case 0x4E: try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case 0x47:                                          // BINFLOAT (big-endian double)
                let b = try take(8)
                var u: UInt64 = 0
                for i in 0..<8 { u = u << 8 | UInt64(b[i]) }
                try push(.float(Double(bitPattern: u)))
            case 0x63:                                          // GLOBAL
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x93:                                          // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try global(module, name))
            case 0x51:                                          // BINPERSID
                guard case .tuple(let tb) = try pop(), case let t = tb.items, t.count == 5, case .string("storage") = t[0],
                      case .global(let type) = t[1], type.hasPrefix("torch."), case .string(let key) = t[2],
                      case .int(let numel) = t[4], numel >= 0 else {
                    throw fail("persistent id is not a ('storage', torch.<Type>Storage, key, location, numel) tuple")
                }
                try push(.storage(key: key, type: String(type.dropFirst(6)), numel: numel))
            case 0x52:                                          // REDUCE
                guard case .tuple(let args) = try pop(), case .global(let fn) = try pop() else {
                    throw fail("REDUCE needs a callable and an argument tuple")
                }
                try push(try reduce(fn, args.items, fail))
            case 0x73: let v = try pop(), k = try pop(); try setItems([k, v])   // SETITEM
            case 0x75: try setItems(try popMark())              // SETITEMS
            case 0x61, 0x65:                                    // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popMark()
                items.forEach(seal)   // first, so that a list appended to itself is refused below
                guard case .list(let l) = stack.last, !l.sealed else { throw fail("APPEND(S) on something that is not a list being built") }
                let dd = 1 + (items.map { depth($0) }.max() ?? 0)
                guard dd <= maxDepth else { throw fail("containers nested deeper than \(maxDepth)") }
                l.depth = Swift.max(l.depth, dd)
                l.items += items
            case 0x62:                                          // BUILD: a dict's instance state (torch's _metadata) is dropped
                _ = try pop()
                guard case .dict = stack.last else { throw fail("BUILD on something that is not a dict") }
            default:
                throw fail("pickle opcode 0x\(String(op, radix: 16)) is not allowed (this reader accepts only tensors in plain containers)")
            }
        }
    }

    static func reduce(_ fn: String, _ args: [Value], _ fail: (String) -> TensorError) throws -> Value {
        switch fn {
        case "collections.OrderedDict":
            guard args.isEmpty else { throw fail("OrderedDict with arguments") }
            return .dict(Box())
        case "torch._utils._rebuild_parameter":
            guard args.count >= 1, case .tensor = args[0] else { throw fail("_rebuild_parameter without a tensor") }
            return args[0]
        case "torch._utils._rebuild_tensor_v2":
            guard args.count >= 4, case .storage(let key, let type, let numel) = args[0], case .int(let offset) = args[1],
                  let shape = ints(args[2]), let strides = ints(args[3]), shape.count == strides.count, offset >= 0 else {
                throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)")
            }
            return .tensor(TensorRef(key: key, storageType: type, storageNumel: numel, offset: offset, shape: shape,
                                     strides: strides))
        default:
            throw fail("\(fn) cannot be called")
        }
    }

    static func ints(_ v: Value) -> [Int]? {
        guard case .tuple(let t) = v else { return nil }
        var out: [Int] = []
        for x in t.items { guard case .int(let i) = x else { return nil }; out.append(i) }
        return out
    }

    static func seal(_ v: Value) {
        switch v {
        case .tuple(let b), .list(let b), .dict(let b): b.sealed = true
        default: break
        }
    }

    /// A value's recorded nesting depth (O(1): containers keep theirs).
    static func depth(_ v: Value) -> Int {
        switch v {
        case .tuple(let b), .list(let b), .dict(let b): return b.depth
        default: return 0
        }
    }
}
