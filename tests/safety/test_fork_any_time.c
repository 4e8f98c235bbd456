/*
 * fork() never waits on another thread. Forked from any thread while other
 * threads close handles, are blocked in calls or are being cancelled, or
 * (libtdill_coro) while another thread closes a coroutine or a bundle whose
 * coroutines run on the forking thread, fork returns promptly in the
 * parent, the child can use the library, and the parent works on.
 *
 * The children start no thread: ThreadSanitizer (die_after_fork=0) then
 * follows them.
 */
#include "safety.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef SF_CORO
#include <tdill_coro.h>
#endif

/* fork() in the parent, and the child's whole life, each take less. */
#define FORK_MS 2000

/* The child: the library works in it. 0, or the step that failed. */
static int child_works(void)
{
    int s[2];
    char buf[4];
    if (ipc_pair(s) != 0)
        return 1;
    if (bsend(s[0], "ping", 4, now() + 1000) != 0)
        return 2;
    if (brecv(s[1], buf, 4, now() + 1000) != 0 || memcmp(buf, "ping", 4))
        return 3;
    if (hclose(s[0]) != 0 || hclose(s[1]) != 0)
        return 4;
    return 0;
}

static void fork_in_thread_promptly(const char *what)
{
    struct sf_fork f = {.child = child_works};
    sf_fork_in_thread(&f);
    sf_fork_check(&f, FORK_MS, what);
}

/* ---- handles being closed --------------------------------------------- */

/* Holds the thread it runs in until hold_release is set: a call the thread
   is in cannot end meanwhile. */
static atomic_int hold_release;
static void hold(int sig)
{
    (void)sig;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&hold_release))
        nanosleep(&ms, NULL);
}

START_TEST(fork_while_hclose_waits_for_a_thread_in_a_call_returns_promptly)
{
    tu_warm_up();
    struct sigaction sa = {.sa_handler = hold};
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    atomic_store(&hold_release, 0);
    int s[2];
    tu_pair(s);
    char c;
    struct tu_op rx = {.kind = TU_BRECV, .h = s[0], .buf = &c, .len = 1,
                       .deadline = -1};
    tu_op_start_blocked(&rx);
    /* The thread in brecv is held in a signal handler: hclose waits. */
    ck_assert_int_eq(pthread_kill(rx.th, SIGUSR1), 0);
    tu_wait_sleeping(rx.tid);
    struct tu_op cl = {.kind = TU_HCLOSE, .h = s[0]};
    tu_op_start_blocked(&cl);
    ck_assert_msg(!tu_op_done(&cl), "hclose did not wait for brecv");
    fork_in_thread_promptly("fork while hclose waits");
    atomic_store(&hold_release, 1);
    tu_op_join(&cl);
    TU_OP_OK(&cl);
    tu_op_join(&rx);
    TU_OP_FAILED(&rx, ECANCELED);
    sf_hclose_promptly(s[1]);
}
END_TEST

START_TEST(fork_while_other_threads_close_handles_in_use_returns_promptly)
{
    tu_warm_up();
    for (int i = 0; i < 20; i++) {
        int s[2];
        tu_pair(s);
        char c;
        struct tu_op rx = {.kind = TU_BRECV, .h = s[0], .buf = &c, .len = 1,
                           .deadline = -1};
        struct tu_op cl = {.kind = TU_HCLOSE, .h = s[0]};
        struct sf_fork f = {.child = child_works};
        tu_op_start_blocked(&rx);
        /* The fork lands before, during or after the close. */
        if (i % 2)
            tu_op_start(&cl);
        sf_fork_in_thread(&f);
        if (i % 2 == 0)
            tu_op_start(&cl);
        sf_fork_check(&f, FORK_MS, "fork while a thread closes a handle");
        tu_op_join(&cl);
        TU_OP_OK(&cl);
        tu_op_join(&rx);
        TU_OP_FAILED(&rx, ECANCELED);
        sf_hclose_promptly(s[1]);
    }
}
END_TEST

/* ---- threads blocked, or being cancelled ------------------------------ */

START_TEST(fork_while_threads_are_blocked_in_brecv_and_accept_returns_promptly)
{
    tu_warm_up();
    int s[2], ls, c;
    tu_pair(s);
    char path[TU_PATH_MAX], buf[4];
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op rx = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = -1};
    struct tu_op acc = {.kind = TU_ACCEPT, .h = ls, .deadline = -1};
    tu_op_start_blocked(&rx);
    tu_op_start_blocked(&acc);
    fork_in_thread_promptly("fork while threads are blocked");
    /* The parent's blocked calls are woken as usual. */
    ck_assert(!tu_op_done(&rx) && !tu_op_done(&acc));
    TU_OK(bsend(s[1], "wake", 4, -1));
    TU_HANDLE(c, ipc_connect(path, now() + 1000));
    tu_op_join(&rx);
    TU_OP_OK(&rx);
    ck_assert_mem_eq(buf, "wake", 4);
    tu_op_join(&acc);
    TU_OP_OK(&acc);
    sf_hclose_promptly(acc.rc);
    sf_hclose_promptly(c);
    sf_hclose_promptly(ls);
    sf_hclose_promptly(s[0]);
    sf_hclose_promptly(s[1]);
}
END_TEST

START_TEST(fork_while_a_blocked_brecv_is_being_cancelled_returns_promptly)
{
    tu_warm_up();
    for (int i = 0; i < 20; i++) {
        int s[2];
        tu_pair(s);
        char buf[4];
        struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                           .deadline = -1};
        struct sf_thread t;
        struct sf_fork f = {.child = child_works};
        sf_start_blocked(&t, SF_PLAIN, &op);
        /* The fork lands before, during or after the cancellation. */
        if (i % 2)
            pthread_cancel(t.th);
        sf_fork_in_thread(&f);
        if (i % 2 == 0) {
            if (i % 4)
                sched_yield();
            pthread_cancel(t.th);
        }
        sf_fork_check(&f, FORK_MS, "fork while a thread is cancelled");
        sf_join_cancelled_in_call(&t, "brecv");
        sf_hclose_promptly(s[0]);
        sf_hclose_promptly(s[1]);
    }
}
END_TEST

/* ---- coroutines and bundles being closed ------------------------------ */

#ifdef SF_CORO
/* Runs until cancelled. */
static coroutine void looper(void)
{
    while (msleep(now() + 10) == 0) {
    }
}

struct corofork {
    int use_bundle;     /* close a bundle rather than a go() handle */
    atomic_int h;       /* the coroutine's (or bundle's) handle, once made */
    atomic_int go_fork; /* thread A is to fork now */
    atomic_int closed;  /* thread B's hclose has returned */
    struct sf_fork f;
};

/* Thread A: starts the coroutine, forks when told, then runs its
   coroutines (only a thread inside a tdill call does) until the close
   ends. */
static void *thread_a(void *arg)
{
    struct corofork *cf = arg;
    int h;
    if (cf->use_bundle) {
        h = bundle();
        if (h >= 0 && bundle_go(h, looper()) != 0)
            h = -1;
    } else {
        h = go(looper());
    }
    atomic_store(&cf->h, h);
    if (h < 0)
        return NULL;
    while (!atomic_load(&cf->go_fork))
        tu_sleep_ms(1);
    sf_fork_now(&cf->f);
    while (!atomic_load(&cf->closed))
        msleep(now() + 1);
    return NULL;
}

static void fork_while_closing_a_coroutine(int use_bundle, const char *what)
{
    struct corofork cf = {.use_bundle = use_bundle,
                          .f = {.child = child_works}};
    atomic_store(&cf.h, -2);
    pthread_t a;
    ck_assert_int_eq(pthread_create(&a, NULL, thread_a, &cf), 0);
    while (atomic_load(&cf.h) == -2)
        tu_sleep_ms(1);
    ck_assert_int_ge(atomic_load(&cf.h), 0);
    /* Thread B closes it, and waits: only thread A can run it to its end,
       and thread A is not in the library. */
    struct tu_op b = {.kind = TU_HCLOSE, .h = atomic_load(&cf.h)};
    tu_op_start_blocked(&b);
    ck_assert_msg(!tu_op_done(&b), "hclose did not wait for the coroutine");
    atomic_store(&cf.go_fork, 1);
    sf_fork_check(&cf.f, FORK_MS, what);
    /* Back in the library, thread A runs the coroutine to its end. */
    int ms = SF_HANG_MS * tu_slowness();
    int64_t end = tu_mono_ms() + ms;
    while (!tu_op_done(&b) && tu_mono_ms() < end)
        tu_sleep_ms(1);
    ck_assert_msg(tu_op_done(&b), "%s: hclose has not returned %d ms after "
                  "the fork", what, ms);
    tu_op_join(&b);
    TU_OP_OK(&b);
    atomic_store(&cf.closed, 1);
    ck_assert_int_eq(pthread_join(a, NULL), 0);
}

START_TEST(fork_on_a_thread_whose_coroutine_another_thread_closes_returns_promptly)
{
    fork_while_closing_a_coroutine(0, "fork while a coroutine is closed");
}
END_TEST

START_TEST(fork_on_a_thread_whose_bundle_another_thread_closes_returns_promptly)
{
    fork_while_closing_a_coroutine(1, "fork while a bundle is closed");
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("fork_any_time");
    TCase *tc = tu_tcase("closing");
    tcase_add_test(tc,
                   fork_while_hclose_waits_for_a_thread_in_a_call_returns_promptly);
    tcase_add_test(tc,
                   fork_while_other_threads_close_handles_in_use_returns_promptly);
    suite_add_tcase(s, tc);
    tc = tu_tcase("blocked");
    tcase_add_test(
        tc, fork_while_threads_are_blocked_in_brecv_and_accept_returns_promptly);
    tcase_add_test(tc,
                   fork_while_a_blocked_brecv_is_being_cancelled_returns_promptly);
    suite_add_tcase(s, tc);
#ifdef SF_CORO
    tc = tu_tcase("coroutines");
    tcase_add_test(
        tc,
        fork_on_a_thread_whose_coroutine_another_thread_closes_returns_promptly);
    tcase_add_test(
        tc,
        fork_on_a_thread_whose_bundle_another_thread_closes_returns_promptly);
    suite_add_tcase(s, tc);
#endif
    return tu_main(s);
}
