#include <errno.h>

#include "api.h"
#include "iolist.h"
#include "now.h"
#include "sock.h"
#include "tdill.h"

/*
 * bsend, brecv, bsendl, brecvl: all-or-nothing transfers on any bytestream
 * handle. Nothing here knows which protocol the handle speaks.
 */

/* The order of checks is the order of errors a caller can see: a cancelled
   coroutine (ECANCELED, front-end only), the handle
   (EBADF, ENOTSUP), the arguments (EINVAL), then the connection (EBUSY,
   EPIPE, ECONNRESET). Nothing is touched before all of them pass. */
static int transfer(int h, enum td_dir dir, struct tdill_iolist *first,
                    struct tdill_iolist *last, int64_t deadline)
{
    struct td_sock *s;
    size_t total = 0;
    int rc = td_handle_begin(h, &td_conn_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    bool drain = dir == TD_IN && !first && !last;
    if (!drain)
        rc = td_iolist_check(first, last, dir == TD_OUT, &total);
    if (rc == 0)
        rc = td_sock_enter(s, dir);
    if (rc) {
        td_handle_end(h);
        return td_fail(rc);
    }
    int64_t dl = td_deadline_ns(deadline);
    struct td_iocur c;
    td_iocur_init(&c, first, total);
    if (drain)
        rc = td_sock_drain(s, dl);
    else if (dir == TD_OUT)
        rc = td_sock_sendv(s, &c, dl);
    else
        rc = td_sock_recvv(s, &c, dl);
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
