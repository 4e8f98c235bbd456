#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "chan.h"
#include "now.h"
#include "spin.h"
#include "tdill.h"

/*
 * chsend, chrecv and choose (see chan.h): an operation first looks for a
 * peer already waiting in the half it needs (clause.c meets them); else it
 * queues a clause in each half it could use and waits until its choice is
 * settled, then takes its clauses back. A choose holds all its channels'
 * mutexes at once, taken in address order. chsend and chrecv, the most
 * common by far, take a shorter path of their own for the same steps.
 */

/* Clauses kept on the stack; a longer choose allocates. */
#define STACK_CLAUSES 8

/* A choose in progress: its clauses, and the channels they use. */
struct chooser {
    struct tdill_chclause *cl;
    int n;
    struct td_clause *clause; /* n of them */
    struct td_chan **chans;   /* the distinct channels, in address order */
    int nchans;
    struct td_choice choice;
};

/******************************************************************************/
/*  One choose                                                                */
/******************************************************************************/

/* Checks one clause and takes a reference on its channel end. Errors in
   libdill's order: the handle, then the arguments. */
static int acquire_one(const struct tdill_chclause *cl, struct td_clause *c)
{
    void *obj;
    int rc = td_handle_acquire(cl->ch, &td_chan_vfs, &obj);
    if (rc)
        return rc;
    if ((cl->op != TDILL_CHSEND && cl->op != TDILL_CHRECV) ||
        (cl->len && !cl->val)) {
        td_handle_release(cl->ch);
        return EINVAL;
    }
    c->end = obj;
    c->queued = false;
    return 0;
}

static void release_first(struct chooser *k, int n)
{
    for (int i = 0; i < n; i++)
        td_handle_release(k->cl[i].ch);
}

/* Returns -1 when every clause is fine and referenced, else the index of
   the first that is not, its error in *err, and nothing held. */
static int acquire_all(struct chooser *k, int *err)
{
    for (int i = 0; i < k->n; i++) {
        *err = acquire_one(&k->cl[i], &k->clause[i]);
        if (*err) {
            release_first(k, i);
            return i;
        }
    }
    return -1;
}

/* The distinct channels of the clauses, in address order: the order their
   mutexes are taken in, so that two chooses never wait for each other. */
static void collect_chans(struct chooser *k)
{
    k->nchans = 0;
    for (int i = 0; i < k->n; i++) {
        struct td_chan *ch = k->clause[i].end->ch;
        int j = k->nchans;
        while (j > 0 && (uintptr_t)k->chans[j - 1] > (uintptr_t)ch)
            j--;
        if (j > 0 && k->chans[j - 1] == ch)
            continue;
        memmove(&k->chans[j + 1], &k->chans[j],
                (size_t)(k->nchans - j) * sizeof(*k->chans));
        k->chans[j] = ch;
        k->nchans++;
    }
}

static void lock_all(struct chooser *k)
{
    for (int i = 0; i < k->nchans; i++)
        pthread_mutex_lock(&k->chans[i]->mu);
}

static void unlock_all(struct chooser *k)
{
    for (int i = k->nchans - 1; i >= 0; i--)
        pthread_mutex_unlock(&k->chans[i]->mu);
}

/* What op through end e can do now: meet a waiting peer (0, or EMSGSIZE),
   fail with EPIPE (the other end is done), or nothing (EAGAIN). Needs the
   channel's mu. */
static int meet_now(struct td_chan_end *e, int op, void *val, size_t len)
{
    bool sending = op == TDILL_CHSEND;
    struct td_half *h = td_half_of(e, op);
    if (h->done)
        return EPIPE;
    return td_meet(sending ? &h->recvs : &h->sends, val, len, sending);
}

/* Clause i, if it can happen now: done, true returned and its outcome in
   *err. Needs its channel's mu. */
static bool try_clause(struct chooser *k, int i, int *err)
{
    struct tdill_chclause *cl = &k->cl[i];
    int rc = meet_now(k->clause[i].end, cl->op, cl->val, cl->len);
    if (rc == EAGAIN)
        return false;
    *err = rc;
    return true;
}

/* The first clause, in array order, that can happen now: done, its index
   returned and its outcome in *err. -1 if none can. Needs every mu. */
static int try_now(struct chooser *k, int *err)
{
    for (int i = 0; i < k->n; i++)
        if (try_clause(k, i, err))
            return i;
    return -1;
}

/* Is an end of the choose being closed? Needs every mu. */
static bool closing(const struct chooser *k)
{
    for (int i = 0; i < k->n; i++)
        if (k->clause[i].end->closing)
            return true;
    return false;
}

/* Queues a clause in each half the choose could use. Needs every mu. */
static void enqueue_all(struct chooser *k)
{
    struct td_choice *c = &k->choice;
    td_choice_init(c, k->n, k->chans[0]);
    for (int i = 0; i < k->n; i++) {
        struct td_clause *p = &k->clause[i];
        p->choice = c;
        p->index = i;
        p->val = k->cl[i].val;
        p->len = k->cl[i].len;
        td_queue_push(td_queue_of(p->end, k->cl[i].op), p);
    }
}

/* Why an operation with nobody to meet cannot wait: ECANCELED (closing:
   an end of it is being closed, and it could never be woken), ETIMEDOUT,
   or 0 (it can). */
static int cannot_wait(bool closing, int64_t deadline)
{
    if (closing)
        return ECANCELED;
    return td_expired(deadline) ? ETIMEDOUT : 0;
}

/* Nobody to meet now: fails the choose, or queues its clauses to wait.
   Needs every mu. */
static int queue_or_fail(struct chooser *k, bool closing, int64_t deadline)
{
    int rc = cannot_wait(closing, deadline);
    if (rc == 0)
        enqueue_all(k);
    return rc;
}

/* The chooser was cancelled (while spinning, or at its wait): settles c,
   unless a peer came first. */
static void settle_canceled(struct td_choice *c)
{
    pthread_mutex_lock(c->mu);
    td_settle_alone(c, ECANCELED);
    pthread_mutex_unlock(c->mu);
}

static bool settled_yet(struct td_choice *c)
{
    return atomic_load_explicit(&c->settled, memory_order_relaxed);
}

/* A lone clause first spins, as sockets do (see spin.h): a busy peer then
   answers without either thread sleeping. NB: a fresh budget each call,
   as ipc_accept's: a channel has any number of senders and receivers, so
   a kept budget would be state they all write. */
static void spin_first(struct td_thread *t, struct td_choice *c)
{
    struct td_spin fresh;
    td_spin_init(&fresh);
    struct td_spinner sp = td_spinner(&fresh);
    while (!settled_yet(c) && td_spin_again(&sp)) {
        if (td_wait_pause_at(t))
            settle_canceled(c);
    }
}

/* Until c is settled: by a peer, the deadline or a cancellation. lone: a
   choice of one clause, which spins first. */
static void wait_settled(struct td_thread *t, struct td_choice *c, bool lone,
                         int64_t deadline)
{
    if (lone)
        spin_first(t, c);
    /* Settled meanwhile by a peer, which holds the channel's mutex, not
       one of ours (decide in clause.c): nothing left to wait for. */
    if (c->mu != &c->own &&
        atomic_load_explicit(&c->settled, memory_order_acquire))
        return;
    pthread_mutex_lock(c->mu);
    while (!c->settled) {
        enum td_wait_state st =
            td_wait_in(&c->waiters, c->mu, 0, deadline, true);
        if (st == TD_CANCELED)
            td_settle_alone(c, ECANCELED);
        else if (st == TD_WAITING)
            td_settle_alone(c, ETIMEDOUT);
    }
    pthread_mutex_unlock(c->mu);
}

/* Takes the choice's clauses off their queues, once it is settled: no
   peer can find them after that. */
static void withdraw_all(struct chooser *k)
{
    if (k->choice.left == 0)
        return; /* a one-clause choose its peer took off already */
    lock_all(k);
    for (int i = 0; i < k->n; i++) {
        struct td_clause *p = &k->clause[i];
        if (p->queued)
            td_queue_remove(td_queue_of(p->end, k->cl[i].op), p);
    }
    unlock_all(k);
}

/* A thread cancelled while it waits: settled as cancelled unless a peer
   got there first, withdrawn, references given back. */
static void undo_wait(void *obj, int unused)
{
    (void)unused;
    struct chooser *k = obj;
    settle_canceled(&k->choice);
    withdraw_all(k);
    release_first(k, k->n);
    if (k->n > STACK_CLAUSES) {
        free(k->clause);
        free(k->chans);
    }
}

/* Waits until a clause happens or the choose fails; returns as choose. */
static int wait_choice(struct chooser *k, int64_t deadline, int *err)
{
    struct td_thread *t = td_self();
    td_call_hold_at(t, undo_wait, k, 0);
    wait_settled(t, &k->choice, k->n == 1, deadline);
    withdraw_all(k);
    td_call_drop_at(t);
    td_choice_destroy(&k->choice);
    *err = k->choice.err;
    return k->choice.index;
}

/* Returns the index of the clause that happened (or failed: *err), or -1
   with *err. The clauses' storage is on the stack unless there are many. */
static int choose_with(struct chooser *k, int64_t deadline, int *err)
{
    int i = acquire_all(k, err);
    if (i >= 0)
        return i;
    collect_chans(k);
    lock_all(k);
    i = try_now(k, err);
    if (i < 0)
        *err = queue_or_fail(k, closing(k), deadline);
    unlock_all(k);
    if (i < 0 && *err == 0)
        i = wait_choice(k, deadline, err);
    release_first(k, k->n);
    return i;
}

static int choose_common(struct tdill_chclause *cl, int n, int64_t deadline,
                         int *err)
{
    struct td_clause clause[STACK_CLAUSES];
    struct td_chan *chans[STACK_CLAUSES];
    /* NB: not zeroed as a whole: the choice is set up only if it waits. */
    struct chooser k;
    k.cl = cl;
    k.n = n;
    k.clause = clause;
    k.chans = chans;
    if (n > STACK_CLAUSES) {
        k.clause = malloc((size_t)n * sizeof(*k.clause));
        k.chans = malloc((size_t)n * sizeof(*k.chans));
        if (!k.clause || !k.chans) {
            free(k.clause);
            free(k.chans);
            *err = ENOMEM;
            return -1;
        }
    }
    *err = 0;
    int i = choose_with(&k, td_deadline_ns(deadline), err);
    if (n > STACK_CLAUSES) {
        free(k.clause);
        free(k.chans);
    }
    return i;
}

/******************************************************************************/
/*  chsend and chrecv                                                         */
/******************************************************************************/

/* A chsend or chrecv that waits: a choose of one clause, without choose's
   loops over clauses and channels (most channel operations are these). */
struct lone {
    struct td_clause clause;
    struct td_choice choice;
    struct td_queue *q; /* where the clause waits */
    int h;
};

/* Takes the clause off its queue unless a peer did. */
static void withdraw_lone(struct lone *l)
{
    if (l->choice.left == 0)
        return;
    pthread_mutex_lock(l->choice.mu);
    if (l->clause.queued)
        td_queue_remove(l->q, &l->clause);
    pthread_mutex_unlock(l->choice.mu);
}

/* undo_wait for a lone clause. */
static void undo_lone(void *obj, int unused)
{
    (void)unused;
    struct lone *l = obj;
    settle_canceled(&l->choice);
    withdraw_lone(l);
    td_handle_release(l->h);
}

/* Queues a clause in q, through e (handle h), and waits for a peer.
   Needs the channel's mu, and gives it back. */
static int wait_lone(struct td_thread *t, int h, struct td_chan_end *e,
                     struct td_queue *q, void *val, size_t len,
                     int64_t deadline)
{
    struct lone l; /* NB: not zeroed: everything is set below */
    l.h = h;
    td_choice_init(&l.choice, 1, e->ch);
    l.clause = (struct td_clause){
        .choice = &l.choice, .end = e, .index = 0, .val = val, .len = len};
    l.q = q;
    td_queue_push(q, &l.clause);
    pthread_mutex_unlock(&e->ch->mu);
    td_call_hold_at(t, undo_lone, &l, 0);
    wait_settled(t, &l.choice, true, deadline);
    withdraw_lone(&l);
    td_call_drop_at(t);
    return l.choice.err;
}

/* The operation, once the call has begun. Errors in libdill's order: the
   handle, then the arguments. */
static int one_now(struct td_thread *t, int op, int h, void *val, size_t len,
                   int64_t deadline)
{
    void *obj;
    int err = td_handle_acquire(h, &td_chan_vfs, &obj);
    if (err)
        return err;
    struct td_chan_end *e = obj;
    if (len && !val) {
        err = EINVAL;
        goto out;
    }
    pthread_mutex_lock(&e->ch->mu);
    err = meet_now(e, op, val, len);
    if (err == EAGAIN) { /* nobody to meet: as queue_or_fail */
        err = cannot_wait(e->closing, deadline);
        if (err == 0) {
            err = wait_lone(t, h, e, td_queue_of(e, op), val, len, deadline);
            goto out;
        }
    }
    pthread_mutex_unlock(&e->ch->mu);
out:
    td_handle_release(h);
    return err;
}

static int one(int op, int h, void *val, size_t len, int64_t deadline)
{
    struct td_thread *t = td_self();
    int err = td_call_begin_light(t, TD_CANCEL_POINT | TD_MAY_WAIT);
    if (err == 0)
        err = one_now(t, op, h, val, len, td_deadline_ns(deadline));
    td_call_end_light(t);
    return err ? td_fail(err) : 0;
}

/******************************************************************************/
/*  The calls                                                                 */
/******************************************************************************/

/* Like libdill: the index of the clause that happened, with errno 0, or of
   one that failed, with its errno; -1 with errno when none did. */
TDILL_EXPORT int tdill_choose(struct tdill_chclause *clauses, int nclauses,
                              int64_t deadline)
{
    int err, i = -1;
    struct td_thread *t = td_self();
    err = td_call_begin_light(t, TD_CANCEL_POINT | TD_MAY_WAIT);
    if (err == 0 && (nclauses < 0 || (nclauses && !clauses)))
        err = EINVAL;
    if (err == 0)
        i = choose_common(clauses, nclauses, deadline, &err);
    td_call_end_light(t);
    errno = err;
    return i;
}

TDILL_EXPORT int tdill_chsend(int ch, const void *val, size_t len,
                              int64_t deadline)
{
    return one(TDILL_CHSEND, ch, (void *)val, len, deadline);
}

TDILL_EXPORT int tdill_chrecv(int ch, void *val, size_t len, int64_t deadline)
{
    return one(TDILL_CHRECV, ch, val, len, deadline);
}
