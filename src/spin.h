#ifndef TD_SPIN_H
#define TD_SPIN_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The policy of retrying before parking. When the kernel says EAGAIN, an
 * operation may retry at once (yielding the CPU between tries) instead of
 * parking: with a busy peer the data comes within microseconds and a park
 * would cost two thread hand-overs. How long to spin adapts per direction
 * of a socket to how the last waits went. The mechanism that spins and
 * parks is sock.c's; this file only decides.
 */

/* What a direction remembers from one operation to the next. */
struct td_spin {
    uint16_t budget; /* EAGAINs retried before parking */
    uint16_t parks;  /* parks so far: every few parks probe a full spin */
};

/* One operation's spinning: how its waits went. */
struct td_spinner {
    struct td_spin *dir; /* the direction's; NULL: never spin */
    int tries;           /* retries since the operation began or last parked */
    bool probing;        /* spinning a full start budget to test it */
    enum { TD_WAITED_NOT, TD_WAITED_SPUN, TD_WAITED_PARKED } last;
    int64_t parked_at; /* when the last park began */
};

void td_spin_init(struct td_spin *d);

/* Begins an operation on direction dir (NULL: one that never spins). */
static inline struct td_spinner td_spinner(struct td_spin *dir)
{
    return (struct td_spinner){.dir = dir};
}

/* On EAGAIN: true to retry now (after td_wait_pause), false to park. */
bool td_spin_again(struct td_spinner *sp);

/* Around a park: woken says it ended because the awaited event came. */
void td_spin_parking(struct td_spinner *sp);
void td_spin_parked(struct td_spinner *sp, bool woken);

/* At the end of a successful operation. */
void td_spin_done(struct td_spinner *sp);

#endif
