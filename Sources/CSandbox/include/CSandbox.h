// Kernel confinement of the fp process (`fp run --sandbox`) and cleanup of temporary files.
// Linux: Landlock (file hierarchies) and a seccomp filter (system calls). Other systems: the
// functions report "not available" (a macOS sandbox_init profile would sit behind the same
// calls; see docs/security.md).
#ifndef FP_CSANDBOX_H
#define FP_CSANDBOX_H

#include <stddef.h>

// The Landlock ABI version the kernel offers (1, 2, ...), 0 if Landlock is not available
// (old kernel, or disabled at boot), -1 on systems without Landlock at all.
int fp_landlock_abi(void);

// One folder (or file) the process keeps access to.
typedef struct {
    const char *path;   // NUL-terminated bytes, absolute
    int writable;       // 0: read only; 1: read, create, write, remove, rename inside
} fp_landlock_path;

// Restricts this process and its future threads to `paths` (every other file access the
// kernel checks is denied). Returns the ABI used (>0), 0 when Landlock is unavailable (nothing
// applied), or -errno on failure; on failure *bad_index is the path that could not be added
// (-1 if the failure was not about one path). Sets no_new_privs. Cannot be undone.
int fp_landlock_restrict(const fp_landlock_path *paths, int count, int *bad_index);

// Installs the seccomp filter (process-wide, all threads): denies starting programs, new
// processes (threads are allowed), ptrace and cross-process memory access, mounts, sockets,
// kernel-module, keyring, BPF, perf, io_uring, namespace and credential changes. Returns 0,
// or -errno (EINVAL: unknown architecture, nothing applied). Cannot be undone.
int fp_seccomp_restrict(void);

// Whether this build can install the seccomp filter (architecture known).
int fp_seccomp_supported(void);

// Temporary files of atomic saves: registered while they exist so that SIGTERM / SIGINT
// (when fp is not handling Ctrl-C itself) remove them before the process dies.
// fp_tempfiles_install sets the handlers once; register returns a slot (-1 if full or too long).
void fp_tempfiles_install(void);
int fp_tempfile_register(const char *path);
void fp_tempfile_unregister(int slot);
// Unlinks every registered temporary file (async-signal-safe).
void fp_tempfiles_unlink_all(void);

#endif
