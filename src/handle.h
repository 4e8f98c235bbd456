#ifndef TD_HANDLE_H
#define TD_HANDLE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tdill.h"

/*
 * The process-wide handle table: int <-> object.
 *
 * A handle is (generation << TD_HANDLE_INDEX_BITS) | slot index. Every use of
 * a handle holds a reference on its slot between td_handle_acquire() and
 * td_handle_release(); td_handle_close() marks the slot closing (so new
 * acquisitions fail with EBADF), asks the object to cancel its blocked calls,
 * waits until the last reference is gone and only then destroys the object.
 * Slots live in chunks that are never freed, so a stale handle can always be
 * looked up safely; it fails because its generation no longer matches.
 */

struct td_sock;

/* What the table needs to know about one kind of object. */
struct td_vfs {
    /* Wake every call blocked on the object with ECANCELED and make later
       attempts to block fail the same way. Called once, by the closer. */
    void (*cancel)(void *obj);
    /* Release the object's resources. No reference is held any more. */
    void (*destroy)(void *obj);
    /* Fork support (may be NULL): lock the object before fork(), unlock it
       after in the parent, and in the child reset what belonged to threads
       that do not exist there and return the number of references the
       forking thread's coroutines still hold. */
    void (*fork_prepare)(void *obj);
    void (*fork_parent)(void *obj);
    unsigned (*fork_child)(void *obj);
    /* Moving to a new handle (hown, attach, detach; both NULL: the kind
       cannot move). withdraw wakes every call blocked on the object with
       ECANCELED and makes new waits fail, like cancel but for the moment;
       rehome then makes the object usable again under handle h. */
    void (*withdraw)(void *obj);
    void (*rehome)(void *obj, int h);
    /* The socket object the poller's reports for this handle are for
       (NULL: none; see sock.c). */
    struct td_sock *(*sock)(void *obj);
};

/* Registers obj; on success stores the new handle in *h. Returns 0, EMFILE
   (table full) or ENOMEM. */
int td_handle_make(const struct td_vfs *vfs, void *obj, int *h);

/*
 * The table's layout and the taking and giving back of a reference. NB:
 * here rather than in handle.c only so that these two are inline: every
 * call does both, and as calls into the library they were a tenth of the
 * instructions of a channel round trip between coroutines. Nothing but
 * handle.c touches the layout otherwise.
 */

/* 20 index bits and 11 generation bits keep every handle a positive int. */
#define TD_INDEX_BITS 20
#define TD_INDEX_MASK ((1u << TD_INDEX_BITS) - 1)
#define TD_GEN_MASK 0x7ffu
#define TD_CHUNK_BITS 10
#define TD_CHUNK_SIZE (1u << TD_CHUNK_BITS)
#define TD_MAX_CHUNKS (1u << (TD_INDEX_BITS - TD_CHUNK_BITS))

/* Slot state word: generation in the high half, then three flags, then the
   number of references held by callers, I/O threads and coroutines. DYING:
   the closer is tearing the object down (set under table_mu). */
#define TD_ST_CLOSING (UINT64_C(1) << 31)
#define TD_ST_LIVE (UINT64_C(1) << 30)
#define TD_ST_DYING (UINT64_C(1) << 29)
#define TD_ST_REFS (TD_ST_DYING - 1)
#define TD_ST_GEN(st) ((uint32_t)((st) >> 32))

/* NB: a slot per cache line. Every call does an atomic add and subtract on
   its handle's state word; two handles sharing a line would make threads
   working on different handles fight over it. */
#define TD_SLOT_ALIGN 64

struct td_slot {
    _Alignas(TD_SLOT_ALIGN) _Atomic uint64_t state;
    /* Written under table_mu while the slot is not live; read after a
       successful acquire (the CAS orders the two). */
    void *obj;
    const struct td_vfs *vfs;
    uint32_t next_free;
};

/* Allocated on demand and never freed: lookups need no lock. */
extern _Atomic(struct td_slot *) td_slot_chunks[TD_MAX_CHUNKS]
    __attribute__((visibility("hidden")));

static inline struct td_slot *td_slot_at(uint32_t idx)
{
    struct td_slot *chunk = atomic_load_explicit(
        &td_slot_chunks[idx >> TD_CHUNK_BITS], memory_order_acquire);
    return chunk ? &chunk[idx & (TD_CHUNK_SIZE - 1)] : NULL;
}

static inline struct td_slot *td_slot_of(int h)
{
    if (h < 0)
        return NULL;
    return td_slot_at((uint32_t)h & TD_INDEX_MASK);
}

static inline int td_handle_gen(int h)
{
    return (int)(((uint32_t)h >> TD_INDEX_BITS) & TD_GEN_MASK);
}

/* Adds delta to the state word of h's slot while the slot is still open
   as h (live, not closing, h's generation): a reference (1), or the
   closing mark. Returns 0 or EBADF. */
static inline int td_slot_update_open(int h, uint64_t delta,
                                      struct td_slot **out)
{
    struct td_slot *s = td_slot_of(h);
    if (!s)
        return EBADF;
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    do {
        if (!(st & TD_ST_LIVE) || (st & TD_ST_CLOSING) ||
            TD_ST_GEN(st) != (uint32_t)td_handle_gen(h))
            return EBADF;
    } while (!atomic_compare_exchange_weak_explicit(
        &s->state, &st, st + delta, memory_order_acq_rel,
        memory_order_relaxed));
    *out = s;
    return 0;
}

/* Wakes the closers: a closing slot's last reference went. */
void td_handle_last_ref(void);

static inline void td_handle_release(int h)
{
    struct td_slot *s = td_slot_of(h);
    uint64_t prev =
        atomic_fetch_sub_explicit(&s->state, 1, memory_order_acq_rel);
    if ((prev & TD_ST_CLOSING) && (prev & TD_ST_REFS) == 1)
        td_handle_last_ref();
}

/* Takes a reference. vfs == NULL accepts any kind. Returns 0 and the object,
   EBADF (no such handle, or closing) or ENOTSUP (another kind). */
static inline int td_handle_acquire(int h, const struct td_vfs *vfs,
                                    void **obj)
{
    struct td_slot *s;
    int rc = td_slot_update_open(h, 1, &s);
    if (rc)
        return rc;
    if (vfs && s->vfs != vfs) {
        td_handle_release(h);
        return ENOTSUP;
    }
    *obj = s->obj;
    return 0;
}

/* Takes a reference on an object of any kind and tells which kind it is.
   Returns 0 or EBADF. */
int td_handle_acquire_any(int h, void **obj, const struct td_vfs **vfs);

/* How a call that may block on handle h begins: td_call_begin (a
   cancellation point that may wait), then a reference on h that a
   cancellation gives back. Returns 0, or the error the call fails with
   before touching anything (ECANCELED in a cancelled coroutine, EBADF,
   ENOTSUP). On 0 the call ends with td_handle_end(h). */
int td_handle_begin(int h, const struct td_vfs *vfs, void **obj);
void td_handle_end(int h);

/* What td_handle_move does with the object once nothing uses it: may put
   another object (of another kind) in its place. Returns 0 or the error
   the move fails with. */
typedef int td_wrap_fn(void *arg, void **obj, const struct td_vfs **vfs);

/* Moves the object behind h, of kind vfs (NULL: any kind that can move),
   to a new handle: h is closed to new calls, calls blocked on it fail with
   ECANCELED and are waited for, then wrap (may be NULL) runs and the
   result lives on as *newh; h answers EBADF. Returns 0; EBADF, ENOTSUP,
   EMFILE or ENOMEM with nothing changed; or wrap's error, after which the
   object is destroyed and h is gone. */
int td_handle_move(int h, const struct td_vfs *vfs, td_wrap_fn *wrap,
                   void *arg, int *newh);

/* hclose(): returns 0 or EBADF. */
int td_handle_close(int h);

/* For td_call_hold (wait.h): what a cancelled call does with a reference
   it holds, and with a handle it made or was closing. */
void td_handle_undo_release(void *unused, int h);
void td_handle_undo_close(void *unused, int h);

/* The same, exported for the coroutine front-end only (not public API). */
TDILL_EXPORT int tdill__hmake(const struct td_vfs *vfs, void *obj, int *h);
TDILL_EXPORT int tdill__hacquire(int h, const struct td_vfs *vfs, void **obj);
TDILL_EXPORT void tdill__hrelease(int h);

/* Called by fork.c around fork(). */
void td_handle_fork_prepare(void);
void td_handle_fork_parent(void);
void td_handle_fork_child(void);

#endif
