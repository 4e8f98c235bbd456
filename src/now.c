#include "now.h"
#include "tdill.h"

/*
 * now(), the public clock. The internal one, shared with the coroutine
 * front-end, is inline in now.h.
 */

/* now(): the clock of every public deadline, in milliseconds. */
TDILL_EXPORT int64_t tdill_now(void)
{
    int64_t ms = td_now_ns() / 1000000;
    /* 0 and -1 mean "no wait" and "forever" as deadlines; never return them. */
    return ms > 0 ? ms : 1;
}
