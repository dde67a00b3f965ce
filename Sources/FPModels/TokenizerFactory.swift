import FPTensor

/// Builds tokenizers from model files (filled in by the tokenizer module).
enum TokenizerFactory {
    static func fromFolder(_ folder: String) throws -> Tokenizer { throw TensorError("tokenizers are not available yet") }
    static func addsBOS(folder: String) -> Bool? { nil }
    static func fromGGUF(_ g: GGUFFile) throws -> Tokenizer? { nil }
    static func fromLlama2C(path: String, vocabSize: Int) throws -> Tokenizer? { nil }
}
