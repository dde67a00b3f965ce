import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// The architecture registry and the block shapes: block variants no executor implements are
/// refused (at load, and by the sweep engine) instead of running with another block's numbers.
final class ArchitectureTests: XCTestCase {
    func message(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let e as TensorError { return e.message } catch { return "\(error)" }
    }

    func llamaConfig() -> ModelConfig {
        ModelConfig(architecture: "llama", modelName: "t", nLayers: 2, dModel: 16, nHeads: 2, nKVHeads: 1, dHead: 8,
                    dMLP: 32, dVocab: 50, nCtx: 16, normEps: 1e-5, block: Llama.block, tiedEmbeddings: true,
                    defaultPrependBOS: false)
    }

    func testEachFormatNameBelongsToOneFamily() {
        var seen: [String: String] = [:]
        for a in Architectures.all {
            for t in a.huggingFaceTypes.map({ "hf:" + $0 }) + a.ggufArchitectures.map({ "gguf:" + $0 }) {
                XCTAssertNil(seen[t], "\(t) is read by both \(seen[t] ?? "") and \(a.name)")
                seen[t] = a.name
            }
        }
        XCTAssertEqual(Architectures.all.filter { $0.readsLlama2C }.count, 1)
    }

    func testUnknownFamiliesNameTheKnownOnes() {
        let hf = message { try Architectures.forHuggingFace("mamba", "/x/config.json") }
        XCTAssertTrue(hf?.contains("model_type 'mamba' is not supported (gpt2, llama, qwen2, phi3, mistral, qwen3, olmo2, gemma3_text, gemma2") ?? false, hf ?? "no error")
        let gguf = message { try Architectures.forGGUF("mamba", "/x.gguf") }
        XCTAssertTrue(gguf?.contains("GGUF architecture 'mamba' is not supported (") ?? false, gguf ?? "no error")
        for known in ["llama", "qwen2", "phi3", "qwen3", "olmo2", "gemma3"] {
            XCTAssertTrue(gguf?.contains(known) ?? false, "\(known) missing from \(gguf ?? "")")
        }
    }

    func testBlockCombinationsWithoutAnImplementationAreRefusedAtLoad() throws {
        XCTAssertNoThrow(try llamaConfig().validate("t"))
        let variants: [(String, (inout BlockShape) -> Void)] = [
            ("a block without norms", { $0.preNorms = false }),
            ("post norms in a parallel block", { $0.preNorms = false; $0.postNorms = true; $0.residual = .parallel }),
            ("a sliding window of no positions", { $0.slidingWindows = [0: 0] }),
            ("a soft-cap or scale of -1.0", { $0.attentionSoftcap = -1 }),
        ]
        for (what, change) in variants {
            var cfg = llamaConfig()
            change(&cfg.block)
            let m = message { try cfg.validate("t") }
            XCTAssertTrue(m?.contains("llama uses \(what), which fp's forward pass does not implement yet") ?? false,
                          "\(what): \(m ?? "no error")")
        }
    }

    func testHookPointsComeFromTheBlockDefinition() throws {
        let cfg = llamaConfig()
        let d = cfg.dModel, qkv = cfg.qkvWidth, f = cfg.dMLP
        func zeros(_ s: [Int]) throws -> Tensor { try Tensor(zeros: s) }
        let blocks = try (0..<cfg.nLayers).map { _ in
            BlockWeights(ln1W: try zeros([d]), ln1B: nil, ln2W: try zeros([d]), ln2B: nil, wQKV: try zeros([d, qkv]), bQKV: nil,
                         wO: try zeros([cfg.nHeads * cfg.dHead, d]), bO: nil, wIn: try zeros([d, f]), bIn: nil,
                         wGate: try zeros([d, f]), wOut: try zeros([f, d]), bOut: nil)
        }
        let wE = try zeros([cfg.dVocab, d])
        let m = try Transformer(cfg: cfg, weights: TransformerWeights(wE: wE, wPos: nil, blocks: blocks, lnFinalW: try zeros([d]),
                                                                     lnFinalB: nil, wU: try wE.T(), bU: nil),
                                tokenizer: nil, source: "t")
        let names = m.hookPointNames
        // hook_embed, 21 per Llama block + 4 on demand (q/k/v_input, mlp_in: no attn_in with grouped
        // queries), ln_final's two, unembed's two
        XCTAssertEqual(names.count, 1 + 2 * (21 + 4) + 2 + 2)
        XCTAssertFalse(names.contains("blocks.0.hook_attn_in"))
        XCTAssertFalse(names.contains("hook_pos_embed"))
        XCTAssertTrue(names.contains("blocks.1.attn.hook_rot_k") && names.contains("blocks.0.mlp.hook_pre_linear"))
        let shapes = Dictionary(uniqueKeysWithValues: try m.hookPointShapes(batch: 2, positions: 5).map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["blocks.0.attn.hook_k"], [2, 5, cfg.nKVHeads, cfg.dHead])
        XCTAssertEqual(shapes["blocks.0.attn.hook_pattern"], [2, cfg.nHeads, 5, 5])
        XCTAssertEqual(shapes["blocks.0.attn.hook_result"], [2, 5, cfg.nHeads, d])
        XCTAssertEqual(shapes["blocks.1.ln2.hook_scale"], [2, 5, 1])
        XCTAssertEqual(shapes["ln_final.hook_normalized"], [2, 5, d])
        // the shapes the walker reports are the shapes a real run shows
        final class Recorder: HookDispatcher {
            var shapes: [String: [Int]] = [:]
            let onDemand: Bool
            init(onDemand: Bool) { self.onDemand = onDemand }
            func wants(_ name: String) -> Bool { onDemand || !Transformer.isOnDemandHookPoint(name) }
            func fire(_ name: String, layer: Int?, _ act: Tensor) throws -> Tensor? { shapes[name] = act.shape; return nil }
        }
        let tokens = try Tensor(ints: [Int](repeating: 1, count: 10), shape: [2, 5])
        let r = Recorder(onDemand: false)
        _ = try m.forward(tokens, hooks: r)
        XCTAssertEqual(r.shapes, shapes.filter { !Transformer.isOnDemandHookPoint($0.key) })
        // asked for the split inputs, ln1 runs per head (TransformerLens): its last call is v's
        let all = Recorder(onDemand: true)
        _ = try m.forward(tokens, hooks: all)
        XCTAssertEqual(all.shapes["blocks.0.ln1.hook_normalized"], [2, 5, cfg.nKVHeads, d])
        XCTAssertEqual(all.shapes["blocks.0.hook_q_input"], [2, 5, cfg.nHeads, d])
        XCTAssertEqual(all.shapes.filter { !$0.key.contains(".ln1.") }, shapes.filter { !$0.key.contains(".ln1.") })
    }
}
