/* ipc_listen, ipc_connect and ipc_accept: a connection is made, relative
   addresses, accept timeouts and waiters, full backlogs. */
#include "util.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- listen, connect, accept -------------------------------------------*/

START_TEST(listen_connect_accept_exchange_data)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    ck_assert(tu_path_exists(path));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(relative_addresses_are_relative_to_the_working_directory)
{
    char old[TU_PATH_MAX], dir[TU_PATH_MAX], abs[TU_PATH_MAX + 16];
    ck_assert_ptr_nonnull(getcwd(old, sizeof old));
    ck_assert_int_eq(mkdir(tu_path(dir, "cwd"), 0700), 0);
    ck_assert_int_eq(chdir(dir), 0);
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen("rel.sock", 8));
    snprintf(abs, sizeof abs, "%s/rel.sock", dir);
    ck_assert(tu_path_exists(abs));
    TU_HANDLE(c, ipc_connect("./rel.sock", now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    ck_assert_int_eq(chdir(old), 0);
    TU_FAILS(ipc_connect("rel.sock", now() + 1000), ENOENT);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(ipc_accept_times_out_with_etimedout_and_listener_stays_usable)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(ipc_accept(ls, now() + 30), ETIMEDOUT);
    TU_FAILS(ipc_accept(ls, 0), ETIMEDOUT);
    struct ipc_storage mem;
    TU_FAILS(ipc_accept_mem(ls, &mem, now() - 5), ETIMEDOUT);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, 0)); /* already pending: no wait needed */
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(blocked_ipc_accept_returns_when_a_client_connects)
{
    char path[TU_PATH_MAX];
    int ls, c;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = -1};
    tu_op_start_blocked(&op);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    tu_assert_connected(c, op.rc);
    TU_OK(hclose(c));
    TU_OK(hclose(op.rc));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(several_threads_may_accept_on_one_listener)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op[4];
    for (int i = 0; i < 4; i++) {
        op[i] = (struct tu_op){.kind = TU_ACCEPT, .h = ls,
                               .deadline = now() + 10000};
        tu_op_start(&op[i]);
    }
    tu_sleep_ms(50);
    int c[4];
    for (int i = 0; i < 4; i++)
        TU_HANDLE(c[i], ipc_connect(path, now() + 5000));
    for (int i = 0; i < 4; i++) {
        tu_op_join(&op[i]);
        TU_OP_OK(&op[i]);
    }
    for (int i = 0; i < 4; i++) {
        TU_OK(hclose(c[i]));
        TU_OK(hclose(op[i].rc));
    }
    TU_OK(hclose(ls));
}
END_TEST

/* ---- full backlog --------------------------------------------------------*/

/* Connects to path until the listener's backlog is full: once a connect
   times out (ETIMEDOUT, not before its deadline), none succeeds again.
   Returns how many got in, stored in conns[]. */
static int fill_backlog(const char *path, int *conns)
{
    int nc = 0, timeouts = 0;
    for (int i = 0; i < 6; i++) {
        errno = 0;
        int64_t d = now() + 30;
        int c = ipc_connect(path, d);
        int e = errno;
        if (c >= 0) {
            ck_assert_int_eq(timeouts, 0); /* nothing succeeds once full */
            conns[nc++] = c;
            continue;
        }
        ck_assert_msg(c == -1 && e == ETIMEDOUT,
                      "connect to a full backlog: %d with %s", c,
                      tu_errname(e));
        ck_assert_int_ge(now(), d);
        timeouts++;
    }
    ck_assert_int_ge(timeouts, 1);
    ck_assert_int_ge(nc, 1);
    return nc;
}

START_TEST(ipc_connect_to_a_full_backlog_times_out_never_eagain)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 1));
    int conns[16];
    int nc = fill_backlog(path, conns);
    TU_FAILS(ipc_connect(path, 0), ETIMEDOUT);
    struct ipc_storage mem;
    TU_FAILS(ipc_connect_mem(path, &mem, now() - 10), ETIMEDOUT);
    /* Waiting connects complete once the server accepts. */
    struct tu_op op[3];
    for (int i = 0; i < 3; i++) {
        op[i] = (struct tu_op){.kind = TU_CONNECT, .addr = path,
                               .deadline = now() + 15000};
        tu_op_start(&op[i]);
    }
    tu_sleep_ms(50);
    int accepted[16], na = 0;
    for (int i = 0; i < nc + 3; i++) {
        int a;
        TU_HANDLE(a, ipc_accept(ls, now() + 10000));
        accepted[na++] = a;
    }
    for (int i = 0; i < 3; i++) {
        tu_op_join(&op[i]);
        TU_OP_OK(&op[i]);
        conns[nc++] = op[i].rc;
    }
    /* Timed-out attempts left nothing behind in the queue. */
    TU_FAILS(ipc_accept(ls, now() + 50), ETIMEDOUT);
    /* Every pending connection is a working one. */
    for (int i = 0; i < nc; i++)
        TU_OK(bsend(conns[i], "c", 1, -1));
    for (int i = 0; i < na; i++) {
        char ch;
        TU_OK(brecv(accepted[i], &ch, 1, now() + 5000));
        ck_assert_int_eq(ch, 'c');
        TU_OK(hclose(accepted[i]));
    }
    for (int i = 0; i < nc; i++)
        TU_OK(hclose(conns[i]));
    TU_OK(hclose(ls));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("listen_connect");
    TCase *tc = tu_tcase("connect");
    tcase_add_test(tc, listen_connect_accept_exchange_data);
    tcase_add_test(tc, relative_addresses_are_relative_to_the_working_directory);
    tcase_add_test(tc,
                   ipc_accept_times_out_with_etimedout_and_listener_stays_usable);
    tcase_add_test(tc, blocked_ipc_accept_returns_when_a_client_connects);
    tcase_add_test(tc, several_threads_may_accept_on_one_listener);
    tcase_add_test(tc, ipc_connect_to_a_full_backlog_times_out_never_eagain);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
