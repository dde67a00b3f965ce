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

    /// F32, BF16 and F16 tensors converted straight into a new float32 tensor, a slice at a time,
    /// each slice's file pages dropped once read: loading holds the float32 weights plus one
    /// slice, not also a half-precision copy and the mapped file (the largest tensor, the
    /// embedding, would otherwise add up to twice its float32 size to the peak). nil: other dtypes.
    private func streamedFloat32(_ e: SafetensorsEntry, _ file: MappedFile) throws -> Tensor? {
        let size: Int
        switch e.dtype {
        case "F32": size = 4
        case "BF16", "F16": size = 2
        default: return nil
        }
        var n = 1
        for s in e.shape {
            guard s >= 0 else { return nil }
            let (m, over) = n.multipliedReportingOverflow(by: s)
            guard !over else { return nil }
            n = m
        }
        let (bytes, over) = n.multipliedReportingOverflow(by: size)
        guard !over, bytes == e.byteRange.count, e.byteRange.lowerBound >= 0, e.byteRange.upperBound <= file.count else {
            return nil   // the general decoder reports what is wrong
        }
        let out = try Tensor.empty(e.shape)
        guard n > 0, let base = file.bytes.baseAddress else { return out }
        let dst = try out.floatPointer()
        let src = base + e.byteRange.lowerBound
        let slice = 1 << 22   // elements: 16 MB of float32 per step
        var start = 0
        while start < n {
            let end = min(n, start + slice)
            switch e.dtype {
            case "F32":
                UnsafeMutableRawPointer(dst + start).copyMemory(from: src + start * 4, byteCount: (end - start) * 4)
            case "BF16":
                for i in start..<end {
                    dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)
                }
            default:
                for i in start..<end {
                    dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
                }
            }
            file.release(e.byteRange.lowerBound + start * size ..< e.byteRange.lowerBound + end * size)
            start = end
        }
        return out
    }
}
