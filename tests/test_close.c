/* ipc_done and ipc_close: the orderly end of a connection, and how each
   fails when the connection is already broken. */
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- ipc_done ------------------------------------------------------------*/

START_TEST(ipc_done_lets_the_peer_read_everything_then_epipe)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "final words", 11, -1));
    TU_OK(ipc_done(s[0], -1));
    tu_expect_bytes(s[1], "final words", 11);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    /* Receiving on the done side still works. */
    TU_OK(bsend(s[1], "answer", 6, -1));
    tu_expect_bytes(s[0], "answer", 6);
    tu_close_pair(s);
}
END_TEST

START_TEST(ipc_done_twice_fails_with_epipe)
{
    int s[2];
    tu_pair(s);
    TU_OK(ipc_done(s[0], now() + 1000));
    TU_FAILS(ipc_done(s[0], now() + 1000), EPIPE);
    TU_FAILS(ipc_done(s[0], 0), EPIPE);
    tu_close_pair(s);
}
END_TEST

START_TEST(ipc_done_on_a_broken_send_side_fails_with_econnreset)
{
    int s[2];
    tu_pair(s);
    size_t big = 16 << 20;
    char *buf = calloc(1, big);
    TU_FAILS(bsend(s[0], buf, big, 0), ETIMEDOUT);
    TU_FAILS(ipc_done(s[0], -1), ECONNRESET);
    free(buf);
    tu_close_pair(s);
}
END_TEST

START_TEST(ipc_done_never_waits_even_with_a_full_buffer)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    /* Fill the kernel buffer before tdill sees the socket. */
    ck_assert_int_eq(fcntl(sp[0], F_SETFL, O_NONBLOCK), 0);
    static char chunk[4096];
    size_t filled = 0;
    while (write(sp[0], chunk, sizeof chunk) > 0)
        filled += sizeof chunk;
    ck_assert_int_eq(errno, EAGAIN);
    int h;
    TU_HANDLE(h, ipc_fromfd(sp[0]));
    int64_t t0 = now();
    TU_OK(ipc_done(h, 0));
    ck_assert_int_lt(now() - t0, 1000 * tu_slowness());
    /* The raw peer reads everything, then EOF. */
    size_t got = 0;
    ssize_t n;
    while ((n = read(sp[1], chunk, sizeof chunk)) > 0)
        got += n;
    ck_assert_int_eq(n, 0);
    ck_assert_uint_ge(got, filled);
    TU_OK(hclose(h));
    close(sp[1]);
}
END_TEST

/* ---- ipc_close -----------------------------------------------------------*/

/* Peer side of an orderly close: drain until EOF, then finish too. */
static void *drain_then_done(void *arg)
{
    int h = *(int *)arg;
    brecvl(h, NULL, NULL, now() + 10000);
    ipc_done(h, -1);
    return NULL;
}

START_TEST(ipc_close_returns_0_after_the_peer_finishes_and_closes)
{
    int s[2];
    tu_pair(s);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, drain_then_done, &s[1]), 0);
    TU_OK(bsend(s[0], "bye", 3, -1));
    TU_OK(ipc_close(s[0], now() + 10000));
    pthread_join(th, NULL);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

static void *send_2mb_then_done(void *arg)
{
    int h = *(int *)arg;
    size_t len = 2 << 20;
    char *buf = calloc(1, len);
    bsend(h, buf, len, now() + 10000);
    ipc_done(h, -1);
    free(buf);
    return NULL;
}

START_TEST(ipc_close_drops_unread_inbound_data)
{
    int s[2];
    tu_pair(s);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, send_2mb_then_done, &s[1]), 0);
    TU_OK(ipc_close(s[0], now() + 10000));
    pthread_join(th, NULL);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_times_out_with_etimedout_and_still_closes)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(ipc_close(s[0], now() + 50), ETIMEDOUT);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    tu_pair(s);
    TU_FAILS(ipc_close(s[0], 0), ETIMEDOUT);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_with_a_broken_direction_fails_with_econnreset_and_closes)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(brecv(s[0], NULL, 1, 0), ETIMEDOUT);
    TU_OK(ipc_done(s[1], -1));
    TU_FAILS(ipc_close(s[0], now() + 5000), ECONNRESET);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
    tu_pair(s);
    char *big = calloc(1, 16 << 20);
    TU_FAILS(bsend(s[0], big, 16 << 20, 0), ETIMEDOUT);
    free(big);
    TU_OK(ipc_done(s[1], -1));
    TU_FAILS(ipc_close(s[0], now() + 5000), ECONNRESET);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_on_a_listener_is_hclose_and_unlinks_nothing)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(ipc_close(ls, now() + 1000));
    TU_FAILS(hclose(ls), EBADF);
    ck_assert(tu_path_exists(path));
    TU_FAILS(ipc_connect(path, now() + 1000), ECONNREFUSED);
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(ipc_close(ls, 0));
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(hclose(ls));
    ck_assert(tu_path_exists(path));
}
END_TEST

START_TEST(ipc_close_after_peer_hclose_returns_0)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[1]));
    TU_OK(ipc_close(s[0], now() + 5000));
    TU_FAILS(hclose(s[0]), EBADF);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("close");
    TCase *tc = tu_tcase("done_close");
    tcase_add_test(tc, ipc_done_lets_the_peer_read_everything_then_epipe);
    tcase_add_test(tc, ipc_done_twice_fails_with_epipe);
    tcase_add_test(tc, ipc_done_on_a_broken_send_side_fails_with_econnreset);
    tcase_add_test(tc, ipc_done_never_waits_even_with_a_full_buffer);
    tcase_add_test(tc, ipc_close_returns_0_after_the_peer_finishes_and_closes);
    tcase_add_test(tc, ipc_close_drops_unread_inbound_data);
    tcase_add_test(tc, ipc_close_times_out_with_etimedout_and_still_closes);
    tcase_add_test(tc,
                   ipc_close_with_a_broken_direction_fails_with_econnreset_and_closes);
    tcase_add_test(tc, ipc_close_on_a_listener_is_hclose_and_unlinks_nothing);
    tcase_add_test(tc, ipc_close_after_peer_hclose_returns_0);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
