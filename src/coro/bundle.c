#include <errno.h>
#include <stdlib.h>

#include "../handle.h"
#include "coro.h"
#include "tdill_coro.h"

/*
 * Bundles: groups of coroutines, possibly on several threads. A go()
 * handle is a bundle of one, so hclose() and bundle_wait() treat both
 * alike. A member leaves its bundle when it finishes (reaped on its own
 * thread); hclose cancels the members and waits until all have left, and
 * only then is the bundle's memory released.
 */

_Static_assert(sizeof(struct tdc_bundle) <=
                   sizeof(struct tdill_bundle_storage),
               "struct tdill_bundle_storage too small");

void tdc_bundle_init(struct tdc_bundle *b, bool heap)
{
    pthread_mutex_init(&b->mu, NULL);
    tdc_list_init(&b->members);
    b->count = 0;
    b->waiters.first = NULL;
    b->closing = false;
    b->heap = heap;
    b->stack = NULL;
}

/* Waits until a member leaves the bundle empty, the deadline or, if
   cancellable, the calling coroutine's cancellation. Called and returns
   with b->mu held. */
static enum td_wait_state wait_empty(struct tdc_bundle *b, int64_t deadline,
                                     bool cancellable)
{
    return tdill__wait_in(&b->waiters, &b->mu, 0, deadline, cancellable);
}

int tdc_bundle_join(struct tdc_bundle *b, struct tdc_cr *cr)
{
    pthread_mutex_lock(&b->mu);
    bool closing = b->closing;
    if (!closing) {
        cr->bundle = b;
        tdc_list_push(&b->members, &cr->member);
        b->count++;
    }
    pthread_mutex_unlock(&b->mu);
    return closing ? EBADF : 0;
}

void tdc_bundle_leave(struct tdc_cr *cr)
{
    struct tdc_bundle *b = cr->bundle;
    bool free_stack = cr->mmapped && !cr->hosts;
    void *mem = cr->mem;
    pthread_mutex_lock(&b->mu);
    tdc_list_del(&cr->member);
    /* NB: under b->mu, so that no cancellation can queue it again. */
    tdc_unqueue(cr);
    if (!cr->mmapped)
        tdc_stack_forget(cr->stk_lo, cr->stk_len);
    if (--b->count == 0)
        tdill__wake_all(&b->waiters, TD_READY);
    /* From here on the closer may free b and, for go(), cr with it. */
    pthread_mutex_unlock(&b->mu);
    if (free_stack)
        tdc_stack_free(mem);
}

static void bundle_cancel(void *obj)
{
    struct tdc_bundle *b = obj;
    pthread_mutex_lock(&b->mu);
    b->closing = true;
    for (struct tdc_list *n = b->members.next; n != &b->members; n = n->next) {
        struct tdc_cr *cr = tdc_of(n, struct tdc_cr, member);
        atomic_store_explicit(&cr->canceled, true, memory_order_release);
        tdc_poke(cr);
    }
    tdill__wake_all(&b->waiters, TD_CANCELED);
    pthread_mutex_unlock(&b->mu);
}

/* Not cancellable: hclose in a cancelled coroutine must still wait. */
static void bundle_destroy(void *obj)
{
    struct tdc_bundle *b = obj;
    pthread_mutex_lock(&b->mu);
    while (b->count)
        wait_empty(b, TD_NEVER, false);
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_destroy(&b->mu);
    if (b->heap)
        free(b);
    else if (b->stack)
        tdc_stack_free(b->stack); /* a go() handle: b lives in it */
}

/* fork(): the core takes every object's lock around it. In the child only
   the forking thread exists; members that ran on other threads never will
   again, so the bundle forgets them (their memory is lost) and can still
   be closed. */
static void bundle_fork_prepare(void *obj)
{
    pthread_mutex_lock(&((struct tdc_bundle *)obj)->mu);
}

static void bundle_fork_parent(void *obj)
{
    pthread_mutex_unlock(&((struct tdc_bundle *)obj)->mu);
}

static void bundle_fork_child(void *obj)
{
    struct tdc_bundle *b = obj;
    struct tdc_sched *here = tdc_sched();
    struct tdc_list *n = b->members.next;
    while (n != &b->members) {
        struct tdc_cr *cr = tdc_of(n, struct tdc_cr, member);
        n = n->next;
        if (cr->sched != here) {
            tdc_list_del(&cr->member);
            b->count--;
        }
    }
    b->waiters.first = NULL; /* they were other threads */
    pthread_mutex_unlock(&b->mu);
}

const struct td_vfs tdc_bundle_vfs = {
    bundle_cancel,      bundle_destroy,    bundle_fork_prepare,
    bundle_fork_parent, bundle_fork_child,
};

static int make(struct tdc_bundle *b)
{
    int h, rc = tdill__hmake(&tdc_bundle_vfs, b, &h);
    if (rc) {
        pthread_mutex_destroy(&b->mu);
        if (b->heap)
            free(b);
        return td_fail(rc);
    }
    return h;
}

TDILL_EXPORT int tdill_bundle(void)
{
    struct tdc_bundle *b = malloc(sizeof(*b));
    if (!b)
        return td_fail(ENOMEM);
    tdc_bundle_init(b, true);
    return make(b);
}

TDILL_EXPORT int tdill_bundle_mem(struct tdill_bundle_storage *mem)
{
    if (!mem)
        return td_fail(EINVAL);
    struct tdc_bundle *b = (struct tdc_bundle *)(void *)mem;
    tdc_bundle_init(b, false);
    return make(b);
}

TDILL_EXPORT int tdill_bundle_wait(int h, int64_t deadline)
{
    struct tdc_bundle *b;
    int rc = tdc_check_canceled();
    if (rc == 0)
        rc = tdill__hacquire(h, &tdc_bundle_vfs, (void **)&b);
    if (rc)
        return td_fail(rc);
    int64_t dl = td_deadline_ns(deadline);
    pthread_mutex_lock(&b->mu);
    while (rc == 0 && b->count) {
        if (b->closing)
            rc = ECANCELED;
        else if (td_expired(dl))
            rc = ETIMEDOUT;
        else if (wait_empty(b, dl, true) == TD_CANCELED)
            rc = ECANCELED;
    }
    pthread_mutex_unlock(&b->mu);
    tdill__hrelease(h);
    return rc ? td_fail(rc) : 0;
}
