import CBLAS
import FPTensor
import Foundation

/// Finds a model by path or name and builds it: Hugging Face folders (safetensors), GGUF
/// files and llama2.c checkpoints.
public enum ModelLoader {
    /// Short names and the files or Hugging Face ids they stand for.
    static let aliases: [String: [String]] = [
        "gpt2": ["openai-community/gpt2", "gpt2"],
        "gpt2-small": ["openai-community/gpt2", "gpt2"],
        "gpt2-medium": ["openai-community/gpt2-medium", "gpt2-medium"],
        "gpt2-large": ["openai-community/gpt2-large", "gpt2-large"],
        "gpt2-xl": ["openai-community/gpt2-xl", "gpt2-xl"],
        "smollm2-135m": ["SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M"],
    ]

    /// fp's own models folder: $FP_MODELS, else ~/.cache/fp/models (scripts/fetch-models.sh fills it).
    public static var modelsFolder: String {
        if let f = ProcessInfo.processInfo.environment["FP_MODELS"], !f.isEmpty { return f }
        return (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.cache/fp/models"
    }

    /// A path to load for `name`, or an error listing every place looked at.
    public static func resolve(_ name: String) throws -> String {
        let fm = FileManager.default
        let expanded = (name as NSString).expandingTildeInPath
        if fm.fileExists(atPath: expanded) { return expanded }
        var looked = [String]()
        let candidates = aliases[name.lowercased()] ?? [name]
        for c in candidates {
            let inFolder = (modelsFolder as NSString).appendingPathComponent(c)
            looked.append(inFolder)
            if fm.fileExists(atPath: inFolder) { return inFolder }
            if c.contains("/") && !c.hasPrefix("/") && !c.hasPrefix(".") {
                if let snap = HubCache.snapshotPath(repo: c) { return snap }
                looked.append((HubCache.cacheRoot() as NSString).appendingPathComponent(HubCache.repoFolderName(repo: c)) + " (Hugging Face cache)")
            }
        }
        var hint = "fp pull ORG/NAME downloads a Hugging Face model folder"
        if name.lowercased().hasPrefix("smollm2") { hint = "scripts/fetch-models.sh fetches SmolLM2-135M-Instruct (GGUF) into \(modelsFolder)" }
        if let repo = aliases[name.lowercased()]?.first, name.lowercased().hasPrefix("gpt2") {
            hint = "fp pull \(repo) downloads it (GPT-2 weights need access to the Hugging Face hub)"
        }
        throw TensorError("load_model: no model '\(name)'; looked in:\n  " + (["'\(expanded)' (as a path)"] + looked).joined(separator: "\n  ") + "\n\(hint)")
    }

    public struct Options {
        public var tokenizerPath: String? = nil
        /// TransformerLens's weight processing flags (all off: the unprocessed model).
        public var processing = ProcessingOptions()
        public init() {}
    }

    public static func load(_ name: String, options: Options = Options()) throws -> Transformer {
        let model = try WeightProcessing.apply(options.processing, to: try loadUnprocessed(name, options: options))
        returnFreedMemory()
        return model
    }

    /// Loading frees transient buffers (dequantized GGUF tensors, reordered rows, processed
    /// weights); glibc keeps freed heap memory for reuse, so without this the resident set
    /// after a load would be the model plus hundreds of MB nothing uses.
    static func returnFreedMemory() { fp_return_free_memory() }

    static func loadUnprocessed(_ name: String, options: Options) throws -> Transformer {
        let path = try resolve(name)
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        if isDir.boolValue { return try loadHuggingFaceFolder(path, tokenizerPath: options.tokenizerPath) }
        if path.hasSuffix(".gguf") { return try loadGGUF(path, tokenizerPath: options.tokenizerPath) }
        if path.hasSuffix(".bin") { return try loadLlama2C(path, tokenizerPath: options.tokenizerPath) }
        throw TensorError("load_model: '\(path)' is not a model folder, a .gguf file or a llama2.c .bin checkpoint")
    }

    /// `{ tokenizer = PATH }` for a folder or GGUF file: a folder with tokenizer.json (and its
    /// tokenizer_config.json), or a tokenizer.json file; it replaces the model's own tokenizer
    /// (a checkpoint saved without one, a GGUF file without tokenizer metadata).
    static func givenTokenizer(_ path: String, vocab: Int) throws -> Tokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TensorError("load_model: tokenizer '\(path)' not found")
        }
        let tok = isDir.boolValue ? try TokenizerLoader.fromHuggingFaceFolder(path)
            : path.hasSuffix(".tiktoken") ? try TokenizerLoader.fromTiktoken(path: path)
            : try TokenizerLoader.fromHuggingFaceJSON(path: path)
        if tok.vocabSize > vocab {
            throw TensorError("load_model: the tokenizer '\(path)' has \(tok.vocabSize) tokens but the model's vocabulary is \(vocab)")
        }
        return tok
    }

    static func loadHuggingFaceFolder(_ folder: String, tokenizerPath: String? = nil) throws -> Transformer {
        var (arch, cfg) = try Architectures.config(huggingFaceFolder: folder)
        let src = try SafetensorsFolder(folder: folder)
        let names = arch.tensorNames(.huggingFace, src, cfg)
        if let head = names.head, src.shape(of: head) == nil { cfg.tiedEmbeddings = true }
        let weights = try WeightLoading.load(src, cfg, names)
        let tok = try tokenizerPath.map { try givenTokenizer($0, vocab: cfg.dVocab) }
            ?? TokenizerFactory.fromFolder(folder, fallback: arch.fallbackTokenizer, vocab: cfg.dVocab)
        if let t = tok, t.vocabSize > cfg.dVocab {
            throw TensorError("load_model: '\(folder)': the tokenizer has \(t.vocabSize) tokens but the model's vocabulary is \(cfg.dVocab)")
        }
        cfg.defaultPrependBOS = arch.defaultPrependBOS(tokenizer: tok)
        return try Transformer(cfg: cfg, weights: weights, tokenizer: tok, source: folder)
    }

    static func loadGGUF(_ path: String, tokenizerPath: String? = nil) throws -> Transformer {
        let g = try GGUFFile(path: path)
        let arch = try Architectures.forGGUF(g.architecture, path)
        var cfg = try arch.config(gguf: g, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
        let weights = try WeightLoading.load(g, cfg, arch.tensorNames(.gguf, g, cfg))
        let tok = try tokenizerPath.map { try givenTokenizer($0, vocab: cfg.dVocab) } ?? TokenizerFactory.fromGGUF(g)
        cfg.defaultPrependBOS = arch.defaultPrependBOS(tokenizer: tok)
        return try Transformer(cfg: cfg, weights: weights, tokenizer: tok, source: path)
    }

    static func loadLlama2C(_ path: String, tokenizerPath: String?) throws -> Transformer {
        let arch = try Architectures.forLlama2C(path)
        let header = try Llama2CCheckpoint.readHeader(path: path)
        let cfg = try arch.config(llama2C: header, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)
        let ck = try Llama2CCheckpoint(path: path, header: header)
        let weights = try WeightLoading.load(ck, cfg, arch.tensorNames(.llama2C, ck, cfg))
        // The tokenizer: given, or tokenizer.bin / tok<vocab>.bin next to the checkpoint.
        let dir = (path as NSString).deletingLastPathComponent
        let candidates = [tokenizerPath, (dir as NSString).appendingPathComponent("tok\(cfg.dVocab).bin"),
                          (dir as NSString).appendingPathComponent("tokenizer.bin")].compactMap { $0 }
        var tok: Tokenizer? = nil
        for c in candidates where FileManager.default.fileExists(atPath: c) {
            tok = try TokenizerFactory.fromLlama2C(path: c, vocabSize: cfg.dVocab)
            break
        }
        if let tokenizerPath, tok == nil { throw TensorError("load_model: tokenizer '\(tokenizerPath)' not found") }
        return try Transformer(cfg: cfg, weights: weights, tokenizer: tok, source: path)
    }
}
