// The seccomp filter of `fp run --sandbox`: a plain BPF program (a fixed deny list, so no
// library is needed) applied to every thread of the process. Denied calls fail with EPERM, so
// the script sees an ordinary error; clone3 fails with ENOSYS so that thread creation falls
// back to clone, whose flags the filter can read (new threads yes, new processes no).
#define _GNU_SOURCE   // CLONE_THREAD
#include "CSandbox.h"

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define FP_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define FP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

// Starting programs, new processes, other processes' memory, mounts and namespaces, sockets,
// kernel modules, keyrings, BPF, perf, io_uring (its operations bypass this filter),
// credentials, and file-handle opens that bypass path checks.
static const int denied[] = {
    SYS_execve, SYS_execveat,
#ifdef SYS_fork
    SYS_fork,
#endif
#ifdef SYS_vfork
    SYS_vfork,
#endif
    SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp, SYS_pidfd_getfd,
    SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_unshare, SYS_setns,
    SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_move_mount, SYS_open_tree,
#ifdef SYS_mount_setattr
    SYS_mount_setattr,
#endif
    SYS_socket, SYS_socketpair,
    SYS_bpf, SYS_perf_event_open, SYS_userfaultfd,
    SYS_keyctl, SYS_add_key, SYS_request_key,
    SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_kexec_load,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
    SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
    SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setresuid, SYS_setresgid,
    SYS_setfsuid, SYS_setfsgid, SYS_setgroups,
    SYS_open_by_handle_at, SYS_name_to_handle_at,
    SYS_acct, SYS_swapon, SYS_swapoff, SYS_reboot, SYS_syslog, SYS_quotactl, SYS_vhangup,
#ifdef SYS_iopl
    SYS_iopl, SYS_ioperm,
#endif
#ifdef SYS_uselib
    SYS_uselib,
#endif
};

int fp_seccomp_supported(void) { return 1; }

int fp_seccomp_restrict(void) {
    enum { N = sizeof denied / sizeof denied[0] };
    struct sock_filter prog[N + 16];
    int k = 0;
#define STMT(code, val) prog[k++] = (struct sock_filter)BPF_STMT(code, val)
#define JUMP(code, val, t, f) prog[k++] = (struct sock_filter)BPF_JUMP(code, val, t, f)
    // Another architecture's calling convention (e.g. 32-bit calls) would renumber the calls.
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, FP_AUDIT_ARCH, 1, 0);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);   // x32 numbering
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#endif
    // clone: only with CLONE_THREAD (a thread of this process).
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4);
    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    for (int i = 0; i < N; i++) {
        // matched: jump over the remaining tests and the ALLOW to the final EPERM
        JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], (unsigned char)(N - i), 0);
    }
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#undef STMT
#undef JUMP
    struct sock_fprog fprog = { .len = (unsigned short)k, .filter = prog };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) != 0) return -errno;
    return 0;
}

#else
int fp_seccomp_supported(void) { return 0; }
int fp_seccomp_restrict(void) { return -22; }
#endif
