#include <errno.h>
#include <stdlib.h>

#include "coro.h"

/*
 * Per-thread timers: the contexts parked with a deadline, in a binary
 * min-heap keyed by deadline, each knowing its own index so that a context
 * woken early leaves the heap in O(log n). Room is reserved when a
 * coroutine is made, so adding a timer never fails.
 */

static void place(struct tdc_sched *s, size_t i, struct tdc_cr *cr)
{
    s->timers[i] = cr;
    cr->timer = i;
}

static void sift_up(struct tdc_sched *s, size_t i)
{
    struct tdc_cr *cr = s->timers[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->timers[parent]->deadline <= cr->deadline)
            break;
        place(s, i, s->timers[parent]);
        i = parent;
    }
    place(s, i, cr);
}

static void sift_down(struct tdc_sched *s, size_t i)
{
    struct tdc_cr *cr = s->timers[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->ntimers)
            break;
        if (c + 1 < s->ntimers &&
            s->timers[c + 1]->deadline < s->timers[c]->deadline)
            c++;
        if (cr->deadline <= s->timers[c]->deadline)
            break;
        place(s, i, s->timers[c]);
        i = c;
    }
    place(s, i, cr);
}

int tdc_timers_reserve(struct tdc_sched *s, size_t n)
{
    if (n <= s->captimers)
        return 0;
    size_t cap = s->captimers ? s->captimers : 16;
    while (cap < n)
        cap *= 2;
    struct tdc_cr **t = realloc(s->timers, cap * sizeof(*t));
    if (!t)
        return ENOMEM;
    s->timers = t;
    s->captimers = cap;
    return 0;
}

void tdc_timer_add(struct tdc_sched *s, struct tdc_cr *cr, int64_t deadline)
{
    /* GCOVR_EXCL_START: a guard, never true: a context adds a timer only in
       tdc_block, which removes it before it returns (notes/coverage.md). */
    if (cr->timer != TDC_NO_TIMER)
        tdc_timer_del(s, cr);
    /* GCOVR_EXCL_STOP */
    cr->deadline = deadline;
    place(s, s->ntimers++, cr);
    sift_up(s, cr->timer);
}

void tdc_timer_del(struct tdc_sched *s, struct tdc_cr *cr)
{
    size_t i = cr->timer;
    cr->timer = TDC_NO_TIMER;
    struct tdc_cr *last = s->timers[--s->ntimers];
    if (last == cr)
        return;
    place(s, i, last);
    sift_down(s, i);
    sift_up(s, last->timer);
}

int64_t tdc_timer_next(const struct tdc_sched *s)
{
    return s->ntimers ? s->timers[0]->deadline : TD_NEVER;
}

bool tdc_timers_fire(struct tdc_sched *s, int64_t now)
{
    bool any = false;
    while (s->ntimers && s->timers[0]->deadline <= now) {
        struct tdc_cr *cr = s->timers[0];
        tdc_timer_del(s, cr);
        tdc_ready_push(s, cr);
        any = true;
    }
    return any;
}
