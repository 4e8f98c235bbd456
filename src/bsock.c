#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "api.h"
#include "iolist.h"
#include "now.h"
#include "sock.h"
#include "tdill.h"

/*
 * bsend, brecv, bsendl, brecvl: all-or-nothing transfers on any bytestream
 * handle. Nothing here knows which protocol the handle speaks.
 */

/* The list, checked before anything moves: the cursor over it, or drain
   (brecvl's first == last == NULL). */
static int check_list(enum td_dir dir, struct tdill_iolist *first,
                      struct tdill_iolist *last, struct td_iocur *c,
                      bool *drain)
{
    size_t total = 0;
    *drain = dir == TD_IN && !first && !last;
    int rc = *drain ? 0 : td_iolist_check(first, last, dir == TD_OUT, &total);
    td_iocur_init(c, first, total);
    return rc;
}

/* Most transfers complete at once: the data is there, or the room. Such a
   transfer, made by a plain thread, skips the call machinery (the cancel
   state, the undo list): it is a cancellation point only at its start,
   and its system calls are not ones (see sock.c). Only when it must wait
   does it become a call, declaring what it holds. Returns 0 or the error,
   or TD_AGAIN with the handle and the side held, the call begun and the
   try's outcome in *tried. */
static int at_once(int h, enum td_dir dir, struct tdill_iolist *first,
                   struct tdill_iolist *last, struct td_sock **s,
                   struct td_iocur *c, bool *drain, int *tried)
{
    pthread_testcancel();
    int rc = td_handle_acquire(h, &td_conn_vfs, (void **)s);
    if (rc)
        return rc;
    rc = check_list(dir, first, last, c, drain);
    if (rc == 0)
        rc = td_sock_claim(*s, dir);
    if (rc) {
        td_handle_release(h);
        return rc;
    }
    rc = *drain ? TD_AGAIN : td_sock_try(*s, dir, c);
    if (rc == TD_AGAIN || rc == EAGAIN) {
        *tried = rc;
        td_call_begin(TD_MAY_WAIT);
        td_call_hold(td_handle_undo_release, NULL, h);
        td_sock_hold(*s, dir);
        return TD_AGAIN;
    }
    td_sock_give_back(*s, dir, rc);
    td_handle_release(h);
    return rc;
}

/* The order of checks is the order of errors a caller can see: a cancelled
   coroutine (ECANCELED, front-end only), the handle
   (EBADF, ENOTSUP), the arguments (EINVAL), then the connection (EBUSY,
   EPIPE, ECONNRESET). Nothing is touched before all of them pass. */
static int transfer(int h, enum td_dir dir, struct tdill_iolist *first,
                    struct tdill_iolist *last, int64_t deadline)
{
    struct td_sock *s;
    struct td_iocur c;
    bool drain = false;
    int rc, tried = TD_AGAIN;
    if (td_call_outside()) {
        rc = at_once(h, dir, first, last, &s, &c, &drain, &tried);
        if (rc != TD_AGAIN)
            return rc ? td_fail(rc) : 0;
    } else {
        rc = td_handle_begin(h, &td_conn_vfs, (void **)&s);
        if (rc)
            return td_fail(rc);
        rc = check_list(dir, first, last, &c, &drain);
        if (rc == 0)
            rc = td_sock_enter(s, dir);
        if (rc) {
            td_handle_end(h);
            return td_fail(rc);
        }
    }
    int64_t dl = td_deadline_ns(deadline);
    rc = drain ? td_sock_drain(s, dl)
               : td_sock_transfer(s, dir, &c, dl, tried);
    td_sock_leave(s, dir, rc);
    td_handle_end(h);
    return rc ? td_fail(rc) : 0;
}

TDILL_EXPORT int tdill_bsend(int s, const void *buf, size_t len,
                             int64_t deadline)
{
    struct tdill_iolist iol = {(void *)buf, len, NULL, 0};
    return transfer(s, TD_OUT, &iol, &iol, deadline);
}

TDILL_EXPORT int tdill_brecv(int s, void *buf, size_t len, int64_t deadline)
{
    struct tdill_iolist iol = {buf, len, NULL, 0};
    return transfer(s, TD_IN, &iol, &iol, deadline);
}

TDILL_EXPORT int tdill_bsendl(int s, struct tdill_iolist *first,
                              struct tdill_iolist *last, int64_t deadline)
{
    return transfer(s, TD_OUT, first, last, deadline);
}

/* first == last == NULL: receive and drop everything until the peer's EOF,
   which is reported as EPIPE like any other receive that meets it. */
TDILL_EXPORT int tdill_brecvl(int s, struct tdill_iolist *first,
                              struct tdill_iolist *last, int64_t deadline)
{
    return transfer(s, TD_IN, first, last, deadline);
}
