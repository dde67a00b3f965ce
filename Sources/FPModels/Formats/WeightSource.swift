import FPTensor

/// A file (or folder) of named weights: a Hugging Face safetensors folder, a GGUF file or a
/// llama2.c checkpoint. Tensors come back as float32 in the source's own names and layout;
/// each architecture maps names and layouts to its own. Errors name the file and the tensor.
public protocol WeightSource: AnyObject {
    /// Human-readable location for messages (a path).
    var location: String { get }
    /// All tensor names in the source.
    var tensorNames: [String] { get }
    /// Shape of a tensor without decoding it, nil if absent.
    func shape(of name: String) -> [Int]?
    /// The tensor as float32 (dequantized / converted; may copy).
    func tensor(_ name: String) throws -> Tensor
    /// The 2-D tensor `name` ([rows, cols] as stored, shape already checked) written transposed
    /// as float32: dst[c * ld + r] = w[r, c], ld >= rows. Sources that can convert straight from
    /// the file do so; the default converts with `tensor(_:)` first.
    func readTransposed(_ name: String, into dst: UnsafeMutablePointer<Float>, ld: Int) throws
}

extension WeightSource {
    public func readTransposed(_ name: String, into dst: UnsafeMutablePointer<Float>, ld: Int) throws {
        let w = try tensor(name).contiguous()
        guard w.rank == 2, ld >= w.shape[0] else {
            throw TensorError("\(location): tensor '\(name)' has shape \(w.shape), expected a matrix of at most \(ld) rows")
        }
        Float32Conversion.convert(UnsafeRawPointer(try w.floatPointer()), .f32, rows: w.shape[0], cols: w.shape[1],
                                  into: dst, transposedWithStride: ld)
    }

    /// The tensor, checked against an expected shape.
    public func tensor(_ name: String, shape expected: [Int]) throws -> Tensor {
        try checkShape(name, expected)
        return try tensor(name)
    }

    /// Throws unless `name` exists with shape `expected`.
    public func checkShape(_ name: String, _ expected: [Int]) throws {
        guard let s = shape(of: name) else {
            throw TensorError("\(location): missing tensor '\(name)'")
        }
        guard s == expected else {
            throw TensorError("\(location): tensor '\(name)' has shape \(s), expected \(expected) from the config")
        }
    }

    /// The [rows, cols] tensor `name` as a new [cols, rows] float32 tensor.
    public func transposedTensor(_ name: String, rows: Int, cols: Int) throws -> Tensor {
        try checkShape(name, [rows, cols])
        let out = try Tensor.empty([cols, rows])
        try readTransposed(name, into: try out.floatPointer(), ld: rows)
        return out
    }
}
