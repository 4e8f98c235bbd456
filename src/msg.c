#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "api.h"
#include "iolist.h"
#include "now.h"
#include "sock.h"
#include "tdill.h"

/*
 * Message sockets: each message preceded by its size, or ended by a
 * suffix, on a bytestream connection; the wire format is libdill's.
 * Attaching moves the connection's socket object behind a message object
 * under a new handle, and a message goes through the same retry loop as a
 * bytestream's bytes. Nothing is ever read past the end of the message
 * being received (a suffix is found by peeking first), so there is no
 * read-ahead to lose when the connection is detached again.
 */

#define MAX_HDRLEN 8
#define MAX_SUFFIX 32
#define PEEK 4096

struct td_msg {
    struct td_sock *s; /* the connection under it, ours */
    bool heap;
    bool suffix;     /* which of the two protocols */
    bool big_endian; /* prefix only */
    uint8_t len;     /* the prefix's, or the suffix's, length */
    uint8_t sfx[MAX_SUFFIX];
};

_Static_assert(sizeof(struct td_msg) <= sizeof(struct tdill_prefix_storage),
               "struct tdill_prefix_storage too small");
_Static_assert(sizeof(struct td_msg) <= sizeof(struct tdill_suffix_storage),
               "struct tdill_suffix_storage too small");

/******************************************************************************/
/*  The object: the connection's socket with a protocol on top                */
/******************************************************************************/

/* Everything but freeing the message object is the socket's business. */
static void msg_cancel(void *obj)
{
    td_conn_vfs.cancel(((struct td_msg *)obj)->s);
}

static void msg_destroy(void *obj)
{
    struct td_msg *m = obj;
    td_conn_vfs.destroy(m->s);
    if (m->heap)
        free(m);
}

static void msg_fork_prepare(void *obj)
{
    td_conn_vfs.fork_prepare(((struct td_msg *)obj)->s);
}

static void msg_fork_parent(void *obj)
{
    td_conn_vfs.fork_parent(((struct td_msg *)obj)->s);
}

static unsigned msg_fork_child(void *obj)
{
    return td_conn_vfs.fork_child(((struct td_msg *)obj)->s);
}

static void msg_withdraw(void *obj)
{
    td_conn_vfs.withdraw(((struct td_msg *)obj)->s);
}

static void msg_rehome(void *obj, int h)
{
    td_conn_vfs.rehome(((struct td_msg *)obj)->s, h);
}

static struct td_sock *msg_sock(void *obj)
{
    return ((struct td_msg *)obj)->s;
}

static const struct td_vfs td_msg_vfs = {
    .cancel = msg_cancel,
    .destroy = msg_destroy,
    .fork_prepare = msg_fork_prepare,
    .fork_parent = msg_fork_parent,
    .fork_child = msg_fork_child,
    .withdraw = msg_withdraw,
    .rehome = msg_rehome,
    .sock = msg_sock,
};

/******************************************************************************/
/*  Attaching and detaching                                                   */
/******************************************************************************/

struct attach {
    const struct td_msg *proto; /* what to make */
    void *mem;                  /* where, NULL: on the heap */
};

static int wrap_conn(void *arg, void **obj, const struct td_vfs **vfs)
{
    struct attach *a = arg;
    struct td_msg *m = a->mem ? a->mem : malloc(sizeof(*m));
    if (!m)
        return ENOMEM;
    *m = *a->proto;
    m->s = *obj;
    m->heap = !a->mem;
    *obj = m;
    *vfs = &td_msg_vfs;
    return 0;
}

/* As libdill's, attaching consumes the connection whatever happens, unless
   it was no handle at all; what is not a bytestream fails with EPROTO. */
static int attach(int h, const struct td_msg *proto, void *mem, bool bad_args)
{
    td_call_begin(0);
    int newh, rc;
    if (bad_args) {
        rc = td_handle_close(h) ? EBADF : EINVAL;
    } else {
        struct attach a = {proto, mem};
        rc = td_handle_move(h, &td_conn_vfs, wrap_conn, &a, &newh);
        if (rc && rc != EBADF)
            td_handle_close(h); /* if the move has not consumed it */
        if (rc == ENOTSUP)
            rc = EPROTO;
    }
    td_call_end();
    return rc ? td_fail(rc) : newh;
}

static int unwrap_msg(void *arg, void **obj, const struct td_vfs **vfs)
{
    (void)arg;
    struct td_msg *m = *obj;
    if (m->s->state[TD_IN] || m->s->state[TD_OUT])
        return ECONNRESET;
    *obj = m->s;
    *vfs = &td_conn_vfs;
    if (m->heap)
        free(m);
    return 0;
}

/* Like libdill's, a detach that fails closes the message socket and the
   connection under it (unless there was no such message socket). */
static int detach(int h, bool suffix)
{
    td_call_begin(0);
    struct td_msg *m;
    int newh, rc = td_handle_acquire(h, &td_msg_vfs, (void **)&m);
    if (rc == 0) {
        /* A live object keeps its protocol: checking first is safe. */
        bool kind_ok = m->suffix == suffix;
        td_handle_release(h);
        rc = kind_ok ? td_handle_move(h, &td_msg_vfs, unwrap_msg, NULL, &newh)
                     : ENOTSUP;
    }
    td_call_end();
    return rc ? td_fail(rc) : newh;
}

/******************************************************************************/
/*  Sending                                                                   */
/******************************************************************************/

static void put_size(const struct td_msg *m, uint64_t size, uint8_t *hdr)
{
    for (int i = 0; i < m->len; i++) {
        hdr[m->big_endian ? m->len - 1 - i : i] = (uint8_t)size;
        size >>= 8;
    }
}

static uint64_t get_size(const struct td_msg *m, const uint8_t *hdr)
{
    uint64_t size = 0;
    for (int i = 0; i < m->len; i++)
        size = size << 8 | hdr[m->big_endian ? i : m->len - 1 - i];
    return size;
}

/* The receiver ends a message at the first suffix it sees, so one must
   not appear before the one we append: not in the message, nor across its
   end (suffix "bb" after "ab" would be found at "a|bb|b"). Scans the
   message and then the suffix's first len-1 bytes, carrying the last
   len-1 bytes seen over to find one split between pieces. */
struct scan {
    const struct td_msg *m;
    uint8_t win[2 * MAX_SUFFIX];
    size_t keep;
};

static bool scan_finds(struct scan *sc, const uint8_t *p, size_t n)
{
    size_t len = sc->m->len, tail = len - 1, head = n < tail ? n : tail;
    if (head)
        memcpy(sc->win + sc->keep, p, head);
    if (memmem(sc->win, sc->keep + head, sc->m->sfx, len) ||
        (n >= len && memmem(p, n, sc->m->sfx, len)))
        return true;
    size_t w = sc->keep + head, k = w < tail ? w : tail;
    if (n >= tail)
        memcpy(sc->win, p + n - tail, tail);
    else
        memmove(sc->win, sc->win + w - k, k);
    sc->keep = n >= tail ? tail : k;
    return false;
}

static int check_no_suffix(const struct td_msg *m, struct tdill_iolist *first,
                           struct tdill_iolist *last)
{
    struct scan sc = {.m = m};
    for (struct tdill_iolist *it = first;; it = it->iol_next) {
        if (scan_finds(&sc, it->iol_base, it->iol_len))
            return EINVAL;
        if (it == last)
            return scan_finds(&sc, m->sfx, m->len - 1u) ? EINVAL : 0;
    }
}

/* What may not be sent is refused before anything moves. */
static int check_send(const struct td_msg *m, struct tdill_iolist *first,
                      struct tdill_iolist *last, size_t total)
{
    if (total > SIZE_MAX - MAX_SUFFIX)
        return EMSGSIZE;
    if (m->suffix)
        return check_no_suffix(m, first, last);
    if (m->len < MAX_HDRLEN && (uint64_t)total >> (8 * m->len))
        return EMSGSIZE;
    return 0;
}

static int send_msg(const struct td_msg *m, struct tdill_iolist *first,
                    struct tdill_iolist *last, size_t total, int64_t deadline)
{
    uint8_t hdr[MAX_HDRLEN];
    struct tdill_iolist head = {hdr, m->len, first, 0};
    struct tdill_iolist tail = {(void *)m->sfx, m->len, NULL, 0};
    struct td_iocur c;
    if (m->suffix) {
        td_iocur_init_tail(&c, first, last, &tail, total + m->len);
    } else {
        put_size(m, total, hdr);
        td_iocur_init(&c, &head, total + m->len);
    }
    return td_sock_transfer(m->s, TD_OUT, &c, deadline, TD_AGAIN);
}

/* The order of checks is bsend's (see bsock.c). */
static int msg_sendl(int h, struct tdill_iolist *first,
                     struct tdill_iolist *last, int64_t deadline)
{
    struct td_msg *m;
    size_t total = 0;
    int rc = td_handle_begin(h, &td_msg_vfs, (void **)&m);
    if (rc)
        return td_fail(rc);
    rc = td_iolist_check(first, last, 1, &total);
    if (rc == 0)
        rc = check_send(m, first, last, total);
    if (rc == 0)
        rc = td_sock_enter(m->s, TD_OUT);
    if (rc == 0) {
        rc = send_msg(m, first, last, total, td_deadline_ns(deadline));
        td_sock_leave(m->s, TD_OUT, rc);
    }
    td_handle_end(h);
    return rc ? td_fail(rc) : 0;
}

/******************************************************************************/
/*  Receiving                                                                 */
/******************************************************************************/

/* Where a message's bytes go: the caller's list, or nowhere. */
struct sink {
    struct td_iocur c; /* left: the room still there */
    bool drop;
    size_t size; /* bytes of the message so far */
};

static int sink_put(struct sink *k, const uint8_t *p, size_t n)
{
    if (n > (k->drop ? (size_t)SSIZE_MAX - k->size : k->c.left))
        return EMSGSIZE;
    k->size += n;
    while (!k->drop && n) {
        uint8_t scratch[256];
        struct iovec iov;
        td_iocur_fill(&k->c, &iov, 1, scratch, sizeof(scratch));
        size_t step = iov.iov_len < n ? iov.iov_len : n;
        memcpy(iov.iov_base, p, step);
        td_iocur_advance(&k->c, step);
        p += step;
        n -= step;
    }
    return 0;
}

static int recv_prefixed(const struct td_msg *m, struct sink *k,
                         int64_t deadline)
{
    uint8_t hdr[MAX_HDRLEN];
    struct tdill_iolist head = {hdr, m->len, NULL, 0};
    struct td_iocur c;
    td_iocur_init(&c, &head, m->len);
    int rc = td_sock_transfer(m->s, TD_IN, &c, deadline, TD_AGAIN);
    if (rc)
        return rc;
    uint64_t size = get_size(m, hdr);
    if (size > (k->drop ? (uint64_t)SSIZE_MAX : k->c.left))
        return EMSGSIZE;
    k->size = (size_t)size;
    struct tdill_iolist skip = {NULL, k->size, NULL, 0};
    if (k->drop)
        td_iocur_init(&k->c, &skip, k->size);
    else
        k->c.left = k->size;
    return td_sock_transfer(m->s, TD_IN, &k->c, deadline, TD_AGAIN);
}

/* A suffixed message being received: bytes taken from the socket that may
   be the start of the suffix are held back in pend. */
struct suffixed {
    const struct td_msg *m;
    struct sink *k;
    size_t npend;
    uint8_t pend[MAX_SUFFIX];
};

/* Peeks at what has arrived, then takes exactly the bytes up to the end
   of the suffix, or all of them when the suffix is not there yet. */
static int try_suffixed(int fd, void *arg)
{
    struct suffixed *r = arg;
    size_t len = r->m->len;
    uint8_t win[MAX_SUFFIX + PEEK], *buf = win + MAX_SUFFIX;
    ssize_t n = recv(fd, buf, PEEK, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0)
        return n ? td_stream_errno(errno) : EPIPE;
    uint8_t *w = buf - r->npend;
    memcpy(w, r->pend, r->npend);
    uint8_t *hit = memmem(w, r->npend + (size_t)n, r->m->sfx, len);
    size_t want = hit ? (size_t)(hit + len - buf) : (size_t)n;
    /* NB: the same bytes again, into the same place. */
    ssize_t got = recv(fd, buf, want, MSG_DONTWAIT);
    if (got <= 0)
        return got ? td_stream_errno(errno) : EPIPE;
    /* Had fewer come, the suffix would not be among them: the first one
       ends at want. */
    if (hit && (size_t)got == want)
        return sink_put(r->k, w, (size_t)(hit - w));
    size_t wlen = r->npend + (size_t)got;
    size_t keep = wlen < len - 1 ? wlen : len - 1;
    int rc = sink_put(r->k, w, wlen - keep);
    if (rc)
        return rc;
    memcpy(r->pend, w + wlen - keep, keep);
    r->npend = keep;
    return TD_AGAIN;
}

static int recv_suffixed(const struct td_msg *m, struct sink *k,
                         int64_t deadline)
{
    struct suffixed r = {m, k, 0, {0}};
    return td_sock_run(m->s, try_suffixed, &r, EPOLLIN | EPOLLRDHUP,
                       &m->s->spin[TD_IN], deadline);
}

/* first == last == NULL: receive one message and drop it. */
static ssize_t msg_recvl(int h, struct tdill_iolist *first,
                         struct tdill_iolist *last, int64_t deadline)
{
    struct td_msg *m;
    struct sink k = {.drop = !first && !last};
    int rc = td_handle_begin(h, &td_msg_vfs, (void **)&m);
    if (rc)
        return td_fail(rc);
    if (!k.drop) {
        size_t room = 0;
        rc = td_iolist_check(first, last, 0, &room);
        td_iocur_init(&k.c, first, room);
    }
    if (rc == 0)
        rc = td_sock_enter(m->s, TD_IN);
    if (rc == 0) {
        int64_t dl = td_deadline_ns(deadline);
        rc = m->suffix ? recv_suffixed(m, &k, dl) : recv_prefixed(m, &k, dl);
        td_sock_leave(m->s, TD_IN, rc);
    }
    td_handle_end(h);
    return rc ? td_fail(rc) : (ssize_t)k.size;
}

/******************************************************************************/
/*  The API                                                                   */
/******************************************************************************/

static int attach_prefix(int s, size_t hdrlen, int flags, void *mem,
                         bool need_mem)
{
    struct td_msg proto = {
        .len = (uint8_t)hdrlen,
        .big_endian = !(flags & TDILL_PREFIX_LITTLE_ENDIAN),
    };
    bool bad = hdrlen < 1 || hdrlen > MAX_HDRLEN ||
               (flags & ~TDILL_PREFIX_LITTLE_ENDIAN) || (need_mem && !mem);
    return attach(s, &proto, mem, bad);
}

static int attach_suffix(int s, const void *suffix, size_t suffixlen,
                         void *mem, bool need_mem)
{
    struct td_msg proto = {.suffix = true, .len = (uint8_t)suffixlen};
    bool bad = !suffix || suffixlen < 1 || suffixlen > MAX_SUFFIX ||
               (need_mem && !mem);
    if (!bad)
        memcpy(proto.sfx, suffix, suffixlen);
    return attach(s, &proto, mem, bad);
}

TDILL_EXPORT int tdill_prefix_attach(int s, size_t hdrlen, int flags)
{
    return attach_prefix(s, hdrlen, flags, NULL, false);
}

TDILL_EXPORT int tdill_prefix_attach_mem(int s, size_t hdrlen, int flags,
                                         struct tdill_prefix_storage *mem)
{
    return attach_prefix(s, hdrlen, flags, mem, true);
}

TDILL_EXPORT int tdill_prefix_detach(int s)
{
    return detach(s, false);
}

TDILL_EXPORT int tdill_suffix_attach(int s, const void *suffix,
                                     size_t suffixlen)
{
    return attach_suffix(s, suffix, suffixlen, NULL, false);
}

TDILL_EXPORT int tdill_suffix_attach_mem(int s, const void *suffix,
                                         size_t suffixlen,
                                         struct tdill_suffix_storage *mem)
{
    return attach_suffix(s, suffix, suffixlen, mem, true);
}

/* Nothing is ever buffered on the way out: there is nothing to flush. */
TDILL_EXPORT int tdill_suffix_detach(int s, int64_t deadline)
{
    (void)deadline;
    return detach(s, true);
}

TDILL_EXPORT int tdill_msend(int s, const void *buf, size_t len,
                             int64_t deadline)
{
    struct tdill_iolist iol = {(void *)buf, len, NULL, 0};
    return msg_sendl(s, &iol, &iol, deadline);
}

TDILL_EXPORT ssize_t tdill_mrecv(int s, void *buf, size_t len,
                                 int64_t deadline)
{
    struct tdill_iolist iol = {buf, len, NULL, 0};
    return msg_recvl(s, &iol, &iol, deadline);
}

TDILL_EXPORT int tdill_msendl(int s, struct tdill_iolist *first,
                              struct tdill_iolist *last, int64_t deadline)
{
    return msg_sendl(s, first, last, deadline);
}

TDILL_EXPORT ssize_t tdill_mrecvl(int s, struct tdill_iolist *first,
                                  struct tdill_iolist *last, int64_t deadline)
{
    return msg_recvl(s, first, last, deadline);
}
