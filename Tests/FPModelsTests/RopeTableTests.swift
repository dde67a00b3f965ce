import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// RoPE tables are made for the positions runs reach and grown on demand: a position's row is
/// the same whatever the table's size, the table stops at n_ctx, and the values are
/// cos / sin(position * theta^(-2i/d)) computed here in double.
final class RopeTableTests: XCTestCase {
    func testGrowsOnDemandWithTheSameRows() throws {
        var cfg = ModelConfig(architecture: "llama", modelName: "t", nLayers: 1, dModel: 16, nHeads: 2, nKVHeads: 1, dHead: 8,
                              dMLP: 32, dVocab: 50, nCtx: 5000, normEps: 1e-5, block: Llama.block, tiedEmbeddings: true,
                              defaultPrependBOS: false)
        cfg.ropeTheta = 10000
        let table = RopeTable(cfg, theta: 10000, scaling: nil)
        let small = try table.tables(covering: 10)
        XCTAssertEqual(small.cos.shape, [1024, 4])   // the first size
        let big = try table.tables(covering: 3000)
        XCTAssertEqual(big.cos.shape, [4096, 4])     // doubled until it covers 3000
        XCTAssertEqual(try big.cos.slice(0, 0, 1024).contiguous().toFloats(), try small.cos.toFloats())
        XCTAssertEqual(try big.sin.slice(0, 0, 1024).contiguous().toFloats(), try small.sin.toFloats())
        XCTAssertTrue(try table.tables(covering: 50) .cos === big.cos)   // no shrinking, no remaking
        XCTAssertEqual(try table.tables(covering: 4999).cos.shape, [5000, 4])   // capped at n_ctx
        let c = try big.cos.toFloats(), s = try big.sin.toFloats()
        for p in [0, 1, 7, 1023, 1024, 2999] {
            for i in 0..<4 {
                let angle = Double(p) * pow(10000, -Double(2 * i) / 8)
                XCTAssertEqual(Double(c[p * 4 + i]), cos(angle), accuracy: 2e-6 * Swift.max(1, Double(p) / 100), "cos p \(p) i \(i)")
                XCTAssertEqual(Double(s[p * 4 + i]), sin(angle), accuracy: 2e-6 * Swift.max(1, Double(p) / 100), "sin p \(p) i \(i)")
            }
        }
    }
}
