import Foundation
import XCTest
import FPTensor
@testable import FPModels

/// `fp info`'s family table (FamilyFeatures) against each family's tiny fixture
/// (Tests/fixtures/models/<family>-tiny, written from transformers' classes and checked against
/// HF in families.lua / models_fixtures.lua): loading the fixture with each processing flag is
/// refused exactly where the table says NO, applied or skipped where it says so; its hook points
/// per layer are the table's count; and the checks behind the other cells pass on the fixture too.
final class FamilyFeaturesTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures").appendingPathComponent("models")

    func fixture(_ family: String) -> String { Self.models.appendingPathComponent("\(family)-tiny").path }

    func testEveryRegisteredFamilyHasAFixtureAndARow() throws {
        let rows = try FamilyFeatures.all()
        XCTAssertEqual(rows.map(\.family), Architectures.all.map { $0.name })
        for r in rows {
            XCTAssertTrue(FileManager.default.fileExists(atPath: fixture(r.family) + "/config.json"), r.family)
        }
        let lines = FamilyFeatures.table(rows)
        XCTAssertEqual(lines.count, rows.count + 1)
        for (r, line) in zip(rows, lines.dropFirst()) {
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            XCTAssertEqual(cells.first, r.family)
            // the last four cells are the processing flags, in processingFlags' order
            let short: [FamilyFeatures.Outcome: String] = [.applied: "yes", .skipped: "skip", .refused: "NO"]
            XCTAssertEqual(Array(cells.suffix(4)), r.processing.map { short[$0]! }, r.family)
            XCTAssertTrue(line.contains("\(r.hookPoints) + \(r.onDemand.count)"), line)
        }
    }

    func testProcessingCellsAreWhatLoadingTheFixtureDoes() throws {
        var refusedSomewhere = Set<String>(), skippedSomewhere = Set<String>()
        for r in try FamilyFeatures.all() {
            for (flag, cell) in zip(FamilyFeatures.processingFlags, r.processing) {
                var o = ModelLoader.Options()
                o.processing = try FamilyFeatures.options(flag)
                do {
                    let m = try ModelLoader.load(fixture(r.family), options: o)
                    XCTAssertNotEqual(cell, .refused, "\(r.family) \(flag): the fixture loads")
                    XCTAssertEqual(m.cfg.processing, cell == .applied ? [flag] : [], "\(r.family) \(flag)")
                    if cell == .skipped { skippedSomewhere.insert(r.family) }
                } catch let e as TensorError {
                    XCTAssertEqual(cell, .refused, "\(r.family) \(flag): \(e.message)")
                    XCTAssertTrue(e.message.contains(flag), e.message)
                    refusedSomewhere.insert("\(r.family) \(flag)")
                }
            }
        }
        // TransformerLens's refusals (post norms, soft-capped logits) and its RMS skip happen
        XCTAssertEqual(refusedSomewhere, ["olmo2 fold_ln", "olmo2 center_writing_weights", "gemma2 center_unembed"])
        XCTAssertTrue(skippedSomewhere.contains("llama") && !skippedSomewhere.contains("gpt2") && !skippedSomewhere.contains("gpt_neox"))
    }

    func testHookPointCountsAreTheFixturesPerLayer() throws {
        for r in try FamilyFeatures.all() {
            let m = try ModelLoader.load(fixture(r.family))
            let names = m.hookPointNames
            XCTAssertGreaterThan(m.cfg.nLayers, 1, r.family)
            let everyRun = names.filter { !Transformer.isOnDemandHookPoint($0) }
            let outside = everyRun.filter { !$0.hasPrefix("blocks.") }.count
            for l in 0..<m.cfg.nLayers {
                let layer = everyRun.filter { $0.hasPrefix("blocks.\(l).") }.count
                XCTAssertEqual(outside + layer, r.hookPoints, "\(r.family) layer \(l)")
                let onDemand = names.filter { $0.hasPrefix("blocks.\(l).") && Transformer.isOnDemandHookPoint($0) }
                    .map { String($0.dropFirst("blocks.\(l).".count)) }
                // the example has as many key-value heads as heads; grouped queries drop hook_attn_in (as TL)
                let want = m.cfg.nKVHeads == m.cfg.nHeads ? r.onDemand : r.onDemand.filter { $0 != "hook_attn_in" }
                XCTAssertEqual(onDemand, want, "\(r.family) layer \(l)")
            }
        }
    }

    func testTheRunChecksPassOnEveryFixture() throws {
        for r in try FamilyFeatures.all() {
            XCTAssertNil(r.sweepEngine, r.family); XCTAssertNil(r.autograd, r.family)
            XCTAssertNil(r.paddedBatches, r.family); XCTAssertNil(r.generate, r.family)
            let m = try ModelLoader.load(fixture(r.family))
            try FamilyFeatures.checkSweep(m)
            try FamilyFeatures.checkPadding(m)
            try FamilyFeatures.checkKVCache(m)
            try FamilyFeatures.checkAutograd(try ModelLoader.load(fixture(r.family)))
        }
    }

    func testTheChecksReportADifference() throws {
        // the comparison the run cells rest on fails beyond 1e-4
        let a = try Tensor([0, 0, 1, 2], shape: [1, 2, 2]), b = try Tensor([1, 2.001], shape: [1, 1, 2])
        XCTAssertEqual(try FamilyFeatures.lastRowDifference(a, b, item: 0, pos: 0), 0.001, accuracy: 1e-6)
        XCTAssertThrowsError(try FamilyFeatures.expectClose(0.001, "x"))
        XCTAssertNoThrow(try FamilyFeatures.expectClose(1e-5, "x"))
        // and a family whose example refuses a flag is reported as such (OLMo 2's post norms)
        XCTAssertEqual(try FamilyFeatures.of(OLMo2.self).processing, [.refused, .refused, .applied, .applied])
    }
}
