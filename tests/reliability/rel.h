/*
 * Helpers shared by the reliability tests (tests/reliability/), on top of
 * tests/util.h.
 *
 * Many of these tests change the whole process (a lowered descriptor limit,
 * an exhausted descriptor table, a library that has never waited), so they
 * run their body in a child made by fork(), whatever Check's fork mode is.
 * In the child, RC_* checks report a failure to the parent through a pipe
 * and end the child; the parent turns that into a Check failure.
 */
#ifndef TDILL_REL_H
#define TDILL_REL_H

#include "../util.h"

#include <stdarg.h>
#include <sys/types.h>

/* Runs fn(arg) in a child process that dies by SIGALRM after `seconds`
   (times tu_slowness()). Fails the test with the child's message if a check
   in it failed, or if it died by a signal; otherwise returns the child's
   exit status: 0, or a code >= 2 that fn passed to exit(). */
int rel_in_child(void (*fn)(void *), void *arg, unsigned seconds);

/* In the child: report the failure and exit(1). */
__attribute__((noreturn, format(printf, 3, 4))) void
rel_child_fail(const char *file, int line, const char *fmt, ...);

#define RC_CHECK(cond, ...)                                                   \
    do {                                                                      \
        if (!(cond))                                                          \
            rel_child_fail(__FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)

/* The call must fail with -1 and exactly errno err. */
#define RC_FAILS(expr, err)                                                   \
    do {                                                                      \
        errno = 0;                                                            \
        long _rc_rc = (long)(expr);                                           \
        int _rc_e = errno;                                                    \
        RC_CHECK(_rc_rc == -1 && _rc_e == (err),                              \
                 "%s: expected -1 with %s, got %ld with %s", #expr,           \
                 tu_errname(err), _rc_rc, tu_errname(_rc_e));                 \
    } while (0)

/* The call must return exactly 0. */
#define RC_OK(expr)                                                           \
    do {                                                                      \
        errno = 0;                                                            \
        long _rc_rc = (long)(expr);                                           \
        int _rc_e = errno;                                                    \
        RC_CHECK(_rc_rc == 0, "%s: expected 0, got %ld with %s", #expr,       \
                 _rc_rc, tu_errname(_rc_e));                                  \
    } while (0)

/* The call must return a handle or descriptor; yields it. */
#define RC_HANDLE(var, expr)                                                  \
    do {                                                                      \
        errno = 0;                                                            \
        (var) = (expr);                                                       \
        int _rc_e = errno;                                                    \
        RC_CHECK((var) >= 0, "%s: expected a handle, got %d with %s", #expr,  \
                 (int)(var), tu_errname(_rc_e));                              \
    } while (0)

/* Open descriptors, not counting epoll instances (the library makes one,
   lazily) nor the scan's own. */
int rel_count_fds_but_epoll(void);
/* Open epoll instances. */
int rel_count_epoll_fds(void);

/* Fills the descriptor table with copies of /dev/null until the next
   descriptor would fail with EMFILE, under a soft RLIMIT_NOFILE of about
   (open descriptors + room). Returns the number of fillers, stored in
   fds[]. Needs a fresh child (it never restores the limit). */
int rel_exhaust_fds(int *fds, int max, int room);
/* Closes fillers[n - count .. n - 1]; returns n - count. */
int rel_release_fds(int *fds, int n, int count);

/* Sends one message of len bytes with the descriptors in one SCM_RIGHTS
   control message (nfds may be 0). Returns sendmsg's result. */
ssize_t rel_send_fds(int sock, const void *data, size_t len, const int *fds,
                     int nfds);

/* A pipe (O_CLOEXEC) whose write end is handed around: once every copy of
   p[1] is gone, reading p[0] gives EOF, which proves no copy leaked, not even
   one in flight in a socket. Returns 1 if p[0] reads EOF now. */
int rel_pipe_write_end_gone(int rd);

/* Seconds a stress run lasts by default here, or STRESS_SECONDS. */
double rel_env_seconds(const char *name, double dflt);

#endif
