#ifndef TD_NOW_H
#define TD_NOW_H

#include <stdint.h>

/* Internal time is nanoseconds on CLOCK_MONOTONIC; -1 means "never". */
#define TD_NEVER ((int64_t)-1)

int64_t td_now_ns(void);

/* Converts a public millisecond deadline (negative: none) to internal ns. */
int64_t td_deadline_ns(int64_t deadline_ms);

#endif
