import Foundation

/// Products that behave alike: M, K and N rounded up to buckets, the operand layouts and the
/// thread count. Buckets keep the table small when sequence lengths vary (attention products).
struct GemmShapeClass: Hashable {
    let mBucket: Int, kBucket: Int, nBucket: Int
    let transA: Bool, transB: Bool
    let threads: Int

    init(mBucket: Int, kBucket: Int, nBucket: Int, transA: Bool, transB: Bool, threads: Int) {
        self.mBucket = mBucket; self.kBucket = kBucket; self.nBucket = nBucket
        self.transA = transA; self.transB = transB; self.threads = threads
    }

    init(m: Int, k: Int, n: Int, transA: Bool, transB: Bool, threads: Int) {
        self.init(mBucket: GemmShapeClass.mBucket(m), kBucket: GemmShapeClass.powerOfTwo(k),
                  nBucket: GemmShapeClass.powerOfTwo(n), transA: transA, transB: transB, threads: threads)
    }

    /// 1, 4, 16, 64, 256, then everything larger: small M is where the libraries differ most.
    static func mBucket(_ m: Int) -> Int {
        var b = 1
        while b < m && b < 512 { b *= 4 }
        return b >= m ? b : 1024
    }

    /// The smallest power of two >= x (x >= 1).
    static func powerOfTwo(_ x: Int) -> Int {
        var b = 1
        while b < x && b < (1 << 40) { b *= 2 }
        return b
    }

    /// Rows a calibration times: all of them, at most 512 (the large-M class).
    static func calibrationRows(_ m: Int) -> Int { Swift.min(m, 512) }
}

/// One measured shape class: both libraries' GFLOP/s on the shape that was timed and the
/// library chosen. Stored as one tab-separated line per class.
public struct GemmCalibration {
    let shape: GemmShapeClass
    public let m: Int, k: Int, n: Int
    public let openblasGFlops: Double, onednnGFlops: Double
    public let choice: GemmBackend

    public var threads: Int { shape.threads }
    public var transposes: String { (shape.transA ? "T" : "N") + (shape.transB ? "T" : "N") }

    static let header = "# fp gemm calibration (scripts/bench/dense prints it): m_bucket k_bucket n_bucket transA transB threads m k n openblas_gflops onednn_gflops choice"

    var line: String {
        [String(shape.mBucket), String(shape.kBucket), String(shape.nBucket), shape.transA ? "T" : "N",
         shape.transB ? "T" : "N", String(shape.threads), String(m), String(k), String(n),
         String(format: "%.4g", openblasGFlops), String(format: "%.4g", onednnGFlops), choice.rawValue]
            .joined(separator: "\t")
    }

    /// nil for a line that is not a well-formed entry (the file is only a cache).
    init?(line: Substring) {
        let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
        guard f.count == 12,
              let mb = Int(f[0]), let kb = Int(f[1]), let nb = Int(f[2]), f[3] == "N" || f[3] == "T",
              f[4] == "N" || f[4] == "T", let th = Int(f[5]), let m = Int(f[6]), let k = Int(f[7]),
              let n = Int(f[8]), let gb = Double(f[9]), let gd = Double(f[10]),
              let choice = GemmBackend(rawValue: String(f[11])),
              mb > 0, kb > 0, nb > 0, th > 0, m > 0, k > 0, n > 0 else { return nil }
        shape = GemmShapeClass(mBucket: mb, kBucket: kb, nBucket: nb, transA: f[3] == "T",
                               transB: f[4] == "T", threads: th)
        self.m = m; self.k = k; self.n = n
        openblasGFlops = gb; onednnGFlops = gd; self.choice = choice
    }

    init(shape: GemmShapeClass, m: Int, k: Int, n: Int, openblasGFlops: Double,
         onednnGFlops: Double, choice: GemmBackend) {
        self.shape = shape; self.m = m; self.k = k; self.n = n
        self.openblasGFlops = openblasGFlops; self.onednnGFlops = onednnGFlops; self.choice = choice
    }

    static func read(_ path: String) -> [GemmShapeClass: GemmCalibration] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var table = [GemmShapeClass: GemmCalibration]()
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            if let c = GemmCalibration(line: line) { table[c.shape] = c }
        }
        return table
    }

    /// Written to a temporary file and renamed, so a reader never sees half a table.
    static func write(_ table: [GemmShapeClass: GemmCalibration], to path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let body = ([header] + table.values.map(\.line).sorted()).joined(separator: "\n") + "\n"
        let tmp = path + ".\(getpid()).tmp"
        guard (try? body.write(toFile: tmp, atomically: false, encoding: .utf8)) != nil else { return }
        if rename(tmp, path) != 0 { unlink(tmp) }
    }
}
