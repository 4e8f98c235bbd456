/* Who may connect and who is connected: ipc_listen_mode sets the socket
   file's exact mode without a window and without touching the umask;
   ipc_peercred reports the peer process. */
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    int ls;
    mode_t saved = umask(077);
    TU_HANDLE(ls, ipc_listen_mode(tu_path(path, "mode"), 8, 0666));
    tu_assert_accepts(ls, path);
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

int main(void)
{
    Suite *s = suite_create("mode_peercred");
    TCase *tc = tu_tcase("mode");
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
    return tu_main(s);
}
