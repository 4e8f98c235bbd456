/*
 * pthread_cancel in the IPC calls: ipc_accept, ipc_connect, ipc_done and
 * ipc_close are cancellation points like read(2), acting only at their wait
 * or at entry and leaking nothing; hclose and the calls that never block
 * (ipc_listen*, ipc_pair*, ipc_fromfd*, ipc_peercred, now) are not
 * cancellation points at all.
 */
#include "safety.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void check_fds(int want, const char *when)
{
    char d[1024];
    ck_assert_msg(tu_count_fds() == want, "%s: %d descriptors, %d expected: "
                  "%s", when, tu_count_fds(), want,
                  tu_describe_fds(d, sizeof d));
}

/* The listener ls at path accepts a new connection, and bytes pass. */
static void check_listener_works(int ls, const char *path)
{
    int c, a;
    TU_HANDLE(c, ipc_connect(path, now() + 1000));
    TU_HANDLE(a, SF_ACCEPT(ls, now() + 1000));
    char buf[2];
    TU_OK(SF_BSEND(c, "hi", 2, now() + 1000));
    TU_OK(SF_BRECV(a, buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "hi", 2);
    sf_hclose_promptly(a);
    sf_hclose_promptly(c);
}

/* ---- ipc_accept ------------------------------------------------------- */

static void accept_cancelled_while_blocked(int mem, const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct ipc_storage st;
    struct tu_op op = {.kind = mem ? TU_ACCEPT_MEM : TU_ACCEPT, .h = ls,
                       .mem = mem ? &st : NULL, .deadline = -1};
    struct sf_thread t;
    sf_start_blocked(&t, SF_PLAIN, &op);
    pthread_cancel(t.th);
    sf_join_cancelled_in_call(&t, what);
    check_fds(fds + 1, "after the cancel");
    /* A connection that arrives later is accepted by the next call. */
    check_listener_works(ls, path);
    sf_hclose_promptly(ls);
    check_fds(fds, "at the end");
}

START_TEST(accept_cancelled_while_blocked_leaves_the_listener_usable)
{
    accept_cancelled_while_blocked(0, "ipc_accept");
}
END_TEST

START_TEST(accept_mem_cancelled_while_blocked_leaves_the_listener_usable)
{
    accept_cancelled_while_blocked(1, "ipc_accept_mem");
}
END_TEST

static void accept_with_cancel_pending(int mem, const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    char path[TU_PATH_MAX];
    int ls, c;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_HANDLE(c, ipc_connect(path, now() + 1000));
    struct ipc_storage st;
    struct tu_op op = {.kind = mem ? TU_ACCEPT_MEM : TU_ACCEPT, .h = ls,
                       .mem = mem ? &st : NULL, .deadline = -1};
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &op);
    sf_join_cancelled_in_call(&t, what);
    check_fds(fds + 2, "after the cancel");
    /* The connection is still queued. */
    int a;
    TU_HANDLE(a, SF_ACCEPT(ls, now() + 1000));
    char buf[2];
    TU_OK(SF_BSEND(c, "hi", 2, now() + 1000));
    TU_OK(SF_BRECV(a, buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "hi", 2);
    sf_hclose_promptly(a);
    sf_hclose_promptly(c);
    sf_hclose_promptly(ls);
    check_fds(fds, "at the end");
}

START_TEST(accept_with_cancel_pending_at_entry_leaves_the_connection_queued)
{
    accept_with_cancel_pending(0, "ipc_accept");
}
END_TEST

START_TEST(accept_mem_with_cancel_pending_at_entry_leaves_the_connection_queued)
{
    accept_with_cancel_pending(1, "ipc_accept_mem");
}
END_TEST

START_TEST(accept_with_cancellation_disabled_completes_and_the_cancel_acts_later)
{
    char path[TU_PATH_MAX];
    int ls, c;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = -1};
    struct sf_thread t;
    sf_start_blocked(&t, SF_DISABLED, &op);
    pthread_cancel(t.th);
    tu_sleep_ms(50);
    ck_assert_msg(!atomic_load(&t.returned), "ipc_accept returned %d (%s) "
                  "when its thread was cancelled with cancellation disabled",
                  t.rc, tu_errname(t.err));
    TU_HANDLE(c, ipc_connect(path, now() + 1000));
    sf_join_cancelled(&t, "ipc_accept");
    ck_assert_msg(atomic_load(&t.returned) && t.rc >= 0,
                  "ipc_accept: %d (%s)", t.rc, tu_errname(t.err));
    ck_assert(!atomic_load(&t.survived));
    char buf[2];
    TU_OK(SF_BSEND(c, "hi", 2, now() + 1000));
    TU_OK(SF_BRECV(t.rc, buf, 2, now() + 1000));
    sf_hclose_promptly(t.rc);
    sf_hclose_promptly(c);
    sf_hclose_promptly(ls);
}
END_TEST

/* ---- ipc_connect ------------------------------------------------------ */

static void connect_cancelled_while_blocked(int mem, const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    char path[TU_PATH_MAX];
    int ls, conns[64];
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 1));
    int n = sf_fill_backlog(path, conns, 64);
    int filled = tu_count_fds();
    struct ipc_storage st;
    struct tu_op op = {.kind = TU_CONNECT, .addr = path,
                       .mem = mem ? &st : NULL, .deadline = -1};
    struct sf_thread t;
    sf_start_blocked(&t, SF_PLAIN, &op);
    pthread_cancel(t.th);
    sf_join_cancelled_in_call(&t, what);
    check_fds(filled, "after the cancel");
    for (int i = 0; i < n; i++) {
        int a;
        TU_HANDLE(a, SF_ACCEPT(ls, now() + 1000));
        sf_hclose_promptly(a);
        sf_hclose_promptly(conns[i]);
    }
    sf_hclose_promptly(ls);
    check_fds(fds, "at the end");
}

START_TEST(connect_cancelled_while_blocked_on_a_full_backlog_leaks_nothing)
{
    connect_cancelled_while_blocked(0, "ipc_connect");
}
END_TEST

START_TEST(connect_mem_cancelled_while_blocked_on_a_full_backlog_leaks_nothing)
{
    connect_cancelled_while_blocked(1, "ipc_connect_mem");
}
END_TEST

static void connect_with_cancel_pending(int mem, const char *what)
{
    tu_warm_up();
    int fds = tu_count_fds();
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct ipc_storage st;
    struct tu_op op = {.kind = TU_CONNECT, .addr = path,
                       .mem = mem ? &st : NULL, .deadline = -1};
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &op);
    sf_join_cancelled_in_call(&t, what);
    check_fds(fds + 1, "after the cancel");
    /* No connection was made. */
    TU_FAILS(SF_ACCEPT(ls, now() + 50), ETIMEDOUT);
    check_listener_works(ls, path);
    sf_hclose_promptly(ls);
    check_fds(fds, "at the end");
}

START_TEST(connect_with_cancel_pending_at_entry_does_not_connect)
{
    connect_with_cancel_pending(0, "ipc_connect");
}
END_TEST

START_TEST(connect_mem_with_cancel_pending_at_entry_does_not_connect)
{
    connect_with_cancel_pending(1, "ipc_connect_mem");
}
END_TEST

/* ---- ipc_close and ipc_done ------------------------------------------- */

START_TEST(ipc_close_cancelled_while_draining_still_closes_the_handle)
{
    tu_warm_up();
    int fds = tu_count_fds();
    int s[2];
    tu_pair(s);
    /* The peer never sends its EOF: ipc_close drains until cancelled. */
    struct tu_op op = {.kind = TU_IPC_CLOSE, .h = s[0], .deadline = -1};
    struct sf_thread t;
    sf_start_blocked(&t, SF_PLAIN, &op);
    pthread_cancel(t.th);
    sf_join_cancelled_in_call(&t, "ipc_close");
    char buf[1];
    TU_FAILS(SF_BRECV(s[0], buf, 1, 0), EBADF);
    TU_FAILS(sf_timed((struct tu_op){.kind = TU_HCLOSE, .h = s[0]},
                      "hclose"),
             EBADF);
    /* Its socket is closed with it: the peer sees the end of the stream. */
    TU_FAILS(SF_BRECV(s[1], buf, 1, now() + 1000), EPIPE);
    sf_hclose_promptly(s[1]);
    check_fds(fds, "at the end");
}
END_TEST

START_TEST(ipc_close_with_cancel_pending_at_entry_leaves_the_handle_open)
{
    int s[2];
    tu_pair(s);
    struct tu_op op = {.kind = TU_IPC_CLOSE, .h = s[0], .deadline = -1};
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &op);
    sf_join_cancelled_in_call(&t, "ipc_close");
    /* Both directions of s[0] work: nothing was closed or half-closed. */
    char buf[2];
    TU_OK(SF_BSEND(s[1], "in", 2, now() + 1000));
    TU_OK(SF_BRECV(s[0], buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "in", 2);
    TU_OK(SF_BSEND(s[0], "up", 2, now() + 1000));
    TU_OK(SF_BRECV(s[1], buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "up", 2);
    TU_FAILS(SF_BRECV(s[1], buf, 1, now() + 50), ETIMEDOUT);
    sf_hclose_promptly(s[0]);
    sf_hclose_promptly(s[1]);
}
END_TEST

START_TEST(ipc_done_with_cancel_pending_at_entry_does_not_half_close)
{
    int s[2];
    tu_pair(s);
    struct tu_op op = {.kind = TU_IPC_DONE, .h = s[0], .deadline = -1};
    struct sf_thread t;
    sf_start(&t, SF_PENDING, sf_op, &op);
    sf_join_cancelled_in_call(&t, "ipc_done");
    /* The peer sees no end of the stream, s[0] can still send... */
    char buf[2];
    TU_OK(SF_BSEND(s[0], "up", 2, now() + 1000));
    TU_OK(SF_BRECV(s[1], buf, 2, now() + 1000));
    ck_assert_mem_eq(buf, "up", 2);
    TU_FAILS(SF_BRECV(s[1], buf, 1, now() + 50), ETIMEDOUT);
    /* ...and ipc_done has not been done yet (it would fail with EPIPE). */
    TU_OK(sf_timed((struct tu_op){.kind = TU_IPC_DONE, .h = s[0],
                                  .deadline = now() + 1000},
                   "ipc_done"));
    sf_hclose_promptly(s[0]);
    sf_hclose_promptly(s[1]);
}
END_TEST

/* ---- not cancellation points ------------------------------------------ */

/* The thread ran fn to the end, with a cancel pending all along, and died
   only at its pthread_testcancel(). */
static void check_not_cancelled_in(struct sf_thread *t, const char *what)
{
    sf_join_cancelled(t, what);
    ck_assert_msg(atomic_load(&t->returned), "the thread was cancelled "
                  "inside %s, which is not a cancellation point", what);
    ck_assert_msg(t->rc == 0, "%s with a cancel pending: step %d failed "
                  "with %s", what, t->rc, tu_errname(t->err));
}

static int close_pair_and_listener(void *arg)
{
    int *h = arg;
    for (int i = 0; i < 3; i++)
        if (hclose(h[i]) != 0)
            return i + 1;
    return 0;
}

START_TEST(hclose_is_not_a_cancellation_point)
{
    tu_warm_up();
    int fds = tu_count_fds();
    char path[TU_PATH_MAX];
    int h[3];
    tu_pair(h);
    TU_HANDLE(h[2], ipc_listen(tu_path(path, "ls"), 8));
    /* Handles the I/O threads watch. */
    TU_FAILS(brecv(h[0], NULL, 1, now() + 20), ETIMEDOUT);
    TU_FAILS(ipc_accept(h[2], now() + 20), ETIMEDOUT);
    struct sf_thread t;
    sf_start(&t, SF_PENDING, close_pair_and_listener, h);
    check_not_cancelled_in(&t, "hclose");
    for (int i = 0; i < 3; i++)
        TU_FAILS(hclose(h[i]), EBADF);
    check_fds(fds, "at the end");
}
END_TEST

struct made {
    char path[3][TU_PATH_MAX];
    struct ipc_listener_storage lmem;
    struct ipc_pair_storage pmem;
    int h[7];
};

static int listen_and_pair(void *arg)
{
    struct made *m = arg;
    if ((m->h[0] = ipc_listen(m->path[0], 8)) < 0)
        return 1;
    if ((m->h[1] = ipc_listen_mem(m->path[1], 8, &m->lmem)) < 0)
        return 2;
    if ((m->h[2] = ipc_listen_mode(m->path[2], 8, 0600)) < 0)
        return 3;
    if (ipc_pair(&m->h[3]) != 0)
        return 4;
    if (ipc_pair_mem(&m->pmem, &m->h[5]) != 0)
        return 5;
    return 0;
}

START_TEST(listen_and_pair_calls_are_not_cancellation_points)
{
    static struct made m;
    for (int i = 0; i < 3; i++)
        tu_path(m.path[i], "ls");
    struct sf_thread t;
    sf_start(&t, SF_PENDING, listen_and_pair, &m);
    check_not_cancelled_in(&t, "ipc_listen, ipc_pair and their variants");
    for (int i = 0; i < 7; i++)
        sf_hclose_promptly(m.h[i]);
}
END_TEST

struct wrapped {
    int fd[4];
    struct ipc_storage mem;
    struct ipc_listener_storage lmem;
    int h[4];
};

static int fromfd_peercred_and_now(void *arg)
{
    struct wrapped *w = arg;
    if ((w->h[0] = ipc_fromfd(w->fd[0])) < 0)
        return 1;
    if ((w->h[1] = ipc_fromfd_mem(w->fd[1], &w->mem)) < 0)
        return 2;
    if ((w->h[2] = ipc_listener_fromfd(w->fd[2])) < 0)
        return 3;
    if ((w->h[3] = ipc_listener_fromfd_mem(w->fd[3], &w->lmem)) < 0)
        return 4;
    pid_t pid;
    if (ipc_peercred(w->h[0], &pid, NULL, NULL) != 0 || pid != getpid())
        return 5;
    if (now() <= 0)
        return 6;
    return 0;
}

static int listening_socket(void)
{
    char path[TU_PATH_MAX];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tu_path(path, "raw"));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    return fd;
}

START_TEST(fromfd_peercred_and_now_are_not_cancellation_points)
{
    static struct wrapped w;
    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, w.fd), 0);
    w.fd[2] = listening_socket();
    w.fd[3] = listening_socket();
    struct sf_thread t;
    sf_start(&t, SF_PENDING, fromfd_peercred_and_now, &w);
    check_not_cancelled_in(&t, "ipc_fromfd, ipc_peercred, now and variants");
    for (int i = 0; i < 4; i++)
        sf_hclose_promptly(w.h[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cancel_ipc");
    TCase *tc = tu_tcase("accept");
    tcase_add_test(tc, accept_cancelled_while_blocked_leaves_the_listener_usable);
    tcase_add_test(tc,
                   accept_mem_cancelled_while_blocked_leaves_the_listener_usable);
    tcase_add_test(
        tc, accept_with_cancel_pending_at_entry_leaves_the_connection_queued);
    tcase_add_test(
        tc,
        accept_mem_with_cancel_pending_at_entry_leaves_the_connection_queued);
    tcase_add_test(
        tc,
        accept_with_cancellation_disabled_completes_and_the_cancel_acts_later);
    suite_add_tcase(s, tc);
    tc = tu_tcase("connect");
    tcase_add_test(
        tc, connect_cancelled_while_blocked_on_a_full_backlog_leaks_nothing);
    tcase_add_test(
        tc,
        connect_mem_cancelled_while_blocked_on_a_full_backlog_leaks_nothing);
    tcase_add_test(tc, connect_with_cancel_pending_at_entry_does_not_connect);
    tcase_add_test(tc,
                   connect_mem_with_cancel_pending_at_entry_does_not_connect);
    suite_add_tcase(s, tc);
    tc = tu_tcase("close");
    tcase_add_test(tc,
                   ipc_close_cancelled_while_draining_still_closes_the_handle);
    tcase_add_test(tc,
                   ipc_close_with_cancel_pending_at_entry_leaves_the_handle_open);
    tcase_add_test(tc,
                   ipc_done_with_cancel_pending_at_entry_does_not_half_close);
    suite_add_tcase(s, tc);
    tc = tu_tcase("not_cancellation_points");
    tcase_add_test(tc, hclose_is_not_a_cancellation_point);
    tcase_add_test(tc, listen_and_pair_calls_are_not_cancellation_points);
    tcase_add_test(tc, fromfd_peercred_and_now_are_not_cancellation_points);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
