/*
 * The workloads, written once against struct backend (bench.h), with their
 * server sides (side.h says how the two sides run and talk). Each workload
 * runs in a fresh process (main.c), so no backend state survives from one
 * run to the next.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "side.h"

#define PP_SIZE 64
#define STREAM_CHUNK 65536
#define SMALL_SIZE 16
#define SCALE_MSG 64

/******************************************************************************/
/*  Ping-pong latency                                                         */
/******************************************************************************/

long wl_pp_warmup(const struct params *p)
{
    return warm(p->pp_roundtrips, 1000);
}

/* A backend's send and recv, or its chan_send and chan_recv: one signature. */
typedef int xfer_fn(int c, void *buf, size_t len);
typedef int xfer_const_fn(int c, const void *buf, size_t len);

/* The echoing side: n values received and sent back. */
static void pp_echo(const struct backend *b, xfer_const_fn *tx, xfer_fn *rx,
                    int c, long n)
{
    char buf[PP_SIZE];
    for (long i = 0; i < n; i++) {
        CHECK("recv", rx(c, buf, sizeof(buf)));
        CHECK("send", tx(c, buf, sizeof(buf)));
    }
}

void pp_server(struct side *s)
{
    const struct backend *b = s->b;
    int ls, c;
    CHECK("listen", ls = b->listen(s->addr, 16));
    ctl_put(s->ctl, 'R');
    CHECK("accept", c = b->accept(ls));
    pp_echo(b, b->send, b->recv, c, wl_pp_warmup(s->p));
    int64_t cpu0 = cpu_now();
    pp_echo(b, b->send, b->recv, c, s->p->pp_roundtrips);
    cpu_send(s, cpu0);
    b->close(c);
    b->lclose(ls);
}

/* The timing side: the warm-up, then p->pp_roundtrips timed round trips.
   v[0] mean, v[1] p50, v[2] p99: microseconds per round trip. Returns the
   CPU time this process used in the timed round trips. */
static int64_t pp_time(const struct backend *b, xfer_const_fn *tx,
                       xfer_fn *rx, int c, const struct params *p,
                       struct result *r)
{
    long n = p->pp_roundtrips, nw = wl_pp_warmup(p);
    int64_t *lat = malloc(sizeof(*lat) * (size_t)n);
    char buf[PP_SIZE] = {1};
    for (long i = 0; i < nw; i++) {
        CHECK("send", tx(c, buf, sizeof(buf)));
        CHECK("recv", rx(c, buf, sizeof(buf)));
    }
    int64_t sum = 0, cpu0 = cpu_now();
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        CHECK("send", tx(c, buf, sizeof(buf)));
        CHECK("recv", rx(c, buf, sizeof(buf)));
        lat[i] = now_ns() - t0;
        sum += lat[i];
    }
    int64_t cpu = cpu_now() - cpu0;
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    r->v[0] = (double)sum / (double)n / 1e3;
    r->v[1] = (double)pct(lat, n, 0.50) / 1e3;
    r->v[2] = (double)pct(lat, n, 0.99) / 1e3;
    free(lat);
    return cpu;
}

/* v[0] mean, v[1] p50, v[2] p99: microseconds per round trip. */
void wl_pingpong(const struct backend *b, const struct params *p,
                 enum mode mode, const char *dir, struct result *r)
{
    struct side s = {.b = b, .p = p, .fn = SRV_PINGPONG};
    snprintf(s.addr, sizeof(s.addr), "%s/pp", dir);
    int c;
    start_server(&s, mode);
    ctl_expect(s.peer_ctl, 'R');
    CHECK("connect", c = b->connect(s.addr));
    int64_t cpu = pp_time(b, b->send, b->recv, c, p, r);
    b->close(c);
    r->cpu = cpu_per_op(cpu + cpu_recv(&s), p->pp_roundtrips);
    join_server(&s);
    if (mode == XCORO && !b->go)
        snprintf(r->note, sizeof(r->note), "no coroutines: two threads");
    r->ok = 1;
}

/******************************************************************************/
/*  Channel ping-pong: a rendezvous channel instead of a connection           */
/******************************************************************************/

/* The echoing side, on the channel end *s->arg. */
void chan_pp_server(struct side *s)
{
    const struct backend *b = s->b;
    int c = *(const int *)s->arg;
    ctl_put(s->ctl, 'R');
    pp_echo(b, b->chan_send, b->chan_recv, c,
            s->p->pp_roundtrips + wl_pp_warmup(s->p));
    /* Never a process of its own: the client's CPU count has this side. */
}

/* Ping-pong of a 64-byte value over the two ends of one channel: the
   timing side sends and receives on one end, the echoing side on the
   other. v[0] mean, v[1] p50, v[2] p99: microseconds per round trip. A
   backend without channels has nothing to measure (r->absent). */
void wl_chan_pingpong(const struct backend *b, const struct params *p,
                      enum mode mode, const char *dir, struct result *r)
{
    (void)dir;
    if (!b->chan_make) {
        not_here(r, "no rendezvous channel");
        return;
    }
    if (b->per_thread_handles && !(mode == XCORO && b->go)) {
        not_here(r, "a channel's ends belong to one thread");
        return;
    }
    if (mode == XPROC)
        bench_fail("channels do not cross processes");
    int ch[2];
    CHECK("chan_make", b->chan_make(ch));
    struct side s = {.b = b, .p = p, .fn = SRV_CHAN_PP, .arg = &ch[1],
                     .arg_size = sizeof(ch[1])};
    start_server(&s, mode);
    ctl_expect(s.peer_ctl, 'R');
    int64_t cpu = pp_time(b, b->chan_send, b->chan_recv, ch[0], p, r);
    r->cpu = cpu_per_op(cpu, p->pp_roundtrips);
    join_server(&s);
    CHECK("chan_close", b->chan_close(ch[0]));
    CHECK("chan_close", b->chan_close(ch[1]));
    if (mode == XCORO && !b->go)
        snprintf(r->note, sizeof(r->note), "no coroutines: two threads");
    r->ok = 1;
}

/******************************************************************************/
/*  Stream and small-op throughput: one sender, one receiver                  */
/******************************************************************************/

struct flow {
    size_t size; /* bytes per send and per receive */
    long count;  /* sends, timed */
    long warm;   /* sends before the timer starts */
};

void sink_server(struct side *s)
{
    const struct backend *b = s->b;
    const struct flow *f = s->arg;
    char *buf = malloc(f->size);
    int ls, c;
    CHECK("listen", ls = b->listen(s->addr, 16));
    ctl_put(s->ctl, 'R');
    CHECK("accept", c = b->accept(ls));
    for (long i = 0; i < f->warm; i++)
        CHECK("recv", b->recv(c, buf, f->size));
    int64_t cpu0 = cpu_now();
    for (long i = 0; i < f->count; i++)
        CHECK("recv", b->recv(c, buf, f->size));
    ctl_put(s->ctl, 'D');
    cpu_send(s, cpu0);
    b->close(c);
    b->lclose(ls);
    free(buf);
}

/* Returns the seconds from the first timed send until the receiver had
   everything; sets r->cpu per send. */
static double run_flow(const struct backend *b, enum mode mode,
                       const char *dir, const struct params *p,
                       struct flow *f, struct result *r)
{
    struct side s = {.b = b, .p = p, .fn = SRV_SINK, .arg = f,
                     .arg_size = sizeof(*f)};
    snprintf(s.addr, sizeof(s.addr), "%s/flow", dir);
    char *buf = malloc(f->size);
    memset(buf, 0x5a, f->size);
    int c;
    start_server(&s, mode);
    ctl_expect(s.peer_ctl, 'R');
    CHECK("connect", c = b->connect(s.addr));
    for (long i = 0; i < f->warm; i++)
        CHECK("send", b->send(c, buf, f->size));
    int64_t t0 = now_ns(), cpu0 = cpu_now();
    for (long i = 0; i < f->count; i++)
        CHECK("send", b->send(c, buf, f->size));
    ctl_expect(s.peer_ctl, 'D');
    int64_t t1 = now_ns(), cpu = cpu_now() - cpu0;
    b->close(c);
    r->cpu = cpu_per_op(cpu + cpu_recv(&s), f->count);
    join_server(&s);
    free(buf);
    return secs(t1 - t0);
}

/* v[0]: GB/s (10^9 bytes per second). */
void wl_stream(const struct backend *b, const struct params *p, enum mode mode,
               const char *dir, struct result *r)
{
    struct flow f = {STREAM_CHUNK, p->stream_bytes / STREAM_CHUNK, 64};
    double t = run_flow(b, mode, dir, p, &f, r);
    r->v[0] = (double)f.count * STREAM_CHUNK / t / 1e9;
    r->ok = 1;
}

/* v[0]: millions of 16-byte sends (and receives) per second. */
void wl_small(const struct backend *b, const struct params *p, enum mode mode,
              const char *dir, struct result *r)
{
    struct flow f = {SMALL_SIZE, p->small_ops, warm(p->small_ops, 10000)};
    double t = run_flow(b, mode, dir, p, &f, r);
    r->v[0] = (double)f.count / t / 1e6;
    r->ok = 1;
}

/******************************************************************************/
/*  Connection rate: connect, send 1 byte, close                              */
/******************************************************************************/

static long conn_warmup(const struct params *p)
{
    return warm(p->conns, 200);
}

void conn_server(struct side *s)
{
    const struct backend *b = s->b;
    long nw = conn_warmup(s->p), total = nw + s->p->conns;
    int ls, c;
    int64_t cpu0 = 0;
    char x;
    CHECK("listen", ls = b->listen(s->addr, 128));
    ctl_put(s->ctl, 'R');
    for (long i = 0; i < total; i++) {
        if (i == nw)
            cpu0 = cpu_now();
        CHECK("accept", c = b->accept(ls));
        CHECK("recv", b->recv(c, &x, 1));
        CHECK("close", b->close(c));
    }
    ctl_put(s->ctl, 'D');
    cpu_send(s, cpu0);
    b->lclose(ls);
}

/* v[0]: connections per second. */
void wl_connrate(const struct backend *b, const struct params *p,
                 enum mode mode, const char *dir, struct result *r)
{
    long n = p->conns, nw = conn_warmup(p), total = n + nw;
    struct side s = {.b = b, .p = p, .fn = SRV_CONN};
    snprintf(s.addr, sizeof(s.addr), "%s/conn", dir);
    char x = 'x';
    int c;
    start_server(&s, mode);
    ctl_expect(s.peer_ctl, 'R');
    int64_t t0 = 0, cpu0 = 0;
    for (long i = 0; i < total; i++) {
        if (i == nw) {
            t0 = now_ns();
            cpu0 = cpu_now();
        }
        CHECK("connect", c = b->connect(s.addr));
        CHECK("send", b->send(c, &x, 1));
        CHECK("close", b->close(c));
    }
    ctl_expect(s.peer_ctl, 'D');
    int64_t t1 = now_ns(), cpu = cpu_now() - cpu0;
    r->cpu = cpu_per_op(cpu + cpu_recv(&s), n);
    join_server(&s);
    r->v[0] = (double)n / secs(t1 - t0);
    r->ok = 1;
}

/******************************************************************************/
/*  Scale: many idle connections, many blocked callers, then a wave           */
/******************************************************************************/

/*
 * The measured process (the client) opens N connections to NSERV server
 * processes (two, so that nng's listener-per-connection still fits each
 * server's descriptor limit), then starts T threads that each block in
 * recv on a connection of their own, spread over the N. When all are
 * blocked it counts its threads. The servers then send a wave: R round trips
 * on each of the T connections, all at once, timed by the servers.
 */
#define NSERV 2

struct scale {
    int n, t, rounds, stride;
};

static int caller_conn(const struct scale *x, int j)
{
    return j * x->stride + j % NSERV;
}

static void scale_addr(const struct backend *b, const char *dir, int i,
                       char *out, size_t len)
{
    if (b->one_peer_per_addr)
        snprintf(out, len, "%s/c%d", dir, i);
    else
        snprintf(out, len, "%s/s%d", dir, i % NSERV);
}

struct wave {
    const struct backend *b;
    int c, rounds;
    pthread_barrier_t *start;
    atomic_int *blocked;
};

static void *wave_server(void *arg)
{
    struct wave *w = arg;
    const struct backend *b = w->b;
    char buf[SCALE_MSG] = {7};
    pthread_barrier_wait(w->start);
    for (int i = 0; i < w->rounds; i++) {
        CHECK("send", b->send(w->c, buf, sizeof(buf)));
        CHECK("recv", b->recv(w->c, buf, sizeof(buf)));
    }
    return NULL;
}

static void *wave_caller(void *arg)
{
    struct wave *w = arg;
    const struct backend *b = w->b;
    char buf[SCALE_MSG];
    atomic_fetch_add(w->blocked, 1);
    for (int i = 0; i < w->rounds; i++) {
        CHECK("recv", b->recv(w->c, buf, sizeof(buf)));
        CHECK("send", b->send(w->c, buf, sizeof(buf)));
    }
    return NULL;
}


void scale_server(struct side *s)
{
    const struct backend *b = s->b;
    const struct scale *x = s->arg;
    char addr[160];
    int *conn = calloc((size_t)x->n, sizeof(int));
    int ls = -1;
    /* Listen: once, or (nng) once per connection of ours. */
    for (int i = s->k; i < x->n; i += NSERV) {
        if (b->one_peer_per_addr || ls < 0) {
            scale_addr(b, s->dir, i, addr, sizeof(addr));
            CHECK("listen", conn[i] = b->listen(addr, 1024));
            ls = conn[i];
        }
    }
    ctl_put(s->ctl, 'R');
    /* Clients connect in index order, so accepts come in that order too. */
    for (int i = s->k; i < x->n; i += NSERV)
        CHECK("accept", conn[i] = b->accept(b->one_peer_per_addr ? conn[i] : ls));
    int mine = 0;
    for (int j = 0; j < x->t; j++)
        mine += caller_conn(x, j) % NSERV == s->k;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)mine + 1);
    struct wave *w = calloc((size_t)mine, sizeof(*w));
    pthread_t *th = calloc((size_t)mine, sizeof(*th));
    for (int j = 0, m = 0; j < x->t; j++) {
        int i = caller_conn(x, j);
        if (i % NSERV != s->k)
            continue;
        w[m] = (struct wave){b, conn[i], x->rounds, &start, NULL};
        th[m] = spawn(wave_server, &w[m]);
        m++;
    }
    ctl_put(s->ctl, 'A');
    ctl_expect(s->ctl, 'W');
    pthread_barrier_wait(&start);
    int64_t t[2] = {now_ns(), 0}, cpu0 = cpu_now();
    for (int m = 0; m < mine; m++)
        pthread_join(th[m], NULL);
    t[1] = now_ns();
    ctl_write(s->ctl, t, sizeof(t));
    cpu_send(s, cpu0);
    /* Exiting closes everything; the client needs nothing more. */
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        bench_fail("cannot read /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        bench_fail("cannot read /proc/self/task");
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The sizes of this run: fewer connections where the descriptor limit
   would not hold them all (the note says so). */
static struct scale scale_size(const struct params *p, struct result *r)
{
    struct scale x = {p->scale_conns, p->scale_callers, p->scale_rounds, 0};
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)x.n + 64 > rl.rlim_cur) {
        x.n = (int)rl.rlim_cur - 64;
        snprintf(r->note, sizeof(r->note),
                 "only %d connections: RLIMIT_NOFILE is %ld", x.n,
                 (long)rl.rlim_cur);
    }
    if (x.t > x.n / NSERV)
        x.t = x.n / NSERV;
    x.stride = x.n / x.t / NSERV * NSERV;
    return x;
}

static void start_scale_servers(struct side *s, const struct backend *b,
                                const struct params *p, const char *dir,
                                struct scale *x)
{
    for (int k = 0; k < NSERV; k++) {
        s[k] = (struct side){.b = b, .p = p, .fn = SRV_SCALE, .dir = dir,
                             .arg = x, .arg_size = sizeof(*x), .k = k};
        start_server(&s[k], XPROC);
    }
    for (int k = 0; k < NSERV; k++)
        ctl_expect(s[k].peer_ctl, 'R');
}

/* Opens the x->n connections. *rss0 is the RSS once the first is open: the
   backend has initialised itself by then, so the growth after it is what
   the connections cost. */
static int *scale_connect(const struct backend *b, const char *dir,
                          const struct scale *x, long *rss0)
{
    int *conn = calloc((size_t)x->n, sizeof(int));
    char addr[160];
    for (int i = 0; i < x->n; i++) {
        scale_addr(b, dir, i, addr, sizeof(addr));
        CHECK("connect", conn[i] = b->connect(addr));
        if (i == 0)
            *rss0 = rss_bytes();
    }
    return conn;
}

/* Starts the x->t caller threads and returns once each has started; they
   answer the wave. */
static pthread_t *start_callers(const struct backend *b, const struct scale *x,
                                const int *conn, atomic_int *blocked)
{
    struct wave *w = calloc((size_t)x->t, sizeof(*w));
    pthread_t *th = calloc((size_t)x->t, sizeof(*th));
    for (int j = 0; j < x->t; j++) {
        w[j] = (struct wave){b, conn[caller_conn(x, j)], x->rounds, NULL,
                             blocked};
        th[j] = spawn(wave_caller, &w[j]);
    }
    while (atomic_load(blocked) < x->t)
        usleep(1000);
    return th;
}

/* The wave's seconds, from the first server's start to the last one's
   finish, as the servers timed it, and in *cpu the CPU time the servers
   used in it; then the servers are done. */
static double wave_seconds(struct side *s, int64_t *cpu)
{
    int64_t first = INT64_MAX, last = 0, t[2];
    *cpu = 0;
    for (int k = 0; k < NSERV; k++) {
        ctl_read(s[k].peer_ctl, t, sizeof(t));
        *cpu += cpu_recv(&s[k]);
        first = t[0] < first ? t[0] : first;
        last = t[1] > last ? t[1] : last;
    }
    for (int k = 0; k < NSERV; k++)
        join_server(&s[k]);
    return secs(last - first);
}

/* v[0]: wave throughput, thousands of round trips per second; v[1]: the
   library's threads (all threads minus main minus callers); v[2]: bytes of
   RSS per idle connection; v[3]: connections actually opened. */
void wl_scale(const struct backend *b, const struct params *p, enum mode mode,
              const char *dir, struct result *r)
{
    (void)mode; /* always cross-process */
    if (b->per_thread_handles) {
        not_here(r, "callers use connections another thread opened");
        return;
    }
    struct scale x = scale_size(p, r);
    struct side s[NSERV];
    start_scale_servers(s, b, p, dir, &x);
    long rss0 = 0;
    int *conn = scale_connect(b, dir, &x, &rss0);
    for (int k = 0; k < NSERV; k++)
        ctl_expect(s[k].peer_ctl, 'A');
    long rss1 = rss_bytes();

    atomic_int blocked = 0;
    pthread_t *th = start_callers(b, &x, conn, &blocked);
    /* Let every caller get into its recv and park. */
    usleep(p->quick ? 50000 : 200000);
    int lib = count_threads() - 1 - x.t;

    int64_t cpu0 = cpu_now();
    for (int k = 0; k < NSERV; k++)
        ctl_put(s[k].peer_ctl, 'W');
    for (int j = 0; j < x.t; j++)
        pthread_join(th[j], NULL);
    int64_t cpu = cpu_now() - cpu0, servers_cpu;
    int after = count_threads() - 1;
    if (after > lib)
        lib = after;
    /* The connections are left to process exit: closing 10,000 is not
       what is measured. */
    r->v[0] = (double)x.t * x.rounds / wave_seconds(s, &servers_cpu) / 1e3;
    r->cpu = cpu_per_op(cpu + servers_cpu, (long)x.t * x.rounds);
    r->v[1] = lib;
    r->v[2] = (double)(rss1 - rss0) / (x.n - 1);
    r->v[3] = x.n;
    r->ok = 1;
}


/******************************************************************************/
/*  Deadline precision                                                        */
/******************************************************************************/

/* v[0] p50, v[1] p99, v[2] max: microseconds late; v[3]: early returns.
   A receive that timed out is finished (tdill kills that direction), so
   each sample uses a fresh pair. */
void wl_deadline(const struct backend *b, const struct params *p,
                 enum mode mode, const char *dir, struct result *r)
{
    (void)mode;
    (void)dir;
    int n = p->deadline_samples, nw = 10, early = 0;
    int64_t *late = malloc(sizeof(*late) * (size_t)n), cpu0 = 0;
    for (int i = 0; i < nw + n; i++) {
        if (i == nw)
            cpu0 = cpu_now();
        int c[2];
        char x;
        int64_t deadline;
        CHECK("pair", b->pair(c));
        int rc = b->recv_timeout(c[0], &x, 1, p->deadline_ms, &deadline);
        int64_t t = now_ns();
        if (rc == 0 || errno != ETIMEDOUT)
            bench_fail("%s: recv with a deadline: %s", b->name,
                       rc == 0 ? "got data" : strerror(errno));
        b->close(c[0]);
        b->close(c[1]);
        if (i < nw)
            continue;
        late[i - nw] = t - deadline;
        early += t < deadline;
    }
    /* Per sample: the pair, the receive that times out, the two closes. */
    r->cpu = cpu_per_op(cpu_now() - cpu0, n);
    qsort(late, (size_t)n, sizeof(*late), cmp_i64);
    r->v[0] = (double)pct(late, n, 0.50) / 1e3;
    r->v[1] = (double)pct(late, n, 0.99) / 1e3;
    r->v[2] = (double)late[n - 1] / 1e3;
    r->v[3] = early;
    if (early)
        snprintf(r->note, sizeof(r->note), "%d of %d returned early", early, n);
    free(late);
    r->ok = 1;
}

/******************************************************************************/
/*  Multi-core scaling: P thread pairs on pair connections                    */
/******************************************************************************/

struct lane {
    const struct backend *b;
    int c;
    long count;
    size_t size;
    pthread_barrier_t *start;
    int64_t t0, t1;
};

static void *lane_echo(void *arg)
{
    struct lane *l = arg;
    const struct backend *b = l->b;
    char buf[PP_SIZE];
    for (long i = 0; i < l->count; i++) {
        CHECK("recv", b->recv(l->c, buf, sizeof(buf)));
        CHECK("send", b->send(l->c, buf, sizeof(buf)));
    }
    return NULL;
}

static void *lane_ping(void *arg)
{
    struct lane *l = arg;
    const struct backend *b = l->b;
    char buf[PP_SIZE] = {3};
    pthread_barrier_wait(l->start);
    l->t0 = now_ns();
    for (long i = 0; i < l->count; i++) {
        CHECK("send", b->send(l->c, buf, sizeof(buf)));
        CHECK("recv", b->recv(l->c, buf, sizeof(buf)));
    }
    l->t1 = now_ns();
    return NULL;
}

static void *lane_source(void *arg)
{
    struct lane *l = arg;
    const struct backend *b = l->b;
    char *buf = calloc(1, l->size);
    pthread_barrier_wait(l->start);
    l->t0 = now_ns();
    for (long i = 0; i < l->count; i++)
        CHECK("send", b->send(l->c, buf, l->size));
    free(buf);
    return NULL;
}

static void *lane_sink(void *arg)
{
    struct lane *l = arg;
    const struct backend *b = l->b;
    char *buf = malloc(l->size);
    for (long i = 0; i < l->count; i++)
        CHECK("recv", b->recv(l->c, buf, l->size));
    l->t1 = now_ns();
    free(buf);
    return NULL;
}

/* Runs P lanes; `active` starts after the barrier and `passive` answers.
   Returns the seconds from the first start to the last finish. Closes the
   side that received last first (nng closes a sender only once its peer has
   gone). */
static double run_lanes(const struct backend *b, const struct params *p,
                        long count, size_t size, void *(*active)(void *),
                        void *(*passive)(void *), int close_active_first,
                        int64_t *cpu)
{
    int np = p->scaling_pairs;
    struct lane *a = calloc((size_t)np, sizeof(*a)), *q = calloc((size_t)np, sizeof(*q));
    pthread_t *ta = calloc((size_t)np, sizeof(*ta)), *tq = calloc((size_t)np, sizeof(*tq));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)np);
    for (int i = 0; i < np; i++) {
        int c[2];
        CHECK("pair", b->pair(c));
        a[i] = (struct lane){b, c[0], count, size, &start, 0, 0};
        q[i] = (struct lane){b, c[1], count, size, &start, 0, 0};
    }
    /* The CPU count includes starting and ending the threads. */
    int64_t cpu0 = cpu_now();
    for (int i = 0; i < np; i++) {
        int pin = p->scaling_pin ? i : -1;
        tq[i] = spawn_on(passive, &q[i], pin);
        ta[i] = spawn_on(active, &a[i], pin);
    }
    int64_t first = INT64_MAX, last = 0;
    for (int i = 0; i < np; i++) {
        pthread_join(ta[i], NULL);
        pthread_join(tq[i], NULL);
        int64_t t1 = a[i].t1 ? a[i].t1 : q[i].t1;
        first = a[i].t0 < first ? a[i].t0 : first;
        last = t1 > last ? t1 : last;
    }
    *cpu = cpu_now() - cpu0;
    for (int i = 0; i < np; i++) {
        b->close(close_active_first ? a[i].c : q[i].c);
        b->close(close_active_first ? q[i].c : a[i].c);
    }
    free(a);
    free(q);
    free(ta);
    free(tq);
    return secs(last - first);
}

/* v[0]: millions of round trips per second, all pairs together. */
void wl_scaling_pingpong(const struct backend *b, const struct params *p,
                         enum mode mode, const char *dir, struct result *r)
{
    (void)mode;
    (void)dir;
    if (b->per_thread_handles) {
        not_here(r, "lanes use pairs another thread opened");
        return;
    }
    long per = p->scaling_rts / p->scaling_pairs;
    int64_t cpu;
    double t = run_lanes(b, p, per, PP_SIZE, lane_ping, lane_echo, 1, &cpu);
    r->v[0] = (double)per * p->scaling_pairs / t / 1e6;
    r->cpu = cpu_per_op(cpu, per * p->scaling_pairs);
    r->ok = 1;
}

/* v[0]: GB/s, all pairs together. */
void wl_scaling_stream(const struct backend *b, const struct params *p,
                       enum mode mode, const char *dir, struct result *r)
{
    (void)mode;
    (void)dir;
    if (b->per_thread_handles) {
        not_here(r, "lanes use pairs another thread opened");
        return;
    }
    long per = p->scaling_bytes / p->scaling_pairs / STREAM_CHUNK;
    int64_t cpu;
    double t = run_lanes(b, p, per, STREAM_CHUNK, lane_source, lane_sink, 0,
                         &cpu);
    r->v[0] = (double)per * p->scaling_pairs * STREAM_CHUNK / t / 1e9;
    r->cpu = cpu_per_op(cpu, per * p->scaling_pairs);
    r->ok = 1;
}
