// oneDNN's JIT kernels keep data below the stack pointer, past the 128 bytes the x86-64 ABI
// leaves to leaf code, so a signal handler that runs on a thread inside one of them overwrites
// that data: dnnl_sgemm under a 200 us SIGALRM timer corrupts the heap within seconds, and a
// Ctrl-C during a forward pass did the same. So every call into oneDNN runs with the
// asynchronous signals blocked on the calling thread; OpenMP's workers, created inside such
// calls, inherit the mask and never run a handler. A signal that arrives meanwhile waits until
// the call returns, or goes to a thread that does not block it (fp's SIGINT handler then
// passes the request on to the thread that runs Lua; Sources/CLua/shim.c).
#ifndef FP_DNNL_SIGNAL_GUARD_H
#define FP_DNNL_SIGNAL_GUARD_H
#include <pthread.h>
#include <signal.h>

static inline void fp_signals_block(sigset_t *old) {
    sigset_t s;
    sigemptyset(&s);
    const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGVTALRM, SIGPROF,
                         SIGUSR1, SIGUSR2, SIGCHLD, SIGWINCH, SIGURG };
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&s, sigs[i]);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

static inline void fp_signals_restore(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }
#endif
