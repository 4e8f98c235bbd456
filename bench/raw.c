/*
 * raw backend: plain blocking AF_UNIX stream sockets, read/write loops.
 * The physical limit the other backends are measured against. Its channel
 * is the plain C baseline for tdill's: a mutex and a condition variable
 * handing one value from one thread to another.
 *
 * raw-mt (opt-in, --backends raw-mt): the same, in processes that each have
 * one more, idle, thread. Linux looks a descriptor up without touching the
 * file's reference count only while no other thread shares the descriptor
 * table; every tdill process has its I/O threads, so this is the baseline
 * for what a multithreaded process pays on every system call anyway.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "side.h"

/* A new stream socket, and in *sa the address of path. */
static int unix_socket(const char *path, struct sockaddr_un *sa)
{
    if (strlen(path) >= sizeof(sa->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    strcpy(sa->sun_path, path);
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* Gives up fd after a failed call: the caller sees that call's errno, not
   close's. */
static int close_failed(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

static int raw_listen(const char *path, int backlog)
{
    struct sockaddr_un sa;
    int fd = unix_socket(path, &sa);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, backlog) < 0)
        return close_failed(fd);
    return fd;
}

static int raw_accept(int ls)
{
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0 || errno != EINTR)
            return fd;
    }
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd = unix_socket(path, &sa);
    if (fd < 0)
        return -1;
    /* A blocking connect waits while the listener's backlog is full. */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        if (errno != EINTR)
            return close_failed(fd);
    return fd;
}

static int raw_pair(int c[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c);
}

static int raw_send(int c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(c, p, len, MSG_NOSIGNAL);
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

static int raw_recv(int c, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(c, p, len);
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

/* The comparison point for tdill's deadlines: poll() with a timeout. */
static int raw_recv_timeout(int c, void *buf, size_t len, int ms,
                            int64_t *deadline_ns)
{
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    *deadline_ns = deadline;
    char *p = buf;
    while (len) {
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        /* Round up: poll never returns before its timeout. */
        int rc = poll(&pfd, 1, (int)((left + 999999) / 1000000));
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        ssize_t n = read(c, p, len);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

static int raw_close(int c)
{
    return close(c);
}

/*
 * Channels, the way a C programmer would write one: per direction a slot
 * guarded by a mutex, and a condition variable that every change of the
 * slot is broadcast on. A sender waits until the slot is free, leaves a
 * pointer to its value there and waits until a receiver has taken it; a
 * receiver waits until a value is there, copies it out and frees the slot.
 * Nothing is buffered: like tdill's chsend, a send returns once the value
 * is in the receiver's buffer. An end's id is 2 * channel + end. Closing
 * an end while a call waits on the channel is not supported (the benchmark
 * closes only idle channels).
 */
struct slot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const void *val; /* the waiting sender's value; NULL: slot free */
    size_t len;
    unsigned long sent, taken; /* values put in the slot, taken from it */
};

struct rchan {
    struct slot dir[2]; /* dir[e]: from end e to end 1 - e */
    atomic_int open;    /* ends not closed yet */
};

#define MAX_CHANS 4096
static struct rchan *chans[MAX_CHANS];
static atomic_int nchans;

static struct rchan *chan_of(int c)
{
    struct rchan *ch = c >= 0 && c < 2 * MAX_CHANS ? chans[c / 2] : NULL;
    if (!ch)
        errno = EBADF;
    return ch;
}

static int raw_chan_make(int c[2])
{
    int i = atomic_fetch_add(&nchans, 1);
    if (i >= MAX_CHANS) {
        errno = EMFILE;
        return -1;
    }
    struct rchan *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return -1;
    for (int d = 0; d < 2; d++) {
        pthread_mutex_init(&ch->dir[d].mu, NULL);
        pthread_cond_init(&ch->dir[d].cv, NULL);
    }
    atomic_init(&ch->open, 2);
    chans[i] = ch;
    c[0] = 2 * i;
    c[1] = 2 * i + 1;
    return 0;
}

static int raw_chan_send(int c, const void *buf, size_t len)
{
    struct rchan *ch = chan_of(c);
    if (!ch)
        return -1;
    struct slot *s = &ch->dir[c % 2];
    pthread_mutex_lock(&s->mu);
    while (s->val)
        pthread_cond_wait(&s->cv, &s->mu);
    s->val = buf ? buf : "";
    s->len = len;
    unsigned long mine = ++s->sent;
    pthread_cond_broadcast(&s->cv);
    while (s->taken < mine)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int raw_chan_recv(int c, void *buf, size_t len)
{
    struct rchan *ch = chan_of(c);
    if (!ch)
        return -1;
    struct slot *s = &ch->dir[1 - c % 2];
    pthread_mutex_lock(&s->mu);
    while (!s->val)
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->len != len) {
        pthread_mutex_unlock(&s->mu);
        errno = EMSGSIZE;
        return -1;
    }
    memcpy(buf, s->val, len);
    s->val = NULL;
    s->taken++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* The second close frees the channel. */
static int raw_chan_close(int c)
{
    struct rchan *ch = chan_of(c);
    if (!ch)
        return -1;
    if (atomic_fetch_sub(&ch->open, 1) == 1) {
        chans[c / 2] = NULL;
        for (int d = 0; d < 2; d++) {
            pthread_mutex_destroy(&ch->dir[d].mu);
            pthread_cond_destroy(&ch->dir[d].cv);
        }
        free(ch);
    }
    return 0;
}

/* What raw and raw-mt share: all but opening a socket. */
#define RAW_CALLS                                                           \
    .send = raw_send, .recv = raw_recv, .recv_timeout = raw_recv_timeout,   \
    .close = raw_close, .lclose = raw_close, .chan_make = raw_chan_make,    \
    .chan_send = raw_chan_send, .chan_recv = raw_chan_recv,                 \
    .chan_close = raw_chan_close

const struct backend raw_backend = {
    .name = "raw",
    .listen = raw_listen,
    .accept = raw_accept,
    .connect = raw_connect,
    .pair = raw_pair,
    RAW_CALLS,
};

/* raw-mt: every call that opens a socket first makes sure this process has
   its idle thread (a fork()ed server process starts without one). */
static void *idle_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void go_multithreaded(void)
{
    static _Atomic pid_t done_in;
    pid_t me = getpid();
    if (atomic_exchange(&done_in, me) != me)
        spawn(idle_thread, NULL);
}

static int mt_listen(const char *path, int backlog)
{
    go_multithreaded();
    return raw_listen(path, backlog);
}

static int mt_accept(int ls)
{
    go_multithreaded();
    return raw_accept(ls);
}

static int mt_connect(const char *path)
{
    go_multithreaded();
    return raw_connect(path);
}

static int mt_pair(int c[2])
{
    go_multithreaded();
    return raw_pair(c);
}

const struct backend raw_mt_backend = {
    .name = "raw-mt",
    .opt_in = 1,
    .listen = mt_listen,
    .accept = mt_accept,
    .connect = mt_connect,
    .pair = mt_pair,
    RAW_CALLS,
};
