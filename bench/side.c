/*
 * The two sides of a workload (side.h): the control channel, starting and
 * joining the server side, the server process's entry, and helpers the
 * workload files share.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "side.h"

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/******************************************************************************/
/*  Control channel and the two sides                                         */
/******************************************************************************/

void ctl_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_fail("control channel: write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void ctl_read(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            bench_fail("control channel: the other side died");
        if (n < 0)
            bench_fail("control channel: read: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void ctl_put(int fd, char tag)
{
    ctl_write(fd, &tag, 1);
}

void ctl_expect(int fd, char tag)
{
    char got;
    ctl_read(fd, &got, 1);
    if (got != tag)
        bench_fail("control channel: got '%c', expected '%c'", got, tag);
}

static void *side_thread(void *arg)
{
    run_side(arg);
    return NULL;
}

static void side_coro(void *arg)
{
    run_side(arg);
}

int bench_use_fork = 1;

/* The server process, started as this program again (see server_main):
   everything it needs travels on the command line. */
static pid_t spawn_server(struct side *s)
{
    char fn[16], k[16], ctl[16], res[16];
    char *params = malloc(2 * sizeof(*s->p) + 1);
    char *arg = malloc(2 * s->arg_size + 1);
    snprintf(fn, sizeof(fn), "%d", (int)s->fn);
    snprintf(k, sizeof(k), "%d", s->k);
    snprintf(ctl, sizeof(ctl), "%d", s->ctl);
    snprintf(res, sizeof(res), "%d", bench_result_fd());
    hex_encode(s->p, sizeof(*s->p), params);
    hex_encode(s->arg, s->arg_size, arg);
    char *argv[] = {"tdill-bench", "--server", (char *)s->b->name, fn,
                    s->addr, (char *)(s->dir ? s->dir : "-"), k, ctl, res,
                    params, arg, NULL};
    /* The server's end of the control channel is inherited. */
    fcntl(s->ctl, F_SETFD, 0);
    pid_t pid;
    extern char **environ;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
    if (rc)
        bench_fail("posix_spawn: %s", strerror(rc));
    free(params);
    free(arg);
    return pid;
}

/* Starts the server side, in a child process or a thread. */
void start_server(struct side *s, enum mode mode)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        bench_fail("socketpair: %s", strerror(errno));
    s->mode = mode;
    s->peer_ctl = sv[0];
    s->ctl = sv[1];
    if (mode == XPROC && bench_use_fork) {
        s->pid = fork();
        if (s->pid < 0)
            bench_fail("fork: %s", strerror(errno));
        if (s->pid == 0) {
            close(sv[0]);
            run_side(s);
            _exit(0);
        }
        close(sv[1]);
    } else if (mode == XPROC) {
        s->pid = spawn_server(s);
        close(sv[1]);
    } else if (mode == XCORO && s->b->go) {
        /* Runs until it blocks, in accept: 'R' is written by then. */
        s->coro = s->b->go(side_coro, s);
        if (s->coro < 0)
            bench_fail("go: %s", strerror(errno));
    } else {
        int rc = pthread_create(&s->th, NULL, side_thread, s);
        if (rc)
            bench_fail("pthread_create: %s", strerror(rc));
    }
}

void join_server(struct side *s)
{
    if (s->mode == XPROC) {
        int st;
        while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bench_fail("server process failed (status %d)", st);
    } else if (s->mode == XCORO && s->b->go) {
        if (s->b->join(s->coro) < 0)
            bench_fail("join: %s", strerror(errno));
        close(s->ctl);
    } else {
        pthread_join(s->th, NULL);
        close(s->ctl);
    }
    close(s->peer_ctl);
}

/******************************************************************************/
/*  Helpers                                                                   */
/******************************************************************************/

int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
int64_t pct(const int64_t *s, long n, double q)
{
    long i = (long)(q * (double)n + 0.999999) - 1;
    return s[i < 0 ? 0 : i >= n ? n - 1 : i];
}

double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

long warm(long n, long cap)
{
    return n / 10 < cap ? n / 10 : cap;
}

void not_here(struct result *r, const char *why)
{
    r->ok = r->absent = 1;
    snprintf(r->note, sizeof(r->note), "n/a: %s", why);
}

/* The n-th CPU (modulo their count) this process may run on. */
static int nth_cpu(int n)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        bench_fail("sched_getaffinity: %s", strerror(errno));
    int k = n % CPU_COUNT(&set);
    for (int cpu = 0;; cpu++)
        if (CPU_ISSET(cpu, &set) && k-- == 0)
            return cpu;
}

pthread_t spawn_on(void *(*fn)(void *), void *arg, int pin)
{
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    if (pin >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(nth_cpu(pin), &one);
        pthread_attr_setaffinity_np(&a, sizeof(one), &one);
    }
    int rc = pthread_create(&t, &a, fn, arg);
    pthread_attr_destroy(&a);
    if (rc)
        bench_fail("pthread_create: %s", strerror(rc));
    return t;
}

pthread_t spawn(void *(*fn)(void *), void *arg)
{
    return spawn_on(fn, arg, -1);
}

static int64_t tv_us(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int64_t cpu_now(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        bench_fail("getrusage: %s", strerror(errno));
    return tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
}

void cpu_send_used(const struct side *s, int64_t used)
{
    if (s->mode == XPROC)
        ctl_write(s->ctl, &used, sizeof(used));
}

void cpu_send(const struct side *s, int64_t since)
{
    cpu_send_used(s, cpu_now() - since);
}

int64_t cpu_recv(const struct side *s)
{
    int64_t used = 0;
    if (s->mode == XPROC)
        ctl_read(s->peer_ctl, &used, sizeof(used));
    return used;
}

double cpu_per_op(int64_t cpu_us, long ops)
{
    return (double)cpu_us / (double)ops;
}

/******************************************************************************/
/*  Server sides by number, and the server process's entry                    */
/******************************************************************************/

void run_side(struct side *s)
{
    static void (*const fns[])(struct side *) = {
        [SRV_PINGPONG] = pp_server,
        [SRV_SINK] = sink_server,
        [SRV_CONN] = conn_server,
        [SRV_SCALE] = scale_server,
        [SRV_CHAN_PP] = chan_pp_server,
        [SRV_TPC] = tpc_server,
    };
    fns[s->fn](s);
}

/* argv: --server BACKEND FN ADDR DIR K CTL RESULT_FD PARAMS ARG */
int server_main(int argc, char **argv, const struct backend *const *bs,
                int nb)
{
    if (argc != 11)
        return 2;
    struct side s = {.mode = XPROC};
    for (int i = 0; i < nb; i++)
        if (!strcmp(bs[i]->name, argv[2]))
            s.b = bs[i];
    static struct params p;
    size_t arg_size = strlen(argv[10]) / 2;
    void *arg = malloc(arg_size + 1);
    if (!s.b || hex_decode(argv[9], &p, sizeof(p)) < 0 ||
        hex_decode(argv[10], arg, arg_size) < 0)
        return 2;
    s.fn = (enum server_fn)atoi(argv[3]);
    snprintf(s.addr, sizeof(s.addr), "%s", argv[4]);
    s.dir = argv[5];
    s.k = atoi(argv[6]);
    s.ctl = atoi(argv[7]);
    fcntl(s.ctl, F_SETFD, FD_CLOEXEC);
    s.p = &p;
    s.arg = arg;
    s.arg_size = arg_size;
    bench_set_result_fd(atoi(argv[8]), "server");
    run_side(&s);
    _exit(0);
}

void hex_encode(const void *data, size_t len, char *out)
{
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[2 * len] = 0;
}

int hex_decode(const char *in, void *data, size_t len)
{
    unsigned char *d = data;
    if (strlen(in) != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(in + 2 * i, "%2x", &v) != 1)
            return -1;
        d[i] = (unsigned char)v;
    }
    return 0;
}
