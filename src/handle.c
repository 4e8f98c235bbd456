#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fork.h"
#include "handle.h"
#include "now.h"
#include "wait.h"
#include "tdill.h"

/*
 * The handle table (see handle.h). This file is also what makes closing
 * safe while other threads use the handle: every use holds a reference on
 * the slot, hclose waits for the last one to go before it destroys the
 * object, and the I/O threads know a socket only by its handle number (the
 * poller never holds a pointer), so a late event finds a stale handle and
 * is dropped instead of touching freed memory.
 */

#define MAX_SLOTS (1u << TD_INDEX_BITS)
#define NO_SLOT UINT32_MAX

/* A freed slot is reused only once this many others are waiting, so a handle
   number comes back only after about QUARANTINE * 2048 closes. */
#define QUARANTINE 1024

/* The slots, in chunks (see handle.h). */
_Atomic(struct td_slot *) td_slot_chunks[TD_MAX_CHUNKS];

/* table_mu protects slot allocation: nslots and the free list. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t nslots;
static uint32_t free_head = NO_SLOT, free_tail = NO_SLOT, free_count;

/* Closers wait, in the closers list, for a slot's last reference to go.
   NB: they wait through td_waiter, not a bare condvar, so that a coroutine
   closing a handle another coroutine of its thread is using parks only
   itself; blocking the thread would keep the other from ever leaving. */
static pthread_mutex_t close_mu = PTHREAD_MUTEX_INITIALIZER;
static struct td_waitlist closers;

/* Picks a slot index for a new object. Called with table_mu held. */
static int take_slot(uint32_t *idx)
{
    if (free_count > QUARANTINE || (nslots == MAX_SLOTS && free_count > 0)) {
        *idx = free_head;
        free_head = td_slot_at(free_head)->next_free;
        if (free_head == NO_SLOT)
            free_tail = NO_SLOT;
        free_count--;
        return 0;
    }
    if (nslots == MAX_SLOTS)
        return EMFILE;
    uint32_t c = nslots >> TD_CHUNK_BITS;
    if (!atomic_load_explicit(&td_slot_chunks[c], memory_order_relaxed)) {
        struct td_slot *chunk = aligned_alloc(
            TD_SLOT_ALIGN, TD_CHUNK_SIZE * sizeof(struct td_slot));
        if (!chunk)
            return ENOMEM;
        memset(chunk, 0, TD_CHUNK_SIZE * sizeof(struct td_slot));
        atomic_store_explicit(&td_slot_chunks[c], chunk, memory_order_release);
    }
    *idx = nslots++;
    return 0;
}

/* The handle a slot will have when it is next made live. */
static int handle_at(uint32_t idx)
{
    uint64_t st = atomic_load_explicit(&td_slot_at(idx)->state,
                                       memory_order_relaxed);
    return (int)(((uint64_t)TD_ST_GEN(st) << TD_INDEX_BITS) | idx);
}

/* Makes a taken slot reachable. Needs table_mu. */
static void publish_locked(uint32_t idx, const struct td_vfs *vfs, void *obj)
{
    struct td_slot *s = td_slot_at(idx);
    uint64_t gen =
        TD_ST_GEN(atomic_load_explicit(&s->state, memory_order_relaxed));
    s->obj = obj;
    s->vfs = vfs;
    atomic_store_explicit(&s->state, (gen << 32) | TD_ST_LIVE,
                          memory_order_release);
}

int td_handle_make(const struct td_vfs *vfs, void *obj, int *h)
{
    uint32_t idx;
    td_fork_init();
    pthread_mutex_lock(&table_mu);
    int rc = take_slot(&idx);
    if (rc == 0) {
        publish_locked(idx, vfs, obj);
        *h = handle_at(idx);
    }
    pthread_mutex_unlock(&table_mu);
    return rc;
}

int td_handle_acquire_any(int h, void **obj, const struct td_vfs **vfs)
{
    struct td_slot *s;
    int rc = td_slot_update_open(h, 1, &s);
    if (rc)
        return rc;
    *obj = s->obj;
    *vfs = s->vfs;
    return 0;
}

void td_handle_last_ref(void)
{
    pthread_mutex_lock(&close_mu);
    td_wake_all(&closers, TD_READY);
    pthread_mutex_unlock(&close_mu);
}

static void wait_for_last_reference(struct td_slot *s)
{
    pthread_mutex_lock(&close_mu);
    while (atomic_load_explicit(&s->state, memory_order_acquire) & TD_ST_REFS)
        td_wait_in(&closers, &close_mu, 0, TD_NEVER, false);
    pthread_mutex_unlock(&close_mu);
}

/* Returns a closed slot to the free list with its generation advanced, so
   every copy of the old handle now fails with EBADF. Needs table_mu. */
static void free_slot_locked(struct td_slot *s, uint32_t idx)
{
    uint64_t gen = (TD_ST_GEN(atomic_load(&s->state)) + 1) & TD_GEN_MASK;
    s->obj = NULL;
    s->vfs = NULL;
    s->next_free = NO_SLOT;
    atomic_store_explicit(&s->state, gen << 32, memory_order_release);
    if (free_tail == NO_SLOT)
        free_head = idx;
    else
        td_slot_at(free_tail)->next_free = idx;
    free_tail = idx;
    free_count++;
}

/* Destroys obj, which nobody can reach any more, and frees h's slot. NB:
   the slot is marked under table_mu, so fork() (which holds it) never
   touches an object that is half destroyed; it does not wait for the
   teardown either. */
static void tear_down(struct td_slot *s, int h, const struct td_vfs *vfs,
                      void *obj)
{
    pthread_mutex_lock(&table_mu);
    atomic_fetch_or_explicit(&s->state, TD_ST_DYING, memory_order_relaxed);
    pthread_mutex_unlock(&table_mu);
    vfs->destroy(obj);
    pthread_mutex_lock(&table_mu);
    free_slot_locked(s, (uint32_t)h & TD_INDEX_MASK);
    pthread_mutex_unlock(&table_mu);
}

int td_handle_close(int h)
{
    /* 1. Mark the slot closing: from now on nobody new gets in. */
    struct td_slot *s;
    if (td_slot_update_open(h, TD_ST_CLOSING, &s))
        return EBADF;
    /* 2. Throw out those already inside and wait until they have left. */
    s->vfs->cancel(s->obj);
    wait_for_last_reference(s);
    /* 3. Nobody can reach the object any more: tear it down. */
    tear_down(s, h, s->vfs, s->obj);
    return 0;
}

/* A move is a close that keeps the object: the new slot is taken first,
   so that running out of slots or memory changes nothing. */
int td_handle_move(int h, const struct td_vfs *vfs, td_wrap_fn *wrap,
                   void *arg, int *newh)
{
    void *obj;
    const struct td_vfs *kind;
    int rc = td_handle_acquire_any(h, &obj, &kind);
    if (rc)
        return rc;
    td_handle_release(h);
    if ((vfs && kind != vfs) || !kind->rehome)
        return ENOTSUP;
    uint32_t idx;
    pthread_mutex_lock(&table_mu);
    rc = take_slot(&idx);
    pthread_mutex_unlock(&table_mu);
    if (rc)
        return rc;
    struct td_slot *s, *to = td_slot_at(idx);
    if (td_slot_update_open(h, TD_ST_CLOSING, &s)) {
        pthread_mutex_lock(&table_mu);
        free_slot_locked(to, idx);
        pthread_mutex_unlock(&table_mu);
        return EBADF;
    }
    /* The slot is still h's, so obj and kind are still its. */
    kind->withdraw(obj);
    wait_for_last_reference(s);
    rc = wrap ? wrap(arg, &obj, &kind) : 0;
    if (rc) {
        tear_down(s, h, kind, obj);
        pthread_mutex_lock(&table_mu);
        free_slot_locked(to, idx);
        pthread_mutex_unlock(&table_mu);
        return rc;
    }
    *newh = handle_at(idx);
    kind->rehome(obj, *newh);
    pthread_mutex_lock(&table_mu);
    publish_locked(idx, kind, obj);
    free_slot_locked(s, (uint32_t)h & TD_INDEX_MASK);
    pthread_mutex_unlock(&table_mu);
    return 0;
}

/* Not a cancellation point (it does not wait for a peer), so it turns
   cancellation off: close() inside it is one. */
TDILL_EXPORT int tdill_hclose(int h)
{
    td_call_begin(0);
    int rc = td_handle_close(h);
    td_call_end();
    return rc ? td_fail(rc) : 0;
}

/* Like hclose, it waits for the calls it throws out, and is no
   cancellation point. */
TDILL_EXPORT int tdill_hown(int h)
{
    td_call_begin(0);
    int newh, rc = td_handle_move(h, NULL, NULL, NULL, &newh);
    td_call_end();
    return rc ? td_fail(rc) : newh;
}

int td_handle_begin(int h, const struct td_vfs *vfs, void **obj)
{
    int rc = td_call_begin(TD_CANCEL_POINT | TD_MAY_WAIT);
    if (rc == 0)
        rc = td_handle_acquire(h, vfs, obj);
    if (rc) {
        td_call_end();
        return rc;
    }
    td_call_hold(td_handle_undo_release, NULL, h);
    return 0;
}

void td_handle_end(int h)
{
    td_call_drop();
    td_handle_release(h);
    td_call_end();
}

void td_handle_undo_release(void *unused, int h)
{
    (void)unused;
    td_handle_release(h);
}

void td_handle_undo_close(void *unused, int h)
{
    (void)unused;
    td_handle_close(h);
}

/* Calls fn on every live slot whose object is not being torn down. Called
   with table_mu held. */
static void for_each_live(void (*fn)(struct td_slot *, uint32_t))
{
    for (uint32_t i = 0; i < nslots; i++) {
        struct td_slot *s = td_slot_at(i);
        uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
        if ((st & TD_ST_LIVE) && !(st & TD_ST_DYING))
            fn(s, i);
    }
}

static void prepare_one(struct td_slot *s, uint32_t idx)
{
    (void)idx;
    if (s->vfs->fork_prepare)
        s->vfs->fork_prepare(s->obj);
}

static void parent_one(struct td_slot *s, uint32_t idx)
{
    (void)idx;
    if (s->vfs->fork_parent)
        s->vfs->fork_parent(s->obj);
}

/* In the child only the forking thread exists: references held by other
   threads are gone (its own coroutines' stay), and a close that another
   thread had begun can never finish, so the child finishes it when nothing
   holds the object any more; else the object is left to leak. */
static void child_one(struct td_slot *s, uint32_t idx)
{
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    unsigned refs = s->vfs->fork_child ? s->vfs->fork_child(s->obj) : 0;
    atomic_store_explicit(&s->state, (st & ~TD_ST_REFS) | refs,
                          memory_order_relaxed);
    if ((st & TD_ST_CLOSING) && refs == 0) {
        s->vfs->destroy(s->obj);
        free_slot_locked(s, idx);
    }
}

/* An object another thread was tearing down when fork() came is gone in
   the child's eyes: its slot is freed, its memory and descriptor leak. */
static void child_forget_dying(void)
{
    for (uint32_t i = 0; i < nslots; i++) {
        struct td_slot *s = td_slot_at(i);
        uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
        if ((st & TD_ST_LIVE) && (st & TD_ST_DYING))
            free_slot_locked(s, i);
    }
}

/* Lock order: table_mu, close_mu, then each object's lock. Each is held
   only briefly by its holders, never across a wait, so fork() waits for
   no other thread's progress. */
void td_handle_fork_prepare(void)
{
    pthread_mutex_lock(&table_mu);
    pthread_mutex_lock(&close_mu);
    for_each_live(prepare_one);
}

void td_handle_fork_parent(void)
{
    for_each_live(parent_one);
    pthread_mutex_unlock(&close_mu);
    pthread_mutex_unlock(&table_mu);
}

/* The forking thread took every lock in prepare and is the one thread the
   child has, so it releases them. */
void td_handle_fork_child(void)
{
    closers.first = NULL; /* they were other threads */
    for_each_live(child_one);
    child_forget_dying();
    pthread_mutex_unlock(&close_mu);
    pthread_mutex_unlock(&table_mu);
}

/* The table as the coroutine front-end sees it. */
TD_EXPORT_ALIAS(td_handle_make, tdill__hmake);

TDILL_EXPORT int tdill__hacquire(int h, const struct td_vfs *vfs, void **obj)
{
    return td_handle_acquire(h, vfs, obj);
}

TDILL_EXPORT void tdill__hrelease(int h)
{
    td_handle_release(h);
}
