#ifndef TD_FORK_H
#define TD_FORK_H

/*
 * fork() support: pthread_atfork handlers that lock every subsystem before
 * fork and rebuild in the child (fork.c).
 */

/* Registers the fork handlers; called before the first handle is made. */
void td_fork_init(void);

#endif
