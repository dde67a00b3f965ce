// libFuzzer entry point for fp's file parsers (built by scripts/fuzz.sh, not by `swift build`).
// One binary holds every target; FP_FUZZ_TARGET picks one. Each target hands the bytes to the
// same functions fp's loaders call (in memory where the loader reads the whole file, through
// a file in a private temporary folder where the loader takes a path), then uses the result
// the way a script would (decode every tensor, encode and decode text, one forward pass).
// A thrown error is the expected outcome for a bad file; anything else (a trap, an ASan report,
// an allocation above -malloc_limit_mb, a timeout) is a finding.
import Foundation
@testable import FPModels
@testable import FPTensor

/// A fuzz target: bytes in, throws on bad input.
typealias FuzzTarget = (Data) throws -> Void

let targets: [String: FuzzTarget] = [
    "safetensors": FuzzTargets.safetensors,
    "hf_folder": FuzzTargets.hfFolder,
    "gguf": FuzzTargets.gguf,
    "gguf_model": FuzzTargets.ggufModel,
    "llama2c": FuzzTargets.llama2c,
    "llama2c_tokenizer": FuzzTargets.llama2cTokenizer,
    "config_json": FuzzTargets.configJSON,
    "tokenizer_json": FuzzTargets.tokenizerJSON,
    "vocab_merges": FuzzTargets.vocabMerges,
    "tiktoken": FuzzTargets.tiktoken,
    "npy": FuzzTargets.npy,
    "npz": FuzzTargets.npz,
    "torch_checkpoint": FuzzTargets.torchCheckpoint,
    "pickle": FuzzTargets.pickle,
    "inflate": FuzzTargets.inflate,
]

nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["FP_FUZZ_TARGET"] ?? ""
    guard let t = targets[name] else {
        let list = targets.keys.sorted().joined(separator: ", ")
        FileHandle.standardError.write("fp-fuzz: set FP_FUZZ_TARGET to one of: \(list)\n".data(using: .utf8)!)
        exit(2)
    }
    selected = t
    // A fixed, small limit: a few-KB input must never be allowed to ask for more than this.
    Storage.maxAllocationBytes = 1 << 30
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data, count: size)
    do { try selected?(bytes) } catch {
        // Every error must be printable: that is what reaches Lua.
        _ = "\(error)".utf8.count
    }
    return 0
}
