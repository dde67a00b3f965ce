import FPTensor
import Foundation

/// The weight file formats an architecture can be read from.
public enum WeightFormat: String { case huggingFace = "Hugging Face", gguf = "GGUF", llama2C = "llama2.c" }

/// Everything fp knows about one model family, in one file per family (GPT2.swift, Llama.swift):
/// how to read its configs, its tensor names and layout fixes, and its tokenizer defaults.
/// Nothing outside Architectures/ branches on a family; the block reads `ModelConfig.block`.
public protocol Architecture {
    /// The registry name (`cfg.family` in Lua, `fp info`).
    static var name: String { get }
    /// config.json `model_type` values this family reads.
    static var huggingFaceTypes: [String] { get }
    /// GGUF `general.architecture` values this family reads.
    static var ggufArchitectures: [String] { get }
    /// Whether llama2.c checkpoints (.bin) are this family.
    static var readsLlama2C: Bool { get }
    static func config(huggingFace: HFConfigFile, name: String) throws -> ModelConfig
    static func config(gguf: GGUFFile, name: String) throws -> ModelConfig
    static func config(llama2C: Llama2CCheckpoint.Header, name: String) throws -> ModelConfig
    /// Where each weight is in a source of this format, and how it is laid out.
    static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames
    /// A tokenizer file in fp's models folder to use when a Hugging Face folder has none.
    static var fallbackTokenizer: String? { get }
    /// to_tokens's prepend_bos default, given the model's own tokenizer (DESIGN.md).
    static func defaultPrependBOS(tokenizer: Tokenizer?) -> Bool
    /// config.json keys (JSON members, no braces) that switch on the block features a released
    /// checkpoint of the family has, with the values of Hugging Face's config class; the sizes
    /// come from FamilyFeatures, which builds its 1-layer example with this family's reader.
    static var exampleConfigKeys: String { get }
}

extension Architecture {
    public static var ggufArchitectures: [String] { [] }
    public static var readsLlama2C: Bool { false }
    public static var fallbackTokenizer: String? { nil }
    public static var exampleConfigKeys: String { "" }
    public static func config(gguf: GGUFFile, name: String) throws -> ModelConfig {
        throw TensorError("load_model: '\(gguf.location)': GGUF files of \(Self.name) are not supported")
    }
    public static func config(llama2C: Llama2CCheckpoint.Header, name: String) throws -> ModelConfig {
        throw TensorError("load_model: llama2.c checkpoints of \(Self.name) are not supported")
    }
    public static func defaultPrependBOS(tokenizer: Tokenizer?) -> Bool { tokenizer?.addBosByDefault ?? false }
}

/// The registry: every family fp can load.
public enum Architectures {
    public static let all: [any Architecture.Type] = [
        GPT2.self,
        Llama.self,
        Qwen2.self,
        Phi3.self,
        Mistral.self,
        Qwen3.self,
        OLMo2.self,
        Gemma3.self,
        Gemma2.self,
        GPTNeoX.self,
    ]

    static func forHuggingFace(_ modelType: String, _ path: String) throws -> any Architecture.Type {
        var known: [String] = []
        for a in all {
            let types = a.huggingFaceTypes
            if types.contains(modelType) { return a }
            known += types
        }
        throw TensorError("load_model: '\(path)': model_type '\(modelType)' is not supported (\(known.joined(separator: ", ")))")
    }

    /// A Hugging Face folder's config.json, read by the family its model_type names.
    public static func config(huggingFaceFolder folder: String) throws -> (any Architecture.Type, ModelConfig) {
        let file = try HFConfigFile(folder: folder)
        let arch = try forHuggingFace(file.modelType, file.path)
        return (arch, try arch.config(huggingFace: file, name: URL(fileURLWithPath: folder).lastPathComponent))
    }

    static func forGGUF(_ arch: String?, _ path: String) throws -> any Architecture.Type {
        var known: [String] = []
        for a in all {
            let names = a.ggufArchitectures
            if let arch, names.contains(arch) { return a }
            known += names
        }
        throw TensorError("load_model: '\(path)': GGUF architecture '\(arch ?? "?")' is not supported (\(known.joined(separator: ", ")))")
    }

    static func forLlama2C(_ path: String) throws -> any Architecture.Type {
        for a in all where a.readsLlama2C { return a }
        throw TensorError("load_model: '\(path)': no architecture reads llama2.c checkpoints")
    }
}
