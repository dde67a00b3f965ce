import FPTensor
import Foundation

/// A Hugging Face config.json, with the checked reads every architecture needs; each
/// architecture file reads its own keys from it.
public struct HFConfigFile {
    public let path: String
    public let json: TinyJSON

    public init(folder: String) throws {
        path = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("load_model: no config.json in '\(folder)'")
        }
        do { json = try TinyJSON.parse(data) } catch { throw TensorError("load_model: '\(path)': \(error)") }
    }

    /// A config already parsed (`path` names it in messages).
    public init(json: TinyJSON, path: String) {
        self.json = json
        self.path = path
    }

    public var modelType: String { json["model_type"]?.stringValue ?? "" }

    public subscript(_ key: String) -> TinyJSON? { json[key] }

    /// The first of `keys` present. Sizes beyond 2^31 are lies (validate() caps every one far
    /// below): rejecting them here keeps arithmetic on them (4 * n_embd, ...) from overflowing.
    public func int(_ keys: String..., default d: Int? = nil) throws -> Int {
        for k in keys {
            guard let v = json[k]?.intValue else { continue }
            guard v.magnitude <= 1 << 31 else { throw error("\(k) = \(v) is out of range") }
            return v
        }
        if let d { return d }
        throw error("lacks \(keys.joined(separator: " / "))")
    }

    public func double(_ key: String, default d: Double) -> Double { json[key]?.doubleValue ?? d }

    public func error(_ what: String) -> TensorError { TensorError("load_model: '\(path)': \(what)") }
}
