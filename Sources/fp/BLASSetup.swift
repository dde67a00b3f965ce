import CBLAS
import FPTensor
import Foundation

/// OpenBLAS picks its kernels once, when the library loads, from the CPU id or from
/// OPENBLAS_CORETYPE. Debian's build misdetects some CPUs (and runs several times slower),
/// so fp sets OPENBLAS_CORETYPE from its own cpuid reading and re-executes itself before
/// any BLAS call. A value the user set is respected.
enum BLASSetup {
    static func selectKernels() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, let core = fp_best_openblas_coretype() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("FP_BLAS_SELECTED", "1", 1)   // tells --version who chose the kernels
        // On success execv does not return; on failure fp goes on with OpenBLAS's own choice.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// Thread count: FP_NUM_THREADS, default the number of cores.
    static func configureThreads() {
        var n = Int(fp_cpu_count())
        if let s = ProcessInfo.processInfo.environment["FP_NUM_THREADS"] {
            if let v = Int(s), v > 0, v <= 1024 { n = v }
            else { FileHandle.standardError.write("fp: ignoring FP_NUM_THREADS=\(s) (expected a positive integer)\n".data(using: .utf8)!) }
        }
        BLASThreads.configure(n)
    }

    static var description: String {
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        let config = openblas_get_config().map { String(cString: $0) } ?? ""
        let env = ProcessInfo.processInfo.environment
        var forced = " (chosen by OpenBLAS)"
        if let c = env["OPENBLAS_CORETYPE"] {
            forced = env["FP_BLAS_SELECTED"] == "1" ? " (selected by fp from cpuid)" : " (OPENBLAS_CORETYPE=\(c) from the environment)"
        }
        return "BLAS: OpenBLAS core \(core)\(forced), \(openblas_get_num_threads()) threads; \(config)\n\(GemmDispatch.description)"
    }
}
