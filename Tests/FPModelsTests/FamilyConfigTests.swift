import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// Config keys of the Llama-derived families that the tiny fixtures (Tests/fixtures/families)
/// do not switch on: each read from a config.json written here, as Hugging Face's
/// configuration_*.py files define them.
final class FamilyConfigTests: XCTestCase {
    func config(_ keys: [String: Any]) throws -> ModelConfig {
        var j: [String: Any] = ["hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
                                "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
                                "max_position_embeddings": 64, "rms_norm_eps": 1e-6]
        for (k, v) in keys { j[k] = v }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fp-family-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try JSONSerialization.data(withJSONObject: j).write(to: dir.appendingPathComponent("config.json"))
        return try Architectures.config(huggingFaceFolder: dir.path).1
    }

    func error(_ keys: [String: Any]) -> String {
        do { _ = try config(keys); return "no error" } catch let e as TensorError { return e.message } catch { return "\(error)" }
    }

    func testQwenSlidingWindowsFollowUseSlidingWindowAndMaxWindowLayers() throws {
        // configuration_qwen2.py: layers i >= max_window_layers slide when use_sliding_window
        var c = try config(["model_type": "qwen2", "use_sliding_window": true, "sliding_window": 8, "max_window_layers": 2])
        XCTAssertEqual(c.block.slidingWindows, [2: 8, 3: 8])
        c = try config(["model_type": "qwen2", "use_sliding_window": false, "sliding_window": 8, "max_window_layers": 2])
        XCTAssertEqual(c.block.slidingWindows, [:])
        c = try config(["model_type": "qwen3", "sliding_window": 8,
                        "layer_types": ["full_attention", "sliding_attention", "full_attention", "sliding_attention"]])
        XCTAssertEqual(c.block.slidingWindows, [1: 8, 3: 8])
        XCTAssertEqual(c.block.qkNorm, .perHead)
        XCTAssertTrue(error(["model_type": "qwen2", "sliding_window": 8, "layer_types": ["full_attention"]]).contains("layer_types has 1 entries for 4 layers"))
        XCTAssertTrue(error(["model_type": "qwen2", "sliding_window": 8,
                             "layer_types": ["chunked_attention", "full_attention", "full_attention", "full_attention"]]).contains("'chunked_attention' is not supported"))
    }

    func testMistralAndPhi3WindowsCoverEveryLayer() throws {
        XCTAssertEqual(try config(["model_type": "mistral", "sliding_window": 4096]).block.slidingWindows.count, 4)
        XCTAssertEqual(try config(["model_type": "mistral", "sliding_window": NSNull()]).block.slidingWindows, [:])
        XCTAssertEqual(try config(["model_type": "phi3", "sliding_window": 2047]).block.slidingWindows[3], 2047)
    }

    func testPhi3PartialRotaryAndLongropeKeys() throws {
        let c = try config(["model_type": "phi3", "partial_rotary_factor": 0.75])
        XCTAssertEqual(c.rotaryDim, 12)   // int(16 * 0.75)
        // classic keys of Phi-3-mini-128k: rope_scaling {type, short_factor, long_factor}, the
        // original context at the top level; factor defaults to max / original
        let factors: [Double] = [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]
        let l = try config(["model_type": "phi3", "original_max_position_embeddings": 16,
                            "rope_scaling": ["type": "longrope", "short_factor": factors, "long_factor": factors.map { $0 * 2 }]])
        XCTAssertEqual(l.ropeScaling?.kind, .longrope)
        XCTAssertEqual(l.ropeScaling?.factor ?? 0, 4, accuracy: 1e-12)
        XCTAssertEqual(l.ropeScaling?.originalMaxPositions, 16)
        XCTAssertEqual(Rope.attentionFactor(l.ropeScaling), (1 + log(4.0) / log(16.0)).squareRoot(), accuracy: 1e-12)
        XCTAssertTrue(error(["model_type": "phi3", "original_max_position_embeddings": 16,
                             "rope_scaling": ["type": "longrope", "short_factor": [1.0], "long_factor": [1.0]]])
            .contains("longrope factors of 1 and 1 entries for 8 rotary frequencies"))
        XCTAssertTrue(error(["model_type": "phi3", "rope_scaling": ["type": "su", "factor": 2.0]])
            .contains("rope_scaling type 'su' is not supported"))
    }

    func testGemma3ClassicKeysAndDefaults() throws {
        // a hub config.json of Gemma 3 1B's form: rope_theta / rope_local_base_freq,
        // sliding_window_pattern instead of layer_types
        let c = try config(["model_type": "gemma3_text", "num_hidden_layers": 12, "head_dim": 32, "query_pre_attn_scalar": 256,
                            "rope_theta": 1_000_000.0, "rope_local_base_freq": 10000.0, "sliding_window": 512,
                            "sliding_window_pattern": 6, "hidden_activation": "gelu_pytorch_tanh"])
        XCTAssertEqual(c.block.slidingWindows.keys.sorted(), [0, 1, 2, 3, 4, 6, 7, 8, 9, 10])
        XCTAssertEqual(c.ropeTheta, 1_000_000)
        XCTAssertEqual(c.block.localRopeTheta, 10000)
        XCTAssertEqual(c.block.attentionScale ?? 0, 1.0 / 16, accuracy: 1e-12)
        XCTAssertEqual(c.block.embeddingScale ?? 0, 8, accuracy: 1e-12)
        XCTAssertNil(c.block.finalSoftcap)
        // transformers' Gemma 3 keeps attn_logit_softcapping but never applies it; the final cap it applies
        let capped = try config(["model_type": "gemma3_text", "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0])
        XCTAssertNil(capped.block.attentionSoftcap)
        XCTAssertEqual(capped.block.finalSoftcap, 30)
        XCTAssertTrue(c.tiedEmbeddings)
        XCTAssertTrue(error(["model_type": "gemma3_text", "use_bidirectional_attention": true]).contains("use_bidirectional_attention"))
        // Gemma 3 4B+: linear scaling on the global layers only (the local ones keep their base)
        let scaled = try config(["model_type": "gemma3_text", "rope_scaling": ["rope_type": "linear", "factor": 8.0]])
        XCTAssertEqual(scaled.ropeScaling?.kind, .linear)
        XCTAssertEqual(scaled.ropeScaling?.factor, 8)
        XCTAssertTrue(error(["model_type": "gemma3_text", "hidden_activation": "relu"]).contains("hidden_activation relu is not supported"))
    }

    func testOLMo2HasPostNormsOnlyAndFullWidthQKNorms() throws {
        let c = try config(["model_type": "olmo2"])
        XCTAssertFalse(c.block.preNorms)
        XCTAssertTrue(c.block.postNorms)
        XCTAssertEqual(c.block.qkNorm, .fullWidth)
    }
}
