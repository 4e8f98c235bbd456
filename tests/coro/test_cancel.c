/* Cancellation: hclose on a coroutine, and what its calls then return. */
#include "coro_tests.h"

#include <stdlib.h>

/* What the coroutine under test saw. */
static int rc1, err1, rc2, err2, finished;

static void reset(void)
{
    rc1 = rc2 = -2;
    err1 = err2 = 0;
    finished = 0;
}

static coroutine void nothing(void)
{
}

static coroutine void sleep_then_try_again(void)
{
    rc1 = msleep(-1);
    err1 = errno;
    rc2 = msleep(now() + 1000);
    err2 = errno;
    finished = 1;
}

START_TEST(hclose_cancels_msleep_and_returns_once_the_coroutine_finished)
{
    reset();
    int cr;
    TU_HANDLE(cr, go(sleep_then_try_again()));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(rc1, -2);
    int64_t t = now();
    TU_OK(hclose(cr));
    ck_assert_int_le(now() - t, 500);
    ck_assert_int_eq(finished, 1);
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    ck_assert(rc2 == -1 && err2 == ECANCELED);
}
END_TEST

/* After cancellation, every blocking call fails at once. */
struct everything {
    int s, ls, b;
    const char *path;
    int err[16];
    int n;
    int hclose_rc;
};

static void expect(struct everything *e, int rc)
{
    e->err[e->n++] = rc == -1 ? errno : 0;
}

static coroutine void try_everything(struct everything *e)
{
    char buf[4] = "abc";
    struct iolist l = {buf, 3, NULL, 0};
    msleep(-1); /* cancelled here */
    expect(e, msleep(now() + 1000));
    expect(e, msleep(0));
    expect(e, yield());
    expect(e, bsend(e->s, buf, 3, -1));
    expect(e, brecv(e->s, buf, 3, 0));
    expect(e, bsendl(e->s, &l, &l, -1));
    expect(e, brecvl(e->s, &l, &l, -1));
    expect(e, ipc_accept(e->ls, -1));
    expect(e, ipc_connect(e->path, -1));
    expect(e, ipc_sendfd(e->s, 0, -1));
    expect(e, ipc_recvfd(e->s, -1));
    expect(e, bundle_wait(e->b, -1));
    expect(e, go(nothing()));
    expect(e, bundle_go(e->b, nothing()));
    expect(e, ipc_close(e->s, -1)); /* fails, but closes */
    e->hclose_rc = hclose(e->ls);   /* closing never fails */
}

START_TEST(cancelled_coroutine_fails_every_blocking_call_with_ecanceled)
{
    static struct everything e;
    char path[TU_PATH_MAX];
    int s[2];
    tu_pair(s);
    e.s = s[0];
    e.path = tu_path(path, "ls");
    TU_HANDLE(e.ls, ipc_listen(path, 8));
    TU_HANDLE(e.b, bundle());
    TU_OK(bundle_go(e.b, msleep(-1)));
    e.n = 0;
    e.hclose_rc = -2;
    int cr;
    TU_HANDLE(cr, go(try_everything(&e)));
    TU_OK(hclose(cr));
    ck_assert_int_eq(e.n, 15);
    for (int i = 0; i < e.n; i++)
        ck_assert_msg(e.err[i] == ECANCELED, "call %d: %s", i,
                      tu_errname(e.err[i]));
    ck_assert_int_eq(e.hclose_rc, 0);
    TU_FAILS(hclose(s[0]), EBADF); /* ipc_close closed it */
    TU_OK(hclose(s[1]));
    TU_OK(hclose(e.b));
}
END_TEST

static char buf4[4];

static coroutine void receive(int s)
{
    rc1 = brecv(s, buf4, 4, -1);
    err1 = errno;
}

START_TEST(cancel_while_receiving)
{
    reset();
    int s[2];
    tu_pair(s);
    int cr;
    TU_HANDLE(cr, go(receive(s[1])));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(rc1, -2);
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    /* As for any failed receive, the direction is dead. */
    TU_FAILS(brecv(s[1], buf4, 1, 0), ECONNRESET);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static coroutine void send_lots(int s, const char *data, size_t len)
{
    rc1 = bsend(s, data, len, -1);
    err1 = errno;
}

START_TEST(cancel_while_sending_into_a_full_buffer)
{
    reset();
    size_t len = 16 << 20;
    char *data = calloc(1, len);
    int s[2];
    tu_pair(s);
    int cr;
    TU_HANDLE(cr, go(send_lots(s[0], data, len)));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(rc1, -2);
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    TU_FAILS(bsend(s[0], "x", 1, 0), ECONNRESET);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
    free(data);
}
END_TEST

static coroutine void close_orderly(int s)
{
    rc1 = ipc_close(s, -1);
    err1 = errno;
}

START_TEST(cancel_while_in_ipc_close)
{
    reset();
    int s[2];
    tu_pair(s);
    int cr;
    TU_HANDLE(cr, go(close_orderly(s[0])));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(rc1, -2); /* waits for the peer's EOF */
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    TU_FAILS(hclose(s[0]), EBADF); /* closed all the same */
    TU_FAILS(brecv(s[1], buf4, 1, now() + 1000), EPIPE);
    TU_OK(hclose(s[1]));
}
END_TEST

static coroutine void accept_one(int ls)
{
    rc1 = ipc_accept(ls, -1);
    err1 = errno;
}

START_TEST(cancel_while_in_ipc_accept_leaves_the_listener_usable)
{
    reset();
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    int cr;
    TU_HANDLE(cr, go(accept_one(ls)));
    TU_OK(msleep(now() + 10));
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    int c, a;
    TU_HANDLE(c, ipc_connect(path, now() + 1000));
    TU_HANDLE(a, ipc_accept(ls, now() + 1000));
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

static coroutine void wait_bundle(int b)
{
    rc1 = bundle_wait(b, -1);
    err1 = errno;
}

START_TEST(cancel_while_in_bundle_wait)
{
    reset();
    int b;
    TU_HANDLE(b, bundle());
    TU_OK(bundle_go(b, msleep(-1)));
    int cr;
    TU_HANDLE(cr, go(wait_bundle(b)));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(rc1, -2);
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    TU_OK(hclose(b));
}
END_TEST

START_TEST(cancelled_before_it_ran_again_sees_ecanceled_not_the_data)
{
    reset();
    int s[2];
    tu_pair(s);
    int cr;
    TU_HANDLE(cr, go(receive(s[1])));
    /* The data arrives and an I/O thread wakes the coroutine, but the
       thread does not run it before it is cancelled. */
    TU_OK(bsend(s[0], "data", 4, -1));
    tu_sleep_ms(50);
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static coroutine void sleep_briefly(void)
{
    rc1 = msleep(now() + 10);
    err1 = errno;
}

START_TEST(cancelled_after_its_deadline_passed_sees_ecanceled)
{
    reset();
    int cr;
    TU_HANDLE(cr, go(sleep_briefly()));
    tu_sleep_ms(50); /* its timer is due, but it has not run */
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
}
END_TEST

static coroutine void close_handle(int h)
{
    rc2 = hclose(h);
    err2 = errno;
}

static coroutine void receive_then_sleep(int s)
{
    rc1 = brecv(s, buf4, 4, -1);
    err1 = errno;
    /* Only the socket was closed: this coroutine can still block. */
    finished = msleep(now() + 5) == 0;
}

START_TEST(closing_the_socket_from_another_coroutine_fails_the_call)
{
    reset();
    int s[2];
    tu_pair(s);
    int a, b;
    TU_HANDLE(a, go(receive_then_sleep(s[1])));
    TU_HANDLE(b, go(close_handle(s[1])));
    TU_OK(bundle_wait(b, now() + 1000));
    ck_assert_int_eq(rc2, 0);
    TU_OK(bundle_wait(a, now() + 1000));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    ck_assert_int_eq(finished, 1);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
    TU_OK(hclose(s[0]));
}
END_TEST

static coroutine void on_cancel_close(int h)
{
    msleep(-1);
    rc2 = hclose(h);
    err2 = errno;
}

START_TEST(cancelled_coroutine_can_close_a_socket_another_one_waits_on)
{
    /* The closer waits for the receiver to leave the socket; it must let
       it run to do so, cancelled or not. */
    reset();
    int s[2];
    tu_pair(s);
    int a, b;
    TU_HANDLE(a, go(receive(s[1])));
    TU_HANDLE(b, go(on_cancel_close(s[1])));
    TU_OK(hclose(b));
    ck_assert_int_eq(rc2, 0);
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    TU_OK(hclose(a));
    TU_OK(hclose(s[0]));
}
END_TEST

static coroutine void slow_to_finish(void)
{
    msleep(-1);
    tu_sleep_ms(30); /* keeps the whole thread busy */
    finished = 1;
}

static coroutine void close_when_cancelled(int cr)
{
    rc1 = msleep(-1);
    rc2 = hclose(cr);
    err2 = finished; /* what hclose found */
}

START_TEST(hclose_in_a_cancelled_coroutine_still_waits_for_the_closed_one)
{
    reset();
    int slow, closer;
    TU_HANDLE(slow, go(slow_to_finish()));
    TU_HANDLE(closer, go(close_when_cancelled(slow)));
    TU_OK(hclose(closer));
    ck_assert_int_eq(rc1, -1);
    ck_assert_int_eq(rc2, 0);
    ck_assert_int_eq(err2, 1);
    TU_FAILS(hclose(slow), EBADF);
}
END_TEST

static coroutine void sleep_forever_counting(int *count)
{
    if (msleep(-1) == -1 && errno == ECANCELED)
        (*count)++;
}

START_TEST(coroutine_closes_another_coroutine_of_its_thread)
{
    static int count;
    count = 0;
    reset();
    int a, b;
    TU_HANDLE(a, go(sleep_forever_counting(&count)));
    TU_HANDLE(b, go(close_handle(a)));
    TU_OK(bundle_wait(b, now() + 1000));
    ck_assert_int_eq(rc2, 0);
    ck_assert_int_eq(count, 1);
    TU_OK(hclose(b));
}
END_TEST

void coro_add_cancel(Suite *s)
{
    TCase *tc = tu_tcase("cancel");
    tcase_add_test(
        tc, hclose_cancels_msleep_and_returns_once_the_coroutine_finished);
    tcase_add_test(
        tc, cancelled_coroutine_fails_every_blocking_call_with_ecanceled);
    tcase_add_test(tc, cancel_while_receiving);
    tcase_add_test(tc, cancel_while_sending_into_a_full_buffer);
    tcase_add_test(tc, cancel_while_in_ipc_close);
    tcase_add_test(tc, cancel_while_in_ipc_accept_leaves_the_listener_usable);
    tcase_add_test(tc, cancel_while_in_bundle_wait);
    tcase_add_test(tc,
                   cancelled_before_it_ran_again_sees_ecanceled_not_the_data);
    tcase_add_test(tc, cancelled_after_its_deadline_passed_sees_ecanceled);
    tcase_add_test(tc,
                   closing_the_socket_from_another_coroutine_fails_the_call);
    tcase_add_test(
        tc, cancelled_coroutine_can_close_a_socket_another_one_waits_on);
    tcase_add_test(
        tc, hclose_in_a_cancelled_coroutine_still_waits_for_the_closed_one);
    tcase_add_test(tc, coroutine_closes_another_coroutine_of_its_thread);
    suite_add_tcase(s, tc);
}
