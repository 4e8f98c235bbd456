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

/* Takes a reference. vfs == NULL accepts any kind. Returns 0 and the object,
   EBADF (no such handle, or closing) or ENOTSUP (another kind). */
int td_handle_acquire(int h, const struct td_vfs *vfs, void **obj);

/* Takes a reference on an object of any kind and tells which kind it is.
   Returns 0 or EBADF. */
int td_handle_acquire_any(int h, void **obj, const struct td_vfs **vfs);

void td_handle_release(int h);

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
