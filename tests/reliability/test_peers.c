/* Peers that die or stall: a peer process killed by SIGKILL in the middle of
   a transfer, in either direction, and a peer that stops reading. Nothing
   hangs, the errors are the contract's, and the rest keeps working. */
#include "rel.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1 << 20)
/* What a sending peer sends before it goes quiet. */
#define SENT_MB 16

enum peer_role { PEER_SENDS, PEER_READS_THEN_STALLS, PEER_IDLES };

/* A peer process connects `conns` times to path and plays its role until
   killed; it writes one byte to `ready` once it has done its part. */
static pid_t spawn_peer(const char *path, enum peer_role role, int conns,
                        int *ready)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0) {
        close(p[1]);
        *ready = p[0];
        return pid;
    }
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    tu_child_alarm(120);
    int c[4];
    for (int i = 0; i < conns; i++) {
        c[i] = ipc_connect(path, now() + 10000);
        if (c[i] < 0)
            _exit(2);
    }
    unsigned char *buf = malloc(MB);
    tu_fill(buf, MB, 42);
    if (role == PEER_READS_THEN_STALLS &&
        brecv(c[0], buf, MB, now() + 10000) != 0)
        _exit(3);
    if (write(p[1], "r", 1) != 1)
        _exit(4);
    /* A sender sends SENT_MB and then nothing: a receive of more never
       completes, however fast the machine. */
    for (int i = 0; role == PEER_SENDS && i < SENT_MB; i++)
        if (bsend(c[0], buf, MB, -1) != 0)
            _exit(5);
    for (;;)
        pause();
}

static void wait_ready(int ready)
{
    char c;
    ck_assert_int_eq(read(ready, &c, 1), 1);
    close(ready);
}

static int64_t kill_peer(pid_t pid)
{
    int64_t t = now();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    return t;
}

/* Traffic on a connection of our own, both ways, while the peer dies. */
struct bystander {
    int s[2];
    struct tu_xfer x[4];
};

static void bystander_start(struct bystander *b)
{
    tu_pair(b->s);
    for (int i = 0; i < 4; i++) {
        b->x[i] = (struct tu_xfer){.h = b->s[i < 2 ? i : 3 - i],
                                   .len = 8 * MB,
                                   .seed = 100 + (i & 1),
                                   .chunk = 65536,
                                   .deadline = now() + 30000};
        if (i < 2)
            tu_send_start(&b->x[i]);
        else
            tu_recv_start(&b->x[i]);
    }
}

static void bystander_check(struct bystander *b)
{
    for (int i = 0; i < 4; i++)
        tu_xfer_join(&b->x[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(b->x[i].rc == 0 && !b->x[i].mismatch,
                      "other connection, transfer %d: %s%s", i,
                      tu_errname(b->x[i].err),
                      b->x[i].mismatch ? " (bytes differ)" : "");
    TU_OK(hclose(b->s[0]));
    TU_OK(hclose(b->s[1]));
}

START_TEST(
    receiver_fails_with_econnreset_or_epipe_when_the_sending_peer_is_killed)
{
    char path[TU_PATH_MAX];
    int ls, a, ready;
    tu_warm_up();
    TU_HANDLE(ls, ipc_listen(tu_path(path, "kill-snd"), 8));
    int fds = tu_count_fds();
    pid_t pid = spawn_peer(path, PEER_SENDS, 1, &ready);
    TU_HANDLE(a, ipc_accept(ls, now() + 10000));
    wait_ready(ready);
    /* The stream is intact up to the kill. */
    unsigned char *want = malloc(MB), *got = malloc(64 * MB);
    tu_fill(want, MB, 42);
    TU_OK(brecv(a, got, MB, now() + 10000));
    ck_assert(memcmp(got, want, MB) == 0);
    struct bystander b;
    bystander_start(&b);
    /* Blocked in a receive the peer will never complete (it sends less). */
    struct tu_op op = {.kind = TU_BRECV,
                       .h = a,
                       .buf = got,
                       .len = 64 * MB,
                       .deadline = now() + 20000 * tu_slowness()};
    tu_op_start_blocked(&op);
    int64_t killed = kill_peer(pid);
    tu_op_join(&op);
    ck_assert_msg(op.rc == -1 && (op.err == ECONNRESET || op.err == EPIPE),
                  "receive from a killed peer: %d %s", op.rc,
                  tu_errname(op.err));
    ck_assert_msg(op.returned_at - killed < 2000 * tu_slowness(),
                  "receive returned %lld ms after the kill",
                  (long long)(op.returned_at - killed));
    /* The receiving side stays dead with the same answer; sending fails. */
    TU_FAILS(brecv(a, got, 1, now() + 1000), op.err);
    TU_FAILS(bsend(a, "x", 1, now() + 1000), ECONNRESET);
    bystander_check(&b);
    TU_OK(hclose(a));
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(ls));
    free(want);
    free(got);
}
END_TEST

START_TEST(sender_fails_with_econnreset_when_the_receiving_peer_is_killed)
{
    char path[TU_PATH_MAX];
    int ls, a, ready;
    tu_warm_up();
    TU_HANDLE(ls, ipc_listen(tu_path(path, "kill-rcv"), 8));
    int fds = tu_count_fds();
    pid_t pid = spawn_peer(path, PEER_READS_THEN_STALLS, 1, &ready);
    TU_HANDLE(a, ipc_accept(ls, now() + 10000));
    unsigned char *data = malloc(64 * MB);
    tu_fill(data, 64 * MB, 42);
    struct bystander b;
    bystander_start(&b);
    /* The peer takes 1 MB and stops reading: the send blocks. */
    struct tu_op op = {.kind = TU_BSEND,
                       .h = a,
                       .buf = data,
                       .len = 64 * MB,
                       .deadline = now() + 20000 * tu_slowness()};
    tu_op_start(&op);
    wait_ready(ready);
    while (!__atomic_load_n(&op.started, __ATOMIC_SEQ_CST))
        tu_sleep_ms(1);
    tu_wait_sleeping(op.tid);
    ck_assert(!tu_op_done(&op));
    int64_t killed = kill_peer(pid);
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECONNRESET);
    ck_assert_msg(op.returned_at - killed < 2000 * tu_slowness(),
                  "send returned %lld ms after the kill",
                  (long long)(op.returned_at - killed));
    TU_FAILS(bsend(a, "x", 1, now() + 1000), ECONNRESET);
    /* The peer died with our bytes unread: a reset, or at least EOF. */
    errno = 0;
    int rc = brecv(a, data, 1, now() + 1000);
    ck_assert_msg(rc == -1 && (errno == ECONNRESET || errno == EPIPE),
                  "receive after the peer died: %d %s", rc, tu_errname(errno));
    bystander_check(&b);
    TU_OK(hclose(a));
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(ls));
    free(data);
}
END_TEST

START_TEST(blocked_recvfd_and_ipc_close_return_when_the_peer_is_killed)
{
    char path[TU_PATH_MAX];
    int ls, a[2], ready;
    tu_warm_up();
    TU_HANDLE(ls, ipc_listen(tu_path(path, "kill-idle"), 8));
    int fds = tu_count_fds();
    pid_t pid = spawn_peer(path, PEER_IDLES, 2, &ready);
    TU_HANDLE(a[0], ipc_accept(ls, now() + 10000));
    TU_HANDLE(a[1], ipc_accept(ls, now() + 10000));
    wait_ready(ready);
    int64_t dl = now() + 20000 * tu_slowness();
    struct tu_op rfd = {.kind = TU_RECVFD, .h = a[0], .deadline = dl};
    struct tu_op cls = {.kind = TU_IPC_CLOSE, .h = a[1], .deadline = dl};
    tu_op_start_blocked(&rfd);
    tu_op_start_blocked(&cls);
    int64_t killed = kill_peer(pid);
    tu_op_join(&rfd);
    tu_op_join(&cls);
    /* The peer had nothing unread: both see a plain end of stream. */
    TU_OP_FAILED(&rfd, EPIPE);
    ck_assert_msg(cls.rc == 0, "ipc_close: %d %s", cls.rc,
                  tu_errname(cls.err));
    ck_assert(rfd.returned_at - killed < 2000 * tu_slowness());
    ck_assert(cls.returned_at - killed < 2000 * tu_slowness());
    TU_FAILS(hclose(a[1]), EBADF); /* ipc_close closed it */
    TU_OK(hclose(a[0]));
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(ls));
}
END_TEST

/* ---- a peer that stops reading -------------------------------------------*/

struct raw_writer {
    int fd;
    size_t len;
    uint64_t seed;
    int ok;
    pthread_t th;
};

static void *raw_writer_main(void *arg)
{
    struct raw_writer *w = arg;
    unsigned char *buf = malloc(w->len);
    tu_fill(buf, w->len, w->seed);
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = write(w->fd, buf + off, w->len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    w->ok = off == w->len;
    free(buf);
    return NULL;
}

/* What reached the raw peer (all it can read now) is part of the len bytes
   at data, from their start, not all of them. */
static void assert_peer_got_a_prefix(int raw, const unsigned char *data,
                                     size_t len)
{
    unsigned char *got = malloc(len);
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(raw, got + n, len - n, MSG_DONTWAIT);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    ck_assert_msg(n > 0 && n < len, "%zu bytes reached the peer", n);
    ck_assert_msg(memcmp(got, data, n) == 0, "the bytes that arrived differ");
    free(got);
}

START_TEST(
    sender_to_a_peer_that_stops_reading_times_out_and_the_rest_keeps_working)
{
    int raw;
    tu_warm_up();
    int fds = tu_count_fds();
    /* h's peer is a raw socket that reads nothing until the end. */
    int h = tu_raw_peer(&raw);
    /* Meanwhile: the other direction of the same connection, and another
       connection both ways. */
    struct raw_writer w = {.fd = raw, .len = 4 * MB, .seed = 31};
    struct tu_xfer back = {.h = h,
                           .len = 4 * MB,
                           .seed = 31,
                           .chunk = 65536,
                           .deadline = now() + 30000};
    ck_assert_int_eq(pthread_create(&w.th, NULL, raw_writer_main, &w), 0);
    tu_recv_start(&back);
    struct bystander b;
    bystander_start(&b);
    size_t big = 32 * MB;
    unsigned char *data = malloc(big);
    tu_fill(data, big, 32);
    int64_t dl = now() + 300;
    errno = 0;
    int rc = bsend(h, data, big, dl);
    int err = errno;
    int64_t back_at = now();
    ck_assert_msg(rc == -1 && err == ETIMEDOUT,
                  "send to a peer that stopped reading: %d %s", rc,
                  tu_errname(err));
    ck_assert_int_ge(back_at, dl);
    ck_assert_msg(back_at - dl < 1000 * tu_slowness(),
                  "ETIMEDOUT came %lld ms after the deadline",
                  (long long)(back_at - dl));
    /* The sending side is dead... */
    TU_FAILS(bsend(h, "x", 1, -1), ECONNRESET);
    TU_FAILS(ipc_sendfd(h, raw, -1), ECONNRESET);
    /* ...the receiving side and the other connection are not. */
    tu_xfer_join(&back);
    pthread_join(w.th, NULL);
    ck_assert(w.ok);
    ck_assert_msg(back.rc == 0 && !back.mismatch, "other direction: %s%s",
                  tu_errname(back.err),
                  back.mismatch ? " (bytes differ)" : "");
    bystander_check(&b);
    assert_peer_got_a_prefix(raw, data, big);
    TU_OK(hclose(h));
    close(raw);
    ck_assert_int_eq(tu_count_fds(), fds);
    free(data);
}
END_TEST

START_TEST(blocked_sender_to_a_stalled_peer_is_cancelled_and_leaks_nothing)
{
    int s[2];
    tu_warm_up();
    int fds = tu_count_fds();
    tu_pair(s);
    size_t big = 32 * MB;
    unsigned char *data = calloc(1, big);
    struct tu_op op = {
        .kind = TU_BSEND, .h = s[0], .buf = data, .len = big, .deadline = -1};
    tu_op_start_blocked(&op);
    /* Another thread's receive on the same handle is not disturbed. */
    char c;
    struct tu_op rcv = {
        .kind = TU_BRECV, .h = s[0], .buf = &c, .len = 1, .deadline = -1};
    tu_op_start_blocked(&rcv);
    TU_OK(bsend(s[1], "!", 1, now() + 5000));
    tu_op_join(&rcv);
    TU_OP_OK(&rcv);
    ck_assert_int_eq(c, '!');
    ck_assert(!tu_op_done(&op));
    TU_OK(hclose(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), fds);
    free(data);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peers");
    TCase *tc = tu_tcase("killed");
    tcase_add_test(
        tc,
        receiver_fails_with_econnreset_or_epipe_when_the_sending_peer_is_killed);
    tcase_add_test(
        tc, sender_fails_with_econnreset_when_the_receiving_peer_is_killed);
    tcase_add_test(
        tc, blocked_recvfd_and_ipc_close_return_when_the_peer_is_killed);
    suite_add_tcase(s, tc);
    tc = tu_tcase("stalled");
    tcase_add_test(
        tc,
        sender_to_a_peer_that_stops_reading_times_out_and_the_rest_keeps_working);
    tcase_add_test(
        tc, blocked_sender_to_a_stalled_peer_is_cancelled_and_leaks_nothing);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
