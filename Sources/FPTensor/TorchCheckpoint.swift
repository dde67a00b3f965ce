import Foundation

/// PyTorch's zip checkpoint (torch.save since 1.6) holding a state dict: `<name>/data.pkl` (the
/// pickled dict, read by RestrictedUnpickler: nothing is imported or called) and one entry per
/// storage in `<name>/data/<key>` (little-endian raw elements). Tensors are copied out of their
/// storages with the stored offset and strides, every view checked against the storage size.
/// The legacy (pre-zip) format is refused.
public enum TorchCheckpoint {
    public static func read(data: Data, name: String) throws -> [(String, Tensor)] {
        try data.withUnsafeBytes { try read(bytes: $0, name: name) }
    }

    static func storageElement(_ type: String) -> StoredElement? {
        switch type {
        case "FloatStorage": return .f32
        case "DoubleStorage": return .f64
        case "HalfStorage": return .f16
        case "BFloat16Storage": return .bf16
        case "IntStorage": return .i32
        case "LongStorage": return .i64
        case "ShortStorage": return .i16
        case "CharStorage": return .i8
        case "ByteStorage": return .u8
        case "BoolStorage": return .bool
        default: return nil
        }
    }

    public static func read(bytes: UnsafeRawBufferPointer, name: String) throws -> [(String, Tensor)] {
        let q = "'\(name)'"
        if bytes.count >= 2 && bytes[0] == 0x80 {
            throw TensorError("\(q): a legacy (pre-zip) PyTorch checkpoint; re-save it with torch.save in a current PyTorch")
        }
        guard bytes.count >= 4, bytes.loadLE(at: 0, as: UInt32.self) == NPZ.localSig else {
            throw TensorError("\(q): not a PyTorch checkpoint (a zip archive with data.pkl)")
        }
        let entries = try NPZ.centralDirectory(bytes, q).filter { !$0.name.hasSuffix("/") }
        let pickles = entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard pickles.count == 1, let pkl = pickles.first else {
            throw TensorError("\(q): expected one data.pkl in the archive, found \(pickles.count)")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        var byName: [String: NPZ.Entry] = [:]
        for e in entries { byName[e.name] = e }
        if let bo = byName[prefix + "byteorder"] {
            let order = try NPZ.withEntryBytes(bytes, bo, "\(q): byteorder") { String(decoding: $0, as: UTF8.self) }
            guard order == "little" else { throw TensorError("\(q): byte order '\(order)' is not supported (only little)") }
        }
        let root = try NPZ.withEntryBytes(bytes, pkl, "\(q): data.pkl") {
            try RestrictedUnpickler.load($0, context: "\(q): data.pkl")
        }
        guard case .dict(let dict) = root else { throw TensorError("\(q): data.pkl holds no dict (a state dict was expected)") }
        var result: [(String, Tensor)] = []
        for (key, value) in dict.pairs {
            guard case .tensor(let ref) = value else {
                throw TensorError("\(q): entry '\(key)' is not a tensor (only state dicts of tensors are read)")
            }
            let ctx = "\(q): tensor '\(key)'"
            guard let kind = storageElement(ref.storageType) else {
                throw TensorError("\(ctx): storage type \(ref.storageType) is not supported")
            }
            guard let entry = byName[prefix + "data/" + ref.key] else {
                throw TensorError("\(ctx): storage data/\(ref.key) is missing from the archive")
            }
            let storage = try NPZ.withEntryBytes(bytes, entry, ctx) { buf -> Tensor in
                guard let need = checkedMul(ref.storageNumel, kind.byteSize), need == buf.count else {
                    throw TensorError("\(ctx): storage data/\(ref.key) has \(buf.count) bytes, \(ref.storageNumel) \(ref.storageType) elements expected")
                }
                return try ElementCodec.decode(kind, bigEndian: false, shape: [ref.storageNumel], from: buf, context: ctx)
            }
            result.append((key, try view(storage, ref, ctx)))
        }
        return result
    }

    /// The tensor `ref` describes inside `storage` ([numel]), copied to a contiguous tensor.
    static func view(_ storage: Tensor, _ ref: RestrictedUnpickler.TensorRef, _ ctx: String) throws -> Tensor {
        try Tensor.checkShape(ref.shape, ctx)
        var last = ref.offset   // the largest element index the view reads
        for (size, stride) in zip(ref.shape, ref.strides) {
            guard stride >= 0 else { throw TensorError("\(ctx): negative stride \(stride)") }
            if size == 0 { return try Tensor(zeros: ref.shape, dtype: storage.dtype) }
            guard let span = checkedMul(size - 1, stride), let l = checkedAdd(last, span) else {
                throw TensorError("\(ctx): view (shape \(fmt(ref.shape)), strides \(fmt(ref.strides))) overflows")
            }
            last = l
        }
        guard last < ref.storageNumel else {
            throw TensorError("\(ctx): view (offset \(ref.offset), shape \(fmt(ref.shape)), strides \(fmt(ref.strides))) reads past its storage of \(ref.storageNumel) elements")
        }
        return try Tensor(storage: storage.storage, shape: ref.shape, strides: ref.strides, offset: ref.offset).contiguous()
    }
}
