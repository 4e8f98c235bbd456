#include <pthread.h>

#include "fork.h"
#include "handle.h"
#include "poller.h"

/*
 * fork() support. Only the forking thread survives in the child, so every
 * lock the library has is taken before fork and released after it, and the
 * child rebuilds what belonged to other threads (see the callees).
 * Order: the handle table and objects first, the poller last, released in
 * reverse.
 */

static void prepare(void)
{
    td_handle_fork_prepare();
    td_poller_fork_prepare();
}

static void parent(void)
{
    td_poller_fork_parent();
    td_handle_fork_parent();
}

static void child(void)
{
    td_poller_fork_child();
    td_handle_fork_child();
}

static void register_handlers(void)
{
    pthread_atfork(prepare, parent, child);
}

/* NB: not a constructor: in a static library nothing would pull this file
   into the program, and fork would silently go unhandled. */
void td_fork_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_handlers);
}
