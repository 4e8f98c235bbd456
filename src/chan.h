#ifndef TD_CHAN_H
#define TD_CHAN_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "handle.h"
#include "wait.h"

/*
 * Channels: libdill's unbuffered rendezvous, between any threads and any
 * coroutines. A channel has two ends, each a handle; what is sent on one
 * end is received on the other, in both directions. Each direction is a
 * half: half[i] holds the values travelling towards end i, that is the
 * receivers of end i and the senders of the other end, queued in arrival
 * order while nobody is there to meet them. chan.c owns the object,
 * choose.c the meeting of senders and receivers.
 */

struct td_clause;

/* A queue of blocked operations (td_clause), oldest first. */
struct td_queue {
    struct td_clause *first, *last;
};

struct td_half {
    struct td_queue recvs; /* waiting to receive at this end */
    struct td_queue sends; /* waiting to send towards this end */
    bool done;             /* chdone: both fail with EPIPE from now on */
};

struct td_chan;

/* What a channel handle refers to: one end of a channel. */
struct td_chan_end {
    struct td_chan *ch;
    int index;    /* 0 or 1: receives from half[index] */
    bool closing; /* hclose began: new waits fail with ECANCELED */
};

struct td_chan {
    /* mu protects the halves, ends and every clause queued here. */
    pthread_mutex_t mu;
    struct td_half half[2];
    struct td_chan_end end[2];
    int ends;             /* ends not yet destroyed */
    int closing;          /* ends whose hclose has begun */
    atomic_int forking;   /* ends whose fork_prepare locked mu (see chan.c) */
    bool heap;            /* ours to free (not chmake_mem) */
};

extern const struct td_vfs td_chan_vfs;

/* One blocked choose (chsend and chrecv are chooses of one clause). */
struct td_choice {
    /* mu protects everything below. NB: a choice of one clause uses its
       channel's mutex, which every peer holds already: no mutex of its
       own to set up, and none to take to meet it. */
    pthread_mutex_t *mu;
    pthread_mutex_t own;
    struct td_waitlist waiters;
    pthread_t owner;       /* the thread that chose, for fork */
    _Atomic bool settled; /* read without mu only to end a spin */
    int index; /* the clause that happened; -1: none (ECANCELED, ...) */
    int err;   /* the outcome: 0 or an errno value */
    int left;  /* clauses still queued */
};

/* One operation of a blocked choose, queued in a half. */
struct td_clause {
    struct td_clause *prev, *next;
    bool queued;               /* in its queue; under the channel's mu */
    struct td_choice *choice;  /* the choose it belongs to */
    struct td_chan_end *end;   /* the end it was made through */
    int index;                 /* its place in the choose's array */
    void *val;
    size_t len;
};

/* Clauses and choices (clause.c). */

void td_choice_init(struct td_choice *c, int nclauses, struct td_chan *only);
void td_choice_destroy(struct td_choice *c);

/* Settles c if nobody has yet (deadline, cancellation). Needs c->mu. */
void td_settle_alone(struct td_choice *c, int err);

static inline void td_queue_push(struct td_queue *q, struct td_clause *c)
{
    c->next = NULL;
    c->prev = q->last;
    if (q->last)
        q->last->next = c;
    else
        q->first = c;
    q->last = c;
    c->queued = true;
}

void td_queue_remove(struct td_queue *q, struct td_clause *c);

/* The half op through end e works in: a receive its own end's, a send the
   other end's. */
static inline struct td_half *td_half_of(struct td_chan_end *e, int op)
{
    return &e->ch->half[op == TDILL_CHRECV ? e->index : !e->index];
}

/* The queue a clause for op through end e waits in. */
static inline struct td_queue *td_queue_of(struct td_chan_end *e, int op)
{
    struct td_half *h = td_half_of(e, op);
    return op == TDILL_CHRECV ? &h->recvs : &h->sends;
}

/* td_meet for a queue that is not empty. */
int td_meet_first(struct td_queue *q, void *val, size_t len, bool sending);

/* Meets the oldest open clause in q: copies the value (into it when
   sending), settles its choice and takes it off the queue. Returns 0,
   EMSGSIZE (sizes differ: both fail) or EAGAIN (nobody there). Needs the
   channel's mu. NB: inline for an empty queue, half of all operations in
   a ping-pong. */
static inline int td_meet(struct td_queue *q, void *val, size_t len,
                          bool sending)
{
    return q->first ? td_meet_first(q, val, len, sending) : EAGAIN;
}

/* Fails every undecided clause in q with err. Needs the channel's mu. */
void td_queue_fail(struct td_queue *q, int err);

/* Fails every undecided clause made through end e, which is being closed,
   with err: ECANCELED (the whole choose fails), or EPIPE (as that clause's
   outcome). Needs the channel's mu. */
void td_chan_cancel_end(struct td_chan *ch, struct td_chan_end *e, int err);

/* In a forked child: forgets clauses of choices made by other threads. */
void td_chan_forget_others(struct td_chan *ch);

#endif
