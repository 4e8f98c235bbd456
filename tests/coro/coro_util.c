/* Helpers for the coroutine tests; see coro_tests.h. */
#include "coro_tests.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static unsigned counter;

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int ct_main(Suite *s)
{
    snprintf(dir, sizeof(dir), "/tmp/tdill-coro-test.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

TCase *ct_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, CT_TIMEOUT);
    return tc;
}

const char *ct_path(char *buf, const char *tag)
{
    snprintf(buf, CT_PATH_MAX, "%s/%s.%ld.%u", dir, tag, (long)getpid(),
             counter++);
    return buf;
}

void ct_pair(int s[2])
{
    ck_assert_msg(ipc_pair(s) == 0, "ipc_pair: %s", ct_errname(errno));
}

void ct_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint64_t ct_rand(uint64_t *state)
{
    /* xorshift64*: deterministic and good enough for test data. */
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1du;
}

void ct_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

const char *ct_errname(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case EBADF:
        return "EBADF";
    case EBUSY:
        return "EBUSY";
    case ECANCELED:
        return "ECANCELED";
    case ECONNRESET:
        return "ECONNRESET";
    case EINVAL:
        return "EINVAL";
    case ENOMEM:
        return "ENOMEM";
    case ENOTSUP:
        return "ENOTSUP";
    case EPIPE:
        return "EPIPE";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    default:
        return strerror(err);
    }
}

int ct_nofork(void)
{
    const char *f = getenv("CK_FORK");
    return f && strcmp(f, "no") == 0;
}
