// The Linux calls and constants the engine needs that Swift's Glibc module does not give it
// (the way SwiftNIO keeps CNIOLinux). No logic lives here: each function is a one-line forward.
#ifndef CMAILTUNNEL_LINUX_H
#define CMAILTUNNEL_LINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/types.h>

// EPOLLET is 1u << 31, which does not fit the enum Swift imports the other EPOLL_* values from.
uint32_t mt_linux_epollet(void);

// accept4 and the SOCK_* flags it takes are behind _GNU_SOURCE.
int mt_linux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int mt_linux_sock_nonblock(void);
int mt_linux_sock_cloexec(void);

// send() that reports EPIPE instead of raising SIGPIPE, whatever the process's signal disposition.
ssize_t mt_linux_send_nosignal(int fd, const void *buf, size_t len);

// glibc's malloc_trim (malloc.h is not part of Swift's Glibc module): free heap pages back to the kernel.
int mt_linux_malloc_trim(size_t pad);

// inotify, for watching certificate directories (FileWatcher); the IN_* masks are imported from the header.
int mt_linux_inotify_init(void);
int mt_linux_inotify_add_watch(int fd, const char *path, uint32_t mask);

// setresuid(2) for the calling thread only (the raw system call; glibc's wrapper changes every thread). The unit
// tests use it to check, as root, what an unprivileged reader of a file meets.
int mt_linux_thread_setresuid(uid_t ruid, uid_t euid, uid_t suid);

#endif
