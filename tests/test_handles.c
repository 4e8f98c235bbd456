/* Handles: hclose, EBADF, stale handles, ENOTSUP, now(), names. The
   exported symbols are checked by abi/exports.sh. */
#include "raw_names_off.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A listener on a fresh path. */
static int make_listener(void)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    return ls;
}

/* Every call that takes a handle must answer EBADF for h. */
static void assert_all_calls_ebadf(int h)
{
    char buf[4] = "abc";
    struct iolist l = {buf, 3, NULL, 0};
    struct ipc_storage mem;
    pid_t pid;
    TU_FAILS(bsend(h, buf, 3, -1), EBADF);
    TU_FAILS(brecv(h, buf, 3, -1), EBADF);
    TU_FAILS(bsendl(h, &l, &l, -1), EBADF);
    TU_FAILS(brecvl(h, &l, &l, -1), EBADF);
    TU_FAILS(ipc_done(h, -1), EBADF);
    TU_FAILS(ipc_sendfd(h, 0, -1), EBADF);
    TU_FAILS(ipc_recvfd(h, -1), EBADF);
    TU_FAILS(ipc_peercred(h, &pid, NULL, NULL), EBADF);
    TU_FAILS(ipc_accept(h, -1), EBADF);
    TU_FAILS(ipc_accept_mem(h, &mem, -1), EBADF);
    TU_FAILS(ipc_close(h, -1), EBADF);
    TU_FAILS(hclose(h), EBADF);
}

START_TEST(hclose_of_negative_handle_fails_with_ebadf)
{
    TU_FAILS(hclose(-1), EBADF);
    TU_FAILS(hclose(-2), EBADF);
    TU_FAILS(hclose(INT_MIN), EBADF);
    assert_all_calls_ebadf(-1);
    assert_all_calls_ebadf(INT_MIN);
}
END_TEST

START_TEST(calls_on_never_issued_handles_fail_with_ebadf)
{
    int s[2];
    tu_pair(s); /* the table exists */
    assert_all_calls_ebadf(INT_MAX);
    assert_all_calls_ebadf(1 << 20);
    assert_all_calls_ebadf(s[0] + 1000);
    assert_all_calls_ebadf(s[1] + 0x100000);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hclose_twice_fails_with_ebadf)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[0]));
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
    TU_FAILS(hclose(s[1]), EBADF);
}
END_TEST

START_TEST(every_call_on_a_closed_connection_fails_with_ebadf)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[0]));
    assert_all_calls_ebadf(s[0]);
    TU_OK(hclose(s[1]));
    assert_all_calls_ebadf(s[1]);
}
END_TEST

START_TEST(every_call_on_a_closed_listener_fails_with_ebadf)
{
    int ls = make_listener();
    TU_OK(hclose(ls));
    assert_all_calls_ebadf(ls);
}
END_TEST

START_TEST(ebadf_is_checked_before_arguments)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[0]));
    struct iolist l = {NULL, 0, NULL, 1};
    TU_FAILS(bsend(s[0], NULL, 5, -1), EBADF);
    TU_FAILS(bsendl(s[0], NULL, NULL, -1), EBADF);
    TU_FAILS(brecvl(s[0], &l, NULL, -1), EBADF);
    TU_FAILS(ipc_sendfd(s[0], -1, -1), EBADF);
    TU_FAILS(ipc_accept_mem(s[0], NULL, -1), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(stale_handle_keeps_failing_with_ebadf_after_new_handles)
{
    int s[2];
    tu_pair(s);
    int stale = s[0];
    TU_OK(hclose(stale));
    /* Keep some handles open while many are created and closed, so a
       table that reuses the lowest free slot would have to hand `stale`
       out again. */
    int keep[64];
    for (int i = 0; i < 64; i += 2)
        tu_pair(&keep[i]);
    int reissued = 0, bad_answers = 0;
    for (int i = 0; i < 2500; i++) {
        int p[2];
        tu_pair(p);
        if (p[0] == stale || p[1] == stale)
            reissued++;
        errno = 0;
        if (bsend(stale, "x", 1, 0) != -1 || errno != EBADF)
            bad_answers++;
        TU_OK(hclose(p[0]));
        TU_OK(hclose(p[1]));
    }
    ck_assert_int_eq(reissued, 0);
    ck_assert_int_eq(bad_answers, 0);
    assert_all_calls_ebadf(stale);
    /* The stale copy disturbed none of the live handles. */
    for (int i = 0; i < 64; i += 2) {
        char c;
        TU_OK(bsend(keep[i], "k", 1, -1));
        TU_OK(brecv(keep[i + 1], &c, 1, -1));
        ck_assert_int_eq(c, 'k');
        TU_OK(hclose(keep[i]));
        TU_OK(hclose(keep[i + 1]));
    }
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hclose_with_stale_handle_leaves_new_handles_alone)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
    int p[2];
    tu_pair(p);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_FAILS(hclose(s[1]), EBADF);
    char c;
    TU_OK(bsend(p[0], "z", 1, -1));
    TU_OK(brecv(p[1], &c, 1, -1));
    ck_assert_int_eq(c, 'z');
    TU_OK(hclose(p[0]));
    TU_OK(hclose(p[1]));
}
END_TEST

START_TEST(handles_are_non_negative_and_distinct)
{
    int h[40];
    for (int i = 0; i < 40; i += 2)
        tu_pair(&h[i]);
    for (int i = 0; i < 40; i++) {
        ck_assert_int_ge(h[i], 0);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(h[i], h[j]);
    }
    for (int i = 0; i < 40; i++)
        TU_OK(hclose(h[i]));
}
END_TEST

START_TEST(bytestream_calls_on_a_listener_fail_with_enotsup)
{
    int ls = make_listener();
    char buf[4] = "abc";
    struct iolist l = {buf, 3, NULL, 0};
    TU_FAILS(bsend(ls, buf, 3, -1), ENOTSUP);
    TU_FAILS(brecv(ls, buf, 3, 0), ENOTSUP);
    TU_FAILS(bsendl(ls, &l, &l, -1), ENOTSUP);
    TU_FAILS(brecvl(ls, &l, &l, 0), ENOTSUP);
    TU_FAILS(ipc_done(ls, -1), ENOTSUP);
    TU_FAILS(ipc_sendfd(ls, 0, -1), ENOTSUP);
    TU_FAILS(ipc_recvfd(ls, 0), ENOTSUP);
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(ipc_accept_on_a_connection_fails_with_enotsup)
{
    int s[2];
    tu_pair(s);
    struct ipc_storage mem;
    TU_FAILS(ipc_accept(s[0], 0), ENOTSUP);
    TU_FAILS(ipc_accept(s[0], -1), ENOTSUP);
    TU_FAILS(ipc_accept_mem(s[1], &mem, -1), ENOTSUP);
    /* The connection is unharmed. */
    char c;
    TU_OK(bsend(s[0], "q", 1, -1));
    TU_OK(brecv(s[1], &c, 1, -1));
    ck_assert_int_eq(c, 'q');
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_peercred_on_a_listener_fails_with_enotsup)
{
    int ls = make_listener();
    pid_t pid;
    uid_t uid;
    gid_t gid;
    TU_FAILS(ipc_peercred(ls, &pid, &uid, &gid), ENOTSUP);
    TU_FAILS(ipc_peercred(ls, NULL, NULL, NULL), ENOTSUP);
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(enotsup_is_checked_before_arguments)
{
    int ls = make_listener();
    int s[2];
    tu_pair(s);
    TU_FAILS(bsend(ls, NULL, 5, -1), ENOTSUP);
    TU_FAILS(bsendl(ls, NULL, NULL, -1), ENOTSUP);
    TU_FAILS(brecvl(ls, NULL, (struct iolist *)1, -1), ENOTSUP);
    TU_FAILS(ipc_sendfd(ls, -1, -1), ENOTSUP);
    TU_FAILS(ipc_accept_mem(s[0], NULL, -1), ENOTSUP);
    TU_OK(hclose(ls));
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(listener_still_accepts_after_enotsup_calls)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(bsend(ls, "x", 1, -1), ENOTSUP);
    TU_FAILS(brecv(ls, NULL, 1, -1), ENOTSUP);
    TU_HANDLE(c, ipc_connect(path, tu_mono_ms() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(hclose_releases_the_descriptors_at_once)
{
    int s[2];
    tu_warm_up();
    int before = tu_count_fds();
    tu_pair(s);
    ck_assert_int_eq(tu_count_fds(), before + 2);
    TU_OK(hclose(s[0]));
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
    int ls = make_listener();
    ck_assert_int_eq(tu_count_fds(), before + 1);
    TU_OK(hclose(ls));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(hclose_does_not_wait_for_the_peer_to_read)
{
    int s[2];
    tu_pair(s);
    static char buf[32768];
    memset(buf, 'p', sizeof buf);
    TU_OK(bsend(s[0], buf, sizeof buf, -1));
    /* The peer reads nothing; hclose must still return 0 at once. */
    TU_OK(hclose(s[0]));
    TU_OK(brecv(s[1], buf, sizeof buf, now() + 5000));
    TU_FAILS(brecv(s[1], buf, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(now_is_monotonic_and_never_0_or_minus_1)
{
    int64_t prev = now();
    int bad = 0, backwards = 0;
    for (int i = 0; i < 200000; i++) {
        int64_t t = now();
        if (t == 0 || t == -1)
            bad++;
        if (t < prev)
            backwards++;
        prev = t;
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(backwards, 0);
    ck_assert_int_gt(prev, 0);
}
END_TEST

START_TEST(now_is_clock_monotonic_in_milliseconds)
{
    for (int i = 0; i < 100; i++) {
        int64_t lo = tu_mono_ms();
        int64_t t = now();
        int64_t hi = tu_mono_ms();
        ck_assert_int_ge(t, lo);
        ck_assert_int_le(t, hi + 1);
    }
}
END_TEST

START_TEST(now_advances_with_real_time)
{
    int64_t t0 = now();
    tu_sleep_ms(30);
    int64_t t1 = now();
    ck_assert_int_ge(t1 - t0, 29);
    ck_assert_int_lt(t1 - t0, 5000);
}
END_TEST

START_TEST(plain_names_are_the_tdill_functions)
{
#if !defined(now) || !defined(hclose) || !defined(ipc_connect) ||            \
    !defined(iolist) || !defined(ipc_storage) || !defined(ipc_peercred)
    ck_abort_msg("tdill.h must define libdill's plain names as macros");
#endif
    ck_assert_ptr_eq((void *)&now, (void *)&tdill_now);
    ck_assert_ptr_eq((void *)&hclose, (void *)&tdill_hclose);
    ck_assert_ptr_eq((void *)&bsend, (void *)&tdill_bsend);
    ck_assert_ptr_eq((void *)&brecvl, (void *)&tdill_brecvl);
    ck_assert_ptr_eq((void *)&ipc_listen_mode, (void *)&tdill_ipc_listen_mode);
    ck_assert_ptr_eq((void *)&ipc_listener_fromfd_mem,
                     (void *)&tdill_ipc_listener_fromfd_mem);
    struct tdill_iolist *l = (struct iolist *)0;
    struct tdill_ipc_pair_storage *p = (struct ipc_pair_storage *)0;
    struct tdill_ipc_listener_storage *q = (struct ipc_listener_storage *)0;
    ck_assert_ptr_null(l);
    ck_assert_ptr_null(p);
    ck_assert_ptr_null(q);
}
END_TEST

START_TEST(raw_names_can_be_disabled)
{
    ck_assert_int_eq(raw_names_off_roundtrip(), 0);
}
END_TEST

START_TEST(storage_structs_are_16_byte_aligned)
{
    ck_assert_uint_ge(_Alignof(struct ipc_storage), 16);
    ck_assert_uint_ge(_Alignof(struct ipc_listener_storage), 16);
    ck_assert_uint_ge(_Alignof(struct ipc_pair_storage), 16);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handles");
    TCase *tc = tu_tcase("ebadf");
    tcase_add_test(tc, hclose_of_negative_handle_fails_with_ebadf);
    tcase_add_test(tc, calls_on_never_issued_handles_fail_with_ebadf);
    tcase_add_test(tc, hclose_twice_fails_with_ebadf);
    tcase_add_test(tc, every_call_on_a_closed_connection_fails_with_ebadf);
    tcase_add_test(tc, every_call_on_a_closed_listener_fails_with_ebadf);
    tcase_add_test(tc, ebadf_is_checked_before_arguments);
    tcase_add_test(tc, stale_handle_keeps_failing_with_ebadf_after_new_handles);
    tcase_add_test(tc, hclose_with_stale_handle_leaves_new_handles_alone);
    tcase_add_test(tc, handles_are_non_negative_and_distinct);
    suite_add_tcase(s, tc);

    tc = tu_tcase("enotsup");
    tcase_add_test(tc, bytestream_calls_on_a_listener_fail_with_enotsup);
    tcase_add_test(tc, ipc_accept_on_a_connection_fails_with_enotsup);
    tcase_add_test(tc, ipc_peercred_on_a_listener_fails_with_enotsup);
    tcase_add_test(tc, enotsup_is_checked_before_arguments);
    tcase_add_test(tc, listener_still_accepts_after_enotsup_calls);
    suite_add_tcase(s, tc);

    tc = tu_tcase("hclose");
    tcase_add_test(tc, hclose_releases_the_descriptors_at_once);
    tcase_add_test(tc, hclose_does_not_wait_for_the_peer_to_read);
    suite_add_tcase(s, tc);

    tc = tu_tcase("now");
    tcase_add_test(tc, now_is_monotonic_and_never_0_or_minus_1);
    tcase_add_test(tc, now_is_clock_monotonic_in_milliseconds);
    tcase_add_test(tc, now_advances_with_real_time);
    suite_add_tcase(s, tc);

    tc = tu_tcase("names");
    tcase_add_test(tc, plain_names_are_the_tdill_functions);
    tcase_add_test(tc, raw_names_can_be_disabled);
    tcase_add_test(tc, storage_structs_are_16_byte_aligned);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
