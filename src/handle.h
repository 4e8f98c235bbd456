#ifndef TD_HANDLE_H
#define TD_HANDLE_H

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
};

/* Registers obj; on success stores the new handle in *h. Returns 0, EMFILE
   (table full) or ENOMEM. */
int td_handle_make(const struct td_vfs *vfs, void *obj, int *h);

/* Takes a reference. vfs == NULL accepts any kind. Returns 0 and the object,
   EBADF (no such handle, or closing) or ENOTSUP (another kind). */
int td_handle_acquire(int h, const struct td_vfs *vfs, void **obj);

/* Takes a reference on an object of any kind and tells which kind it is.
   Returns 0 or EBADF. */
int td_handle_acquire_any(int h, void **obj, const struct td_vfs **vfs);

void td_handle_release(int h);

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
