/* fdin, fdout, fdclean: deadline waits on the program's own descriptors,
   from any thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* A thread blocked in fdin or fdout. */
struct waiter {
    pthread_t t;
    int fd;
    int out;
    int64_t deadline;
    _Atomic int done;
    int rc, err;
};

static void *waiter_main(void *p)
{
    struct waiter *w = p;
    errno = 0;
    w->rc = w->out ? fdout(w->fd, w->deadline) : fdin(w->fd, w->deadline);
    w->err = errno;
    w->done = 1;
    return NULL;
}

/* Starts w and lets it block. */
static void waiter_start(struct waiter *w, int fd, int out)
{
    *w = (struct waiter){.fd = fd, .out = out, .deadline = -1};
    ck_assert_int_eq(pthread_create(&w->t, NULL, waiter_main, w), 0);
    tu_sleep_ms(30 * tu_slowness());
    ck_assert_msg(!w->done, "the wait did not block");
}

static void socket_pair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
                     0);
}

static void close_pair(int fds[2])
{
    TU_OK(fdclean(fds[0]));
    TU_OK(fdclean(fds[1]));
    close(fds[0]);
    close(fds[1]);
}

START_TEST(bad_descriptors_fail_with_ebadf)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    close(fd);
    TU_FAILS(fdin(fd, 0), EBADF);
    TU_FAILS(fdout(fd, 0), EBADF);
    TU_FAILS(fdin(-1, 0), EBADF);
    TU_FAILS(fdclean(-1), EBADF);
    TU_OK(fdclean(fd)); /* never waited on: nothing to forget */
}
END_TEST

START_TEST(fdin_times_out_and_fdout_is_ready_on_an_idle_socket)
{
    int fds[2];
    socket_pair(fds);
    TU_FAILS(fdin(fds[0], 0), ETIMEDOUT);
    int64_t deadline = now() + 50;
    TU_FAILS(fdin(fds[0], deadline), ETIMEDOUT);
    ck_assert_int_ge(now(), deadline);
    TU_OK(fdout(fds[0], 0));
    TU_OK(fdout(fds[0], -1));
    close_pair(fds);
}
END_TEST

START_TEST(fdin_returns_when_another_thread_writes)
{
    int fds[2];
    socket_pair(fds);
    struct waiter w;
    waiter_start(&w, fds[0], 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    pthread_join(w.t, NULL);
    ck_assert_int_eq(w.rc, 0);
    char c; /* it read nothing itself */
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    close_pair(fds);
}
END_TEST

START_TEST(fdout_returns_when_the_peer_makes_room)
{
    int fds[2];
    socket_pair(fds);
    ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    char buf[4096] = {0};
    while (write(fds[0], buf, sizeof buf) > 0)
        ;
    TU_FAILS(fdout(fds[0], 0), ETIMEDOUT);
    struct waiter w;
    waiter_start(&w, fds[0], 1);
    while (read(fds[1], buf, sizeof buf) > 0)
        ;
    pthread_join(w.t, NULL);
    ck_assert_int_eq(w.rc, 0);
    close_pair(fds);
}
END_TEST

START_TEST(a_second_waiter_on_one_direction_gets_ebusy_the_other_is_free)
{
    int fds[2];
    socket_pair(fds);
    struct waiter w;
    waiter_start(&w, fds[0], 0);
    TU_FAILS(fdin(fds[0], now() + 20), EBUSY);
    TU_OK(fdout(fds[0], now() + 1000));
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    pthread_join(w.t, NULL);
    ck_assert_int_eq(w.rc, 0);
    close_pair(fds);
}
END_TEST

START_TEST(fdclean_fails_waiters_with_ecanceled_and_leaves_the_fd_open)
{
    int fds[2];
    socket_pair(fds);
    struct waiter w;
    waiter_start(&w, fds[0], 0);
    TU_OK(fdclean(fds[0]));
    pthread_join(w.t, NULL);
    ck_assert_msg(w.rc == -1 && w.err == ECANCELED, "fdin: %d %s", w.rc,
                  tu_errname(w.err));
    ck_assert_int_ge(fcntl(fds[0], F_GETFD), 0);
    /* A later wait registers it again. */
    ck_assert_int_eq(write(fds[1], "y", 1), 1);
    TU_OK(fdin(fds[0], now() + 1000));
    close_pair(fds);
}
END_TEST

START_TEST(a_timed_out_wait_leaves_the_descriptor_usable)
{
    int fds[2];
    socket_pair(fds);
    TU_FAILS(fdin(fds[0], now() + 10), ETIMEDOUT);
    ck_assert_int_eq(write(fds[1], "z", 1), 1);
    TU_OK(fdin(fds[0], now() + 1000));
    close_pair(fds);
}
END_TEST

START_TEST(a_hang_up_ends_fdin_and_the_descriptor_is_never_closed_by_tdill)
{
    int fds[2];
    socket_pair(fds);
    TU_FAILS(fdin(fds[0], now() + 5), ETIMEDOUT);
    struct waiter w;
    waiter_start(&w, fds[0], 0);
    close(fds[1]);
    pthread_join(w.t, NULL);
    ck_assert_int_eq(w.rc, 0);
    char c;
    ck_assert_int_eq(read(fds[0], &c, 1), 0);
    TU_OK(fdclean(fds[0]));
    /* NB: the descriptor itself, not a count of the process's: under
       ThreadSanitizer the runtime opens files of its own now and then. */
    ck_assert_int_ne(fcntl(fds[0], F_GETFD), -1);
    close(fds[0]);
}
END_TEST

START_TEST(a_regular_file_is_always_ready)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    TU_OK(fdin(fd, 0));
    TU_OK(fdclean(fd));
    close(fd);
}
END_TEST

START_TEST(high_descriptor_numbers_work)
{
    int fds[2];
    socket_pair(fds);
    int high = fcntl(fds[0], F_DUPFD_CLOEXEC, 700);
    ck_assert_int_ge(high, 700);
    TU_FAILS(fdin(high, 0), ETIMEDOUT);
    ck_assert_int_eq(write(fds[1], "h", 1), 1);
    TU_OK(fdin(high, now() + 1000));
    TU_OK(fdclean(high));
    close(high);
    close_pair(fds);
}
END_TEST

static void *cancelled_waiter(void *p)
{
    fdin(*(int *)p, -1);
    return NULL;
}

START_TEST(fdin_is_a_cancellation_point_and_leaves_the_descriptor_usable)
{
    int fds[2];
    socket_pair(fds);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cancelled_waiter, &fds[0]), 0);
    tu_sleep_ms(30 * tu_slowness());
    pthread_cancel(t);
    void *res;
    pthread_join(t, &res);
    ck_assert(res == PTHREAD_CANCELED);
    ck_assert_int_eq(write(fds[1], "c", 1), 1);
    TU_OK(fdin(fds[0], now() + 1000));
    close_pair(fds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fdwait");
    TCase *tc = tu_tcase("fdwait");
    tcase_add_test(tc, bad_descriptors_fail_with_ebadf);
    tcase_add_test(tc, fdin_times_out_and_fdout_is_ready_on_an_idle_socket);
    tcase_add_test(tc, fdin_returns_when_another_thread_writes);
    tcase_add_test(tc, fdout_returns_when_the_peer_makes_room);
    tcase_add_test(
        tc, a_second_waiter_on_one_direction_gets_ebusy_the_other_is_free);
    tcase_add_test(
        tc, fdclean_fails_waiters_with_ecanceled_and_leaves_the_fd_open);
    tcase_add_test(tc, a_timed_out_wait_leaves_the_descriptor_usable);
    tcase_add_test(
        tc, a_hang_up_ends_fdin_and_the_descriptor_is_never_closed_by_tdill);
    tcase_add_test(tc, a_regular_file_is_always_ready);
    tcase_add_test(tc, high_descriptor_numbers_work);
    tcase_add_test(
        tc, fdin_is_a_cancellation_point_and_leaves_the_descriptor_usable);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
