// getpid() answered from memory. OpenSSL 3.0 checks for a fork on every random draw by comparing getpid() with
// the pid its generator was seeded in: 9 getpid system calls per TLS handshake (strace -c), since glibc stopped
// caching the pid (2.25). The dynamic linker binds every library of the process to this definition rather than
// libc's. A fork() child clears the cache in its atfork handler, so OpenSSL still sees the fork and reseeds;
// vfork/posix_spawn children share the parent's memory only until they exec and call no getpid() in between.
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static pid_t cached_pid;

static void forget_pid(void) { __atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED); }

__attribute__((constructor)) static void forget_pid_on_fork(void) { pthread_atfork(NULL, NULL, forget_pid); }

pid_t getpid(void)
{
    pid_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        pid = (pid_t)syscall(SYS_getpid);
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}
