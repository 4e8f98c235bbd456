/*
 * blocking_server -- a legacy thread-per-client server, before tdill.
 *
 *   blocking_server PATH
 *
 * Listens on the UNIX-domain socket PATH and serves each client in its own
 * pthread. A request is a 4-byte big-endian length followed by that many
 * bytes; the reply has the same framing and carries the bytes in upper
 * case. A client ends its session by closing its end of the connection.
 * SIGINT or SIGTERM stops the server: it stops accepting, wakes every
 * worker and waits for them.
 *
 * This is the "before" half of a porting example: written the classic way,
 * with blocking system calls and no timeouts. tdill_server.c is the same
 * program converted to tdill; `diff -u blocking_server.c tdill_server.c`
 * shows the conversion and README.md in this directory walks through it.
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

#include <sys/socket.h>
#include <sys/un.h>

#define MAX_MSG (64u * 1024) /* longer requests end the session */

/* One client and the thread that serves it. */
struct client {
    int fd;
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

/* Reads exactly len bytes: read() may return fewer than asked for, or be
   interrupted by a signal. End of file is reported as EPIPE. */
static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes all len bytes: write() may take fewer than offered. */
static int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Answers requests until the client finishes. Returns 0 when the client
   closed its end between two requests, else an errno value. */
static int serve_requests(int fd, unsigned *count)
{
    uint8_t hdr[4];
    char *buf = malloc(MAX_MSG);
    if (!buf)
        return ENOMEM;
    int err = 0;
    for (;;) {
        /* 1. The length. EPIPE here means the client is done. */
        if (read_full(fd, hdr, sizeof(hdr)) < 0) {
            err = errno == EPIPE ? 0 : errno;
            break;
        }
        uint32_t len = get_be32(hdr);
        if (len > MAX_MSG) {
            err = EMSGSIZE;
            break;
        }
        /* 2. The payload. */
        if (read_full(fd, buf, len) < 0) {
            err = errno;
            break;
        }
        for (uint32_t i = 0; i < len; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        /* 3. The reply: the same length, then the bytes. */
        if (write_full(fd, hdr, sizeof(hdr)) < 0 ||
            write_full(fd, buf, len) < 0) {
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
    int err = serve_requests(c->fd, &count);
    pthread_mutex_lock(&lock);
    for (struct client **pp = &clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    printf("client %u: %u requests, %s\n", c->id, count,
           err ? strerror(err) : "done");
    fflush(stdout);
    if (--active == 0)
        pthread_cond_signal(&idle);
    pthread_mutex_unlock(&lock);
    close(c->fd);
    free(c);
    return NULL;
}

/* Starts a detached worker thread for the accepted socket fd. */
static int start_client(int fd, unsigned id)
{
    struct client *c = malloc(sizeof(*c));
    if (!c)
        return ENOMEM;
    c->fd = fd;
    c->id = id;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The worker inherits a mask that blocks SIGINT and SIGTERM, so that
       they reach the main thread and interrupt its accept(). */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
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
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc)
        free(c);
    return rc;
}

/* socket() + bind() + listen() on a filesystem path. */
static int listen_unix(const char *path, int backlog)
{
    struct sockaddr_un addr;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ls < 0)
        return -1;
    if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(ls, backlog) < 0) {
        int e = errno;
        close(ls);
        errno = e;
        return -1;
    }
    return ls;
}

int main(int argc, char *argv[])
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH\n", argv[0]);
        return 1;
    }
    const char *path = argv[1];

    /* A write to a client that has gone must fail with EPIPE, not kill the
       whole server with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* No SA_RESTART: the signal must interrupt accept() with EINTR. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    unlink(path); /* a socket file left by an earlier run */
    int ls = listen_unix(path, 64);
    if (ls < 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", argv[0], path,
                strerror(errno));
        return 1;
    }
    printf("listening on %s\n", path);
    fflush(stdout);

    unsigned id = 0;
    while (!stop) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            break;
        }
        int rc = start_client(fd, ++id);
        if (rc) {
            fprintf(stderr, "no thread for client %u: %s\n", id,
                    strerror(rc));
            close(fd);
        }
    }
    close(ls);
    unlink(path);

    /* Wake the workers still blocked in read() or write(). close() from
       this thread would wake none of them, and would let the next socket
       reuse a descriptor number they still hold; shutdown() makes their
       reads see end of file and their writes fail with EPIPE. */
    pthread_mutex_lock(&lock);
    for (struct client *c = clients; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    while (active > 0)
        pthread_cond_wait(&idle, &lock);
    pthread_mutex_unlock(&lock);
    printf("stopped after %u clients\n", id);
    return 0;
}
