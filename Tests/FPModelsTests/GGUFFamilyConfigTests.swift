import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// GGUF keys of gemma2 and gptneox files that the tiny fixtures (Tests/fixtures/families, whose
/// logits families.lua checks) do not exercise: llama.cpp's defaults when a key is absent, read
/// from metadata written here byte by byte.
final class GGUFFamilyConfigTests: XCTestCase {
    enum V { case u32(UInt32), f32(Float), bool(Bool), str(String), bools([Bool]) }

    /// A GGUF file with `kvs`, one F32 `token_embd.weight` [vocab 8, d_model 64] and `extra`
    /// F32 vectors.
    func file(_ arch: String, _ kvs: [(String, V)], extra: [(String, [Float])] = []) throws -> GGUFFile {
        let all = [("general.architecture", V.str(arch))] + kvs
        var b = GGUFTests.Builder.header(tensors: UInt64(1 + extra.count), kvs: UInt64(all.count))
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
        var offset: UInt64 = 64 * 8 * 4
        for (name, xs) in extra {
            b.tensor(name, ne: [UInt64(xs.count)], offset: offset)
            offset += (UInt64(xs.count * 4) + 31) / 32 * 32
        }
        b.pad()
        b.floats(64 * 8)
        for (_, xs) in extra {
            for x in xs { b.u32(x.bitPattern) }
            b.pad()
        }
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

    func testPhi3LongropeAsLlamaCppWritesIt() throws {
        // rope_factors_short/long (8 = d_head 16 / 2), original context 16 of 64: factor 4
        let short: [Float] = [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5], long = short.map { $0 * 2 }
        let base = sizes("phi3") + [("phi3.rope.scaling.original_context_length", .u32(16))]
        let factors = [("rope_factors_short.weight", short), ("rope_factors_long.weight", long)]
        var c = try Phi3.config(gguf: try file("phi3", base + [("phi3.rope.scaling.attn_factor", .f32(1.25))], extra: factors), name: "p")
        let s = try XCTUnwrap(c.ropeScaling)
        XCTAssertEqual(s.kind, .longrope)
        XCTAssertEqual(s.factor, 4)
        XCTAssertEqual(s.originalMaxPositions, 16)
        XCTAssertEqual(s.shortFactor, short.map(Double.init))
        XCTAssertEqual(s.longFactor, long.map(Double.init))
        XCTAssertEqual(s.attentionFactor, 1.25)
        // without the key: HF's default from the two context lengths, sqrt(1 + ln 4 / ln 16)
        c = try Phi3.config(gguf: try file("phi3", base, extra: factors), name: "p")
        XCTAssertNil(c.ropeScaling?.attentionFactor)
        XCTAssertEqual(Rope.attentionFactor(c.ropeScaling), 1.5.squareRoot(), accuracy: 1e-12)
        // no factor tensors: plain RoPE
        XCTAssertNil(try Phi3.config(gguf: try file("phi3", base), name: "p").ropeScaling)

        func message(_ kvs: [(String, V)], _ extra: [(String, [Float])]) -> String {
            do { _ = try Phi3.config(gguf: try file("phi3", kvs, extra: extra), name: "p"); return "no error" }
            catch let e as TensorError { return e.message } catch { return "\(error)" }
        }
        XCTAssertTrue(message(base, [factors[1]]).contains("longrope needs both rope_factors_short.weight and rope_factors_long.weight"))
        XCTAssertTrue(message(sizes("phi3"), factors).contains("without phi3.rope.scaling.original_context_length"))
        XCTAssertTrue(message(base + [("phi3.rope.scaling.attn_factor", .f32(-1))], factors).contains("attn_factor -1.0 must be positive"))
        XCTAssertTrue(message(base, factors.map { ($0.0, Array($0.1.prefix(4))) })
            .contains("longrope factors of 4 and 4 entries for 8 rotary frequencies"))
    }
}
