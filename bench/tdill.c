/*
 * tdill backend: the library under test, through its public API only,
 * exactly as a libdill-style program would call it: connections over
 * ipc_*, bsend/brecv and hclose; channels over chmake/chsend/chrecv.
 */
#include <errno.h>
#include <stdio.h>

#include "bench.h"
#include "tdill.h"
#ifdef BENCH_CORO
#include "tdill_coro.h"
#endif

static int td_listen(const char *path, int backlog)
{
    return ipc_listen(path, backlog);
}

static int td_accept(int ls)
{
    return ipc_accept(ls, -1);
}

static int td_connect(const char *path)
{
    return ipc_connect(path, -1);
}

static int td_pair(int c[2])
{
    return ipc_pair(c);
}

static int td_send(int c, const void *buf, size_t len)
{
    return bsend(c, buf, len, -1);
}

static int td_recv(int c, void *buf, size_t len)
{
    return brecv(c, buf, len, -1);
}

/* tdill deadlines are milliseconds on CLOCK_MONOTONIC: deadline d means
   the instant d * 1,000,000 ns on that clock. */
static int td_recv_timeout(int c, void *buf, size_t len, int ms,
                           int64_t *deadline_ns)
{
    int64_t deadline = now() + ms;
    *deadline_ns = deadline * 1000000;
    return brecv(c, buf, len, deadline);
}

/* hclose is the counterpart of close(2): it does not wait for the peer.
   Data a successful bsend handed to the kernel is still delivered. */
static int td_close(int c)
{
    return hclose(c);
}

/* Channels: chmake's two handles are the two ends; no deadline. */
static int td_chan_make(int c[2])
{
    return chmake(c);
}

static int td_chan_send(int c, const void *buf, size_t len)
{
    return chsend(c, buf, len, -1);
}

static int td_chan_recv(int c, void *buf, size_t len)
{
    return chrecv(c, buf, len, -1);
}

#ifdef BENCH_CORO
static coroutine void td_coro_main(void (*fn)(void *), void *arg)
{
    fn(arg);
}

static int td_go(void (*fn)(void *), void *arg)
{
    return go(td_coro_main(fn, arg));
}

static int td_join(int h)
{
    int rc = bundle_wait(h, -1);
    hclose(h);
    return rc;
}
#else
#define td_go NULL
#define td_join NULL
#endif

static const char *td_version(void)
{
    static char v[32];
    snprintf(v, sizeof(v), "tdill %d.%d.%d (header)", TDILL_VERSION / 10000,
             TDILL_VERSION / 100 % 100, TDILL_VERSION % 100);
    return v;
}

const struct backend tdill_backend = {
    .name = "tdill",
    .version = td_version,
    .listen = td_listen,
    .accept = td_accept,
    .connect = td_connect,
    .pair = td_pair,
    .send = td_send,
    .recv = td_recv,
    .recv_timeout = td_recv_timeout,
    .close = td_close,
    .lclose = td_close,
    .go = td_go,
    .join = td_join,
    .chan_make = td_chan_make,
    .chan_send = td_chan_send,
    .chan_recv = td_chan_recv,
    .chan_close = td_close,
};
