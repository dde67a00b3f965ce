// fp's entry point: choose BLAS kernels (may re-exec), then parse the command line.
BLASSetup.selectKernels()
BLASSetup.configureThreads()
FP.main()
