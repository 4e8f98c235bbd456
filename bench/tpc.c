/*
 * Thread per connection: the shape of the legacy server in
 * examples/legacy, between two processes. The client has N workers, each
 * owning one connection: it connects, then does 64-byte request / 64-byte
 * response round trips. The server accepts the N connections and serves
 * each in a worker of its own, which echoes. The figure is the aggregate
 * rate of round trips.
 *
 * Workers are threads; for a backend whose handles belong to one thread
 * (libdill) they are coroutines of one thread, which is what a libdill
 * program would do.
 *
 * The timed section: every client worker does its warm-up round trips and
 * waits at a barrier; the section runs from the barrier's release to the
 * last worker's last reply. The server's CPU count runs from the moment its
 * last worker finished its warm-up (every client worker is at the barrier
 * by then, so nothing else is in flight) to the moment its last worker
 * sent its last reply.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "side.h"

#define TPC_SIZE 64

/******************************************************************************/
/*  A crew: N workers, threads or coroutines, with a barrier                  */
/******************************************************************************/

struct crew {
    const struct backend *b;
    int coro; /* the workers are coroutines of this thread */
    int n, started;
    pthread_t *th;         /* threads */
    pthread_barrier_t bar; /* threads: n workers and the main one */
    int *h;                /* coroutines: handles for join */
    /* Coroutines: a pthread barrier would block the whole thread, so the
       barrier is a channel: ch[0] the main one's end, ch[1] the workers'. */
    int ch[2];
};

struct crew_job {
    void (*fn)(void *);
    void *arg;
};

static void crew_init(struct crew *c, const struct backend *b, int n)
{
    memset(c, 0, sizeof(*c));
    c->b = b;
    c->coro = b->per_thread_handles;
    c->n = n;
    if (c->coro) {
        c->h = calloc((size_t)n, sizeof(*c->h));
        if (b->chan_make(c->ch) < 0)
            bench_fail("%s: chan_make: %s", b->name, strerror(errno));
    } else {
        c->th = calloc((size_t)n, sizeof(*c->th));
        pthread_barrier_init(&c->bar, NULL, (unsigned)n + 1);
    }
}

static void *crew_thread(void *arg)
{
    struct crew_job job = *(struct crew_job *)arg;
    free(arg);
    job.fn(job.arg);
    return NULL;
}

/* Starts fn(arg) as the crew's next worker. */
static void crew_go(struct crew *c, void (*fn)(void *), void *arg)
{
    int i = c->started++;
    if (c->coro) {
        c->h[i] = c->b->go(fn, arg);
        if (c->h[i] < 0)
            bench_fail("%s: go: %s", c->b->name, strerror(errno));
        return;
    }
    struct crew_job *job = malloc(sizeof(*job));
    *job = (struct crew_job){fn, arg};
    c->th[i] = spawn(crew_thread, job);
}

/* A worker: returns once every worker has arrived and the main one has
   let them go (crew_release). */
static void crew_arrive(struct crew *c)
{
    const struct backend *b = c->b;
    char x = 0;
    if (!c->coro) {
        pthread_barrier_wait(&c->bar);
        return;
    }
    CHECK("chan_send", b->chan_send(c->ch[1], &x, 1));
    CHECK("chan_recv", b->chan_recv(c->ch[1], &x, 1));
}

/* The main one: waits until every worker has arrived, then lets them go. */
static void crew_release(struct crew *c)
{
    const struct backend *b = c->b;
    char x = 0;
    if (!c->coro) {
        pthread_barrier_wait(&c->bar);
        return;
    }
    for (int i = 0; i < c->n; i++)
        CHECK("chan_recv", b->chan_recv(c->ch[0], &x, 1));
    for (int i = 0; i < c->n; i++)
        CHECK("chan_send", b->chan_send(c->ch[0], &x, 1));
}

static void crew_join(struct crew *c)
{
    const struct backend *b = c->b;
    for (int i = 0; i < c->started; i++) {
        if (c->coro)
            CHECK("join", b->join(c->h[i]));
        else
            pthread_join(c->th[i], NULL);
    }
    if (c->coro) {
        b->chan_close(c->ch[0]);
        b->chan_close(c->ch[1]);
    } else {
        pthread_barrier_destroy(&c->bar);
    }
    free(c->th);
    free(c->h);
}

/******************************************************************************/
/*  The server: a worker per accepted connection                              */
/******************************************************************************/

/* Round trips per connection, and the untimed ones before them. */
static long tpc_rounds(const struct params *p)
{
    return p->tpc_rts / p->tpc_conns;
}

static long tpc_warmup(const struct params *p)
{
    return warm(tpc_rounds(p), 1000);
}

/* What the server's workers share. */
struct tpc_server {
    const struct backend *b;
    const struct params *p;
    atomic_int warmed, done; /* workers past their warm-up, finished */
    int64_t cpu0, cpu1;      /* set by the last to warm up, to finish */
};

struct tpc_conn {
    struct tpc_server *srv;
    int c;
};

static void echo(const struct backend *b, int c, long n)
{
    char buf[TPC_SIZE];
    for (long i = 0; i < n; i++) {
        CHECK("recv", b->recv(c, buf, sizeof(buf)));
        CHECK("send", b->send(c, buf, sizeof(buf)));
    }
}

static void serve_conn(void *arg)
{
    struct tpc_conn *w = arg;
    struct tpc_server *srv = w->srv;
    const struct backend *b = srv->b;
    int n = srv->p->tpc_conns;
    echo(b, w->c, tpc_warmup(srv->p));
    if (atomic_fetch_add(&srv->warmed, 1) == n - 1)
        srv->cpu0 = cpu_now();
    echo(b, w->c, tpc_rounds(srv->p));
    if (atomic_fetch_add(&srv->done, 1) == n - 1)
        srv->cpu1 = cpu_now();
    CHECK("close", b->close(w->c));
}

void tpc_server(struct side *s)
{
    const struct backend *b = s->b;
    int n = s->p->tpc_conns, ls;
    struct tpc_server srv = {.b = b, .p = s->p};
    struct tpc_conn *conn = calloc((size_t)n, sizeof(*conn));
    struct crew crew;
    crew_init(&crew, b, n);
    CHECK("listen", ls = b->listen(s->addr, 128));
    ctl_put(s->ctl, 'R');
    for (int i = 0; i < n; i++) {
        conn[i].srv = &srv;
        CHECK("accept", conn[i].c = b->accept(ls));
        crew_go(&crew, serve_conn, &conn[i]);
    }
    crew_join(&crew);
    cpu_send_used(s, srv.cpu1 - srv.cpu0);
    b->lclose(ls);
    free(conn);
}

/******************************************************************************/
/*  The client: a worker per connection                                       */
/******************************************************************************/

struct tpc_client {
    const struct backend *b;
    const struct params *p;
    const char *addr;
    struct crew *crew;
    int c;
    int64_t t1; /* when its last reply came */
};

static void round_trips(const struct backend *b, int c, long n)
{
    char buf[TPC_SIZE] = {5};
    for (long i = 0; i < n; i++) {
        CHECK("send", b->send(c, buf, sizeof(buf)));
        CHECK("recv", b->recv(c, buf, sizeof(buf)));
    }
}

static void client_conn(void *arg)
{
    struct tpc_client *w = arg;
    const struct backend *b = w->b;
    CHECK("connect", w->c = b->connect(w->addr));
    round_trips(b, w->c, tpc_warmup(w->p));
    crew_arrive(w->crew);
    round_trips(b, w->c, tpc_rounds(w->p));
    w->t1 = now_ns();
}

/* v[0]: thousands of round trips per second, all connections together.
   p->tpc_conns says how many. */
static void tpc(const struct backend *b, const struct params *p,
                enum mode mode, const char *dir, struct result *r)
{
    if (b->one_peer_per_addr) {
        not_here(r, "a pair0 socket takes one peer per address");
        return;
    }
    int n = p->tpc_conns;
    struct side s = {.b = b, .p = p, .fn = SRV_TPC};
    snprintf(s.addr, sizeof(s.addr), "%s/tpc", dir);
    struct tpc_client *w = calloc((size_t)n, sizeof(*w));
    struct crew crew;
    start_server(&s, mode);
    ctl_expect(s.peer_ctl, 'R');
    crew_init(&crew, b, n);
    for (int i = 0; i < n; i++) {
        w[i] = (struct tpc_client){b, p, s.addr, &crew, -1, 0};
        crew_go(&crew, client_conn, &w[i]);
    }
    crew_release(&crew);
    int64_t t0 = now_ns(), cpu0 = cpu_now(), t1 = 0;
    crew_join(&crew);
    int64_t cpu = cpu_now() - cpu0;
    for (int i = 0; i < n; i++) {
        t1 = w[i].t1 > t1 ? w[i].t1 : t1;
        CHECK("close", b->close(w[i].c));
    }
    long total = tpc_rounds(p) * n;
    r->v[0] = (double)total / secs(t1 - t0) / 1e3;
    r->cpu = cpu_per_op(cpu + cpu_recv(&s), total);
    join_server(&s);
    free(w);
    if (b->per_thread_handles)
        snprintf(r->note, sizeof(r->note),
                 "coroutines, one thread a side: handles belong to a thread");
    r->ok = 1;
}

/* The number of connections travels in the params, so that a server
   process started with --exec gets it too. */
static void tpc_with(int conns, const struct backend *b,
                     const struct params *p, enum mode mode, const char *dir,
                     struct result *r)
{
    struct params q = *p;
    q.tpc_conns = conns;
    tpc(b, &q, mode, dir, r);
}

void wl_tpc8(const struct backend *b, const struct params *p, enum mode mode,
             const char *dir, struct result *r)
{
    tpc_with(8, b, p, mode, dir, r);
}

void wl_tpc64(const struct backend *b, const struct params *p, enum mode mode,
              const char *dir, struct result *r)
{
    tpc_with(64, b, p, mode, dir, r);
}
