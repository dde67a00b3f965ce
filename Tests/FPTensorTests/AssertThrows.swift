import XCTest
@testable import FPTensor

extension XCTestCase {
    /// Asserts that `expr` throws a TensorError whose message contains `text`.
    func assertThrows(_ expr: @autoclosure () throws -> Any, contains text: String, line: UInt = #line) {
        do {
            _ = try expr()
            XCTFail("expected an error containing \"\(text)\"", line: line)
        } catch let e as TensorError {
            XCTAssertTrue(e.message.contains(text), "message \"\(e.message)\" lacks \"\(text)\"", line: line)
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }
}
