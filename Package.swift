// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "fp",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fp", targets: ["fp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Kernel confinement for `fp run --sandbox` (Landlock, seccomp) and the signal-time
        // cleanup of temporary files; plain system calls, no library.
        .target(name: "CSandbox"),
        // Lua 5.4 (Debian liblua5.4-dev) plus C shims for its macros, the error trampoline and
        // the sandbox's file-function wrappers.
        .target(name: "CLua", dependencies: ["CSandbox"], linkerSettings: [.linkedLibrary("lua5.4"), .linkedLibrary("m")]),
        // OpenBLAS cblas + LAPACK prototypes, CPU feature detection for kernel selection.
        .target(name: "CBLAS", linkerSettings: [.linkedLibrary("openblas")]),
        // oneDNN's sgemm (Debian libdnnl-dev, OpenMP build) for the products where it beats
        // OpenBLAS on this CPU (FPTensor/GemmDispatch.swift measures which).
        .target(name: "CDNNL", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // libedit (readline-compatible) for the REPL.
        .target(name: "CLineEdit", linkerSettings: [.linkedLibrary("edit")]),
        // SHA-256 (OpenSSL libcrypto, Debian libssl-dev) for the manifests of sharded runs.
        .target(name: "CDigest", linkerSettings: [.linkedLibrary("crypto")]),
        // Attention and row-norm kernels compiled for AVX-512, AVX2 and the baseline, one chosen
        // by cpuid at run time (Swift cannot multiversion a function).
        // libmvec: glibc's vector math (erff on 4, 8 or 16 lanes)
        .target(name: "CKernels", linkerSettings: [.linkedLibrary("mvec")]),
        .target(name: "FPTensor", dependencies: ["CBLAS", "CDNNL", "CSandbox", "CKernels"],
                swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "FPModels", dependencies: ["FPTensor", "CBLAS", "CKernels"],
                swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "FPLua", dependencies: ["CLua", "CSandbox", "CBLAS", "FPTensor", "FPModels"],
                swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "fp", dependencies: [
            "FPLua", "FPTensor", "FPModels", "CLua", "CBLAS", "CLineEdit", "CDigest",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "FPTensorTests", dependencies: ["FPTensor"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "FPModelsTests", dependencies: ["FPModels", "FPTensor"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
