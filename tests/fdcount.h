/*
 * Counting this process's open descriptors, for the Check suites
 * (tests/util.c), the reliability tests (tests/reliability/rel.c) and the
 * API fuzzer (fuzz/fuzz_api.c). Plain C with no test framework, so that the
 * fuzzer, which is built without Check, can use the same scan.
 */
#ifndef TDILL_TESTS_FDCOUNT_H
#define TDILL_TESTS_FDCOUNT_H

/* Decides whether descriptor fd counts; target is what /proc/self/fd/<fd>
   links to ("socket:[123]", "/dev/null", "anon_inode:[eventpoll]"). */
typedef int fdcount_keep_fn(int fd, const char *target, void *arg);

/* Calls keep for every open descriptor but the one the scan itself uses and
   returns how many it kept (every one when keep is NULL), or -1 when
   /proc/self/fd cannot be read. */
int fdcount(fdcount_keep_fn *keep, void *arg);

/* 1 if target is an epoll instance (the library makes one, lazily, and
   keeps it for the life of the process). */
int fdcount_is_epoll(const char *target);

#endif
