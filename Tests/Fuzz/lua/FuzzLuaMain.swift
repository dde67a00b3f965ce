// libFuzzer entry point for the Lua API fuzzer (built by scripts/fuzz.sh as .build/fuzz/
// fp-fuzz-lua, not by `swift build`). One Lua state lives for the whole run: it loads the
// generator (api_fuzz.lua, beside this file) and a tiny fixture model once; each input is the
// byte string from which the generator picks the calls of one group (FP_FUZZ_GROUP: tensor,
// linalg, model or stdlib). Lua errors are the expected outcome of bad arguments and are
// caught inside the generator; a finding is what a script must never cause: a trap, a signal,
// an AddressSanitizer report, an allocation above -malloc_limit_mb, a timeout.
import Foundation
import CLua
import FPLua
import FPTensor

nonisolated(unsafe) var host: LuaHost?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    let env = ProcessInfo.processInfo.environment
    // FP_LUA_TESTS=FILE[,FILE]: run Lua test files (as `fp test` does) under AddressSanitizer
    // instead of fuzzing, e.g. the coroutine regressions; exits 1 when a test fails.
    if let files = env["FP_LUA_TESTS"], let root = env["FP_ROOT"] {
        Limits.maxTensorBytes = 1 << 30
        guard let h = try? LuaHost(stdlibPath: root + "/stdlib") else { exit(2) }
        let list = files.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", ")
        let err = h.runString("if require('fp.testing').run_files({ \(list) }) > 0 then os.exit(1) end", name: "=fp test")
        if let err { FileHandle.standardError.write("\(err)\n".data(using: .utf8)!); exit(1) }
        exit(0)
    }
    guard let root = env["FP_ROOT"], let group = env["FP_FUZZ_GROUP"] else {
        FileHandle.standardError.write("fp-fuzz-lua: set FP_ROOT (the source tree) and FP_FUZZ_GROUP (tensor, linalg, model, stdlib)\n".data(using: .utf8)!)
        exit(2)
    }
    // Generated calls write files (fp.save("x.npy", t), ...): into a private scratch folder.
    var template = Array((NSTemporaryDirectory() + "/fp-fuzz-lua-XXXXXX").utf8CString)
    guard let dir = mkdtemp(&template), chdir(dir) == 0 else { exit(2) }
    // --max-memory for the whole run: a larger tensor is an error, a larger malloc a finding.
    Limits.maxTensorBytes = Int(env["FP_FUZZ_TENSOR_MB"] ?? "256").map { $0 << 20 } ?? 256 << 20
    do {
        let h = try LuaHost(stdlibPath: root + "/stdlib")
        h.addToPackagePath(root + "/Tests/Fuzz/lua")
        let setup = """
            fuzz = require "api_fuzz"
            fuzz_group = "\(group)"
            fuzz_opts = { max_calls = \(env["FP_FUZZ_CALLS"] ?? "64"), model_path = "\(root)/Tests/fixtures/models/gpt2-tiny" }
            local sizes = fuzz.sizes(fuzz_opts)
            io.stderr:write(string.format("fp-fuzz-lua: group %s, %d functions\\n", fuzz_group, sizes[fuzz_group] or 0))
            """
        if let err = h.runString(setup, name: "=fuzz-setup") {
            FileHandle.standardError.write("fp-fuzz-lua: \(err)\n".data(using: .utf8)!)
            exit(2)
        }
        host = h
    } catch {
        FileHandle.standardError.write("fp-fuzz-lua: \(error)\n".data(using: .utf8)!)
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let h = host else { return 0 }
    data.withMemoryRebound(to: CChar.self, capacity: size) { _ = lua_pushlstring(h.L, $0, size) }
    lua_setglobal(h.L, "fuzz_input")
    // An error here is the generator's own (every fuzzed call runs under pcall): report it, as
    // it means the input was not fully used.
    if let err = h.runString("fuzz.run(fuzz_group, fuzz_input, fuzz_opts)", name: "=fuzz-run") {
        FileHandle.standardError.write("fp-fuzz-lua: generator error: \(err)\n".data(using: .utf8)!)
    }
    return 0
}
