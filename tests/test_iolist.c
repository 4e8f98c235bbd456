/* bsendl/brecvl: list validation, lists left unchanged, long lists. */
#include "util.h"

#include <stdlib.h>

/* Links n nodes a[0] -> ... -> a[n-1] -> NULL over the given buffers. */
static void link_list(struct iolist *a, int n)
{
    for (int i = 0; i < n; i++) {
        a[i].iol_next = i + 1 < n ? &a[i + 1] : NULL;
        a[i].iol_rsvd = 0;
    }
}

/* A copy of every field, to prove a list came back as it went in. */
struct snap {
    void *base;
    size_t len;
    struct iolist *next;
    int rsvd;
};

static struct snap *take_snap(struct iolist *a, int n)
{
    struct snap *s = malloc(sizeof *s * (n ? n : 1));
    for (int i = 0; i < n; i++)
        s[i] = (struct snap){a[i].iol_base, a[i].iol_len, a[i].iol_next,
                             a[i].iol_rsvd};
    return s;
}

static void assert_snap(struct iolist *a, int n, struct snap *s)
{
    for (int i = 0; i < n; i++) {
        ck_assert_msg(a[i].iol_base == s[i].base && a[i].iol_len == s[i].len &&
                          a[i].iol_next == s[i].next &&
                          a[i].iol_rsvd == s[i].rsvd,
                      "list element %d was changed by the call", i);
    }
    free(s);
}

START_TEST(bsendl_and_brecvl_move_a_list_as_one_message)
{
    int s[2];
    tu_pair(s);
    char p1[] = "abc", p3[] = "defg";
    struct iolist l[3] = {{p1, 3, 0, 0}, {p1, 0, 0, 0}, {p3, 4, 0, 0}};
    link_list(l, 3);
    TU_OK(bsendl(s[0], &l[0], &l[2], -1));
    char r1[2], r2[5];
    struct iolist r[2] = {{r1, 2, 0, 0}, {r2, 5, 0, 0}};
    link_list(r, 2);
    TU_OK(brecvl(s[1], &r[0], &r[1], now() + 5000));
    ck_assert_mem_eq(r1, "ab", 2);
    ck_assert_mem_eq(r2, "cdefg", 5);
    /* The middle of a list as a list of its own. */
    TU_OK(bsendl(s[1], &l[2], &l[2], -1));
    char r3[4];
    struct iolist one = {r3, 4, NULL, 0};
    TU_OK(brecvl(s[0], &one, &one, now() + 5000));
    ck_assert_mem_eq(r3, "defg", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(single_element_lists_work)
{
    int s[2];
    tu_pair(s);
    char out[] = "solo", in[4];
    struct iolist a = {out, 4, NULL, 0}, b = {in, 4, NULL, 0};
    TU_OK(bsendl(s[0], &a, &a, -1));
    TU_OK(brecvl(s[1], &b, &b, now() + 5000));
    ck_assert_mem_eq(in, "solo", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(null_first_or_last_fails_with_einval)
{
    int s[2];
    tu_pair(s);
    char buf[3] = "abc";
    struct iolist a = {buf, 3, NULL, 0};
    TU_FAILS(bsendl(s[0], NULL, &a, -1), EINVAL);
    TU_FAILS(bsendl(s[0], &a, NULL, -1), EINVAL);
    TU_FAILS(bsendl(s[0], NULL, NULL, -1), EINVAL);
    TU_FAILS(brecvl(s[1], NULL, &a, -1), EINVAL);
    TU_FAILS(brecvl(s[1], &a, NULL, -1), EINVAL);
    /* Neither direction died and nothing moved. */
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(last_with_a_next_element_fails_with_einval)
{
    int s[2];
    tu_pair(s);
    char buf[4] = "abcd";
    struct iolist l[2] = {{buf, 2, 0, 0}, {buf + 2, 2, 0, 0}};
    link_list(l, 2);
    TU_FAILS(bsendl(s[0], &l[0], &l[0], -1), EINVAL);
    TU_FAILS(brecvl(s[1], &l[0], &l[0], -1), EINVAL);
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(last_not_reachable_from_first_fails_with_einval)
{
    int s[2];
    tu_pair(s);
    char buf[4] = "abcd";
    struct iolist l[3] = {{buf, 1, 0, 0}, {buf + 1, 1, 0, 0}, {buf + 2, 2, 0, 0}};
    link_list(l, 2);
    l[2].iol_next = NULL;
    l[2].iol_rsvd = 0;
    /* l[2] stands alone. */
    TU_FAILS(bsendl(s[0], &l[0], &l[2], -1), EINVAL);
    TU_FAILS(brecvl(s[1], &l[0], &l[2], -1), EINVAL);
    /* last comes before first. */
    link_list(l, 3);
    TU_FAILS(bsendl(s[0], &l[1], &l[0], -1), EINVAL);
    TU_FAILS(brecvl(s[1], &l[1], &l[0], -1), EINVAL);
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

/* Ring of n nodes; last outside it and, separately, inside it. */
static void check_loop(int s[2], int n, int tail)
{
    struct iolist *l = calloc(n + tail + 1, sizeof *l);
    static char buf[1];
    for (int i = 0; i < n + tail; i++) {
        l[i].iol_base = buf;
        l[i].iol_len = 1;
        l[i].iol_next = &l[i + 1];
    }
    /* tail nodes lead into a ring of n nodes. */
    l[n + tail - 1].iol_next = &l[tail];
    struct iolist *outside = &l[n + tail];
    *outside = (struct iolist){buf, 1, NULL, 0};
    struct snap *sn = take_snap(l, n + tail + 1);
    TU_FAILS(bsendl(s[0], &l[0], outside, -1), EINVAL);
    TU_FAILS(brecvl(s[1], &l[0], outside, -1), EINVAL);
    TU_FAILS(bsendl(s[0], &l[0], &l[n + tail - 1], -1), EINVAL);
    TU_FAILS(brecvl(s[1], &l[0], &l[n + tail - 1], -1), EINVAL);
    assert_snap(l, n + tail + 1, sn);
    free(l);
}

START_TEST(lists_with_loops_fail_with_einval)
{
    int s[2];
    tu_pair(s);
    check_loop(s, 1, 0);
    check_loop(s, 2, 0);
    check_loop(s, 1000, 0);
    check_loop(s, 1, 5);
    check_loop(s, 3, 1);
    check_loop(s, 500, 500);
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(nonzero_rsvd_fails_with_einval_and_moves_nothing)
{
    int s[2];
    tu_pair(s);
    char out[6] = "abcdef", in[6];
    struct iolist l[3] = {{out, 2, 0, 0}, {out + 2, 2, 0, 0}, {out + 4, 2, 0, 0}};
    struct iolist r[3] = {{in, 2, 0, 0}, {in + 2, 2, 0, 0}, {in + 4, 2, 0, 0}};
    TU_OK(bsend(s[0], "queued", 6, -1));
    for (int bad = 0; bad < 3; bad++) {
        link_list(l, 3);
        link_list(r, 3);
        l[bad].iol_rsvd = 1;
        r[bad].iol_rsvd = -1;
        TU_FAILS(bsendl(s[0], &l[0], &l[2], -1), EINVAL);
        TU_FAILS(brecvl(s[1], &r[0], &r[2], 0), EINVAL);
    }
    /* Nothing was sent, nothing was taken, both directions live. */
    tu_expect_bytes(s[1], "queued", 6);
    TU_OK(bsend(s[0], "after", 5, -1));
    tu_expect_bytes(s[1], "after", 5);
    tu_close_pair(s);
}
END_TEST

START_TEST(send_list_with_null_base_and_length_fails_with_einval)
{
    int s[2];
    tu_pair(s);
    char out[2] = "ab";
    struct iolist l[2] = {{out, 2, 0, 0}, {NULL, 3, 0, 0}};
    link_list(l, 2);
    TU_FAILS(bsendl(s[0], &l[0], &l[1], -1), EINVAL);
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(null_base_in_receive_list_skips_bytes)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "0123456789", 10, -1));
    char a[3], b[3];
    struct iolist r[3] = {{a, 3, 0, 0}, {NULL, 4, 0, 0}, {b, 3, 0, 0}};
    link_list(r, 3);
    TU_OK(brecvl(s[1], &r[0], &r[2], now() + 5000));
    ck_assert_mem_eq(a, "012", 3);
    ck_assert_mem_eq(b, "789", 3);
    /* A list of only NULL bases discards. */
    TU_OK(bsend(s[0], "abcdefgh", 8, -1));
    struct iolist d[2] = {{NULL, 5, 0, 0}, {NULL, 1, 0, 0}};
    link_list(d, 2);
    TU_OK(brecvl(s[1], &d[0], &d[1], now() + 5000));
    tu_expect_bytes(s[1], "gh", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(zero_length_lists_succeed_at_once)
{
    int s[2];
    tu_pair(s);
    char c;
    struct iolist l[2] = {{&c, 0, 0, 0}, {NULL, 0, 0, 0}};
    link_list(l, 2);
    TU_OK(bsendl(s[0], &l[0], &l[1], 0));
    TU_OK(brecvl(s[1], &l[0], &l[1], -1));
    TU_OK(bsend(s[0], "z", 1, -1));
    tu_expect_bytes(s[1], "z", 1);
    tu_close_pair(s);
}
END_TEST

START_TEST(list_is_unchanged_after_success)
{
    int s[2];
    tu_pair(s);
    char out[12] = "abcdefghijkl", in[12];
    struct iolist l[4] = {{out, 3, 0, 0}, {out + 3, 0, 0, 0},
                          {out + 3, 5, 0, 0}, {out + 8, 4, 0, 0}};
    struct iolist r[4] = {{in, 1, 0, 0}, {NULL, 2, 0, 0}, {in + 3, 8, 0, 0},
                          {in + 11, 1, 0, 0}};
    link_list(l, 4);
    link_list(r, 4);
    struct snap *sl = take_snap(l, 4), *sr = take_snap(r, 4);
    TU_OK(bsendl(s[0], &l[0], &l[3], -1));
    TU_OK(brecvl(s[1], &r[0], &r[3], now() + 5000));
    assert_snap(l, 4, sl);
    assert_snap(r, 4, sr);
    ck_assert_mem_eq(in, "a", 1);
    ck_assert_mem_eq(in + 3, "defghijkl", 9);
    tu_close_pair(s);
}
END_TEST

START_TEST(list_is_unchanged_after_errors)
{
    int s[2];
    tu_pair(s);
    char in[12];
    /* EINVAL on the last element. */
    struct iolist r[4] = {{in, 1, 0, 0}, {NULL, 2, 0, 0}, {in + 3, 8, 0, 0},
                          {in + 11, 1, 0, 0}};
    link_list(r, 4);
    r[3].iol_rsvd = 5;
    struct snap *sr = take_snap(r, 4);
    TU_FAILS(brecvl(s[1], &r[0], &r[3], 0), EINVAL);
    TU_FAILS(bsendl(s[0], &r[0], &r[3], 0), EINVAL);
    assert_snap(r, 4, sr);
    /* ETIMEDOUT with the list half filled. */
    r[3].iol_rsvd = 0;
    TU_OK(bsend(s[0], "abcde", 5, -1));
    sr = take_snap(r, 4);
    TU_FAILS(brecvl(s[1], &r[0], &r[3], now() + 30), ETIMEDOUT);
    assert_snap(r, 4, sr);
    /* ECONNRESET on the dead direction. */
    sr = take_snap(r, 4);
    TU_FAILS(brecvl(s[1], &r[0], &r[3], 0), ECONNRESET);
    assert_snap(r, 4, sr);
    tu_close_pair(s);

    /* EPIPE when the peer finishes in the middle of the list. */
    tu_pair(s);
    TU_OK(bsend(s[0], "abcdef", 6, -1));
    TU_OK(ipc_done(s[0], -1));
    sr = take_snap(r, 4);
    TU_FAILS(brecvl(s[1], &r[0], &r[3], now() + 5000), EPIPE);
    assert_snap(r, 4, sr);
    tu_close_pair(s);

    /* ETIMEDOUT of a send list that does not fit the buffer. */
    tu_pair(s);
    int n = 64;
    size_t piece = 256 * 1024;
    char *big = calloc(1, piece);
    struct iolist *l = calloc(n, sizeof *l);
    for (int i = 0; i < n; i++) {
        l[i].iol_base = big;
        l[i].iol_len = piece;
    }
    link_list(l, n);
    struct snap *sl = take_snap(l, n);
    TU_FAILS(bsendl(s[0], &l[0], &l[n - 1], now() + 30), ETIMEDOUT);
    assert_snap(l, n, sl);
    free(l);
    free(big);
    tu_close_pair(s);
}
END_TEST

/* Pieces of length 1 + (i * 7) % 13, sender order or reversed. */
static size_t piece_len(int i) { return 1 + (size_t)(i * 7) % 13; }

struct long_list {
    int h;
    int n;
    int reversed;
    int send;
    unsigned char *data;
    size_t total;
    int rc;
    int err;
};

static void *long_list_main(void *arg)
{
    struct long_list *x = arg;
    struct iolist *l = calloc(x->n, sizeof *l);
    size_t off = 0;
    for (int i = 0; i < x->n; i++) {
        size_t len = piece_len(x->reversed ? x->n - 1 - i : i);
        l[i].iol_base = x->data + off;
        l[i].iol_len = len;
        off += len;
    }
    link_list(l, x->n);
    struct snap *sn = take_snap(l, x->n);
    errno = 0;
    x->rc = x->send ? bsendl(x->h, &l[0], &l[x->n - 1], now() + 20000)
                    : brecvl(x->h, &l[0], &l[x->n - 1], now() + 20000);
    x->err = errno;
    for (int i = 0; i < x->n; i++)
        if (l[i].iol_base != sn[i].base || l[i].iol_len != sn[i].len ||
            l[i].iol_next != sn[i].next || l[i].iol_rsvd != 0)
            x->rc = -100;
    free(sn);
    free(l);
    return NULL;
}

/* Runs a send list and a receive list of n elements each, on threads with
   stack_size bytes of stack (0: default). */
static void transfer_long_lists(int n, size_t stack_size)
{
    int s[2];
    tu_pair(s);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += piece_len(i);
    unsigned char *out = malloc(total), *in = calloc(1, total);
    tu_fill(out, total, 1234);
    struct long_list tx = {s[0], n, 0, 1, out, total, 0, 0};
    struct long_list rx = {s[1], n, 1, 0, in, total, 0, 0};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack_size)
        ck_assert_int_eq(pthread_attr_setstacksize(&attr, stack_size), 0);
    pthread_t t1, t2;
    ck_assert_int_eq(pthread_create(&t1, &attr, long_list_main, &tx), 0);
    ck_assert_int_eq(pthread_create(&t2, &attr, long_list_main, &rx), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_attr_destroy(&attr);
    ck_assert_msg(tx.rc == 0, "bsendl: %d %s", tx.rc, tu_errname(tx.err));
    ck_assert_msg(rx.rc == 0, "brecvl: %d %s", rx.rc, tu_errname(rx.err));
    ck_assert_mem_eq(in, out, total);
    free(out);
    free(in);
    tu_close_pair(s);
}

START_TEST(ten_thousand_element_lists_work)
{
    transfer_long_lists(10000, 0);
}
END_TEST

START_TEST(long_lists_work_on_a_small_thread_stack)
{
    /* 200,000 elements: an array of iovecs sized by the list would need
       3 MB of stack; these threads have 256 KB. */
    transfer_long_lists(200000, 256 * 1024);
}
END_TEST

struct drainer {
    int h;
    size_t len;
};

static void *send_then_done(void *arg)
{
    struct drainer *d = arg;
    unsigned char *buf = malloc(d->len);
    tu_fill(buf, d->len, 77);
    bsend(d->h, buf, d->len, now() + 20000);
    ipc_done(d->h, -1);
    free(buf);
    return NULL;
}

START_TEST(brecvl_with_null_list_drains_until_eof_then_fails_with_epipe)
{
    int s[2];
    tu_pair(s);
    struct drainer d = {s[0], 3 << 20};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, send_then_done, &d), 0);
    TU_FAILS(brecvl(s[1], NULL, NULL, now() + 20000), EPIPE);
    pthread_join(th, NULL);
    char c;
    TU_FAILS(brecv(s[1], &c, 1, 0), EPIPE);
    /* The other direction is untouched. */
    TU_OK(bsend(s[1], "r", 1, -1));
    TU_OK(brecv(s[0], &c, 1, now() + 5000));
    ck_assert_int_eq(c, 'r');
    tu_close_pair(s);
}
END_TEST

START_TEST(brecvl_with_null_list_times_out_if_peer_never_finishes)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "some", 4, -1));
    TU_FAILS(brecvl(s[1], NULL, NULL, now() + 50), ETIMEDOUT);
    TU_FAILS(brecv(s[1], NULL, 1, 0), ECONNRESET);
    tu_close_pair(s);
}
END_TEST

START_TEST(bsendl_with_null_list_fails_with_einval)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(bsendl(s[0], NULL, NULL, 0), EINVAL);
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("iolist");
    TCase *tc = tu_tcase("transfer");
    tcase_add_test(tc, bsendl_and_brecvl_move_a_list_as_one_message);
    tcase_add_test(tc, single_element_lists_work);
    tcase_add_test(tc, null_base_in_receive_list_skips_bytes);
    tcase_add_test(tc, zero_length_lists_succeed_at_once);
    suite_add_tcase(s, tc);

    tc = tu_tcase("einval");
    tcase_add_test(tc, null_first_or_last_fails_with_einval);
    tcase_add_test(tc, last_with_a_next_element_fails_with_einval);
    tcase_add_test(tc, last_not_reachable_from_first_fails_with_einval);
    tcase_add_test(tc, lists_with_loops_fail_with_einval);
    tcase_add_test(tc, nonzero_rsvd_fails_with_einval_and_moves_nothing);
    tcase_add_test(tc, send_list_with_null_base_and_length_fails_with_einval);
    tcase_add_test(tc, bsendl_with_null_list_fails_with_einval);
    suite_add_tcase(s, tc);

    tc = tu_tcase("unchanged");
    tcase_add_test(tc, list_is_unchanged_after_success);
    tcase_add_test(tc, list_is_unchanged_after_errors);
    suite_add_tcase(s, tc);

    tc = tu_tcase("long");
    tcase_add_test(tc, ten_thousand_element_lists_work);
    tcase_add_test(tc, long_lists_work_on_a_small_thread_stack);
    suite_add_tcase(s, tc);

    tc = tu_tcase("drain");
    tcase_add_test(tc, brecvl_with_null_list_drains_until_eof_then_fails_with_epipe);
    tcase_add_test(tc, brecvl_with_null_list_times_out_if_peer_never_finishes);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
