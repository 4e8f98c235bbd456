/*
 * exit() while threads are blocked in the library (and, with
 * libtdill_coro, while a coroutine sleeps) ends the process promptly; and
 * the library works with descriptors 0-2 closed, its own descriptors
 * landing there, without ever writing to them.
 *
 * Each test runs in a child made by fork() from a process that has not
 * started the library's threads (ThreadSanitizer follows such children).
 */
#include "safety.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef SF_CORO
#include <tdill_coro.h>
#endif

/* exit() must end the process within this, in ms (scaled). */
#define EXIT_MS 2000

#define CHILD_CHECK(cond, code)                                               \
    do {                                                                      \
        if (!(cond))                                                          \
            _exit(code);                                                      \
    } while (0)

/* ---- exit ------------------------------------------------------------- */

#ifdef SF_CORO
static coroutine void sleeper(void)
{
    msleep(-1);
}

/* A thread whose coroutine sleeps, the thread waiting for it. */
static void *coro_thread(void *arg)
{
    (void)arg;
    int cr = go(sleeper());
    if (cr >= 0)
        bundle_wait(cr, -1);
    return NULL;
}
#endif

/* In the child: five threads blocked in brecv and ipc_accept (and one in a
   coroutine's msleep), then exit(0) while they are. */
static void exit_while_blocked(int ready)
{
    static int s[3][2];
    static char buf[3][4];
    static struct tu_op op[5];
    char path[TU_PATH_MAX];
    int ls = ipc_listen(tu_path(path, "ls"), 8);
    CHILD_CHECK(ls >= 0, 2);
    for (int i = 0; i < 3; i++) {
        CHILD_CHECK(ipc_pair(s[i]) == 0, 3);
        op[i] = (struct tu_op){.kind = TU_BRECV, .h = s[i][0],
                               .buf = buf[i], .len = 4, .deadline = -1};
    }
    op[3] = op[4] = (struct tu_op){.kind = TU_ACCEPT, .h = ls,
                                   .deadline = -1};
    for (int i = 0; i < 5; i++)
        tu_op_start_blocked(&op[i]);
#ifdef SF_CORO
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, coro_thread, NULL) == 0, 4);
    tu_sleep_ms(50 * tu_slowness());
#endif
    for (int i = 0; i < 5; i++)
        CHILD_CHECK(!tu_op_done(&op[i]), 5);
    CHILD_CHECK(write(ready, "r", 1) == 1, 6);
    exit(0);
}

START_TEST(exit_while_threads_are_blocked_in_the_library_is_prompt)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        tu_child_alarm(30 * tu_slowness());
        exit_while_blocked(p[1]);
        _exit(99); /* not reached */
    }
    close(p[1]);
    /* Its setup may take a while; exit() is timed from its signal. */
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    ck_assert_msg(poll(&pf, 1, SF_HANG_MS * tu_slowness()) == 1,
                  "the child did not get ready");
    char c;
    int ready = read(p[0], &c, 1) == 1;
    close(p[0]);
    int64_t t0 = tu_mono_ms();
    int code = sf_reap(pid, EXIT_MS);
    ck_assert_msg(ready, "the child failed in its setup: %d", code);
    ck_assert_msg(code == 0, "exit(0) with threads blocked: the child ended "
                  "with %s %d", code >= 1000 ? "signal" : "exit code",
                  code >= 1000 ? code - 1000 : code);
    ck_assert_int_le(tu_mono_ms() - t0, EXIT_MS * tu_slowness());
}
END_TEST

/* ---- closed standard descriptors -------------------------------------- */

/* Whatever is open among descriptors 0-2 is the library's: a socket, or
   its epoll instance (or another anonymous inode). */
static int low_fds_are_the_librarys(void)
{
    for (int fd = 0; fd < 3; fd++) {
        char link[64], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            continue;
        target[n] = 0;
        if (strncmp(target, "socket:", 7) != 0 &&
            strncmp(target, "anon_inode:", 11) != 0)
            return 0;
    }
    return 1;
}

/* brecv on h finds nothing more to read: nobody wrote stray bytes. */
static int quiet(int h)
{
    errno = 0;
    return brecv(h, NULL, 1, now() + 50) == -1 && errno == ETIMEDOUT;
}

/* In the child, with 0-2 closed: 0 or the step that failed. */
static int use_with_stdio_closed(void)
{
    /* The pair lands on 0 and 1; the first wait starts the I/O threads. */
    int s[2];
    char buf[4];
    CHILD_CHECK(ipc_pair(s) == 0, 10);
    struct tu_op rx = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 5000};
    tu_op_start_blocked(&rx);
    CHILD_CHECK(bsend(s[1], "abcd", 4, -1) == 0, 11);
    tu_op_join(&rx);
    CHILD_CHECK(rx.rc == 0 && memcmp(buf, "abcd", 4) == 0, 12);
    CHILD_CHECK(low_fds_are_the_librarys(), 13);
    /* A connection made and accepted across threads. */
    char path[TU_PATH_MAX];
    int ls = ipc_listen(tu_path(path, "ls"), 8);
    CHILD_CHECK(ls >= 0, 14);
    struct tu_op acc = {.kind = TU_ACCEPT, .h = ls, .deadline = now() + 5000};
    tu_op_start_blocked(&acc);
    int c = ipc_connect(path, now() + 5000);
    CHILD_CHECK(c >= 0, 15);
    tu_op_join(&acc);
    CHILD_CHECK(acc.rc >= 0, 16);
    CHILD_CHECK(bsend(c, "wxyz", 4, now() + 5000) == 0, 17);
    CHILD_CHECK(brecv(acc.rc, buf, 4, now() + 5000) == 0, 18);
    CHILD_CHECK(memcmp(buf, "wxyz", 4) == 0, 19);
    CHILD_CHECK(low_fds_are_the_librarys(), 20);
    /* Nothing else reached any of them, some of which sit on 0-2. */
    CHILD_CHECK(quiet(s[0]) && quiet(s[1]) && quiet(c) && quiet(acc.rc), 21);
    CHILD_CHECK(hclose(s[0]) == 0 && hclose(s[1]) == 0, 22);
    CHILD_CHECK(hclose(c) == 0 && hclose(acc.rc) == 0, 23);
    CHILD_CHECK(hclose(ls) == 0, 24);
    CHILD_CHECK(low_fds_are_the_librarys(), 25);
    return 0;
}

START_TEST(library_works_with_descriptors_0_to_2_closed_and_never_writes_there)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tu_child_alarm(30 * tu_slowness());
        close(0);
        close(1);
        close(2);
        exit(use_with_stdio_closed());
    }
    int code = sf_reap(pid, SF_HANG_MS * 2);
    ck_assert_msg(code == 0, "with 0-2 closed, the child ended with %s %d",
                  code >= 1000 ? "signal" : "exit code (the failed step)",
                  code >= 1000 ? code - 1000 : code);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exit_stdio");
    TCase *tc = tu_tcase("exit");
    tcase_add_test(tc, exit_while_threads_are_blocked_in_the_library_is_prompt);
    suite_add_tcase(s, tc);
    tc = tu_tcase("stdio");
    tcase_add_test(
        tc, library_works_with_descriptors_0_to_2_closed_and_never_writes_there);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
