/*
 * tdill_server -- the legacy thread-per-client server, ported to tdill.
 *
 *   tdill_server PATH
 *
 * Listens on the UNIX-domain socket PATH and serves each client in its own
 * pthread. A request is a 4-byte big-endian length followed by that many
 * bytes; the reply has the same framing and carries the bytes in upper
 * case. A client ends its session by closing its end of the connection.
 * SIGINT or SIGTERM stops the server: it stops accepting, cancels every
 * worker and waits for them.
 *
 * This is the "after" half of a porting example: blocking_server.c with
 * its sockets replaced by tdill handles. Every call now has a deadline, and
 * a client that stalls or vanishes ends only its own session.
 * `diff -u blocking_server.c tdill_server.c` shows the conversion and
 * README.md in this directory walks through it.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdill.h>

#define MAX_MSG (64u * 1024) /* longer requests end the session */
#define IDLE_MS 30000 /* how long a client may take to start a request */
#define REQUEST_MS 5000 /* to send the rest of it and read the reply */
#define TICK_MS 200 /* how often the accept loop looks at the stop flag */

/* One client and the thread that serves it. */
struct client {
    int h; /* -1 once the main thread has closed it */
    unsigned id;
    struct client *next;
};

/* lock protects clients and active. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER; /* active hit 0 */
static struct client *clients;
static unsigned active;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Answers requests until the client finishes. Returns 0 when the client
   closed its end between two requests, else an errno value. */
static int serve_requests(int h, unsigned *count)
{
    uint8_t hdr[4];
    char *buf = malloc(MAX_MSG);
    if (!buf)
        return ENOMEM;
    int err = 0;
    for (;;) {
        /* 1. The length. EPIPE here means the client is done. */
        if (brecv(h, hdr, sizeof(hdr), now() + IDLE_MS) < 0) {
            err = errno == EPIPE ? 0 : errno;
            break;
        }
        /* One deadline for the rest of the request and the whole reply. */
        int64_t deadline = now() + REQUEST_MS;
        uint32_t len = get_be32(hdr);
        if (len > MAX_MSG) {
            err = EMSGSIZE;
            break;
        }
        /* 2. The payload. */
        if (brecv(h, buf, len, deadline) < 0) {
            err = errno;
            break;
        }
        for (uint32_t i = 0; i < len; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        /* 3. The reply: the same length, then the bytes. */
        if (bsend(h, hdr, sizeof(hdr), deadline) < 0 ||
            bsend(h, buf, len, deadline) < 0) {
            err = errno;
            break;
        }
        ++*count;
    }
    free(buf);
    return err;
}

static void *worker(void *arg)
{
    struct client *c = arg;
    unsigned count = 0;
    int err = serve_requests(c->h, &count);
    pthread_mutex_lock(&lock);
    for (struct client **pp = &clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    int h = c->h;
    if (h < 0) /* closed by the main thread at shutdown */
        err = ECANCELED;
    printf("client %u: %u requests, %s\n", c->id, count,
           err ? strerror(err) : "done");
    fflush(stdout);
    if (--active == 0)
        pthread_cond_signal(&idle);
    pthread_mutex_unlock(&lock);
    if (h >= 0)
        hclose(h);
    free(c);
    return NULL;
}

/* Starts a detached worker thread for the accepted connection h. */
static int start_client(int h, unsigned id)
{
    struct client *c = malloc(sizeof(*c));
    if (!c)
        return ENOMEM;
    c->h = h;
    c->id = id;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&lock);
    c->next = clients;
    clients = c;
    active++;
    pthread_t t;
    int rc = pthread_create(&t, &attr, worker, c);
    if (rc) {
        clients = c->next;
        active--;
    }
    pthread_mutex_unlock(&lock);
    pthread_attr_destroy(&attr);
    if (rc)
        free(c);
    return rc;
}

int main(int argc, char *argv[])
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH\n", argv[0]);
        return 1;
    }
    const char *path = argv[1];

    /* The handler only sets the flag; the accept loop looks at it every
       TICK_MS, whichever thread the signal interrupted. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    unlink(path); /* a socket file left by an earlier run */
    int ls = ipc_listen(path, 64);
    if (ls < 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", argv[0], path,
                strerror(errno));
        return 1;
    }
    printf("listening on %s\n", path);
    fflush(stdout);

    unsigned id = 0;
    while (!stop) {
        int h = ipc_accept(ls, now() + TICK_MS);
        if (h < 0) {
            if (errno == ETIMEDOUT)
                continue;
            perror("ipc_accept");
            break;
        }
        int rc = start_client(h, ++id);
        if (rc) {
            fprintf(stderr, "no thread for client %u: %s\n", id,
                    strerror(rc));
            hclose(h);
        }
    }
    hclose(ls);
    unlink(path);

    /* Cancel the workers still blocked in brecv() or bsend(): closing a
       handle from this thread makes their calls fail with ECANCELED at
       once, and hclose() returns only when they no longer touch it. A
       worker between two calls gets EBADF from its next one. */
    pthread_mutex_lock(&lock);
    for (struct client *c = clients; c; c = c->next) {
        hclose(c->h);
        c->h = -1;
    }
    while (active > 0)
        pthread_cond_wait(&idle, &lock);
    pthread_mutex_unlock(&lock);
    printf("stopped after %u clients\n", id);
    return 0;
}
