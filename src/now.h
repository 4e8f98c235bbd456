#ifndef TD_NOW_H
#define TD_NOW_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * The clock. Internal time is nanoseconds on CLOCK_MONOTONIC, so wall-clock
 * changes never stretch or cut a deadline; TD_NEVER means "no deadline".
 * Inline, because both libraries (the core and the coroutine front-end)
 * read it on every blocking call.
 */
#define TD_NEVER ((int64_t)-1)

static inline int64_t td_now_ns(void)
{
    struct timespec ts;
    /* NB: CLOCK_MONOTONIC, not _COARSE: the coarse clock ticks in whole
       milliseconds, which would make 1 ms deadline precision impossible. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A public millisecond deadline (negative: none) as internal ns. A deadline
   beyond ~292 years would overflow; it is treated as none. */
static inline int64_t td_deadline_ns(int64_t deadline_ms)
{
    if (deadline_ms < 0 || deadline_ms > INT64_MAX / 1000000)
        return TD_NEVER;
    return deadline_ms * 1000000;
}

/* Has the deadline passed? 0 ("do not wait") always has. */
static inline bool td_expired(int64_t deadline_ns)
{
    return deadline_ns != TD_NEVER &&
           (deadline_ns == 0 || td_now_ns() >= deadline_ns);
}

#endif
