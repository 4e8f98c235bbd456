/* The descriptors the IPC calls create: every creating call fails cleanly
   when the process or the kernel runs out (EMFILE, ENFILE, ENOMEM), and
   every descriptor made is close-on-exec. */
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- descriptor and memory exhaustion -----------------------------------*/

/* The test lowers RLIMIT_NOFILE; put it back even when it fails (in
   CK_FORK=no runs the next tests share the process). */
static struct rlimit saved_nofile;
static void save_nofile(void) { getrlimit(RLIMIT_NOFILE, &saved_nofile); }
static void restore_nofile(void) { setrlimit(RLIMIT_NOFILE, &saved_nofile); }

/* Every call that creates a descriptor fails with err: the listens (and
   leave nothing at path), the connects to the listener at lpath, the pairs,
   and the accepts on ls. */
static void assert_creating_calls_fail(int err, const char *path,
                                       const char *lpath, int ls)
{
    struct ipc_listener_storage lmem;
    struct ipc_storage cmem;
    struct ipc_pair_storage pmem;
    int s[2];
    TU_FAILS(ipc_listen(path, 8), err);
    TU_FAILS(ipc_listen_mem(path, 8, &lmem), err);
    TU_FAILS(ipc_listen_mode(path, 8, 0600), err);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_connect(lpath, now() + 1000), err);
    TU_FAILS(ipc_connect_mem(lpath, &cmem, now() + 1000), err);
    TU_FAILS(ipc_pair(s), err);
    TU_FAILS(ipc_pair_mem(&pmem, s), err);
    TU_FAILS(ipc_accept(ls, now() + 1000), err);
    TU_FAILS(ipc_accept_mem(ls, &cmem, 0), err);
}

/* Lowers the soft descriptor limit a little above what is open, then opens
   /dev/null into filler[] until the next open fails with EMFILE; returns
   how many it opened. */
static int use_up_descriptors(int *filler, int max)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = tu_count_fds() + 40;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int nf = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ck_assert_int_eq(errno, EMFILE);
            break;
        }
        ck_assert_int_lt(nf, max);
        filler[nf++] = fd;
    }
    return nf;
}

START_TEST(ipc_calls_fail_with_emfile_when_descriptors_run_out)
{
    char path[TU_PATH_MAX], lpath[TU_PATH_MAX];
    int ls, c, a;
    if (tu_valgrind()) {
        /* valgrind emulates the descriptor limit its own way. */
        fprintf(stderr, "valgrind: EMFILE not tested\n");
        return;
    }
    tu_warm_up();
    TU_HANDLE(ls, ipc_listen(tu_path(lpath, "ls"), 8));
    TU_HANDLE(c, ipc_connect(lpath, now() + 5000)); /* stays pending */
    static int filler[4096];
    int nf = use_up_descriptors(filler, 4096);
    /* Counting needs a descriptor of its own: lend it one. */
    close(filler[--nf]);
    int before = tu_count_fds() + 1;
    filler[nf++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(filler[nf - 1], 0);
    assert_creating_calls_fail(EMFILE, tu_path(path, "emfile"), lpath, ls);
    close(filler[--nf]);
    ck_assert_int_eq(tu_count_fds(), before - 1);
    /* With one descriptor free, the pending connection is still there. */
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    while (nf > 0)
        close(filler[--nf]);
    restore_nofile();
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

/* Makes the kernel refuse sockets with err and checks every creating call
   reports it. */
static void check_kernel_refusal(int err)
{
    char path[TU_PATH_MAX], lpath[TU_PATH_MAX];
    int ls, c;
    tu_warm_up();
    TU_HANDLE(ls, ipc_listen(tu_path(lpath, "ls"), 8));
    TU_HANDLE(c, ipc_connect(lpath, now() + 5000));
    int before = tu_count_fds();
    const char *fork_mode = getenv("CK_FORK");
    if (fork_mode && strcmp(fork_mode, "no") == 0) {
        fprintf(stderr, "CK_FORK=no: %s injection skipped\n", tu_errname(err));
        TU_OK(hclose(c));
        TU_OK(hclose(ls));
        return;
    }
    if (tu_inject_socket_errno(err) != 0) {
        fprintf(stderr, "seccomp unavailable; %s not tested\n",
                tu_errname(err));
        return;
    }
    assert_creating_calls_fail(err, tu_path(path, "refused"), lpath, ls);
    ck_assert_int_eq(tu_count_fds(), before);
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}

START_TEST(ipc_calls_fail_with_enfile_when_the_system_is_out_of_files)
{
    check_kernel_refusal(ENFILE);
}
END_TEST

START_TEST(ipc_calls_fail_with_enomem_when_the_kernel_is_out_of_memory)
{
    check_kernel_refusal(ENOMEM);
}
END_TEST

/* ---- close-on-exec -------------------------------------------------------*/

START_TEST(every_descriptor_the_library_creates_is_close_on_exec)
{
    int before[1024];
    int nb = tu_list_fds(before, 1024);
    char path[TU_PATH_MAX];
    int ls, lm, lmode, c, cm, a, am, s[2], sm[2];
    struct ipc_listener_storage lmem;
    struct ipc_storage cmem, amem;
    struct ipc_pair_storage pmem;
    /* Blocking calls first, so the library's own machinery exists. */
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(ipc_accept(ls, now() + 10), ETIMEDOUT);
    TU_HANDLE(lm, ipc_listen_mem(tu_path(path, "lm"), 8, &lmem));
    TU_HANDLE(lmode, ipc_listen_mode(tu_path(path, "lmode"), 8, 0600));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(cm, ipc_connect_mem(path, &cmem, now() + 5000));
    TU_HANDLE(a, ipc_accept(lmode, now() + 5000));
    TU_HANDLE(am, ipc_accept_mem(lmode, &amem, now() + 5000));
    TU_OK(ipc_pair(s));
    TU_OK(ipc_pair_mem(&pmem, sm));
    TU_FAILS(brecv(s[0], NULL, 1, now() + 10), ETIMEDOUT);
    struct tu_op op = {.kind = TU_BRECV, .h = sm[0], .len = 1,
                       .deadline = now() + 5000};
    tu_op_start_blocked(&op);
    int after[1024];
    int na = tu_list_fds(after, 1024);
    int fresh = 0;
    for (int i = 0; i < na; i++) {
        int old = 0;
        for (int j = 0; j < nb; j++)
            old |= before[j] == after[i];
        if (old)
            continue;
        fresh++;
        int fl = fcntl(after[i], F_GETFD);
        ck_assert_msg(fl != -1 && (fl & FD_CLOEXEC),
                      "descriptor %d is not close-on-exec", after[i]);
    }
    ck_assert_int_ge(fresh, 11);
    TU_OK(bsend(sm[1], "x", 1, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    int h[] = {ls, lm, lmode, c, cm, a, am, s[0], s[1], sm[0], sm[1]};
    for (size_t i = 0; i < sizeof h / sizeof *h; i++)
        TU_OK(hclose(h[i]));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resources");
    /* One case each: they change the process for good. */
    TCase *tc = tu_tcase("emfile");
    tcase_add_checked_fixture(tc, save_nofile, restore_nofile);
    tcase_add_test(tc, ipc_calls_fail_with_emfile_when_descriptors_run_out);
    suite_add_tcase(s, tc);
    tc = tu_tcase("enfile");
    tcase_add_test(tc,
                   ipc_calls_fail_with_enfile_when_the_system_is_out_of_files);
    suite_add_tcase(s, tc);
    tc = tu_tcase("enomem");
    tcase_add_test(tc,
                   ipc_calls_fail_with_enomem_when_the_kernel_is_out_of_memory);
    suite_add_tcase(s, tc);

    tc = tu_tcase("cloexec");
    tcase_add_test(tc, every_descriptor_the_library_creates_is_close_on_exec);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
