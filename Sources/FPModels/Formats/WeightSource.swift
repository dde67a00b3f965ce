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
}

extension WeightSource {
    /// The tensor, checked against an expected shape.
    public func tensor(_ name: String, shape expected: [Int]) throws -> Tensor {
        guard let s = shape(of: name) else {
            throw TensorError("\(location): missing tensor '\(name)'")
        }
        guard s == expected else {
            throw TensorError("\(location): tensor '\(name)' has shape \(s), expected \(expected) from the config")
        }
        return try tensor(name)
    }
}
