import FPTensor

// fp's entry point: choose BLAS kernels (may re-exec), then parse the command line.
BLASSetup.selectKernels()
BLASSetup.configureThreads()
// Temporary files of saves are removed if SIGTERM / SIGINT / SIGHUP ends the process.
TemporaryFiles.installSignalCleanup()
FP.main()
