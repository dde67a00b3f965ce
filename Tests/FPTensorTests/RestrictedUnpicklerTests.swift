import XCTest
@testable import FPTensor

/// RestrictedUnpickler on pickles written by CPython's own pickle module (protocols 2 and 4;
/// the hex below is `pickle.dumps(...)` output) and on what it must refuse.
final class RestrictedUnpicklerTests: XCTestCase {
    func load(_ hex: String) throws -> RestrictedUnpickler.Value {
        var bytes = [UInt8]()
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            bytes.append(UInt8(hex[i..<j], radix: 16) ?? 0)
            i = j
        }
        return try bytes.withUnsafeBytes { try RestrictedUnpickler.load($0, context: "test.pkl") }
    }

    func describe(_ v: RestrictedUnpickler.Value) -> String {
        switch v {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .string(let s): return "'\(s)'"
        case .tuple(let b): return "(" + b.items.map(describe).joined(separator: ", ") + ")"
        case .list(let b): return "[" + b.items.map(describe).joined(separator: ", ") + "]"
        case .dict(let b): return "{" + b.pairs.map { "'\($0.0)': " + describe($0.1) }.joined(separator: ", ") + "}"
        case .global(let g): return g
        case .storage(let key, let type, let numel): return "storage(\(key), \(type), \(numel))"
        case .tensor(let t): return "tensor(\(t.key))"
        }
    }

    /// pickle.dumps({'a': [1, -2, 300, -70000, 2**40, -2**40, 3.5, True, False, None, 'xé', (1, 2)], 'b': ()}, protocol=2)
    func testProtocol2PlainData() throws {
        let v = try load("80027d71002858010000006171015d7102284b014afeffffff4d2c014a90eefeff8a060000000000018a060000000000ff47400c00000000000088894e580300000078c3a971034b014b0286710465580100000062710529752e")
        XCTAssertEqual(describe(v), "{'a': [1, -2, 300, -70000, 1099511627776, -1099511627776, 3.5, True, False, None, 'xé', (1, 2)], 'b': ()}")
    }

    /// pickle.dumps(OrderedDict([('w', [1.25]), ('k', 'v')]), protocol=4): FRAME, MEMOIZE, STACK_GLOBAL
    func testProtocol4OrderedDict() throws {
        let v = try load("8004953c000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0177945d94473ff4000000000000618c016b948c017694752e")
        XCTAssertEqual(describe(v), "{'w': [1.25], 'k': 'v'}")
    }

    func expectRefusal(_ hex: String, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try load(hex), line: line) { e in
            let msg = (e as? TensorError)?.message ?? "\(e)"
            XCTAssertTrue(msg.contains(fragment), "\"\(msg)\" lacks \"\(fragment)\"", line: line)
        }
    }

    func testRefusals() {
        // pickle.dumps({1}, protocol=2): a global that is not a plain container
        expectRefusal("8002635f5f6275696c74696e5f5f0a7365740a71005d71014b01618571025271032e", "global __builtin__.set is not allowed")
        expectRefusal("80026900", "opcode 0x69 is not allowed")                  // INST
        expectRefusal("80025d71005d7101616801" + "4b01612e", "not a list being built")   // a list appended to after it went into another
        expectRefusal("80025d7100680061", "not a list being built")            // a list appended to itself
        expectRefusal("80024b01", "truncated pickle")
        expectRefusal("8002742e", "no MARK")
        expectRefusal("8002680a", "memo key 10 not set")
        expectRefusal("8002" + String(repeating: "5d", count: 40) + String(repeating: "61", count: 39) + "2e", "nested deeper than 32")
        expectRefusal("80024b014b022e", "STOP with 2 values")
    }
}
