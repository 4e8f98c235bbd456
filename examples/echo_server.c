/*
 * echo_server -- a multithreaded echo server on a UNIX-domain socket.
 *
 *   echo_server [-n CONNS] [-s STOPFILE] [-T LIFETIME_MS] [-t IDLE_MS] [-v]
 *               PATH
 *
 * Listens on PATH, accepts connections in a loop and serves each one in its
 * own pthread. The protocol is a stream of messages, each a 4-byte
 * big-endian length followed by that many bytes; every message is sent back
 * unchanged. A client ends its connection with ipc_done() (or ipc_close()).
 *
 * The server stops accepting after CONNS connections (-n) and then waits
 * for those clients to finish. It stops at once when STOPFILE appears (-s),
 * after LIFETIME_MS (-T), or on SIGINT/SIGTERM: connections still open then
 * are closed from the main thread, and their handler threads, blocked in
 * brecv/bsend, get ECANCELED at once. That is tdill's cross-thread close.
 *
 * Every call has a deadline. A client that vanishes (ECONNRESET), stalls
 * (ETIMEDOUT) or breaks the protocol ends its own connection only.
 *
 * Exit status: 0 if every connection ended cleanly, 2 if some ended with an
 * error, 1 if the server could not run.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tdill.h>

#define MAX_MSG (16u * 1024 * 1024) /* longer messages end the connection */
#define TICK_MS 200 /* how often the accept loop looks at its stop rules */

/* One accepted connection and the thread that serves it. */
struct conn {
    int h;
    unsigned id;
    pid_t peer_pid;
    bool owned_by_main; /* main closed (or will close) h; see stop_all */
    struct conn *next;
};

/* The server's shared state. lock protects conns, active, and the totals. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when active drops to zero */
    struct conn *conns;
    unsigned active;
    unsigned served, failed;
    uint64_t msgs, bytes;
    int64_t idle_ms;
    bool verbose;
} srv = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .idle = PTHREAD_COND_INITIALIZER,
    .idle_ms = 10000,
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Echoes messages until the client finishes. Returns 0 on the client's
   clean end (EPIPE on a message boundary), else an errno value. */
static int echo_loop(struct conn *c, uint64_t *msgs, uint64_t *bytes)
{
    uint8_t hdr[4];
    uint8_t *buf = NULL;
    size_t cap = 0;
    int err = 0;
    for (;;) {
        /* 1. The length. EPIPE here means the client is done. */
        if (brecv(c->h, hdr, sizeof(hdr), now() + srv.idle_ms) < 0) {
            err = errno == EPIPE ? 0 : errno;
            break;
        }
        uint32_t len = get_be32(hdr);
        if (len > MAX_MSG) {
            err = EMSGSIZE;
            break;
        }
        if (len > cap) {
            uint8_t *p = realloc(buf, len);
            if (!p) {
                err = ENOMEM;
                break;
            }
            buf = p;
            cap = len;
        }
        /* 2. The payload; EPIPE now means the client quit mid-message. */
        if (brecv(c->h, buf, len, now() + srv.idle_ms) < 0) {
            err = errno;
            break;
        }
        /* 3. Header and payload go back as one message in two pieces. */
        struct iolist body = {buf, len, NULL, 0};
        struct iolist head = {hdr, sizeof(hdr), &body, 0};
        if (bsendl(c->h, &head, &body, now() + srv.idle_ms) < 0) {
            err = errno;
            break;
        }
        ++*msgs;
        *bytes += len;
    }
    free(buf);
    return err;
}

/* Takes c off the list. Returns true if the handle is still ours to close,
   false if the main thread has taken it over (and closes it itself). */
static bool unregister(struct conn *c)
{
    pthread_mutex_lock(&srv.lock);
    for (struct conn **pp = &srv.conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    bool ours = !c->owned_by_main;
    pthread_mutex_unlock(&srv.lock);
    return ours;
}

static void *serve(void *arg)
{
    struct conn *c = arg;
    uint64_t msgs = 0, bytes = 0;
    int err = echo_loop(c, &msgs, &bytes);
    /* An orderly close after a clean end: our half-close tells the client
       that every echo has been sent. After an error, just drop it. */
    if (!unregister(c)) {
        /* The main thread closed h under us: our call got ECANCELED, or
           EBADF if it came after the close. */
        if (err == EBADF)
            err = ECANCELED;
    } else {
        if (err == 0 && ipc_close(c->h, now() + 1000) < 0)
            err = errno;
        else if (err != 0)
            hclose(c->h);
    }
    pthread_mutex_lock(&srv.lock);
    srv.msgs += msgs;
    srv.bytes += bytes;
    if (err && err != ECANCELED)
        srv.failed++;
    if (srv.verbose || (err && err != ECANCELED))
        printf("echo_server: connection %u (pid %ld): %" PRIu64
               " messages, %" PRIu64 " bytes, %s\n",
               c->id, (long)c->peer_pid, msgs, bytes,
               err == 0           ? "closed cleanly"
               : err == ECANCELED ? "closed by server shutdown"
                                  : strerror(err));
    if (--srv.active == 0)
        pthread_cond_signal(&srv.idle);
    pthread_mutex_unlock(&srv.lock);
    free(c);
    return NULL;
}

/* Starts a detached thread for a freshly accepted connection h. */
static int start_conn(int h, unsigned id)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return ENOMEM;
    c->h = h;
    c->id = id;
    c->peer_pid = -1;
    ipc_peercred(h, &c->peer_pid, NULL, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&srv.lock);
    c->next = srv.conns;
    srv.conns = c;
    srv.active++;
    srv.served++;
    pthread_t t;
    int rc = pthread_create(&t, &attr, serve, c);
    if (rc) {
        srv.conns = c->next;
        srv.active--;
        srv.served--;
    }
    pthread_mutex_unlock(&srv.lock);
    pthread_attr_destroy(&attr);
    if (rc)
        free(c);
    return rc;
}

/* Closes every open connection from this thread. Their handlers, blocked in
   brecv or bsend, return ECANCELED at once; hclose returns only when they no
   longer touch the handle. Handles are collected under the lock and closed
   outside it, so a handler never waits for us while we wait for it. */
static void stop_all(void)
{
    pthread_mutex_lock(&srv.lock);
    unsigned n = 0;
    for (struct conn *c = srv.conns; c; c = c->next)
        n++;
    int *hs = calloc(n ? n : 1, sizeof(int));
    n = 0;
    for (struct conn *c = srv.conns; c && hs; c = c->next) {
        c->owned_by_main = true;
        hs[n++] = c->h;
    }
    pthread_mutex_unlock(&srv.lock);
    for (unsigned i = 0; i < n; i++)
        hclose(hs[i]);
    free(hs);
}

/* Why the accept loop ended; NULL while it should go on. */
static const char *stop_reason(const char *stopfile, int64_t end)
{
    if (got_signal)
        return "signal";
    if (stopfile && access(stopfile, F_OK) == 0)
        return "stop file";
    if (end >= 0 && now() >= end)
        return "lifetime over";
    return NULL;
}

/* Waits for the handler threads. If a stop rule fires meanwhile (or
   cancel is set), the connections still open are closed from here. */
static void wait_all(const char *stopfile, int64_t end, bool cancel)
{
    pthread_mutex_lock(&srv.lock);
    while (srv.active > 0) {
        if (cancel || stop_reason(stopfile, end)) {
            pthread_mutex_unlock(&srv.lock);
            stop_all();
            pthread_mutex_lock(&srv.lock);
            while (srv.active > 0)
                pthread_cond_wait(&srv.idle, &srv.lock);
            break;
        }
        /* The condvar uses the wall clock here; this is only a polling
           interval, so a clock jump costs at most one late look. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv.idle, &srv.lock, &ts);
    }
    pthread_mutex_unlock(&srv.lock);
}

/* Accepts until a stop rule fires. Returns the reason, or NULL on a fatal
   error. */
static const char *accept_loop(int ls, unsigned max_conns,
                               const char *stopfile, int64_t end)
{
    const char *why;
    unsigned id = 0;
    while (!(why = stop_reason(stopfile, end))) {
        if (max_conns && id == max_conns)
            return "connection limit";
        /* A short deadline keeps the stop rules responsive. */
        int h = ipc_accept(ls, now() + TICK_MS);
        if (h < 0) {
            if (errno == ETIMEDOUT)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                perror("echo_server: ipc_accept (retrying)");
                usleep(100 * 1000);
                continue;
            }
            perror("echo_server: ipc_accept");
            return NULL;
        }
        int rc = start_conn(h, ++id);
        if (rc) {
            fprintf(stderr, "echo_server: no thread for connection: %s\n",
                    strerror(rc));
            hclose(h);
        }
    }
    return why;
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_server [-n CONNS] [-s STOPFILE] "
                    "[-T LIFETIME_MS] [-t IDLE_MS] [-v] PATH\n");
    exit(1);
}

int main(int argc, char *argv[])
{
    unsigned max_conns = 0;
    const char *stopfile = NULL;
    int64_t lifetime = -1;
    int opt;
    while ((opt = getopt(argc, argv, "n:s:T:t:v")) != -1) {
        switch (opt) {
        case 'n':
            max_conns = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 's':
            stopfile = optarg;
            break;
        case 'T':
            lifetime = strtoll(optarg, NULL, 10);
            break;
        case 't':
            srv.idle_ms = strtoll(optarg, NULL, 10);
            break;
        case 'v':
            srv.verbose = true;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1)
        usage();
    const char *path = argv[optind];

    /* 1. Signals only set a flag; tdill never reports EINTR, so the accept
       loop notices the flag at its next tick. Without SA_RESTART on
       purpose: nothing here depends on it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* 2. Listen; the socket file is created owner-only (tdill extension). */
    int ls = ipc_listen_mode(path, 64, 0600);
    if (ls < 0) {
        fprintf(stderr, "echo_server: ipc_listen_mode(%s): %s%s\n", path,
                strerror(errno),
                errno == EADDRINUSE ? " (remove the stale socket file)" : "");
        return 1;
    }
    printf("echo_server: listening on %s (pid %ld)\n", path, (long)getpid());
    fflush(stdout);

    /* 3. Serve, then stop: after -n, let the last clients finish; for any
       other reason, cancel whatever is still open. */
    int64_t end = lifetime >= 0 ? now() + lifetime : -1;
    const char *why = accept_loop(ls, max_conns, stopfile, end);
    hclose(ls);
    unlink(path); /* tdill never unlinks the socket file; we made it */
    wait_all(stopfile, end, !why || strcmp(why, "connection limit") != 0);

    printf("echo_server: stopped (%s): %u connections, %" PRIu64
           " messages, %" PRIu64 " bytes echoed, %u failed\n",
           why ? why : "accept error", srv.served, srv.msgs, srv.bytes,
           srv.failed);
    if (!why)
        return 1;
    return srv.failed ? 2 : 0;
}
