/* The stress test's transfers: sending and receiving frames, and checking
   every byte received; see stress.h. */
#include "stress.h"

#include <stdlib.h>
#include <unistd.h>

/******************************************************************************/
/*  Sending and receiving frames                                              */
/******************************************************************************/

/* A 0-byte transfer on a side another test thread drives: succeeds or
   answers EBUSY (or the side's state), and never moves or breaks anything. */
static void zero_probe(struct worker *w, int h, int out)
{
    int64_t dl = st_deadline(w, 1);
    long rc = out ? ST_CALL(w, OP_ZERO, h, dl, bsend(h, w->scratch, 0, dl))
                  : ST_CALL(w, OP_ZERO, h, dl, brecv(h, w->scratch, 0, dl));
    st_judge(OP_ZERO, rc, errno, ERRS(EBUSY, ECONNRESET, EPIPE, EBADF), h);
}

/* A side that failed once fails for good: with EPIPE after an end of
   stream, ECONNRESET after anything else, EBADF once the handle is gone. */
static void dead_probe(struct worker *w, int h, int out, int died_with)
{
    long rc = out ? ST_CALL(w, OP_DEAD, h, 0, bsend(h, "x", 1, 0))
                  : ST_CALL(w, OP_DEAD, h, 0, brecv(h, w->scratch, 1, 0));
    int err = errno;
    atomic_fetch_add(&st.tally[OP_DEAD][0], 1);
    int want = died_with == EPIPE ? EPIPE : ECONNRESET;
    int closed = died_with == EBADF || died_with == ECANCELED;
    if (rc == 0)
        st_failure("%s on handle %d succeeded after that side died with %s",
                   out ? "bsend" : "brecv", h, tu_errname(died_with));
    else if (err != EBADF && (closed || (err != want && err != EBUSY)))
        st_failure("%s on handle %d, dead with %s, failed with %s",
                   out ? "bsend" : "brecv", h, tu_errname(died_with),
                   tu_errname(err));
}

/* Splits [buf, buf + n) into 1..4 pieces, some of them empty; in a receive
   list, pieces of the payload may be skipped (iol_base NULL). Returns the
   number of pieces; *skipped tells whether any bytes are skipped. */
static int make_list(struct worker *w, struct iolist *l, unsigned char *buf,
                     size_t n, size_t pos, int for_recv, int *skipped)
{
    int k = 1 + (int)st_rndn(w, 4);
    size_t off = 0;
    *skipped = 0;
    for (int i = 0; i < k; i++) {
        size_t len = i == k - 1 ? n - off : st_rndn(w, n - off + 1);
        l[i] =
            (struct iolist){buf + off, len, i < k - 1 ? &l[i + 1] : NULL, 0};
        if (len == 0 && st_rndn(w, 2))
            l[i].iol_base = NULL;
        else if (for_recv && len && pos + off >= SF_HDR && !st_rndn(w, 6)) {
            l[i].iol_base = NULL;
            *skipped = 1;
        }
        off += len;
    }
    return k;
}

/* The list must be exactly as before the call, whatever happened. */
static void check_list(const struct iolist *l, const struct iolist *copy,
                       int k, int h)
{
    for (int i = 0; i < k; i++)
        if (l[i].iol_base != copy[i].iol_base ||
            l[i].iol_len != copy[i].iol_len ||
            l[i].iol_next != copy[i].iol_next ||
            l[i].iol_rsvd != copy[i].iol_rsvd)
            st_failure("iolist changed by a call on handle %d", h);
}

static void mark_dead(struct st_dir *x, int out, int err)
{
    if (out)
        x->snd_dead = err;
    else
        x->rcv_dead = err;
    atomic_fetch_or(&x->dead, out ? 1 : 2);
}

static long send_chunk(struct worker *w, struct st_dir *x, int h, size_t n,
                       int64_t dl, enum st_op *op)
{
    unsigned char *p = x->snd_buf + x->snd_off;
    if (st_rndn(w, 3)) {
        *op = OP_BSEND;
        return ST_CALL(w, *op, h, dl, bsend(h, p, n, dl));
    }
    struct iolist l[4], copy[4];
    int skipped, k = make_list(w, l, p, n, 0, 0, &skipped);
    memcpy(copy, l, sizeof l);
    *op = OP_BSENDL;
    long rc = ST_CALL(w, *op, h, dl, bsendl(h, &l[0], &l[k - 1], dl));
    int err = errno;
    check_list(l, copy, k, h);
    errno = err;
    return rc;
}

/* The next frame to send in direction d of connection serial. */
static void send_frame_start(struct st_dir *x, uint64_t serial, int d)
{
    sf_make(serial, d, x->snd_seq, x->snd_buf, &x->snd_f);
    x->snd_busy = 1;
    x->snd_off = 0;
    x->snd_fd = x->snd_f.kind == SF_FD;
}

/* Accounts for n bytes (or the descriptor) sent without error. */
static void send_done(struct st_dir *x, enum st_op op, size_t n)
{
    atomic_fetch_add(&x->sent, n);
    if (op == OP_SENDFD)
        x->snd_fd = 0;
    else
        x->snd_off += n;
    if (x->snd_off == x->snd_f.len && !x->snd_fd) {
        x->snd_busy = 0;
        x->snd_seq++;
        atomic_fetch_add(&x->sent_frames, 1);
    }
}

void st_op_send(struct worker *w)
{
    struct st_conn *c = &st.conns[st_rndn(w, NSLOT)];
    int d = (int)st_rndn(w, 2);
    uint64_t serial;
    int h = st_snapshot(c, d, &serial);
    if (h < 0)
        return;
    struct st_dir *x = &c->dir[d];
    if (pthread_mutex_trylock(&x->snd_mu) != 0) {
        zero_probe(w, h, 1);
        return;
    }
    if (x->serial != serial)
        goto out;
    if (x->snd_dead) {
        dead_probe(w, h, 1, x->snd_dead);
        pthread_mutex_unlock(&x->snd_mu);
        st_begin_teardown(c, st_rndn(w, 4) == 0, 0);
        return;
    }
    if (!x->snd_busy)
        send_frame_start(x, serial, d);
    /* Mostly, leave the receiver room so that sends need not wait. */
    int risky = st_rndn(w, 100) < 10;
    if (!risky && atomic_load(&x->sent) - atomic_load(&x->rcvd) > 96 * 1024)
        goto out;
    int64_t dl = st_deadline(w, risky);
    size_t n = 1;
    enum st_op op = OP_SENDFD;
    long rc;
    if (x->snd_off < x->snd_f.len) {
        size_t left = x->snd_f.len - x->snd_off;
        n = st_rndn(w, 2) ? left : 1 + st_rndn(w, left);
        rc = send_chunk(w, x, h, n, dl, &op);
    } else {
        rc = ST_CALL(w, op, h, dl, ipc_sendfd(h, st.marker_fd, dl));
    }
    int err = errno;
    if (st_judge(op, rc, err, ST_XFER_ERRS, h)) {
        send_done(x, op, n);
    } else if (err != EBUSY) {
        mark_dead(x, 1, err);
    }
out:
    pthread_mutex_unlock(&x->snd_mu);
}

/* Receives n bytes of the frame at rcv_off, one way or another, into the
   same offset of rcv_buf. Bytes skipped on purpose are filled in from the
   expected frame afterwards (they cannot be checked); *skipped says so. */
static long recv_chunk(struct worker *w, struct st_dir *x, int h, size_t n,
                       int64_t dl, enum st_op *op, int *skipped)
{
    unsigned char *p = x->rcv_buf + x->rcv_off;
    const unsigned char *e = x->rcv_exp + x->rcv_off;
    size_t r = st_rndn(w, 10);
    long rc;
    *skipped = 0;
    if (r == 9 && x->rcv_off >= SF_HDR) {
        *op = OP_DISCARD;
        rc = ST_CALL(w, *op, h, dl, brecv(h, NULL, n, dl));
        if (rc == 0) {
            memcpy(p, e, n);
            *skipped = 1;
        }
        return rc;
    }
    if (r < 6) {
        *op = OP_BRECV;
        return ST_CALL(w, *op, h, dl, brecv(h, p, n, dl));
    }
    struct iolist l[4], copy[4];
    int skips, k = make_list(w, l, p, n, x->rcv_off, 1, &skips);
    memcpy(copy, l, sizeof l);
    *op = OP_BRECVL;
    rc = ST_CALL(w, *op, h, dl, brecvl(h, &l[0], &l[k - 1], dl));
    int err = errno;
    check_list(l, copy, k, h);
    if (rc == 0) {
        size_t off = 0;
        for (int i = 0; i < k; i++) {
            if (!l[i].iol_base)
                memcpy(p + off, e + off, l[i].iol_len);
            off += l[i].iol_len;
        }
        *skipped = skips;
    }
    errno = err;
    return rc;
}

/* Checks n bytes just received at rcv_off against the expected frame. */
static void verify_chunk(struct st_dir *x, size_t n, int h)
{
    const unsigned char *got = x->rcv_buf + x->rcv_off;
    const unsigned char *want = x->rcv_exp + x->rcv_off;
    if (memcmp(got, want, n) == 0)
        return;
    size_t i = 0;
    while (got[i] == want[i])
        i++;
    st_failure(
        "corrupt stream on handle %d: connection %llu frame %u byte %zu "
        "is %#x, expected %#x",
        h, (unsigned long long)x->serial, x->rcv_seq, x->rcv_off + i, got[i],
        want[i]);
}

static void frame_done(struct st_dir *x, int h)
{
    const char *bad = sf_check(x->rcv_buf, x->rcv_f.len, x->serial, x->rcv_seq,
                               x->rcv_skipped);
    if (bad)
        st_failure("frame %u of connection %llu on handle %d: %s", x->rcv_seq,
                   (unsigned long long)x->serial, h, bad);
    x->rcv_busy = 0;
    x->rcv_seq++;
    atomic_fetch_add(&x->rcvd_frames, 1);
    atomic_fetch_add(&st.frames_ok, 1);
}

/* The next frame expected in direction d of connection serial. */
static void recv_frame_start(struct st_dir *x, uint64_t serial, int d)
{
    sf_make(serial, d, x->rcv_seq, x->rcv_exp, &x->rcv_f);
    x->rcv_busy = 1;
    x->rcv_off = 0;
    x->rcv_fd = x->rcv_f.kind == SF_FD;
    x->rcv_skipped = 0;
}

/* Checks and accounts for n bytes (or the descriptor rc) received without
   error. */
static void recv_done(struct st_dir *x, int h, enum st_op op, long rc,
                      size_t n, int skipped)
{
    atomic_fetch_add(&x->rcvd, n);
    if (op == OP_RECVFD) {
        if (!tu_same_file((int)rc, st.marker_fd))
            st_failure("ipc_recvfd on handle %d gave a descriptor that is not "
                       "the one sent",
                       h);
        close((int)rc);
        x->rcv_fd = 0;
        atomic_fetch_add(&st.fds_ok, 1);
    } else {
        verify_chunk(x, n, h);
        x->rcv_skipped |= skipped;
        x->rcv_off += n;
        atomic_fetch_add(&st.bytes_ok, (long)n);
    }
    if (x->rcv_off == x->rcv_f.len && !x->rcv_fd)
        frame_done(x, h);
}

void st_op_recv(struct worker *w)
{
    struct st_conn *c = &st.conns[st_rndn(w, NSLOT)];
    int d = (int)st_rndn(w, 2);
    uint64_t serial;
    int h = st_snapshot(c, 1 - d, &serial);
    if (h < 0)
        return;
    struct st_dir *x = &c->dir[d];
    if (pthread_mutex_trylock(&x->rcv_mu) != 0) {
        zero_probe(w, h, 0);
        return;
    }
    if (x->serial != serial)
        goto out;
    if (x->rcv_dead) {
        dead_probe(w, h, 0, x->rcv_dead);
        pthread_mutex_unlock(&x->rcv_mu);
        st_begin_teardown(c, st_rndn(w, 4) == 0, 0);
        return;
    }
    if (!x->rcv_busy)
        recv_frame_start(x, serial, d);
    /* Mostly, ask only for what was sent already: no need to wait. */
    int risky = st_rndn(w, 100) < 10;
    uint64_t avail = atomic_load(&x->sent) - atomic_load(&x->rcvd);
    if (!risky && avail == 0)
        goto out;
    int64_t dl = st_deadline(w, risky);
    enum st_op op = OP_RECVFD;
    size_t n = 1;
    int skipped = 0;
    long rc;
    if (x->rcv_off < x->rcv_f.len) {
        size_t left = x->rcv_f.len - x->rcv_off;
        n = st_rndn(w, 2) ? left : 1 + st_rndn(w, left);
        if (!risky && n > avail)
            n = (size_t)avail;
        rc = recv_chunk(w, x, h, n, dl, &op, &skipped);
    } else {
        rc = ST_CALL(w, op, h, dl, ipc_recvfd(h, dl));
    }
    int err = errno;
    if (st_judge(op, rc, err, ST_XFER_ERRS, h))
        recv_done(x, h, op, rc, n, skipped);
    else if (err != EBUSY)
        mark_dead(x, 0, err);
out:
    pthread_mutex_unlock(&x->rcv_mu);
}
