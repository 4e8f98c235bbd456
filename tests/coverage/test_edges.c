/* Edges of the core that the other suites do not reach. Mostly the kernel
   refusing what it almost never refuses: such a test makes one system call
   inside a public call fail (inject.c) and checks the errno the man page
   promises, that nothing was left behind (socket file, descriptor,
   half-made handle) and that what should still work does. */
#include "../reliability/rel.h"
#include "../reliability/failmalloc.h"
#include "inject.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ThreadSanitizer's own background thread comes and goes. */
#ifdef __SANITIZE_THREAD__
#define THREADS_COUNTABLE 0
#else
#define THREADS_COUNTABLE 1
#endif

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Both ends of a fresh pair can talk. */
static void assert_pair_talks(int a, int b)
{
    char buf[3];
    TU_OK(bsend(a, "abc", 3, now() + 5000));
    TU_OK(brecv(b, buf, 3, now() + 5000));
    ck_assert(memcmp(buf, "abc", 3) == 0);
}

/* ---- listening ----------------------------------------------------------*/

START_TEST(listen_mode_passes_on_fchmods_errno_and_creates_no_file)
{
    char path[TU_PATH_MAX];
    tu_path(path, "fchmod");
    int fds = tu_count_fds();
    inj_arm(INJ_FCHMOD, INJ_FAIL, EPERM, INJ_ANY);
    TU_FAILS(ipc_listen_mode(path, 8, 0600), EPERM);
    ck_assert(inj_disarm());
    ck_assert(!path_exists(path));
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

/* fchmodat with AT_SYMLINK_NOFOLLOW fails with EOPNOTSUPP when the path is
   a symbolic link by then (swapped in after bind): the mode cannot be set
   on the socket, which is EACCES to the caller. */
START_TEST(
    listen_mode_fails_with_eacces_and_removes_the_file_if_the_path_became_a_symlink)
{
    char path[TU_PATH_MAX];
    tu_path(path, "fchmodat");
    int fds = tu_count_fds();
    inj_arm(INJ_FCHMODAT, INJ_FAIL, EOPNOTSUPP, INJ_ANY);
    TU_FAILS(ipc_listen_mode(path, 8, 0600), EACCES);
    ck_assert(inj_disarm());
    ck_assert(!path_exists(path));
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

START_TEST(listen_mode_passes_on_chmods_other_errnos_and_removes_the_file)
{
    char path[TU_PATH_MAX];
    tu_path(path, "fchmodat");
    int fds = tu_count_fds();
    inj_arm(INJ_FCHMODAT, INJ_FAIL, EROFS, INJ_ANY);
    TU_FAILS(ipc_listen_mode(path, 8, 0600), EROFS);
    ck_assert(inj_disarm());
    ck_assert(!path_exists(path));
    ck_assert_int_eq(tu_count_fds(), fds);
    /* The same path works once the kernel agrees. */
    int ls;
    TU_HANDLE(ls, ipc_listen_mode(path, 8, 0600));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(listen_passes_on_listens_errno_and_removes_the_file)
{
    char path[TU_PATH_MAX];
    tu_path(path, "listen");
    int fds = tu_count_fds();
    inj_arm(INJ_LISTEN, INJ_FAIL, EOPNOTSUPP, INJ_ANY);
    TU_FAILS(ipc_listen(path, 8), EOPNOTSUPP);
    ck_assert(inj_disarm());
    ck_assert(!path_exists(path));
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

/* ---- accepting and connecting --------------------------------------------*/

/* A listener with one client waiting to be accepted. */
static int listener_with_client(char *path, int *client)
{
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "acc"), 8));
    TU_HANDLE(*client, ipc_connect(path, now() + 5000));
    return ls;
}

START_TEST(
    accept_retries_when_accept4_is_interrupted_or_the_connection_aborted)
{
    const int errs[] = {EINTR, ECONNABORTED};
    for (int i = 0; i < 2; i++) {
        char path[TU_PATH_MAX];
        int c, a;
        int ls = listener_with_client(path, &c);
        inj_arm(INJ_ACCEPT4, INJ_FAIL, errs[i], INJ_ANY);
        TU_HANDLE(a, ipc_accept(ls, now() + 5000));
        ck_assert(inj_disarm());
        ck_assert_int_eq(inj_calls(), 2); /* the refused try, then ours */
        assert_pair_talks(c, a);
        TU_OK(hclose(a));
        TU_OK(hclose(c));
        TU_OK(hclose(ls));
    }
}
END_TEST

START_TEST(
    accept_fails_with_enomem_when_the_kernel_is_out_of_buffers_and_the_client_stays_queued)
{
    char path[TU_PATH_MAX];
    int c, a;
    int ls = listener_with_client(path, &c);
    int fds = tu_count_fds();
    inj_arm(INJ_ACCEPT4, INJ_FAIL, ENOBUFS, INJ_ANY);
    TU_FAILS(ipc_accept(ls, now() + 5000), ENOMEM);
    ck_assert(inj_disarm());
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    assert_pair_talks(a, c);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

/* A connect interrupted after the kernel made the connection: the retry
   says EISCONN, which is success. */
START_TEST(connect_interrupted_after_it_completed_succeeds)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "conn"), 8));
    inj_arm(INJ_CONNECT, INJ_FAIL_AFTER, EINTR, INJ_ANY);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    ck_assert(inj_disarm());
    ck_assert_int_eq(inj_calls(), 2);
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    assert_pair_talks(c, a);
    assert_pair_talks(a, c);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(connect_fails_with_enomem_when_the_kernel_is_out_of_buffers)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "conn"), 8));
    int fds = tu_count_fds();
    inj_arm(INJ_CONNECT, INJ_FAIL, ENOBUFS, INJ_ANY);
    TU_FAILS(ipc_connect(path, now() + 5000), ENOMEM);
    ck_assert(inj_disarm());
    ck_assert_int_eq(tu_count_fds(), fds);
    /* Nobody was queued, and the next connect works. */
    TU_FAILS(ipc_accept(ls, now() + 50), ETIMEDOUT);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    assert_pair_talks(c, a);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

/* ---- connections -----------------------------------------------------------*/

START_TEST(brecv_retries_a_receive_interrupted_by_a_signal)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "hello", 5, now() + 5000));
    char buf[5];
    inj_arm(INJ_RECV, INJ_FAIL, EINTR, INJ_ANY);
    TU_OK(brecv(s[1], buf, 5, now() + 5000));
    ck_assert(inj_disarm());
    ck_assert(memcmp(buf, "hello", 5) == 0);
    assert_pair_talks(s[0], s[1]);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(done_fails_with_econnreset_when_the_kernel_refuses_the_half_close)
{
    int s[2];
    tu_pair(s);
    inj_arm(INJ_SHUTDOWN, INJ_FAIL, ENOTCONN, INJ_ANY);
    TU_FAILS(ipc_done(s[0], -1), ECONNRESET);
    ck_assert(inj_disarm());
    /* The sending side is broken; the receiving side is not. */
    TU_FAILS(bsend(s[0], "x", 1, now() + 5000), ECONNRESET);
    TU_FAILS(ipc_done(s[0], -1), ECONNRESET);
    assert_pair_talks(s[1], s[0]);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

/* Another thread closes the handle while ipc_close drains (held up in its
   recv): the drain still ends cleanly at the peer's EOF, but the call
   reports that the handle was closed under it. */
struct drain {
    int h;
    int rc, err;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    inj_arm(INJ_RECV, INJ_BLOCK, 0, INJ_ANY);
    errno = 0;
    d->rc = ipc_close(d->h, now() + 10000);
    d->err = errno;
    inj_disarm();
    return NULL;
}

START_TEST(
    ipc_close_fails_with_ecanceled_if_another_thread_closed_the_handle_as_it_drained)
{
    int s[2];
    tu_pair(s);
    TU_OK(ipc_done(s[1], -1)); /* the drain will find the EOF at once */
    struct drain d = {s[0], -2, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, drain_main, &d), 0);
    inj_wait_blocked();
    struct tu_op closer = {.kind = TU_HCLOSE, .h = s[0]};
    tu_op_start_blocked(&closer); /* waits for the drain's reference */
    inj_release();
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    tu_op_join(&closer);
    TU_OP_OK(&closer);
    ck_assert_msg(d.rc == -1 && d.err == ECANCELED, "ipc_close: %d %s", d.rc,
                  tu_errname(d.err));
    TU_FAILS(hclose(s[0]), EBADF);
    /* The peer saw the orderly half-close. */
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(peercred_passes_on_getsockopts_errno_and_fills_in_nothing)
{
    int s[2];
    tu_pair(s);
    pid_t pid = -7;
    uid_t uid = 7;
    gid_t gid = 7;
    inj_arm(INJ_GETSOCKOPT, INJ_FAIL, ENOBUFS, SO_PEERCRED);
    TU_FAILS(ipc_peercred(s[0], &pid, &uid, &gid), ENOBUFS);
    ck_assert(inj_disarm());
    ck_assert(pid == -7 && uid == 7 && gid == 7);
    TU_OK(ipc_peercred(s[0], &pid, &uid, &gid));
    ck_assert_int_eq(pid, getpid());
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(
    fromfd_that_cannot_set_o_nonblock_fails_with_einval_and_leaves_the_descriptor)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    inj_arm(INJ_FCNTL, INJ_FAIL, EPERM, F_SETFL);
    TU_FAILS(ipc_fromfd(sp[0]), EINVAL);
    ck_assert(inj_disarm());
    /* Still the caller's, still blocking. */
    ck_assert_int_eq(fcntl(sp[0], F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(write(sp[0], "x", 1), 1);
    char c;
    ck_assert_int_eq(read(sp[1], &c, 1), 1);
    ck_assert_int_eq(close(sp[0]), 0);
    ck_assert_int_eq(close(sp[1]), 0);
}
END_TEST

/* A socket the kernel will not describe (getsockopt, fcntl(F_GETFL)
   failing) is not adopted. */
struct inspect {
    enum inj_fn fn;
    long sel;
    int listening;
};

START_TEST(fromfd_fails_with_einval_when_the_socket_cannot_be_inspected)
{
    const struct inspect cases[] = {
        {INJ_GETSOCKOPT, SO_TYPE, 0},
        {INJ_GETSOCKOPT, SO_ACCEPTCONN, 0},
        {INJ_FCNTL, F_GETFL, 0},
        {INJ_GETSOCKOPT, SO_TYPE, 1},
        {INJ_GETSOCKOPT, SO_ACCEPTCONN, 1},
        {INJ_FCNTL, F_GETFL, 1},
    };
    char path[TU_PATH_MAX];
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tu_path(path, "insp"));
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct inspect *c = &cases[i];
        inj_arm(c->fn, INJ_FAIL, EBADF, c->sel);
        if (c->listening)
            TU_FAILS(ipc_listener_fromfd(lfd), EINVAL);
        else
            TU_FAILS(ipc_fromfd(sp[0]), EINVAL);
        ck_assert_msg(inj_disarm(), "case %zu: not refused", i);
    }
    /* Both still the caller's, and good. */
    int h, l;
    TU_HANDLE(h, ipc_fromfd(sp[0]));
    TU_HANDLE(l, ipc_listener_fromfd(lfd));
    TU_OK(hclose(h));
    TU_OK(hclose(l));
    close(sp[1]);
}
END_TEST

START_TEST(
    fromfd_mem_out_of_memory_fails_with_enomem_and_leaves_the_descriptor)
{
    /* The first handle of a process makes the handle table's first chunk:
       the one allocation of ipc_fromfd_mem. */
    if (getenv("CK_FORK") && strcmp(getenv("CK_FORK"), "no") == 0) {
        fprintf(stderr, "CK_FORK=no: the handle table exists already\n");
        return;
    }
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    struct ipc_storage mem;
    fm_arm(1);
    errno = 0;
    int h = ipc_fromfd_mem(sp[0], &mem);
    int err = errno;
    fm_disarm();
    if (!fm_injected()) {
        /* valgrind replaces malloc in the program too: no injection. */
        ck_assert_msg(tu_valgrind(), "no allocation in ipc_fromfd_mem");
        fprintf(stderr, "valgrind: allocation failure not injected\n");
        TU_OK(hclose(h));
        ck_assert_int_eq(close(sp[1]), 0);
        return;
    }
    ck_assert_msg(h == -1 && err == ENOMEM, "got %d with %s", h,
                  tu_errname(err));
    /* The descriptor is the caller's again, unchanged (blocking). */
    ck_assert_int_eq(fcntl(sp[0], F_GETFL) & O_NONBLOCK, 0);
    TU_HANDLE(h, ipc_fromfd_mem(sp[0], &mem));
    int p;
    TU_HANDLE(p, ipc_fromfd(sp[1]));
    assert_pair_talks(h, p);
    TU_OK(hclose(h));
    TU_OK(hclose(p));
}
END_TEST

/* A descriptor closed while ipc_sendfd waits for room: nothing is sent
   and the connection stays usable, as for a descriptor bad from the
   start. */
START_TEST(sendfd_of_a_descriptor_closed_while_waiting_fails_with_einval)
{
    /* A pair whose sending side's buffer is full, filled through a
       duplicate of its descriptor. */
    static char junk[4096];
    int s[2];
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    int raw = dup(sp[0]);
    ck_assert_int_ge(raw, 0);
    TU_HANDLE(s[0], ipc_fromfd(sp[0]));
    TU_HANDLE(s[1], ipc_fromfd(sp[1]));
    size_t filled = 0;
    for (;;) {
        ssize_t n = send(raw, junk, sizeof junk, MSG_DONTWAIT);
        if (n < 0)
            break;
        filled += (size_t)n;
    }
    ck_assert_int_eq(errno, EAGAIN);
    close(raw);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct tu_op op = {.kind = TU_SENDFD,
                       .h = s[0],
                       .len = (size_t)fd,
                       .deadline = now() + 10000};
    tu_op_start_blocked(&op);
    ck_assert(!tu_op_done(&op));
    ck_assert_int_eq(close(fd), 0);
    /* Room again: the waiting call tries and finds no descriptor. */
    char *buf = malloc(filled);
    TU_OK(brecv(s[1], buf, filled, now() + 5000));
    free(buf);
    tu_op_join(&op);
    TU_OP_FAILED(&op, EINVAL);
    /* Nothing was sent, and the sending side still works: what comes next
       is the descriptor sent now (a lone byte would be EPROTO). */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    TU_OK(ipc_sendfd(s[0], p[1], now() + 5000));
    close(p[1]);
    int got;
    TU_HANDLE(got, ipc_recvfd(s[1], now() + 5000));
    ck_assert(!rel_pipe_write_end_gone(p[0]));
    close(got);
    ck_assert(rel_pipe_write_end_gone(p[0]));
    close(p[0]);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

/* With SO_PASSCRED on the receiving socket every message also carries an
   SCM_CREDENTIALS control message; recvfd looks past it. */
START_TEST(recvfd_finds_the_descriptor_behind_a_credentials_message)
{
    int sp[2], on = 1;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    ck_assert_int_eq(
        setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
    int h;
    TU_HANDLE(h, ipc_fromfd(sp[0]));
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    unsigned char byte = 0xCC;
    ck_assert_int_eq(rel_send_fds(sp[1], &byte, 1, &p[1], 1), 1);
    close(p[1]);
    int fd;
    TU_HANDLE(fd, ipc_recvfd(h, now() + 5000));
    /* It is the pipe's write end: the read end sees EOF only once it goes. */
    ck_assert(!rel_pipe_write_end_gone(p[0]));
    ck_assert_int_eq(close(fd), 0);
    ck_assert(rel_pipe_write_end_gone(p[0]));
    close(p[0]);
    close(sp[1]);
    TU_OK(hclose(h));
}
END_TEST

/* ---- iolists ---------------------------------------------------------------*/

START_TEST(lists_longer_than_size_max_in_all_fail_with_einval_and_move_nothing)
{
    int s[2];
    tu_pair(s);
    char a = 'a';
    struct iolist second = {&a, SIZE_MAX / 2 + 1, NULL, 0};
    struct iolist first = {&a, SIZE_MAX / 2 + 1, &second, 0};
    TU_FAILS(bsendl(s[0], &first, &second, now() + 5000), EINVAL);
    struct iolist skip2 = {NULL, SIZE_MAX / 2 + 1, NULL, 0};
    struct iolist skip1 = {NULL, SIZE_MAX / 2 + 1, &skip2, 0};
    TU_OK(bsend(s[0], "ok", 2, now() + 5000));
    TU_FAILS(brecvl(s[1], &skip1, &skip2, now() + 5000), EINVAL);
    char buf[2];
    TU_OK(brecv(s[1], buf, 2, now() + 5000));
    ck_assert(memcmp(buf, "ok", 2) == 0);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

/* A receive that ends exactly at the end of a piece, with empty pieces
   after it: the next receive goes on in the piece after them. */
START_TEST(brecvl_goes_on_past_empty_pieces_after_a_partial_receive)
{
    int s[2];
    tu_pair(s);
    char a[3], b[2];
    struct iolist pb = {b, 2, NULL, 0};
    struct iolist e2 = {a, 0, &pb, 0};
    struct iolist e1 = {NULL, 0, &e2, 0};
    struct iolist pa = {a, 3, &e1, 0};
    TU_OK(bsend(s[1], "abc", 3, now() + 5000));
    struct tu_op op = {.kind = TU_BRECVL,
                       .h = s[0],
                       .first = &pa,
                       .last = &pb,
                       .deadline = now() + 10000};
    tu_op_start_blocked(&op); /* it has the first 3 bytes */
    TU_OK(bsend(s[1], "de", 2, now() + 5000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert(memcmp(a, "abc", 3) == 0 && memcmp(b, "de", 2) == 0);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

/* ---- the poller --------------------------------------------------------*/

/* Sends one byte on h once thread tid sleeps (in a wait, presumably). */
struct late {
    int h;
    pid_t tid;
    char byte;
    pthread_t th;
};

static void *late_main(void *arg)
{
    struct late *l = arg;
    tu_wait_sleeping(l->tid);
    bsend(l->h, &l->byte, 1, now() + 5000); /* the receiver checks */
    return NULL;
}

static void late_send(struct late *l, int h, char byte)
{
    *l = (struct late){.h = h, .tid = tu_gettid(), .byte = byte};
    ck_assert_int_eq(pthread_create(&l->th, NULL, late_main, l), 0);
}

static void late_join(struct late *l)
{
    ck_assert_int_eq(pthread_join(l->th, NULL), 0);
}

/* In a child whose library has never waited: the first wait cannot make
   the epoll instance. Out of files or not, the caller sees ENOMEM, no
   thread starts, and a later wait makes the poller as usual. */
static void epoll_create_child(void *arg)
{
    (void)arg;
    const int errs[] = {EMFILE, ENFILE, ENOMEM};
    int threads = tu_count_threads();
    for (int i = 0; i < 3; i++) {
        int s[2];
        RC_OK(ipc_pair(s));
        inj_arm(INJ_EPOLL_CREATE1, INJ_FAIL, errs[i], INJ_ANY);
        RC_FAILS(brecv(s[0], NULL, 1, now() + 5000), ENOMEM);
        RC_CHECK(inj_disarm(), "epoll_create1 was not called");
        RC_CHECK(tu_count_threads() == threads, "threads started");
        RC_CHECK(rel_count_epoll_fds() == 0, "an epoll instance");
        RC_OK(hclose(s[0]));
        RC_OK(hclose(s[1]));
    }
    int s[2];
    RC_OK(ipc_pair(s));
    struct late l;
    late_send(&l, s[1], 'x');
    RC_OK(brecv(s[0], NULL, 1, now() + 10000));
    late_join(&l);
    RC_CHECK(rel_count_epoll_fds() == 1, "no epoll instance");
    RC_OK(hclose(s[0]));
    RC_OK(hclose(s[1]));
}

START_TEST(first_wait_fails_with_enomem_when_epoll_cannot_be_made)
{
    rel_in_child(epoll_create_child, NULL, 20);
}
END_TEST

/* Two first waits at once: the second finds the poller the first has just
   started (while it was made, epoll_create1 held up), and uses it. */
struct first_waiter {
    int s[2];
    int block; /* stop in epoll_create1 */
    pid_t tid;
    _Atomic int started;
    int rc, err;
    pthread_t th;
};

static void *first_waiter_main(void *arg)
{
    struct first_waiter *w = arg;
    w->tid = tu_gettid();
    if (w->block)
        inj_arm(INJ_EPOLL_CREATE1, INJ_BLOCK, 0, INJ_ANY);
    atomic_store(&w->started, 1);
    errno = 0;
    w->rc = brecv(w->s[0], NULL, 1, now() + 10000);
    w->err = errno;
    inj_disarm();
    return NULL;
}

static void two_first_waits_child(void *arg)
{
    (void)arg;
    int threads = tu_count_threads();
    struct first_waiter w[2] = {{.block = 1}, {.block = 0}};
    for (int i = 0; i < 2; i++) {
        RC_OK(ipc_pair(w[i].s));
        RC_CHECK(pthread_create(&w[i].th, NULL, first_waiter_main, &w[i]) == 0,
                 "thread");
        if (i == 0)
            inj_wait_blocked(); /* holding the poller's start */
    }
    while (!atomic_load(&w[1].started))
        tu_sleep_ms(1);
    tu_wait_sleeping(w[1].tid); /* waiting for the start */
    inj_release();
    for (int i = 0; i < 2; i++) {
        RC_OK(bsend(w[i].s[1], "x", 1, now() + 5000));
        pthread_join(w[i].th, NULL);
        RC_CHECK(w[i].rc == 0, "brecv %d: %s", i, tu_errname(w[i].err));
        RC_OK(hclose(w[i].s[0]));
        RC_OK(hclose(w[i].s[1]));
    }
    RC_CHECK(rel_count_epoll_fds() == 1, "%d epoll instances",
             rel_count_epoll_fds());
    if (THREADS_COUNTABLE)
        RC_CHECK(tu_count_threads() == threads + 2, "%d threads, %d before",
                 tu_count_threads(), threads);
}

START_TEST(two_first_waits_at_once_start_one_poller)
{
    rel_in_child(two_first_waits_child, NULL, 20);
}
END_TEST

/* epoll_ctl(ADD) fails with ENOSPC at max_user_watches, or ENOMEM. */
START_TEST(wait_fails_with_enomem_when_epoll_refuses_to_watch_the_socket)
{
    tu_warm_up();
    const int errs[] = {ENOSPC, ENOMEM};
    for (int i = 0; i < 2; i++) {
        int s[2];
        tu_pair(s);
        inj_arm(INJ_EPOLL_CTL, INJ_FAIL, errs[i], EPOLL_CTL_ADD);
        TU_FAILS(brecv(s[0], NULL, 1, now() + 5000), ENOMEM);
        ck_assert(inj_disarm());
        /* The receiving side is unusable now, as after any failed
           receive; the sending side works. */
        TU_FAILS(brecv(s[0], NULL, 1, now() + 5000), ECONNRESET);
        assert_pair_talks(s[0], s[1]);
        TU_OK(hclose(s[0]));
        TU_OK(hclose(s[1]));
    }
}
END_TEST

START_TEST(wait_fails_with_enomem_when_epoll_refuses_to_rearm_the_socket)
{
    int s[2];
    tu_pair(s);
    /* A first wait registers the socket. */
    struct late l;
    late_send(&l, s[1], 'x');
    TU_OK(brecv(s[0], NULL, 1, now() + 10000));
    late_join(&l);
    /* The next one re-arms it with EPOLL_CTL_MOD. */
    size_t len = 8 << 20;
    char *big = calloc(1, len);
    inj_arm(INJ_EPOLL_CTL, INJ_FAIL, ENOMEM, EPOLL_CTL_MOD);
    TU_FAILS(bsend(s[0], big, len, now() + 5000), ENOMEM);
    ck_assert(inj_disarm());
    free(big);
    TU_FAILS(bsend(s[0], "x", 1, now() + 5000), ECONNRESET);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

/* The socket dropped out of the epoll interest list behind the library's
   back (EPOLL_CTL_MOD says ENOENT): it is added again, ADD says EEXIST if
   it was there after all, MOD then works, and the wait goes on. */
START_TEST(a_socket_that_fell_out_of_epoll_is_registered_again)
{
    int s[2];
    tu_pair(s);
    struct late l;
    char c = 0;
    late_send(&l, s[1], 'a');
    TU_OK(brecv(s[0], &c, 1, now() + 10000));
    late_join(&l);
    ck_assert_int_eq(c, 'a');
    late_send(&l, s[1], 'b');
    inj_arm(INJ_EPOLL_CTL, INJ_FAIL, ENOENT, EPOLL_CTL_MOD);
    TU_OK(brecv(s[0], &c, 1, now() + 10000));
    ck_assert(inj_disarm());
    ck_assert_int_ge(inj_calls(), 3); /* MOD refused, ADD, MOD */
    late_join(&l);
    ck_assert_int_eq(c, 'b');
    assert_pair_talks(s[1], s[0]);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static void io_threads_child(void *arg)
{
    const char *value = arg;
    setenv("TDILL_IO_THREADS", value, 1);
    int before = tu_count_threads();
    tu_warm_up();
    int started = tu_count_threads() - before;
    RC_CHECK(started == 2, "TDILL_IO_THREADS=\"%s\": %d I/O threads", value,
             started);
}

START_TEST(io_threads_default_to_two_for_any_value_out_of_1_to_64)
{
    if (!THREADS_COUNTABLE) {
        fprintf(stderr, "tsan: thread counts not checked\n");
        return;
    }
    const char *bad[] = {"", "x", "3x", "0", "-1", "65"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        rel_in_child(io_threads_child, (void *)bad[i], 20);
}
END_TEST

/* Stops the process pid and lets it go on, from a process of its own. */
static void stop_and_continue(pid_t pid)
{
    pid_t helper = fork();
    RC_CHECK(helper >= 0, "fork");
    if (helper == 0) {
        kill(pid, SIGSTOP);
        char path[64], stat[256];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        for (int i = 0; i < 5000; i++) {
            FILE *f = fopen(path, "r");
            size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
            if (f)
                fclose(f);
            stat[n] = 0;
            char *p = strrchr(stat, ')');
            if (p && p[1] == ' ' && p[2] == 'T')
                break;
            usleep(1000);
        }
        kill(pid, SIGCONT);
        _exit(0);
    }
    int st;
    while (waitpid(helper, &st, 0) < 0)
        RC_CHECK(errno == EINTR, "waitpid");
}

static int epoll_fd(void)
{
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, "anon_inode:[eventpoll]") == 0)
                return fd;
        }
    }
    return -1;
}

/* After SIGSTOP and SIGCONT, epoll_wait fails with EINTR in every thread
   blocked in it (signal(7)), although they block every signal. */
static void stop_child(void *arg)
{
    (void)arg;
    tu_warm_up();
    int threads = tu_count_threads();
    stop_and_continue(getpid());
    RC_CHECK(tu_count_threads() == threads, "I/O threads gone");
    tu_warm_up(); /* a wait still works */
    if (!THREADS_COUNTABLE || tu_valgrind())
        return;
    /* A program that closes descriptors it does not own: the I/O threads
       end at their next epoll_wait rather than spin on EBADF. */
    int ep = epoll_fd();
    RC_CHECK(ep >= 0, "no epoll instance");
    close(ep);
    stop_and_continue(getpid());
    int64_t end = now() + 5000 * tu_slowness();
    while (tu_count_threads() > threads - 2 && now() < end)
        tu_sleep_ms(5);
    RC_CHECK(tu_count_threads() == threads - 2, "%d threads, %d before",
             tu_count_threads(), threads);
}

START_TEST(io_threads_survive_stop_and_continue_and_end_if_their_epoll_goes)
{
    rel_in_child(stop_child, NULL, 20);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("edges");
    TCase *tc = tu_tcase("listen");
    tcase_add_test(tc,
                   listen_mode_passes_on_fchmods_errno_and_creates_no_file);
    tcase_add_test(
        tc,
        listen_mode_fails_with_eacces_and_removes_the_file_if_the_path_became_a_symlink);
    tcase_add_test(
        tc, listen_mode_passes_on_chmods_other_errnos_and_removes_the_file);
    tcase_add_test(tc, listen_passes_on_listens_errno_and_removes_the_file);
    suite_add_tcase(s, tc);

    tc = tu_tcase("connect");
    tcase_add_test(
        tc,
        accept_retries_when_accept4_is_interrupted_or_the_connection_aborted);
    tcase_add_test(
        tc,
        accept_fails_with_enomem_when_the_kernel_is_out_of_buffers_and_the_client_stays_queued);
    tcase_add_test(tc, connect_interrupted_after_it_completed_succeeds);
    tcase_add_test(
        tc, connect_fails_with_enomem_when_the_kernel_is_out_of_buffers);
    suite_add_tcase(s, tc);

    tc = tu_tcase("connection");
    tcase_add_test(tc, brecv_retries_a_receive_interrupted_by_a_signal);
    tcase_add_test(
        tc, done_fails_with_econnreset_when_the_kernel_refuses_the_half_close);
    tcase_add_test(
        tc,
        ipc_close_fails_with_ecanceled_if_another_thread_closed_the_handle_as_it_drained);
    tcase_add_test(tc,
                   peercred_passes_on_getsockopts_errno_and_fills_in_nothing);
    tcase_add_test(
        tc,
        fromfd_that_cannot_set_o_nonblock_fails_with_einval_and_leaves_the_descriptor);
    tcase_add_test(
        tc, fromfd_fails_with_einval_when_the_socket_cannot_be_inspected);
    tcase_add_test(
        tc,
        fromfd_mem_out_of_memory_fails_with_enomem_and_leaves_the_descriptor);
    tcase_add_test(
        tc, sendfd_of_a_descriptor_closed_while_waiting_fails_with_einval);
    tcase_add_test(tc,
                   recvfd_finds_the_descriptor_behind_a_credentials_message);
    tcase_add_test(
        tc,
        lists_longer_than_size_max_in_all_fail_with_einval_and_move_nothing);
    tcase_add_test(tc,
                   brecvl_goes_on_past_empty_pieces_after_a_partial_receive);
    suite_add_tcase(s, tc);

    tc = tu_tcase("poller");
    tcase_add_test(tc, first_wait_fails_with_enomem_when_epoll_cannot_be_made);
    tcase_add_test(tc, two_first_waits_at_once_start_one_poller);
    tcase_add_test(
        tc, wait_fails_with_enomem_when_epoll_refuses_to_watch_the_socket);
    tcase_add_test(
        tc, wait_fails_with_enomem_when_epoll_refuses_to_rearm_the_socket);
    tcase_add_test(tc, a_socket_that_fell_out_of_epoll_is_registered_again);
    tcase_add_test(tc, io_threads_default_to_two_for_any_value_out_of_1_to_64);
    tcase_add_test(
        tc, io_threads_survive_stop_and_continue_and_end_if_their_epoll_goes);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
