#define _GNU_SOURCE
#include <malloc.h>
#include "CMailTunnelLinux.h"
#include <sys/syscall.h>
#include <unistd.h>

uint32_t mt_linux_epollet(void) { return EPOLLET; }

int mt_linux_malloc_trim(size_t pad) { return malloc_trim(pad); }

int mt_linux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) { return accept4(fd, addr, len, flags); }
int mt_linux_sock_nonblock(void) { return SOCK_NONBLOCK; }
int mt_linux_sock_cloexec(void) { return SOCK_CLOEXEC; }

ssize_t mt_linux_send_nosignal(int fd, const void *buf, size_t len) { return send(fd, buf, len, MSG_NOSIGNAL); }

int mt_linux_inotify_init(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }
int mt_linux_inotify_add_watch(int fd, const char *path, uint32_t mask) { return inotify_add_watch(fd, path, mask); }

int mt_linux_thread_setresuid(uid_t ruid, uid_t euid, uid_t suid) { return (int)syscall(SYS_setresuid, ruid, euid, suid); }
