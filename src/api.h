#ifndef TD_API_H
#define TD_API_H

#include <errno.h>

/*
 * The library's boundary. Internal functions return 0 or an errno value;
 * only a public function turns that into errno, through td_fail(), so errno
 * is set exactly once, at the boundary.
 */
static inline int td_fail(int err)
{
    errno = err;
    return -1;
}

/* Exports internal function fn as `name` (tdill__...) for the coroutine
   front-end, a separate library; not public API. An alias rather than a
   wrapper or exporting fn itself: the core's own calls stay direct instead
   of going through the PLT. */
#define TD_EXPORT_ALIAS(fn, name)                                             \
    extern __typeof__(fn) name                                                \
        __attribute__((alias(#fn), visibility("default")))

#endif
