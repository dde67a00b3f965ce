import FPTensor
import Foundation

/// Weights of a Hugging Face model folder: model.safetensors, or the shards listed in
/// model.safetensors.index.json. Files are memory-mapped; F16/BF16 are converted on access.
public final class SafetensorsFolder: WeightSource {
    public let location: String
    private var files: [MappedFile] = []
    private var entries: [String: (file: Int, entry: SafetensorsEntry)] = [:]

    public init(folder: String) throws {
        location = folder
        let fm = FileManager.default
        let index = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        var shardNames: [String]
        if fm.fileExists(atPath: index) {
            let json = try TinyJSON.parse(try Data(contentsOf: URL(fileURLWithPath: index)))
            guard let map = json["weight_map"]?.objectValue else {
                throw TensorError("load_model: '\(index)' has no weight_map object")
            }
            var seen = Set<String>()   // a set: an index may list hundreds of thousands of names
            for (_, v) in map {
                guard let f = v.stringValue else { throw TensorError("load_model: '\(index)': weight_map values must be file names") }
                guard !f.utf8.contains(UInt8(ascii: "/")) && !f.hasPrefix(".") else { throw TensorError("load_model: '\(index)': shard name '\(f)' must be a plain file name") }
                seen.insert(f)
            }
            shardNames = seen.sorted()
        } else {
            let single = (folder as NSString).appendingPathComponent("model.safetensors")
            if fm.fileExists(atPath: single) {
                shardNames = ["model.safetensors"]
            } else {
                let all = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
                guard !all.isEmpty else {
                    throw TensorError("load_model: no model.safetensors (or shards with model.safetensors.index.json) in '\(folder)'")
                }
                shardNames = all
            }
        }
        for name in shardNames {
            let path = (folder as NSString).appendingPathComponent(name)
            let file = try MappedFile(path: path)
            let (list, _, _) = try Safetensors.parseHeader(file.bytes, name: path)
            files.append(file)
            for e in list {
                guard entries[e.name] == nil else {
                    throw TensorError("load_model: tensor '\(e.name)' appears in more than one shard of '\(folder)'")
                }
                entries[e.name] = (files.count - 1, e)
            }
        }
    }

    public var tensorNames: [String] { entries.keys.sorted() }

    public func shape(of name: String) -> [Int]? { entries[name]?.entry.shape }

    public func tensor(_ name: String) throws -> Tensor {
        guard let (fi, e) = entries[name] else { throw TensorError("\(location): missing tensor '\(name)'") }
        if let t = try streamedFloat32(e, files[fi]) { return t }
        let t = try Safetensors.decode(e, from: files[fi].bytes, file: files[fi].path)   // a copy
        files[fi].release(e.byteRange)   // the file's pages: not held beside the float32 weights
        return try t.to(.float32)
    }

    /// F32, BF16 and F16 tensors converted straight into a new float32 tensor, in bands over
    /// the cores, each band's file pages dropped once read: loading holds the float32 weights
    /// plus the bands in flight, not also a half-precision copy and the mapped file (the largest
    /// tensor, the embedding, would otherwise add up to twice its float32 size to the peak).
    /// nil: other dtypes, or an entry the general decoder should report on.
    private func streamedFloat32(_ e: SafetensorsEntry, _ file: MappedFile) throws -> Tensor? {
        guard let (kind, src) = streamable(e, file) else { return nil }
        let out = try Tensor.empty(e.shape)
        guard let src, out.count > 0 else { return out }
        let cols = e.shape.last ?? 1
        Float32Conversion.convert(src, kind, rows: out.count / cols, cols: cols, into: try out.floatPointer()) { bytes in
            file.release(e.byteRange.lowerBound + bytes.lowerBound ..< e.byteRange.lowerBound + bytes.upperBound)
        }
        return out
    }

    public func readTransposed(_ name: String, into dst: UnsafeMutablePointer<Float>, ld: Int) throws {
        guard let (fi, e) = entries[name] else { throw TensorError("\(location): missing tensor '\(name)'") }
        guard e.shape.count == 2, ld >= e.shape[0], let (kind, src) = streamable(e, files[fi]) else {
            let w = try tensor(name)
            guard w.rank == 2, ld >= w.shape[0] else {
                throw TensorError("\(location): tensor '\(name)' has shape \(w.shape), expected a matrix of at most \(ld) rows")
            }
            Float32Conversion.convert(UnsafeRawPointer(try w.floatPointer()), .f32, rows: w.shape[0], cols: w.shape[1],
                                      into: dst, transposedWithStride: ld)
            return
        }
        guard let src else { return }
        let file = files[fi]
        Float32Conversion.convert(src, kind, rows: e.shape[0], cols: e.shape[1], into: dst, transposedWithStride: ld) { bytes in
            file.release(e.byteRange.lowerBound + bytes.lowerBound ..< e.byteRange.lowerBound + bytes.upperBound)
        }
    }

    /// The stored float type and the first byte of an entry whose bytes are exactly its shape's
    /// worth inside the file (src nil: no elements); nil for anything else.
    private func streamable(_ e: SafetensorsEntry, _ file: MappedFile) -> (StoredFloat, UnsafeRawPointer?)? {
        guard let kind = StoredFloat(safetensors: e.dtype) else { return nil }
        var n = 1
        for s in e.shape {
            guard s >= 0 else { return nil }
            let (m, over) = n.multipliedReportingOverflow(by: s)
            guard !over else { return nil }
            n = m
        }
        let (bytes, over) = n.multipliedReportingOverflow(by: kind.size)
        guard !over, bytes == e.byteRange.count, e.byteRange.lowerBound >= 0, e.byteRange.upperBound <= file.count else {
            return nil   // the general decoder reports what is wrong
        }
        guard n > 0, let base = file.bytes.baseAddress else { return (kind, nil) }
        file.prefetch(e.byteRange)
        return (kind, base + e.byteRange.lowerBound)
    }
}
