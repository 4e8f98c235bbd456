#include <errno.h>
#include <string.h>

#include "chan.h"
#include "tdill.h"

/*
 * Clauses and choices (see chan.h): the blocked operations waiting in a
 * half's queues, and how each choice is settled exactly once. Whoever
 * settles a choice (a peer, chdone, hclose of an end, the deadline, a
 * cancellation) does so under the choice's mutex, and a peer copies the
 * value between the two buffers while it holds it: that is what makes a
 * value pass exactly once when several race for it.
 *
 * Lock order: a channel's mu, then a choice's mu.
 */

/* only: the channel of a one-clause choice. */
void td_choice_init(struct td_choice *c, int nclauses, struct td_chan *only)
{
    if (nclauses == 1) {
        c->mu = &only->mu;
    } else {
        pthread_mutex_init(&c->own, NULL);
        c->mu = &c->own;
    }
    c->waiters.first = NULL;
    c->owner = pthread_self();
    atomic_store_explicit(&c->settled, false, memory_order_relaxed);
    c->index = -1;
    c->err = 0;
    c->left = nclauses;
}

void td_choice_destroy(struct td_choice *c)
{
    if (c->mu == &c->own)
        pthread_mutex_destroy(&c->own);
}

/* The mutex of p's choice, for one who holds p's channel's: returns the
   one it took, to be given back with unlock_choice, or NULL. */
static pthread_mutex_t *lock_choice(struct td_clause *p)
{
    pthread_mutex_t *mu = p->choice->mu;
    if (mu == &p->end->ch->mu)
        return NULL;
    pthread_mutex_lock(mu);
    return mu;
}

static void unlock_choice(pthread_mutex_t *mu)
{
    if (mu)
        pthread_mutex_unlock(mu);
}

/* Settles a choice that is still open. Needs its mu. NB: settled is set
   last: a one-clause choice's chooser, which sees it without taking the
   mutex (choose.c), may be gone the moment after, with its clause and
   choice; the caller must touch neither any more. */
static void decide(struct td_choice *c, int index, int err)
{
    c->index = index;
    c->err = err;
    if (c->waiters.first) /* else it spins, or has yet to wait */
        td_wake_all(&c->waiters, TD_READY);
    atomic_store_explicit(&c->settled, true, memory_order_release);
}

/* Settles the choice if nobody has yet: the deadline passed or the caller
   was cancelled. A value already handed over wins: it is never lost. */
void td_settle_alone(struct td_choice *c, int err)
{
    if (!c->settled)
        decide(c, -1, err);
}

void td_queue_remove(struct td_queue *q, struct td_clause *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        q->first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->last = c->prev;
    c->queued = false;
}

/* Meets the oldest open clause waiting in q (receivers for a sender, and
   the reverse): copies the value, settles its choice and takes it off the
   queue. Returns 0, EMSGSIZE (sizes differ: both fail) or EAGAIN (nobody
   there). Needs the channel's mu. */
int td_meet_first(struct td_queue *q, void *val, size_t len, bool sending)
{
    for (struct td_clause *p = q->first; p; p = p->next) {
        struct td_choice *c = p->choice;
        pthread_mutex_t *mu = lock_choice(p);
        if (c->settled) { /* being withdrawn */
            unlock_choice(mu);
            continue;
        }
        int rc = p->len == len ? 0 : EMSGSIZE;
        if (rc == 0 && len)
            memcpy(sending ? p->val : val, sending ? val : p->val, len);
        td_queue_remove(q, p);
        c->left--;
        decide(c, p->index, rc);
        unlock_choice(mu);
        return rc;
    }
    return EAGAIN;
}

/* Settles p's choice if it is still open. */
static void settle_open(struct td_clause *p, int index, int err)
{
    pthread_mutex_t *mu = lock_choice(p);
    if (!p->choice->settled)
        decide(p->choice, index, err);
    unlock_choice(mu);
}

/* The channel's four queues, i = 0..3. */
static struct td_queue *queue_at(struct td_chan *ch, int i)
{
    struct td_half *h = &ch->half[i / 2];
    return i % 2 ? &h->sends : &h->recvs;
}

void td_queue_fail(struct td_queue *q, int err)
{
    for (struct td_clause *p = q->first; p; p = p->next)
        settle_open(p, p->index, err);
}

/* NB: ECANCELED settles the whole choose (index -1), as a cancelled
   coroutine's does in libdill. */
void td_chan_cancel_end(struct td_chan *ch, struct td_chan_end *e, int err)
{
    for (int i = 0; i < 4; i++)
        for (struct td_clause *p = queue_at(ch, i)->first; p; p = p->next)
            if (p->end == e)
                settle_open(p, err == ECANCELED ? -1 : p->index, err);
}

void td_chan_forget_others(struct td_chan *ch)
{
    for (int i = 0; i < 4; i++) {
        struct td_queue *q = queue_at(ch, i);
        struct td_clause *p = q->first;
        while (p) {
            struct td_clause *next = p->next;
            if (!pthread_equal(p->choice->owner, pthread_self()))
                td_queue_remove(q, p);
            p = next;
        }
    }
}
