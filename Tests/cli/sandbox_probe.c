// Applies fp's kernel sandbox (Sources/CSandbox: the same functions `fp run --sandbox` calls)
// to this process, then tries what a script that got native code execution would try. Shows
// the kernel layer alone stops it, with no Lua or Swift policy involved.
// Usage: sandbox_probe READ_DIR WRITE_DIR OUTSIDE_DIR; prints "ok - ..." / "FAIL - ..." lines.
#define _GNU_SOURCE
#include "CSandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failures;
static void expect(int cond, const char *what) {
    printf("%s - kernel: %s\n", cond ? "ok  " : "FAIL", what);
    if (!cond) failures++;
}
static int open_errno(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd >= 0) { close(fd); return 0; }
    return errno;
}
static void *thread_body(void *arg) { *(int *)arg = 42; return NULL; }

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: sandbox_probe READ_DIR WRITE_DIR OUTSIDE_DIR\n"); return 2; }
    char path[4096];
    // as in fp's sandbox: this process's /proc/PID, not /proc
    fp_landlock_path rules[] = { { argv[1], 0 }, { argv[2], 1 }, { "/proc/self", 0 } };
    int bad = -1;
    int abi = fp_landlock_restrict(rules, 3, &bad);
    if (abi <= 0) { printf("skip - kernel: Landlock not available (%d)\n", abi); return 0; }
    expect(fp_seccomp_restrict() == 0, "seccomp filter installed");

    snprintf(path, sizeof path, "%s/secret.txt", argv[3]);
    expect(open_errno(path, O_RDONLY) == EACCES, "reading a file outside is refused (EACCES)");
    snprintf(path, sizeof path, "%s/created.txt", argv[3]);
    expect(open_errno(path, O_WRONLY | O_CREAT) == EACCES, "creating a file outside is refused");
    snprintf(path, sizeof path, "%s/data.txt", argv[1]);
    expect(open_errno(path, O_RDONLY) == 0, "reading inside the read folder works");
    expect(open_errno(path, O_WRONLY) == EACCES, "writing inside the read-only folder is refused");
    snprintf(path, sizeof path, "%s/new.txt", argv[2]);
    expect(open_errno(path, O_WRONLY | O_CREAT) == 0, "creating a file in the write folder works");
    expect(open_errno("/etc/passwd", O_RDONLY) == EACCES, "/etc/passwd is refused");
    expect(open_errno("/proc/self/stat", O_RDONLY) == 0, "this process's /proc/self/stat is readable");
    snprintf(path, sizeof path, "/proc/%d/environ", (int)getppid());
    expect(open_errno(path, O_RDONLY) == EACCES, "another process's /proc/PID/environ is refused");
    snprintf(path, sizeof path, "/proc/%d/mem", (int)getppid());
    expect(open_errno(path, O_RDONLY) == EACCES, "another process's /proc/PID/mem is refused");

    char *args[] = { "/bin/true", NULL };
    execve("/bin/true", args, NULL);
    expect(errno == EPERM, "execve is refused (EPERM)");
    syscall(SYS_execveat, AT_FDCWD, "/bin/true", args, NULL, 0);
    expect(errno == EPERM, "execveat is refused");
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    expect(pid < 0 && errno == EPERM, "fork is refused");
    pid = vfork();
    if (pid == 0) _exit(0);
    expect(pid < 0 && errno == EPERM, "vfork is refused");
    expect(ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 && errno == EPERM, "ptrace is refused");
    expect(socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM, "an IP socket is refused");
    expect(socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EPERM, "a UNIX socket is refused");
    expect(kill(getppid(), 0) < 0 && errno == EPERM, "signals to processes outside are refused");
    expect(syscall(SYS_setuid, 0) < 0 && errno == EPERM, "setuid is refused");
    expect(syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */) < 0 && errno == EPERM, "unshare is refused");

    int value = 0;
    pthread_t t;
    int rc = pthread_create(&t, NULL, thread_body, &value);
    if (rc == 0) pthread_join(t, NULL);
    expect(rc == 0 && value == 42, "threads still start");
    return failures ? 1 : 0;
}
