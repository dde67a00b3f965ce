import XCTest
final class FPModelsPlaceholderTests: XCTestCase { func testModuleLinks() { XCTAssertTrue(true) } }
