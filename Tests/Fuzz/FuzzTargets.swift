import Foundation
@testable import FPModels
@testable import FPTensor

/// The fuzz targets. Inputs made of several files (a model folder) are the files' bytes joined
/// by `FuzzTargets.separator`, in the order each target documents (make_seeds.py writes them).
enum FuzzTargets {
    static let separator = Array("\n--fp-fuzz-file--\n".utf8)

    /// A private scratch folder, emptied before every input.
    static let scratch: String = {
        var template = Array("/tmp/fp-fuzz-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fatalError("fp-fuzz: mkdtemp failed") }
        return String(cString: p)
    }()

    static func resetScratch() {
        for f in (try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? [] {
            unlink(scratch + "/" + f)
        }
    }

    /// Writes `data` to scratch/name and returns the path.
    @discardableResult
    static func put(_ name: String, _ data: Data) -> String {
        let path = scratch + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: data)
        return path
    }

    /// `data` cut at each separator (at most `limit` parts; the last keeps any further ones).
    static func split(_ data: Data, limit: Int) -> [Data] {
        var parts: [Data] = []
        let bytes = [UInt8](data)
        var start = 0, i = 0
        while i + separator.count <= bytes.count && parts.count < limit - 1 {
            if bytes[i] == separator[0] && Array(bytes[i..<(i + separator.count)]) == separator {
                parts.append(Data(bytes[start..<i]))
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Data(bytes[start...]))
        return parts
    }

    /// What a script does with a tokenizer: encode, decode, look at tokens.
    static func exercise(_ tok: Tokenizer) {
        let ids = tok.encode("Hello world, <|endoftext|> it's 2024! \u{00e9}\u{4e2d} \n\n  x")
        _ = tok.decode(ids)
        _ = tok.decode([0, 1, tok.vocabSize - 1, tok.vocabSize, -1, Int.max])
        for id in ids.prefix(8) { _ = tok.tokenText(id) }
        _ = tok.tokenText(-1)
        _ = tok.tokenText(tok.vocabSize)
        _ = tok.id(ofToken: "Hello")
        _ = (tok.bosId, tok.eosId, tok.padId, tok.addBosByDefault)
    }

    /// What a script does with a loaded model: one short forward pass.
    static func exercise(_ model: Transformer) throws {
        let ids = [0, min(1, model.cfg.dVocab - 1), model.cfg.dVocab - 1]
        _ = try model.forward(try Tensor(ints: ids, shape: [1, ids.count]))
        guard let tok = model.tokenizer else { return }
        exercise(tok)
        // The ids the tokenizer hands out (BOS, EOS, encoded text) go into the model next.
        let more = [tok.bosId, tok.eosId, tok.padId].compactMap { $0 } + tok.encode("Hello world").prefix(4)
        if !more.isEmpty { _ = try model.forward(try Tensor(ints: more, shape: [1, more.count])) }
    }

    // MARK: tensor files (TensorFile.loadMany reads the whole file, then calls these)

    static func safetensors(_ data: Data) throws {
        _ = try Safetensors.read(data: data, name: "fuzz.safetensors")
    }

    static func npy(_ data: Data) throws {
        _ = try NPY.read(data: data, name: "fuzz.npy")
    }

    static func npz(_ data: Data) throws {
        _ = try NPZ.read(data: data, name: "fuzz.npz")
    }

    /// A PyTorch zip checkpoint (ae.pt): the archive, the restricted unpickler, every tensor view.
    static func torchCheckpoint(_ data: Data) throws {
        _ = try TorchCheckpoint.read(data: data, name: "fuzz.pt")
    }

    /// The restricted unpickler alone (behind the CRC check a checkpoint mutation rarely reaches it).
    static func pickle(_ data: Data) throws {
        _ = try data.withUnsafeBytes { try RestrictedUnpickler.load($0, context: "fuzz.pkl") }
    }

    /// Inflate alone (behind the CRC check an .npz mutation rarely gets past): the first two
    /// bytes are the declared uncompressed size, the rest is the deflate stream.
    static func inflate(_ data: Data) throws {
        guard data.count >= 2 else { return }
        let size = Int(data[data.startIndex]) | Int(data[data.startIndex + 1]) << 8
        _ = try data.dropFirst(2).withUnsafeBytes { try Inflate.inflate($0, expectedSize: size) }
    }

    // MARK: models (fp.load_model(path) -> ModelLoader.load)

    /// A Hugging Face folder: config.json | model.safetensors.index.json | shard 1 | shard 2.
    /// An empty index part means no index file (the shard is then model.safetensors).
    static func hfFolder(_ data: Data) throws {
        resetScratch()
        let parts = split(data, limit: 4)
        put("config.json", parts[0])
        if parts.count > 1 && !parts[1].isEmpty {
            put("model.safetensors.index.json", parts[1])
            if parts.count > 2 { put("model-00001-of-00002.safetensors", parts[2]) }
            if parts.count > 3 { put("model-00002-of-00002.safetensors", parts[3]) }
        } else if parts.count > 2 {
            put("model.safetensors", parts[2])
        }
        // The weights alone first (every tensor decoded), then the whole model.
        if let src = try? SafetensorsFolder(folder: scratch) {
            for name in src.tensorNames { _ = try? src.tensor(name) }
        }
        try exercise(try ModelLoader.load(scratch))
    }

    /// config.json alone, read as load_model reads it.
    static func configJSON(_ data: Data) throws {
        resetScratch()
        put("config.json", data)
        _ = try Architectures.config(huggingFaceFolder: scratch)
    }

    /// A GGUF file: header, metadata, every tensor dequantized, the tokenizer from metadata.
    static func gguf(_ data: Data) throws {
        let g = try GGUFFile(data: data, name: "fuzz.gguf")
        for name in g.tensorNames { _ = try? g.tensor(name) }
        if let tok = try TokenizerFactory.fromGGUF(g) { exercise(tok) }
    }

    /// A GGUF model file loaded by path, as fp.load_model does, and run.
    static func ggufModel(_ data: Data) throws {
        resetScratch()
        try exercise(try ModelLoader.load(put("fuzz.gguf", data)))
    }

    /// A llama2.c checkpoint loaded by path (no tokenizer next to it), and run.
    static func llama2c(_ data: Data) throws {
        resetScratch()
        try exercise(try ModelLoader.load(put("fuzz.bin", data)))
    }

    /// A llama2.c tokenizer.bin with the vocabulary size of the seed (512).
    static func llama2cTokenizer(_ data: Data) throws {
        resetScratch()
        exercise(try TokenizerLoader.fromLlama2C(path: put("tok512.bin", data), vocabSize: 512))
    }

    // MARK: tokenizers of Hugging Face folders

    /// tokenizer.json | tokenizer_config.json (optional).
    static func tokenizerJSON(_ data: Data) throws {
        resetScratch()
        let parts = split(data, limit: 2)
        put("tokenizer.json", parts[0])
        if parts.count > 1 { put("tokenizer_config.json", parts[1]) }
        exercise(try TokenizerLoader.fromHuggingFaceFolder(scratch))
    }

    /// vocab.json | merges.txt | special_tokens_map.json (optional).
    static func vocabMerges(_ data: Data) throws {
        resetScratch()
        let parts = split(data, limit: 3)
        put("vocab.json", parts[0])
        put("merges.txt", parts.count > 1 ? parts[1] : Data())
        if parts.count > 2 { put("special_tokens_map.json", parts[2]) }
        exercise(try TokenizerLoader.fromHuggingFaceFolder(scratch))
    }

    /// A tiktoken rank file.
    static func tiktoken(_ data: Data) throws {
        resetScratch()
        exercise(try TokenizerLoader.fromTiktoken(path: put("fuzz.tiktoken", data)))
    }
}
