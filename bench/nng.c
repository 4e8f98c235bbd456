/*
 * nng backend: nng_pair0 sockets over ipc://, nng_send / nng_recv.
 *
 * nng is message-oriented and has no accept(): a pair0 socket that listens
 * takes one peer (pipe) at a time and turns others away; a dialer whose
 * connection was turned away dials again. The interface maps onto it so:
 *   - listen: a pair0 socket listening on ipc://path;
 *   - accept: waits until a new peer is attached to that socket, greets it
 *     with an empty message and returns an id standing for "the listening
 *     socket's current peer";
 *   - connect: a new pair0 socket that dials and waits for the greeting
 *     (so a connection turned away is not mistaken for an accepted one);
 *   - send/recv: one message per call, of the caller's size; sockets queue
 *     up to NNG_QUEUE messages each way (NNG_OPT_SENDBUF/RECVBUF).
 * Closing: nng_close() drops messages not yet written out, where close(2)
 * on a stream socket would still deliver them. So a connection whose last
 * operation was a send is closed once the peer has said it got everything:
 * an empty acknowledgement message, which closing a connection whose last
 * operation was a receive sends, or the peer hanging up (5 s at most).
 * The dialing side always hangs up first: a dialer whose peer hangs up
 * dials again at once, which would give the listener a ghost peer.
 * nng has no rendezvous channel: chan_* stay NULL, and the channel
 * ping-pong rows show "-" for nng.
 *
 * Built only when nng's header was found (bench.mk defines HAVE_NNG).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#ifndef HAVE_NNG

const struct backend nng_backend = {
    .name = "nng",
    .missing = "nng was not found when the benchmark was built "
               "(apt-get install libnng-dev, then rebuild)",
};

#else

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

/* Messages nng may queue per socket and direction. */
#define NNG_QUEUE 128
/* Pipes a listener remembers as gone. */
#define GONE_RING 64

enum kind { K_SOCK, K_LISTENER, K_ACCEPTED };

struct nconn {
    nng_socket sock;
    enum kind kind;
    struct nconn *lst;  /* K_ACCEPTED: the listening socket's entry */
    nng_pipe pipe;      /* K_ACCEPTED: pipe of the last message received */
    int unflushed;      /* the last operation was a send */
    /* Pipe events, guarded by ev_mu. */
    int added, removed, accepted;
    uint32_t gone[GONE_RING]; /* ids of the last pipes removed */
};

/* One lock and condition for the (rare) waits on pipe events. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;

/* Connection ids index this table. Entries are never freed: nng may still
   run a pipe callback on one after nng_close (the process is short-lived). */
#define MAX_IDS (1 << 18)
static struct nconn *tab[MAX_IDS];
static int free_ids[MAX_IDS], nfree, next_id;
static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;

static int put(struct nconn *c)
{
    pthread_mutex_lock(&tab_mu);
    int id = nfree ? free_ids[--nfree] : next_id < MAX_IDS ? next_id++ : -1;
    if (id >= 0)
        tab[id] = c;
    pthread_mutex_unlock(&tab_mu);
    if (id < 0)
        errno = EMFILE;
    return id;
}

static void drop(int id)
{
    pthread_mutex_lock(&tab_mu);
    tab[id] = NULL;
    free_ids[nfree++] = id;
    pthread_mutex_unlock(&tab_mu);
}

static struct nconn *get(int id)
{
    struct nconn *c = id >= 0 && id < MAX_IDS ? tab[id] : NULL;
    if (!c)
        errno = EBADF;
    return c;
}

static int fail(const char *what, int rv)
{
    switch (rv) {
    case NNG_ETIMEDOUT:
        errno = ETIMEDOUT;
        return -1; /* expected in the deadline workload: no message */
    case NNG_ENOMEM:
        errno = ENOMEM;
        break;
    case NNG_ECONNREFUSED:
        errno = ECONNREFUSED;
        break;
    case NNG_ECLOSED:
        errno = EBADF;
        break;
    default:
        errno = EIO;
    }
    fprintf(stderr, "nng: %s: %s\n", what, nng_strerror(rv));
    return -1;
}

/* Pipe events. A pipe the listener turned away is removed without having
   been added: only added ones count as gone. */
static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    struct nconn *c = arg;
    pthread_mutex_lock(&ev_mu);
    if (ev == NNG_PIPE_EV_ADD_POST)
        c->added++;
    else if (ev == NNG_PIPE_EV_REM_POST)
        c->gone[c->removed++ % GONE_RING] = nng_pipe_id(p);
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Waits until *counter >= target; 0, or -1 after timeout_s seconds. */
static int wait_count(const int *counter, int target, int timeout_s)
{
    struct timespec ts;
    deadline_in(&ts, timeout_s * 1000);
    int rc = 0;
    pthread_mutex_lock(&ev_mu);
    while (*counter < target && rc == 0)
        rc = pthread_cond_timedwait(&ev_cond, &ev_mu, &ts);
    int ok = *counter >= target;
    pthread_mutex_unlock(&ev_mu);
    return ok ? 0 : -1;
}

static int is_gone(const struct nconn *l, uint32_t pipe)
{
    for (int i = 0; i < GONE_RING; i++)
        if (l->gone[i] == pipe)
            return 1;
    return 0;
}

static struct nconn *open_sock(enum kind kind)
{
    struct nconn *c = calloc(1, sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->kind = kind;
    int rv = nng_pair0_open(&c->sock);
    if (rv) {
        free(c);
        fail("nng_pair0_open", rv);
        return NULL;
    }
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, on_pipe, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, on_pipe, c);
    /* Queues of messages in user space, as a throughput-minded user would
       set them: with nng's default, 0, small messages go about 5 times
       slower here, 64 KiB ones up to twice as fast. BENCH_NNG_QUEUE in the
       environment overrides. */
    const char *env = getenv("BENCH_NNG_QUEUE");
    int q = env ? atoi(env) : NNG_QUEUE;
    nng_socket_set_int(c->sock, NNG_OPT_SENDBUF, q);
    nng_socket_set_int(c->sock, NNG_OPT_RECVBUF, q);
    return c;
}

static void url_of(char *url, size_t n, const char *path)
{
    snprintf(url, n, "ipc://%s", path);
}

static int n_listen(const char *path, int backlog)
{
    (void)backlog;
    char url[256];
    url_of(url, sizeof(url), path);
    struct nconn *c = open_sock(K_LISTENER);
    if (!c)
        return -1;
    int rv = nng_listen(c->sock, url, NULL, 0);
    if (rv) {
        nng_close(c->sock);
        return fail("nng_listen", rv);
    }
    int id = put(c);
    if (id < 0)
        nng_close(c->sock);
    return id;
}

static int n_accept(int ls)
{
    struct nconn *l = get(ls);
    if (!l)
        return -1;
    pthread_mutex_lock(&ev_mu);
    while (l->added <= l->accepted)
        pthread_cond_wait(&ev_cond, &ev_mu);
    l->accepted++;
    pthread_mutex_unlock(&ev_mu);
    /* The greeting: goes to the one peer the socket has. */
    int rv = nng_send(l->sock, "", 0, 0);
    if (rv)
        return fail("nng_send (greeting)", rv);
    struct nconn *c = calloc(1, sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    c->kind = K_ACCEPTED;
    c->sock = l->sock;
    c->lst = l;
    return put(c);
}

/* Receives one empty message: a greeting or an acknowledgement. */
static int recv_empty(struct nconn *c, int timeout_ms)
{
    nng_msg *m;
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    int rv = nng_recvmsg(c->sock, &m, 0);
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, NNG_DURATION_INFINITE);
    if (rv == 0) {
        if (nng_msg_len(m) != 0)
            fprintf(stderr, "nng: unexpected %zu-byte message\n",
                    nng_msg_len(m));
        nng_msg_free(m);
    }
    return rv;
}

static int n_connect(const char *path)
{
    char url[256];
    url_of(url, sizeof(url), path);
    struct nconn *c = open_sock(K_SOCK);
    if (!c)
        return -1;
    /* Turned away (see above), the dialer dials again after a random part
       of a back-off that starts at NNG_OPT_RECONNMINT (default 100 ms):
       keep that short, as a connection-heavy user would. */
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 1);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 10);
    int rv = nng_dial(c->sock, url, NULL, 0);
    if (rv == 0)
        rv = recv_empty(c, 30000);
    if (rv) {
        nng_close(c->sock);
        return fail("nng_dial", rv);
    }
    int id = put(c);
    if (id < 0)
        nng_close(c->sock);
    return id;
}

/* Two pair0 sockets joined over ipc:// at a path of their own. */
static int n_pair(int s[2])
{
    static _Atomic unsigned seq;
    char url[256];
    snprintf(url, sizeof(url), "ipc:///tmp/tdill-bench-nng-pair.%d.%u",
             (int)getpid(), seq++);
    struct nconn *a = open_sock(K_SOCK), *b = open_sock(K_SOCK);
    if (!a || !b)
        return -1;
    int rv = nng_listen(a->sock, url, NULL, 0);
    if (rv)
        return fail("nng_listen", rv);
    rv = nng_dial(b->sock, url, NULL, 0);
    if (rv)
        return fail("nng_dial", rv);
    /* The listening side has its pipe too before either is used. */
    if (wait_count(&a->added, 1, 5) < 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    /* The socket file is not needed once connected. */
    unlink(url + strlen("ipc://"));
    s[0] = put(a);
    s[1] = put(b);
    return s[0] < 0 || s[1] < 0 ? -1 : 0;
}

static int n_send(int id, const void *buf, size_t len)
{
    struct nconn *c = get(id);
    if (!c)
        return -1;
    int rv = nng_send(c->sock, (void *)buf, len, 0);
    if (rv)
        return fail("nng_send", rv);
    c->unflushed = 1;
    return 0;
}

static int recv_msg(struct nconn *c, void *buf, size_t len)
{
    nng_msg *m;
    int rv = nng_recvmsg(c->sock, &m, 0);
    if (rv)
        return fail("nng_recvmsg", rv);
    if (nng_msg_len(m) != len) {
        fprintf(stderr, "nng: message of %zu bytes, expected %zu\n",
                nng_msg_len(m), len);
        nng_msg_free(m);
        errno = EPROTO;
        return -1;
    }
    if (buf)
        memcpy(buf, nng_msg_body(m), len);
    if (c->kind == K_ACCEPTED)
        c->pipe = nng_msg_get_pipe(m);
    nng_msg_free(m);
    c->unflushed = 0;
    return 0;
}

static int n_recv(int id, void *buf, size_t len)
{
    struct nconn *c = get(id);
    return c ? recv_msg(c, buf, len) : -1;
}

/* nng deadlines: NNG_OPT_RECVTIMEO, relative, in milliseconds. */
static int n_recv_timeout(int id, void *buf, size_t len, int ms,
                          int64_t *deadline_ns)
{
    struct nconn *c = get(id);
    if (!c)
        return -1;
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, ms);
    *deadline_ns = now_ns() + (int64_t)ms * 1000000;
    int rc = recv_msg(c, buf, len);
    int err = errno;
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, NNG_DURATION_INFINITE);
    errno = err;
    return rc;
}

static void complain(void)
{
    fprintf(stderr, "nng: no word from the peer in 5 s; closing anyway\n");
}

static int n_close(int id)
{
    struct nconn *c = get(id);
    if (!c)
        return -1;
    drop(id);
    if (c->kind == K_ACCEPTED) {
        struct nconn *l = c->lst;
        if (c->unflushed) {
            /* Our last message is read once the peer hangs up. */
            struct timespec ts;
            deadline_in(&ts, 5000);
            uint32_t pipe = nng_pipe_id(c->pipe);
            int rc = 0;
            pthread_mutex_lock(&ev_mu);
            while (!is_gone(l, pipe) && rc == 0)
                rc = pthread_cond_timedwait(&ev_cond, &ev_mu, &ts);
            pthread_mutex_unlock(&ev_mu);
            if (rc)
                complain();
        } else {
            /* Acknowledge: the peer may hang up now. */
            nng_send(c->sock, "", 0, 0);
        }
        free(c);
        return 0;
    }
    if (c->unflushed) {
        /* Wait for the acknowledgement, or for the peer to hang up. */
        int64_t give_up = now_ns() + 5000000000LL;
        while (recv_empty(c, 10) == NNG_ETIMEDOUT) {
            pthread_mutex_lock(&ev_mu);
            int gone = c->removed >= c->added;
            pthread_mutex_unlock(&ev_mu);
            if (gone)
                break;
            if (now_ns() > give_up) {
                complain();
                break;
            }
        }
    }
    int rv = nng_close(c->sock);
    return rv ? fail("nng_close", rv) : 0;
}

static const char *n_version(void)
{
    static char v[32];
    snprintf(v, sizeof(v), "nng %s", nng_version());
    return v;
}

const struct backend nng_backend = {
    .name = "nng",
    .version = n_version,
    .one_peer_per_addr = 1,
    .listen = n_listen,
    .accept = n_accept,
    .connect = n_connect,
    .pair = n_pair,
    .send = n_send,
    .recv = n_recv,
    .recv_timeout = n_recv_timeout,
    .close = n_close,
    .lclose = n_close,
};

#endif
