#include <pthread.h>

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

__attribute__((constructor)) static void register_fork_handlers(void)
{
    pthread_atfork(prepare, parent, child);
}
