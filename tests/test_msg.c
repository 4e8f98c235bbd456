/*
 * Message sockets (prefix_attach, suffix_attach, msend, mrecv, msendl,
 * mrecvl, prefix_detach, suffix_detach) and hown, tested from the contract
 * (SPEC.md, "Message sockets, descriptor waits, hown"): attach takes the
 * bytestream over, even when it fails; libdill's wire formats, checked
 * against a raw bytestream on the other end of a pair; EMSGSIZE; detach
 * gives back every byte not yet received; tdill's thread rules (EBUSY,
 * cross-thread ECANCELED, full duplex); hown moves an object to a new
 * number and cancels what was blocked on the old one.
 */
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BIG (16 << 20) /* more than any socket buffer holds */
#define MAXMSG (100 * 1024) /* largest message of the random-size flows */

/* A call that must return exactly want (a message size). */
#define TM_SIZE(expr, want)                                                   \
    do {                                                                      \
        errno = 0;                                                            \
        ssize_t _tm_rc = (expr);                                              \
        int _tm_e = errno;                                                    \
        ck_assert_msg(_tm_rc == (ssize_t)(want),                              \
                      "%s: expected %zd, got %zd with %s (%d)", #expr,        \
                      (ssize_t)(want), _tm_rc, tu_errname(_tm_e), _tm_e);     \
    } while (0)

/* The call fails with err within a fraction of a second, without waiting. */
#define TM_FAILS_AT_ONCE(expr, err)                                           \
    do {                                                                      \
        int64_t _tm_t0 = now();                                               \
        TU_FAILS(expr, err);                                                  \
        ck_assert_int_lt(now() - _tm_t0, 500 * tu_slowness());                \
    } while (0)

/*****************************************************************************/
/*  Helpers                                                                  */
/*****************************************************************************/

static int prefix(int s, size_t hdrlen, int flags)
{
    int m;
    TU_HANDLE(m, prefix_attach(s, hdrlen, flags));
    return m;
}

static int suffix(int s, const char *sfx)
{
    int m;
    TU_HANDLE(m, suffix_attach(s, sfx, strlen(sfx)));
    return m;
}

/* Raw bytes onto a bytestream. */
static void raw_send(int h, const void *buf, size_t len)
{
    TU_OK(bsend(h, buf, len, now() + 5000));
}

/* The next len raw bytes on bytestream h are exactly want (any length). */
static void raw_expect(int h, const void *want, size_t len)
{
    unsigned char *got = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(got);
    TU_OK(brecv(h, got, len, now() + 5000));
    ck_assert_mem_eq(got, want, len);
    free(got);
}

/* The next message on m is exactly want: mrecv into a larger buffer returns
   its size and the bytes. */
static void msg_expect(int m, const void *want, size_t len)
{
    unsigned char *got = malloc(len + 16);
    ck_assert_ptr_nonnull(got);
    memset(got, 0xEE, len + 16);
    TM_SIZE(mrecv(m, got, len + 16, now() + 5000), len);
    ck_assert_mem_eq(got, want, len);
    free(got);
}

/* The size prefix of libdill's wire format. */
static void make_header(unsigned char *hdr, size_t hdrlen, uint64_t size,
                        int little)
{
    for (size_t i = 0; i < hdrlen; i++) {
        size_t shift = little ? i : hdrlen - 1 - i;
        hdr[i] = (unsigned char)(size >> (8 * shift));
    }
}

/* Copies of an iolist's nodes, to prove a call left the list unchanged. */
static void iol_snapshot(struct iolist *dst, struct iolist *const *nodes,
                         int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = *nodes[i];
}

static void iol_assert_unchanged(const struct iolist *saved,
                                 struct iolist *const *nodes, int n)
{
    for (int i = 0; i < n; i++) {
        ck_assert_ptr_eq(nodes[i]->iol_base, saved[i].iol_base);
        ck_assert_uint_eq(nodes[i]->iol_len, saved[i].iol_len);
        ck_assert_ptr_eq(nodes[i]->iol_next, saved[i].iol_next);
        ck_assert_int_eq(nodes[i]->iol_rsvd, saved[i].iol_rsvd);
    }
}

/* Descriptor count after the library has made everything it makes lazily. */
static int baseline_fds(void)
{
    tu_warm_up();
    return tu_count_fds();
}

/* One message-socket call run by a thread (tu_op knows only bytestreams). */
enum mop_kind { MOP_SEND, MOP_RECV };
struct mop {
    enum mop_kind kind;
    int h;
    void *buf;
    size_t len;
    int64_t deadline;
    /* Results. */
    ssize_t rc;
    int err;
    int64_t returned_at;
    /* Internal. */
    pid_t tid;
    int started;
    int done;
    pthread_t th;
};

static void *mop_main(void *arg)
{
    struct mop *op = arg;
    op->tid = tu_gettid();
    __atomic_store_n(&op->started, 1, __ATOMIC_SEQ_CST);
    errno = 0;
    if (op->kind == MOP_SEND)
        op->rc = msend(op->h, op->buf, op->len, op->deadline);
    else
        op->rc = mrecv(op->h, op->buf, op->len, op->deadline);
    op->err = errno;
    op->returned_at = now();
    __atomic_store_n(&op->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Starts the call in a new thread and returns at once. */
static void mop_start(struct mop *op)
{
    op->started = 0;
    op->done = 0;
    op->rc = -2;
    op->err = 0;
    ck_assert_int_eq(pthread_create(&op->th, NULL, mop_main, op), 0);
}

/* Starts the call and returns once its thread sleeps inside it. */
static void mop_start_blocked(struct mop *op)
{
    mop_start(op);
    while (!__atomic_load_n(&op->started, __ATOMIC_SEQ_CST))
        tu_sleep_ms(1);
    tu_wait_sleeping(op->tid);
}

static int mop_done(struct mop *op)
{
    return __atomic_load_n(&op->done, __ATOMIC_SEQ_CST);
}

static void mop_join(struct mop *op)
{
    ck_assert_int_eq(pthread_join(op->th, NULL), 0);
}

#define MOP_FAILED(op, e)                                                     \
    ck_assert_msg((op)->rc == -1 && (op)->err == (e),                         \
                  "thread call: expected -1 with %s, got %zd with %s",        \
                  tu_errname(e), (op)->rc, tu_errname((op)->err))
#define MOP_RETURNED(op, want)                                                \
    ck_assert_msg((op)->rc == (ssize_t)(want),                                \
                  "thread call: expected %zd, got %zd with %s",               \
                  (ssize_t)(want), (op)->rc, tu_errname((op)->err))

/* Raw bytes written by a thread in small pieces with pauses in between. */
struct trickle {
    int h;
    const char *data;
    size_t len;
    size_t piece;
    int pause_ms;
    int rc;
    int err;
    pthread_t th;
};

static void *trickle_main(void *arg)
{
    struct trickle *t = arg;
    t->rc = 0;
    for (size_t off = 0; off < t->len; off += t->piece) {
        size_t n = t->len - off < t->piece ? t->len - off : t->piece;
        if (bsend(t->h, t->data + off, n, now() + 5000) != 0) {
            t->rc = -1;
            t->err = errno;
            return NULL;
        }
        tu_sleep_ms(t->pause_ms);
    }
    return NULL;
}

static void trickle_start(struct trickle *t)
{
    ck_assert_int_eq(pthread_create(&t->th, NULL, trickle_main, t), 0);
}

static void trickle_join(struct trickle *t)
{
    ck_assert_int_eq(pthread_join(t->th, NULL), 0);
    ck_assert_msg(t->rc == 0, "trickling bsend failed with %s",
                  tu_errname(t->err));
}

/*****************************************************************************/
/*  Attach: taking the bytestream over                                       */
/*****************************************************************************/

START_TEST(prefix_attach_takes_over_the_bytestream_handle)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    ck_assert_int_eq(tu_count_fds(), before + 2); /* no descriptor added */
    char buf[4];
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    TU_FAILS(brecv(s[0], buf, 1, 0), EBADF);
    TU_FAILS(msend(s[0], "x", 1, -1), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    /* The message socket works over the connection. */
    TU_OK(msend(m, "hi", 2, now() + 5000));
    raw_expect(s[1], "\x00\x02" "hi", 4);
    TU_OK(hclose(m));
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(prefix_attach_mem_takes_over_the_bytestream_handle)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    struct prefix_storage mem;
    int m;
    TU_HANDLE(m, prefix_attach_mem(s[0], 3, PREFIX_LITTLE_ENDIAN, &mem));
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(msend(m, "abc", 3, now() + 5000));
    raw_expect(s[1], "\x03\x00\x00" "abc", 6);
    raw_send(s[1], "\x02\x00\x00" "ok", 5);
    msg_expect(m, "ok", 2);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(suffix_attach_and_attach_mem_take_over_the_bytestream_handle)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(msend(m, "abc", 3, now() + 5000));
    raw_expect(s[1], "abc\r\n", 5);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);

    tu_pair(s);
    struct suffix_storage mem;
    TU_HANDLE(m, suffix_attach_mem(s[0], "\n", 1, &mem));
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    raw_send(s[1], "line\n", 5);
    msg_expect(m, "line", 4);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(attach_over_connect_and_accept_handles_works)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    int mc = prefix(c, 4, 0);
    int ma = prefix(a, 4, 0);
    TU_OK(msend(mc, "request", 7, now() + 5000));
    msg_expect(ma, "request", 7);
    TU_OK(msend(ma, "reply", 5, now() + 5000));
    msg_expect(mc, "reply", 5);
    TU_OK(hclose(mc));
    TU_OK(hclose(ma));

    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    mc = suffix(c, "\n");
    ma = suffix(a, "\n");
    TU_OK(msend(mc, "request", 7, now() + 5000));
    msg_expect(ma, "request", 7);
    TU_OK(msend(ma, "reply", 5, now() + 5000));
    msg_expect(mc, "reply", 5);
    TU_OK(hclose(mc));
    TU_OK(hclose(ma));
    TU_OK(hclose(ls));
}
END_TEST

/* s was consumed by a failed attach: it answers EBADF, its descriptor is
   gone (the count is back to before + 1, the peer's) and the peer sees EOF.
   Closes the peer. */
static void assert_consumed(int s[2], int before)
{
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}

START_TEST(prefix_attach_with_hdrlen_0_or_over_8_fails_einval_and_consumes_s)
{
    int before = baseline_fds();
    size_t bad[] = {0, 9, 16, 100, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int s[2];
        tu_pair(s);
        TU_FAILS(prefix_attach(s[0], bad[i], 0), EINVAL);
        assert_consumed(s, before);
        tu_pair(s);
        struct prefix_storage mem;
        TU_FAILS(prefix_attach_mem(s[0], bad[i], 0, &mem), EINVAL);
        assert_consumed(s, before);
    }
}
END_TEST

START_TEST(prefix_attach_with_unknown_flags_fails_einval_and_consumes_s)
{
    int before = baseline_fds();
    int bad[] = {2, 3, -1, 0x100, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int s[2];
        tu_pair(s);
        TU_FAILS(prefix_attach(s[0], 2, bad[i]), EINVAL);
        assert_consumed(s, before);
    }
}
END_TEST

START_TEST(prefix_attach_mem_with_null_mem_fails_einval_and_consumes_s)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    TU_FAILS(prefix_attach_mem(s[0], 2, 0, NULL), EINVAL);
    assert_consumed(s, before);
}
END_TEST

START_TEST(suffix_attach_with_bad_suffix_fails_einval_and_consumes_s)
{
    int before = baseline_fds();
    char long_sfx[64];
    memset(long_sfx, '#', sizeof long_sfx);
    int s[2];
    tu_pair(s);
    TU_FAILS(suffix_attach(s[0], "\n", 0), EINVAL);
    assert_consumed(s, before);
    tu_pair(s);
    TU_FAILS(suffix_attach(s[0], long_sfx, 33), EINVAL);
    assert_consumed(s, before);
    tu_pair(s);
    TU_FAILS(suffix_attach(s[0], NULL, 2), EINVAL);
    assert_consumed(s, before);
    struct suffix_storage mem;
    tu_pair(s);
    TU_FAILS(suffix_attach_mem(s[0], long_sfx, 64, &mem), EINVAL);
    assert_consumed(s, before);
    tu_pair(s);
    TU_FAILS(suffix_attach_mem(s[0], "\n", 1, NULL), EINVAL);
    assert_consumed(s, before);
}
END_TEST

START_TEST(attach_to_an_invalid_handle_fails_with_ebadf)
{
    int s[2];
    tu_pair(s);
    int dead = s[0];
    TU_OK(hclose(dead));
    struct prefix_storage pmem;
    struct suffix_storage smem;
    int bad[] = {-1, INT_MAX, 1 << 20, dead};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TU_FAILS(prefix_attach(bad[i], 2, 0), EBADF);
        TU_FAILS(prefix_attach_mem(bad[i], 2, 0, &pmem), EBADF);
        TU_FAILS(suffix_attach(bad[i], "\n", 1), EBADF);
        TU_FAILS(suffix_attach_mem(bad[i], "\n", 1, &smem), EBADF);
    }
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(attach_to_a_listener_fails_eproto_and_consumes_it)
{
    int before = baseline_fds();
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(prefix_attach(ls, 2, 0), EPROTO);
    TU_FAILS(ipc_accept(ls, 0), EBADF);
    TU_FAILS(hclose(ls), EBADF);
    ck_assert_int_eq(tu_count_fds(), before);
    TU_FAILS(ipc_connect(path, now() + 1000), ECONNREFUSED);

    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(suffix_attach(ls, "\n", 1), EPROTO);
    TU_FAILS(hclose(ls), EBADF);
    ck_assert_int_eq(tu_count_fds(), before);
    TU_FAILS(ipc_connect(path, now() + 1000), ECONNREFUSED);
}
END_TEST

START_TEST(attach_to_a_channel_end_fails_eproto_and_consumes_it)
{
    int ch[2];
    TU_OK(chmake(ch));
    TU_FAILS(prefix_attach(ch[0], 2, 0), EPROTO);
    TU_FAILS(hclose(ch[0]), EBADF);
    TU_OK(hclose(ch[1]));
    TU_OK(chmake(ch));
    struct suffix_storage mem;
    TU_FAILS(suffix_attach_mem(ch[1], "\n", 1, &mem), EPROTO);
    TU_FAILS(hclose(ch[1]), EBADF);
    TU_OK(hclose(ch[0]));
}
END_TEST

START_TEST(attach_to_a_message_socket_fails_eproto_and_consumes_it)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    TU_FAILS(suffix_attach(m, "\n", 1), EPROTO);
    TU_FAILS(msend(m, "x", 1, -1), EBADF);
    TU_FAILS(hclose(m), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = suffix(s[0], "\n");
    TU_FAILS(prefix_attach(m, 2, 0), EPROTO);
    TU_FAILS(hclose(m), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

/*****************************************************************************/
/*  Prefix: wire format                                                      */
/*****************************************************************************/

START_TEST(prefix_msend_writes_a_big_endian_size_then_the_bytes)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    TU_OK(msend(m, "abc", 3, now() + 5000));
    raw_expect(s[1], "\x00\x03" "abc", 5);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
    tu_pair(s);
    m = prefix(s[0], 4, PREFIX_BIG_ENDIAN);
    TU_OK(msend(m, "abc", 3, now() + 5000));
    raw_expect(s[1], "\x00\x00\x00\x03" "abc", 7);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(prefix_little_endian_msend_writes_the_size_low_byte_first)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, PREFIX_LITTLE_ENDIAN);
    TU_OK(msend(m, "abc", 3, now() + 5000));
    raw_expect(s[1], "\x03\x00" "abc", 5);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

/* Every header length, both byte orders, both directions, with a size that
   uses as many of the header's bytes as it can (up to three). */
START_TEST(prefix_wire_format_holds_for_every_hdrlen_and_byte_order)
{
    size_t cap = 0x010203 + 16;
    unsigned char *payload = malloc(cap);
    unsigned char *wire = malloc(cap + 8);
    for (size_t hdrlen = 1; hdrlen <= 8; hdrlen++) {
        for (int little = 0; little <= 1; little++) {
            size_t size = hdrlen == 1 ? 0xC8 : hdrlen == 2 ? 0x0102
                                                           : 0x010203;
            tu_fill(payload, size, hdrlen * 2 + (size_t)little);
            int s[2];
            tu_pair(s);
            int m = prefix(s[0], hdrlen, little ? PREFIX_LITTLE_ENDIAN : 0);
            /* Out: msend on a thread (the message may exceed the socket
               buffer), raw bytes read here. */
            struct mop tx = {.kind = MOP_SEND, .h = m, .buf = payload,
                             .len = size, .deadline = now() + 10000};
            mop_start(&tx);
            make_header(wire, hdrlen, size, little);
            memcpy(wire + hdrlen, payload, size);
            raw_expect(s[1], wire, hdrlen + size);
            mop_join(&tx);
            MOP_RETURNED(&tx, 0);
            /* In: raw bytes from a thread, one message here. */
            struct trickle t = {.h = s[1], .data = (const char *)wire,
                                .len = hdrlen + size, .piece = hdrlen + size};
            trickle_start(&t);
            msg_expect(m, payload, size);
            trickle_join(&t);
            TU_OK(hclose(m));
            TU_OK(hclose(s[1]));
        }
    }
    free(payload);
    free(wire);
}
END_TEST

START_TEST(prefix_raw_bytes_in_one_write_are_received_as_separate_messages)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    raw_send(s[1], "\x00\x02" "hi" "\x00\x00" "\x00\x03" "xyz", 11);
    msg_expect(m, "hi", 2);
    msg_expect(m, "", 0);
    msg_expect(m, "xyz", 3);
    char spare[8];
    TM_FAILS_AT_ONCE(mrecv(m, spare, sizeof spare, 0), ETIMEDOUT);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(prefix_empty_messages_are_sent_and_received)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    int p = prefix(s[1], 2, 0);
    char buf[8];
    TU_OK(msend(m, buf, 0, now() + 5000));
    TU_OK(msend(m, "z", 1, now() + 5000));
    TM_SIZE(mrecv(p, buf, sizeof buf, now() + 5000), 0);
    TM_SIZE(mrecv(p, buf, sizeof buf, now() + 5000), 1);
    ck_assert_int_eq(buf[0], 'z');
    /* An empty message fits a zero-length buffer. */
    TU_OK(msend(p, buf, 0, now() + 5000));
    TM_SIZE(mrecv(m, buf, 0, now() + 5000), 0);
    TU_OK(hclose(m));
    TU_OK(hclose(p));
    /* On the wire: the header alone. */
    tu_pair(s);
    m = prefix(s[0], 3, 0);
    TU_OK(msend(m, buf, 0, now() + 5000));
    TU_OK(msend(m, "!", 1, now() + 5000));
    raw_expect(s[1], "\x00\x00\x00" "\x00\x00\x01" "!", 7);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(mrecv_into_a_larger_buffer_returns_the_message_size)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    char buf[100];
    memset(buf, '.', sizeof buf);
    raw_send(s[1], "\x00\x05" "hello", 7);
    TM_SIZE(mrecv(m, buf, sizeof buf, now() + 5000), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_int_eq(buf[5], '.'); /* nothing written past the message */
    /* A buffer of exactly the message size fits too. */
    raw_send(s[1], "\x00\x03" "abc", 5);
    TM_SIZE(mrecv(m, buf, 3, now() + 5000), 3);
    ck_assert_mem_eq(buf, "abc", 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(prefix_msend_too_big_for_hdrlen_fails_emsgsize_and_sends_nothing)
{
    static char big[65536 + 1];
    memset(big, 'b', sizeof big);
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 1, 0);
    TU_FAILS(msend(m, big, 256, now() + 5000), EMSGSIZE);
    TU_FAILS(msend(m, big, 65537, 0), EMSGSIZE);
    struct iolist b = {big + 200, 56, NULL, 0};
    struct iolist a = {big, 200, &b, 0};
    TU_FAILS(msendl(m, &a, &b, now() + 5000), EMSGSIZE);
    /* The socket is fine, nothing was sent: the largest size that fits. */
    TU_OK(msend(m, big, 255, now() + 5000));
    raw_expect(s[1], "\xff", 1);
    raw_expect(s[1], big, 255);
    TU_OK(msend(m, "ok", 2, now() + 5000));
    raw_expect(s[1], "\x02" "ok", 3);
    raw_send(s[1], "\x01" "r", 2);
    msg_expect(m, "r", 1);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = prefix(s[0], 2, PREFIX_LITTLE_ENDIAN);
    TU_FAILS(msend(m, big, 65536, now() + 5000), EMSGSIZE);
    TU_OK(msend(m, "ok", 2, now() + 5000));
    raw_expect(s[1], "\x02\x00" "ok", 4);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(prefix_mrecv_too_small_buffer_fails_emsgsize_then_econnreset)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    char buf[16];
    raw_send(s[1], "\x00\x0a" "0123456789" "\x00\x02" "hi", 16);
    TU_FAILS(mrecv(m, buf, 5, now() + 5000), EMSGSIZE);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 5000), ECONNRESET);
    TU_FAILS(mrecv(m, buf, sizeof buf, 0), ECONNRESET);
    TU_FAILS(mrecvl(m, NULL, NULL, now() + 5000), ECONNRESET);
    /* Sending still works. */
    TU_OK(msend(m, "still", 5, now() + 5000));
    raw_expect(s[1], "\x00\x05" "still", 7);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    /* A size far beyond the buffer (8-byte header) fails the same way. */
    tu_pair(s);
    m = prefix(s[0], 8, 0);
    raw_send(s[1], "\x00\x00\x01\x00\x00\x00\x00\x00", 8);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 5000), EMSGSIZE);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 5000), ECONNRESET);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

/*****************************************************************************/
/*  Iolists: msendl, mrecvl                                                  */
/*****************************************************************************/

START_TEST(mrecvl_with_null_lists_drops_one_message_and_returns_its_size)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    raw_send(s[1], "\x00\x03" "abc" "\x00\x00" "\x00\x02" "hi", 11);
    TM_SIZE(mrecvl(m, NULL, NULL, now() + 5000), 3);
    TM_SIZE(mrecvl(m, NULL, NULL, now() + 5000), 0);
    msg_expect(m, "hi", 2);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = suffix(s[0], "\r\n");
    raw_send(s[1], "first\r\nsecond\r\n", 15);
    TM_SIZE(mrecvl(m, NULL, NULL, now() + 5000), 5);
    msg_expect(m, "second", 6);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(msendl_gathers_the_pieces_into_one_message)
{
    char p1[] = "ab", p3[] = "cde";
    struct iolist i3 = {p3, 3, NULL, 0};
    struct iolist i2 = {p1, 0, &i3, 0}; /* an empty piece */
    struct iolist i1 = {p1, 2, &i2, 0};
    struct iolist *nodes[] = {&i1, &i2, &i3};
    struct iolist saved[3];
    iol_snapshot(saved, nodes, 3);
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    TU_OK(msendl(m, &i1, &i3, now() + 5000));
    raw_expect(s[1], "\x00\x05" "abcde", 7);
    iol_assert_unchanged(saved, nodes, 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = suffix(s[0], "\r\n");
    TU_OK(msendl(m, &i1, &i3, now() + 5000));
    raw_expect(s[1], "abcde\r\n", 7);
    iol_assert_unchanged(saved, nodes, 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(mrecvl_scatters_one_message_across_the_pieces)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    char a[3], b[5];
    struct iolist ib = {b, 5, NULL, 0};
    struct iolist iskip = {NULL, 2, &ib, 0}; /* skips two bytes */
    struct iolist ia = {a, 3, &iskip, 0};
    struct iolist *nodes[] = {&ia, &iskip, &ib};
    struct iolist saved[3];
    iol_snapshot(saved, nodes, 3);
    raw_send(s[1], "\x00\x0a" "0123456789", 12);
    TM_SIZE(mrecvl(m, &ia, &ib, now() + 5000), 10);
    ck_assert_mem_eq(a, "012", 3);
    ck_assert_mem_eq(b, "56789", 5);
    iol_assert_unchanged(saved, nodes, 3);
    /* A message shorter than the list fills its beginning. */
    memset(b, '.', sizeof b);
    raw_send(s[1], "\x00\x04" "WXYZ", 6);
    struct iolist jb = {b, 5, NULL, 0};
    struct iolist ja = {a, 3, &jb, 0};
    TM_SIZE(mrecvl(m, &ja, &jb, now() + 5000), 4);
    ck_assert_mem_eq(a, "WXY", 3);
    ck_assert_mem_eq(b, "Z....", 5);
    /* A message longer than the list: EMSGSIZE, then ECONNRESET. */
    raw_send(s[1], "\x00\x09" "123456789", 11);
    TU_FAILS(mrecvl(m, &ja, &jb, now() + 5000), EMSGSIZE);
    TU_FAILS(mrecv(m, a, 3, now() + 5000), ECONNRESET);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = suffix(s[0], "\n");
    raw_send(s[1], "0123456789\n", 11);
    TM_SIZE(mrecvl(m, &ia, &ib, now() + 5000), 10);
    ck_assert_mem_eq(a, "012", 3);
    ck_assert_mem_eq(b, "56789", 5);
    iol_assert_unchanged(saved, nodes, 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(msendl_with_a_malformed_list_fails_einval_and_sends_nothing)
{
    char x[] = "xyz", y[] = "uv";
    struct iolist i2 = {y, 2, NULL, 0};
    struct iolist i1 = {x, 3, &i2, 0};
    struct iolist other = {y, 2, NULL, 0};
    struct iolist *nodes[] = {&i1, &i2, &other};
    struct iolist saved[3];
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        i2.iol_rsvd = 1;
        iol_snapshot(saved, nodes, 3);
        TU_FAILS(msendl(m, &i1, &i2, now() + 5000), EINVAL);
        iol_assert_unchanged(saved, nodes, 3);
        i2.iol_rsvd = 0;
        iol_snapshot(saved, nodes, 3);
        /* last not reachable from first; last->iol_next not NULL. */
        TU_FAILS(msendl(m, &i1, &other, now() + 5000), EINVAL);
        TU_FAILS(msendl(m, &i1, &i1, now() + 5000), EINVAL);
        TU_FAILS(msendl(m, NULL, &i2, now() + 5000), EINVAL);
        TU_FAILS(msendl(m, &i1, NULL, now() + 5000), EINVAL);
        iol_assert_unchanged(saved, nodes, 3);
        /* Nothing went out, and the socket still works. */
        TU_OK(msendl(m, &i1, &i2, now() + 5000));
        if (kind)
            raw_expect(s[1], "xyzuv\n", 6);
        else
            raw_expect(s[1], "\x00\x05" "xyzuv", 7);
        TU_OK(hclose(m));
        TU_OK(hclose(s[1]));
    }
}
END_TEST

START_TEST(mrecvl_with_a_malformed_list_fails_einval_and_takes_nothing)
{
    char a[4], b[4];
    struct iolist i2 = {b, 4, NULL, 0};
    struct iolist i1 = {a, 4, &i2, 0};
    struct iolist other = {b, 4, NULL, 0};
    struct iolist *nodes[] = {&i1, &i2, &other};
    struct iolist saved[3];
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        if (kind)
            raw_send(s[1], "abcdefg\n", 8);
        else
            raw_send(s[1], "\x00\x07" "abcdefg", 9);
        i1.iol_rsvd = 5;
        iol_snapshot(saved, nodes, 3);
        TU_FAILS(mrecvl(m, &i1, &i2, now() + 5000), EINVAL);
        iol_assert_unchanged(saved, nodes, 3);
        i1.iol_rsvd = 0;
        iol_snapshot(saved, nodes, 3);
        TU_FAILS(mrecvl(m, &i1, &other, now() + 5000), EINVAL);
        TU_FAILS(mrecvl(m, &i1, &i1, now() + 5000), EINVAL);
        iol_assert_unchanged(saved, nodes, 3);
        /* The message is still there, whole, and receiving works. */
        TM_SIZE(mrecvl(m, &i1, &i2, now() + 5000), 7);
        ck_assert_mem_eq(a, "abcd", 4);
        ck_assert_mem_eq(b, "efg", 3);
        TU_OK(hclose(m));
        TU_OK(hclose(s[1]));
    }
}
END_TEST

/*****************************************************************************/
/*  Suffix: wire format                                                      */
/*****************************************************************************/

START_TEST(suffix_msend_writes_the_bytes_then_the_suffix)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    TU_OK(msend(m, "abc", 3, now() + 5000));
    TU_OK(msend(m, "de", 2, now() + 5000));
    raw_expect(s[1], "abc\r\nde\r\n", 9);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_raw_bytes_are_split_into_messages_at_each_suffix)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    raw_send(s[1], "hello\r\nworld\r\n", 14);
    msg_expect(m, "hello", 5);
    msg_expect(m, "world", 5);
    char spare[8];
    TM_FAILS_AT_ONCE(mrecv(m, spare, sizeof spare, 0), ETIMEDOUT);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_empty_messages_are_the_suffix_alone)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    int p = suffix(s[1], "\r\n");
    char buf[8];
    TU_OK(msend(m, buf, 0, now() + 5000));
    TU_OK(msend(m, "q", 1, now() + 5000));
    TM_SIZE(mrecv(p, buf, sizeof buf, now() + 5000), 0);
    TM_SIZE(mrecv(p, buf, sizeof buf, now() + 5000), 1);
    ck_assert_int_eq(buf[0], 'q');
    TU_OK(hclose(m));
    TU_OK(hclose(p));

    tu_pair(s);
    m = suffix(s[0], "\r\n");
    TU_OK(msend(m, buf, 0, now() + 5000));
    raw_expect(s[1], "\r\n", 2);
    raw_send(s[1], "\r\n\r\nz\r\n", 7);
    msg_expect(m, "", 0);
    TM_SIZE(mrecv(m, buf, 0, now() + 5000), 0); /* fits a 0-byte buffer */
    msg_expect(m, "z", 1);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_of_1_and_of_32_bytes_work)
{
    const char *sfx32 = "0123456789abcdefghijklmnopqrstuv";
    ck_assert_uint_eq(strlen(sfx32), 32);
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], sfx32);
    TU_OK(msend(m, "hi", 2, now() + 5000));
    raw_expect(s[1], "hi", 2);
    raw_expect(s[1], sfx32, 32);
    char wire[80];
    snprintf(wire, sizeof wire, "one%stwo%s", sfx32, sfx32);
    /* Part of the suffix inside a message does not end it. */
    raw_send(s[1], "0123x", 5);
    raw_send(s[1], wire, strlen(wire));
    msg_expect(m, "0123xone", 8);
    msg_expect(m, "two", 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = suffix(s[0], "\n");
    TU_OK(msend(m, "line", 4, now() + 5000));
    raw_expect(s[1], "line\n", 5);
    raw_send(s[1], "a\nbc\n\n", 6);
    msg_expect(m, "a", 1);
    msg_expect(m, "bc", 2);
    msg_expect(m, "", 0);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

/* The message ends at the first place the suffix appears, also when the
   suffix overlaps itself and a partial match has to be resumed. */
START_TEST(suffix_that_overlaps_itself_is_found_where_it_first_appears)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "abac");
    raw_send(s[1], "ababac" "zabac" "abaabac", 18);
    msg_expect(m, "ab", 2);
    msg_expect(m, "z", 1);
    msg_expect(m, "aba", 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    tu_pair(s);
    m = suffix(s[0], "aab");
    raw_send(s[1], "xaaab" "aaaab", 10);
    msg_expect(m, "xa", 2);
    msg_expect(m, "aa", 2);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_msend_of_a_message_containing_the_suffix_fails_einval)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    TU_FAILS(msend(m, "ab\r\ncd", 6, now() + 5000), EINVAL);
    TU_FAILS(msend(m, "\r\n", 2, now() + 5000), EINVAL);
    TU_FAILS(msend(m, "abc\r\n", 5, 0), EINVAL);
    /* Across two pieces of a list too. */
    char p1[] = "ab\r", p2[] = "\ncd";
    struct iolist i2 = {p2, 3, NULL, 0};
    struct iolist i1 = {p1, 3, &i2, 0};
    TU_FAILS(msendl(m, &i1, &i2, now() + 5000), EINVAL);
    /* Nothing was sent and the socket still works. */
    TU_OK(msend(m, "ok", 2, now() + 5000));
    raw_expect(s[1], "ok\r\n", 4);
    raw_send(s[1], "in\r\n", 4);
    msg_expect(m, "in", 2);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_mrecv_with_buffer_of_the_message_size_succeeds)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    char buf[5];
    memset(buf, '.', sizeof buf);
    raw_send(s[1], "abc\r\n", 5);
    TM_SIZE(mrecv(m, buf, 3, now() + 5000), 3);
    ck_assert_mem_eq(buf, "abc..", 5); /* the suffix is not stored */
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_mrecv_too_small_buffer_fails_emsgsize_then_econnreset)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    char buf[16];
    raw_send(s[1], "abcdefgh\r\nhi\r\n", 14);
    TU_FAILS(mrecv(m, buf, 3, now() + 5000), EMSGSIZE);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 5000), ECONNRESET);
    TU_FAILS(mrecv(m, buf, sizeof buf, 0), ECONNRESET);
    TU_OK(msend(m, "still", 5, now() + 5000));
    raw_expect(s[1], "still\r\n", 7);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(messages_arriving_byte_by_byte_are_assembled)
{
    static const char sfx_wire[] = "one\r\ntwo\r\n\r\nthree\r\n";
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    struct trickle t = {.h = s[1], .data = sfx_wire,
                        .len = sizeof sfx_wire - 1, .piece = 1,
                        .pause_ms = 2};
    trickle_start(&t);
    msg_expect(m, "one", 3);
    msg_expect(m, "two", 3);
    msg_expect(m, "", 0);
    msg_expect(m, "three", 5);
    trickle_join(&t);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));

    static const char pfx_wire[] = "\x00\x03" "one" "\x00\x00" "\x00\x05"
                                   "three";
    tu_pair(s);
    m = prefix(s[0], 2, 0);
    t = (struct trickle){.h = s[1], .data = pfx_wire,
                         .len = sizeof pfx_wire - 1, .piece = 1,
                         .pause_ms = 2};
    trickle_start(&t);
    msg_expect(m, "one", 3);
    msg_expect(m, "", 0);
    msg_expect(m, "three", 5);
    trickle_join(&t);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(suffix_split_across_two_writes_is_found)
{
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    char buf[16];
    raw_send(s[1], "abc\r", 4);
    struct mop rx = {.kind = MOP_RECV, .h = m, .buf = buf, .len = sizeof buf,
                     .deadline = now() + 10000};
    mop_start_blocked(&rx);
    ck_assert(!mop_done(&rx)); /* "\r" alone ends nothing */
    raw_send(s[1], "\nde", 3);
    mop_join(&rx);
    MOP_RETURNED(&rx, 3);
    ck_assert_mem_eq(buf, "abc", 3);
    raw_send(s[1], "f\r", 2);
    tu_sleep_ms(20);
    raw_send(s[1], "\n", 1);
    msg_expect(m, "def", 3);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

/*****************************************************************************/
/*  Detach                                                                   */
/*****************************************************************************/

START_TEST(prefix_detach_gives_back_the_bytestream_with_the_bytes_after)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    /* One write: the message and raw bytes behind it. */
    raw_send(s[1], "\x00\x04" "msg1" "RAWBYTES", 14);
    msg_expect(m, "msg1", 4);
    int b;
    TU_HANDLE(b, prefix_detach(m));
    TU_FAILS(msend(m, "x", 1, now() + 1000), EBADF);
    TU_FAILS(mrecv(m, NULL, 0, 0), EBADF);
    TU_FAILS(prefix_detach(m), EBADF);
    ck_assert_int_ne(b, s[0]); /* a new number */
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 2);
    tu_expect_bytes(b, "RAWBYTES", 8);
    tu_assert_connected(b, s[1]);
    TU_FAILS(hclose(m), EBADF);
    TU_OK(hclose(b));
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(suffix_detach_gives_back_the_bytestream_with_the_bytes_after)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = suffix(s[0], "\r\n");
    raw_send(s[1], "msg1\r\n" "RAWBYTES\r", 15);
    msg_expect(m, "msg1", 4);
    int b;
    TU_HANDLE(b, suffix_detach(m, now() + 5000));
    TU_FAILS(msend(m, "x", 1, now() + 1000), EBADF);
    TU_FAILS(suffix_detach(m, now() + 1000), EBADF);
    ck_assert_int_ne(b, s[0]);
    TU_FAILS(bsend(s[0], "x", 1, -1), EBADF);
    tu_expect_bytes(b, "RAWBYTES\r", 9);
    tu_assert_connected(b, s[1]);
    TU_FAILS(hclose(m), EBADF);
    TU_OK(hclose(b));
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(detach_of_an_unused_or_sending_socket_gives_back_a_working_stream)
{
    int s[2];
    tu_pair(s);
    struct prefix_storage pmem;
    int m;
    TU_HANDLE(m, prefix_attach_mem(s[0], 1, 0, &pmem));
    TU_OK(msend(m, "a", 1, now() + 5000));
    int b;
    TU_HANDLE(b, prefix_detach(m));
    raw_expect(s[1], "\x01" "a", 2);
    tu_assert_connected(b, s[1]);
    /* The stream can be attached again, to the other kind. */
    struct suffix_storage smem;
    TU_HANDLE(m, suffix_attach_mem(b, "\n", 1, &smem));
    TU_FAILS(bsend(b, "x", 1, -1), EBADF);
    TU_OK(msend(m, "b", 1, now() + 5000));
    raw_expect(s[1], "b\n", 2);
    TU_HANDLE(b, suffix_detach(m, now() + 5000));
    tu_assert_connected(b, s[1]);
    m = prefix(b, 2, 0);
    raw_send(s[1], "\x00\x01" "c", 3);
    msg_expect(m, "c", 1);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

/* The other end of raw bytestream h was closed: h reads whatever had been
   sent, then fails with EPIPE, or with ECONNRESET, which is what the kernel
   reports when the closed end still had unread inbound bytes. */
static void peer_sees_close(int h)
{
    errno = 0;
    int rc = brecv(h, NULL, SIZE_MAX, now() + 5000);
    int err = errno;
    ck_assert_msg(rc == -1 && (err == EPIPE || err == ECONNRESET),
                  "peer of a closed socket: expected EPIPE or ECONNRESET, "
                  "got %d with %s", rc, tu_errname(err));
}

/* m's transfer failed: detach fails with ECONNRESET and closes everything;
   s1 is the peer, the count before the pair was made is before. */
static void assert_detach_resets(int m, int is_suffix, int s1, int before)
{
    if (is_suffix)
        TU_FAILS(suffix_detach(m, now() + 5000), ECONNRESET);
    else
        TU_FAILS(prefix_detach(m), ECONNRESET);
    TU_FAILS(msend(m, "x", 1, 0), EBADF);
    TU_FAILS(hclose(m), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 1);
    peer_sees_close(s1);
    TU_OK(hclose(s1));
    ck_assert_int_eq(tu_count_fds(), before);
}

START_TEST(detach_after_a_receive_emsgsize_fails_econnreset_and_closes_all)
{
    int before = baseline_fds();
    char buf[4];
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    raw_send(s[1], "\x00\x0a" "0123456789", 12);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 5000), EMSGSIZE);
    assert_detach_resets(m, 0, s[1], before);

    tu_pair(s);
    m = suffix(s[0], "\n");
    raw_send(s[1], "0123456789\n", 11);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 5000), EMSGSIZE);
    assert_detach_resets(m, 1, s[1], before);
}
END_TEST

START_TEST(detach_after_a_timeout_mid_message_fails_econnreset_and_closes_all)
{
    int before = baseline_fds();
    char buf[16];
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    raw_send(s[1], "\x00\x05" "ab", 4);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 50), ETIMEDOUT);
    assert_detach_resets(m, 0, s[1], before);

    tu_pair(s);
    m = suffix(s[0], "\r\n");
    raw_send(s[1], "abc\r", 4);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 50), ETIMEDOUT);
    assert_detach_resets(m, 1, s[1], before);

    /* A send that timed out half way counts too. */
    char *big = calloc(1, BIG);
    tu_pair(s);
    m = prefix(s[0], 4, 0);
    TU_FAILS(msend(m, big, BIG, now() + 50), ETIMEDOUT);
    TU_FAILS(msend(m, "x", 1, now() + 1000), ECONNRESET);
    assert_detach_resets(m, 0, s[1], before);
    free(big);
}
END_TEST

START_TEST(detach_of_the_wrong_kind_fails_enotsup_and_changes_nothing)
{
    int s[2];
    tu_pair(s);
    int mp = prefix(s[0], 2, 0);
    int ms = suffix(s[1], "\n");
    TU_FAILS(suffix_detach(mp, now() + 1000), ENOTSUP);
    TU_FAILS(prefix_detach(ms), ENOTSUP);
    /* Both still work: prefix out, suffix in (raw view of each other). */
    TU_OK(msend(mp, "ab\n", 3, now() + 5000));
    msg_expect(ms, "\x00\x03" "ab", 4); /* 00 03 'a' 'b' then '\n' ends it */
    TU_OK(hclose(mp));
    TU_OK(hclose(ms));

    tu_pair(s);
    TU_FAILS(prefix_detach(s[0]), ENOTSUP);
    TU_FAILS(suffix_detach(s[0], now() + 1000), ENOTSUP);
    tu_assert_connected(s[0], s[1]);
    tu_close_pair(s);
    int ch[2];
    TU_OK(chmake(ch));
    TU_FAILS(prefix_detach(ch[0]), ENOTSUP);
    TU_FAILS(suffix_detach(ch[0], 0), ENOTSUP);
    TU_OK(hclose(ch[0]));
    TU_OK(hclose(ch[1]));
    TU_FAILS(prefix_detach(-1), EBADF);
    TU_FAILS(suffix_detach(INT_MAX, 0), EBADF);
}
END_TEST

/*****************************************************************************/
/*  Closing, wrong kinds                                                     */
/*****************************************************************************/

START_TEST(hclose_of_a_message_socket_closes_the_bytestream_under_it)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    TU_OK(hclose(m));
    TU_FAILS(hclose(m), EBADF);
    TU_FAILS(mrecv(m, NULL, 0, 0), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));

    /* Peer is a message socket too: its mrecv sees EOF as EPIPE. */
    tu_pair(s);
    m = suffix(s[0], "\n");
    int p = suffix(s[1], "\n");
    TU_OK(msend(m, "last", 4, now() + 5000));
    TU_OK(hclose(m));
    ck_assert_int_eq(tu_count_fds(), before + 1);
    msg_expect(p, "last", 4);
    char spare[8];
    TU_FAILS(mrecv(p, spare, sizeof spare, now() + 5000), EPIPE);
    TU_OK(hclose(p));

    tu_pair(s);
    m = prefix(s[0], 2, 0);
    p = prefix(s[1], 2, 0);
    TU_OK(hclose(m));
    char buf[4];
    TU_FAILS(mrecv(p, buf, sizeof buf, now() + 5000), EPIPE);
    TU_OK(hclose(p));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(bytestream_calls_on_a_message_socket_fail_with_enotsup)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    struct iolist l = {buf, 1, NULL, 0};
    for (int kind = 0; kind < 2; kind++) {
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        TU_FAILS(bsend(m, "x", 1, now() + 1000), ENOTSUP);
        TU_FAILS(brecv(m, buf, 1, now() + 1000), ENOTSUP);
        TU_FAILS(bsendl(m, &l, &l, now() + 1000), ENOTSUP);
        TU_FAILS(brecvl(m, &l, &l, now() + 1000), ENOTSUP);
        TU_FAILS(brecvl(m, NULL, NULL, now() + 1000), ENOTSUP);
        /* Messages still flow both ways. */
        TU_OK(msend(m, "z", 1, now() + 5000));
        raw_expect(s[1], kind ? "z\n" : "\x00\x01" "z", 2 + (size_t)!kind);
        raw_send(s[1], kind ? "y\n" : "\x00\x01" "y", 2 + (size_t)!kind);
        msg_expect(m, "y", 1);
        if (kind) {
            TU_HANDLE(s[0], suffix_detach(m, now() + 5000));
        } else {
            TU_HANDLE(s[0], prefix_detach(m));
        }
    }
    tu_close_pair(s);
}
END_TEST

START_TEST(message_calls_on_other_handles_fail_with_enotsup)
{
    char buf[4];
    struct iolist l = {buf, 1, NULL, 0};
    int s[2];
    tu_pair(s);
    TU_FAILS(msend(s[0], "x", 1, now() + 1000), ENOTSUP);
    TU_FAILS(mrecv(s[0], buf, sizeof buf, now() + 1000), ENOTSUP);
    TU_FAILS(msendl(s[0], &l, &l, now() + 1000), ENOTSUP);
    TU_FAILS(mrecvl(s[0], &l, &l, now() + 1000), ENOTSUP);
    TU_FAILS(mrecvl(s[0], NULL, NULL, now() + 1000), ENOTSUP);
    tu_assert_connected(s[0], s[1]);
    tu_close_pair(s);

    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(msend(ls, "x", 1, 0), ENOTSUP);
    TU_FAILS(mrecv(ls, buf, sizeof buf, 0), ENOTSUP);
    tu_assert_accepts(ls, path);
    TU_OK(hclose(ls));

    int ch[2];
    TU_OK(chmake(ch));
    TU_FAILS(msend(ch[0], "x", 1, 0), ENOTSUP);
    TU_FAILS(mrecv(ch[1], buf, sizeof buf, 0), ENOTSUP);
    TU_OK(hclose(ch[0]));
    TU_OK(hclose(ch[1]));
}
END_TEST

START_TEST(message_calls_on_numbers_that_are_not_handles_fail_with_ebadf)
{
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    TU_OK(hclose(m));
    char buf[4];
    struct iolist l = {buf, 1, NULL, 0};
    int bad[] = {-1, INT_MIN, INT_MAX, 1 << 20, m};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TU_FAILS(msend(bad[i], "x", 1, now() + 1000), EBADF);
        TU_FAILS(mrecv(bad[i], buf, sizeof buf, now() + 1000), EBADF);
        TU_FAILS(msendl(bad[i], &l, &l, now() + 1000), EBADF);
        TU_FAILS(mrecvl(bad[i], &l, &l, now() + 1000), EBADF);
        TU_FAILS(mrecvl(bad[i], NULL, NULL, 0), EBADF);
        TU_FAILS(prefix_detach(bad[i]), EBADF);
        TU_FAILS(suffix_detach(bad[i], 0), EBADF);
    }
    TU_OK(hclose(s[1]));
}
END_TEST

/*****************************************************************************/
/*  Deadlines                                                                */
/*****************************************************************************/

START_TEST(mrecv_with_nothing_arriving_times_out_at_the_deadline)
{
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        char buf[8];
        int64_t deadline = now() + 50;
        TU_FAILS(mrecv(m, buf, sizeof buf, deadline), ETIMEDOUT);
        int64_t t = now();
        ck_assert_int_ge(t, deadline);
        ck_assert_int_lt(t, deadline + 500 * tu_slowness());
        TU_OK(hclose(m));
        TU_OK(hclose(s[1]));
    }
}
END_TEST

START_TEST(mrecv_with_deadline_0_fails_at_once_or_takes_a_waiting_message)
{
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        char buf[8];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        TM_FAILS_AT_ONCE(mrecv(m, buf, sizeof buf, 0), ETIMEDOUT);
        TU_OK(hclose(m));
        TU_OK(hclose(s[1]));
        tu_pair(s);
        m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        TM_FAILS_AT_ONCE(mrecv(m, buf, sizeof buf, now() - 1000), ETIMEDOUT);
        TU_OK(hclose(m));
        TU_OK(hclose(s[1]));
        /* A whole message waiting: deadline 0 takes it. */
        tu_pair(s);
        m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        raw_send(s[1], kind ? "ab\n" : "\x00\x02" "ab", kind ? 3 : 4);
        TM_SIZE(mrecv(m, buf, sizeof buf, 0), 2);
        ck_assert_mem_eq(buf, "ab", 2);
        TU_OK(hclose(m));
        TU_OK(hclose(s[1]));
    }
}
END_TEST

START_TEST(mrecv_timing_out_mid_message_breaks_the_receiving_side)
{
    char buf[16];
    /* Part of the payload. */
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 2, 0);
    raw_send(s[1], "\x00\x05" "ab", 4);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 50), ETIMEDOUT);
    raw_send(s[1], "cde" "\x00\x01" "f", 6); /* the rest arrives later */
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 1000), ECONNRESET);
    TU_FAILS(mrecv(m, buf, sizeof buf, 0), ECONNRESET);
    TU_OK(msend(m, "up", 2, now() + 5000)); /* sending still works */
    raw_expect(s[1], "\x00\x02" "up", 4);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
    /* Part of the header. */
    tu_pair(s);
    m = prefix(s[0], 2, 0);
    raw_send(s[1], "\x00", 1);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 50), ETIMEDOUT);
    raw_send(s[1], "\x01" "x", 2);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 1000), ECONNRESET);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
    /* Suffix: bytes without their suffix. */
    tu_pair(s);
    m = suffix(s[0], "\r\n");
    raw_send(s[1], "abc", 3);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 50), ETIMEDOUT);
    raw_send(s[1], "\r\nxy\r\n", 6);
    TU_FAILS(mrecv(m, buf, sizeof buf, now() + 1000), ECONNRESET);
    TU_OK(msend(m, "up", 2, now() + 5000));
    raw_expect(s[1], "up\r\n", 4);
    TU_OK(hclose(m));
    TU_OK(hclose(s[1]));
}
END_TEST

/*****************************************************************************/
/*  Threads                                                                  */
/*****************************************************************************/

START_TEST(second_concurrent_mrecv_fails_ebusy_and_disturbs_nothing)
{
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        int p = kind ? suffix(s[1], "\n") : prefix(s[1], 2, 0);
        char buf[16], buf2[16];
        struct mop rx = {.kind = MOP_RECV, .h = m, .buf = buf,
                         .len = sizeof buf, .deadline = now() + 10000};
        mop_start_blocked(&rx);
        TM_FAILS_AT_ONCE(mrecv(m, buf2, sizeof buf2, now() + 5000), EBUSY);
        TM_FAILS_AT_ONCE(mrecv(m, buf2, sizeof buf2, 0), EBUSY);
        TM_FAILS_AT_ONCE(mrecvl(m, NULL, NULL, -1), EBUSY);
        ck_assert(!mop_done(&rx));
        TU_OK(msend(p, "hello", 5, now() + 5000));
        mop_join(&rx);
        MOP_RETURNED(&rx, 5);
        ck_assert_mem_eq(buf, "hello", 5);
        /* Receiving is free again. */
        TU_OK(msend(p, "again", 5, now() + 5000));
        msg_expect(m, "again", 5);
        TU_OK(hclose(m));
        TU_OK(hclose(p));
    }
}
END_TEST

START_TEST(second_concurrent_msend_fails_ebusy_and_disturbs_nothing)
{
    unsigned char *big = malloc(BIG), *got = malloc(BIG);
    tu_fill(big, BIG, 11);
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 4, 0);
    int p = prefix(s[1], 4, 0);
    struct mop tx = {.kind = MOP_SEND, .h = m, .buf = big, .len = BIG,
                     .deadline = now() + 10000};
    mop_start_blocked(&tx);
    TM_FAILS_AT_ONCE(msend(m, "x", 1, now() + 5000), EBUSY);
    TM_FAILS_AT_ONCE(msend(m, "x", 1, 0), EBUSY);
    ck_assert(!mop_done(&tx));
    TM_SIZE(mrecv(p, got, BIG, now() + 10000), BIG);
    ck_assert(memcmp(got, big, BIG) == 0);
    mop_join(&tx);
    MOP_RETURNED(&tx, 0);
    TU_OK(msend(m, "x", 1, now() + 5000));
    msg_expect(p, "x", 1);
    TU_OK(hclose(m));
    TU_OK(hclose(p));
    free(big);
    free(got);
}
END_TEST

START_TEST(blocked_mrecv_and_msend_on_one_socket_work_concurrently)
{
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 4, 0);
        int p = kind ? suffix(s[1], "\n") : prefix(s[1], 4, 0);
        char buf[16];
        struct mop rx = {.kind = MOP_RECV, .h = m, .buf = buf,
                         .len = sizeof buf, .deadline = now() + 10000};
        mop_start_blocked(&rx);
        TU_OK(msend(m, "out", 3, now() + 5000));
        msg_expect(p, "out", 3);
        ck_assert(!mop_done(&rx));
        TU_OK(msend(p, "in", 2, now() + 5000));
        mop_join(&rx);
        MOP_RETURNED(&rx, 2);
        ck_assert_mem_eq(buf, "in", 2);
        TU_OK(hclose(m));
        TU_OK(hclose(p));
    }
    /* And the other way round: a blocked big msend, a receive beside it. */
    unsigned char *big = malloc(BIG), *got = malloc(BIG);
    tu_fill(big, BIG, 5);
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 4, 0);
    int p = prefix(s[1], 4, 0);
    struct mop tx = {.kind = MOP_SEND, .h = m, .buf = big, .len = BIG,
                     .deadline = now() + 10000};
    mop_start_blocked(&tx);
    TU_OK(msend(p, "small", 5, now() + 5000));
    msg_expect(m, "small", 5);
    ck_assert(!mop_done(&tx));
    TM_SIZE(mrecv(p, got, BIG, now() + 10000), BIG);
    ck_assert(memcmp(got, big, BIG) == 0);
    mop_join(&tx);
    MOP_RETURNED(&tx, 0);
    TU_OK(hclose(m));
    TU_OK(hclose(p));
    free(big);
    free(got);
}
END_TEST

START_TEST(hclose_from_another_thread_wakes_a_blocked_mrecv_with_ecanceled)
{
    int before = baseline_fds();
    for (int kind = 0; kind < 2; kind++) {
        int s[2];
        tu_pair(s);
        int m = kind ? suffix(s[0], "\n") : prefix(s[0], 2, 0);
        char buf[16];
        struct mop rx = {.kind = MOP_RECV, .h = m, .buf = buf,
                         .len = sizeof buf, .deadline = -1};
        mop_start_blocked(&rx);
        /* Part of a message has arrived: the call is mid-message. */
        raw_send(s[1], kind ? "par" : "\x00\x05" "par", kind ? 3 : 5);
        tu_sleep_ms(10);
        int64_t t0 = now();
        TU_OK(hclose(m));
        mop_join(&rx);
        MOP_FAILED(&rx, ECANCELED);
        ck_assert_int_lt(rx.returned_at - t0, 1000 * tu_slowness());
        TU_FAILS(mrecv(m, buf, sizeof buf, 0), EBADF);
        ck_assert_int_eq(tu_count_fds(), before + 1);
        peer_sees_close(s[1]);
        TU_OK(hclose(s[1]));
    }
    /* A blocked msend too. */
    char *big = calloc(1, BIG);
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 4, 0);
    struct mop tx = {.kind = MOP_SEND, .h = m, .buf = big, .len = BIG,
                     .deadline = -1};
    mop_start_blocked(&tx);
    TU_OK(hclose(m));
    mop_join(&tx);
    MOP_FAILED(&tx, ECANCELED);
    TU_OK(hclose(s[1]));
    free(big);
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

/* One direction of the random-size flows: n messages of sizes 0..MAXMSG,
   sent or received by a thread. For suffix sockets the payload never holds
   0xFF and the suffix starts with it, so it cannot appear early. */
struct flow {
    int h;
    int n;
    uint64_t seed;
    int is_suffix;
    int rc;
    int err;
    int bad; /* receiver: index of the first wrong message, or -1 */
    pthread_t th;
};

static size_t flow_size(const struct flow *f, int i)
{
    uint64_t st = f->seed * 1000003u + (uint64_t)i;
    if (i % 17 == 0)
        return 0;
    if (i % 29 == 0)
        return MAXMSG;
    return (size_t)(tu_rand(&st) % (MAXMSG + 1));
}

static void flow_fill(const struct flow *f, int i, unsigned char *buf,
                      size_t len)
{
    tu_fill(buf, len, f->seed * 7919u + (uint64_t)i);
    if (f->is_suffix)
        for (size_t k = 0; k < len; k++)
            if (buf[k] == 0xFF)
                buf[k] = 0;
}

static void *flow_sender(void *arg)
{
    struct flow *f = arg;
    unsigned char *buf = malloc(MAXMSG);
    f->rc = 0;
    for (int i = 0; i < f->n; i++) {
        size_t len = flow_size(f, i);
        flow_fill(f, i, buf, len);
        if (msend(f->h, buf, len, now() + 10000) != 0) {
            f->rc = -1;
            f->err = errno;
            break;
        }
    }
    free(buf);
    return NULL;
}

static void *flow_receiver(void *arg)
{
    struct flow *f = arg;
    unsigned char *want = malloc(MAXMSG), *got = malloc(MAXMSG + 1);
    f->rc = 0;
    f->bad = -1;
    for (int i = 0; i < f->n; i++) {
        size_t len = flow_size(f, i);
        flow_fill(f, i, want, len);
        ssize_t rc = mrecv(f->h, got, MAXMSG + 1, now() + 10000);
        if (rc < 0) {
            f->rc = -1;
            f->err = errno;
            break;
        }
        if ((size_t)rc != len || memcmp(got, want, len) != 0) {
            f->bad = i;
            break;
        }
    }
    free(want);
    free(got);
    return NULL;
}

/* Both directions at once: a sender and a receiver thread on each end. */
static void run_flows(int a, int b, int n, int is_suffix)
{
    struct flow f[4] = {
        {.h = a, .n = n, .seed = 1, .is_suffix = is_suffix},
        {.h = b, .n = n, .seed = 1, .is_suffix = is_suffix},
        {.h = b, .n = n, .seed = 2, .is_suffix = is_suffix},
        {.h = a, .n = n, .seed = 2, .is_suffix = is_suffix},
    };
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&f[i].th, NULL,
                                        i % 2 ? flow_receiver : flow_sender,
                                        &f[i]),
                         0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(f[i].th, NULL), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(f[i].rc == 0, "flow %d: %s failed with %s", i,
                      i % 2 ? "mrecv" : "msend", tu_errname(f[i].err));
        if (i % 2)
            ck_assert_msg(f[i].bad == -1,
                          "flow %d: message %d has the wrong size or bytes",
                          i, f[i].bad);
    }
}

START_TEST(random_size_prefix_messages_both_ways_keep_order_and_content)
{
    int s[2];
    tu_pair(s);
    int a = prefix(s[0], 4, 0);
    int b = prefix(s[1], 4, 0);
    run_flows(a, b, 200, 0);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
    tu_pair(s);
    a = prefix(s[0], 3, PREFIX_LITTLE_ENDIAN);
    b = prefix(s[1], 3, PREFIX_LITTLE_ENDIAN);
    run_flows(a, b, 60, 0);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
}
END_TEST

START_TEST(random_size_suffix_messages_both_ways_keep_order_and_content)
{
    int s[2];
    tu_pair(s);
    int a = suffix(s[0], "\xff\n");
    int b = suffix(s[1], "\xff\n");
    run_flows(a, b, 80, 1);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
}
END_TEST

/*****************************************************************************/
/*  libdill's dill_ spellings                                                */
/*****************************************************************************/

START_TEST(dill_spellings_of_the_message_calls_work)
{
    int s[2];
    tu_pair(s);
    struct dill_prefix_storage mem;
    int m;
    TU_HANDLE(m, dill_prefix_attach_mem(s[0], 2, DILL_PREFIX_LITTLE_ENDIAN,
                                        &mem));
    TU_OK(dill_msend(m, "hi", 2, dill_now() + 5000));
    raw_expect(s[1], "\x02\x00" "hi", 4);
    raw_send(s[1], "\x03\x00" "abc", 5);
    char buf[8];
    TM_SIZE(dill_mrecv(m, buf, sizeof buf, dill_now() + 5000), 3);
    ck_assert_mem_eq(buf, "abc", 3);
    int m2;
    TU_HANDLE(m2, dill_hown(m));
    TU_FAILS(dill_msend(m, "x", 1, 0), EBADF);
    TU_OK(dill_msend(m2, "ok", 2, dill_now() + 5000));
    raw_expect(s[1], "\x02\x00" "ok", 4);
    int b;
    TU_HANDLE(b, dill_prefix_detach(m2));
    struct dill_suffix_storage smem;
    TU_HANDLE(m, dill_suffix_attach_mem(b, "\n", 1, &smem));
    TU_OK(dill_msend(m, "z", 1, dill_now() + 5000));
    raw_expect(s[1], "z\n", 2);
    TU_OK(dill_hclose(m));
    TU_OK(dill_hclose(s[1]));
}
END_TEST

/*****************************************************************************/
/*  hown                                                                     */
/*****************************************************************************/

START_TEST(hown_moves_a_connection_to_a_new_number)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[1], "early", 5, now() + 5000)); /* waiting before hown */
    int h;
    TU_HANDLE(h, hown(s[0]));
    ck_assert_int_ne(h, s[0]);
    ck_assert_int_eq(tu_count_fds(), before + 2); /* the same object */
    TU_FAILS(bsend(s[0], "x", 1, 0), EBADF);
    TU_FAILS(brecv(s[0], NULL, 1, 0), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    /* Nothing lost, and the peer does not notice. */
    tu_expect_bytes(h, "early", 5);
    tu_assert_connected(h, s[1]);
    TU_OK(hclose(h));
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(hown_of_an_invalid_handle_fails_with_ebadf)
{
    int s[2];
    tu_pair(s);
    int dead = s[0];
    TU_OK(hclose(dead));
    TU_FAILS(hown(-1), EBADF);
    TU_FAILS(hown(INT_MIN), EBADF);
    TU_FAILS(hown(INT_MAX), EBADF);
    TU_FAILS(hown(1 << 20), EBADF);
    TU_FAILS(hown(dead), EBADF);
    int h;
    TU_HANDLE(h, hown(s[1]));
    TU_FAILS(hown(s[1]), EBADF); /* the old number is gone */
    TU_OK(hclose(h));
}
END_TEST

START_TEST(hown_twice_gives_a_third_number_that_works)
{
    int s[2];
    tu_pair(s);
    int h1, h2;
    TU_HANDLE(h1, hown(s[0]));
    TU_HANDLE(h2, hown(h1));
    ck_assert_int_ne(h2, h1);
    ck_assert_int_ne(h2, s[0]);
    TU_FAILS(bsend(h1, "x", 1, 0), EBADF);
    TU_FAILS(bsend(s[0], "x", 1, 0), EBADF);
    TU_FAILS(hclose(h1), EBADF);
    tu_assert_connected(h2, s[1]);
    TU_OK(hclose(h2));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hown_cancels_a_brecv_blocked_on_the_old_number)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 10000};
    tu_op_start_blocked(&op);
    int64_t t0 = now();
    int h;
    TU_HANDLE(h, hown(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    ck_assert_int_lt(op.returned_at - t0, 1000 * tu_slowness());
    /* The object goes on under the new number; the receive it cut short
       failed, so that direction is dead, as after any failed receive. */
    TU_FAILS(brecv(h, buf, 4, now() + 5000), ECONNRESET);
    TU_OK(bsend(h, "back", 4, now() + 5000));
    tu_expect_bytes(s[1], "back", 4);
    TU_OK(hclose(h));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hown_moves_a_listener_and_cancels_an_accept_on_the_old_number)
{
    int before = baseline_fds();
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = now() + 10000};
    tu_op_start_blocked(&op);
    int ls2;
    TU_HANDLE(ls2, hown(ls));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    TU_FAILS(ipc_accept(ls, 0), EBADF);
    TU_FAILS(hclose(ls), EBADF);
    ck_assert_int_eq(tu_count_fds(), before + 1);
    tu_assert_accepts(ls2, path);
    TU_OK(hclose(ls2));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(hown_moves_a_message_socket_and_messages_keep_flowing)
{
    int before = baseline_fds();
    int s[2];
    tu_pair(s);
    int m = prefix(s[0], 4, 0);
    int p = prefix(s[1], 4, 0);
    TU_OK(msend(p, "before", 6, now() + 5000)); /* waiting across hown */
    int m2;
    TU_HANDLE(m2, hown(m));
    ck_assert_int_ne(m2, m);
    TU_FAILS(msend(m, "x", 1, 0), EBADF);
    TU_FAILS(mrecv(m, NULL, 0, 0), EBADF);
    TU_FAILS(hclose(m), EBADF);
    msg_expect(m2, "before", 6);
    TU_OK(msend(m2, "out", 3, now() + 5000));
    msg_expect(p, "out", 3);
    TU_OK(msend(p, "in", 2, now() + 5000));
    msg_expect(m2, "in", 2);
    /* Still a prefix socket: detach works under the new number. */
    int b;
    TU_HANDLE(b, prefix_detach(m2));
    TU_OK(bsend(b, "\x00\x00\x00\x01" "r", 5, now() + 5000));
    msg_expect(p, "r", 1);
    TU_OK(hclose(b));
    TU_OK(hclose(p));
    ck_assert_int_eq(tu_count_fds(), before);

    /* A suffix socket, with a receive blocked on the old number. */
    tu_pair(s);
    m = suffix(s[0], "\n");
    p = suffix(s[1], "\n");
    char buf[8];
    struct mop rx = {.kind = MOP_RECV, .h = m, .buf = buf, .len = sizeof buf,
                     .deadline = now() + 10000};
    mop_start_blocked(&rx);
    TU_HANDLE(m2, hown(m));
    mop_join(&rx);
    MOP_FAILED(&rx, ECANCELED);
    /* The cut-short receive killed the receiving side; sending goes on. */
    TU_FAILS(mrecv(m2, buf, sizeof buf, now() + 5000), ECONNRESET);
    TU_OK(msend(m2, "back", 4, now() + 5000));
    msg_expect(p, "back", 4);
    TU_OK(hclose(m2));
    TU_OK(hclose(p));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

struct chan_arg {
    int ch;
    int val;
    int rc;
    int err;
};

static void *chan_sender(void *arg)
{
    struct chan_arg *c = arg;
    c->rc = chsend(c->ch, &c->val, sizeof c->val, now() + 5000);
    c->err = errno;
    return NULL;
}

/* hown on a channel end: tdill may answer ENOTSUP; otherwise the end must
   move like any other object. */
START_TEST(hown_on_a_channel_end_moves_it_or_fails_enotsup)
{
    int ch[2];
    TU_OK(chmake(ch));
    errno = 0;
    int h = hown(ch[0]);
    if (h == -1) {
        ck_assert_msg(errno == ENOTSUP, "hown(channel): expected a handle or "
                      "ENOTSUP, got %s", tu_errname(errno));
        fprintf(stderr, "note: hown on a channel end fails with ENOTSUP\n");
        hclose(ch[0]);
        TU_OK(hclose(ch[1]));
        return;
    }
    ck_assert_int_ne(h, ch[0]);
    int v = 0;
    TU_FAILS(chrecv(ch[0], &v, sizeof v, 0), EBADF);
    TU_FAILS(hclose(ch[0]), EBADF);
    struct chan_arg c = {.ch = ch[1], .val = 42};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, chan_sender, &c), 0);
    TU_OK(chrecv(h, &v, sizeof v, now() + 5000));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(v, 42);
    c = (struct chan_arg){.ch = h, .val = 43};
    ck_assert_int_eq(pthread_create(&th, NULL, chan_sender, &c), 0);
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_int_eq(v, 43);
    TU_OK(hclose(h));
    TU_OK(hclose(ch[1]));
}
END_TEST

/* hown, detach and hclose racing a sender and a receiver on the message
   socket being moved: calls fail as they may (EBADF, ECANCELED,
   ECONNRESET, ETIMEDOUT), but nothing crashes, hangs or leaks, and every
   descriptor is gone at the end. */
struct race {
    _Atomic int cur; /* the message socket's number now */
    _Atomic int stop;
    int peer;
};

static void *race_sender(void *arg)
{
    struct race *r = arg;
    char buf[100];
    memset(buf, 'x', sizeof(buf));
    for (unsigned i = 0; !r->stop; i++)
        msend(r->cur, buf, i % sizeof(buf), now() + 20);
    return NULL;
}

static void *race_receiver(void *arg)
{
    struct race *r = arg;
    char buf[200];
    while (!r->stop)
        mrecv(r->peer, buf, sizeof(buf), now() + 20);
    return NULL;
}

static void *race_mover(void *arg)
{
    struct race *r = arg;
    while (!r->stop) {
        int h = hown(r->cur);
        if (h >= 0)
            r->cur = h;
    }
    return NULL;
}

START_TEST(moves_and_closes_race_message_traffic_without_harm)
{
    int before = baseline_fds();
    for (int round = 0; round < 100; round++) {
        int s[2];
        tu_pair(s);
        struct race r = {.stop = 0};
        r.cur = prefix(s[0], 4, 0);
        r.peer = prefix(s[1], 4, 0);
        pthread_t th[3];
        void *(*fn[3])(void *) = {race_sender, race_receiver, race_mover};
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(pthread_create(&th[i], NULL, fn[i], &r), 0);
        tu_sleep_ms(2);
        int b = round % 2 ? prefix_detach(r.cur) : -1;
        hclose(b >= 0 ? b : r.cur);
        r.stop = 1;
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        hclose(r.cur); /* gone already, or moved by a late hown */
        TU_OK(hclose(r.peer));
    }
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

/*****************************************************************************/

int main(void)
{
    Suite *s = suite_create("msg");

    TCase *tc = tu_tcase("attach");
    tcase_add_test(tc, prefix_attach_takes_over_the_bytestream_handle);
    tcase_add_test(tc, prefix_attach_mem_takes_over_the_bytestream_handle);
    tcase_add_test(
        tc, suffix_attach_and_attach_mem_take_over_the_bytestream_handle);
    tcase_add_test(tc, attach_over_connect_and_accept_handles_works);
    tcase_add_test(
        tc, prefix_attach_with_hdrlen_0_or_over_8_fails_einval_and_consumes_s);
    tcase_add_test(
        tc, prefix_attach_with_unknown_flags_fails_einval_and_consumes_s);
    tcase_add_test(
        tc, prefix_attach_mem_with_null_mem_fails_einval_and_consumes_s);
    tcase_add_test(tc,
                   suffix_attach_with_bad_suffix_fails_einval_and_consumes_s);
    tcase_add_test(tc, attach_to_an_invalid_handle_fails_with_ebadf);
    tcase_add_test(tc, attach_to_a_listener_fails_eproto_and_consumes_it);
    tcase_add_test(tc, attach_to_a_channel_end_fails_eproto_and_consumes_it);
    tcase_add_test(tc,
                   attach_to_a_message_socket_fails_eproto_and_consumes_it);
    suite_add_tcase(s, tc);

    tc = tu_tcase("prefix");
    tcase_add_test(tc, prefix_msend_writes_a_big_endian_size_then_the_bytes);
    tcase_add_test(tc,
                   prefix_little_endian_msend_writes_the_size_low_byte_first);
    tcase_add_test(tc,
                   prefix_wire_format_holds_for_every_hdrlen_and_byte_order);
    tcase_add_test(
        tc, prefix_raw_bytes_in_one_write_are_received_as_separate_messages);
    tcase_add_test(tc, prefix_empty_messages_are_sent_and_received);
    tcase_add_test(tc, mrecv_into_a_larger_buffer_returns_the_message_size);
    tcase_add_test(
        tc, prefix_msend_too_big_for_hdrlen_fails_emsgsize_and_sends_nothing);
    tcase_add_test(
        tc, prefix_mrecv_too_small_buffer_fails_emsgsize_then_econnreset);
    suite_add_tcase(s, tc);

    tc = tu_tcase("iolist");
    tcase_add_test(
        tc, mrecvl_with_null_lists_drops_one_message_and_returns_its_size);
    tcase_add_test(tc, msendl_gathers_the_pieces_into_one_message);
    tcase_add_test(tc, mrecvl_scatters_one_message_across_the_pieces);
    tcase_add_test(
        tc, msendl_with_a_malformed_list_fails_einval_and_sends_nothing);
    tcase_add_test(
        tc, mrecvl_with_a_malformed_list_fails_einval_and_takes_nothing);
    suite_add_tcase(s, tc);

    tc = tu_tcase("suffix");
    tcase_add_test(tc, suffix_msend_writes_the_bytes_then_the_suffix);
    tcase_add_test(tc,
                   suffix_raw_bytes_are_split_into_messages_at_each_suffix);
    tcase_add_test(tc, suffix_empty_messages_are_the_suffix_alone);
    tcase_add_test(tc, suffix_of_1_and_of_32_bytes_work);
    tcase_add_test(
        tc, suffix_that_overlaps_itself_is_found_where_it_first_appears);
    tcase_add_test(
        tc, suffix_msend_of_a_message_containing_the_suffix_fails_einval);
    tcase_add_test(tc, suffix_mrecv_with_buffer_of_the_message_size_succeeds);
    tcase_add_test(
        tc, suffix_mrecv_too_small_buffer_fails_emsgsize_then_econnreset);
    tcase_add_test(tc, messages_arriving_byte_by_byte_are_assembled);
    tcase_add_test(tc, suffix_split_across_two_writes_is_found);
    suite_add_tcase(s, tc);

    tc = tu_tcase("detach");
    tcase_add_test(
        tc, prefix_detach_gives_back_the_bytestream_with_the_bytes_after);
    tcase_add_test(
        tc, suffix_detach_gives_back_the_bytestream_with_the_bytes_after);
    tcase_add_test(
        tc, detach_of_an_unused_or_sending_socket_gives_back_a_working_stream);
    tcase_add_test(
        tc, detach_after_a_receive_emsgsize_fails_econnreset_and_closes_all);
    tcase_add_test(
        tc,
        detach_after_a_timeout_mid_message_fails_econnreset_and_closes_all);
    tcase_add_test(tc,
                   detach_of_the_wrong_kind_fails_enotsup_and_changes_nothing);
    suite_add_tcase(s, tc);

    tc = tu_tcase("close_kinds");
    tcase_add_test(tc,
                   hclose_of_a_message_socket_closes_the_bytestream_under_it);
    tcase_add_test(tc, bytestream_calls_on_a_message_socket_fail_with_enotsup);
    tcase_add_test(tc, message_calls_on_other_handles_fail_with_enotsup);
    tcase_add_test(
        tc, message_calls_on_numbers_that_are_not_handles_fail_with_ebadf);
    suite_add_tcase(s, tc);

    tc = tu_tcase("deadlines");
    tcase_add_test(tc, mrecv_with_nothing_arriving_times_out_at_the_deadline);
    tcase_add_test(
        tc, mrecv_with_deadline_0_fails_at_once_or_takes_a_waiting_message);
    tcase_add_test(tc, mrecv_timing_out_mid_message_breaks_the_receiving_side);
    suite_add_tcase(s, tc);

    tc = tu_tcase("threads");
    tcase_add_test(tc,
                   second_concurrent_mrecv_fails_ebusy_and_disturbs_nothing);
    tcase_add_test(tc,
                   second_concurrent_msend_fails_ebusy_and_disturbs_nothing);
    tcase_add_test(tc,
                   blocked_mrecv_and_msend_on_one_socket_work_concurrently);
    tcase_add_test(
        tc, hclose_from_another_thread_wakes_a_blocked_mrecv_with_ecanceled);
    tcase_add_test(
        tc, random_size_prefix_messages_both_ways_keep_order_and_content);
    tcase_add_test(
        tc, random_size_suffix_messages_both_ways_keep_order_and_content);
    suite_add_tcase(s, tc);

    tc = tu_tcase("dill_names");
    tcase_add_test(tc, dill_spellings_of_the_message_calls_work);
    suite_add_tcase(s, tc);

    tc = tu_tcase("hown");
    tcase_add_test(tc, hown_moves_a_connection_to_a_new_number);
    tcase_add_test(tc, hown_of_an_invalid_handle_fails_with_ebadf);
    tcase_add_test(tc, hown_twice_gives_a_third_number_that_works);
    tcase_add_test(tc, hown_cancels_a_brecv_blocked_on_the_old_number);
    tcase_add_test(
        tc, hown_moves_a_listener_and_cancels_an_accept_on_the_old_number);
    tcase_add_test(tc, hown_moves_a_message_socket_and_messages_keep_flowing);
    tcase_add_test(tc, hown_on_a_channel_end_moves_it_or_fails_enotsup);
    tcase_add_test(tc, moves_and_closes_race_message_traffic_without_harm);
    suite_add_tcase(s, tc);

    return tu_main(s);
}
