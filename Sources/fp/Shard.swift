import ArgumentParser
import CDigest
import CLua
import FPLua
import FPModels
import Foundation

/// Which part of a job array this process runs: `fp run --shard I/N`, or the array index a
/// scheduler puts in the environment (Slurm's SLURM_ARRAY_TASK_*, Kubernetes Indexed Jobs'
/// JOB_COMPLETION_INDEX). Scripts see it as `fp.shard` (stdlib/fp/shard.lua).
struct ShardOptions: ParsableArguments {
    @Option(name: .long, help: "Run shard I of N (0-based), e.g. --shard 2/4; default: the scheduler's array index.")
    var shard: String?

    @Option(name: .customLong("shard-count"), help: "The number of shards when the scheduler gives only an index (Kubernetes, a resubmitted Slurm task); also $FP_SHARD_COUNT.")
    var shardCount: Int?

    /// index/count and where they came from ("flag", "slurm", "kubernetes"); nil when not sharded.
    struct Spec: Equatable {
        var index: Int
        var count: Int
        var source: String

        static func checked(_ index: Int, _ count: Int, _ source: String, _ what: String) throws -> Spec {
            guard count >= 1 else { throw ValidationError("\(what): the number of shards must be at least 1") }
            guard index >= 0, index < count else {
                throw ValidationError("\(what): the shard index must be in 0...\(count - 1) (0-based), got \(index)")
            }
            return Spec(index: index, count: count, source: source)
        }
    }

    func resolve(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Spec? {
        var count = shardCount
        if count == nil, let text = env["FP_SHARD_COUNT"], !text.isEmpty {
            guard let n = Int(text) else { throw ValidationError("FP_SHARD_COUNT: expected a whole number, got '\(text)'") }
            count = n
        }
        if let c = count, c < 1 { throw ValidationError("--shard-count: expected at least 1, got \(c)") }
        if let text = shard {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
                throw ValidationError("--shard: expected I/N (shard I of N, 0-based), e.g. 0/4, got '\(text)'")
            }
            if let c = count, c != n { throw ValidationError("--shard \(text) and --shard-count \(c) disagree") }
            return try Spec.checked(i, n, "flag", "--shard \(text)")
        }
        func int(_ key: String) throws -> Int? {
            guard let v = env[key], !v.isEmpty else { return nil }
            guard let n = Int(v) else { throw ValidationError("\(key): expected a whole number, got '\(v)'") }
            return n
        }
        if let id = try int("SLURM_ARRAY_TASK_ID") {
            if let c = count { return try Spec.checked(id, c, "slurm", "SLURM_ARRAY_TASK_ID=\(id) with \(c) shards") }
            // Without a count, the array must be 0..N-1 as submitted: a resubmitted task
            // (--array=2) sees MIN=MAX=2, COUNT=1 and would otherwise become shard 0 of 1.
            let lo = try int("SLURM_ARRAY_TASK_MIN") ?? 0
            let hi = try int("SLURM_ARRAY_TASK_MAX")
            let n = try int("SLURM_ARRAY_TASK_COUNT")
            guard lo == 0, let hi, let n, n == hi + 1 else {
                throw ValidationError("the Slurm array (task \(id), min \(lo), max \(hi.map(String.init) ?? "?"), count \(n.map(String.init) ?? "?")) is not 0..N-1: give the number of shards with --shard-count N (or FP_SHARD_COUNT), as a resubmitted task must")
            }
            return try Spec.checked(id, n, "slurm", "SLURM_ARRAY_TASK_ID=\(id)")
        }
        if let id = try int("JOB_COMPLETION_INDEX") {
            guard let c = count else {
                throw ValidationError("JOB_COMPLETION_INDEX=\(id) is set but not the number of shards: give it with --shard-count N or FP_SHARD_COUNT (the Job's completions)")
            }
            return try Spec.checked(id, c, "kubernetes", "JOB_COMPLETION_INDEX=\(id) with \(c) shards")
        }
        if count != nil && shardCount != nil {
            throw ValidationError("--shard-count needs an index: --shard I/N, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX")
        }
        return nil
    }

    /// Makes `fp.shard` for a script: the stdlib module fp.shard reads these facts from
    /// package.loaded["fp.shard_host"]. `script` is the file run (or "-e"), `source` its text's
    /// path (nil for -e, where `code` is hashed instead).
    func install(on host: LuaHost, script: String, path: String?, code: String?, args: [String]) throws {
        let spec = try resolve()
        let hash: String
        if let path, SafetyOptions.folderOfRegularFile(path) != nil {
            guard let h = SHA256Hex.of(files: [(nil, path)]) else { throw ValidationError("cannot read \(path) to hash it") }
            hash = h
        } else if let path {
            // a pipe (/dev/stdin) would be consumed by hashing it; a sharded run needs a file
            // whose hash the shards can compare
            if spec != nil { throw ValidationError("a sharded run needs a script file, and \(path) is not a regular file") }
            hash = ""
        } else {
            hash = SHA256Hex.of(bytes: Array((code ?? "").utf8)) ?? ""
        }
        let L = host.L
        lua_createtable(L, 0, 8)
        func set(_ key: String, _ value: String) { lua_pushstring(L, value); lua_setfield(L, -2, key) }
        func set(_ key: String, _ value: Int) { lua_pushinteger(L, lua_Integer(value)); lua_setfield(L, -2, key) }
        set("index", spec?.index ?? 0)
        set("count", spec?.count ?? 1)
        if let spec { set("source", spec.source) }
        set("script", script)
        set("script_sha256", hash)
        set("fp_version", fpVersion)
        lua_createtable(L, Int32(args.count), 0)
        for (i, a) in args.enumerated() { lua_pushstring(L, a); lua_rawseti(L, -2, lua_Integer(i + 1)) }
        lua_setfield(L, -2, "arguments")
        lua_pushcclosure(L, modelSHA256, 0)
        lua_setfield(L, -2, "model_sha256")
        lua_getglobal(L, "package")
        lua_getfield(L, -1, "loaded")
        lua_pushvalue(L, -3)
        lua_setfield(L, -2, "fp.shard_host")
        lua_settop(L, 0)
        if let err = host.runString("fp.shard = require('fp.shard')", name: "=fp.shard") {
            throw ValidationError("cannot load fp.shard: \(err)")
        }
    }
}

/// model_sha256(name) -> hex, or nil and a message: the SHA-256 of the model's files as
/// fp.load_model(name) finds them (a folder: every file in it, by name). Never raises (Swift
/// must not call lua_error); fp.shard turns a nil into an error.
private let modelSHA256: lua_CFunction = { L in
    guard let L else { return 0 }
    guard let p = lua_tolstring(L, 1, nil) else {
        lua_pushnil(L); lua_pushstring(L, "model_sha256: expected a model name or path"); return 2
    }
    let name = String(cString: p)
    do {
        let path = try ModelLoader.resolve(name)
        // the same read rule as fp.load_model (in the sandbox: only what it may read)
        try SandboxPolicy.checkRead(path, "model_sha256")
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        var files: [(String?, String)] = [(nil, path)]
        if isDir.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            files = names.compactMap { n in
                let full = (path as NSString).appendingPathComponent(n)
                var d: ObjCBool = false
                return FileManager.default.fileExists(atPath: full, isDirectory: &d) && !d.boolValue ? (n, full) : nil
            }
        }
        guard let hex = SHA256Hex.of(files: files) else { throw ValidationError("cannot read the files of \(path)") }
        lua_pushstring(L, hex)
        return 1
    } catch {
        lua_pushnil(L)
        lua_pushstring(L, "model_sha256: \(error)")
        return 2
    }
}

/// SHA-256 as 64 hex digits (libcrypto through CDigest).
enum SHA256Hex {
    /// Of several files: each one's name (when given) and a NUL, then its bytes.
    static func of(files: [(String?, String)]) -> String? {
        guard let ctx = fp_sha256_new() else { return nil }
        for (name, path) in files {
            if let name {
                let bytes = Array(name.utf8) + [0]
                guard fp_sha256_update(ctx, bytes, bytes.count) == 0 else { fp_sha256_free(ctx); return nil }
            }
            guard fp_sha256_update_file(ctx, path) == 0 else { fp_sha256_free(ctx); return nil }
        }
        return finish(ctx)
    }

    static func of(bytes: [UInt8]) -> String? {
        guard let ctx = fp_sha256_new() else { return nil }
        guard fp_sha256_update(ctx, bytes, bytes.count) == 0 else { fp_sha256_free(ctx); return nil }
        return finish(ctx)
    }

    private static func finish(_ ctx: OpaquePointer) -> String? {
        var hex = [CChar](repeating: 0, count: 65)
        guard fp_sha256_finish(ctx, &hex) == 0 else { return nil }
        return String(cString: hex)
    }
}
