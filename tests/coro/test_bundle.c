/* Bundles: bundle, bundle_mem, bundle_go, bundle_wait, hclose. */
#include "coro_tests.h"

#include <stdlib.h>

static int done, cancelled;

static coroutine void nap(int64_t deadline)
{
    int rc = msleep(deadline);
    if (rc == 0)
        done++;
    else if (errno == ECANCELED)
        cancelled++;
}

START_TEST(bundle_wait_returns_once_every_member_finished)
{
    done = 0;
    int b;
    TU_HANDLE(b, bundle());
    int64_t d = now() + 20;
    for (int i = 0; i < 10; i++)
        TU_OK(bundle_go(b, nap(d + i)));
    TU_OK(bundle_wait(b, -1));
    ck_assert_int_eq(done, 10);
    ck_assert_int_ge(now(), d + 9);
    TU_OK(hclose(b));
}
END_TEST

START_TEST(bundle_wait_on_an_empty_bundle_returns_at_once)
{
    int b;
    TU_HANDLE(b, bundle());
    TU_OK(bundle_wait(b, 0));
    TU_OK(bundle_wait(b, -1));
    TU_OK(hclose(b));
}
END_TEST

START_TEST(bundle_wait_times_out_and_leaves_the_members_running)
{
    done = cancelled = 0;
    int b;
    TU_HANDLE(b, bundle());
    for (int i = 0; i < 5; i++)
        TU_OK(bundle_go(b, nap(now() + 300)));
    int64_t t = now();
    TU_FAILS(bundle_wait(b, t + 20), ETIMEDOUT);
    ck_assert_int_ge(now() - t, 20);
    TU_FAILS(bundle_wait(b, 0), ETIMEDOUT);
    ck_assert_int_eq(done + cancelled, 0);
    TU_OK(bundle_wait(b, now() + 5000));
    ck_assert_int_eq(done, 5);
    TU_OK(hclose(b));
}
END_TEST

START_TEST(hclose_cancels_every_member_and_waits_for_them)
{
    done = cancelled = 0;
    int b;
    TU_HANDLE(b, bundle());
    for (int i = 0; i < 20; i++)
        TU_OK(bundle_go(b, nap(-1)));
    TU_OK(bundle_go(b, nap(now() + 1)));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(done, 1);
    TU_OK(hclose(b));
    ck_assert_int_eq(cancelled, 20);
    TU_FAILS(bundle_wait(b, 0), EBADF);
    TU_FAILS(bundle_go(b, nap(-1)), EBADF);
}
END_TEST

START_TEST(bundle_mem_keeps_the_bundle_in_the_callers_storage)
{
    struct bundle_storage *mem = malloc(sizeof(*mem));
    done = cancelled = 0;
    for (int round = 0; round < 3; round++) {
        int b;
        TU_HANDLE(b, bundle_mem(mem));
        TU_OK(bundle_go(b, nap(now() + 5)));
        TU_OK(bundle_go(b, nap(-1)));
        TU_OK(msleep(now() + 20));
        TU_OK(hclose(b)); /* then the storage is free for reuse */
    }
    ck_assert_int_eq(done, 3);
    ck_assert_int_eq(cancelled, 3);
    free(mem);
    TU_FAILS(bundle_mem(NULL), EINVAL);
}
END_TEST

static char *where;

static coroutine void note_stack(void)
{
    /* NB: not a local's address: ASan may keep locals elsewhere. */
    where = __builtin_frame_address(0);
    msleep(-1);
}

START_TEST(bundle_go_mem_runs_the_member_on_the_given_memory)
{
    static char stk[32768];
    int b;
    TU_HANDLE(b, bundle());
    TU_OK(bundle_go_mem(b, note_stack(), stk, sizeof(stk)));
    ck_assert(where > stk && where < stk + sizeof(stk));
    TU_FAILS(bundle_go_mem(b, note_stack(), NULL, 1000), EINVAL);
    TU_FAILS(bundle_go_mem(b, note_stack(), stk, 100), EINVAL);
    TU_OK(hclose(b));
}
END_TEST

START_TEST(go_handle_is_a_bundle_of_one)
{
    done = 0;
    int cr;
    TU_HANDLE(cr, go(nap(now() + 10)));
    TU_OK(bundle_go(cr, nap(now() + 20))); /* joins it */
    TU_FAILS(bundle_wait(cr, 0), ETIMEDOUT);
    TU_OK(bundle_wait(cr, -1));
    ck_assert_int_eq(done, 2);
    TU_OK(hclose(cr));
}
END_TEST

START_TEST(bundle_calls_on_wrong_handles_fail)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(bundle_wait(-1, 0), EBADF);
    TU_FAILS(bundle_wait(1 << 24, 0), EBADF);
    TU_FAILS(bundle_go(-1, nap(-1)), EBADF);
    TU_FAILS(bundle_wait(s[0], 0), ENOTSUP);
    TU_FAILS(bundle_go(s[0], nap(-1)), ENOTSUP);
    TU_FAILS(bundle_go_mem(s[0], nap(-1), NULL, 0), EINVAL);
    int b;
    TU_HANDLE(b, bundle());
    char c;
    TU_FAILS(bsend(b, "x", 1, 0), ENOTSUP);
    TU_FAILS(brecv(b, &c, 1, 0), ENOTSUP);
    TU_FAILS(ipc_accept(b, 0), ENOTSUP);
    TU_FAILS(ipc_close(b, 0), ENOTSUP);
    TU_OK(hclose(b));
    TU_FAILS(hclose(b), EBADF);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(finished_members_give_their_stacks_back)
{
    int b;
    TU_HANDLE(b, bundle());
    TU_OK(bundle_go(b, nap(0)));
    TU_OK(bundle_wait(b, -1));
    int maps = coro_count_maps();
    for (int i = 0; i < 2000; i++) {
        TU_OK(bundle_go(b, nap(0)));
        if (i % 100 == 0)
            TU_OK(bundle_wait(b, -1));
    }
    TU_OK(bundle_wait(b, -1));
    /* A stack cache of a few entries, nothing per coroutine. */
    if (!CORO_SANITIZED) /* they map memory of their own per fiber */
        ck_assert_int_le(coro_count_maps(), maps + 40);
    TU_OK(hclose(b));
}
END_TEST

void coro_add_bundle(Suite *s)
{
    TCase *tc = tu_tcase("bundle");
    tcase_add_test(tc, bundle_wait_returns_once_every_member_finished);
    tcase_add_test(tc, bundle_wait_on_an_empty_bundle_returns_at_once);
    tcase_add_test(tc, bundle_wait_times_out_and_leaves_the_members_running);
    tcase_add_test(tc, hclose_cancels_every_member_and_waits_for_them);
    tcase_add_test(tc, bundle_mem_keeps_the_bundle_in_the_callers_storage);
    tcase_add_test(tc, bundle_go_mem_runs_the_member_on_the_given_memory);
    tcase_add_test(tc, go_handle_is_a_bundle_of_one);
    tcase_add_test(tc, bundle_calls_on_wrong_handles_fail);
    tcase_add_test(tc, finished_members_give_their_stacks_back);
    suite_add_tcase(s, tc);
}
