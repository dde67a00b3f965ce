import CKernels

/// The instruction set the CKernels row kernels (attention, norms) run with: "avx512", "avx2" or
/// "baseline" (fp.config().kernels). The widest the CPU runs is chosen at start-up by cpuid;
/// FP_KERNELS=avx2 or baseline selects a narrower one (a variant the CPU lacks is ignored).
public enum KernelISA {
    public static var name: String { String(cString: fpk_isa()) }

    /// Every variant this CPU runs, widest first.
    public static var supported: [String] {
        var names = [String]()
        while let p = fpk_isa_supported(Int32(names.count)) { names.append(String(cString: p)) }
        return names
    }

    /// Runs `body` with each supported variant in turn (tests: every code path on one machine),
    /// then restores the one in use.
    public static func forEachSupported(_ body: (String) throws -> Void) rethrows {
        let before = name
        defer { _ = fpk_use(before) }
        for isa in supported {
            _ = fpk_use(isa)
            try body(isa)
        }
    }
}
