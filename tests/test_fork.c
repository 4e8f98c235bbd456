/* fork: children use inherited handles; prefork servers; no deadlocks. */
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_CHECK(cond, code)                                               \
    do {                                                                      \
        if (!(cond))                                                          \
            _exit(code);                                                      \
    } while (0)

START_TEST(child_can_use_inherited_handles)
{
    tu_warm_up();
    int s[2];
    tu_pair(s);
    pid_t pid = tu_fork(15);
    if (pid == 0) {
        char buf[5];
        CHILD_CHECK(bsend(s[1], "hello", 5, now() + 5000) == 0, 1);
        /* The parent answers late: the child has to wait for it. */
        CHILD_CHECK(brecv(s[1], buf, 5, now() + 10000) == 0, 2);
        CHILD_CHECK(memcmp(buf, "reply", 5) == 0, 3);
        CHILD_CHECK(hclose(s[1]) == 0, 4);
        CHILD_CHECK(hclose(s[0]) == 0, 5);
        _exit(0);
    }
    char buf[5];
    TU_OK(brecv(s[0], buf, 5, now() + 10000));
    ck_assert_mem_eq(buf, "hello", 5);
    tu_sleep_ms(50);
    TU_OK(bsend(s[0], "reply", 5, -1));
    ck_assert_int_eq(tu_reap(pid, 15000), 0);
    /* The parent's handles are unaffected by the child's hclose. */
    TU_OK(bsend(s[1], "still", 5, -1));
    TU_OK(brecv(s[0], buf, 5, now() + 5000));
    ck_assert_mem_eq(buf, "still", 5);
    tu_close_pair(s);
}
END_TEST

/* A prefork worker: serves connections until told to quit. */
static int worker(int ls)
{
    for (;;) {
        int c = ipc_accept(ls, now() + 15000);
        if (c < 0)
            return 10;
        char req[4];
        if (brecv(c, req, 4, now() + 5000) != 0)
            return 11;
        int quit = memcmp(req, "quit", 4) == 0;
        char rep[8];
        int32_t me = (int32_t)getpid();
        memcpy(rep, req, 4);
        memcpy(rep + 4, &me, 4);
        if (bsend(c, rep, 8, now() + 5000) != 0)
            return 12;
        if (hclose(c) != 0)
            return 13;
        if (quit)
            return 0;
    }
}

START_TEST(prefork_server_serves_every_connection)
{
    tu_warm_up();
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "prefork"), 16));
    enum { NW = 3, NREQ = 15 };
    pid_t w[NW];
    for (int i = 0; i < NW; i++) {
        w[i] = tu_fork(25);
        if (w[i] == 0) {
            _exit(worker(ls));
        }
    }
    for (int i = 0; i < NREQ + NW; i++) {
        int c;
        TU_HANDLE(c, ipc_connect(path, now() + 10000));
        char req[5];
        if (i < NREQ)
            snprintf(req, sizeof req, "r%03d", i);
        else
            memcpy(req, "quit", 5);
        TU_OK(bsend(c, req, 4, -1));
        char rep[8];
        TU_OK(brecv(c, rep, 8, now() + 10000));
        ck_assert_mem_eq(rep, req, 4);
        int32_t who;
        memcpy(&who, rep + 4, 4);
        int known = 0;
        for (int j = 0; j < NW; j++)
            known |= who == w[j];
        ck_assert_msg(known, "answer from %d, not a worker", (int)who);
        /* Each quit reply comes from a worker that then exits. */
        TU_FAILS(brecv(c, rep, 1, now() + 5000), EPIPE);
        TU_OK(hclose(c));
    }
    for (int i = 0; i < NW; i++)
        ck_assert_int_eq(tu_reap(w[i], 15000), 0);
    TU_OK(hclose(ls));
}
END_TEST

static void *late_send(void *arg)
{
    tu_sleep_ms(30);
    bsend(*(int *)arg, "late", 4, -1);
    return NULL;
}

/* What a child does while the parent's threads are blocked in calls. */
static int child_after_fork(int blocked_recv, int blocked_recv2)
{
    int s[2];
    if (ipc_pair(s) != 0)
        return 1;
    /* A wait that times out. */
    errno = 0;
    if (brecv(s[0], NULL, 1, now() + 20) != -1 || errno != ETIMEDOUT)
        return 2;
    /* A wait that is woken by a thread of the child. */
    int p[2];
    if (ipc_pair(p) != 0)
        return 4;
    pthread_t th;
    if (pthread_create(&th, NULL, late_send, &p[1]) != 0)
        return 5;
    char buf[4];
    if (brecv(p[0], buf, 4, now() + 10000) != 0 || memcmp(buf, "late", 4))
        return 6;
    pthread_join(th, NULL);
    /* The parent's blocked calls do not exist here: no EBUSY, and hclose
       does not wait for them. */
    errno = 0;
    if (brecv(blocked_recv2, NULL, 1, now() + 20) != -1 || errno != ETIMEDOUT)
        return 7;
    if (hclose(blocked_recv) != 0)
        return 8;
    if (hclose(s[0]) != 0 || hclose(s[1]) != 0)
        return 9;
    if (hclose(p[0]) != 0 || hclose(p[1]) != 0)
        return 10;
    return 0;
}

START_TEST(fork_while_threads_are_blocked_does_not_deadlock_the_child)
{
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer cannot follow a child of a process with many threads
       that starts threads of its own ("dup thread with used id"). */
    fprintf(stderr, "ThreadSanitizer: fork with blocked threads skipped\n");
    return;
#endif
    tu_warm_up();
    enum { NB = 4 };
    int s[NB][2];
    char bufs[NB][4];
    struct tu_op op[NB];
    for (int i = 0; i < NB; i++) {
        tu_pair(s[i]);
        op[i] = (struct tu_op){.kind = TU_BRECV, .h = s[i][0], .buf = bufs[i],
                               .len = 4, .deadline = now() + 20000};
        tu_op_start_blocked(&op[i]);
    }
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op acc = {.kind = TU_ACCEPT, .h = ls, .deadline = now() + 20000};
    tu_op_start_blocked(&acc);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        _exit(child_after_fork(s[0][0], s[1][0]));
    }
    ck_assert_int_eq(tu_reap(pid, 15000), 0);
    /* The parent's threads are still blocked, and wake normally. */
    for (int i = 0; i < NB; i++)
        ck_assert(!tu_op_done(&op[i]));
    for (int i = 0; i < NB; i++)
        TU_OK(bsend(s[i][1], "wake", 4, -1));
    int c;
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    for (int i = 0; i < NB; i++) {
        tu_op_join(&op[i]);
        TU_OP_OK(&op[i]);
        ck_assert_mem_eq(bufs[i], "wake", 4);
        tu_close_pair(s[i]);
    }
    tu_op_join(&acc);
    TU_OP_OK(&acc);
    TU_OK(hclose(acc.rc));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(parent_keeps_working_after_a_child_waited_on_and_closed_its_handles)
{
    tu_warm_up();
    int s[2];
    tu_pair(s);
    /* The parent has waited on s[0], so the library watches it. */
    TU_OK(bsend(s[1], "a", 1, -1));
    char c;
    TU_OK(brecv(s[0], &c, 1, now() + 1000));
    struct tu_op first = {.kind = TU_BRECV, .h = s[0], .buf = &c, .len = 1,
                          .deadline = now() + 5000};
    tu_op_start_blocked(&first);
    TU_OK(bsend(s[1], "b", 1, -1));
    tu_op_join(&first);
    TU_OP_OK(&first);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        /* The child waits on the same socket, then closes it. */
        errno = 0;
        CHILD_CHECK(brecv(s[0], NULL, 1, now() + 30) == -1, 1);
        CHILD_CHECK(errno == ETIMEDOUT, 2);
        CHILD_CHECK(hclose(s[0]) == 0, 3);
        CHILD_CHECK(hclose(s[1]) == 0, 4);
        _exit(0);
    }
    ck_assert_int_eq(tu_reap(pid, 15000), 0);
    /* The parent still gets woken for s[0]. */
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 5000};
    tu_op_start_blocked(&op);
    TU_OK(bsend(s[1], "more", 4, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_mem_eq(buf, "more", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(parent_waits_on_when_a_child_took_the_data)
{
    tu_warm_up();
    int s[2];
    tu_pair(s);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        char buf[4];
        errno = 0;
        if (brecv(s[0], buf, 4, now() + 5000) == 0)
            _exit(buf[0] == '1' ? 11 : buf[0] == '2' ? 12 : 5);
        _exit(errno == ETIMEDOUT ? 3 : 4);
    }
    tu_sleep_ms(100); /* the child waits on the socket */
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 10000};
    tu_op_start_blocked(&op);
    /* Both processes are woken; one gets the data, the other must wait on
       quietly for the next message. */
    TU_OK(bsend(s[1], "1111", 4, -1));
    int st = 0, child_done = 0;
    for (int i = 0; i < 5000 && !tu_op_done(&op); i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            child_done = 1;
            break;
        }
        tu_sleep_ms(1);
    }
    TU_OK(bsend(s[1], "2222", 4, -1));
    int code = child_done ? (WIFEXITED(st) ? WEXITSTATUS(st) : 1000)
                          : tu_reap(pid, 15000);
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_int_eq(op.rc, 0);
    if (code == 11)
        ck_assert_mem_eq(buf, "2222", 4);
    else if (code == 12)
        ck_assert_mem_eq(buf, "1111", 4);
    else
        ck_abort_msg("child ended with %d", code);
    tu_close_pair(s);
}
END_TEST

START_TEST(child_of_a_process_that_never_waited_can_use_the_library)
{
    /* No warm-up: the parent has handles but no I/O machinery yet. */
    int s[2];
    tu_pair(s);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        char buf[2];
        CHILD_CHECK(brecv(s[1], buf, 2, now() + 5000) == 0, 1);
        CHILD_CHECK(memcmp(buf, "hi", 2) == 0, 2);
        CHILD_CHECK(hclose(s[1]) == 0, 3);
        CHILD_CHECK(hclose(s[0]) == 0, 4);
        _exit(0);
    }
    tu_sleep_ms(30);
    TU_OK(bsend(s[0], "hi", 2, -1));
    ck_assert_int_eq(tu_reap(pid, 15000), 0);
    tu_close_pair(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = tu_tcase("fork");
    tcase_add_test(tc, child_can_use_inherited_handles);
    tcase_add_test(tc, prefork_server_serves_every_connection);
    tcase_add_test(tc, fork_while_threads_are_blocked_does_not_deadlock_the_child);
    tcase_add_test(tc,
                   parent_keeps_working_after_a_child_waited_on_and_closed_its_handles);
    tcase_add_test(tc, child_of_a_process_that_never_waited_can_use_the_library);
    tcase_add_test(tc, parent_waits_on_when_a_child_took_the_data);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
