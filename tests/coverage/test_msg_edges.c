/* Edges of the message sockets that test_msg cannot reach: the allocator
   or the kernel refusing (failmalloc.c, inject.c), absurd sizes, and
   fork() with a message socket open. */
#include "../reliability/rel.h"
#include "../reliability/failmalloc.h"
#include "inject.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static void expect_msg(int m, const char *want)
{
    char buf[32];
    ssize_t n = mrecv(m, buf, sizeof(buf), now() + 5000);
    ck_assert_int_eq(n, (ssize_t)strlen(want));
    ck_assert(memcmp(buf, want, (size_t)n) == 0);
}

START_TEST(attach_without_memory_fails_with_enomem_and_consumes_the_socket)
{
    int before = tu_count_fds();
    int s[2];
    tu_pair(s);
    fm_arm(1);
    int m = prefix_attach(s[0], 4, 0);
    int err = errno;
    ck_assert(fm_injected());
    fm_disarm();
    ck_assert_int_eq(m, -1);
    ck_assert_int_eq(err, ENOMEM);
    TU_FAILS(hclose(s[0]), EBADF);
    char c;
    TU_FAILS(brecv(s[1], &c, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

START_TEST(a_suffixed_receive_retries_an_interrupted_peek)
{
    int s[2];
    tu_pair(s);
    int a = suffix_attach(s[0], "\n", 1), b = suffix_attach(s[1], "\n", 1);
    ck_assert(a >= 0 && b >= 0);
    TU_OK(msend(a, "hello", 5, now() + 5000));
    inj_arm(INJ_RECV, INJ_FAIL, EINTR, INJ_ANY);
    expect_msg(b, "hello");
    ck_assert(inj_disarm());
    TU_OK(hclose(a));
    TU_OK(hclose(b));
}
END_TEST

START_TEST(a_suffixed_receive_the_kernel_fails_breaks_the_receiving_side)
{
    int s[2];
    tu_pair(s);
    int a = suffix_attach(s[0], "\n", 1), b = suffix_attach(s[1], "\n", 1);
    ck_assert(a >= 0 && b >= 0);
    TU_OK(msend(a, "hello", 5, now() + 5000));
    inj_arm(INJ_RECV, INJ_FAIL, ENOBUFS, INJ_ANY);
    char buf[8];
    TU_FAILS(mrecv(b, buf, sizeof(buf), now() + 5000), ECONNRESET);
    ck_assert(inj_disarm());
    TU_FAILS(mrecv(b, buf, sizeof(buf), now() + 5000), ECONNRESET);
    TU_OK(msend(b, "back", 4, now() + 5000)); /* the other side lives */
    expect_msg(a, "back");
    TU_OK(hclose(a));
    TU_OK(hclose(b));
}
END_TEST

/* Pieces whose lengths add up to nearly SIZE_MAX: refused on their size,
   before any byte of them is looked at. */
START_TEST(a_message_of_nearly_size_max_bytes_fails_with_emsgsize)
{
    int s[2];
    tu_pair(s);
    int a = prefix_attach(s[0], 8, 0), b = suffix_attach(s[1], "\n", 1);
    ck_assert(a >= 0 && b >= 0);
    char byte = 'x';
    struct iolist second = {&byte, SIZE_MAX / 2, NULL, 0};
    struct iolist first = {&byte, SIZE_MAX / 2, &second, 0};
    TU_FAILS(msendl(a, &first, &second, now() + 5000), EMSGSIZE);
    TU_FAILS(msendl(b, &first, &second, now() + 5000), EMSGSIZE);
    /* Nothing moved, nothing broke. */
    TU_OK(msend(b, "ok", 2, now() + 5000));
    char raw[3];
    TU_HANDLE(s[0], prefix_detach(a));
    TU_OK(brecv(s[0], raw, 3, now() + 5000));
    ck_assert(memcmp(raw, "ok\n", 3) == 0);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(b));
}
END_TEST

/* fork() locks and unlocks every socket, those under message sockets too;
   the child goes on using its copy. */
START_TEST(a_message_socket_works_in_a_forked_child)
{
    int s[2];
    tu_pair(s);
    int a = prefix_attach(s[0], 2, 0), b = prefix_attach(s[1], 2, 0);
    ck_assert(a >= 0 && b >= 0);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        char buf[8];
        int ok = msend(a, "child", 5, now() + 5000) == 0 &&
                 mrecv(a, buf, sizeof(buf), now() + 5000) == 4 &&
                 memcmp(buf, "back", 4) == 0;
        _exit(ok ? 0 : 1);
    }
    expect_msg(b, "child");
    TU_OK(msend(b, "back", 4, now() + 5000));
    ck_assert_int_eq(tu_reap(pid, 10000), 0);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msg_edges");
    TCase *tc = tcase_create("edges");
    tcase_add_test(tc,
                   attach_without_memory_fails_with_enomem_and_consumes_the_socket);
    tcase_add_test(tc, a_suffixed_receive_retries_an_interrupted_peek);
    tcase_add_test(tc,
                   a_suffixed_receive_the_kernel_fails_breaks_the_receiving_side);
    tcase_add_test(tc, a_message_of_nearly_size_max_bytes_fails_with_emsgsize);
    tcase_add_test(tc, a_message_socket_works_in_a_forked_child);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
