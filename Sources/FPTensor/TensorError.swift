/// Every failure in FPTensor is a thrown `TensorError` whose message names the function,
/// the argument and what was expected. The Lua bridge turns it into a Lua error.
public struct TensorError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Formats a shape as `[3, 4]` for error messages.
@inline(__always) func fmt(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
