#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "chan.h"
#include "tdill.h"

/*
 * The channel object (see chan.h): chmake, chdone, and what closing an end
 * and fork do to it. The channel lives until both its ends are destroyed.
 */

_Static_assert(sizeof(struct td_chan) <= sizeof(struct tdill_chstorage),
               "struct tdill_chstorage too small");

/* Calls blocked on the end fail with ECANCELED, as on any closed handle;
   but closing the second end ends the channel, and then, as in libdill,
   they fail with EPIPE. */
static void end_cancel(void *obj)
{
    struct td_chan_end *e = obj;
    pthread_mutex_lock(&e->ch->mu);
    e->closing = true;
    int err = ++e->ch->closing == 2 ? EPIPE : ECANCELED;
    td_chan_cancel_end(e->ch, e, err);
    pthread_mutex_unlock(&e->ch->mu);
}

/* hown: the calls blocked on the end fail with ECANCELED as if it had
   been closed, but the channel goes on. */
static void end_withdraw(void *obj)
{
    struct td_chan_end *e = obj;
    pthread_mutex_lock(&e->ch->mu);
    e->closing = true;
    td_chan_cancel_end(e->ch, e, ECANCELED);
    pthread_mutex_unlock(&e->ch->mu);
}

static void end_rehome(void *obj, int h)
{
    struct td_chan_end *e = obj;
    (void)h;
    pthread_mutex_lock(&e->ch->mu);
    e->closing = false;
    pthread_mutex_unlock(&e->ch->mu);
}

static void end_destroy(void *obj)
{
    struct td_chan *ch = ((struct td_chan_end *)obj)->ch;
    pthread_mutex_lock(&ch->mu);
    bool last = --ch->ends == 0;
    pthread_mutex_unlock(&ch->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&ch->mu);
    if (ch->heap)
        free(ch);
}

/* NB: both ends share the channel's mutex, and fork calls these once per
   live end: the first end prepared takes the mutex, the last one released
   gives it back. */
static void end_fork_prepare(void *obj)
{
    struct td_chan *ch = ((struct td_chan_end *)obj)->ch;
    if (atomic_fetch_add(&ch->forking, 1) == 0)
        pthread_mutex_lock(&ch->mu);
}

static void end_fork_parent(void *obj)
{
    struct td_chan *ch = ((struct td_chan_end *)obj)->ch;
    if (atomic_fetch_sub(&ch->forking, 1) == 1)
        pthread_mutex_unlock(&ch->mu);
}

/* The chooses of other threads do not exist in the child. */
static unsigned end_fork_child(void *obj)
{
    struct td_chan *ch = ((struct td_chan_end *)obj)->ch;
    td_chan_forget_others(ch);
    if (atomic_fetch_sub(&ch->forking, 1) == 1)
        pthread_mutex_unlock(&ch->mu);
    return 0;
}

const struct td_vfs td_chan_vfs = {
    .cancel = end_cancel,
    .destroy = end_destroy,
    .fork_prepare = end_fork_prepare,
    .fork_parent = end_fork_parent,
    .fork_child = end_fork_child,
    .withdraw = end_withdraw,
    .rehome = end_rehome,
};

static int chmake_in(struct td_chan *ch, bool heap, int chv[2])
{
    memset(ch, 0, sizeof(*ch));
    pthread_mutex_init(&ch->mu, NULL);
    ch->heap = heap;
    ch->ends = 2;
    for (int i = 0; i < 2; i++)
        ch->end[i] = (struct td_chan_end){.ch = ch, .index = i};
    int h[2];
    int rc = td_handle_make(&td_chan_vfs, &ch->end[0], &h[0]);
    if (rc) {
        pthread_mutex_destroy(&ch->mu);
        if (heap)
            free(ch);
        return rc;
    }
    rc = td_handle_make(&td_chan_vfs, &ch->end[1], &h[1]);
    if (rc) {
        ch->ends = 1;
        td_handle_close(h[0]); /* destroys the channel, heap or not */
        return rc;
    }
    chv[0] = h[0];
    chv[1] = h[1];
    return 0;
}

TDILL_EXPORT int tdill_chmake(int chv[2])
{
    if (!chv)
        return td_fail(EINVAL);
    struct td_chan *ch = malloc(sizeof(*ch));
    if (!ch)
        return td_fail(ENOMEM);
    int rc = chmake_in(ch, true, chv);
    return rc ? td_fail(rc) : 0;
}

TDILL_EXPORT int tdill_chmake_mem(struct tdill_chstorage *mem, int chv[2])
{
    if (!mem || !chv)
        return td_fail(EINVAL);
    int rc = chmake_in((struct td_chan *)(void *)mem, false, chv);
    return rc ? td_fail(rc) : 0;
}

/* Ends the traffic towards the other end: senders here and receivers
   there fail with EPIPE, those blocked now included. Never waits. */
TDILL_EXPORT int tdill_chdone(int h)
{
    struct td_chan_end *e;
    int rc = td_handle_acquire(h, &td_chan_vfs, (void **)&e);
    if (rc)
        return td_fail(rc);
    struct td_chan *ch = e->ch;
    struct td_half *half = &ch->half[!e->index];
    pthread_mutex_lock(&ch->mu);
    if (half->done) {
        rc = EPIPE;
    } else {
        half->done = true;
        td_queue_fail(&half->recvs, EPIPE);
        td_queue_fail(&half->sends, EPIPE);
    }
    pthread_mutex_unlock(&ch->mu);
    td_handle_release(h);
    return rc ? td_fail(rc) : 0;
}
