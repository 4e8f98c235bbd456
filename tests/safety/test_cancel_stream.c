/*
 * pthread_cancel in the bytestream calls and in descriptor passing. A
 * cancel that arrives while the call is blocked acts at its wait and leaves
 * that direction dead, as after ETIMEDOUT; a cancel pending at entry acts
 * before the call does anything. Either way the other direction, the
 * handle's close and every other handle work on.
 */
#include "safety.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* One bytestream or descriptor call on h, set up for a struct tu_op: four
   bytes, in two pieces for the iolist calls. */
struct xfer {
    char buf[4];
    struct iolist iol[2];
    int pipe[2]; /* the descriptor sendfd passes */
    struct tu_op op;
};

static void xfer_init(struct xfer *x, enum tu_op_kind kind, int h,
                      const char *data)
{
    memset(x, 0, sizeof *x);
    if (data)
        memcpy(x->buf, data, 4);
    x->op = (struct tu_op){.kind = kind, .h = h, .buf = x->buf, .len = 4,
                           .deadline = -1};
    x->iol[0] = (struct iolist){x->buf, 1, &x->iol[1], 0};
    x->iol[1] = (struct iolist){x->buf + 1, 3, NULL, 0};
    x->op.first = &x->iol[0];
    x->op.last = &x->iol[1];
    x->pipe[0] = x->pipe[1] = -1;
    if (kind == TU_SENDFD) {
        ck_assert_int_eq(pipe(x->pipe), 0);
        x->op.len = (size_t)x->pipe[0];
    }
}

static void xfer_fini(struct xfer *x)
{
    if (x->pipe[0] >= 0) {
        close(x->pipe[0]);
        close(x->pipe[1]);
    }
}

static void close_both_promptly(int s[2])
{
    sf_hclose_promptly(s[0]);
    sf_hclose_promptly(s[1]);
}

/* ---- cancelled while blocked ------------------------------------------ */

static void recv_cancelled_while_blocked(enum tu_op_kind kind,
                                         const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int s[2];
    tu_pair(s);
    struct xfer x;
    xfer_init(&x, kind, s[0], NULL);
    struct sf_thread t;
    sf_start_blocked(&t, SF_PLAIN, &x.op);
    if (kind != TU_RECVFD) {
        /* Part of what it waits for: it takes it, and waits again. */
        TU_OK(bsend(s[1], "ab", 2, -1));
        tu_wait_sleeping(t.tid);
    }
    pthread_cancel(t.th);
    sf_join_cancelled_in_call(&t, what);
    /* The receiving direction is dead, as after ETIMEDOUT... */
    TU_OK(bsend(s[1], "cdef", 4, -1));
    if (kind == TU_RECVFD)
        TU_FAILS(SF_RECVFD(s[0], 0), ECONNRESET);
    else
        TU_FAILS(SF_BRECV(s[0], x.buf, 1, 0), ECONNRESET);
    /* ...and the sending direction works on. */
    char buf[2];
    TU_OK(SF_BSEND(s[0], "ok", 2, now() + 1000));
    TU_OK(SF_BRECV(s[1], buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "ok", 2);
    close_both_promptly(s);
    ck_assert_int_eq(tu_count_fds(), fds);
}

START_TEST(brecv_cancelled_while_blocked_kills_only_its_direction)
{
    recv_cancelled_while_blocked(TU_BRECV, "brecv");
}
END_TEST

START_TEST(brecvl_cancelled_while_blocked_kills_only_its_direction)
{
    recv_cancelled_while_blocked(TU_BRECVL, "brecvl");
}
END_TEST

START_TEST(recvfd_cancelled_while_blocked_kills_only_its_direction)
{
    recv_cancelled_while_blocked(TU_RECVFD, "ipc_recvfd");
}
END_TEST

static void send_cancelled_while_blocked(enum tu_op_kind kind,
                                         const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int s[2];
    sf_full_pair(s); /* s[0] cannot send */
    struct xfer x;
    xfer_init(&x, kind, s[0], "data");
    struct sf_thread t;
    sf_start_blocked(&t, SF_PLAIN, &x.op);
    pthread_cancel(t.th);
    sf_join_cancelled_in_call(&t, what);
    /* The sending direction is dead, as after ETIMEDOUT... */
    if (kind == TU_SENDFD)
        TU_FAILS(SF_SENDFD(s[0], x.pipe[0], 0), ECONNRESET);
    else
        TU_FAILS(SF_BSEND(s[0], "x", 1, 0), ECONNRESET);
    /* ...and the receiving direction works on. */
    char buf[2];
    TU_OK(SF_BSEND(s[1], "ok", 2, now() + 1000));
    TU_OK(SF_BRECV(s[0], buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "ok", 2);
    close_both_promptly(s);
    xfer_fini(&x);
    ck_assert_int_eq(tu_count_fds(), fds);
}

START_TEST(bsend_cancelled_while_blocked_kills_only_its_direction)
{
    send_cancelled_while_blocked(TU_BSEND, "bsend");
}
END_TEST

START_TEST(bsendl_cancelled_while_blocked_kills_only_its_direction)
{
    send_cancelled_while_blocked(TU_BSENDL, "bsendl");
}
END_TEST

START_TEST(sendfd_cancelled_while_blocked_kills_only_its_direction)
{
    send_cancelled_while_blocked(TU_SENDFD, "ipc_sendfd");
}
END_TEST

START_TEST(cancelled_brecv_leaves_other_handles_working)
{
    tu_warm_up();
    int a[2], b[2];
    tu_pair(a);
    tu_pair(b);
    char abuf[4], bbuf[4];
    struct tu_op ra = {.kind = TU_BRECV, .h = a[0], .buf = abuf, .len = 4,
                       .deadline = -1};
    struct tu_op rb = {.kind = TU_BRECV, .h = b[0], .buf = bbuf, .len = 4,
                       .deadline = now() + 10000};
    struct sf_thread t;
    tu_op_start_blocked(&rb);
    sf_start_blocked(&t, SF_PLAIN, &ra);
    pthread_cancel(t.th);
    sf_join_cancelled_in_call(&t, "brecv");
    /* The other thread, blocked on another handle, is woken as usual. */
    TU_OK(SF_BSEND(b[1], "bbbb", 4, now() + 1000));
    tu_op_join(&rb);
    TU_OP_OK(&rb);
    ck_assert_mem_eq(bbuf, "bbbb", 4);
    /* Both directions of the other pair, and a new pair, work. */
    TU_OK(SF_BSEND(b[0], "back", 4, now() + 1000));
    TU_OK(SF_BRECV(b[1], bbuf, 4, now() + 1000));
    ck_assert_mem_eq(bbuf, "back", 4);
    int c[2];
    tu_pair(c);
    TU_OK(SF_BSEND(c[0], "cccc", 4, now() + 1000));
    TU_OK(SF_BRECV(c[1], bbuf, 4, now() + 1000));
    ck_assert_mem_eq(bbuf, "cccc", 4);
    close_both_promptly(a);
    close_both_promptly(b);
    close_both_promptly(c);
}
END_TEST

/* ---- cancel pending at entry ------------------------------------------ */

static void recv_with_cancel_pending(enum tu_op_kind kind, const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[1], "abcd", 4, -1));
    struct xfer x;
    xfer_init(&x, kind, s[0], NULL);
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &x.op);
    sf_join_cancelled_in_call(&t, what);
    /* Nothing was taken, and the direction is alive. */
    char buf[4];
    TU_OK(SF_BRECV(s[0], buf, 4, now() + 1000));
    ck_assert_mem_eq(buf, "abcd", 4);
    close_both_promptly(s);
    ck_assert_int_eq(tu_count_fds(), fds);
}

START_TEST(brecv_with_cancel_pending_at_entry_loses_no_byte)
{
    recv_with_cancel_pending(TU_BRECV, "brecv");
}
END_TEST

START_TEST(brecvl_with_cancel_pending_at_entry_loses_no_byte)
{
    recv_with_cancel_pending(TU_BRECVL, "brecvl");
}
END_TEST

START_TEST(recvfd_with_cancel_pending_at_entry_leaves_the_descriptor_queued)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int s[2], p[2];
    tu_pair(s);
    ck_assert_int_eq(pipe(p), 0);
    TU_OK(ipc_sendfd(s[1], p[1], -1));
    struct tu_op op = {.kind = TU_RECVFD, .h = s[0], .deadline = -1};
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &op);
    sf_join_cancelled_in_call(&t, "ipc_recvfd");
    /* The descriptor is still queued, and the direction is alive. */
    int fd;
    TU_HANDLE(fd, SF_RECVFD(s[0], now() + 1000));
    ck_assert_int_eq(write(fd, "z", 1), 1);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'z');
    close(fd);
    close(p[0]);
    close(p[1]);
    close_both_promptly(s);
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

static void send_with_cancel_pending(enum tu_op_kind kind, const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int s[2];
    tu_pair(s);
    struct xfer x;
    xfer_init(&x, kind, s[0], "abcd");
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &x.op);
    sf_join_cancelled_in_call(&t, what);
    /* Nothing was sent (the peer gets only what comes next, not "abcd" nor
       a descriptor's byte), and the direction is alive. */
    char buf[4];
    TU_OK(SF_BSEND(s[0], "wxyz", 4, now() + 1000));
    TU_OK(SF_BRECV(s[1], buf, 4, now() + 1000));
    ck_assert_mem_eq(buf, "wxyz", 4);
    TU_FAILS(SF_BRECV(s[1], buf, 1, now() + 50), ETIMEDOUT);
    close_both_promptly(s);
    xfer_fini(&x);
    ck_assert_int_eq(tu_count_fds(), fds);
}

START_TEST(bsend_with_cancel_pending_at_entry_sends_nothing)
{
    send_with_cancel_pending(TU_BSEND, "bsend");
}
END_TEST

START_TEST(bsendl_with_cancel_pending_at_entry_sends_nothing)
{
    send_with_cancel_pending(TU_BSENDL, "bsendl");
}
END_TEST

START_TEST(sendfd_with_cancel_pending_at_entry_sends_nothing)
{
    send_with_cancel_pending(TU_SENDFD, "ipc_sendfd");
}
END_TEST

/* ---- cancellation disabled -------------------------------------------- */

START_TEST(brecv_with_cancellation_disabled_completes_and_the_cancel_acts_later)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = -1};
    struct sf_thread t;
    sf_start_blocked(&t, SF_DISABLED, &op);
    pthread_cancel(t.th);
    tu_sleep_ms(50);
    ck_assert_msg(!atomic_load(&t.returned), "brecv returned %d (%s) when "
                  "its thread was cancelled with cancellation disabled",
                  t.rc, tu_errname(t.err));
    TU_OK(bsend(s[1], "abcd", 4, -1));
    sf_join_cancelled(&t, "brecv");
    ck_assert_msg(atomic_load(&t.returned) && t.rc == 0, "brecv: %d (%s)",
                  t.rc, tu_errname(t.err));
    ck_assert_mem_eq(buf, "abcd", 4);
    ck_assert(!atomic_load(&t.survived));
    close_both_promptly(s);
}
END_TEST

START_TEST(cancelling_a_blocked_brecv_200_times_leaks_nothing)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int threads = tu_count_threads();
    for (int i = 0; i < 200; i++) {
        int s[2];
        tu_pair(s);
        char buf[4];
        struct tu_op op = {.kind = TU_BRECV, .h = s[i % 2], .buf = buf,
                           .len = 4, .deadline = -1};
        struct sf_thread t;
        sf_start(&t, SF_PLAIN, sf_op, &op);
        while (!atomic_load(&t.started))
            sched_yield();
        /* The cancel lands before, at or during the wait. */
        if (i % 4)
            tu_sleep_ms(i % 4);
        pthread_cancel(t.th);
        sf_join_cancelled_in_call(&t, "brecv");
        close_both_promptly(s);
        char d[1024];
        ck_assert_msg(tu_count_fds() == fds, "round %d: %d descriptors, "
                      "%d before: %s", i, tu_count_fds(), fds,
                      tu_describe_fds(d, sizeof d));
    }
    /* Threads end a moment after pthread_join returns. */
    int64_t end = tu_mono_ms() + 1000 * tu_slowness();
    while (tu_count_threads() > threads && tu_mono_ms() < end)
        tu_sleep_ms(5);
    ck_assert_int_eq(tu_count_threads(), threads);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cancel_stream");
    TCase *tc = tu_tcase("blocked");
    tcase_add_test(tc, brecv_cancelled_while_blocked_kills_only_its_direction);
    tcase_add_test(tc, brecvl_cancelled_while_blocked_kills_only_its_direction);
    tcase_add_test(tc, recvfd_cancelled_while_blocked_kills_only_its_direction);
    tcase_add_test(tc, bsend_cancelled_while_blocked_kills_only_its_direction);
    tcase_add_test(tc, bsendl_cancelled_while_blocked_kills_only_its_direction);
    tcase_add_test(tc, sendfd_cancelled_while_blocked_kills_only_its_direction);
    tcase_add_test(tc, cancelled_brecv_leaves_other_handles_working);
    suite_add_tcase(s, tc);
    tc = tu_tcase("pending");
    tcase_add_test(tc, brecv_with_cancel_pending_at_entry_loses_no_byte);
    tcase_add_test(tc, brecvl_with_cancel_pending_at_entry_loses_no_byte);
    tcase_add_test(
        tc, recvfd_with_cancel_pending_at_entry_leaves_the_descriptor_queued);
    tcase_add_test(tc, bsend_with_cancel_pending_at_entry_sends_nothing);
    tcase_add_test(tc, bsendl_with_cancel_pending_at_entry_sends_nothing);
    tcase_add_test(tc, sendfd_with_cancel_pending_at_entry_sends_nothing);
    suite_add_tcase(s, tc);
    tc = tu_tcase("disabled");
    tcase_add_test(
        tc,
        brecv_with_cancellation_disabled_completes_and_the_cancel_acts_later);
    suite_add_tcase(s, tc);
    tc = tu_tcase("stress");
    tcase_set_timeout(tc, 2 * TU_TIMEOUT);
    tcase_add_test(tc, cancelling_a_blocked_brecv_200_times_leaks_nothing);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
