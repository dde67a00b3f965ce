// Landlock: the process keeps access to the given file hierarchies only. The kernel header of
// the build machine may be older than the running kernel, so the ABI's constants and structs
// are spelled out here; what a kernel does not know is left out according to its ABI version.
#define _GNU_SOURCE   // O_PATH
#include "CSandbox.h"

#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

// ABI 1
#define FS_EXECUTE      (1ULL << 0)
#define FS_WRITE_FILE   (1ULL << 1)
#define FS_READ_FILE    (1ULL << 2)
#define FS_READ_DIR     (1ULL << 3)
#define FS_REMOVE_DIR   (1ULL << 4)
#define FS_REMOVE_FILE  (1ULL << 5)
#define FS_MAKE_CHAR    (1ULL << 6)
#define FS_MAKE_DIR     (1ULL << 7)
#define FS_MAKE_REG     (1ULL << 8)
#define FS_MAKE_SOCK    (1ULL << 9)
#define FS_MAKE_FIFO    (1ULL << 10)
#define FS_MAKE_BLOCK   (1ULL << 11)
#define FS_MAKE_SYM     (1ULL << 12)
#define FS_REFER        (1ULL << 13)   // ABI 2
#define FS_TRUNCATE     (1ULL << 14)   // ABI 3
#define FS_IOCTL_DEV    (1ULL << 15)   // ABI 5
#define NET_BIND_TCP    (1ULL << 0)    // ABI 4
#define NET_CONNECT_TCP (1ULL << 1)    // ABI 4
#define SCOPE_ABSTRACT_UNIX (1ULL << 0) // ABI 6
#define SCOPE_SIGNAL    (1ULL << 1)    // ABI 6

#define CREATE_RULESET_VERSION (1U << 0)
#define RULE_PATH_BENEATH 1

struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int fp_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

int fp_landlock_restrict(const fp_landlock_path *paths, int count, int *bad_index) {
    *bad_index = -1;
    int abi = fp_landlock_abi();
    if (abi <= 0) return 0;

    // Everything Landlock can deny is handled (so denied unless a rule allows it).
    uint64_t fs = (FS_MAKE_SYM << 1) - 1;           // ABI 1: bits 0..12
    if (abi >= 2) fs |= FS_REFER;
    if (abi >= 3) fs |= FS_TRUNCATE;
    if (abi >= 5) fs |= FS_IOCTL_DEV;
    struct ruleset_attr attr = { .handled_access_fs = fs };
    if (abi >= 4) attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;   // no rule: no TCP
    if (abi >= 6) attr.scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL;          // no signals out

    uint64_t read = FS_READ_FILE | FS_READ_DIR;
    uint64_t write = read | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG;
    if (abi >= 2) write |= FS_REFER;
    if (abi >= 3) write |= FS_TRUNCATE;
    // Rights that make sense on a single file (a rule on a file may hold only these).
    uint64_t file_rights = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV;

    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) return -errno;
    for (int i = 0; i < count; i++) {
        int fd = open(paths[i].path, O_PATH | O_CLOEXEC);
        if (fd < 0) { int e = errno; close(ruleset); *bad_index = i; return -e; }
        struct stat st;
        if (fstat(fd, &st) != 0) { int e = errno; close(fd); close(ruleset); *bad_index = i; return -e; }
        uint64_t allowed = (paths[i].writable ? write : read) & fs;
        if (!S_ISDIR(st.st_mode)) allowed &= file_rights;
        struct path_beneath_attr rule = { .allowed_access = allowed, .parent_fd = fd };
        long r = syscall(SYS_landlock_add_rule, ruleset, RULE_PATH_BENEATH, &rule, 0);
        int e = errno;
        close(fd);
        if (r != 0) { close(ruleset); *bad_index = i; return -e; }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { int e = errno; close(ruleset); return -e; }
    long r = syscall(SYS_landlock_restrict_self, ruleset, 0);
    int e = errno;
    close(ruleset);
    return r == 0 ? abi : -e;
}

#else
int fp_landlock_abi(void) { return -1; }
int fp_landlock_restrict(const fp_landlock_path *paths, int count, int *bad_index) {
    (void)paths; (void)count; *bad_index = -1; return 0;
}
#endif
