import CKernels

/// The instruction set the CKernels row kernels (attention, norms) were chosen for at start-up
/// by cpuid: "avx512", "avx2" or "baseline" (fp.config().kernels).
public enum KernelISA {
    public static var name: String { String(cString: fpk_isa()) }
}
