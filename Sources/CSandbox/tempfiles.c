// Temporary files of atomic saves (".NAME.tmp-PID-RAND" next to the target): a fixed table of
// paths that a SIGTERM / SIGINT handler can unlink without allocating (async-signal-safe).
#include "CSandbox.h"
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

enum { SLOTS = 64, PATH_BYTES = 4096 };
static char paths[SLOTS][PATH_BYTES];
static atomic_int used[SLOTS];   // 0 free, 1 being written, 2 holds a path

void fp_tempfiles_unlink_all(void) {
    for (int i = 0; i < SLOTS; i++) {
        if (atomic_load(&used[i]) == 2) unlink(paths[i]);
    }
}

static void on_signal(int sig) {
    fp_tempfiles_unlink_all();
    // Then die of the same signal, as the process would have without this handler.
    signal(sig, SIG_DFL);
    raise(sig);
}

void fp_tempfiles_install(void) {
    static atomic_int installed;
    if (atomic_exchange(&installed, 1)) return;
    int sigs[] = { SIGTERM, SIGINT, SIGHUP };
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        // Leave alone a signal that is ignored (e.g. nohup) or already handled by fp.
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

int fp_tempfile_register(const char *path) {
    size_t n = strlen(path);
    if (n >= PATH_BYTES) return -1;
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&used[i], &expected, 1)) {
            memcpy(paths[i], path, n + 1);
            atomic_store(&used[i], 2);
            return i;
        }
    }
    return -1;
}

void fp_tempfile_unregister(int slot) {
    if (slot >= 0 && slot < SLOTS) atomic_store(&used[slot], 0);
}
