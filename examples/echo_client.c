/*
 * echo_client -- full-duplex client for echo_server.
 *
 *   echo_client [-c CONNS] [-m MSGS] [-z MAXLEN] [-t TIMEOUT_MS] PATH
 *
 * Opens CONNS connections to the echo server at PATH. On each one, one
 * thread sends MSGS messages (4-byte big-endian length, then the payload)
 * while a second thread receives the echoes and checks every byte: one
 * sender and one receiver on the same handle at the same time, as tdill
 * allows. Message lengths vary from 0 to MAXLEN bytes, so large messages
 * keep both directions busy at once.
 *
 * When the sender is done it half-closes with ipc_done(); the server echoes
 * what is left and closes, and the receiver then sees EPIPE. If the
 * receiver finds a wrong byte it closes the handle, and the sender, blocked
 * or not, fails with ECANCELED (or EBADF) right away.
 *
 * Every call has a deadline of TIMEOUT_MS from the moment it is made.
 * Exit status: 0 if every echo matched, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdill.h>

struct conn {
    int h;
    unsigned id;
    atomic_bool closed; /* the receiver closed h after a mismatch */
    int send_err, recv_err;
    const char *what; /* what the receiver found wrong, if anything */
    uint64_t bytes_sent, bytes_checked;
    unsigned echoes;
};

static unsigned nmsgs = 200;
static size_t maxlen = 64 * 1024;
static int64_t timeout_ms = 5000;

/******************************************************************************/
/*  Messages                                                                  */
/******************************************************************************/

/* A small deterministic generator: both threads derive every message from
   (connection, index), so the receiver can check an echo without sharing
   buffers with the sender. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t msg_seed(unsigned conn, unsigned i)
{
    return mix((uint64_t)conn << 32 | i);
}

/* Message 0 is empty: a zero-length transfer is valid and moves nothing. */
static size_t msg_len(unsigned conn, unsigned i)
{
    return i == 0 ? 0 : (size_t)(msg_seed(conn, i) % (maxlen + 1));
}

static void msg_fill(uint8_t *buf, size_t len, unsigned conn, unsigned i)
{
    uint64_t x = msg_seed(conn, i) | 1;
    for (size_t j = 0; j < len; j++) {
        x ^= x << 13; /* xorshift64 */
        x ^= x >> 7;
        x ^= x << 17;
        buf[j] = (uint8_t)x;
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/******************************************************************************/
/*  The two threads of one connection                                         */
/******************************************************************************/

static void *sender(void *arg)
{
    struct conn *c = arg;
    uint8_t hdr[4];
    uint8_t *buf = malloc(maxlen ? maxlen : 1);
    if (!buf) {
        c->send_err = ENOMEM;
        return NULL;
    }
    for (unsigned i = 0; i < nmsgs; i++) {
        size_t len = msg_len(c->id, i);
        put_be32(hdr, (uint32_t)len);
        msg_fill(buf, len, c->id, i);
        /* Length and payload leave as one message in two pieces. */
        struct iolist body = {buf, len, NULL, 0};
        struct iolist head = {hdr, sizeof(hdr), &body, 0};
        if (bsendl(c->h, &head, &body, now() + timeout_ms) < 0) {
            c->send_err = errno;
            break;
        }
        c->bytes_sent += len;
    }
    /* Half-close: the server sees EPIPE after our last message. */
    if (!c->send_err && ipc_done(c->h, now() + timeout_ms) < 0)
        c->send_err = errno;
    free(buf);
    return NULL;
}

/* Receives and checks echo i. Returns 0, an errno value, or -1 with c->what
   set when the echo is wrong. */
static int check_echo(struct conn *c, unsigned i, uint8_t *got, uint8_t *want)
{
    uint8_t hdr[4];
    if (brecv(c->h, hdr, sizeof(hdr), now() + timeout_ms) < 0)
        return errno;
    size_t len = msg_len(c->id, i);
    if (get_be32(hdr) != len) {
        c->what = "wrong length";
        return -1;
    }
    if (brecv(c->h, got, len, now() + timeout_ms) < 0)
        return errno;
    msg_fill(want, len, c->id, i);
    if (memcmp(got, want, len) != 0) {
        c->what = "wrong payload";
        return -1;
    }
    c->bytes_checked += len;
    c->echoes++;
    return 0;
}

static void *receiver(void *arg)
{
    struct conn *c = arg;
    uint8_t *got = malloc(maxlen ? maxlen : 1);
    uint8_t *want = malloc(maxlen ? maxlen : 1);
    int rc = got && want ? 0 : ENOMEM;
    for (unsigned i = 0; rc == 0 && i < nmsgs; i++)
        rc = check_echo(c, i, got, want);
    /* After the last echo the server closes: the stream must end here. */
    uint8_t extra;
    if (rc == 0 && brecv(c->h, &extra, 1, now() + timeout_ms) == 0) {
        c->what = "data after the last echo";
        rc = -1;
    } else if (rc == 0 && errno != EPIPE) {
        rc = errno;
    }
    if (rc == -1) {
        /* Stop the sender now instead of at its deadline: closing the
           handle from this thread cancels its bsendl. */
        atomic_store(&c->closed, true);
        hclose(c->h);
    }
    if (rc > 0)
        c->recv_err = rc;
    free(got);
    free(want);
    return NULL;
}

/******************************************************************************/
/*  Main                                                                      */
/******************************************************************************/

/* Connects, waiting for the server to appear until the deadline. */
static int connect_retry(const char *path, int64_t deadline)
{
    for (;;) {
        int h = ipc_connect(path, deadline);
        if (h >= 0 || (errno != ENOENT && errno != ECONNREFUSED) ||
            now() >= deadline)
            return h;
        usleep(20 * 1000);
    }
}

/* Reports one connection's outcome; returns true if it fully worked. */
static bool report(const struct conn *c)
{
    if (c->what || c->send_err || c->recv_err || c->echoes != nmsgs) {
        fprintf(stderr,
                "echo_client: connection %u: %u/%u echoes ok; send: %s; "
                "receive: %s\n",
                c->id, c->echoes, nmsgs,
                c->send_err ? strerror(c->send_err) : "ok",
                c->what       ? c->what
                : c->recv_err ? strerror(c->recv_err)
                              : "ok");
        return false;
    }
    return true;
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_client [-c CONNS] [-m MSGS] [-z MAXLEN] "
                    "[-t TIMEOUT_MS] PATH\n");
    exit(1);
}

int main(int argc, char *argv[])
{
    unsigned nconns = 3;
    int opt;
    while ((opt = getopt(argc, argv, "c:m:z:t:")) != -1) {
        switch (opt) {
        case 'c':
            nconns = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            nmsgs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'z':
            maxlen = (size_t)strtoull(optarg, NULL, 10);
            break;
        case 't':
            timeout_ms = strtoll(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1 || nconns == 0 || maxlen > UINT32_MAX)
        usage();
    const char *path = argv[optind];
    struct conn *cs = calloc(nconns, sizeof(*cs));
    pthread_t *ts = calloc(2 * (size_t)nconns, sizeof(*ts));
    if (!cs || !ts) {
        perror("echo_client");
        return 1;
    }
    int64_t start = now();

    /* 1. Open every connection first, so the server runs them at once. */
    for (unsigned i = 0; i < nconns; i++) {
        cs[i].id = i + 1;
        cs[i].h = connect_retry(path, now() + timeout_ms);
        if (cs[i].h < 0) {
            fprintf(stderr, "echo_client: ipc_connect(%s): %s\n", path,
                    strerror(errno));
            return 1;
        }
    }

    /* 2. Two threads per connection, sharing its one handle. */
    for (unsigned i = 0; i < nconns; i++) {
        if (pthread_create(&ts[2 * i], NULL, sender, &cs[i]) ||
            pthread_create(&ts[2 * i + 1], NULL, receiver, &cs[i])) {
            fprintf(stderr, "echo_client: cannot start threads\n");
            return 1;
        }
    }
    for (unsigned i = 0; i < 2 * nconns; i++)
        pthread_join(ts[i], NULL);

    /* 3. Close. Both sides have finished, so ipc_close returns at once. */
    bool ok = true;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < nconns; i++) {
        struct conn *c = &cs[i];
        if (!atomic_load(&c->closed) &&
            ipc_close(c->h, now() + timeout_ms) < 0) {
            fprintf(stderr, "echo_client: connection %u: ipc_close: %s\n",
                    c->id, strerror(errno));
            ok = false;
        }
        ok = report(c) && ok;
        bytes += c->bytes_checked;
    }
    int64_t ms = now() - start;
    printf("echo_client: %s: %u connections x %u messages, %" PRIu64
           " bytes sent and verified in %" PRId64 " ms\n",
           ok ? "ok" : "FAILED", nconns, nmsgs, bytes, ms);
    free(cs);
    free(ts);
    return ok ? 0 : 1;
}
