#ifndef TD_POLLER_H
#define TD_POLLER_H

#include <stdint.h>

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

void td_poller_fork_prepare(void);
void td_poller_fork_parent(void);
void td_poller_fork_child(void);

#endif
