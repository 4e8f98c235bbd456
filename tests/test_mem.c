/* The _mem variants: the caller's storage holds the object, NULL storage
   fails with EINVAL, and the storage is the caller's again after hclose. */
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

START_TEST(mem_variants_with_null_storage_fail_with_einval)
{
    char path[TU_PATH_MAX], lpath[TU_PATH_MAX];
    int ls, c, a;
    TU_FAILS(ipc_listen_mem(tu_path(path, "nomem"), 8, NULL), EINVAL);
    ck_assert(!tu_path_exists(path));
    TU_HANDLE(ls, ipc_listen(tu_path(lpath, "ls"), 8));
    TU_FAILS(ipc_connect_mem(lpath, NULL, now() + 1000), EINVAL);
    TU_FAILS(ipc_accept(ls, 0), ETIMEDOUT); /* no connection was made */
    TU_HANDLE(c, ipc_connect(lpath, now() + 5000));
    TU_FAILS(ipc_accept_mem(ls, NULL, now() + 1000), EINVAL);
    /* The pending connection was not consumed. */
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    int s[2] = {-7, -7};
    struct ipc_pair_storage pmem;
    TU_FAILS(ipc_pair_mem(NULL, s), EINVAL);
    TU_FAILS(ipc_pair_mem(&pmem, NULL), EINVAL);
    TU_FAILS(ipc_pair(NULL), EINVAL);
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    TU_FAILS(ipc_fromfd_mem(sp[0], NULL), EINVAL);
    ck_assert(tu_fd_is_open(sp[0]));
    ck_assert_int_eq(fcntl(sp[0], F_GETFL) & O_NONBLOCK, 0);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tu_path(path, "raw"));
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    TU_FAILS(ipc_listener_fromfd_mem(lfd, NULL), EINVAL);
    ck_assert(tu_fd_is_open(lfd));
    close(lfd);
    tu_close_raw_pair(sp);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(mem_variants_work_and_storage_is_free_after_hclose)
{
    char path[TU_PATH_MAX];
    struct ipc_listener_storage *lmem = malloc(sizeof *lmem);
    struct ipc_storage *cmem = malloc(sizeof *cmem);
    struct ipc_storage *amem = malloc(sizeof *amem);
    struct ipc_pair_storage *pmem = malloc(sizeof *pmem);
    int ls, c, a, s[2];
    TU_HANDLE(ls, ipc_listen_mem(tu_path(path, "ls"), 8, lmem));
    TU_HANDLE(c, ipc_connect_mem(path, cmem, now() + 5000));
    TU_HANDLE(a, ipc_accept_mem(ls, amem, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(ipc_pair_mem(pmem, s));
    tu_assert_connected(s[0], s[1]);
    /* Blocking calls on _mem objects. */
    struct tu_op op = {.kind = TU_BRECV, .h = a, .buf = NULL, .len = 3,
                       .deadline = now() + 5000};
    tu_op_start_blocked(&op);
    TU_OK(bsend(c, "abc", 3, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    /* Closed objects must not be touched any more: overwrite and free. */
    TU_OK(hclose(c));
    memset(cmem, 0xA5, sizeof *cmem);
    free(cmem);
    TU_OK(hclose(s[0]));
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    memset(pmem, 0x5A, sizeof *pmem);
    free(pmem);
    TU_FAILS(brecv(a, NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(a));
    memset(amem, 0xFF, sizeof *amem);
    free(amem);
    TU_OK(hclose(ls));
    memset(lmem, 0x00, sizeof *lmem);
    free(lmem);
    TU_FAILS(hclose(c), EBADF);
    TU_FAILS(hclose(a), EBADF);
    TU_FAILS(hclose(ls), EBADF);
    TU_FAILS(hclose(s[0]), EBADF);
    /* The library still works. */
    int p[2];
    tu_pair(p);
    tu_assert_connected(p[0], p[1]);
    tu_close_pair(p);
}
END_TEST

START_TEST(pair_mem_halves_are_independent)
{
    struct ipc_pair_storage pmem;
    int s[2];
    TU_OK(ipc_pair_mem(&pmem, s));
    TU_OK(hclose(s[0]));
    /* The other half lives on in the same storage. */
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_FAILS(bsend(s[1], "x", 1, now() + 5000), ECONNRESET);
    TU_OK(hclose(s[1]));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = tu_tcase("mem");
    tcase_add_test(tc, mem_variants_with_null_storage_fail_with_einval);
    tcase_add_test(tc, mem_variants_work_and_storage_is_free_after_hclose);
    tcase_add_test(tc, pair_mem_halves_are_independent);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
