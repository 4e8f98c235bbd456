/* Helpers shared by the tdill test programs; see util.h. */
#include "util.h"
#include "fdcount.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_THREAD__
/* Each Check test runs in a child process; ThreadSanitizer's default
   one-second sleep at exit would make every test cost a second. The library
   starts I/O threads in children of threaded parents (fork tests), which
   ThreadSanitizer refuses by default. TSAN_OPTIONS still overrides these. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "atexit_sleep_ms=0:die_after_fork=0";
}
#endif

char tu_dir[256];
static unsigned tu_counter;

static int tu_rm_one(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    /* A test may have left a directory without write permission. */
    chmod(path, 0700);
    remove(path);
    return 0;
}

static void tu_rm_tree(const char *path)
{
    chmod(path, 0700);
    nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_main(Suite *s)
{
    snprintf(tu_dir, sizeof tu_dir, "/tmp/tdill-test.XXXXXX");
    if (!mkdtemp(tu_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_rm_tree(tu_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

TCase *tu_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, TU_TIMEOUT);
    return tc;
}

const char *tu_path(char *buf, const char *tag)
{
    snprintf(buf, TU_PATH_MAX, "%s/%s.%ld.%u", tu_dir, tag, (long)getpid(),
             tu_counter++);
    return buf;
}

struct tu_fd_list {
    int *fds;
    int max;
    int n;
};

static int tu_list_one(int fd, const char *target, void *arg)
{
    struct tu_fd_list *l = arg;
    (void)target;
    if (l->fds && l->n < l->max)
        l->fds[l->n] = fd;
    l->n++;
    return 1;
}

int tu_list_fds(int *fds, int max)
{
    struct tu_fd_list l = {fds, max, 0};
    ck_assert_int_ge(fdcount(tu_list_one, &l), 0);
    return l.n;
}

int tu_count_fds(void)
{
    int n = fdcount(NULL, NULL);
    ck_assert_int_ge(n, 0);
    return n;
}

struct tu_fd_text {
    char *buf;
    size_t size;
    size_t off;
};

static int tu_describe_one(int fd, const char *target, void *arg)
{
    struct tu_fd_text *t = arg;
    if (t->off + 1 < t->size) {
        int w = snprintf(t->buf + t->off, t->size - t->off, "%d=%s ", fd,
                         target);
        /* A truncated entry fills the buffer: the later ones are dropped. */
        t->off = w < 0 ? t->size : t->off + (size_t)w;
    }
    return 1;
}

const char *tu_describe_fds(char *buf, size_t size)
{
    struct tu_fd_text t = {buf, size, 0};
    buf[0] = 0;
    fdcount(tu_describe_one, &t);
    return buf;
}

int tu_fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

int tu_same_file(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int tu_count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

uint64_t tu_rand(uint64_t *state)
{
    /* splitmix64: good enough and trivially reproducible. */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tu_fill(void *buf, size_t len, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t st = seed;
    size_t i = 0;
    while (i + 8 <= len) {
        uint64_t r = tu_rand(&st);
        memcpy(p + i, &r, 8);
        i += 8;
    }
    if (i < len) {
        uint64_t r = tu_rand(&st);
        memcpy(p + i, &r, len - i);
    }
}

int tu_valgrind(void)
{
    const char *v = getenv("TDILL_TEST_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

int tu_slowness(void)
{
    if (tu_valgrind())
        return 25;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    return 5;
#else
    return 1;
#endif
}

int64_t tu_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

pid_t tu_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static char tu_task_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", (long)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return (p && p[1] == ' ') ? p[2] : '?';
}

void tu_wait_sleeping(pid_t tid)
{
    int64_t end = tu_mono_ms() + 5000;
    for (;;) {
        char st = tu_task_state(tid);
        if (st == 'S' || st == '?' || tu_mono_ms() >= end)
            break;
        tu_sleep_ms(1);
    }
    tu_sleep_ms(30 * tu_slowness());
}

long tu_raise_nofile(void)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    return rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : (long)rl.rlim_cur;
}

int tu_inject_socket_errno(int err)
{
#if defined(__x86_64__)
    const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned arch = AUDIT_ARCH_AARCH64;
#else
    const unsigned arch = 0;
    (void)err;
    return -1;
#endif
#ifndef __NR_accept
#define __NR_accept __NR_accept4
#endif
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_accept4, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_accept, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K,
                 SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (arch == 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
                SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
        return -1;
    return 0;
}

void tu_child_alarm(unsigned seconds)
{
    signal(SIGALRM, SIG_DFL);
    alarm(seconds);
}

void tu_pair(int s[2])
{
    s[0] = s[1] = -1;
    int rc = ipc_pair(s);
    ck_assert_msg(rc == 0, "ipc_pair failed: %s", tu_errname(errno));
    ck_assert_int_ge(s[0], 0);
    ck_assert_int_ge(s[1], 0);
    ck_assert_int_ne(s[0], s[1]);
}

int tu_raw_peer(int *raw_end)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    int h;
    TU_HANDLE(h, ipc_fromfd(sp[0]));
    *raw_end = sp[1];
    return h;
}

void tu_close_pair(int s[2])
{
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}

void tu_close_raw_pair(int fd[2])
{
    close(fd[0]);
    close(fd[1]);
}

void tu_expect_bytes(int h, const char *want, size_t len)
{
    char got[256];
    ck_assert_uint_le(len, sizeof got);
    TU_OK(brecv(h, got, len, now() + 5000));
    ck_assert_mem_eq(got, want, len);
}

void tu_assert_connected(int a, int b)
{
    TU_OK(bsend(a, "ping", 4, now() + 5000));
    tu_expect_bytes(b, "ping", 4);
    TU_OK(bsend(b, "pong", 4, now() + 5000));
    tu_expect_bytes(a, "pong", 4);
}

void tu_assert_accepts(int ls, const char *addr)
{
    int c, a;
    TU_HANDLE(c, ipc_connect(addr, now() + 5000));
    TU_HANDLE(a, ipc_accept(ls, now() + 5000));
    tu_assert_connected(c, a);
    TU_OK(hclose(c));
    TU_OK(hclose(a));
}

int tu_path_exists(const char *path)
{
    struct stat st;
    /* lstat: a dangling link is something in the way too. */
    return lstat(path, &st) == 0;
}

pid_t tu_fork(unsigned seconds)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        tu_child_alarm(seconds);
    return pid;
}

int tu_reap(pid_t pid, int timeout_ms)
{
    int64_t end = tu_mono_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        ck_assert_int_ne(r, -1);
        if (r == pid)
            break;
        if (tu_mono_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("child %d has not ended after %d ms", (int)pid,
                         timeout_ms);
        }
        tu_sleep_ms(2);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

const char *tu_errname(int err)
{
    switch (err) {
    case 0: return "0";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case ECANCELED: return "ECANCELED";
    case ECONNRESET: return "ECONNRESET";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINVAL: return "EINVAL";
    case ENOTSUP: return "ENOTSUP";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPROTO: return "EPROTO";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EACCES: return "EACCES";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EADDRINUSE: return "EADDRINUSE";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EPERM: return "EPERM";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOTCONN: return "ENOTCONN";
    default: return strerror(err);
    }
}

static size_t tu_piece(uint64_t *st, size_t chunk, size_t left)
{
    size_t n = chunk ? 1 + (size_t)(tu_rand(st) % chunk) : left;
    return n < left ? n : left;
}

/* Moves x->len bytes at buf in pieces of tu_piece(st) size, by bsend (out)
   or brecv, and records the first failure in x. A sender of 0 bytes still
   makes one bsend, of nothing; a receiver of 0 bytes makes none. */
static void tu_xfer_pieces(struct tu_xfer *x, unsigned char *buf, uint64_t st,
                           int out)
{
    x->rc = 0;
    x->err = 0;
    if (!out && x->len == 0)
        return;
    size_t off = 0;
    do {
        size_t n = tu_piece(&st, x->chunk, x->len - off);
        int rc = out ? bsend(x->h, buf + off, n, x->deadline)
                     : brecv(x->h, buf + off, n, x->deadline);
        if (rc != 0) {
            x->rc = -1;
            x->err = errno;
            break;
        }
        off += n;
    } while (off < x->len);
}

void *tu_sender(void *arg)
{
    struct tu_xfer *x = arg;
    unsigned char *buf = malloc(x->len ? x->len : 1);
    tu_fill(buf, x->len, x->seed);
    tu_xfer_pieces(x, buf, x->seed ^ 0x5555, 1);
    free(buf);
    return NULL;
}

void *tu_receiver(void *arg)
{
    struct tu_xfer *x = arg;
    unsigned char *want = malloc(x->len ? x->len : 1);
    unsigned char *got = malloc(x->len ? x->len : 1);
    tu_fill(want, x->len, x->seed);
    x->mismatch = 0;
    tu_xfer_pieces(x, got, x->seed ^ 0xAAAA, 0);
    if (x->rc == 0 && memcmp(want, got, x->len) != 0)
        x->mismatch = 1;
    free(want);
    free(got);
    return NULL;
}

void tu_send_start(struct tu_xfer *x)
{
    ck_assert_int_eq(pthread_create(&x->th, NULL, tu_sender, x), 0);
}

void tu_recv_start(struct tu_xfer *x)
{
    ck_assert_int_eq(pthread_create(&x->th, NULL, tu_receiver, x), 0);
}

void tu_xfer_join(struct tu_xfer *x)
{
    ck_assert_int_eq(pthread_join(x->th, NULL), 0);
}

static void *tu_op_main(void *arg)
{
    struct tu_op *op = arg;
    op->tid = tu_gettid();
    __atomic_store_n(&op->started, 1, __ATOMIC_SEQ_CST);
    errno = 0;
    switch (op->kind) {
    case TU_BSEND: op->rc = bsend(op->h, op->buf, op->len, op->deadline); break;
    case TU_BRECV: op->rc = brecv(op->h, op->buf, op->len, op->deadline); break;
    case TU_BSENDL:
        op->rc = bsendl(op->h, op->first, op->last, op->deadline);
        break;
    case TU_BRECVL:
        op->rc = brecvl(op->h, op->first, op->last, op->deadline);
        break;
    case TU_ACCEPT: op->rc = ipc_accept(op->h, op->deadline); break;
    case TU_ACCEPT_MEM:
        op->rc = ipc_accept_mem(op->h, op->mem, op->deadline);
        break;
    case TU_CONNECT: op->rc = ipc_connect(op->addr, op->deadline); break;
    case TU_RECVFD: op->rc = ipc_recvfd(op->h, op->deadline); break;
    case TU_SENDFD:
        op->rc = ipc_sendfd(op->h, (int)op->len, op->deadline);
        break;
    case TU_IPC_CLOSE: op->rc = ipc_close(op->h, op->deadline); break;
    case TU_IPC_DONE: op->rc = ipc_done(op->h, op->deadline); break;
    case TU_HCLOSE: op->rc = hclose(op->h); break;
    }
    op->err = errno;
    op->returned_at = now();
    __atomic_store_n(&op->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

int tu_op_done(struct tu_op *op)
{
    return __atomic_load_n(&op->done, __ATOMIC_SEQ_CST);
}

void tu_op_start(struct tu_op *op)
{
    op->started = 0;
    op->done = 0;
    op->rc = -2;
    op->err = 0;
    ck_assert_int_eq(pthread_create(&op->th, NULL, tu_op_main, op), 0);
}

void tu_op_start_blocked(struct tu_op *op)
{
    tu_op_start(op);
    while (!__atomic_load_n(&op->started, __ATOMIC_SEQ_CST))
        tu_sleep_ms(1);
    tu_wait_sleeping(op->tid);
}

void tu_op_join(struct tu_op *op)
{
    ck_assert_int_eq(pthread_join(op->th, NULL), 0);
}

void tu_warm_up(void)
{
    int s[2];
    tu_pair(s);
    char c;
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = &c, .len = 1,
                       .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(bsend(s[1], "w", 1, -1));
    tu_op_join(&op);
    TU_OP_OK(&op);
    TU_FAILS(brecv(s[0], NULL, 1, now() + 20), ETIMEDOUT);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
