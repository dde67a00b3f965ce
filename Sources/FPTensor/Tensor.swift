/// An n-dimensional strided view of a `Storage`. Views (slicing, transpose, permute, expand,
/// unsqueeze/squeeze, narrow, select) share storage and never copy. Shapes and strides are in
/// elements; dimensions are 0-based and negative dims count from the end.
public final class Tensor {
    public let storage: Storage
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    /// Autograd state (used by FPTensor's tape; nil/false for plain tensors). Results of taped
    /// operations require grad too and carry the node that made them (Autograd/GradNode.swift).
    public var requiresGrad = false {
        didSet { if requiresGrad != oldValue { Autograd.liveGradTensors += requiresGrad ? 1 : -1 } }
    }
    public var grad: Tensor?
    public internal(set) var gradNode: GradNode?

    deinit { if requiresGrad { Autograd.liveGradTensors -= 1 } }

    public var dtype: DType { storage.dtype }
    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    public init(storage: Storage, shape: [Int], strides: [Int], offset: Int) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A new contiguous tensor, zero-filled.
    public convenience init(zeros shape: [Int], dtype: DType = .float32) throws {
        try Tensor.checkShape(shape, "zeros")
        let n = shape.reduce(1, *)
        self.init(storage: try Storage(count: n, dtype: dtype), shape: shape,
                  strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// A new contiguous tensor whose contents the caller fills (not zeroed).
    public static func empty(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try checkShape(shape, "empty")
        let n = shape.reduce(1, *)
        return Tensor(storage: try Storage(count: n, dtype: dtype, zeroed: false), shape: shape,
                      strides: contiguousStrides(shape), offset: 0)
    }

    public convenience init(_ values: [Float], shape: [Int]) throws {
        try Tensor.checkShape(shape, "tensor")
        guard shape.reduce(1, *) == values.count else {
            throw TensorError("tensor: \(values.count) values do not fill shape \(fmt(shape))")
        }
        try self.init(zeros: shape)
        let p = try floatPointer()
        values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
    }

    public convenience init(ints values: [Int], shape: [Int]) throws {
        try Tensor.checkShape(shape, "tensor")
        guard shape.reduce(1, *) == values.count else {
            throw TensorError("tensor: \(values.count) values do not fill shape \(fmt(shape))")
        }
        try self.init(zeros: shape, dtype: .int64)
        let p = try intPointer()
        for i in 0..<values.count { p[i] = Int64(values[i]) }
    }

    public convenience init(bools values: [Bool], shape: [Int]) throws {
        try Tensor.checkShape(shape, "tensor")
        guard shape.reduce(1, *) == values.count else {
            throw TensorError("tensor: \(values.count) values do not fill shape \(fmt(shape))")
        }
        try self.init(zeros: shape, dtype: .bool)
        let p = try boolPointer()
        for i in 0..<values.count { p[i] = values[i] ? 1 : 0 }
    }

    public static func scalar(_ v: Float) -> Tensor {
        // A one-element allocation cannot fail the size checks.
        let s = Storage(scalarOf: .float32)
        s.fresh(Float.self)[0] = v
        return Tensor(storage: s, shape: [], strides: [], offset: 0)
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = acc
            acc *= max(shape[d], 1)
        }
        return strides
    }

    /// Rejects negative sizes and element counts that overflow.
    public static func checkShape(_ shape: [Int], _ fn: String) throws {
        // Sizes of 0 count as 1: contiguousStrides multiplies them, so [0, 2^62, 4] must fail here.
        var n = 1
        for s in shape {
            guard s >= 0 else { throw TensorError("\(fn): negative dimension \(s) in shape \(fmt(shape))") }
            let (m, o) = n.multipliedReportingOverflow(by: Swift.max(s, 1))
            guard !o else { throw TensorError("\(fn): shape \(fmt(shape)) has too many elements") }
            n = m
        }
        guard shape.count <= 64 else { throw TensorError("\(fn): too many dimensions (\(shape.count))") }
    }

    public var isContiguous: Bool {
        var expected = 1
        for d in stride(from: rank - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    // MARK: typed access (throws if freed or of another dtype)

    @inline(__always) public func floatPointer() throws -> UnsafeMutablePointer<Float> {
        guard dtype == .float32 else { throw TensorError("expected a float32 tensor, got \(dtype.rawValue)") }
        return try storage.raw().assumingMemoryBound(to: Float.self) + offset
    }

    @inline(__always) public func intPointer() throws -> UnsafeMutablePointer<Int64> {
        guard dtype == .int64 else { throw TensorError("expected an int64 tensor, got \(dtype.rawValue)") }
        return try storage.raw().assumingMemoryBound(to: Int64.self) + offset
    }

    @inline(__always) public func boolPointer() throws -> UnsafeMutablePointer<UInt8> {
        guard dtype == .bool else { throw TensorError("expected a bool tensor, got \(dtype.rawValue)") }
        return try storage.raw().assumingMemoryBound(to: UInt8.self) + offset
    }

    /// For reading only: does not count as a possible write (Storage.version).
    @inline(__always) public func readFloatPointer() throws -> UnsafePointer<Float> {
        guard dtype == .float32 else { throw TensorError("expected a float32 tensor, got \(dtype.rawValue)") }
        return try storage.rawForReading().assumingMemoryBound(to: Float.self) + offset
    }

    /// Throws if the storage was freed or invalidated.
    public func checkValid() throws { _ = try storage.rawForReading() }

    /// Normalizes a possibly negative dim for a tensor of this rank.
    public func dim(_ d: Int, _ fn: String, rank r: Int? = nil) throws -> Int {
        let n = r ?? rank
        let dd = d < 0 ? d + n : d
        guard dd >= 0, dd < n else {
            throw TensorError("\(fn): dim \(d) out of range for a tensor with \(n) dimension\(n == 1 ? "" : "s")")
        }
        return dd
    }
}

