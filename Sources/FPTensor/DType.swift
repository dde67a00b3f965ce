/// Element types: float32 for values, int64 for token ids and indices, bool for masks.
public enum DType: String, Sendable {
    case float32, int64, bool

    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .int64: return 8
        case .bool: return 1
        }
    }

    /// Parses the names users write: "float"/"float32", "int"/"int64"/"long", "bool".
    public static func parse(_ name: String) -> DType? {
        switch name.lowercased() {
        case "float", "float32", "f32": return .float32
        case "int", "int64", "long", "i64": return .int64
        case "bool", "boolean": return .bool
        default: return nil
        }
    }
}
