import FPTensor
import Foundation

/// The tokenizer that comes with each kind of model file.
enum TokenizerFactory {
    /// A Hugging Face folder's tokenizer files; without them, the architecture's fallback in
    /// fp's models folder (GPT-2: gpt2.tiktoken, the same ranks, fetched by scripts/fetch-models.sh).
    static func fromFolder(_ folder: String, fallback: String?, vocab: Int) throws -> Tokenizer? {
        do {
            return try TokenizerLoader.fromHuggingFaceFolder(folder)
        } catch {
            let fm = FileManager.default
            let hasFiles = ["tokenizer.json", "vocab.json", "tokenizer.model"].contains {
                fm.fileExists(atPath: (folder as NSString).appendingPathComponent($0))
            }
            if hasFiles { throw error }   // files exist but are broken: say so
            if let fallback {
                let tik = (ModelLoader.modelsFolder as NSString).appendingPathComponent(fallback)
                if fm.fileExists(atPath: tik) {
                    let t = try TokenizerLoader.fromTiktoken(path: tik)
                    if t.vocabSize == vocab { return t }   // only for the file's own vocabulary
                }
            }
            return nil
        }
    }

    static func fromGGUF(_ g: GGUFFile) throws -> Tokenizer? {
        let m = g.metadata
        guard let model = m["tokenizer.ggml.model"]?.string, let tokens = m["tokenizer.ggml.tokens"]?.stringArray else {
            return nil
        }
        return try TokenizerLoader.fromGGUFMetadata(
            model: model, tokens: tokens, scores: m["tokenizer.ggml.scores"]?.floatArray,
            merges: m["tokenizer.ggml.merges"]?.stringArray, tokenTypes: m["tokenizer.ggml.token_type"]?.intArray,
            pre: m["tokenizer.ggml.pre"]?.string, bos: m["tokenizer.ggml.bos_token_id"]?.int,
            eos: m["tokenizer.ggml.eos_token_id"]?.int, pad: m["tokenizer.ggml.padding_token_id"]?.int,
            unk: m["tokenizer.ggml.unknown_token_id"]?.int, addBos: m["tokenizer.ggml.add_bos_token"]?.bool,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.bool, modelName: m["general.name"]?.string,
            source: g.location)
    }

    static func fromLlama2C(path: String, vocabSize: Int) throws -> Tokenizer? {
        try TokenizerLoader.fromLlama2C(path: path, vocabSize: vocabSize)
    }
}
