import Foundation
import XCTest
@testable import FPModels

final class HubCacheTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = (NSTemporaryDirectory() as NSString).appendingPathComponent("fp-hubcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Creates models--ORG--NAME/snapshots/<sha> (with a config.json), optionally with a mtime.
    @discardableResult
    func makeSnapshot(_ repo: String, _ sha: String, date: Date? = nil) throws -> String {
        let dir = "\(root)/\(HubCache.repoFolderName(repo: repo))/snapshots/\(sha)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "{}".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        if let d = date { try FileManager.default.setAttributes([.modificationDate: d], ofItemAtPath: dir) }
        return dir
    }

    func writeRef(_ repo: String, _ revision: String, _ sha: String) throws {
        let file = "\(root)/\(HubCache.repoFolderName(repo: repo))/refs/\(revision)"
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try sha.write(toFile: file, atomically: true, encoding: .utf8)
    }

    let shaA = String(repeating: "a", count: 40)
    let shaB = String(repeating: "b", count: 40)

    func testRepoFolderName() {
        XCTAssertEqual(HubCache.repoFolderName(repo: "HuggingFaceTB/SmolLM2-135M"), "models--HuggingFaceTB--SmolLM2-135M")
        XCTAssertEqual(HubCache.repoFolderName(repo: "gpt2"), "models--gpt2")
    }

    func testCacheRootPrecedence() {
        let home = ["HOME": "/home/u"]
        XCTAssertEqual(HubCache.cacheRoot(environment: home), "/home/u/.cache/huggingface/hub")
        XCTAssertEqual(HubCache.cacheRoot(environment: home.merging(["XDG_CACHE_HOME": "/xdg"]) { $1 }),
                       "/xdg/huggingface/hub")
        XCTAssertEqual(HubCache.cacheRoot(environment: home.merging(["XDG_CACHE_HOME": "/xdg", "HF_HOME": "/hf"]) { $1 }),
                       "/hf/hub")
        XCTAssertEqual(HubCache.cacheRoot(environment: home.merging(["HF_HOME": "~/hf"]) { $1 }), "/home/u/hf/hub")
        XCTAssertEqual(HubCache.cacheRoot(environment: home.merging(["HF_HOME": "/hf", "HUGGINGFACE_HUB_CACHE": "/legacy"]) { $1 }),
                       "/legacy")
        XCTAssertEqual(HubCache.cacheRoot(environment: home.merging(
            ["HF_HOME": "/hf", "HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HUB_CACHE": "/hubcache"]) { $1 }), "/hubcache")
        XCTAssertEqual(HubCache.cacheRoot(environment: home.merging(["HF_HOME": ""]) { $1 }),
                       "/home/u/.cache/huggingface/hub", "an empty HF_HOME is ignored")
    }

    func testRefsMainPointsAtSnapshot() throws {
        let a = try makeSnapshot("org/m", shaA, date: Date(timeIntervalSince1970: 1000))
        try makeSnapshot("org/m", shaB, date: Date(timeIntervalSince1970: 2000))  // newer, but not the ref
        try writeRef("org/m", "main", shaA + "\n")
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", cacheRoot: root), a)
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", revision: "main", cacheRoot: root), a)
    }

    func testNewestSnapshotWithoutRefs() throws {
        try makeSnapshot("org/m", shaA, date: Date(timeIntervalSince1970: 3000))
        let b = try makeSnapshot("org/m", shaB, date: Date(timeIntervalSince1970: 1000))
        XCTAssertNotEqual(HubCache.snapshotPath(repo: "org/m", cacheRoot: root), b)
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", cacheRoot: root), "\(root)/models--org--m/snapshots/\(shaA)")
    }

    func testRefToMissingSnapshotFallsBackToNewest() throws {
        let b = try makeSnapshot("org/m", shaB)
        try writeRef("org/m", "main", String(repeating: "c", count: 40))
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", cacheRoot: root), b)
    }

    func testOtherRevisions() throws {
        let a = try makeSnapshot("org/m", shaA, date: Date(timeIntervalSince1970: 1000))
        let b = try makeSnapshot("org/m", shaB, date: Date(timeIntervalSince1970: 2000))
        try writeRef("org/m", "v1.0", shaA)
        try writeRef("org/m", "refs/pr/1", shaB)
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", revision: "v1.0", cacheRoot: root), a)
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", revision: "refs/pr/1", cacheRoot: root), b)
        // A commit sha names its snapshot folder directly.
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/m", revision: shaA, cacheRoot: root), a)
        // An unknown non-default revision does not fall back to some other snapshot.
        XCTAssertNil(HubCache.snapshotPath(repo: "org/m", revision: "v2.0", cacheRoot: root))
        XCTAssertNil(HubCache.snapshotPath(repo: "org/m", revision: String(repeating: "d", count: 40), cacheRoot: root))
    }

    func testMissingAndInvalid() throws {
        XCTAssertNil(HubCache.snapshotPath(repo: "org/none", cacheRoot: root))
        try FileManager.default.createDirectory(atPath: "\(root)/models--org--empty/snapshots", withIntermediateDirectories: true)
        XCTAssertNil(HubCache.snapshotPath(repo: "org/empty", cacheRoot: root))
        try makeSnapshot("org/m", shaA)
        XCTAssertNil(HubCache.snapshotPath(repo: "../org/m", cacheRoot: root))
        XCTAssertNil(HubCache.snapshotPath(repo: "org/m", revision: "../../x", cacheRoot: root))
        try writeRef("org/m", "evil", "../../../etc")
        XCTAssertNil(HubCache.snapshotPath(repo: "org/m", revision: "evil", cacheRoot: root))
    }

    func testSnapshotPathHonoursEnvironment() throws {
        let a = try makeSnapshot("org/env", shaA)
        try writeRef("org/env", "main", shaA)
        let saved = ProcessInfo.processInfo.environment["HF_HUB_CACHE"]
        setenv("HF_HUB_CACHE", root, 1)
        defer { if let s = saved { setenv("HF_HUB_CACHE", s, 1) } else { unsetenv("HF_HUB_CACHE") } }
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/env"), a)
        XCTAssertEqual(HubCache.snapshotPath(repo: "org/env", revision: "main"), a)
    }

    func testRepoIDValidation() {
        for ok in ["org/name", "gpt2", "HuggingFaceTB/SmolLM2-135M-Instruct", "a.b/c_d-1.0"] {
            XCTAssertTrue(HubCache.isValidRepoID(ok), ok)
        }
        for bad in ["", "/", "org/", "/name", "a/b/c", "../x", "org/..", "org/na me", "org/na\u{e9}"] {
            XCTAssertFalse(HubCache.isValidRepoID(bad), bad)
        }
    }

    func testTokenFromEnvironment() throws {
        XCTAssertEqual(HubDownloader.token(environment: ["HF_TOKEN": "t1", "HUGGING_FACE_HUB_TOKEN": "t2", "HF_HOME": root]), "t1")
        XCTAssertEqual(HubDownloader.token(environment: ["HUGGING_FACE_HUB_TOKEN": "t2", "HF_HOME": root]), "t2")
        XCTAssertNil(HubDownloader.token(environment: ["HF_HOME": root]))
        try "hf_file\n".write(toFile: root + "/token", atomically: true, encoding: .utf8)
        XCTAssertEqual(HubDownloader.token(environment: ["HF_HOME": root]), "hf_file")
        XCTAssertEqual(HubDownloader.token(environment: ["HF_HOME": root, "HF_TOKEN": "t1"]), "t1")
    }

    func testEndpointAndDefaults() {
        let d = HubDownloader(environment: ["HOME": "/home/u"])
        XCTAssertEqual(d.endpoint, "https://huggingface.co")
        XCTAssertEqual(d.cacheRoot, "/home/u/.cache/huggingface/hub")
        XCTAssertNil(d.token)
        let e = HubDownloader(endpoint: "http://127.0.0.1:8080/", token: "", cacheRoot: "/c")
        XCTAssertEqual(e.endpoint, "http://127.0.0.1:8080")
        XCTAssertNil(e.token, "an empty token is no token")
        XCTAssertTrue(HubDownloader.defaultIncludes.contains("*.safetensors"))
        XCTAssertFalse(HubDownloader.defaultIncludes.contains { $0.hasSuffix(".bin") || $0.hasSuffix(".gguf") })
    }

    func testPercentEncoding() {
        XCTAssertEqual(HubDownloader.percentEncode("refs/pr/1", keepSlash: false), "refs%2Fpr%2F1")
        XCTAssertEqual(HubDownloader.percentEncode("sub dir/a+b.json", keepSlash: true), "sub%20dir/a%2Bb.json")
    }
}
