#ifndef TD_POLLER_H
#define TD_POLLER_H

#include <stdint.h>

#include "tdill.h"

/*
 * The shared epoll instance and the I/O threads that wait on it.
 *
 * The poller only reports readiness: an I/O thread passes the 64-bit value
 * given at arming time (a handle number, never a pointer: an event can still
 * be in an I/O thread's hands after the object is gone) and the events to
 * the ready callback. Every arming is one-shot, so an fd generates events
 * only while somebody waits on it, and one event wakes one I/O thread.
 */

typedef void td_ready_fn(uint64_t data, uint32_t events);

/* Arms fd for one report of events; starts the poller on first use.
   *epoch records in which epoll instance fd is registered (a forked child
   builds its own). Returns 0 or an errno value. */
int td_poller_arm(td_ready_fn *fn, int fd, uint64_t data, uint32_t events,
                  unsigned *epoch);

/* Removes fd from the interest list; call before closing fd. */
void td_poller_forget(int fd, unsigned epoch);

/* Makes the loaded object that holds code (a function of the library's)
   impossible to unload: done once the library has threads, or thread-exit
   destructors, that may run that code at any time. dlclose then leaves it
   in place; a later dlopen finds it, with its threads, as it was. */
void td_stay_resident(const void *code);
TDILL_EXPORT void tdill__stay_resident(const void *code);

void td_poller_fork_prepare(void);
void td_poller_fork_parent(void);
void td_poller_fork_child(void);

#endif
