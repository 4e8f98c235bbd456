/* go, yield, msleep, stacks: the basics of the coroutine front-end. */
#include "coro_tests.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

long coro_rss(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &pages, &rss), 2);
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

int coro_count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/******************************************************************************/
/*  go                                                                        */
/******************************************************************************/

static int step;

static coroutine void stepper(void)
{
    step = 1;
    yield();
    step = 2;
}

START_TEST(go_runs_the_coroutine_at_once_until_it_yields)
{
    step = 0;
    int cr;
    TU_HANDLE(cr, go(stepper()));
    ck_assert_int_eq(step, 1);
    TU_OK(yield());
    ck_assert_int_eq(step, 2);
    TU_OK(hclose(cr));
}
END_TEST

static coroutine void nothing(void)
{
}

START_TEST(coroutine_that_returns_at_once_closes_cleanly)
{
    int cr;
    TU_HANDLE(cr, go(nothing()));
    TU_OK(bundle_wait(cr, 0));
    TU_OK(hclose(cr));
    TU_FAILS(hclose(cr), EBADF);
    TU_FAILS(bundle_wait(cr, 0), EBADF);
}
END_TEST

START_TEST(arguments_come_from_the_callers_locals_optimised)
{
    ck_assert_int_eq(go_args_check(), 0);
}
END_TEST

START_TEST(arguments_come_from_the_callers_locals_at_O0)
{
    ck_assert_int_eq(go_args_check_O0(), 0);
}
END_TEST

#if defined(__GNUC__) && !defined(__clang__)
static coroutine void set_later(int *p)
{
    msleep(-1);
    *p = 42;
}

START_TEST(caller_sees_what_coroutine_writes_to_its_locals_later)
{
    /* NB: with GCC, `coroutine` makes this work for a plain local. */
    int value = 0;
    int cr;
    TU_HANDLE(cr, go(set_later(&value)));
    ck_assert_int_eq(value, 0);
    TU_OK(hclose(cr));
    ck_assert_int_eq(value, 42);
}
END_TEST
#endif

static int spawned;

static coroutine void spawn_many(int n)
{
    /* NB: go() in a loop must not eat the coroutine's own stack. */
    for (int i = 0; i < n; i++) {
        int h = go(nothing());
        if (h < 0 || hclose(h) != 0)
            return;
        spawned++;
    }
}

START_TEST(go_in_a_loop_does_not_grow_the_callers_stack)
{
    /* 16 bytes a go() would overflow 256 KiB after 16384 of them. */
    int n = CORO_SANITIZED ? 2000 : 20000;
    spawned = 0;
    int cr;
    TU_HANDLE(cr, go(spawn_many(n)));
    TU_OK(bundle_wait(cr, -1));
    TU_OK(hclose(cr));
    ck_assert_int_eq(spawned, n);
}
END_TEST

/******************************************************************************/
/*  go_mem and stacks                                                         */
/******************************************************************************/

static char *where;

/* Blocks once on the thread's scheduler, then finishes. */
static coroutine void sleep_a_little(void)
{
    msleep(now() + 2);
}

static coroutine void note_stack(void)
{
    /* NB: not a local's address: ASan may keep locals elsewhere. */
    where = __builtin_frame_address(0);
    msleep(-1);
}

START_TEST(go_mem_runs_on_the_given_memory)
{
    size_t len = 64 * 1024;
    char *mem = malloc(len);
    int cr;
    TU_HANDLE(cr, go_mem(note_stack(), mem, len));
    ck_assert(where > mem && where < mem + len);
    TU_OK(hclose(cr));
    /* The memory is the caller's again. */
    memset(mem, 0, len);
    free(mem);
}
END_TEST

/* libdill accepts any block that holds its records; its tests/bundle.c
   runs a coroutine on 4096 bytes. */
START_TEST(go_mem_and_bundle_go_mem_run_on_a_4096_byte_stack)
{
    static char stk[4096];
    int cr;
    TU_HANDLE(cr, go_mem(note_stack(), stk, sizeof(stk)));
    ck_assert(where > stk && where < stk + sizeof(stk));
    TU_OK(hclose(cr));
    int b;
    TU_HANDLE(b, bundle());
    TU_OK(bundle_go_mem(b, sleep_a_little(), stk, sizeof(stk)));
    TU_OK(bundle_wait(b, now() + 5000));
    TU_OK(hclose(b));
}
END_TEST

START_TEST(go_mem_with_bad_memory_fails_with_einval)
{
    static char small[256];
    TU_FAILS(go_mem(nothing(), NULL, 65536), EINVAL);
    TU_FAILS(go_mem(nothing(), small, sizeof(small)), EINVAL);
    TU_FAILS(go_mem(nothing(), small, 0), EINVAL);
}
END_TEST

static coroutine void blocked_forever(void)
{
    msleep(-1);
}

START_TEST(idle_coroutines_touch_little_of_their_stacks)
{
    if (CORO_SANITIZED)
        return; /* the sanitizers' own memory use dwarfs ours */
    enum { N = 2000 };
    static int hs[N];
    long before = coro_rss();
    for (int i = 0; i < N; i++)
        TU_HANDLE(hs[i], go(blocked_forever()));
    long grown = coro_rss() - before;
    /* 256 KiB each would be 500 MiB; a few pages each is what is used. */
    ck_assert_msg(grown < (long)N * 32 * 1024, "RSS grew by %ld KiB",
                  grown / 1024);
    for (int i = 0; i < N; i++)
        TU_OK(hclose(hs[i]));
}
END_TEST

static coroutine void recurse(int depth)
{
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (depth < 1000000) /* far beyond 256 KiB */
        recurse(depth + 1);
    pad[1] = pad[0];
}

START_TEST(stack_overflow_hits_the_guard_page)
{
    int cr = go(recurse(0));
    (void)cr;
}
END_TEST

START_TEST(finished_coroutines_give_their_stacks_back)
{
    int cr;
    TU_HANDLE(cr, go(nothing()));
    TU_OK(hclose(cr));
    int maps = coro_count_maps();
    for (int i = 0; i < 2000; i++) {
        TU_HANDLE(cr, go(nothing()));
        TU_OK(hclose(cr));
    }
    if (!CORO_SANITIZED) /* they map memory of their own per fiber */
        ck_assert_int_le(coro_count_maps(), maps + 4);
}
END_TEST

/******************************************************************************/
/*  yield and msleep                                                          */
/******************************************************************************/

static char trace[64];
static int ntrace;

static coroutine void tracer(char c, int n)
{
    for (int i = 0; i < n; i++) {
        trace[ntrace++] = c;
        yield();
    }
}

START_TEST(yield_lets_the_other_coroutines_run_in_turn)
{
    ntrace = 0;
    memset(trace, 0, sizeof(trace));
    int a, b;
    TU_HANDLE(a, go(tracer('a', 3)));
    TU_HANDLE(b, go(tracer('b', 3)));
    TU_OK(bundle_wait(a, -1));
    TU_OK(bundle_wait(b, -1));
    ck_assert_str_eq(trace, "ababab");
    TU_OK(hclose(a));
    TU_OK(hclose(b));
}
END_TEST

START_TEST(yield_and_msleep_work_in_a_thread_without_coroutines)
{
    TU_OK(yield());
    TU_OK(msleep(0));
    int64_t t = now();
    TU_OK(msleep(t + 20));
    ck_assert_int_ge(now() - t, 20);
}
END_TEST

START_TEST(msleep_returns_at_its_deadline_not_before)
{
    for (int i = 0; i < 5; i++) {
        int64_t t = now();
        TU_OK(msleep(t + 30));
        int64_t took = now() - t;
        ck_assert_int_ge(took, 30);
        ck_assert_int_le(took, 30 + 200); /* a loaded machine is slow */
    }
}
END_TEST

START_TEST(msleep_in_the_past_returns_at_once)
{
    int64_t t = now();
    TU_OK(msleep(t - 1000));
    TU_OK(msleep(1));
    TU_OK(msleep(0));
    ck_assert_int_le(now() - t, 20);
}
END_TEST

static int64_t woke[100], base;
static int nwoke, gate;

static coroutine void sleep_until(int64_t offset)
{
    /* NB: all start before the first deadline, however slow the build. */
    while (!gate)
        yield();
    if (msleep(base + offset) == 0)
        woke[nwoke++] = base + offset;
}

START_TEST(sleepers_wake_in_deadline_order)
{
    int b;
    TU_HANDLE(b, bundle());
    nwoke = gate = 0;
    uint64_t st = 7;
    for (int i = 0; i < 100; i++)
        TU_OK(bundle_go(b, sleep_until((int64_t)(tu_rand(&st) % 50))));
    base = now() + 10;
    gate = 1;
    TU_OK(bundle_wait(b, -1));
    ck_assert_int_eq(nwoke, 100);
    for (int i = 1; i < 100; i++)
        ck_assert_int_le(woke[i - 1], woke[i]);
    TU_OK(hclose(b));
}
END_TEST

/******************************************************************************/
/*  Blocking calls park only the coroutine                                    */
/******************************************************************************/

static int got_rc, got_err;
static char got[8];

static coroutine void receive4(int s)
{
    got_rc = brecv(s, got, 4, -1);
    got_err = errno;
}

static coroutine void send4_later(int s, const char *what)
{
    msleep(now() + 20);
    bsend(s, what, 4, -1);
}

START_TEST(coroutine_blocked_in_brecv_lets_the_others_run)
{
    int s[2];
    tu_pair(s);
    memset(got, 0, sizeof(got));
    got_rc = -2;
    int r, w;
    TU_HANDLE(r, go(receive4(s[1])));
    TU_HANDLE(w, go(send4_later(s[0], "ping")));
    ck_assert_int_eq(got_rc, -2);
    TU_OK(bundle_wait(r, now() + 5000));
    ck_assert_int_eq(got_rc, 0);
    ck_assert_str_eq(got, "ping");
    TU_OK(hclose(r));
    TU_OK(hclose(w));
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(thread_blocked_in_brecv_runs_its_coroutines)
{
    int s[2];
    tu_pair(s);
    int w;
    TU_HANDLE(w, go(send4_later(s[0], "pong")));
    char buf[5] = {0};
    TU_OK(brecv(s[1], buf, 4, now() + 5000));
    ck_assert_str_eq(buf, "pong");
    TU_OK(hclose(w));
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static int pings;

static coroutine void ponger(int s, int n)
{
    char c;
    for (int i = 0; i < n; i++) {
        if (brecv(s, &c, 1, -1) || bsend(s, &c, 1, -1))
            return;
        pings++;
    }
}

START_TEST(two_coroutines_ping_pong_on_one_thread)
{
    int s[2];
    tu_pair(s);
    pings = 0;
    int a, b;
    TU_HANDLE(a, go(ponger(s[0], 2000)));
    TU_HANDLE(b, go(ponger(s[1], 2000)));
    char c = 'x';
    TU_OK(bsend(s[1], &c, 1, -1)); /* from the thread: starts the rally */
    TU_OK(bundle_wait(a, now() + 10000));
    ck_assert_int_ge(pings, 2000);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static int64_t took;

static coroutine void receive4_within(int s, int64_t ms)
{
    int64_t t = now();
    got_rc = brecv(s, got, 4, t + ms);
    got_err = errno;
    took = now() - t;
}

START_TEST(socket_deadline_inside_a_coroutine_is_kept)
{
    int s[2];
    tu_pair(s);
    got_rc = -2;
    int cr;
    TU_HANDLE(cr, go(receive4_within(s[1], 30)));
    TU_OK(bundle_wait(cr, -1));
    ck_assert_int_eq(got_rc, -1);
    ck_assert_int_eq(got_err, ETIMEDOUT);
    ck_assert_int_ge(took, 30);
    ck_assert_int_le(took, 30 + 200);
    TU_OK(hclose(cr));
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static int many_done;

static coroutine void nap(int64_t until)
{
    if (msleep(until) == 0)
        many_done++;
}

START_TEST(thousands_of_coroutines_at_once)
{
    const int N = CORO_SANITIZED ? 1000 : 5000;
    int b;
    TU_HANDLE(b, bundle());
    many_done = 0;
    int64_t until = now() + 100;
    for (int i = 0; i < N; i++)
        TU_OK(bundle_go(b, nap(until + i % 7)));
    TU_OK(bundle_wait(b, now() + 10000));
    ck_assert_int_eq(many_done, N);
    ck_assert_int_ge(now(), until);
    TU_OK(hclose(b));
}
END_TEST

START_TEST(plain_names_can_be_turned_off)
{
    ck_assert_int_eq(coro_raw_names_off_check(), 0);
}
END_TEST

void coro_add_basic(Suite *s)
{
    TCase *tc = tu_tcase("go");
    tcase_add_test(tc, go_runs_the_coroutine_at_once_until_it_yields);
    tcase_add_test(tc, coroutine_that_returns_at_once_closes_cleanly);
    tcase_add_test(tc, arguments_come_from_the_callers_locals_optimised);
    tcase_add_test(tc, arguments_come_from_the_callers_locals_at_O0);
#if defined(__GNUC__) && !defined(__clang__)
    tcase_add_test(tc, caller_sees_what_coroutine_writes_to_its_locals_later);
#endif
    tcase_add_test(tc, go_in_a_loop_does_not_grow_the_callers_stack);
    tcase_add_test(tc, plain_names_can_be_turned_off);
    suite_add_tcase(s, tc);

    tc = tu_tcase("stacks");
    tcase_add_test(tc, go_mem_runs_on_the_given_memory);
    tcase_add_test(tc, go_mem_and_bundle_go_mem_run_on_a_4096_byte_stack);
    tcase_add_test(tc, go_mem_with_bad_memory_fails_with_einval);
    tcase_add_test(tc, idle_coroutines_touch_little_of_their_stacks);
    tcase_add_test(tc, finished_coroutines_give_their_stacks_back);
    /* ASan reports an overflow itself and exits instead of dying of it;
       without fork the signal would end the whole program. */
    if (!CORO_SANITIZED && !ct_nofork())
        tcase_add_test_raise_signal(tc, stack_overflow_hits_the_guard_page,
                                    SIGSEGV);
    suite_add_tcase(s, tc);

    tc = tu_tcase("yield_msleep");
    tcase_add_test(tc, yield_lets_the_other_coroutines_run_in_turn);
    tcase_add_test(tc, yield_and_msleep_work_in_a_thread_without_coroutines);
    tcase_add_test(tc, msleep_returns_at_its_deadline_not_before);
    tcase_add_test(tc, msleep_in_the_past_returns_at_once);
    tcase_add_test(tc, sleepers_wake_in_deadline_order);
    suite_add_tcase(s, tc);

    tc = tu_tcase("blocking");
    tcase_add_test(tc, coroutine_blocked_in_brecv_lets_the_others_run);
    tcase_add_test(tc, thread_blocked_in_brecv_runs_its_coroutines);
    tcase_add_test(tc, two_coroutines_ping_pong_on_one_thread);
    tcase_add_test(tc, socket_deadline_inside_a_coroutine_is_kept);
    tcase_add_test(tc, thousands_of_coroutines_at_once);
    suite_add_tcase(s, tc);
}

int main(void)
{
    Suite *s = suite_create("coro");
    coro_add_basic(s);
    coro_add_cancel(s);
    coro_add_bundle(s);
    coro_add_threads(s);
    coro_add_chan(s);
    return tu_main(s);
}
