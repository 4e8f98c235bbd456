/* IPC calls: listen/connect/accept, address errors, _mem, fromfd, done,
   close, listen_mode, peercred, close-on-exec, full backlogs. */
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- listen, connect, accept -------------------------------------------*/

START_TEST(listen_connect_accept_exchange_data)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    ck_assert(tu_path_exists(path));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(relative_addresses_are_relative_to_the_working_directory)
{
    char old[TU_PATH_MAX], dir[TU_PATH_MAX], abs[TU_PATH_MAX + 16];
    ck_assert_ptr_nonnull(getcwd(old, sizeof old));
    ck_assert_int_eq(mkdir(tu_path(dir, "cwd"), 0700), 0);
    ck_assert_int_eq(chdir(dir), 0);
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen("rel.sock", 8));
    snprintf(abs, sizeof abs, "%s/rel.sock", dir);
    ck_assert(tu_path_exists(abs));
    TU_HANDLE(c, ipc_connect("./rel.sock", now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    ck_assert_int_eq(chdir(old), 0);
    TU_FAILS(ipc_connect("rel.sock", now() + 1000), ENOENT);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(ipc_accept_times_out_with_etimedout_and_listener_stays_usable)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_FAILS(ipc_accept(ls, now() + 30), ETIMEDOUT);
    TU_FAILS(ipc_accept(ls, 0), ETIMEDOUT);
    struct ipc_storage mem;
    TU_FAILS(ipc_accept_mem(ls, &mem, now() - 5), ETIMEDOUT);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, 0)); /* already pending: no wait needed */
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(blocked_ipc_accept_returns_when_a_client_connects)
{
    char path[TU_PATH_MAX];
    int ls, c;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = -1};
    tu_op_start_blocked(&op);
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    tu_assert_connected(c, op.rc);
    TU_OK(hclose(c));
    TU_OK(hclose(op.rc));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(several_threads_may_accept_on_one_listener)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    struct tu_op op[4];
    for (int i = 0; i < 4; i++) {
        op[i] = (struct tu_op){.kind = TU_ACCEPT, .h = ls,
                               .deadline = now() + 10000};
        tu_op_start(&op[i]);
    }
    tu_sleep_ms(50);
    int c[4];
    for (int i = 0; i < 4; i++)
        TU_HANDLE(c[i], ipc_connect(path, now() + 5000));
    for (int i = 0; i < 4; i++) {
        tu_op_join(&op[i]);
        TU_OP_OK(&op[i]);
    }
    for (int i = 0; i < 4; i++) {
        TU_OK(hclose(c[i]));
        TU_OK(hclose(op[i].rc));
    }
    TU_OK(hclose(ls));
}
END_TEST

/* ---- address errors ------------------------------------------------------*/

/* Every call that takes an address must fail on addr with err. */
static void assert_address_fails(const char *addr, int err, int for_listen,
                                 int for_connect)
{
    struct ipc_listener_storage lmem;
    struct ipc_storage cmem;
    if (for_listen) {
        TU_FAILS(ipc_listen(addr, 8), err);
        TU_FAILS(ipc_listen_mem(addr, 8, &lmem), err);
        TU_FAILS(ipc_listen_mode(addr, 8, 0600), err);
    }
    if (for_connect) {
        TU_FAILS(ipc_connect(addr, now() + 1000), err);
        TU_FAILS(ipc_connect_mem(addr, &cmem, now() + 1000), err);
    }
}

START_TEST(null_address_fails_with_einval)
{
    assert_address_fails(NULL, EINVAL, 1, 1);
}
END_TEST

START_TEST(empty_address_fails_with_enoent)
{
    assert_address_fails("", ENOENT, 1, 1);
}
END_TEST

/* A path of exactly len characters inside tu_dir. */
static char *path_of_length(size_t len)
{
    char *p = malloc(len + 1);
    size_t dl = strlen(tu_dir);
    ck_assert_uint_gt(len, dl + 2);
    memcpy(p, tu_dir, dl);
    p[dl] = '/';
    memset(p + dl + 1, 'n', len - dl - 1);
    p[len] = 0;
    return p;
}

START_TEST(address_that_does_not_fit_sun_path_fails_with_enametoolong)
{
    struct sockaddr_un sa;
    size_t max = sizeof sa.sun_path; /* includes the terminating NUL */
    char *p = path_of_length(max);
    assert_address_fails(p, ENAMETOOLONG, 1, 1);
    ck_assert(!tu_path_exists(p));
    free(p);
    p = path_of_length(4000);
    assert_address_fails(p, ENAMETOOLONG, 1, 1);
    free(p);
}
END_TEST

START_TEST(address_of_the_longest_fitting_length_works)
{
    struct sockaddr_un sa;
    char *p = path_of_length(sizeof sa.sun_path - 1);
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(p, 8));
    TU_HANDLE(c, ipc_connect(p, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
    unlink(p);
    free(p);
}
END_TEST

START_TEST(nonexistent_address_fails_with_enoent)
{
    char path[TU_PATH_MAX];
    assert_address_fails(tu_path(path, "missing"), ENOENT, 0, 1);
    char dir[TU_PATH_MAX];
    snprintf(path, sizeof path, "%s/sock", tu_path(dir, "nodir"));
    assert_address_fails(path, ENOENT, 1, 1);
}
END_TEST

START_TEST(connect_without_listener_fails_with_econnrefused)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(hclose(ls));
    ck_assert(tu_path_exists(path)); /* tdill never unlinks */
    assert_address_fails(path, ECONNREFUSED, 0, 1);
    TU_FAILS(ipc_connect(path, 0), ECONNREFUSED);
    TU_FAILS(ipc_connect(path, -1), ECONNREFUSED);
}
END_TEST

START_TEST(connect_to_a_regular_file_fails_with_econnrefused)
{
    char path[TU_PATH_MAX];
    int fd = open(tu_path(path, "file"), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    ck_assert_int_ge(fd, 0);
    close(fd);
    assert_address_fails(path, ECONNREFUSED, 0, 1);
}
END_TEST

START_TEST(listen_on_an_existing_path_fails_with_eaddrinuse)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    assert_address_fails(path, EADDRINUSE, 1, 0);
    /* The failed calls removed nothing: the first listener still works. */
    ck_assert(tu_path_exists(path));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
    /* The file of a closed listener is still in the way. */
    assert_address_fails(path, EADDRINUSE, 1, 0);
    /* So is a regular file, which survives the attempt. */
    int fd = open(tu_path(path, "file"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    assert_address_fails(path, EADDRINUSE, 1, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
}
END_TEST

START_TEST(path_through_a_regular_file_fails_with_enotdir)
{
    char file[TU_PATH_MAX], path[TU_PATH_MAX + 8];
    int fd = open(tu_path(file, "file"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(path, sizeof path, "%s/sock", file);
    assert_address_fails(path, ENOTDIR, 1, 1);
}
END_TEST

START_TEST(path_through_a_symlink_loop_fails_with_eloop)
{
    char link[TU_PATH_MAX], path[TU_PATH_MAX + 8];
    tu_path(link, "loop");
    ck_assert_int_eq(symlink(link, link), 0);
    snprintf(path, sizeof path, "%s/sock", link);
    assert_address_fails(path, ELOOP, 1, 1);
    assert_address_fails(link, ELOOP, 0, 1);
}
END_TEST

START_TEST(listen_with_negative_backlog_fails_with_einval_and_leaves_no_file)
{
    char path[TU_PATH_MAX];
    struct ipc_listener_storage mem;
    TU_FAILS(ipc_listen(tu_path(path, "ls"), -1), EINVAL);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_listen_mem(path, -5, &mem), EINVAL);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_listen_mode(path, -1, 0600), EINVAL);
    ck_assert(!tu_path_exists(path));
}
END_TEST

/* The EACCES checks, run as an unprivileged user; returns 0 or the number
   of the failed step. */
static int eacces_steps(const char *ro_dir, const char *priv, const char *pub,
                        const char *hidden)
{
    char path[TU_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/sock", ro_dir);
    errno = 0;
    if (ipc_listen(path, 8) != -1 || errno != EACCES)
        return 1;
    struct ipc_listener_storage lmem;
    errno = 0;
    if (ipc_listen_mem(path, 8, &lmem) != -1 || errno != EACCES)
        return 2;
    errno = 0;
    if (ipc_listen_mode(path, 8, 0666) != -1 || errno != EACCES)
        return 3;
    errno = 0;
    if (ipc_connect(priv, now() + 1000) != -1 || errno != EACCES)
        return 4;
    struct ipc_storage cmem;
    errno = 0;
    if (ipc_connect_mem(priv, &cmem, now() + 1000) != -1 || errno != EACCES)
        return 5;
    errno = 0;
    if (ipc_connect(hidden, now() + 1000) != -1 || errno != EACCES)
        return 6;
    /* The control: a world-writable socket is reachable. */
    int c = ipc_connect(pub, now() + 1000);
    if (c < 0)
        return 7;
    if (hclose(c) != 0)
        return 8;
    return 0;
}

START_TEST(denied_paths_fail_with_eacces)
{
    char base[TU_PATH_MAX], ro[TU_PATH_MAX + 8], priv[TU_PATH_MAX + 8],
        pub[TU_PATH_MAX + 8], closed[TU_PATH_MAX + 8],
        hidden[TU_PATH_MAX + 16];
    ck_assert_int_eq(chmod(tu_dir, 0711), 0);
    ck_assert_int_eq(mkdir(tu_path(base, "acc"), 0711), 0);
    ck_assert_int_eq(chmod(base, 0711), 0);
    snprintf(ro, sizeof ro, "%s/ro", base);
    ck_assert_int_eq(mkdir(ro, 0555), 0);
    ck_assert_int_eq(chmod(ro, 0555), 0);
    snprintf(priv, sizeof priv, "%s/priv", base);
    snprintf(pub, sizeof pub, "%s/pub", base);
    snprintf(closed, sizeof closed, "%s/closed", base);
    ck_assert_int_eq(mkdir(closed, 0700), 0);
    snprintf(hidden, sizeof hidden, "%s/sock", closed);
    int l1, l2, l3;
    TU_HANDLE(l1, ipc_listen_mode(priv, 8, 0600));
    TU_HANDLE(l2, ipc_listen_mode(pub, 8, 0666));
    TU_HANDLE(l3, ipc_listen_mode(hidden, 8, 0666));
    int rc;
    if (geteuid() != 0) {
        rc = eacces_steps(ro, priv, pub, hidden);
    } else {
        /* Root passes every permission check: drop to nobody in a child. */
        pid_t pid = tu_fork(10);
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
                setuid(65534) != 0)
                _exit(100);
            _exit(eacces_steps(ro, priv, pub, hidden));
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st), "child died, status %#x", st);
        rc = WEXITSTATUS(st);
        if (rc == 100) {
            fprintf(stderr, "cannot drop privileges; EACCES not tested\n");
            rc = 0;
        }
    }
    ck_assert_msg(rc == 0, "EACCES step %d failed", rc);
    TU_OK(hclose(l1));
    TU_OK(hclose(l2));
    TU_OK(hclose(l3));
    chmod(tu_dir, 0700);
}
END_TEST

/* ---- descriptor and memory exhaustion -----------------------------------*/

/* The test lowers RLIMIT_NOFILE; put it back even when it fails (in
   CK_FORK=no runs the next tests share the process). */
static struct rlimit saved_nofile;
static void save_nofile(void) { getrlimit(RLIMIT_NOFILE, &saved_nofile); }
static void restore_nofile(void) { setrlimit(RLIMIT_NOFILE, &saved_nofile); }

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
    /* Use up every descriptor below a small limit. */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = tu_count_fds() + 40;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    static int filler[4096];
    int nf = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ck_assert_int_eq(errno, EMFILE);
            break;
        }
        ck_assert_int_lt(nf, 4096);
        filler[nf++] = fd;
    }
    /* Counting needs a descriptor of its own: lend it one. */
    close(filler[--nf]);
    int before = tu_count_fds() + 1;
    filler[nf++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(filler[nf - 1], 0);
    struct ipc_listener_storage lmem;
    struct ipc_storage cmem;
    struct ipc_pair_storage pmem;
    int s[2];
    TU_FAILS(ipc_listen(tu_path(path, "emfile"), 8), EMFILE);
    TU_FAILS(ipc_listen_mem(path, 8, &lmem), EMFILE);
    TU_FAILS(ipc_listen_mode(path, 8, 0600), EMFILE);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_connect(lpath, now() + 1000), EMFILE);
    TU_FAILS(ipc_connect_mem(lpath, &cmem, now() + 1000), EMFILE);
    TU_FAILS(ipc_pair(s), EMFILE);
    TU_FAILS(ipc_pair_mem(&pmem, s), EMFILE);
    TU_FAILS(ipc_accept(ls, now() + 1000), EMFILE);
    TU_FAILS(ipc_accept_mem(ls, &cmem, 0), EMFILE);
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
    struct ipc_listener_storage lmem;
    struct ipc_storage cmem;
    struct ipc_pair_storage pmem;
    int s[2];
    TU_FAILS(ipc_listen(tu_path(path, "refused"), 8), err);
    TU_FAILS(ipc_listen_mem(path, 8, &lmem), err);
    TU_FAILS(ipc_listen_mode(path, 8, 0600), err);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_connect(lpath, now() + 1000), err);
    TU_FAILS(ipc_connect_mem(lpath, &cmem, now() + 1000), err);
    TU_FAILS(ipc_pair(s), err);
    TU_FAILS(ipc_pair_mem(&pmem, s), err);
    TU_FAILS(ipc_accept(ls, now() + 1000), err);
    TU_FAILS(ipc_accept_mem(ls, &cmem, 0), err);
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

/* ---- _mem variants -------------------------------------------------------*/

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
    close(sp[0]);
    close(sp[1]);
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

/* ---- ipc_fromfd / ipc_listener_fromfd ------------------------------------*/

struct fdstate {
    int fl;
    int fd_flags;
};

static struct fdstate fd_state(int fd)
{
    return (struct fdstate){fcntl(fd, F_GETFL), fcntl(fd, F_GETFD)};
}

/* fromfd(fd) must fail with EINVAL and leave fd exactly as it was. */
static void assert_rejected(int fd, int listener, const char *what)
{
    struct fdstate st = fd_state(fd);
    int open_before = tu_fd_is_open(fd);
    struct ipc_storage cmem;
    struct ipc_listener_storage lmem;
    int rc[2];
    int err[2];
    errno = 0;
    rc[0] = listener ? ipc_listener_fromfd(fd) : ipc_fromfd(fd);
    err[0] = errno;
    errno = 0;
    rc[1] = listener ? ipc_listener_fromfd_mem(fd, &lmem)
                     : ipc_fromfd_mem(fd, &cmem);
    err[1] = errno;
    for (int i = 0; i < 2; i++)
        ck_assert_msg(rc[i] == -1 && err[i] == EINVAL,
                      "%s%s(%s): expected -1 with EINVAL, got %d with %s",
                      listener ? "ipc_listener_fromfd" : "ipc_fromfd",
                      i ? "_mem" : "", what, rc[i], tu_errname(err[i]));
    ck_assert_int_eq(tu_fd_is_open(fd), open_before);
    struct fdstate after = fd_state(fd);
    ck_assert_msg(after.fl == st.fl && after.fd_flags == st.fd_flags,
                  "%s: descriptor flags changed", what);
}

/* A bound AF_UNIX stream socket, listening if asked. */
static int raw_unix_socket(int do_bind, int do_listen)
{
    char path[TU_PATH_MAX];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (do_bind) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tu_path(path, "raw"));
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    }
    if (do_listen)
        ck_assert_int_eq(listen(fd, 8), 0);
    return fd;
}

/* A connected TCP pair on loopback, or -1s when there is no loopback. */
static void tcp_pair(int fds[3])
{
    fds[0] = fds[1] = fds[2] = -1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(l, 4) != 0 || getsockname(l, (struct sockaddr *)&sa, &sl)) {
        if (l >= 0)
            close(l);
        return;
    }
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c);
        close(l);
        return;
    }
    fds[0] = l;
    fds[1] = c;
    fds[2] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

START_TEST(ipc_fromfd_wraps_a_connected_unix_stream_socket)
{
    for (int cloexec = 0; cloexec < 2; cloexec++) {
        int sp[2];
        ck_assert_int_eq(
            socketpair(AF_UNIX, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0,
                       sp),
            0);
        int h;
        TU_HANDLE(h, ipc_fromfd(sp[0]));
        /* Non-blocking now; close-on-exec as the caller left it. */
        ck_assert(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
        ck_assert_int_eq(!!(fcntl(sp[0], F_GETFD) & FD_CLOEXEC), cloexec);
        TU_OK(bsend(h, "to raw", 6, now() + 5000));
        char buf[8];
        ck_assert_int_eq(read(sp[1], buf, 6), 6);
        ck_assert_mem_eq(buf, "to raw", 6);
        ck_assert_int_eq(write(sp[1], "to tdill", 8), 8);
        tu_expect_bytes(h, "to tdill", 8);
        /* The handle owns the descriptor. */
        TU_OK(hclose(h));
        ck_assert(!tu_fd_is_open(sp[0]));
        ck_assert_int_eq(read(sp[1], buf, 1), 0);
        close(sp[1]);
    }
    /* The accepted end of a listener works too, and the _mem variant. */
    int l = raw_unix_socket(1, 1);
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sl), 0);
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(a, 0);
    struct ipc_storage m1, m2;
    int h1, h2;
    TU_HANDLE(h1, ipc_fromfd_mem(c, &m1));
    TU_HANDLE(h2, ipc_fromfd_mem(a, &m2));
    tu_assert_connected(h1, h2);
    TU_OK(hclose(h1));
    TU_OK(hclose(h2));
    close(l);
}
END_TEST

START_TEST(ipc_fromfd_of_a_wrong_descriptor_fails_with_einval_and_leaves_it)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
    assert_rejected(sp[0], 0, "AF_UNIX SOCK_DGRAM");
    ck_assert_int_eq(write(sp[0], "d", 1), 1); /* still ours and working */
    char c;
    ck_assert_int_eq(read(sp[1], &c, 1), 1);
    close(sp[0]);
    close(sp[1]);

    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    assert_rejected(sp[0], 0, "AF_UNIX SOCK_SEQPACKET");
    close(sp[0]);
    close(sp[1]);

    int fd = raw_unix_socket(0, 0);
    assert_rejected(fd, 0, "unconnected AF_UNIX stream");
    close(fd);
    fd = raw_unix_socket(1, 0);
    assert_rejected(fd, 0, "bound unconnected AF_UNIX stream");
    close(fd);
    fd = raw_unix_socket(1, 1);
    assert_rejected(fd, 0, "listening AF_UNIX stream");
    close(fd);

    int t[3];
    tcp_pair(t);
    if (t[0] >= 0) {
        assert_rejected(t[0], 0, "listening TCP");
        assert_rejected(t[1], 0, "connected TCP");
        ck_assert_int_eq(write(t[1], "t", 1), 1);
        ck_assert_int_eq(read(t[2], &c, 1), 1);
        for (int i = 0; i < 3; i++)
            close(t[i]);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_rejected(fd, 0, "unconnected TCP");
    close(fd);

    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    assert_rejected(p[0], 0, "pipe");
    assert_rejected(p[1], 0, "pipe");
    close(p[0]);
    close(p[1]);
    fd = open("/dev/null", O_RDWR);
    assert_rejected(fd, 0, "/dev/null");
    close(fd);
    /* Not a descriptor at all. */
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    close(fd);
    assert_rejected(fd, 0, "closed fd");
    assert_rejected(-1, 0, "-1");
    assert_rejected(1 << 24, 0, "huge fd");
}
END_TEST

START_TEST(ipc_listener_fromfd_wraps_a_listening_unix_socket)
{
    int fd = raw_unix_socket(1, 1);
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    int ls, c, a;
    TU_HANDLE(ls, ipc_listener_fromfd(fd));
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    TU_FAILS(ipc_accept(ls, now() + 20), ETIMEDOUT);
    TU_HANDLE(c, ipc_connect(sa.sun_path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
    ck_assert(!tu_fd_is_open(fd));

    /* _mem, with close-on-exec off. */
    fd = raw_unix_socket(1, 1);
    sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    ck_assert_int_eq(fcntl(fd, F_SETFD, 0), 0);
    struct ipc_listener_storage lmem;
    TU_HANDLE(ls, ipc_listener_fromfd_mem(fd, &lmem));
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    TU_HANDLE(c, ipc_connect(sa.sun_path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(a));
    TU_OK(hclose(c));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(ipc_listener_fromfd_of_a_wrong_descriptor_fails_with_einval)
{
    int fd = raw_unix_socket(0, 0);
    assert_rejected(fd, 1, "unbound AF_UNIX stream");
    close(fd);
    fd = raw_unix_socket(1, 0);
    assert_rejected(fd, 1, "bound, not listening AF_UNIX stream");
    close(fd);
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    assert_rejected(sp[0], 1, "connected AF_UNIX stream");
    ck_assert_int_eq(write(sp[0], "s", 1), 1);
    char c;
    ck_assert_int_eq(read(sp[1], &c, 1), 1);
    close(sp[0]);
    close(sp[1]);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
    assert_rejected(sp[0], 1, "AF_UNIX SOCK_DGRAM");
    close(sp[0]);
    close(sp[1]);
    int t[3];
    tcp_pair(t);
    if (t[0] >= 0) {
        assert_rejected(t[0], 1, "listening TCP");
        assert_rejected(t[1], 1, "connected TCP");
        for (int i = 0; i < 3; i++)
            close(t[i]);
    }
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    assert_rejected(p[0], 1, "pipe");
    close(p[0]);
    close(p[1]);
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    close(fd);
    assert_rejected(fd, 1, "closed fd");
    assert_rejected(-1, 1, "-1");
}
END_TEST

/* ---- ipc_done ------------------------------------------------------------*/

START_TEST(ipc_done_lets_the_peer_read_everything_then_epipe)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "final words", 11, -1));
    TU_OK(ipc_done(s[0], -1));
    tu_expect_bytes(s[1], "final words", 11);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    /* Receiving on the done side still works. */
    TU_OK(bsend(s[1], "answer", 6, -1));
    tu_expect_bytes(s[0], "answer", 6);
    tu_close_pair(s);
}
END_TEST

START_TEST(ipc_done_twice_fails_with_epipe)
{
    int s[2];
    tu_pair(s);
    TU_OK(ipc_done(s[0], now() + 1000));
    TU_FAILS(ipc_done(s[0], now() + 1000), EPIPE);
    TU_FAILS(ipc_done(s[0], 0), EPIPE);
    tu_close_pair(s);
}
END_TEST

START_TEST(ipc_done_on_a_broken_send_side_fails_with_econnreset)
{
    int s[2];
    tu_pair(s);
    size_t big = 16 << 20;
    char *buf = calloc(1, big);
    TU_FAILS(bsend(s[0], buf, big, 0), ETIMEDOUT);
    TU_FAILS(ipc_done(s[0], -1), ECONNRESET);
    free(buf);
    tu_close_pair(s);
}
END_TEST

START_TEST(ipc_done_never_waits_even_with_a_full_buffer)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    /* Fill the kernel buffer before tdill sees the socket. */
    ck_assert_int_eq(fcntl(sp[0], F_SETFL, O_NONBLOCK), 0);
    static char chunk[4096];
    size_t filled = 0;
    while (write(sp[0], chunk, sizeof chunk) > 0)
        filled += sizeof chunk;
    ck_assert_int_eq(errno, EAGAIN);
    int h;
    TU_HANDLE(h, ipc_fromfd(sp[0]));
    int64_t t0 = now();
    TU_OK(ipc_done(h, 0));
    ck_assert_int_lt(now() - t0, 1000 * tu_slowness());
    /* The raw peer reads everything, then EOF. */
    size_t got = 0;
    ssize_t n;
    while ((n = read(sp[1], chunk, sizeof chunk)) > 0)
        got += n;
    ck_assert_int_eq(n, 0);
    ck_assert_uint_ge(got, filled);
    TU_OK(hclose(h));
    close(sp[1]);
}
END_TEST

/* ---- ipc_close -----------------------------------------------------------*/

/* Peer side of an orderly close: drain until EOF, then finish too. */
static void *drain_then_done(void *arg)
{
    int h = *(int *)arg;
    brecvl(h, NULL, NULL, now() + 10000);
    ipc_done(h, -1);
    return NULL;
}

START_TEST(ipc_close_returns_0_after_the_peer_finishes_and_closes)
{
    int s[2];
    tu_pair(s);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, drain_then_done, &s[1]), 0);
    TU_OK(bsend(s[0], "bye", 3, -1));
    TU_OK(ipc_close(s[0], now() + 10000));
    pthread_join(th, NULL);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

static void *send_2mb_then_done(void *arg)
{
    int h = *(int *)arg;
    size_t len = 2 << 20;
    char *buf = calloc(1, len);
    bsend(h, buf, len, now() + 10000);
    ipc_done(h, -1);
    free(buf);
    return NULL;
}

START_TEST(ipc_close_drops_unread_inbound_data)
{
    int s[2];
    tu_pair(s);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, send_2mb_then_done, &s[1]), 0);
    TU_OK(ipc_close(s[0], now() + 10000));
    pthread_join(th, NULL);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_times_out_with_etimedout_and_still_closes)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(ipc_close(s[0], now() + 50), ETIMEDOUT);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_FAILS(brecv(s[1], NULL, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
    tu_pair(s);
    TU_FAILS(ipc_close(s[0], 0), ETIMEDOUT);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_with_a_broken_direction_fails_with_econnreset_and_closes)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(brecv(s[0], NULL, 1, 0), ETIMEDOUT);
    TU_OK(ipc_done(s[1], -1));
    TU_FAILS(ipc_close(s[0], now() + 5000), ECONNRESET);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
    tu_pair(s);
    char *big = calloc(1, 16 << 20);
    TU_FAILS(bsend(s[0], big, 16 << 20, 0), ETIMEDOUT);
    free(big);
    TU_OK(ipc_done(s[1], -1));
    TU_FAILS(ipc_close(s[0], now() + 5000), ECONNRESET);
    TU_FAILS(hclose(s[0]), EBADF);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(ipc_close_on_a_listener_is_hclose_and_unlinks_nothing)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(ipc_close(ls, now() + 1000));
    TU_FAILS(hclose(ls), EBADF);
    ck_assert(tu_path_exists(path));
    TU_FAILS(ipc_connect(path, now() + 1000), ECONNREFUSED);
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(ipc_close(ls, 0));
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_OK(hclose(ls));
    ck_assert(tu_path_exists(path));
}
END_TEST

START_TEST(ipc_close_after_peer_hclose_returns_0)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[1]));
    TU_OK(ipc_close(s[0], now() + 5000));
    TU_FAILS(hclose(s[0]), EBADF);
}
END_TEST

/* ---- ipc_listen_mode -----------------------------------------------------*/

START_TEST(ipc_listen_mode_sets_the_exact_mode_whatever_the_umask)
{
    mode_t saved = umask(022);
    mode_t masks[] = {022, 077, 0, 0777};
    mode_t modes[] = {0600, 0666, 0777, 0640, 0604, 0};
    for (size_t i = 0; i < sizeof masks / sizeof *masks; i++) {
        for (size_t j = 0; j < sizeof modes / sizeof *modes; j++) {
            char path[TU_PATH_MAX];
            umask(masks[i]);
            int ls;
            TU_HANDLE(ls, ipc_listen_mode(tu_path(path, "mode"), 8, modes[j]));
            ck_assert_int_eq(umask(022), masks[i]); /* umask left alone */
            struct stat st;
            ck_assert_int_eq(stat(path, &st), 0);
            ck_assert(S_ISSOCK(st.st_mode));
            ck_assert_msg((st.st_mode & 07777) == modes[j],
                          "mode %04o under umask %03o gave %04o",
                          (unsigned)modes[j], (unsigned)masks[i],
                          (unsigned)(st.st_mode & 07777));
            TU_OK(hclose(ls));
        }
    }
    umask(saved);
}
END_TEST

START_TEST(ipc_listen_mode_listener_accepts_connections)
{
    char path[TU_PATH_MAX];
    int ls, c, a;
    mode_t saved = umask(077);
    TU_HANDLE(ls, ipc_listen_mode(tu_path(path, "mode"), 8, 0666));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
    umask(saved);
}
END_TEST

START_TEST(ipc_listen_mode_with_bits_outside_07777_fails_with_einval)
{
    char path[TU_PATH_MAX];
    TU_FAILS(ipc_listen_mode(tu_path(path, "mode"), 8, 010000), EINVAL);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_listen_mode(path, 8, S_IFSOCK | 0600), EINVAL);
    ck_assert(!tu_path_exists(path));
    TU_FAILS(ipc_listen_mode(path, 8, (mode_t)-1), EINVAL);
    ck_assert(!tu_path_exists(path));
}
END_TEST

struct mode_watch {
    const char *path;
    int stop;
    long seen;       /* times the socket file was there */
    long wider;      /* times it had bits beyond 0600 */
    long files;      /* regular files created */
    long wrong_mask; /* regular files whose mode did not follow the umask */
    unsigned worst;
};

/* Watches the socket file for a mode wider than asked. */
static void *watch_mode(void *arg)
{
    struct mode_watch *w = arg;
    while (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
        struct stat st;
        if (lstat(w->path, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        w->seen++;
        if (st.st_mode & 07777 & ~0600u) {
            w->wider++;
            w->worst = st.st_mode & 07777;
        }
    }
    return NULL;
}

/* Creates files and checks that their mode follows the process umask (0). */
static void *watch_umask(void *arg)
{
    struct mode_watch *w = arg;
    char path[TU_PATH_MAX];
    snprintf(path, sizeof path, "%s.umask", w->path);
    while (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            continue;
        struct stat st;
        fstat(fd, &st);
        close(fd);
        unlink(path);
        w->files++;
        if ((st.st_mode & 07777) != 0666)
            w->wrong_mask++;
    }
    return NULL;
}

START_TEST(ipc_listen_mode_never_exposes_a_wider_mode_nor_touches_the_umask)
{
    char path[TU_PATH_MAX];
    mode_t saved = umask(0); /* a plain bind would create the file 0777 */
    struct mode_watch w = {.path = tu_path(path, "watched")};
    pthread_t t1, t2;
    ck_assert_int_eq(pthread_create(&t1, NULL, watch_mode, &w), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, watch_umask, &w), 0);
    int bad = 0;
    for (int i = 0; i < 300; i++) {
        int ls = ipc_listen_mode(path, 8, 0600);
        if (ls < 0 || hclose(ls) != 0)
            bad++;
        unlink(path);
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    umask(saved);
    ck_assert_int_eq(bad, 0);
    ck_assert_msg(w.wider == 0,
                  "socket file seen %ld times with mode %04o instead of 0600 "
                  "(of %ld looks)",
                  w.wider, w.worst, w.seen);
    ck_assert_msg(w.wrong_mask == 0,
                  "%ld of %ld files created meanwhile missed the umask",
                  w.wrong_mask, w.files);
}
END_TEST

/* ---- ipc_peercred --------------------------------------------------------*/

static void assert_own_creds(int h)
{
    pid_t pid = 0;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    TU_OK(ipc_peercred(h, &pid, &uid, &gid));
    ck_assert_int_eq(pid, getpid());
    ck_assert_int_eq(uid, geteuid());
    ck_assert_int_eq(gid, getegid());
    pid = 0;
    TU_OK(ipc_peercred(h, &pid, NULL, NULL));
    ck_assert_int_eq(pid, getpid());
    uid = (uid_t)-1;
    TU_OK(ipc_peercred(h, NULL, &uid, NULL));
    ck_assert_int_eq(uid, geteuid());
    gid = (gid_t)-1;
    TU_OK(ipc_peercred(h, NULL, NULL, &gid));
    ck_assert_int_eq(gid, getegid());
    TU_OK(ipc_peercred(h, NULL, NULL, NULL));
}

START_TEST(ipc_peercred_returns_our_own_pid_uid_gid)
{
    int s[2];
    tu_pair(s);
    assert_own_creds(s[0]);
    assert_own_creds(s[1]);
    tu_close_pair(s);
    char path[TU_PATH_MAX];
    int ls, c, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    TU_HANDLE(c, ipc_connect(path, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    assert_own_creds(c);
    assert_own_creds(a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(ipc_peercred_reports_the_peer_process)
{
    char path[TU_PATH_MAX];
    int ls, a;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    pid_t child = tu_fork(20);
    if (child == 0) {
        int c = ipc_connect(path, now() + 5000);
        if (c < 0)
            _exit(1);
        char x;
        if (brecv(c, &x, 1, now() + 10000) != 0)
            _exit(2);
        _exit(0);
    }
    TU_HANDLE(a, ipc_accept(ls, now() + 10000));
    pid_t pid = 0;
    TU_OK(ipc_peercred(a, &pid, NULL, NULL));
    TU_OK(bsend(a, "x", 1, -1));
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert_int_eq(pid, child);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    TU_OK(hclose(a));
    TU_OK(hclose(ls));
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

/* ---- full backlog --------------------------------------------------------*/

START_TEST(ipc_connect_to_a_full_backlog_times_out_never_eagain)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 1));
    int conns[16], nc = 0, timeouts = 0;
    for (int i = 0; i < 6; i++) {
        errno = 0;
        int64_t d = now() + 30;
        int c = ipc_connect(path, d);
        int e = errno;
        if (c >= 0) {
            ck_assert_int_eq(timeouts, 0); /* nothing succeeds once full */
            conns[nc++] = c;
            continue;
        }
        ck_assert_msg(c == -1 && e == ETIMEDOUT,
                      "connect to a full backlog: %d with %s", c,
                      tu_errname(e));
        ck_assert_int_ge(now(), d);
        timeouts++;
    }
    ck_assert_int_ge(timeouts, 1);
    ck_assert_int_ge(nc, 1);
    TU_FAILS(ipc_connect(path, 0), ETIMEDOUT);
    struct ipc_storage mem;
    TU_FAILS(ipc_connect_mem(path, &mem, now() - 10), ETIMEDOUT);
    /* Waiting connects complete once the server accepts. */
    struct tu_op op[3];
    for (int i = 0; i < 3; i++) {
        op[i] = (struct tu_op){.kind = TU_CONNECT, .addr = path,
                               .deadline = now() + 15000};
        tu_op_start(&op[i]);
    }
    tu_sleep_ms(50);
    int accepted[16], na = 0;
    for (int i = 0; i < nc + 3; i++) {
        int a;
        TU_HANDLE(a, ipc_accept(ls, now() + 10000));
        accepted[na++] = a;
    }
    for (int i = 0; i < 3; i++) {
        tu_op_join(&op[i]);
        TU_OP_OK(&op[i]);
        conns[nc++] = op[i].rc;
    }
    /* Timed-out attempts left nothing behind in the queue. */
    TU_FAILS(ipc_accept(ls, now() + 50), ETIMEDOUT);
    /* Every pending connection is a working one. */
    for (int i = 0; i < nc; i++)
        TU_OK(bsend(conns[i], "c", 1, -1));
    for (int i = 0; i < na; i++) {
        char ch;
        TU_OK(brecv(accepted[i], &ch, 1, now() + 5000));
        ck_assert_int_eq(ch, 'c');
        TU_OK(hclose(accepted[i]));
    }
    for (int i = 0; i < nc; i++)
        TU_OK(hclose(conns[i]));
    TU_OK(hclose(ls));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ipc");
    TCase *tc = tu_tcase("connect");
    tcase_add_test(tc, listen_connect_accept_exchange_data);
    tcase_add_test(tc, relative_addresses_are_relative_to_the_working_directory);
    tcase_add_test(tc,
                   ipc_accept_times_out_with_etimedout_and_listener_stays_usable);
    tcase_add_test(tc, blocked_ipc_accept_returns_when_a_client_connects);
    tcase_add_test(tc, several_threads_may_accept_on_one_listener);
    tcase_add_test(tc, ipc_connect_to_a_full_backlog_times_out_never_eagain);
    suite_add_tcase(s, tc);

    tc = tu_tcase("addresses");
    tcase_add_test(tc, null_address_fails_with_einval);
    tcase_add_test(tc, empty_address_fails_with_enoent);
    tcase_add_test(tc,
                   address_that_does_not_fit_sun_path_fails_with_enametoolong);
    tcase_add_test(tc, address_of_the_longest_fitting_length_works);
    tcase_add_test(tc, nonexistent_address_fails_with_enoent);
    tcase_add_test(tc, connect_without_listener_fails_with_econnrefused);
    tcase_add_test(tc, connect_to_a_regular_file_fails_with_econnrefused);
    tcase_add_test(tc, listen_on_an_existing_path_fails_with_eaddrinuse);
    tcase_add_test(tc, path_through_a_regular_file_fails_with_enotdir);
    tcase_add_test(tc, path_through_a_symlink_loop_fails_with_eloop);
    tcase_add_test(tc,
                   listen_with_negative_backlog_fails_with_einval_and_leaves_no_file);
    tcase_add_test(tc, denied_paths_fail_with_eacces);
    suite_add_tcase(s, tc);

    /* One case each: they change the process for good. */
    tc = tu_tcase("emfile");
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

    tc = tu_tcase("mem");
    tcase_add_test(tc, mem_variants_with_null_storage_fail_with_einval);
    tcase_add_test(tc, mem_variants_work_and_storage_is_free_after_hclose);
    tcase_add_test(tc, pair_mem_halves_are_independent);
    suite_add_tcase(s, tc);

    tc = tu_tcase("fromfd");
    tcase_add_test(tc, ipc_fromfd_wraps_a_connected_unix_stream_socket);
    tcase_add_test(tc,
                   ipc_fromfd_of_a_wrong_descriptor_fails_with_einval_and_leaves_it);
    tcase_add_test(tc, ipc_listener_fromfd_wraps_a_listening_unix_socket);
    tcase_add_test(tc,
                   ipc_listener_fromfd_of_a_wrong_descriptor_fails_with_einval);
    suite_add_tcase(s, tc);

    tc = tu_tcase("done_close");
    tcase_add_test(tc, ipc_done_lets_the_peer_read_everything_then_epipe);
    tcase_add_test(tc, ipc_done_twice_fails_with_epipe);
    tcase_add_test(tc, ipc_done_on_a_broken_send_side_fails_with_econnreset);
    tcase_add_test(tc, ipc_done_never_waits_even_with_a_full_buffer);
    tcase_add_test(tc, ipc_close_returns_0_after_the_peer_finishes_and_closes);
    tcase_add_test(tc, ipc_close_drops_unread_inbound_data);
    tcase_add_test(tc, ipc_close_times_out_with_etimedout_and_still_closes);
    tcase_add_test(tc,
                   ipc_close_with_a_broken_direction_fails_with_econnreset_and_closes);
    tcase_add_test(tc, ipc_close_on_a_listener_is_hclose_and_unlinks_nothing);
    tcase_add_test(tc, ipc_close_after_peer_hclose_returns_0);
    suite_add_tcase(s, tc);

    tc = tu_tcase("mode");
    tcase_add_test(tc, ipc_listen_mode_sets_the_exact_mode_whatever_the_umask);
    tcase_add_test(tc, ipc_listen_mode_listener_accepts_connections);
    tcase_add_test(tc, ipc_listen_mode_with_bits_outside_07777_fails_with_einval);
    tcase_add_test(tc,
                   ipc_listen_mode_never_exposes_a_wider_mode_nor_touches_the_umask);
    suite_add_tcase(s, tc);

    tc = tu_tcase("peercred");
    tcase_add_test(tc, ipc_peercred_returns_our_own_pid_uid_gid);
    tcase_add_test(tc, ipc_peercred_reports_the_peer_process);
    suite_add_tcase(s, tc);

    tc = tu_tcase("cloexec");
    tcase_add_test(tc, every_descriptor_the_library_creates_is_close_on_exec);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
