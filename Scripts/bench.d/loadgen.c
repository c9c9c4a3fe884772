/* loadgen.c - event-driven TLS load generator and echo backend for Scripts/bench.
 *
 * Built by Scripts/bench (and the smoke test) into a work directory:
 *     gcc -O2 -o loadgen loadgen.c -lssl -lcrypto
 * One thread, level-triggered epoll, non-blocking sockets and non-blocking OpenSSL, so that one client
 * core costs much less per handshake or per byte than the proxy it drives.
 *
 * usage: loadgen MODE -p PORT [options]
 *   echo      plaintext echo server on 127.0.0.1:PORT (the backend); prints "ready", stops on SIGTERM
 *   probe     one handshake and a 16-byte echo; prints the negotiated version and cipher
 *   hs        full handshakes: -c slots, each connect, handshake (no resumption), 16-byte echo,
 *             close_notify, close, again. Counts the ones finished inside the -t window after -w warm-up,
 *             or the first -n when -n is given.
 *   resume    the same, but every connection offers the session ticket its slot got last time
 *             (the first of each slot is a full handshake); reports how many were resumed
 *   tput      -c connections, each sends -s MiB to the echo backend and reads it back; the CRC32C of the
 *             returned stream must equal the sent one's. MiB/s of payload one way, over the whole transfer
 *             or over the -t window when given (the transfer is then cut at the end of the window, and the
 *             CRC32C of what came back must equal that of the same length of the sent stream)
 *   lat       one connection, -n rounds of -m-byte ping-pong after -w rounds of warm-up; p50/p90/p99/p99.9 µs
 *   idle      open -n connections (-c at a time), each exchanges one byte; print "READY ok=.. fail=..",
 *             wait for a line on stdin (at most --hold s), then send one byte on every connection and
 *             expect it back ("check"), close them all
 * options: --tls12 | --tls13 (default: either), --watch PID[,PID...] (proxy CPU from /proc/PID/stat over
 *   the window), --watch-backend PID[,PID...] (the same for the backend), --timeout S per connection step (10),
 *   --max-time S for the whole run (120). Busy time of cpu0 and cpu1 comes from /proc/stat.
 * Result: one line on stdout, "RESULT mode=.. key=value ...". Exit status 0 when every connection
 * completed and every check matched, 1 otherwise, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s\n", what);
    exit(2);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* CRC32C (Castagnoli): SSE4.2 instruction where the CPU has it, else a table. */
static uint32_t crc_table[256];
static int crc_hw_ok = -1;

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const unsigned char *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

static uint32_t crc32c(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    if (crc_hw_ok < 0) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            crc_table[i] = c;
        }
#if defined(__x86_64__)
        crc_hw_ok = __builtin_cpu_supports("sse4.2");
#else
        crc_hw_ok = 0;
#endif
    }
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw_ok)
        return ~crc_hw(crc, p, n);
#endif
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Payload for throughput: a pseudo-random 1 MiB + one chunk, so that any chunk starting in the first
 * MiB is contiguous. Connection k starts at a different offset so the connections' streams differ. */
#define PAT_LEN (1u << 20)
#define CHUNK 16384u
static unsigned char *g_pat;

static void pattern_init(void)
{
    g_pat = malloc(PAT_LEN + CHUNK);
    if (!g_pat)
        die("out of memory");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < PAT_LEN; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        g_pat[i] = (unsigned char)(x >> 32);
    }
    memcpy(g_pat + PAT_LEN, g_pat, CHUNK);
}

/* CPU seconds (utime + stime, all threads) of a comma-separated list of PIDs. */
static const char *g_watch, *g_watch_backend;
static double pids_cpu(const char *list)
{
    static long hz;
    if (!list || !*list)
        return 0;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    double total = 0;
    const char *p = list;
    while (*p) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        p = *end == ',' ? end + 1 : end;
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *q = strrchr(buf, ')');
        unsigned long long ut, st;
        if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            total += (double)(ut + st) / (double)hz;
    }
    return total;
}

static double watch_cpu(void) { return pids_cpu(g_watch); }

/* Busy jiffies of cpu0 and cpu1 from /proc/stat (everything but idle and iowait), in seconds. */
static void cores_busy(double out[2])
{
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    out[0] = out[1] = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int cpu;
        unsigned long long v[8] = {0};
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) == 9 && cpu >= 0 && cpu < 2)
            out[cpu] = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
    }
    fclose(f);
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static volatile sig_atomic_t g_stop;
static void on_sig(int s)
{
    (void)s;
    g_stop = 1;
}

/* ------------------------------------------------------------------ options */

enum { M_ECHO, M_PROBE, M_HS, M_RESUME, M_TPUT, M_LAT, M_IDLE };
static const char *mode_names[] = {"echo", "probe", "hs", "resume", "tput", "lat", "idle"};

static struct {
    int mode, port, tls12, tls13, conc;
    long num, warm_rounds;
    double secs, warm, timeout, max_time, hold, mib;
    int msg;
} O = {.port = 0, .conc = 1, .num = 0, .warm_rounds = 1000, .secs = 0, .warm = 0, .timeout = 10,
       .max_time = 120, .hold = 120, .mib = 64, .msg = 64};

/* ------------------------------------------------------------------ echo backend */

typedef struct bconn {
    int fd;
    unsigned events;
    unsigned char *pend;
    size_t len, off;
} bconn_t;

static void bset(int ep, bconn_t *c, unsigned ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void bclose(int ep, bconn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pend);
    free(c);
}

static int run_echo(void)
{
    static unsigned char buf[256 * 1024];
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(O.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096))
        die("echo: cannot listen");
    int ep = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    printf("ready\n");
    fflush(stdout);
    struct epoll_event evs[256];
    while (!g_stop) {
        int n = epoll_wait(ep, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            bconn_t *c = evs[i].data.ptr;
            if (!c) {
                for (int k = 0; k < 64; k++) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    bconn_t *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    nc->events = EPOLLIN;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int closed = 0;
            if (c->pend) { /* flush what could not be written before */
                ssize_t w = write(c->fd, c->pend + c->off, c->len - c->off);
                if (w > 0)
                    c->off += (size_t)w;
                else if (w < 0 && errno != EAGAIN)
                    closed = 1;
                if (!closed && c->off == c->len) {
                    free(c->pend);
                    c->pend = NULL;
                    bset(ep, c, EPOLLIN);
                }
            } else {
                for (int rounds = 0; rounds < 16 && !closed && !c->pend; rounds++) {
                    ssize_t r = read(c->fd, buf, sizeof buf);
                    if (r == 0 || (r < 0 && errno != EAGAIN)) {
                        closed = 1;
                        break;
                    }
                    if (r < 0)
                        break;
                    size_t off = 0;
                    while (off < (size_t)r) {
                        ssize_t w = write(c->fd, buf + off, (size_t)r - off);
                        if (w > 0)
                            off += (size_t)w;
                        else
                            break;
                    }
                    if (off < (size_t)r) {
                        if (errno != EAGAIN) {
                            closed = 1;
                            break;
                        }
                        c->len = (size_t)r - off;
                        c->off = 0;
                        c->pend = malloc(c->len);
                        memcpy(c->pend, buf + off, c->len);
                        bset(ep, c, EPOLLOUT);
                    }
                    if ((size_t)r < sizeof buf)
                        break;
                }
            }
            if (closed)
                bclose(ep, c);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ TLS client */

enum { ST_FREE, ST_CONNECT, ST_HS, ST_SEND, ST_RECV, ST_HELD, ST_TPUT, ST_DONE };
enum { F_CONNECT, F_HS, F_IO, F_TIMEOUT, F_CHECK, F_N };
static const char *fail_names[F_N] = {"connect", "handshake", "io", "timeout", "mismatch"};

typedef struct conn {
    int fd, st, slot;
    SSL *ssl;
    unsigned events;
    uint64_t deadline, t_round;
    unsigned char msg[256], rbuf[256];
    unsigned len, sent, rcvd;
    uint64_t total, tx, rx;
    uint32_t crc_tx, crc_rx, crc_exp; /* of what was sent, what came back, what should have come back */
    int checking;
} conn_t;

static SSL_CTX *g_ctx;
static int g_ep;
static struct sockaddr_in g_sa;
static conn_t *g_conns;
static SSL_SESSION **g_sessions;
static long g_fail[F_N], g_ok, g_ok_window, g_resumed, g_resumed_window, g_started, g_open, g_inflight;
static char g_err[200], g_version[32] = "-", g_cipher[64] = "-";
static uint64_t g_t_start, g_t_window, g_t_end, g_t_hard;
static int g_in_window, g_window_over;
static double g_cpu0_proxy, g_cpu0_self, g_cpu1_proxy, g_cpu1_self, g_cpu0_backend, g_cpu1_backend;
static double g_core0[2], g_core1[2];
static uint64_t *g_lat;
static long g_lat_n, g_lat_done;

static int skip_chain(X509_STORE_CTX *x, void *arg)
{
    (void)x, (void)arg;
    return 1; /* no chain check; the CertificateVerify signature is still checked by TLS */
}

static void ctx_init(void)
{
    g_ctx = SSL_CTX_new(TLS_client_method());
    if (!g_ctx)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(g_ctx, O.tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(g_ctx, O.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(g_ctx, skip_chain, NULL);
    SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_mode(g_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(g_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (O.mode == M_TPUT) {
        SSL_CTX_set_read_ahead(g_ctx, 1);
        SSL_CTX_set_default_read_buffer_len(g_ctx, 64 * 1024);
    }
}

static void set_events(conn_t *c, unsigned ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void note_err(const char *what)
{
    if (g_err[0])
        return;
    unsigned long e = ERR_peek_error();
    char ebuf[160] = "";
    if (e)
        ERR_error_string_n(e, ebuf, sizeof ebuf);
    snprintf(g_err, sizeof g_err, "%s%s%s%s%s", what, errno ? ": " : "", errno ? strerror(errno) : "",
             ebuf[0] ? ": " : "", ebuf);
    for (char *p = g_err; *p; p++)
        if (*p == ' ')
            *p = '_';
}

static void conn_free(conn_t *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->ssl = NULL;
    c->fd = -1;
    c->st = ST_FREE;
    g_open--;
}

static void conn_fail(conn_t *c, int kind, const char *what)
{
    if (kind == F_CHECK || kind == F_TIMEOUT)
        errno = 0; /* not a system call's failure */
    g_fail[kind]++;
    note_err(what);
    ERR_clear_error();
    conn_free(c);
    g_inflight--;
}

static int conn_start(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        g_fail[F_CONNECT]++;
        note_err("socket");
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->st = ST_CONNECT;
    c->events = EPOLLOUT;
    c->checking = 0;
    c->deadline = now_ns() + (uint64_t)(O.timeout * 1e9);
    g_open++;
    g_inflight++;
    g_started++;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &e);
    if (connect(c->fd, (struct sockaddr *)&g_sa, sizeof g_sa) < 0 && errno != EINPROGRESS) {
        conn_fail(c, F_CONNECT, "connect");
        return -1;
    }
    return 0;
}

static void begin_exchange(conn_t *c, unsigned len)
{
    c->len = len;
    for (unsigned i = 0; i < len; i++)
        c->msg[i] = (unsigned char)('a' + (c->slot + i + (unsigned)g_lat_done) % 26);
    c->sent = c->rcvd = 0;
    c->st = ST_SEND;
    c->t_round = now_ns();
    c->deadline = c->t_round + (uint64_t)(O.timeout * 1e9);
}

/* What a finished exchange (the echo came back intact) leads to, per mode. */
static void after_exchange(conn_t *c);

/* Advance a TLS step; returns 1 progressed/done, 0 would block (interest set), -1 failed. */
static int ssl_wait(conn_t *c, int r, int kind, const char *what)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        set_events(c, EPOLLIN);
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        set_events(c, EPOLLOUT);
        return 0;
    }
    conn_fail(c, kind, what);
    return -1;
}

static void drive_tput(conn_t *c)
{
    static unsigned char buf[64 * 1024];
    unsigned want = 0;
    for (int progress = 1; progress;) {
        progress = 0;
        if (c->tx < c->total) {
            uint64_t off = (c->tx + (uint64_t)c->slot * 7919u) % PAT_LEN;
            int len = (int)(c->total - c->tx < CHUNK ? c->total - c->tx : CHUNK);
            int w = SSL_write(c->ssl, g_pat + off, len);
            if (w > 0) {
                c->crc_tx = crc32c(c->crc_tx, g_pat + off, (size_t)w);
                c->tx += (uint64_t)w;
                progress = 1;
            } else {
                int e = SSL_get_error(c->ssl, w);
                if (e == SSL_ERROR_WANT_WRITE)
                    want |= EPOLLOUT;
                else if (e != SSL_ERROR_WANT_READ) {
                    conn_fail(c, F_IO, "write");
                    return;
                }
            }
        }
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r > 0) {
            if (c->rx + (uint64_t)r > c->total) {
                conn_fail(c, F_CHECK, "more_bytes_than_sent");
                return;
            }
            c->crc_rx = crc32c(c->crc_rx, buf, (size_t)r);
            /* the same stretch of the sent stream: the pattern from this connection's offset, wrapping */
            for (uint64_t done = 0; done < (uint64_t)r;) {
                uint64_t off = (c->rx + done + (uint64_t)c->slot * 7919u) % PAT_LEN;
                uint64_t n = (uint64_t)r - done < PAT_LEN - off ? (uint64_t)r - done : PAT_LEN - off;
                c->crc_exp = crc32c(c->crc_exp, g_pat + off, (size_t)n);
                done += n;
            }
            c->rx += (uint64_t)r;
            progress = 1;
            c->deadline = now_ns() + (uint64_t)(O.timeout * 1e9);
        } else {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE)
                want |= EPOLLOUT;
            else if (e != SSL_ERROR_WANT_READ) {
                conn_fail(c, F_IO, "read");
                return;
            }
        }
        if (c->rx == c->total) {
            if (c->crc_rx != c->crc_tx || c->crc_rx != c->crc_exp) {
                conn_fail(c, F_CHECK, "crc_mismatch");
                return;
            }
            g_ok++;
            SSL_shutdown(c->ssl);
            conn_free(c);
            g_inflight--;
            return;
        }
        /* at the end of a timed window: stop sending; what came back so far must be the sent stream's start */
        if (g_window_over) {
            if (c->crc_rx != c->crc_exp) {
                conn_fail(c, F_CHECK, "crc_mismatch");
                return;
            }
            g_ok++;
            conn_free(c);
            g_inflight--;
            return;
        }
    }
    set_events(c, EPOLLIN | want);
}

static void drive(conn_t *c)
{
    for (;;) {
        switch (c->st) {
        case ST_CONNECT: {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                errno = err;
                conn_fail(c, F_CONNECT, "connect");
                return;
            }
            c->ssl = SSL_new(g_ctx);
            SSL_set_fd(c->ssl, c->fd);
            SSL_set_connect_state(c->ssl);
            SSL_set_tlsext_host_name(c->ssl, "localhost");
            if (O.mode == M_RESUME && g_sessions[c->slot])
                SSL_set_session(c->ssl, g_sessions[c->slot]);
            c->st = ST_HS;
            break;
        }
        case ST_HS: {
            int r = SSL_do_handshake(c->ssl);
            if (r != 1) {
                if (ssl_wait(c, r, F_HS, "handshake") <= 0)
                    return;
                break;
            }
            if (g_version[0] == '-') {
                snprintf(g_version, sizeof g_version, "%s", SSL_get_version(c->ssl));
                snprintf(g_cipher, sizeof g_cipher, "%s", SSL_get_cipher_name(c->ssl));
            }
            if (O.mode == M_TPUT) {
                c->st = ST_TPUT;
                c->deadline = now_ns() + (uint64_t)(O.timeout * 1e9);
                drive_tput(c);
                return;
            }
            begin_exchange(c, O.mode == M_LAT ? (unsigned)O.msg : O.mode == M_IDLE ? 1 : 16);
            break;
        }
        case ST_SEND: {
            int w = SSL_write(c->ssl, c->msg + c->sent, (int)(c->len - c->sent));
            if (w <= 0) {
                if (ssl_wait(c, w, F_IO, "write") <= 0)
                    return;
                break;
            }
            c->sent += (unsigned)w;
            if (c->sent == c->len)
                c->st = ST_RECV;
            break;
        }
        case ST_RECV: {
            int r = SSL_read(c->ssl, c->rbuf + c->rcvd, (int)(c->len - c->rcvd));
            if (r <= 0) {
                if (ssl_wait(c, r, F_IO, "read") <= 0)
                    return;
                break;
            }
            c->rcvd += (unsigned)r;
            if (c->rcvd < c->len)
                break;
            if (memcmp(c->rbuf, c->msg, c->len)) {
                conn_fail(c, F_CHECK, "echo_mismatch");
                return;
            }
            after_exchange(c);
            if (c->st == ST_SEND)
                break; /* the next ping-pong round */
            return;
        }
        case ST_TPUT:
            drive_tput(c);
            return;
        case ST_HELD: /* an event on an idle connection: the proxy closed it or sent something */
            c->st = ST_DONE;
            epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
            return;
        default:
            return;
        }
    }
}

static void count_done(int resumed)
{
    uint64_t t = now_ns();
    g_ok++;
    g_resumed += resumed;
    if (g_in_window && !g_window_over && t <= g_t_end) {
        g_ok_window++;
        g_resumed_window += resumed;
    }
}

static void after_exchange(conn_t *c)
{
    switch (O.mode) {
    case M_HS:
    case M_RESUME:
    case M_PROBE: {
        int resumed = SSL_session_reused(c->ssl);
        if (O.mode == M_RESUME) {
            SSL_SESSION *s = SSL_get1_session(c->ssl); /* TLS 1.3: the last ticket received */
            if (s) {
                if (g_sessions[c->slot])
                    SSL_SESSION_free(g_sessions[c->slot]);
                g_sessions[c->slot] = s;
            }
        }
        SSL_shutdown(c->ssl); /* close_notify, not waiting for the peer's */
        conn_free(c);
        g_inflight--;
        count_done(resumed);
        return;
    }
    case M_LAT: {
        uint64_t t = now_ns();
        if (g_lat_done >= O.warm_rounds && g_lat_n < O.num)
            g_lat[g_lat_n++] = t - c->t_round;
        g_lat_done++;
        if (g_lat_n < O.num && !g_stop && t < g_t_hard) {
            begin_exchange(c, (unsigned)O.msg);
            return;
        }
        g_ok++;
        SSL_shutdown(c->ssl);
        conn_free(c);
        g_inflight--;
        return;
    }
    case M_IDLE:
        g_inflight--;
        if (c->checking) {
            g_ok++;
            SSL_shutdown(c->ssl);
            conn_free(c);
        } else {
            g_ok++;
            c->st = ST_HELD;
            set_events(c, EPOLLRDHUP);
        }
        return;
    }
}

/* Sweep connections that passed their deadline. */
static void sweep(long n)
{
    uint64_t t = now_ns();
    for (long i = 0; i < n; i++) {
        conn_t *c = &g_conns[i];
        if (c->st != ST_FREE && c->st != ST_HELD && c->st != ST_DONE && t > c->deadline)
            conn_fail(c, F_TIMEOUT, "timeout");
    }
}

static void poll_once(long n, int ms)
{
    struct epoll_event evs[512];
    int k = epoll_wait(g_ep, evs, 512, ms);
    for (int i = 0; i < k; i++) {
        conn_t *c = evs[i].data.ptr;
        if (c->st != ST_FREE)
            drive(c);
    }
    static uint64_t last;
    uint64_t t = now_ns();
    if (t - last > 100000000ull) {
        sweep(n);
        last = t;
    }
}

static void snap_begin(void)
{
    g_cpu0_proxy = watch_cpu();
    g_cpu0_backend = pids_cpu(g_watch_backend);
    g_cpu0_self = self_cpu();
    cores_busy(g_core0);
}

static void snap_end(void)
{
    g_cpu1_proxy = watch_cpu();
    g_cpu1_backend = pids_cpu(g_watch_backend);
    g_cpu1_self = self_cpu();
    cores_busy(g_core1);
}

static void window_tick(void)
{
    uint64_t t = now_ns();
    if (!g_in_window && t >= g_t_window) {
        g_in_window = 1;
        snap_begin();
    }
    if (g_in_window && !g_window_over && O.secs > 0 && t >= g_t_end) {
        g_window_over = 1;
        snap_end();
        g_t_end = t;
    }
}

static void end_window(void)
{
    if (!g_in_window) {
        g_in_window = 1;
        snap_begin();
    }
    if (!g_window_over) {
        g_window_over = 1;
        snap_end();
        g_t_end = now_ns();
    }
}

static long total_fail(void)
{
    long f = 0;
    for (int i = 0; i < F_N; i++)
        f += g_fail[i];
    return f;
}

static void print_common(char *out, size_t len)
{
    double secs = (double)(g_t_end - g_t_window) / 1e9;
    double pcpu = g_cpu1_proxy - g_cpu0_proxy, scpu = g_cpu1_self - g_cpu0_self;
    size_t o = strlen(out);
    o += (size_t)snprintf(out + o, len - o, " secs=%.3f proxy_cpu_s=%.3f self_cpu_s=%.3f proxy_cores=%.3f "
                          "self_cores=%.3f version=%s cipher=%s fail=%ld",
                          secs, pcpu, scpu, secs > 0 ? pcpu / secs : 0, secs > 0 ? scpu / secs : 0, g_version,
                          g_cipher, total_fail());
    if (secs > 0) {
        double b = g_cpu1_backend - g_cpu0_backend, c0 = g_core1[0] - g_core0[0], c1 = g_core1[1] - g_core0[1];
        /* other = what neither the proxy, this process nor the backend used on the two cores: other tenants */
        o += (size_t)snprintf(out + o, len - o, " backend_cores=%.3f cpu0_busy=%.3f cpu1_busy=%.3f other_cores=%.3f",
                              b / secs, c0 / secs, c1 / secs, (c0 + c1 - pcpu - scpu - b) / secs);
    }
    for (int i = 0; i < F_N; i++)
        if (g_fail[i])
            o += (size_t)snprintf(out + o, len - o, " fail_%s=%ld", fail_names[i], g_fail[i]);
    if (g_err[0])
        snprintf(out + o, len - o, " first_error=%s", g_err);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!g_lat_n)
        return 0;
    long i = (long)(p / 100.0 * (double)(g_lat_n - 1) + 0.5);
    return (double)g_lat[i] / 1000.0;
}

static int run_client(void)
{
    ctx_init();
    g_ep = epoll_create1(0);
    g_sa.sin_family = AF_INET;
    g_sa.sin_port = htons(O.port);
    g_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    long nconn = O.mode == M_IDLE ? O.num : O.mode == M_PROBE || O.mode == M_LAT ? 1 : O.conc;
    if (nconn < 1)
        die("nothing to do (-c/-n)");
    g_conns = calloc((size_t)nconn, sizeof *g_conns);
    g_sessions = calloc((size_t)nconn, sizeof *g_sessions);
    for (long i = 0; i < nconn; i++)
        g_conns[i].fd = -1, g_conns[i].slot = (int)i;
    g_t_start = now_ns();
    g_t_hard = g_t_start + (uint64_t)(O.max_time * 1e9);
    g_t_window = g_t_start + (uint64_t)(O.warm * 1e9);
    g_t_end = g_t_window + (uint64_t)(O.secs * 1e9);
    char out[1024];

    if (O.mode == M_PROBE || O.mode == M_HS || O.mode == M_RESUME) {
        long limit = O.mode == M_PROBE ? 1 : O.num; /* 0: bounded by the window only */
        if (O.mode != M_PROBE && O.secs <= 0 && limit <= 0)
            die("hs/resume need -t or -n");
        for (;;) {
            window_tick();
            int stopping = g_stop || now_ns() > g_t_hard || g_window_over || (limit > 0 && g_started >= limit);
            if (!stopping)
                for (long i = 0; i < nconn; i++)
                    if (g_conns[i].st == ST_FREE && (limit <= 0 || g_started < limit))
                        conn_start(&g_conns[i]);
            if (g_inflight == 0 && (stopping || (limit > 0 && g_started >= limit)))
                break;
            if (g_window_over || now_ns() > g_t_hard + 2000000000ull) { /* abandon the in-flight ones */
                if (now_ns() > g_t_hard)
                    g_fail[F_TIMEOUT] += g_inflight;
                break;
            }
            poll_once(nconn, 10);
        }
        end_window();
        if (O.mode == M_PROBE) {
            printf("RESULT mode=probe ok=%ld version=%s cipher=%s fail=%ld%s%s\n", g_ok, g_version, g_cipher,
                   total_fail(), g_err[0] ? " first_error=" : "", g_err);
            return g_ok == 1 ? 0 : 1;
        }
        double secs = (double)(g_t_end - g_t_window) / 1e9;
        long counted = O.secs > 0 ? g_ok_window : g_ok, resumed = O.secs > 0 ? g_resumed_window : g_resumed;
        double pcpu = g_cpu1_proxy - g_cpu0_proxy;
        snprintf(out, sizeof out, "RESULT mode=%s ok=%ld counted=%ld resumed=%ld rate=%.1f per_proxy_core_s=%.1f",
                 mode_names[O.mode], g_ok, counted, resumed, secs > 0 ? counted / secs : 0,
                 pcpu > 0 ? counted / pcpu : 0);
        print_common(out, sizeof out);
        printf("%s\n", out);
        return total_fail() == 0 && g_ok > 0 ? 0 : 1;
    }

    if (O.mode == M_TPUT) {
        pattern_init();
        uint64_t total = (uint64_t)(O.mib * 1048576.0);
        for (long i = 0; i < nconn; i++) {
            g_conns[i].total = total;
            g_conns[i].tx = g_conns[i].rx = 0;
            g_conns[i].crc_tx = g_conns[i].crc_rx = g_conns[i].crc_exp = 0;
            conn_start(&g_conns[i]);
        }
        /* the window starts when every connection finished its handshake */
        int all_up = 0;
        uint64_t rx0 = 0;
        g_t_window = UINT64_MAX;
        while (g_inflight > 0 && !g_stop && now_ns() < g_t_hard) {
            if (!all_up) {
                int up = 1;
                for (long i = 0; i < nconn; i++)
                    if (g_conns[i].st == ST_CONNECT || g_conns[i].st == ST_HS)
                        up = 0;
                if (up) {
                    all_up = 1;
                    g_t_window = now_ns();
                    g_t_end = g_t_window + (uint64_t)(O.secs * 1e9);
                    for (long i = 0; i < nconn; i++)
                        rx0 += g_conns[i].rx;
                    g_in_window = 1;
                    snap_begin();
                }
            }
            if (all_up && O.secs > 0 && !g_window_over && now_ns() >= g_t_end) {
                g_window_over = 1;
                snap_end();
                g_t_end = now_ns();
                for (long i = 0; i < nconn; i++)
                    if (g_conns[i].st == ST_TPUT)
                        drive_tput(&g_conns[i]); /* counts and closes it */
            }
            poll_once(nconn, 10);
        }
        if (g_inflight > 0)
            g_fail[F_TIMEOUT] += g_inflight;
        if (g_t_window == UINT64_MAX)
            g_t_window = g_t_start;
        end_window();
        uint64_t rx = 0;
        for (long i = 0; i < nconn; i++)
            rx += g_conns[i].rx;
        rx -= rx0;
        double secs = (double)(g_t_end - g_t_window) / 1e9, pcpu = g_cpu1_proxy - g_cpu0_proxy;
        snprintf(out, sizeof out, "RESULT mode=tput conns=%ld ok=%ld bytes=%llu mib_s=%.1f proxy_cpu_s_per_gib=%.3f",
                 nconn, g_ok, (unsigned long long)rx, secs > 0 ? rx / 1048576.0 / secs : 0,
                 rx ? pcpu / (rx / 1073741824.0) : 0);
        print_common(out, sizeof out);
        printf("%s\n", out);
        return total_fail() == 0 && g_ok == nconn ? 0 : 1;
    }

    if (O.mode == M_LAT) {
        if (O.num <= 0)
            O.num = 10000;
        g_lat = calloc((size_t)O.num, sizeof *g_lat);
        conn_start(&g_conns[0]);
        while (g_inflight > 0 && !g_stop && now_ns() < g_t_hard) {
            if (!g_in_window && g_lat_done >= O.warm_rounds) {
                g_t_window = now_ns();
                g_in_window = 1;
                snap_begin();
            }
            poll_once(1, 10);
        }
        if (g_inflight > 0)
            g_fail[F_TIMEOUT] += g_inflight;
        end_window();
        qsort(g_lat, (size_t)g_lat_n, sizeof *g_lat, cmp_u64);
        double secs = (double)(g_t_end - g_t_window) / 1e9, pcpu = g_cpu1_proxy - g_cpu0_proxy;
        snprintf(out, sizeof out, "RESULT mode=lat rounds=%ld msg=%d ok=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f "
                 "p999_us=%.1f max_us=%.1f proxy_us_per_round=%.2f",
                 g_lat_n, O.msg, g_ok, pct(50), pct(90), pct(99), pct(99.9), pct(100),
                 g_lat_n ? pcpu * 1e6 / g_lat_n : 0);
        (void)secs;
        print_common(out, sizeof out);
        printf("%s\n", out);
        return total_fail() == 0 && g_lat_n == O.num ? 0 : 1;
    }

    /* M_IDLE: open, hold, check */
    long next = 0;
    while (!g_stop && now_ns() < g_t_hard && (next < nconn || g_inflight > 0)) {
        while (next < nconn && g_inflight < O.conc)
            conn_start(&g_conns[next++]);
        poll_once(next, 10);
    }
    long opened = g_ok, open_fail = total_fail();
    printf("READY ok=%ld fail=%ld\n", opened, open_fail);
    fflush(stdout);
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    uint64_t hold_end = now_ns() + (uint64_t)(O.hold * 1e9);
    while (!g_stop && now_ns() < hold_end) { /* wait for the go line; connections stay quiet meanwhile */
        if (poll(&pfd, 1, 200) > 0)
            break;
    }
    /* check: one byte each, all at once */
    long held = 0, dropped = 0;
    g_ok = 0;
    memset(g_fail, 0, sizeof g_fail);
    g_t_hard = now_ns() + (uint64_t)(O.max_time * 1e9);
    for (long i = 0; i < nconn; i++) {
        conn_t *c = &g_conns[i];
        if (c->st == ST_HELD) {
            held++;
            c->checking = 1;
            g_inflight++;
            begin_exchange(c, 1);
            set_events(c, EPOLLOUT);
        } else if (c->st == ST_DONE) {
            dropped++;
            conn_free(c);
        }
    }
    while (g_inflight > 0 && !g_stop && now_ns() < g_t_hard)
        poll_once(nconn, 10);
    long check_fail = total_fail() + dropped + g_inflight;
    snprintf(out, sizeof out, "RESULT mode=idle n=%ld opened=%ld open_fail=%ld held=%ld check_ok=%ld check_fail=%ld "
             "dropped=%ld version=%s cipher=%s%s%s",
             nconn, opened, open_fail, held, g_ok, check_fail, dropped, g_version, g_cipher,
             g_err[0] ? " first_error=" : "", g_err);
    printf("%s\n", out);
    for (long i = 0; i < nconn; i++)
        if (g_conns[i].st != ST_FREE)
            conn_free(&g_conns[i]);
    return open_fail == 0 && check_fail == 0 && g_ok == nconn ? 0 : 1;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr, "usage: loadgen echo|probe|hs|resume|tput|lat|idle -p PORT [-c CONC] [-n N] [-t SECS] "
                    "[-w WARM] [-s MIB] [-m BYTES] [--tls12|--tls13] [--watch PIDS] [--timeout S] "
                    "[--max-time S] [--hold S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    O.mode = -1;
    for (int i = 0; i < (int)(sizeof mode_names / sizeof *mode_names); i++)
        if (!strcmp(argv[1], mode_names[i]))
            O.mode = i;
    if (O.mode < 0)
        usage();
    static struct option lo[] = {{"tls12", 0, 0, 1}, {"tls13", 0, 0, 2},   {"watch", 1, 0, 3},
                                 {"timeout", 1, 0, 4}, {"max-time", 1, 0, 5}, {"hold", 1, 0, 6},
                                 {"warm-rounds", 1, 0, 7}, {"watch-backend", 1, 0, 8},
                                 {0, 0, 0, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "p:c:n:t:w:s:m:", lo, NULL)) != -1) {
        switch (ch) {
        case 'p': O.port = atoi(optarg); break;
        case 'c': O.conc = atoi(optarg); break;
        case 'n': O.num = atol(optarg); break;
        case 't': O.secs = atof(optarg); break;
        case 'w': O.warm = atof(optarg); break;
        case 's': O.mib = atof(optarg); break;
        case 'm': O.msg = atoi(optarg); break;
        case 1: O.tls12 = 1; break;
        case 2: O.tls13 = 1; break;
        case 3: g_watch = optarg; break;
        case 4: O.timeout = atof(optarg); break;
        case 5: O.max_time = atof(optarg); break;
        case 6: O.hold = atof(optarg); break;
        case 7: O.warm_rounds = atol(optarg); break;
        case 8: g_watch_backend = optarg; break;
        default: usage();
        }
    }
    if (O.port <= 0 || O.port > 65535 || O.conc < 1 || O.msg < 1 || O.msg > 256 || (O.tls12 && O.tls13))
        usage();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (O.mode == M_ECHO)
        return run_echo();
    return run_client();
}
