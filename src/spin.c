#include "now.h"
#include "spin.h"

/*
 * Adaptive spinning (see spin.h). A wait that spinning ended widens the
 * budget, and so does a park that ended within SPIN_PAYS_NS; a longer park
 * narrows it. A collapsed budget is re-probed every PROBE_EVERY parks, or
 * it could never recover. notes/decisions.md tells how these were measured.
 * The constants may be overridden at build time for experiments.
 */

#ifndef SPIN_MIN
#define SPIN_MIN 0
#endif
#ifndef SPIN_START
#define SPIN_START 16
#endif
#ifndef SPIN_MAX
#define SPIN_MAX 256
#endif
#ifndef SPIN_PAYS_NS
#define SPIN_PAYS_NS 50000
#endif
#ifndef PROBE_EVERY
#define PROBE_EVERY 16
#endif

void td_spin_init(struct td_spin *d)
{
    d->budget = SPIN_START;
    d->parks = 0;
}

static uint16_t widen(uint16_t b)
{
    return b * 2 + 1 < SPIN_MAX ? (uint16_t)(b * 2 + 1) : SPIN_MAX;
}

static uint16_t narrow(uint16_t b)
{
    return b / 2 > SPIN_MIN ? (uint16_t)(b / 2) : SPIN_MIN;
}

/* Is there budget left for one more try? A direction whose budget has
   collapsed probes a full SPIN_START spin every PROBE_EVERY-th park. */
static bool budget_left(struct td_spinner *sp)
{
    struct td_spin *d = sp->dir;
    if (sp->tries < (sp->probing ? SPIN_START : d->budget))
        return true;
    if (sp->probing || d->budget >= SPIN_START || ++d->parks % PROBE_EVERY)
        return false;
    sp->probing = true;
    return sp->tries < SPIN_START;
}

bool td_spin_again(struct td_spinner *sp)
{
    if (!sp->dir || !budget_left(sp))
        return false;
    sp->tries++;
    sp->last = TD_WAITED_SPUN;
    return true;
}

void td_spin_parking(struct td_spinner *sp)
{
    sp->tries = 0;
    sp->probing = false;
    sp->last = TD_WAITED_PARKED;
    if (sp->dir)
        sp->parked_at = td_now_ns();
}

/* NB: judged by its length: a park that ended within SPIN_PAYS_NS would
   have been spared its two thread hand-overs by a little more spinning. */
void td_spin_parked(struct td_spinner *sp, bool woken)
{
    uint16_t *b = sp->dir ? &sp->dir->budget : NULL;
    if (!b || !woken)
        return;
    *b = td_now_ns() - sp->parked_at < SPIN_PAYS_NS ? widen(*b) : narrow(*b);
}

/* If the last wait ended by spinning, spinning pays on this direction now:
   widen, and a successful probe restores the whole start budget. */
void td_spin_done(struct td_spinner *sp)
{
    if (!sp->dir || sp->last != TD_WAITED_SPUN)
        return;
    uint16_t *b = &sp->dir->budget;
    *b = widen(*b);
    if (sp->probing && *b < SPIN_START)
        *b = SPIN_START;
}
