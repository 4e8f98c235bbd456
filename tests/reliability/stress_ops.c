/* The stress test's operations other than transfers: ending connections,
   making them, and handles that must be refused; see stress.h. */
#include "stress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/******************************************************************************/
/*  Ending connections                                                        */
/******************************************************************************/

void st_op_done(struct worker *w)
{
    uint64_t serial;
    int h =
        st_snapshot(&st.conns[st_rndn(w, NSLOT)], (int)st_rndn(w, 2), &serial);
    if (h < 0)
        return;
    int64_t dl = st_deadline(w, 1);
    long rc = ST_CALL(w, OP_DONE, h, now(), ipc_done(h, dl));
    st_judge(OP_DONE, rc, errno, ERRS(EPIPE, ECONNRESET, EBUSY, EBADF), h);
}

/* ipc_close or hclose of one end, whoever is using it. */
static void op_close(struct worker *w, int orderly)
{
    struct st_conn *c = &st.conns[st_rndn(w, NSLOT)];
    pthread_mutex_lock(&c->mu);
    int go = c->state == C_ACTIVE;
    if (go)
        c->closers++;
    pthread_mutex_unlock(&c->mu);
    if (!go)
        return;
    st_close_end(c, (int)st_rndn(w, 2), orderly, w);
    pthread_mutex_lock(&c->mu);
    c->closers--;
    pthread_mutex_unlock(&c->mu);
    st_begin_teardown(c, 0, 0);
}

/* hclose of a handle the slot still lists, behind its back: the slot's own
   close later gets EBADF. Only for ends without _mem storage, whose
   release the slot must know about. */
void st_op_rogue_hclose(struct worker *w)
{
    struct st_conn *c = &st.conns[st_rndn(w, NSLOT)];
    int e = (int)st_rndn(w, 2), h = -1;
    pthread_mutex_lock(&c->mu);
    if (c->state == C_ACTIVE && !c->mem[e] && !c->pair_mem) {
        h = atomic_load(&c->end[e]);
        if (h >= 0)
            c->closers++;
    }
    pthread_mutex_unlock(&c->mu);
    if (h < 0)
        return;
    long rc = ST_CALL(w, OP_ROGUE_HCLOSE, h, now(), hclose(h));
    if (st_judge(OP_ROGUE_HCLOSE, rc, errno, ERRS(EBADF), h))
        st_stale_push(h);
    pthread_mutex_lock(&c->mu);
    c->closers--;
    pthread_mutex_unlock(&c->mu);
}

/* Connections with a dead direction are mostly useless: recycle them
   (and now and then a healthy one). */
void st_op_reap(struct worker *w)
{
    struct st_conn *c = &st.conns[st_rndn(w, NSLOT)];
    int half_dead =
        atomic_load(&c->dir[0].dead) || atomic_load(&c->dir[1].dead);
    int force = st_rndn(w, half_dead ? 4 : 100) == 0;
    st_begin_teardown(c, force, now() - 3000 * tu_slowness());
}

void st_op_close_orderly(struct worker *w)
{
    op_close(w, 1);
}
void st_op_close_now(struct worker *w)
{
    op_close(w, 0);
}

/******************************************************************************/
/*  Making connections                                                        */
/******************************************************************************/

void st_op_swap_listener(struct worker *w)
{
    pthread_mutex_lock(&st.lst_mu);
    int due = now() - st.lst_since > 1000;
    if (due)
        st.lst_since = now(); /* one thread does it */
    pthread_mutex_unlock(&st.lst_mu);
    if (due)
        st_swap_listener(w, 1);
}

void st_op_pair(struct worker *w)
{
    uint64_t serial;
    struct st_conn *c = st_claim_slot(w, &serial);
    if (!c)
        return;
    int s[2];
    void *pm = st_rndn(w, 2) ? malloc(sizeof(struct ipc_pair_storage)) : NULL;
    long rc = pm ? ST_CALL(w, OP_PAIR, -1, now(), ipc_pair_mem(pm, s))
                 : ST_CALL(w, OP_PAIR, -1, now(), ipc_pair(s));
    if (!st_judge(OP_PAIR, rc, errno, ERRS(0), -1)) {
        free(pm);
        st_unclaim_slot(c);
        return;
    }
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->end[0], s[0]);
    atomic_store(&c->end[1], s[1]);
    c->pair_mem = pm;
    c->state = C_ACTIVE;
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add(&st.conns_made, 1);
}

/* The connecting end sends (serial, slot) first; the accepting end finds
   the slot by it. */
struct hello {
    uint64_t serial;
    uint32_t slot;
    uint32_t zero; /* no padding: every byte sent is defined */
};

void st_op_connect(struct worker *w)
{
    char path[TU_PATH_MAX];
    pthread_mutex_lock(&st.lst_mu);
    snprintf(path, sizeof path, "%s", st.lst_path);
    pthread_mutex_unlock(&st.lst_mu);
    uint64_t serial;
    struct st_conn *c = st_claim_slot(w, &serial);
    if (!c)
        return;
    void *mem = st_rndn(w, 2) ? malloc(sizeof(struct ipc_storage)) : NULL;
    int64_t dl = st_rndn(w, 4) ? now() + (int64_t)st_rndn(w, 50) : 0;
    long h =
        mem ? ST_CALL(w, OP_CONNECT, -1, dl, ipc_connect_mem(path, mem, dl))
            : ST_CALL(w, OP_CONNECT, -1, dl, ipc_connect(path, dl));
    /* The listener may have moved (its file closed or removed). */
    if (!st_judge(OP_CONNECT, h, errno, ERRS(ETIMEDOUT, ECONNREFUSED, ENOENT),
                  -1)) {
        free(mem);
        st_unclaim_slot(c);
        return;
    }
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->end[0], (int)h);
    c->mem[0] = mem;
    c->born = now();
    c->state = C_CONNECTING;
    atomic_fetch_add(&st.connecting, 1);
    pthread_mutex_unlock(&c->mu);
    struct hello hi = {serial, (uint32_t)(c - st.conns), 0};
    long rc =
        ST_CALL(w, OP_HELLO, (int)h, -1, bsend((int)h, &hi, sizeof hi, -1));
    if (!st_judge(OP_HELLO, rc, errno, ERRS(ECONNRESET, ECANCELED, EBADF),
                  (int)h)) {
        /* Our listener went away with us in its backlog. */
        pthread_mutex_lock(&c->mu);
        int mine = c->state == C_CONNECTING && c->serial == serial;
        if (mine) {
            c->state = C_CLOSING;
            atomic_fetch_sub(&st.connecting, 1);
        }
        pthread_mutex_unlock(&c->mu);
        if (mine)
            st_teardown(c);
    }
}

void st_op_accept(struct worker *w)
{
    int ls = atomic_load(&st.lst_h);
    if (ls < 0)
        return;
    void *mem = st_rndn(w, 2) ? malloc(sizeof(struct ipc_storage)) : NULL;
    /* Wait (rarely with no deadline) only if a connect is pending: else
       a short look, most often with deadline 0. */
    int64_t dl = atomic_load(&st.connecting) > 0
                     ? st_deadline(w, st_rndn(w, 20) == 0)
                 : st_rndn(w, 8) ? 0
                                 : now() + 1 + (int64_t)st_rndn(w, 3);
    long a = mem ? ST_CALL(w, OP_ACCEPT, ls, dl, ipc_accept_mem(ls, mem, dl))
                 : ST_CALL(w, OP_ACCEPT, ls, dl, ipc_accept(ls, dl));
    if (!st_judge(OP_ACCEPT, a, errno, ERRS(ETIMEDOUT, ECANCELED, EBADF),
                  ls)) {
        free(mem);
        return;
    }
    /* The connector sends its hello right after connecting. */
    struct hello hi;
    int64_t hdl = now() + 2000 * tu_slowness();
    long rc =
        ST_CALL(w, OP_HELLO, (int)a, hdl, brecv((int)a, &hi, sizeof hi, hdl));
    int ok = st_judge(OP_HELLO, rc, errno, ERRS(ECONNRESET, EPIPE), (int)a);
    struct st_conn *c = NULL;
    if (ok && hi.slot >= NSLOT) {
        st_failure("garbled hello on handle %ld", a);
        ok = 0;
    }
    if (ok) {
        c = &st.conns[hi.slot];
        pthread_mutex_lock(&c->mu);
        ok = c->state == C_CONNECTING && c->serial == hi.serial &&
             atomic_load(&c->end[1]) < 0;
        if (ok) {
            atomic_store(&c->end[1], (int)a);
            c->mem[1] = mem;
            c->state = C_ACTIVE;
            atomic_fetch_sub(&st.connecting, 1);
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (ok) {
        atomic_fetch_add(&st.conns_made, 1);
        return;
    }
    /* The connecting end gave up (or was torn down) meanwhile. */
    rc = hclose((int)a);
    st_judge(OP_HCLOSE, rc, errno, ERRS(0), (int)a);
    st_stale_push((int)a);
    free(mem);
}

/******************************************************************************/
/*  Handles that must be refused                                              */
/******************************************************************************/

/* Makes call number pick (0 to 11) of those that take a handle, on h, with
   deadline dl; *what names it. */
static long call_on_handle(int h, size_t pick, int64_t dl, const char **what)
{
    char buf[4] = "abc";
    struct iolist l = {buf, 3, NULL, 0};
    struct ipc_storage mem;
    pid_t pid;
    switch (pick) {
    case 0:
        *what = "bsend";
        return bsend(h, buf, 3, dl);
    case 1:
        *what = "brecv";
        return brecv(h, buf, 3, dl);
    case 2:
        *what = "bsendl";
        return bsendl(h, &l, &l, dl);
    case 3:
        *what = "brecvl";
        return brecvl(h, NULL, NULL, dl);
    case 4:
        *what = "ipc_done";
        return ipc_done(h, dl);
    case 5:
        *what = "ipc_close";
        return ipc_close(h, dl);
    case 6:
        *what = "hclose";
        return hclose(h);
    case 7:
        *what = "ipc_sendfd";
        return ipc_sendfd(h, st.marker_fd, dl);
    case 8:
        *what = "ipc_recvfd";
        return ipc_recvfd(h, dl);
    case 9:
        *what = "ipc_accept";
        return ipc_accept(h, dl);
    case 10:
        *what = "ipc_accept_mem";
        return ipc_accept_mem(h, &mem, dl);
    default:
        *what = "ipc_peercred";
        return ipc_peercred(h, &pid, NULL, NULL);
    }
}

/* Any call on a closed handle fails with EBADF at once, even with no
   deadline. */
void st_op_stale(struct worker *w)
{
    int h = st_stale_pick(w);
    if (h < 0)
        return;
    int64_t dl = st_rndn(w, 2) ? -1 : 0;
    const char *what = "";
    st_call_begin(w, OP_STALE, h, now());
    errno = 0;
    long rc = call_on_handle(h, st_rndn(w, 12), dl, &what);
    int err = errno;
    st_call_end(w);
    atomic_fetch_add(&st.tally[OP_STALE][0], 1);
    if (rc != -1 || err != EBADF)
        st_failure("%s on closed handle %d: %ld with %s, expected EBADF", what,
                   h, rc, tu_errname(err));
    if (rc >= 0 && strcmp(what, "ipc_recvfd") == 0)
        close((int)rc);
}

void st_op_wrong_kind(struct worker *w)
{
    int ls = atomic_load(&st.lst_h);
    uint64_t serial;
    int h =
        st_snapshot(&st.conns[st_rndn(w, NSLOT)], (int)st_rndn(w, 2), &serial);
    char buf[4] = "abc";
    long rc;
    int target;
    const char *what;
    st_call_begin(w, OP_WRONG_KIND, -1, now());
    errno = 0;
    switch (st_rndn(w, 5)) {
    case 0:
        target = ls, what = "bsend on a listener";
        rc = bsend(ls, buf, 3, -1);
        break;
    case 1:
        target = ls, what = "brecv on a listener";
        rc = brecv(ls, buf, 3, -1);
        break;
    case 2:
        target = ls, what = "ipc_done on a listener";
        rc = ipc_done(ls, -1);
        break;
    case 3:
        target = ls, what = "ipc_peercred on a listener";
        rc = ipc_peercred(ls, NULL, NULL, NULL);
        break;
    default:
        target = h, what = "ipc_accept on a connection";
        rc = ipc_accept(h, -1);
    }
    int err = errno;
    st_call_end(w);
    if (target < 0)
        return;
    atomic_fetch_add(&st.tally[OP_WRONG_KIND][0], 1);
    /* EBADF if the handle was closed meanwhile. */
    if (rc != -1 || (err != ENOTSUP && err != EBADF))
        st_failure("%s (handle %d): %ld with %s, expected ENOTSUP", what,
                   target, rc, tu_errname(err));
}

void st_op_peercred(struct worker *w)
{
    uint64_t serial;
    int h =
        st_snapshot(&st.conns[st_rndn(w, NSLOT)], (int)st_rndn(w, 2), &serial);
    if (h < 0)
        return;
    pid_t pid = 0;
    uid_t uid;
    long rc =
        ST_CALL(w, OP_PEERCRED, h, now(), ipc_peercred(h, &pid, &uid, NULL));
    if (st_judge(OP_PEERCRED, rc, errno, ERRS(EBADF), h) && pid != getpid())
        st_failure("ipc_peercred on handle %d: pid %ld, not ours", h,
                   (long)pid);
}
