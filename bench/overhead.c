/*
 * Per-call overhead: what a backend's send and receive cost beyond the
 * system calls underneath, when neither has to wait (the data is already
 * there, there is room in the socket). One thread, one pair: send 16 bytes
 * on one end, receive them on the other, many times. The same loop runs on
 * a plain socketpair with send(2) and recv(2) in the same process, in
 * alternating blocks, so that both see the same machine and the difference
 * is the library's tax on every call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "side.h"

#define OVH_SIZE 16
/* Blocks of each kind, alternating: a drift of the machine's speed hits
   both alike. */
#define OVH_BLOCKS 10

/* n round trips of the backend's send and recv on the pair c; returns the
   nanoseconds they took and adds their CPU time to *cpu. */
static int64_t backend_block(const struct backend *b, const int c[2], long n,
                             int64_t *cpu)
{
    char buf[OVH_SIZE] = {1};
    int64_t cpu0 = cpu_now(), t0 = now_ns();
    for (long i = 0; i < n; i++) {
        CHECK("send", b->send(c[0], buf, sizeof(buf)));
        CHECK("recv", b->recv(c[1], buf, sizeof(buf)));
    }
    int64_t t = now_ns() - t0;
    *cpu += cpu_now() - cpu0;
    return t;
}

/* The same with plain send(2) and recv(2) on a blocking socketpair. A
   16-byte send on an idle AF_UNIX stream socket is never split. */
static int64_t plain_block(const int fd[2], long n)
{
    char buf[OVH_SIZE] = {1};
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (send(fd[0], buf, sizeof(buf), MSG_NOSIGNAL) != sizeof(buf) ||
            recv(fd[1], buf, sizeof(buf), 0) != sizeof(buf))
            bench_fail("plain send/recv: %s", strerror(errno));
    }
    return now_ns() - t0;
}

/* v[0]: ns per call of the backend's send or recv; v[1]: ns per call of
   plain send(2) or recv(2); v[2]: v[0] - v[1], the tax per call. */
void wl_overhead(const struct backend *b, const struct params *p,
                 enum mode mode, const char *dir, struct result *r)
{
    (void)mode;
    (void)dir;
    long n = p->overhead_rounds / OVH_BLOCKS;
    int c[2], fd[2];
    int64_t tb = 0, tp = 0, cpu = 0;
    CHECK("pair", b->pair(c));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) < 0)
        bench_fail("socketpair: %s", strerror(errno));
    backend_block(b, c, n / 10, &cpu);
    plain_block(fd, n / 10);
    cpu = 0;
    for (int k = 0; k < OVH_BLOCKS; k++) {
        /* Alternate which goes first, so that neither always follows the
           other's cache footprint. */
        if (k % 2)
            tp += plain_block(fd, n);
        tb += backend_block(b, c, n, &cpu);
        if (!(k % 2))
            tp += plain_block(fd, n);
    }
    double calls = 2.0 * (double)n * OVH_BLOCKS;
    r->v[0] = (double)tb / calls;
    r->v[1] = (double)tp / calls;
    r->v[2] = r->v[0] - r->v[1];
    r->cpu = (double)cpu / calls; /* the backend's calls only */
    b->close(c[0]);
    b->close(c[1]);
    close(fd[0]);
    close(fd[1]);
    r->ok = 1;
}
