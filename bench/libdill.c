/*
 * libdill backend: libdill (sustrik/libdill), whose API tdill's follows,
 * through its own calls: connections over ipc_*, bsend/brecv and hclose;
 * channels over chmake/chsend/chrecv; coroutines started into a bundle.
 *
 * libdill's handles belong to the thread that made them (each thread has
 * a scheduler of its own), so per_thread_handles is set: workloads in which
 * one thread would use another's handle (a channel between two threads,
 * scale, --scaling) report n/a, and tpc runs its connections as coroutines
 * of one thread, as a libdill program would. Two threads that each use
 * only their own handles (pp-xthread, stream-xthread, ...) are fine.
 *
 * This file includes libdill.h and never tdill.h: tdill.h defines the
 * plain names (bsend, go, ...) as macros for tdill_*, libdill.h as macros
 * for dill_*. DILL_DISABLE_RAW_NAMES keeps libdill's macros out too (its
 * `go` would rename struct backend's member), so the dill_* names are
 * spelt out. The libraries export disjoint symbols (tdill_*, dill_*).
 *
 * Built in only when make is given LIBDILL_PREFIX (bench.mk then defines
 * HAVE_LIBDILL and links libdill with an rpath).
 */
#include <errno.h>
#include <stdio.h>

#include "bench.h"

#ifndef HAVE_LIBDILL

const struct backend libdill_backend = {
    .name = "libdill",
    .missing = "pass LIBDILL_PREFIX=/path/to/libdill/install to make "
               "(bench/README.md says how to build libdill)",
};

#else

#define DILL_DISABLE_RAW_NAMES
#include <libdill.h>

static int ld_listen(const char *path, int backlog)
{
    return dill_ipc_listen(path, backlog);
}

static int ld_accept(int ls)
{
    return dill_ipc_accept(ls, -1);
}

/* NB: a non-blocking AF_UNIX connect to a listener whose backlog is full
   fails with EAGAIN, and libdill's ipc_connect hands that to the caller
   (tdill's waits and retries; blocking connect(2) sleeps). So the caller
   retries, as a libdill program must: at once, letting the thread's other
   coroutines run, then, when the listener stays full, once a millisecond
   (the finest sleep libdill's clock offers). */
static int ld_connect(const char *path)
{
    for (int tries = 0;; tries++) {
        int c = dill_ipc_connect(path, -1);
        if (c >= 0 || errno != EAGAIN)
            return c;
        if (tries < 100)
            dill_yield();
        else
            dill_msleep(dill_now() + 1);
    }
}

static int ld_pair(int c[2])
{
    return dill_ipc_pair(c);
}

static int ld_send(int c, const void *buf, size_t len)
{
    return dill_bsend(c, buf, len, -1);
}

static int ld_recv(int c, void *buf, size_t len)
{
    return dill_brecv(c, buf, len, -1);
}

/* libdill's deadlines are milliseconds of CLOCK_MONOTONIC_COARSE, the same
   clock as CLOCK_MONOTONIC read at tick granularity: its now() may lag
   the precise clock by a tick, and the lateness measured shows that. */
static int ld_recv_timeout(int c, void *buf, size_t len, int ms,
                           int64_t *deadline_ns)
{
    int64_t deadline = dill_now() + ms;
    *deadline_ns = deadline * 1000000;
    return dill_brecv(c, buf, len, deadline);
}

static int ld_close(int c)
{
    return dill_hclose(c);
}

static int ld_chan_make(int c[2])
{
    return dill_chmake(c);
}

static int ld_chan_send(int c, const void *buf, size_t len)
{
    return dill_chsend(c, buf, len, -1);
}

static int ld_chan_recv(int c, void *buf, size_t len)
{
    return dill_chrecv(c, buf, len, -1);
}

static dill_coroutine void ld_coro_main(void (*fn)(void *), void *arg)
{
    fn(arg);
}

/* A coroutine handle is closed by cancelling the coroutine: to wait for
   one, libdill puts it in a bundle and waits on the bundle. */
static int ld_go(void (*fn)(void *), void *arg)
{
    int b = dill_bundle();
    if (b < 0)
        return -1;
    if (dill_bundle_go(b, ld_coro_main(fn, arg)) < 0) {
        dill_hclose(b);
        return -1;
    }
    return b;
}

static int ld_join(int b)
{
    int rc = dill_bundle_wait(b, -1);
    dill_hclose(b);
    return rc;
}

static const char *ld_version(void)
{
    static char v[192];
    snprintf(v, sizeof(v), "libdill, interface %d, in %s",
             DILL_VERSION_CURRENT, BENCH_LIBDILL_PREFIX);
    return v;
}

const struct backend libdill_backend = {
    .name = "libdill",
    .per_thread_handles = 1,
    .version = ld_version,
    .listen = ld_listen,
    .accept = ld_accept,
    .connect = ld_connect,
    .pair = ld_pair,
    .send = ld_send,
    .recv = ld_recv,
    .recv_timeout = ld_recv_timeout,
    .close = ld_close,
    .lclose = ld_close,
    .go = ld_go,
    .join = ld_join,
    .chan_make = ld_chan_make,
    .chan_send = ld_chan_send,
    .chan_recv = ld_chan_recv,
    .chan_close = ld_close,
};

#endif
