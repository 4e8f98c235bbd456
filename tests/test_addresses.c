/* The address argument of ipc_listen* and ipc_connect*: what each kind of
   bad path fails with, and that a failed call leaves the file system as it
   was. */
#include "util.h"

#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Creates an empty regular file at path. */
static void make_file(const char *path, mode_t mode)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, mode);
    ck_assert_int_ge(fd, 0);
    close(fd);
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
    int ls;
    TU_HANDLE(ls, ipc_listen(p, 8));
    tu_assert_accepts(ls, p);
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
    make_file(tu_path(path, "file"), 0666);
    assert_address_fails(path, ECONNREFUSED, 0, 1);
}
END_TEST

START_TEST(listen_on_an_existing_path_fails_with_eaddrinuse)
{
    char path[TU_PATH_MAX];
    int ls;
    TU_HANDLE(ls, ipc_listen(tu_path(path, "ls"), 8));
    assert_address_fails(path, EADDRINUSE, 1, 0);
    /* The failed calls removed nothing: the first listener still works. */
    ck_assert(tu_path_exists(path));
    tu_assert_accepts(ls, path);
    TU_OK(hclose(ls));
    /* The file of a closed listener is still in the way. */
    assert_address_fails(path, EADDRINUSE, 1, 0);
    /* So is a regular file, which survives the attempt. */
    make_file(tu_path(path, "file"), 0644);
    assert_address_fails(path, EADDRINUSE, 1, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
}
END_TEST

START_TEST(path_through_a_regular_file_fails_with_enotdir)
{
    char file[TU_PATH_MAX], path[TU_PATH_MAX + 8];
    make_file(tu_path(file, "file"), 0644);
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

int main(void)
{
    Suite *s = suite_create("addresses");
    TCase *tc = tu_tcase("addresses");
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
    return tu_main(s);
}
