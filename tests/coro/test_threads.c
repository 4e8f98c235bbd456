/* Coroutines on several threads, sharing handles with each other and with
   plain threads; cross-thread cancellation; scale. */
#include "coro_tests.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) on a new thread and returns it. */
static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

/******************************************************************************/
/*  Several threads, shared sockets                                           */
/******************************************************************************/

enum { THREADS = 4, PAIRS = 8, MSGS = 200 };

struct mesh {
    int s[PAIRS][2];
    _Atomic int errors;
    _Atomic int received;
};

static coroutine void mesh_send(struct mesh *m, int p)
{
    for (int i = 0; i < MSGS; i++) {
        int v = p * 100000 + i;
        if (bsend(m->s[p][0], &v, sizeof(v), now() + 10000))
            atomic_fetch_add(&m->errors, 1);
    }
}

static coroutine void mesh_recv(struct mesh *m, int p)
{
    for (int i = 0; i < MSGS; i++) {
        int v;
        if (brecv(m->s[p][1], &v, sizeof(v), now() + 10000) ||
            v != p * 100000 + i)
            atomic_fetch_add(&m->errors, 1);
        else
            atomic_fetch_add(&m->received, 1);
    }
}

struct mesh_job {
    struct mesh *m;
    int id;
};

/* Thread id sends on pairs id, id+THREADS, ... and receives on the pairs
   the next thread sends on. */
static void *mesh_thread(void *arg)
{
    struct mesh_job *j = arg;
    int b = bundle();
    if (b < 0)
        return NULL;
    for (int p = j->id; p < PAIRS; p += THREADS) {
        bundle_go(b, mesh_send(j->m, p));
        bundle_go(b, mesh_recv(j->m, (p + 1) % PAIRS));
    }
    bundle_wait(b, -1);
    hclose(b);
    return NULL;
}

START_TEST(coroutines_on_several_threads_share_socket_handles)
{
    static struct mesh m;
    struct mesh_job jobs[THREADS];
    pthread_t t[THREADS];
    atomic_store(&m.errors, 0);
    atomic_store(&m.received, 0);
    for (int p = 0; p < PAIRS; p++)
        tu_pair(m.s[p]);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct mesh_job){&m, i};
        t[i] = spawn(mesh_thread, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&m.errors), 0);
    ck_assert_int_eq(atomic_load(&m.received), PAIRS * MSGS);
    for (int p = 0; p < PAIRS; p++) {
        TU_OK(hclose(m.s[p][0]));
        TU_OK(hclose(m.s[p][1]));
    }
}
END_TEST

static int echoed;

static coroutine void echo(int s, int n)
{
    char buf[16];
    for (int i = 0; i < n; i++) {
        if (brecv(s, buf, sizeof(buf), -1) || bsend(s, buf, sizeof(buf), -1))
            return;
        echoed++;
    }
}

struct plain_job {
    int s, n, errors;
};

static void *plain_client(void *arg)
{
    struct plain_job *j = arg;
    char out[16], in[16];
    for (int i = 0; i < j->n; i++) {
        memset(out, 'a' + i % 26, sizeof(out));
        if (bsend(j->s, out, sizeof(out), now() + 10000) ||
            brecv(j->s, in, sizeof(in), now() + 10000) ||
            memcmp(in, out, sizeof(in)) != 0)
            j->errors++;
    }
    return NULL;
}

START_TEST(plain_thread_and_coroutine_talk_over_one_connection)
{
    int s[2];
    tu_pair(s);
    echoed = 0;
    int cr;
    TU_HANDLE(cr, go(echo(s[1], 500)));
    static struct plain_job j;
    j = (struct plain_job){s[0], 500, 0};
    pthread_t t = spawn(plain_client, &j);
    TU_OK(bundle_wait(cr, now() + 20000));
    pthread_join(t, NULL);
    ck_assert_int_eq(j.errors, 0);
    ck_assert_int_eq(echoed, 500);
    TU_OK(hclose(cr));
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

/******************************************************************************/
/*  Cancellation across threads                                               */
/******************************************************************************/

struct remote {
    int s;
    _Atomic int cr;       /* the coroutine's handle, once made */
    _Atomic int finished; /* set by the coroutine as it ends */
    int rc, err;
};

static coroutine void remote_receive(struct remote *r)
{
    char c;
    r->rc = brecv(r->s, &c, 1, -1);
    r->err = errno;
    atomic_store(&r->finished, 1);
}

/* Starts the coroutine, then keeps the thread's scheduler going until it
   has finished: a thread's coroutines run only while it is in a tdill call. */
static void *remote_thread(void *arg)
{
    struct remote *r = arg;
    atomic_store(&r->cr, go(remote_receive(r)));
    while (!atomic_load(&r->finished))
        msleep(now() + 1);
    return NULL;
}

START_TEST(hclose_from_another_thread_cancels_the_coroutine)
{
    static struct remote r;
    int s[2];
    tu_pair(s);
    r.s = s[1];
    r.rc = -2;
    atomic_store(&r.cr, -1);
    atomic_store(&r.finished, 0);
    pthread_t t = spawn(remote_thread, &r);
    while (atomic_load(&r.cr) < 0)
        tu_sleep_ms(1);
    tu_sleep_ms(20);
    ck_assert_int_eq(atomic_load(&r.finished), 0);
    TU_OK(hclose(atomic_load(&r.cr)));
    ck_assert_int_eq(atomic_load(&r.finished), 1); /* hclose waited */
    ck_assert(r.rc == -1 && r.err == ECANCELED);
    pthread_join(t, NULL);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

static _Atomic int ticks;

static coroutine void ticker(void)
{
    while (msleep(now() + 1) == 0)
        atomic_fetch_add(&ticks, 1);
}

static coroutine void close_remote(struct remote *r)
{
    hclose(atomic_load(&r->cr));
}

static coroutine void remote_slow_receive(struct remote *r)
{
    char c;
    r->rc = brecv(r->s, &c, 1, -1);
    r->err = errno;
    tu_sleep_ms(100); /* finishing takes long on that thread */
    atomic_store(&r->finished, 1);
}

static void *remote_slow_thread(void *arg)
{
    struct remote *r = arg;
    atomic_store(&r->cr, go(remote_slow_receive(r)));
    while (!atomic_load(&r->finished))
        msleep(now() + 1);
    return NULL;
}

START_TEST(coroutine_closing_one_on_another_thread_parks_only_itself)
{
    static struct remote r;
    int s[2];
    tu_pair(s);
    r.s = s[1];
    atomic_store(&r.cr, -1);
    atomic_store(&r.finished, 0);
    pthread_t t = spawn(remote_slow_thread, &r);
    while (atomic_load(&r.cr) < 0)
        tu_sleep_ms(1);
    atomic_store(&ticks, 0);
    int tk, cl;
    TU_HANDLE(tk, go(ticker()));
    TU_HANDLE(cl, go(close_remote(&r)));
    TU_OK(bundle_wait(cl, now() + 5000));
    ck_assert_int_eq(atomic_load(&r.finished), 1);
    /* The ticker kept ticking while the closer waited 100 ms. */
    ck_assert_int_ge(atomic_load(&ticks), 20);
    TU_OK(hclose(tk));
    TU_OK(hclose(cl));
    pthread_join(t, NULL);
    TU_OK(hclose(s[0]));
    TU_OK(hclose(s[1]));
}
END_TEST

struct member_job {
    int b;
    _Atomic int *stop;
};

static _Atomic int members_started, members_cancelled;

static coroutine void member(_Atomic int *count)
{
    atomic_fetch_add(&members_started, 1);
    if (msleep(-1) == -1 && errno == ECANCELED)
        atomic_fetch_add(count, 1);
}

static void *bundle_thread(void *arg)
{
    struct member_job *j = arg;
    for (int i = 0; i < 10; i++)
        bundle_go(j->b, member(&members_cancelled));
    while (!atomic_load(j->stop))
        msleep(now() + 1);
    return NULL;
}

START_TEST(bundle_with_members_on_several_threads_cancels_them_all)
{
    static _Atomic int stop;
    atomic_store(&stop, 0);
    atomic_store(&members_cancelled, 0);
    atomic_store(&members_started, 0);
    int b;
    TU_HANDLE(b, bundle());
    struct member_job j = {b, &stop};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(bundle_thread, &j);
    while (atomic_load(&members_started) < 30)
        tu_sleep_ms(1);
    TU_FAILS(bundle_wait(b, now() + 20), ETIMEDOUT);
    TU_OK(hclose(b));
    ck_assert_int_eq(atomic_load(&members_cancelled), 30);
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}
END_TEST

static void *member_then_idle(void *arg)
{
    struct member_job *j = arg;
    bundle_go(j->b, member(&members_cancelled));
    while (!atomic_load(j->stop))
        msleep(now() + 1);
    return NULL;
}

START_TEST(forked_child_can_close_a_bundle_with_members_on_other_threads)
{
    static _Atomic int stop;
    atomic_store(&stop, 0);
    atomic_store(&members_started, 0);
    atomic_store(&members_cancelled, 0);
    int b;
    TU_HANDLE(b, bundle());
    struct member_job j = {b, &stop};
    pthread_t t = spawn(member_then_idle, &j);
    TU_OK(bundle_go(b, member(&members_cancelled)));
    while (atomic_load(&members_started) < 2)
        tu_sleep_ms(1);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        /* Only this thread's member exists here: it is cancelled. */
        int ok = hclose(b) == 0 && atomic_load(&members_cancelled) == 1;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    TU_OK(hclose(b));
    ck_assert_int_eq(atomic_load(&members_cancelled), 2);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
}
END_TEST

/******************************************************************************/
/*  Threads that come and go; scale; idle threads                             */
/******************************************************************************/

static void *short_lived(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        int cr = go(msleep(now() + 1));
        if (cr >= 0)
            hclose(cr);
    }
    return NULL;
}

START_TEST(threads_that_ran_coroutines_can_exit)
{
    for (int round = 0; round < 20; round++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            t[i] = spawn(short_lived, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
}
END_TEST

START_TEST(thousands_of_coroutines_echo_over_sockets)
{
    enum { N = 1000 };
    static int s[N][2];
    tu_raise_nofile();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int n = rl.rlim_cur > 2 * N + 64 ? N : (int)(rl.rlim_cur - 64) / 2;
    if (CORO_SANITIZED && n > 200)
        n = 200; /* slow there; the plain build proves the scale */
    echoed = 0;
    int b;
    TU_HANDLE(b, bundle());
    for (int i = 0; i < n; i++) {
        tu_pair(s[i]);
        TU_OK(bundle_go(b, echo(s[i][1], 3)));
    }
    /* 2n coroutines: n echoers, and the thread's own sends and receives. */
    char out[16] = "0123456789abcdef", in[16];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < n; i++)
            TU_OK(bsend(s[i][0], out, sizeof(out), now() + 10000));
        for (int i = 0; i < n; i++) {
            TU_OK(brecv(s[i][0], in, sizeof(in), now() + 10000));
            ck_assert(memcmp(in, out, sizeof(in)) == 0);
        }
    }
    TU_OK(bundle_wait(b, now() + 10000));
    ck_assert_int_eq(echoed, 3 * n);
    TU_OK(hclose(b));
    for (int i = 0; i < n; i++) {
        TU_OK(hclose(s[i][0]));
        TU_OK(hclose(s[i][1]));
    }
}
END_TEST

static _Atomic int napped;

/* Per thread; fewer where the sanitizers make each one slow. */
#define NAPPERS (CORO_SANITIZED ? 250 : 1000)

static coroutine void nap_once(int64_t deadline)
{
    if (msleep(deadline) == 0)
        atomic_fetch_add(&napped, 1);
}

static void *many_nappers(void *arg)
{
    (void)arg;
    int b = bundle();
    int64_t d = now() + 30;
    for (int i = 0; i < NAPPERS; i++)
        bundle_go(b, nap_once(d + i % 10));
    bundle_wait(b, -1);
    hclose(b);
    return NULL;
}

START_TEST(thousands_of_coroutines_on_each_of_several_threads)
{
    atomic_store(&napped, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(many_nappers, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&napped), 4 * NAPPERS);
}
END_TEST

static double thread_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
           ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

START_TEST(thread_sleeps_when_no_coroutine_can_run)
{
    int b;
    TU_HANDLE(b, bundle());
    for (int i = 0; i < 10; i++)
        TU_OK(bundle_go(b, msleep(now() + 200)));
    double cpu = thread_cpu_ms();
    TU_OK(bundle_wait(b, -1));
    ck_assert_msg(thread_cpu_ms() - cpu < 20, "spun %.1f ms",
                  thread_cpu_ms() - cpu);
    TU_OK(hclose(b));
}
END_TEST

void coro_add_threads(Suite *s)
{
    TCase *tc = tu_tcase("threads");
    tcase_add_test(tc, coroutines_on_several_threads_share_socket_handles);
    tcase_add_test(tc, plain_thread_and_coroutine_talk_over_one_connection);
    tcase_add_test(tc, hclose_from_another_thread_cancels_the_coroutine);
    tcase_add_test(tc,
                   coroutine_closing_one_on_another_thread_parks_only_itself);
    tcase_add_test(tc,
                   bundle_with_members_on_several_threads_cancels_them_all);
    tcase_add_test(tc, threads_that_ran_coroutines_can_exit);
    if (!CORO_TSAN)
        tcase_add_test(
            tc, forked_child_can_close_a_bundle_with_members_on_other_threads);
    suite_add_tcase(s, tc);

    tc = tu_tcase("scale");
    tcase_add_test(tc, thousands_of_coroutines_echo_over_sockets);
    tcase_add_test(tc, thousands_of_coroutines_on_each_of_several_threads);
    tcase_add_test(tc, thread_sleeps_when_no_coroutine_can_run);
    suite_add_tcase(s, tc);
}
