#include <time.h>

#include "now.h"
#include "tdill.h"

int64_t td_now_ns(void)
{
    struct timespec ts;
    /* NB: CLOCK_MONOTONIC, not _COARSE: the coarse clock ticks in whole
       milliseconds, which would make 1 ms deadline precision impossible. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t td_deadline_ns(int64_t deadline_ms)
{
    if (deadline_ms < 0)
        return TD_NEVER;
    /* A deadline beyond ~292 years would overflow; treat it as none. */
    if (deadline_ms > INT64_MAX / 1000000)
        return TD_NEVER;
    return deadline_ms * 1000000;
}

TDILL_EXPORT int64_t tdill_now(void)
{
    int64_t ms = td_now_ns() / 1000000;
    /* 0 and -1 mean "no wait" and "forever" as deadlines; never return them. */
    return ms > 0 ? ms : 1;
}
