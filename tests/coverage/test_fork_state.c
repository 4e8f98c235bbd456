/* What a forked child inherits while other threads are in the middle of
   closing handles: fork() returns at once, a close another thread had
   begun is finished in the child when nothing there holds the object, and
   an object another thread was destroying is forgotten (tdill(7)). The
   other threads are held at a chosen point by inject.c. Children end with
   exit(), not _exit(), so that what they ran is measured too. */
#include "../reliability/rel.h"
#include "inject.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#else
#define ASAN 0
#endif

/* The descriptor behind handle h: the one of its socket pair's two that
   is not the other's (found by comparing descriptor lists). */
static void pair_fds(int s[2], int fd[2])
{
    int before[256], after[256];
    int nb = tu_list_fds(before, 256);
    tu_pair(s);
    int na = tu_list_fds(after, 256), k = 0;
    for (int i = 0; i < na; i++) {
        int old = 0;
        for (int j = 0; j < nb; j++)
            old |= after[i] == before[j];
        if (!old && k < 2)
            fd[k++] = after[i];
    }
    ck_assert_int_eq(k, 2);
    /* socketpair() gives the lower number to s[0]. */
    if (fd[0] > fd[1]) {
        int t = fd[0];
        fd[0] = fd[1];
        fd[1] = t;
    }
}

/* A thread that holds a reference on h inside ipc_peercred, stopped in
   its getsockopt. */
struct holder {
    int h;
    int rc;
    pthread_t th;
};

static void *holder_main(void *arg)
{
    struct holder *x = arg;
    pid_t pid;
    inj_arm(INJ_GETSOCKOPT, INJ_BLOCK, 0, SO_PEERCRED);
    x->rc = ipc_peercred(x->h, &pid, NULL, NULL);
    inj_disarm();
    return NULL;
}

struct child_view {
    int h[2];
    int fd[2];
};

/* In the child: the handle whose close another thread had begun is gone,
   and so is its descriptor; the rest works. */
static void finished_close_child(void *arg)
{
    struct child_view *v = arg;
    RC_FAILS(hclose(v->h[0]), EBADF);
    RC_CHECK(!tu_fd_is_open(v->fd[0]), "descriptor %d still open", v->fd[0]);
    RC_CHECK(tu_fd_is_open(v->fd[1]), "descriptor %d closed", v->fd[1]);
    RC_CHECK(rel_count_epoll_fds() == 0, "the parent's epoll instance");
    tu_warm_up(); /* a poller of its own */
    RC_OK(hclose(v->h[1]));
}

START_TEST(child_finishes_a_close_another_thread_had_begun)
{
    tu_warm_up();
    struct child_view v;
    pair_fds(v.h, v.fd);
    struct holder x = {.h = v.h[0], .rc = -2};
    ck_assert_int_eq(pthread_create(&x.th, NULL, holder_main, &x), 0);
    inj_wait_blocked();
    struct tu_op closer = {.kind = TU_HCLOSE, .h = v.h[0]};
    tu_op_start_blocked(&closer); /* waits for the holder's reference */
    ck_assert(!tu_op_done(&closer));
    int64_t t = now();
    rel_in_child(finished_close_child, &v, 20);
    ck_assert_int_lt(now() - t, 5000 * tu_slowness());
    inj_release();
    ck_assert_int_eq(pthread_join(x.th, NULL), 0);
    ck_assert_int_eq(x.rc, 0);
    tu_op_join(&closer);
    TU_OP_OK(&closer);
    ck_assert(!tu_fd_is_open(v.fd[0]));
    TU_OK(hclose(v.h[1]));
}
END_TEST

/* A thread in hclose, stopped in the close() of the socket's descriptor:
   the object is being torn down. */
static void *destroyer_main(void *arg)
{
    struct tu_op *op = arg;
    inj_arm(INJ_CLOSE, INJ_BLOCK, 0, INJ_ANY);
    op->rc = hclose(op->h);
    op->err = errno;
    inj_disarm();
    return NULL;
}

/* In the child the handle is gone at once; the object's memory and
   descriptor are left to leak. */
static void forgotten_child(void *arg)
{
    struct child_view *v = arg;
    RC_FAILS(hclose(v->h[0]), EBADF);
    RC_FAILS(bsend(v->h[0], "x", 1, 0), EBADF);
    RC_CHECK(tu_fd_is_open(v->fd[0]), "descriptor %d closed", v->fd[0]);
    int s[2];
    RC_OK(ipc_pair(s));
    RC_OK(hclose(s[0]));
    RC_OK(hclose(s[1]));
    RC_OK(hclose(v->h[1]));
    /* The forgotten object's memory is lost here, as ASan's leak checker
       would rightly say at exit. */
    if (ASAN)
        _exit(0);
}

START_TEST(child_forgets_an_object_another_thread_was_destroying)
{
    if (tu_valgrind()) {
        /* It checks for leaks at _exit too. */
        fprintf(stderr, "valgrind: the child's leak would be reported\n");
        return;
    }
    struct child_view v;
    pair_fds(v.h, v.fd);
    struct tu_op op = {.h = v.h[0], .rc = -2};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, destroyer_main, &op), 0);
    inj_wait_blocked();
    int64_t t = now();
    rel_in_child(forgotten_child, &v, 20);
    ck_assert_int_lt(now() - t, 5000 * tu_slowness());
    /* In the parent the close goes on once its close() returns. */
    TU_FAILS(bsend(v.h[0], "x", 1, 0), EBADF);
    inj_release();
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(op.rc, 0);
    ck_assert(!tu_fd_is_open(v.fd[0]));
    TU_OK(hclose(v.h[1]));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fork_state");
    TCase *tc = tu_tcase("closing");
    tcase_add_test(tc, child_finishes_a_close_another_thread_had_begun);
    tcase_add_test(tc, child_forgets_an_object_another_thread_was_destroying);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
