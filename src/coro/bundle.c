#include <assert.h>
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

/* The caller holds a reference on b's handle; a member keeps it until it
   leaves, so hclose (which waits for the last reference) waits for the
   members. On EBADF the reference is still the caller's. */
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
    int h = b->handle;
    pthread_mutex_lock(&b->mu);
    tdc_list_del(&cr->member);
    /* NB: under b->mu, so that no cancellation can queue it again. */
    tdc_unqueue(cr);
    if (!cr->mmapped)
        tdc_stack_forget(cr->stk_lo, cr->stk_len);
    if (--b->count == 0)
        tdill__wake_all(&b->waiters, TD_READY);
    pthread_mutex_unlock(&b->mu);
    if (free_stack)
        tdc_stack_free(mem);
    /* Last: from here on the closer may free b and, for go(), cr with it. */
    tdill__hrelease(h);
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

/* The members have left: their references are gone. */
static void bundle_destroy(void *obj)
{
    struct tdc_bundle *b = obj;
    assert(b->count == 0); /* GCOVR_EXCL_BR_LINE: an assertion's failure */
    pthread_mutex_destroy(&b->mu);
    if (b->heap)
        free(b);
    else if (b->stack)
        tdc_stack_free(b->stack); /* a go() handle: b lives in it */
}

/* fork(): the core takes every object's lock around it. In the child only
   the forking thread exists; members and waiters that ran on other threads
   never will again, so the bundle forgets them (their memory is lost) and
   can still be closed. Those of the forking thread stay, with their
   references. */
static void bundle_fork_prepare(void *obj)
{
    pthread_mutex_lock(&((struct tdc_bundle *)obj)->mu);
}

static void bundle_fork_parent(void *obj)
{
    pthread_mutex_unlock(&((struct tdc_bundle *)obj)->mu);
}

static bool is_here(const struct tdc_cr *cr)
{
    return cr && cr->sched == tdc_sched();
}

static unsigned bundle_fork_child(void *obj)
{
    struct tdc_bundle *b = obj;
    struct tdc_list *n = b->members.next;
    while (n != &b->members) {
        struct tdc_cr *cr = tdc_of(n, struct tdc_cr, member);
        n = n->next;
        if (!is_here(cr)) {
            tdc_list_del(&cr->member);
            b->count--;
        }
    }
    unsigned refs = (unsigned)b->count;
    struct td_waiter **p = &b->waiters.first;
    while (*p) {
        if (is_here((*p)->ctx)) {
            refs++; /* a bundle_wait of this thread's */
            p = &(*p)->next;
        } else {
            *p = (*p)->next;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return refs;
}

/* No withdraw/rehome: bundles and coroutines cannot move (hown gives
   ENOTSUP), as waking bundle_wait would mean cancelling the coroutines. */
const struct td_vfs tdc_bundle_vfs = {
    .cancel = bundle_cancel,
    .destroy = bundle_destroy,
    .fork_prepare = bundle_fork_prepare,
    .fork_parent = bundle_fork_parent,
    .fork_child = bundle_fork_child,
};

static int make(struct tdc_bundle *b)
{
    int rc = tdill__hmake(&tdc_bundle_vfs, b, &b->handle);
    if (rc) {
        pthread_mutex_destroy(&b->mu);
        if (b->heap)
            free(b);
        return td_fail(rc);
    }
    return b->handle;
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
        else if (tdill__wait_in(&b->waiters, &b->mu, 0, dl, true) ==
                 TD_CANCELED)
            rc = ECANCELED;
    }
    pthread_mutex_unlock(&b->mu);
    tdill__hrelease(h);
    return rc ? td_fail(rc) : 0;
}
