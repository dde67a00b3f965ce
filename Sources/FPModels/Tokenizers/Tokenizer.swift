/// Text <-> token ids. One implementation per algorithm (byte-level BPE, SentencePiece-style
/// BPE with byte fallback); each model family builds one from its files.
public protocol Tokenizer: AnyObject {
    var vocabSize: Int { get }
    var bosId: Int? { get }
    var eosId: Int? { get }
    var padId: Int? { get }
    /// Token ids for `text`, without BOS (callers add it per `prepend_bos`). Special tokens
    /// written in the text (e.g. "<|endoftext|>") map to their ids.
    func encode(_ text: String) -> [Int]
    /// Text for ids (special tokens included as their text).
    func decode(_ ids: [Int]) -> String
    /// The string form of one token as the user sees it in to_str_tokens (" Mary", "\n").
    func tokenText(_ id: Int) -> String
    /// Id of an exact token string (its decoded text), nil if it is not a single token.
    func id(ofToken text: String) -> Int?
}
