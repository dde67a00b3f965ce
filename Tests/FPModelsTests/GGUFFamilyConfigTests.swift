import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// GGUF keys of gemma2 and gptneox files that the tiny fixtures (Tests/fixtures/families, whose
/// logits families.lua checks) do not exercise: llama.cpp's defaults when a key is absent, read
/// from metadata written here byte by byte.
final class GGUFFamilyConfigTests: XCTestCase {
    enum V { case u32(UInt32), f32(Float), bool(Bool), str(String), bools([Bool]) }

    /// A GGUF file with `kvs` and one F32 `token_embd.weight` [vocab 8, d_model 64].
    func file(_ arch: String, _ kvs: [(String, V)]) throws -> GGUFFile {
        let all = [("general.architecture", V.str(arch))] + kvs
        var b = GGUFTests.Builder.header(tensors: 1, kvs: UInt64(all.count))
        for (k, v) in all {
            b.str(k)
            switch v {
            case .u32(let x): b.u32(4); b.u32(x)
            case .f32(let x): b.u32(6); b.u32(x.bitPattern)
            case .bool(let x): b.u32(7); b.u8(x ? 1 : 0)
            case .str(let s): b.u32(8); b.str(s)
            case .bools(let xs): b.u32(9); b.u32(7); b.u64(UInt64(xs.count)); for x in xs { b.u8(x ? 1 : 0) }
            }
        }
        b.tensor("token_embd.weight", ne: [64, 8])
        b.pad()
        b.floats(64 * 8)
        return try GGUFFile(data: b.data, name: "\(arch).gguf")
    }

    func sizes(_ arch: String, layers: UInt32 = 4) -> [(String, V)] {
        [("\(arch).block_count", .u32(layers)), ("\(arch).context_length", .u32(64)), ("\(arch).embedding_length", .u32(64)),
         ("\(arch).feed_forward_length", .u32(128)), ("\(arch).attention.head_count", .u32(4))]
    }

    func testGemma2DefaultsAreLlamaCpps() throws {
        let base = sizes("gemma2") + [("gemma2.attention.head_count_kv", .u32(2)), ("gemma2.attention.key_length", .u32(32)),
                                      ("gemma2.attention.layer_norm_rms_epsilon", .f32(1e-6))]
        var c = try Gemma2.config(gguf: try file("gemma2", base), name: "g")
        XCTAssertEqual(c.block.attentionSoftcap, 50)
        XCTAssertEqual(c.block.finalSoftcap, 30)
        XCTAssertEqual(c.block.attentionScale!, 1 / Double(32).squareRoot(), accuracy: 1e-12)   // the head size
        XCTAssertEqual(c.block.slidingWindows, [0: 4096, 2: 4096])   // every other layer from layer 0
        XCTAssertEqual(c.block.embeddingScale!, 8, accuracy: 1e-6)

        // keys present: the soft-caps, the window on the pattern's layers, attention.scale
        c = try Gemma2.config(gguf: try file("gemma2", base + [
            ("gemma2.attn_logit_softcapping", .f32(5)), ("gemma2.final_logit_softcapping", .f32(10)),
            ("gemma2.attention.sliding_window", .u32(7)), ("gemma2.attention.sliding_window_pattern", .bools([false, true, true, false])),
            ("gemma2.attention.scale", .f32(0.25))]), name: "g")
        XCTAssertEqual(c.block.attentionSoftcap, 5)
        XCTAssertEqual(c.block.finalSoftcap, 10)
        XCTAssertEqual(c.block.slidingWindows, [1: 7, 2: 7])
        XCTAssertEqual(c.block.attentionScale, 0.25)

        // 27B (46 layers): d_model / heads, not the head size
        let big = sizes("gemma2", layers: 46) + [("gemma2.attention.key_length", .u32(32))]
        c = try Gemma2.config(gguf: try file("gemma2", big), name: "g")
        XCTAssertEqual(c.block.attentionScale!, 1 / Double(16).squareRoot(), accuracy: 1e-12)

        // a period of 0 or a pattern of the wrong length is an error, not a crash
        XCTAssertThrowsError(try Gemma2.config(gguf: try file("gemma2", base + [("gemma2.attention.sliding_window_pattern", .u32(0))]), name: "g"))
        XCTAssertThrowsError(try Gemma2.config(gguf: try file("gemma2", base + [("gemma2.attention.sliding_window_pattern", .bools([true]))]), name: "g"))
        XCTAssertThrowsError(try Gemma2.config(gguf: try file("gemma2", base + [("gemma2.attention.scale", .f32(-1))]), name: "g"))
    }

    func testGPTNeoXKeys() throws {
        let base = sizes("gptneox") + [("gptneox.rope.dimension_count", .u32(4)), ("gptneox.attention.layer_norm_epsilon", .f32(1e-5))]
        var c = try GPTNeoX.config(gguf: try file("gptneox", base + [("gptneox.use_parallel_residual", .bool(true))]), name: "p")
        XCTAssertEqual(c.rotaryDim, 4)
        XCTAssertEqual(c.block.residual, .parallel)
        XCTAssertEqual(c.normEps, Double(Float(1e-5)), accuracy: 1e-12)
        XCTAssertEqual(c.ropeTheta, 10000)
        XCTAssertEqual(c.block.normalization, .layerNorm)
        XCTAssertEqual(c.block.activation, .gelu)
        c = try GPTNeoX.config(gguf: try file("gptneox", base + [("gptneox.use_parallel_residual", .bool(false)),
                                                                  ("gptneox.rope.freq_base", .f32(500))]), name: "p")
        XCTAssertEqual(c.block.residual, .sequential)
        XCTAssertEqual(c.ropeTheta, 500)
        // an odd rotary part is refused
        XCTAssertThrowsError(try GPTNeoX.config(gguf: try file("gptneox", sizes("gptneox") + [("gptneox.rope.dimension_count", .u32(3))]), name: "p"))
    }
}
