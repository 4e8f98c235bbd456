/* Threads: cross-thread hclose, EBUSY, full duplex, random chaos. */
#include "util.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define BIG (8 << 20)

/* ---- cross-thread hclose ----------------------------------------------*/

START_TEST(hclose_wakes_a_blocked_brecv_with_ecanceled)
{
    int s[2];
    tu_pair(s);
    char buf[10];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 10,
                       .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(bsend(s[1], "part", 4, -1)); /* some bytes, not all */
    tu_sleep_ms(10);
    TU_OK(hclose(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    TU_FAILS(brecv(s[0], buf, 1, 0), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hclose_wakes_a_blocked_bsend_with_ecanceled)
{
    int s[2];
    tu_pair(s);
    char *big = calloc(1, BIG);
    struct tu_op op = {.kind = TU_BSEND, .h = s[0], .buf = big, .len = BIG,
                       .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(hclose(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    free(big);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hclose_wakes_blocked_accepts_with_ecanceled)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct ipc_storage mem[2];
    struct tu_op op[5];
    for (int i = 0; i < 5; i++) {
        op[i] = (struct tu_op){.kind = i < 2 ? TU_ACCEPT_MEM : TU_ACCEPT,
                               .h = ls, .mem = i < 2 ? &mem[i] : NULL,
                               .deadline = i % 2 ? -1 : now() + 20000};
        tu_op_start_blocked(&op[i]);
    }
    TU_OK(hclose(ls));
    for (int i = 0; i < 5; i++) {
        tu_op_join(&op[i]);
        TU_OP_FAILED(&op[i], ECANCELED);
    }
    TU_FAILS(ipc_accept(ls, 0), EBADF);
}
END_TEST

START_TEST(hclose_wakes_blocked_recvfd_with_ecanceled)
{
    int s[2];
    tu_pair(s);
    struct tu_op op = {.kind = TU_RECVFD, .h = s[1], .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(hclose(s[1]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    TU_OK(hclose(s[0]));
}
END_TEST

START_TEST(hclose_wakes_a_blocked_ipc_close_with_ecanceled)
{
    int s[2];
    tu_pair(s);
    struct tu_op op = {.kind = TU_IPC_CLOSE, .h = s[0], .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(hclose(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(hclose_wakes_a_blocked_sender_and_receiver_of_one_handle)
{
    int s[2];
    tu_pair(s);
    char *big = calloc(1, BIG);
    char buf[4];
    struct tu_op tx = {.kind = TU_BSEND, .h = s[0], .buf = big, .len = BIG,
                       .deadline = -1};
    struct tu_op rx = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = now() + 20000};
    tu_op_start_blocked(&tx);
    tu_op_start_blocked(&rx);
    TU_OK(hclose(s[0]));
    tu_op_join(&tx);
    tu_op_join(&rx);
    TU_OP_FAILED(&tx, ECANCELED);
    TU_OP_FAILED(&rx, ECANCELED);
    free(big);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_of_a_handle_in_use_fails_with_ebusy_and_cancels_the_user)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 4,
                       .deadline = -1};
    tu_op_start_blocked(&op);
    TU_FAILS(ipc_close(s[0], now() + 1000), EBUSY);
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

/* The storage of _mem objects is free the moment hclose returns. */
START_TEST(storage_is_untouched_once_hclose_returns)
{
    for (int round = 0; round < 20; round++) {
        struct ipc_pair_storage *pm = malloc(sizeof *pm);
        int s[2];
        TU_OK(ipc_pair_mem(pm, s));
        char buf[4];
        /* One half both sends (into a full buffer) and receives. */
        struct tu_op rx = {.kind = TU_BRECV, .h = s[1], .buf = buf, .len = 4,
                           .deadline = -1};
        char *big = calloc(1, BIG);
        struct tu_op tx = {.kind = TU_BSEND, .h = s[1], .buf = big, .len = BIG,
                           .deadline = -1};
        tu_op_start(&rx);
        tu_op_start(&tx);
        if (round % 4 == 0)
            tu_sleep_ms(20); /* mostly already blocked, sometimes not yet */
        else if (round % 4 == 1)
            tu_sleep_ms(1);
        while (!__atomic_load_n(&rx.started, __ATOMIC_SEQ_CST) ||
               !__atomic_load_n(&tx.started, __ATOMIC_SEQ_CST))
            sched_yield();
        /* Close both halves; then scribble over and free the storage. */
        int r1 = hclose(s[1]);
        int r0 = hclose(s[0]);
        memset(pm, 0xEE, sizeof *pm);
        free(pm);
        tu_op_join(&rx);
        tu_op_join(&tx);
        ck_assert_int_eq(r0, 0);
        ck_assert_int_eq(r1, 0);
        /* Before they blocked (EBADF) or while blocked (ECANCELED). */
        ck_assert_msg(rx.rc == -1 && (rx.err == ECANCELED || rx.err == EBADF),
                      "brecv: %d %s", rx.rc, tu_errname(rx.err));
        ck_assert_msg(tx.rc == -1 && (tx.err == ECANCELED || tx.err == EBADF),
                      "bsend: %d %s", tx.rc, tu_errname(tx.err));
        free(big);
    }
}
END_TEST

START_TEST(listener_storage_is_untouched_once_hclose_returns)
{
    for (int round = 0; round < 10; round++) {
        char path[TU_PATH_MAX];
        struct ipc_listener_storage *lm = malloc(sizeof *lm);
        struct ipc_storage *am = malloc(sizeof *am);
        int ls;
        TU_HANDLE(ls, ipc_listen_mem(tu_path(path, "ls"), 8, lm));
        struct tu_op op = {.kind = TU_ACCEPT_MEM, .h = ls, .mem = am,
                           .deadline = -1};
        tu_op_start_blocked(&op);
        TU_OK(hclose(ls));
        memset(lm, 0xEE, sizeof *lm);
        free(lm);
        tu_op_join(&op);
        TU_OP_FAILED(&op, ECANCELED);
        free(am);
    }
}
END_TEST

/* Field by field: the padding of struct iolist holds nothing. */
static void assert_same_list(struct iolist *a, struct iolist *b, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(a[i].iol_base == b[i].iol_base &&
                          a[i].iol_len == b[i].iol_len &&
                          a[i].iol_next == b[i].iol_next &&
                          a[i].iol_rsvd == b[i].iol_rsvd,
                      "list element %d was changed by the call", i);
}

START_TEST(lists_are_unchanged_after_ecanceled)
{
    int s[2];
    tu_pair(s);
    char a[4], b[4] = "bbb", c[4];
    struct iolist r[3] = {{a, 4, &r[1], 0}, {NULL, 4, &r[2], 0}, {c, 4, NULL, 0}};
    struct iolist copy[3];
    memcpy(copy, r, sizeof r);
    struct tu_op op = {.kind = TU_BRECVL, .h = s[0], .first = &r[0],
                       .last = &r[2], .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(bsend(s[1], "0123456", 7, -1)); /* the list is half filled */
    tu_sleep_ms(20);
    TU_OK(hclose(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    assert_same_list(r, copy, 3);
    TU_OK(hclose(s[1]));

    tu_pair(s);
    size_t piece = 4 << 20;
    char *big = calloc(1, piece);
    struct iolist l[3] = {{big, piece, &l[1], 0}, {b, 4, &l[2], 0},
                          {big, piece, NULL, 0}};
    memcpy(copy, l, sizeof l);
    op = (struct tu_op){.kind = TU_BSENDL, .h = s[0], .first = &l[0],
                        .last = &l[2], .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(hclose(s[0]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECANCELED);
    assert_same_list(l, copy, 3);
    free(big);
    TU_OK(hclose(s[1]));
}
END_TEST

/* ---- EBUSY -------------------------------------------------------------*/

START_TEST(second_concurrent_receiver_fails_with_ebusy_and_disturbs_nothing)
{
    int s[2];
    tu_pair(s);
    unsigned char want[100], got[100];
    tu_fill(want, sizeof want, 42);
    struct tu_op op = {.kind = TU_BRECV, .h = s[1], .buf = got, .len = 100,
                       .deadline = now() + 20000};
    tu_op_start_blocked(&op);
    TU_OK(bsend(s[0], want, 40, -1)); /* the first receiver has some */
    tu_sleep_ms(10);
    char c;
    struct iolist l = {&c, 1, NULL, 0};
    TU_FAILS(brecv(s[1], &c, 1, 0), EBUSY);
    TU_FAILS(brecv(s[1], &c, 1, -1), EBUSY);
    TU_FAILS(brecv(s[1], &c, 1, now() + 1000), EBUSY);
    TU_FAILS(brecv(s[1], NULL, 0, 0), EBUSY);
    TU_FAILS(brecvl(s[1], &l, &l, -1), EBUSY);
    TU_FAILS(brecvl(s[1], NULL, NULL, 0), EBUSY);
    TU_FAILS(ipc_recvfd(s[1], -1), EBUSY);
    ck_assert(!tu_op_done(&op));
    TU_OK(bsend(s[0], want + 40, 60, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_mem_eq(got, want, 100);
    /* The direction is alive and nothing was lost or eaten. */
    TU_OK(bsend(s[0], "next", 4, -1));
    tu_expect_bytes(s[1], "next", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(second_concurrent_sender_fails_with_ebusy_and_disturbs_nothing)
{
    int s[2];
    tu_pair(s);
    char *big = malloc(BIG);
    tu_fill(big, BIG, 8);
    struct tu_op tx = {.kind = TU_BSEND, .h = s[0], .buf = big, .len = BIG,
                       .deadline = now() + 20000};
    tu_op_start_blocked(&tx); /* the buffer is full, the sender waits */
    int fd = dup(1);
    struct iolist l = {"x", 1, NULL, 0};
    TU_FAILS(bsend(s[0], "x", 1, 0), EBUSY);
    TU_FAILS(bsend(s[0], "x", 1, -1), EBUSY);
    TU_FAILS(bsend(s[0], "x", 0, -1), EBUSY);
    TU_FAILS(bsendl(s[0], &l, &l, now() + 1000), EBUSY);
    TU_FAILS(ipc_sendfd(s[0], fd, -1), EBUSY);
    TU_FAILS(ipc_done(s[0], -1), EBUSY);
    close(fd);
    struct tu_xfer rx = {.h = s[1], .len = BIG, .seed = 8, .chunk = 65536,
                         .deadline = now() + 20000};
    tu_receiver(&rx);
    tu_op_join(&tx);
    TU_OP_OK(&tx);
    free(big);
    ck_assert_int_eq(rx.rc, 0);
    ck_assert_int_eq(rx.mismatch, 0);
    /* Nothing of the refused calls reached the wire. */
    TU_OK(bsend(s[0], "tail", 4, -1));
    tu_expect_bytes(s[1], "tail", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(einval_is_checked_before_ebusy)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    struct tu_op op = {.kind = TU_BRECV, .h = s[1], .buf = buf, .len = 4,
                       .deadline = now() + 20000};
    tu_op_start_blocked(&op);
    struct iolist l = {buf, 1, NULL, 1};
    TU_FAILS(brecvl(s[1], NULL, &l, -1), EINVAL);
    TU_FAILS(brecvl(s[1], &l, &l, -1), EINVAL);
    TU_OK(bsend(s[0], "abcd", 4, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_mem_eq(buf, "abcd", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(listeners_never_answer_ebusy)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = now() + 20000};
    tu_op_start_blocked(&op);
    TU_FAILS(ipc_accept(ls, now() + 20), ETIMEDOUT);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    TU_HANDLE(a, op.rc);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

/* ---- full duplex -------------------------------------------------------*/

START_TEST(full_duplex_transfer_from_four_threads)
{
    int s[2];
    tu_pair(s);
    size_t len = 4 << 20;
    int64_t d = now() + 25000;
    struct tu_xfer tx0 = {.h = s[0], .len = len, .seed = 100, .chunk = 50000,
                          .deadline = d};
    struct tu_xfer rx1 = {.h = s[1], .len = len, .seed = 100, .chunk = 30000,
                          .deadline = d};
    struct tu_xfer tx1 = {.h = s[1], .len = len, .seed = 200, .chunk = 70000,
                          .deadline = d};
    struct tu_xfer rx0 = {.h = s[0], .len = len, .seed = 200, .chunk = 9000,
                          .deadline = d};
    tu_send_start(&tx0);
    tu_recv_start(&rx1);
    tu_send_start(&tx1);
    tu_recv_start(&rx0);
    tu_xfer_join(&tx0);
    tu_xfer_join(&rx1);
    tu_xfer_join(&tx1);
    tu_xfer_join(&rx0);
    ck_assert_msg(tx0.rc == 0 && tx1.rc == 0, "send: %s / %s",
                  tu_errname(tx0.err), tu_errname(tx1.err));
    ck_assert_msg(rx0.rc == 0 && rx1.rc == 0, "recv: %s / %s",
                  tu_errname(rx0.err), tu_errname(rx1.err));
    ck_assert_int_eq(rx0.mismatch, 0);
    ck_assert_int_eq(rx1.mismatch, 0);
    tu_close_pair(s);
}
END_TEST

/* ---- races -------------------------------------------------------------*/

struct racer {
    int h;
    pthread_barrier_t *bar;
    int rc;
    int err;
};

static void *close_racer(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->bar);
    errno = 0;
    r->rc = hclose(r->h);
    r->err = errno;
    return NULL;
}

START_TEST(concurrent_hclose_of_one_handle_succeeds_exactly_once)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 3);
    for (int i = 0; i < 200; i++) {
        int s[2];
        tu_pair(s);
        struct racer r[3] = {{s[0], &bar, 0, 0}, {s[0], &bar, 0, 0},
                             {s[0], &bar, 0, 0}};
        pthread_t th[2];
        for (int j = 0; j < 2; j++)
            ck_assert_int_eq(pthread_create(&th[j], NULL, close_racer, &r[j]),
                             0);
        close_racer(&r[2]);
        for (int j = 0; j < 2; j++)
            pthread_join(th[j], NULL);
        int ok = 0;
        for (int j = 0; j < 3; j++) {
            if (r[j].rc == 0)
                ok++;
            else
                ck_assert_msg(r[j].rc == -1 && r[j].err == EBADF,
                              "hclose race: %d %s", r[j].rc,
                              tu_errname(r[j].err));
        }
        ck_assert_int_eq(ok, 1);
        TU_OK(hclose(s[1]));
    }
    pthread_barrier_destroy(&bar);
}
END_TEST

START_TEST(closing_a_listener_while_accepts_complete_leaks_nothing)
{
    tu_warm_up();
    int fds0 = tu_count_fds();
    for (int round = 0; round < 40; round++) {
        char path[TU_PATH_MAX];
        int ls;
        TU_HANDLE(ls, ipc_listen(tu_path(path, "race"), 8));
        struct tu_op acc[2];
        for (int i = 0; i < 2; i++) {
            acc[i] = (struct tu_op){.kind = TU_ACCEPT, .h = ls,
                                    .deadline = now() + 10000};
            tu_op_start(&acc[i]);
        }
        int c[2];
        for (int i = 0; i < 2; i++)
            TU_HANDLE(c[i], ipc_connect(path, now() + 5000));
        if (round % 3 == 1)
            sched_yield();
        else if (round % 3 == 2)
            tu_sleep_ms(1);
        TU_OK(hclose(ls));
        for (int i = 0; i < 2; i++) {
            tu_op_join(&acc[i]);
            if (acc[i].rc >= 0)
                TU_OK(hclose(acc[i].rc));
            else
                ck_assert_msg(acc[i].err == ECANCELED || acc[i].err == EBADF,
                              "accept: %s", tu_errname(acc[i].err));
            TU_OK(hclose(c[i]));
        }
        unlink(path);
    }
    ck_assert_int_eq(tu_count_fds(), fds0);
}
END_TEST

START_TEST(closing_during_recvfd_leaks_no_descriptor)
{
    tu_warm_up();
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int fds0 = tu_count_fds();
    int got = 0;
    for (int round = 0; round < 60; round++) {
        int s[2];
        tu_pair(s);
        struct tu_op op = {.kind = TU_RECVFD, .h = s[1], .deadline = -1};
        tu_op_start(&op);
        if (round % 2)
            tu_sleep_ms(1);
        TU_OK(ipc_sendfd(s[0], p[1], -1));
        if (round % 3 == 0)
            sched_yield();
        TU_OK(hclose(s[1]));
        tu_op_join(&op);
        if (op.rc >= 0) {
            got++;
            close(op.rc);
        } else {
            ck_assert_msg(op.err == ECANCELED || op.err == EBADF,
                          "recvfd: %s", tu_errname(op.err));
        }
        TU_OK(hclose(s[0]));
    }
    ck_assert_int_eq(tu_count_fds(), fds0);
    /* No copy of the write end survived anywhere. */
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 0);
    close(p[0]);
    (void)got;
}
END_TEST

#define NSLOT 24

struct chaos {
    int *slots;
    uint64_t seed;
    int ops;
    int unexpected;  /* results outside the contract */
    char what[128];
};

static int allowed(int rc, int err)
{
    if (rc == 0)
        return 1;
    return rc == -1 && (err == EBADF || err == ETIMEDOUT || err == ECONNRESET ||
                        err == EPIPE || err == EBUSY || err == ECANCELED);
}

static void note(struct chaos *c, const char *op, int rc, int err)
{
    if (allowed(rc, err))
        return;
    if (c->unexpected++ == 0)
        snprintf(c->what, sizeof c->what, "%s: %d %s", op, rc, tu_errname(err));
}

static void replace_slot(struct chaos *c, int i, int h)
{
    int old = __atomic_exchange_n(&c->slots[i], h, __ATOMIC_SEQ_CST);
    if (old >= 0) {
        errno = 0;
        int rc = hclose(old);
        if (rc != 0 && !(rc == -1 && errno == EBADF))
            note(c, "hclose", rc, errno);
    }
}

static void *chaos_main(void *arg)
{
    struct chaos *c = arg;
    uint64_t st = c->seed;
    char buf[64];
    memset(buf, 'c', sizeof buf);
    for (int n = 0; n < c->ops; n++) {
        uint64_t r = tu_rand(&st);
        int i = (int)(r % NSLOT);
        int h = __atomic_load_n(&c->slots[i], __ATOMIC_SEQ_CST);
        int rc;
        errno = 0;
        switch ((r >> 8) % 10) {
        case 0: rc = bsend(h, buf, 1 + (r >> 16) % 64, 0); break;
        case 1: rc = brecv(h, buf, 1 + (r >> 16) % 8, 0); break;
        case 2: rc = bsend(h, buf, 16, now() + 2); break;
        case 3: rc = brecv(h, buf, 4, now() + 2); break;
        case 4: rc = brecv(h, NULL, 2, now() + 1); break;
        case 5: rc = ipc_done(h, 0); break;
        case 6: {
            struct iolist l2 = {buf, 3, NULL, 0}, l1 = {NULL, 2, &l2, 0};
            rc = (r >> 16) % 2 ? brecvl(h, &l1, &l2, now() + 1)
                               : bsendl(h, &l2, &l2, 0);
            break;
        }
        case 7:
            /* Close a handle others may be using right now. */
            rc = hclose(h);
            if (rc != 0 && errno != EBADF)
                note(c, "hclose", rc, errno);
            continue;
        default: {
            int p[2];
            rc = ipc_pair(p);
            if (rc != 0) {
                note(c, "ipc_pair", rc, errno);
                continue;
            }
            replace_slot(c, i, p[0]);
            replace_slot(c, (i + 1) % NSLOT, p[1]);
            continue;
        }
        }
        note(c, "io", rc, errno);
    }
    return NULL;
}

START_TEST(many_threads_using_and_closing_random_handles)
{
    /* Baseline after the library set itself up. */
    int s[2];
    tu_warm_up();
    int fds_before = tu_count_fds();
    char fds_desc[2048];
    tu_describe_fds(fds_desc, sizeof fds_desc);
    int slots[NSLOT];
    for (int i = 0; i < NSLOT; i += 2)
        tu_pair(&slots[i]);
    enum { NT = 4 };
    struct chaos c[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        c[t] = (struct chaos){.slots = slots, .seed = 1000 + t,
                              .ops = tu_valgrind() ? 200 : 1500};
        ck_assert_int_eq(pthread_create(&th[t], NULL, chaos_main, &c[t]), 0);
    }
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NT; t++)
        ck_assert_msg(c[t].unexpected == 0, "%d unexpected results, first: %s",
                      c[t].unexpected, c[t].what);
    for (int i = 0; i < NSLOT; i++) {
        errno = 0;
        int rc = hclose(slots[i]);
        ck_assert_msg(rc == 0 || errno == EBADF, "final hclose: %s",
                      tu_errname(errno));
    }
    /* Every descriptor went back. */
    char now_desc[2048];
    ck_assert_msg(tu_count_fds() == fds_before,
                  "descriptors before: %s\nafter: %s", fds_desc,
                  tu_describe_fds(now_desc, sizeof now_desc));
    /* And the library still works. */
    tu_pair(s);
    TU_OK(bsend(s[0], "alive", 5, -1));
    tu_expect_bytes(s[1], "alive", 5);
    tu_close_pair(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tu_tcase("cancel");
    tcase_add_test(tc, hclose_wakes_a_blocked_brecv_with_ecanceled);
    tcase_add_test(tc, hclose_wakes_a_blocked_bsend_with_ecanceled);
    tcase_add_test(tc, hclose_wakes_blocked_accepts_with_ecanceled);
    tcase_add_test(tc, hclose_wakes_blocked_recvfd_with_ecanceled);
    tcase_add_test(tc, hclose_wakes_a_blocked_ipc_close_with_ecanceled);
    tcase_add_test(tc, hclose_wakes_a_blocked_sender_and_receiver_of_one_handle);
    tcase_add_test(tc,
                   ipc_close_of_a_handle_in_use_fails_with_ebusy_and_cancels_the_user);
    tcase_add_test(tc, storage_is_untouched_once_hclose_returns);
    tcase_add_test(tc, listener_storage_is_untouched_once_hclose_returns);
    tcase_add_test(tc, lists_are_unchanged_after_ecanceled);
    suite_add_tcase(s, tc);

    tc = tu_tcase("ebusy");
    tcase_add_test(tc,
                   second_concurrent_receiver_fails_with_ebusy_and_disturbs_nothing);
    tcase_add_test(tc,
                   second_concurrent_sender_fails_with_ebusy_and_disturbs_nothing);
    tcase_add_test(tc, einval_is_checked_before_ebusy);
    tcase_add_test(tc, listeners_never_answer_ebusy);
    suite_add_tcase(s, tc);

    tc = tu_tcase("duplex");
    tcase_add_test(tc, full_duplex_transfer_from_four_threads);
    suite_add_tcase(s, tc);

    tc = tu_tcase("races");
    tcase_add_test(tc, concurrent_hclose_of_one_handle_succeeds_exactly_once);
    tcase_add_test(tc, many_threads_using_and_closing_random_handles);
    tcase_add_test(tc, closing_a_listener_while_accepts_complete_leaks_nothing);
    tcase_add_test(tc, closing_during_recvfd_leaks_no_descriptor);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
