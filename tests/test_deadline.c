/* Deadlines: never early, not absurdly late; signals never surface. */
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

/* Upper bound only generous: CI machines are loaded, sanitizers slow. */
#define LATE_MS (200 * tu_slowness())

/* The call returned at t for deadline d: not before, not far after. */
#define assert_on_time(d, t) assert_on_time_at((d), (t), __LINE__)
static void assert_on_time_at(int64_t d, int64_t t, int line)
{
    ck_assert_msg(t >= d, "line %d: returned %lld ms before the deadline",
                  line, (long long)(d - t));
    ck_assert_msg(t < d + LATE_MS,
                  "line %d: returned %lld ms after the deadline", line,
                  (long long)(t - d));
    ck_assert_int_ge(tu_mono_ms(), d);
}

START_TEST(brecv_times_out_no_earlier_than_the_deadline)
{
    int s[2];
    tu_warm_up();
    tu_pair(s);
    for (int i = 0; i < 5; i++) {
        int64_t d = now() + 50;
        TU_FAILS(brecv(s[0], NULL, 1, d), ETIMEDOUT);
        assert_on_time(d, now());
        tu_close_pair(s);
        tu_pair(s);
    }
    /* Short ones too. */
    for (int ms = 1; ms <= 5; ms++) {
        int64_t d = now() + ms;
        TU_FAILS(brecv(s[0], NULL, 1, d), ETIMEDOUT);
        assert_on_time(d, now());
        tu_close_pair(s);
        tu_pair(s);
    }
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_in_a_thread_times_out_no_earlier_than_the_deadline)
{
    int s[2];
    tu_warm_up();
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 80};
    tu_op_start(&op);
    tu_op_join(&op);
    TU_OP_FAILED(&op, ETIMEDOUT);
    assert_on_time(op.deadline, op.returned_at);
    tu_close_pair(s);
}
END_TEST

START_TEST(every_blocking_call_times_out_no_earlier_than_the_deadline)
{
    char path[TU_PATH_MAX];
    int ls, s[2];
    int64_t d;
    tu_warm_up();
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 1));
    d = now() + 40;
    TU_FAILS(ipc_accept(ls, d), ETIMEDOUT);
    assert_on_time(d, now());
    struct ipc_storage mem;
    d = now() + 40;
    TU_FAILS(ipc_accept_mem(ls, &mem, d), ETIMEDOUT);
    assert_on_time(d, now());

    tu_pair(s);
    char *big = calloc(1, 16 << 20);
    d = now() + 40;
    TU_FAILS(bsend(s[0], big, 16 << 20, d), ETIMEDOUT);
    assert_on_time(d, now());
    free(big);
    d = now() + 40;
    TU_FAILS(ipc_recvfd(s[0], d), ETIMEDOUT);
    assert_on_time(d, now());
    tu_close_pair(s);
    tu_pair(s);
    char buf[4];
    struct iolist l = {buf, 4, NULL, 0};
    d = now() + 40;
    TU_FAILS(brecvl(s[1], &l, &l, d), ETIMEDOUT);
    assert_on_time(d, now());
    tu_close_pair(s);

    tu_pair(s);
    d = now() + 40;
    TU_FAILS(ipc_close(s[0], d), ETIMEDOUT);
    assert_on_time(d, now());
    TU_OK(hclose(s[1]));

    /* A full backlog: connects wait until their deadline. */
    int c[8], nc = 0;
    for (int i = 0; i < 8; i++) {
        d = now() + 40;
        errno = 0;
        int h = ipc_connect(path, d);
        int64_t t = now();
        if (h >= 0) {
            c[nc++] = h;
            continue;
        }
        ck_assert_int_eq(errno, ETIMEDOUT);
        assert_on_time(d, t);
    }
    ck_assert_int_lt(nc, 8);
    for (int i = 0; i < nc; i++)
        TU_OK(hclose(c[i]));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(deadline_0_and_past_deadlines_return_at_once)
{
    int s[2];
    tu_pair(s);
    int64_t past[] = {0, 1, now() - 1, now() - 100000};
    for (int i = 0; i < 4; i++) {
        int64_t t0 = now();
        TU_FAILS(brecv(s[0], NULL, 1, past[i]), ETIMEDOUT);
        ck_assert_int_lt(now() - t0, 500 * tu_slowness());
        tu_close_pair(s);
        tu_pair(s);
    }
    tu_close_pair(s);
}
END_TEST

START_TEST(a_later_deadline_is_not_cut_short)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 2000};
    tu_op_start_blocked(&op);
    tu_sleep_ms(50);
    TU_OK(bsend(s[1], "late", 4, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_int_eq(op.rc, 0);
    ck_assert_mem_eq(buf, "late", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(extreme_deadlines_wait_for_data)
{
    int64_t far[] = {INT64_MAX, INT64_MAX - 1, now() + ((int64_t)1 << 50),
                     INT64_MIN, -2};
    for (size_t i = 0; i < sizeof far / sizeof *far; i++) {
        int s[2];
        tu_pair(s);
        char buf[4];
        struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                           .deadline = far[i]};
        tu_op_start_blocked(&op);
        tu_sleep_ms(20);
        ck_assert_msg(!tu_op_done(&op), "deadline %lld: returned at once",
                      (long long)far[i]);
        TU_OK(bsend(s[1], "far!", 4, -1));
        tu_op_join(&op);
        ck_assert_msg(op.rc == 0, "deadline %lld: %d %s", (long long)far[i],
                      op.rc, tu_errname(op.err));
        ck_assert_mem_eq(buf, "far!", 4);
        tu_close_pair(s);
    }
}
END_TEST

START_TEST(eof_is_reported_even_with_deadline_0)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[1]));
    TU_FAILS(brecv(s[0], NULL, 1, 0), EPIPE);
    TU_OK(hclose(s[0]));
    /* Draining what is already there needs no waiting either. */
    tu_pair(s);
    char data[1000];
    memset(data, 'd', sizeof data);
    TU_OK(bsend(s[1], data, sizeof data, -1));
    TU_OK(ipc_done(s[1], -1));
    TU_FAILS(brecvl(s[0], NULL, NULL, 0), EPIPE);
    tu_close_pair(s);
}
END_TEST

/* ---- signals -------------------------------------------------------------*/

/* Signals caught so far; the handler runs in whichever thread it hits. */
static int caught;
static void on_signal(int sig)
{
    int saved = errno;
    (void)sig;
    __atomic_add_fetch(&caught, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

static int caught_now(void) { return __atomic_load_n(&caught, __ATOMIC_SEQ_CST); }

/* A handler without SA_RESTART: interrupted syscalls fail with EINTR. */
static void install(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ck_assert_int_eq(sigaction(sig, &sa, NULL), 0);
}

/* Sends SIGUSR1 to the op's thread every millisecond until it returns, for
   at least ms milliseconds and 20 caught signals (at most 20 s). */
static void hammer(struct tu_op *op, int ms)
{
    int64_t start = tu_mono_ms();
    int caught0 = caught_now();
    while (!tu_op_done(op)) {
        int64_t t = tu_mono_ms();
        if (t > start + 20000)
            break;
        if (t >= start + ms && caught_now() - caught0 >= 20)
            break;
        pthread_kill(op->th, SIGUSR1);
        tu_sleep_ms(1);
    }
}

START_TEST(signals_do_not_interrupt_a_timed_brecv)
{
    install(SIGUSR1);
    int s[2];
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 300};
    tu_op_start(&op);
    hammer(&op, 5000);
    tu_op_join(&op);
    TU_OP_FAILED(&op, ETIMEDOUT);
    assert_on_time(op.deadline, op.returned_at);
    ck_assert_int_gt(caught_now(), 0);
    tu_close_pair(s);
}
END_TEST

/* Each assert_untimed_* below blocks one call with deadline -1 on the
   connection s (or the listener ls at path), hammers its thread with
   signals, then lets the call complete: it must succeed, never fail with
   EINTR. */

static void assert_untimed_brecv_ignores_signals(int s[2])
{
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = -1};
    tu_op_start(&op);
    hammer(&op, 150);
    ck_assert(!tu_op_done(&op));
    TU_OK(bsend(s[1], "sig!", 4, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_int_eq(op.rc, 0);
    ck_assert_mem_eq(buf, "sig!", 4);
    ck_assert_int_ge(caught_now(), 20);
}

/* bsend into a full buffer. */
static void assert_untimed_bsend_ignores_signals(int s[2])
{
    size_t len = 8 << 20;
    char *big = malloc(len);
    tu_fill(big, len, 4);
    struct tu_op op = {.kind = TU_BSEND, .h = s[0], .buf = big, .len = len,
                       .deadline = -1};
    tu_op_start(&op);
    hammer(&op, 150);
    ck_assert(!tu_op_done(&op));
    struct tu_xfer rx = {.h = s[1], .len = len, .seed = 4, .chunk = 100000,
                         .deadline = now() + 20000};
    tu_recv_start(&rx);
    hammer(&op, 20000);
    tu_op_join(&op);
    tu_xfer_join(&rx);
    TU_OP_OK(&op);
    ck_assert_int_eq(rx.rc, 0);
    ck_assert_int_eq(rx.mismatch, 0);
    free(big);
}

static void assert_untimed_recvfd_ignores_signals(int s[2])
{
    struct tu_op op = {.kind = TU_RECVFD, .h = s[1], .deadline = -1};
    tu_op_start(&op);
    hammer(&op, 100);
    ck_assert(!tu_op_done(&op));
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    TU_OK(ipc_sendfd(s[0], fd, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    close(op.rc);
    close(fd);
}

static void assert_untimed_accept_ignores_signals(int ls, const char *path)
{
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = -1};
    tu_op_start(&op);
    hammer(&op, 100);
    ck_assert(!tu_op_done(&op));
    int c;
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    TU_OK(hclose(op.rc));
    TU_OK(hclose(c));
}

/* ipc_connect to a full backlog (ls has a backlog of 1). */
static void assert_untimed_connect_ignores_signals(int ls, const char *path)
{
    int pending[8], np = 0;
    for (int i = 0; i < 8; i++) {
        int h = ipc_connect(path, now() + 20);
        if (h >= 0)
            pending[np++] = h;
    }
    ck_assert_int_lt(np, 8);
    struct tu_op op = {.kind = TU_CONNECT, .addr = path, .deadline = -1};
    tu_op_start(&op);
    hammer(&op, 100);
    ck_assert(!tu_op_done(&op));
    int accepted[10], na = 0;
    for (int i = 0; i < np + 1; i++) {
        int a;
        TU_HANDLE(a, ipc_accept(ls, now() + 5000));
        accepted[na++] = a;
    }
    tu_op_join(&op);
    TU_OP_OK(&op);
    TU_OK(hclose(op.rc));
    for (int i = 0; i < na; i++)
        TU_OK(hclose(accepted[i]));
    for (int i = 0; i < np; i++)
        TU_OK(hclose(pending[i]));
}

START_TEST(signals_do_not_interrupt_untimed_calls)
{
    install(SIGUSR1);
    int s[2];
    tu_pair(s);
    assert_untimed_brecv_ignores_signals(s);
    assert_untimed_bsend_ignores_signals(s);
    assert_untimed_recvfd_ignores_signals(s);
    tu_close_pair(s);
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 1));
    assert_untimed_accept_ignores_signals(ls, path);
    assert_untimed_connect_ignores_signals(ls, path);
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(sigalrm_storm_does_not_interrupt_a_blocked_caller)
{
    install(SIGALRM);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    int s[2];
    tu_pair(s);
    int64_t d = now() + 200;
    errno = 0;
    int rc = brecv(s[0], NULL, 1, d);
    int err = errno;
    int64_t t = now();
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_IGN);
    ck_assert_msg(rc == -1 && err == ETIMEDOUT, "brecv: %d %s", rc,
                  tu_errname(err));
    assert_on_time(d, t);
    ck_assert_int_gt(caught_now(), 0);
    tu_close_pair(s);
}
END_TEST

/* The signal mask of thread tid, from /proc. */
static uint64_t blocked_signals(const char *tid)
{
    char path[320], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "r");
    uint64_t mask = 0;
    if (!f)
        return ~0ull; /* gone: nothing to complain about */
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "SigBlk:", 7) == 0)
            mask = strtoull(line + 7, NULL, 16);
    fclose(f);
    return mask;
}

START_TEST(library_threads_block_signals)
{
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer's own background thread does not block signals. */
    fprintf(stderr, "ThreadSanitizer: signal mask check skipped\n");
    return;
#endif
    char me[32];
    snprintf(me, sizeof me, "%d", (int)tu_gettid());
    tu_warm_up();
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int others = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, me) == 0)
            continue;
        others++;
        uint64_t m = blocked_signals(e->d_name);
        int sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE,
                      SIGCHLD, SIGHUP};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
            ck_assert_msg(m & (1ull << (sigs[i] - 1)),
                          "library thread %s does not block signal %d",
                          e->d_name, sigs[i]);
    }
    closedir(d);
    ck_assert_int_ge(others, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("deadline");
    TCase *tc = tu_tcase("precision");
    tcase_add_test(tc, brecv_times_out_no_earlier_than_the_deadline);
    tcase_add_test(tc, brecv_in_a_thread_times_out_no_earlier_than_the_deadline);
    tcase_add_test(tc, every_blocking_call_times_out_no_earlier_than_the_deadline);
    tcase_add_test(tc, deadline_0_and_past_deadlines_return_at_once);
    tcase_add_test(tc, a_later_deadline_is_not_cut_short);
    tcase_add_test(tc, extreme_deadlines_wait_for_data);
    tcase_add_test(tc, eof_is_reported_even_with_deadline_0);
    suite_add_tcase(s, tc);

    tc = tu_tcase("signals");
    tcase_add_test(tc, signals_do_not_interrupt_a_timed_brecv);
    tcase_add_test(tc, signals_do_not_interrupt_untimed_calls);
    tcase_add_test(tc, sigalrm_storm_does_not_interrupt_a_blocked_caller);
    tcase_add_test(tc, library_threads_block_signals);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
