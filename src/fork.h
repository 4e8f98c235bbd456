#ifndef TD_FORK_H
#define TD_FORK_H

/* Registers the fork handlers; called before the first handle is made. */
void td_fork_init(void);

#endif
