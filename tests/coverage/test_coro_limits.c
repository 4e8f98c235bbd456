/* The coroutine front-end at its limits: a thread's first use failing for
   want of memory, keys or mappings, go_mem's smallest stack, a full handle
   table, coroutines left behind by their thread, wake-ups that cross a
   coroutine's end. Coroutines report through static memory. */
#include "../reliability/rel.h"
#include "../reliability/failmalloc.h"
#include "inject.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tdill_coro.h>

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#else
#define ASAN 0
#endif

/* A forked child owns memory of threads that do not exist there, and a
   thread's coroutines left behind are never freed (tdill_coro(7)): ASan's
   leak checker would rightly say so at its exit. */
static void end_child_that_leaks(void)
{
    if (ASAN)
        _exit(0);
}

static int ck_nofork(void)
{
    const char *f = getenv("CK_FORK");
    return f && strcmp(f, "no") == 0;
}

/* Lines in /proc/self/maps. */
static int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Runs fn(arg) in a new thread and waits for it. */
static void in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}

static _Atomic int ran;

static coroutine void count_run(void)
{
    atomic_fetch_add(&ran, 1);
}

static coroutine void sleep_forever(void)
{
    msleep(-1);
}

/* ---- go_mem ------------------------------------------------------------*/

START_TEST(go_mem_accepts_4096_bytes_and_not_much_less)
{
    static _Alignas(64) char stk[16384];
    size_t len;
    for (len = 64; len <= sizeof stk; len += 64) {
        errno = 0;
        int h = go_mem(count_run(), stk, len);
        if (h >= 0) {
            TU_OK(hclose(h));
            break;
        }
        ck_assert_msg(errno == EINVAL, "go_mem(%zu): %s", len,
                      tu_errname(errno));
    }
    /* 3456 bytes of stack below the records (512 bytes): the smallest
       block that works is 4096 at most, as libdill's tests/bundle.c needs,
       and every larger size works too. */
    ck_assert_uint_gt(len, 3456);
    ck_assert_uint_le(len, 4096);
    for (size_t more = len; more <= sizeof stk; more += 512) {
        int h;
        TU_HANDLE(h, go_mem(count_run(), stk, more));
        TU_OK(hclose(h));
    }
}
END_TEST

/* ---- a thread's first use ------------------------------------------------*/

enum first_call { FIRST_GO, FIRST_YIELD, FIRST_MSLEEP };

struct first_use {
    enum first_call call;
    int fail_at;        /* failmalloc: that allocation fails */
    enum inj_fn inject; /* else: this function fails */
    int rc, err, injected, after;
};

static void *first_use_main(void *arg)
{
    struct first_use *f = arg;
    if (f->fail_at)
        fm_arm(f->fail_at);
    else if (f->inject != INJ_N) /* INJ_N: nothing fails */
        inj_arm(f->inject, INJ_FAIL, EAGAIN, INJ_ANY);
    errno = 0;
    switch (f->call) {
    case FIRST_GO:
        f->rc = go(count_run());
        break;
    case FIRST_YIELD:
        f->rc = yield();
        break;
    case FIRST_MSLEEP:
        f->rc = msleep(now() + 1);
        break;
    }
    f->err = errno;
    if (f->fail_at) {
        fm_disarm();
        f->injected = fm_injected();
    } else {
        f->injected = inj_disarm();
    }
    /* Nothing half made: the next call sets the thread up. */
    f->after = yield();
    return NULL;
}

START_TEST(
    first_use_in_a_thread_fails_with_enomem_if_its_scheduler_cannot_be_made)
{
    struct first_use cases[] = {
        {FIRST_GO, 1, 0, 0, 0, 0, 0},     /* the scheduler */
        {FIRST_YIELD, 1, 0, 0, 0, 0, 0},  /* the scheduler */
        {FIRST_MSLEEP, 1, 0, 0, 0, 0, 0}, /* the scheduler */
        {FIRST_YIELD, 2, 0, 0, 0, 0, 0},  /* its timer heap */
        {FIRST_YIELD, 0, INJ_PTHREAD_CONDATTR_INIT, 0, 0, 0, 0},
        {FIRST_MSLEEP, 0, INJ_PTHREAD_COND_INIT, 0, 0, 0, 0},
    };
    /* The front-end's key exists from here on (making it allocates). */
    struct first_use warm = {FIRST_YIELD, 0, INJ_N, 0, 0, 0, 0};
    in_thread(first_use_main, &warm);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct first_use *f = &cases[i];
        in_thread(first_use_main, f);
        if (f->fail_at && !f->injected && tu_valgrind()) {
            /* valgrind replaces malloc in the program too. */
            fprintf(stderr, "valgrind: allocation failure not injected\n");
            continue;
        }
        ck_assert_msg(f->injected, "case %zu: nothing failed", i);
        ck_assert_msg(f->rc == -1 && f->err == ENOMEM, "case %zu: %d with %s",
                      i, f->rc, tu_errname(f->err));
        ck_assert_int_eq(f->after, 0);
    }
}
END_TEST

/* Past the first 32 keys, pthread_setspecific allocates a block in each
   thread that first sets one: a third allocation the first use needs. */
struct nth {
    long n;
    int rc, err, injected;
};

static void *yield_failing_nth(void *arg)
{
    struct nth *f = arg;
    fm_arm(f->n);
    errno = 0;
    f->rc = yield();
    f->err = errno;
    fm_disarm();
    f->injected = fm_injected();
    return NULL;
}

static void high_key_child(void *arg)
{
    (void)arg;
    pthread_key_t k;
    for (int i = 0; i < 40; i++)
        RC_CHECK(pthread_key_create(&k, NULL) == 0, "pthread_key_create");
    RC_OK(yield()); /* the front-end's key, now above 40 */
    long n;
    for (n = 1; n < 20; n++) {
        struct nth f = {n, 0, 0, 0};
        pthread_t t;
        RC_CHECK(pthread_create(&t, NULL, yield_failing_nth, &f) == 0,
                 "thread");
        pthread_join(t, NULL);
        if (!f.injected) {
            RC_CHECK(f.rc == 0, "yield: %s", tu_errname(f.err));
            break;
        }
        RC_CHECK(f.rc == -1 && f.err == ENOMEM, "allocation %ld: %d %s", n,
                 f.rc, tu_errname(f.err));
    }
    /* The scheduler, its timer heap, the key's block. */
    RC_CHECK(n == 4, "%ld allocations", n - 1);
}

static void no_key_left_child(void *arg)
{
    (void)arg;
    pthread_key_t k;
    int made = 0;
    while (pthread_key_create(&k, NULL) == 0)
        made++;
    RC_CHECK(made > 0, "no key could be made at all");
    RC_FAILS(yield(), ENOMEM);
    RC_FAILS(go(count_run()), ENOMEM);
    RC_OK(pthread_key_delete(k)); /* the key is made only once */
    RC_FAILS(yield(), ENOMEM);
}

START_TEST(first_use_fails_with_enomem_when_no_thread_key_is_left)
{
    rel_in_child(no_key_left_child, NULL, 20);
}
END_TEST

START_TEST(
    first_use_fails_with_enomem_when_the_threads_key_block_cannot_be_made)
{
    if (tu_valgrind() || ck_nofork()) {
        fprintf(stderr, "valgrind or CK_FORK=no: not injected\n");
        return;
    }
    rel_in_child(high_key_child, NULL, 20);
}
END_TEST

/* ---- stacks and timers -----------------------------------------------------*/

struct refused {
    enum inj_fn fn;
    long sel;
    int rc, err, fired, maps_before, maps_after, again;
};

static void *refused_stack_main(void *arg)
{
    struct refused *r = arg;
    yield(); /* the scheduler, with an empty stack cache */
    r->maps_before = count_maps();
    inj_arm(r->fn, INJ_FAIL, ENOMEM, r->sel);
    errno = 0;
    r->rc = go(count_run());
    r->err = errno;
    r->fired = inj_disarm();
    r->maps_after = count_maps();
    int h = go(count_run());
    r->again = h >= 0 ? hclose(h) : -1;
    return NULL;
}

START_TEST(
    go_fails_with_enomem_and_maps_nothing_if_the_stack_or_its_guard_page_is_refused)
{
    struct refused cases[] = {
        {INJ_MMAP, TDILL_STACK_SIZE, 0, 0, 0, 0, 0, 0},
        {INJ_MPROTECT, PROT_NONE, 0, 0, 0, 0, 0, 0},
    };
    for (int i = 0; i < 2; i++) {
        struct refused *r = &cases[i];
        in_thread(refused_stack_main, r);
        ck_assert_msg(r->fired, "case %d: nothing refused", i);
        ck_assert_msg(r->rc == -1 && r->err == ENOMEM, "case %d: %d %s", i,
                      r->rc, tu_errname(r->err));
        ck_assert_int_eq(r->maps_after, r->maps_before);
        ck_assert_int_eq(r->again, 0);
    }
}
END_TEST

/* The timer heap grows with the coroutines a thread has (room for all of
   them is made in go(), so that blocking never allocates). */
struct grow {
    int rc, err, injected, closed;
};

static void *timer_heap_main(void *arg)
{
    struct grow *g = arg;
    int h[16];
    for (int i = 0; i < 15; i++)
        h[i] = go(sleep_forever());
    fm_arm(1);
    errno = 0;
    g->rc = go(sleep_forever());
    g->err = errno;
    fm_disarm();
    g->injected = fm_injected();
    h[15] = go(sleep_forever());
    for (int i = 0; i < 16; i++)
        g->closed += h[i] >= 0 && hclose(h[i]) == 0;
    return NULL;
}

START_TEST(go_fails_with_enomem_when_the_timer_heap_cannot_grow)
{
    struct grow g = {0, 0, 0, 0};
    in_thread(timer_heap_main, &g);
    ck_assert_int_eq(g.closed, 16);
    if (!g.injected && tu_valgrind()) {
        fprintf(stderr, "valgrind: allocation failure not injected\n");
        return;
    }
    ck_assert(g.injected);
    ck_assert_msg(g.rc == -1 && g.err == ENOMEM, "%d %s", g.rc,
                  tu_errname(g.err));
}
END_TEST

/* ---- the handle table ----------------------------------------------------*/

/* bundle() and bundle_mem() make the table's first chunk in a process
   that has no handle yet. */
static void first_chunk_child(void *arg)
{
    (void)arg;
    struct bundle_storage mem;
    fm_arm(1);
    RC_FAILS(bundle(), ENOMEM); /* the bundle itself */
    fm_disarm();
    RC_CHECK(fm_injected(), "bundle() allocated nothing");
    fm_arm(2);
    RC_FAILS(bundle(), ENOMEM); /* the table's chunk */
    fm_disarm();
    RC_CHECK(fm_injected(), "bundle() made no chunk");
    fm_arm(1);
    RC_FAILS(bundle_mem(&mem), ENOMEM);
    fm_disarm();
    RC_CHECK(fm_injected(), "bundle_mem() made no chunk");
    int b;
    RC_HANDLE(b, bundle_mem(&mem));
    RC_OK(hclose(b));
    RC_HANDLE(b, bundle());
    RC_OK(hclose(b));
}

START_TEST(bundle_fails_with_enomem_when_it_or_the_handle_table_cannot_grow)
{
    if (tu_valgrind() || ck_nofork()) {
        fprintf(stderr, "valgrind or CK_FORK=no: not injected\n");
        return;
    }
    rel_in_child(first_chunk_child, NULL, 20);
}
END_TEST

#define MAX_HANDLES (1 << 20)

static void table_full_child(void *arg)
{
    (void)arg;
    int *h = malloc(MAX_HANDLES * sizeof(int));
    RC_CHECK(h != NULL, "malloc");
    int n = 0;
    for (;;) {
        errno = 0;
        int b = bundle();
        if (b < 0) {
            RC_CHECK(errno == EMFILE, "bundle %d: %s", n, tu_errname(errno));
            break;
        }
        RC_CHECK(n < MAX_HANDLES, "more than %d handles", MAX_HANDLES);
        h[n++] = b;
    }
    /* About a million, less what this process had used before. */
    RC_CHECK(n > MAX_HANDLES - 4096, "only %d handles", n);
    int s[2];
    RC_FAILS(ipc_pair(s), EMFILE);
    RC_FAILS(go(count_run()), EMFILE);
    static _Alignas(64) char stk[65536];
    RC_FAILS(go_mem(count_run(), stk, sizeof stk), EMFILE);
    /* A slot closed now is reused at once, though it would otherwise wait
       in quarantine; the number is a new one. */
    RC_OK(hclose(h[n / 2]));
    int b;
    RC_HANDLE(b, bundle());
    RC_CHECK(b != h[n / 2], "old handle number given again");
    RC_FAILS(bundle_wait(h[n / 2], 0), EBADF);
    RC_FAILS(bundle(), EMFILE);
    RC_OK(hclose(b));
    free(h);
    /* The process ends here; the bundles are not closed. */
}

START_TEST(
    handle_table_full_fails_with_emfile_and_reuses_a_closed_slot_at_once)
{
    if (tu_valgrind()) {
        fprintf(stderr, "valgrind: a million handles would take minutes\n");
        return;
    }
    rel_in_child(table_full_child, NULL, 60);
}
END_TEST

/* ---- threads and wake-ups ---------------------------------------------------*/

static _Atomic int woke;

static coroutine void nap_then_mark(void)
{
    if (msleep(now() + 50) == 0)
        atomic_store(&woke, 1);
}

static void *leave_a_coroutine(void *arg)
{
    int *h = arg;
    *h = go(nap_then_mark());
    return NULL; /* exits with the coroutine asleep */
}

static void left_behind_child(void *arg)
{
    (void)arg;
    int h = -1;
    pthread_t t;
    RC_CHECK(pthread_create(&t, NULL, leave_a_coroutine, &h) == 0, "thread");
    RC_CHECK(pthread_join(t, NULL) == 0, "join");
    RC_CHECK(h >= 0, "go failed");
    tu_sleep_ms(200);
    RC_CHECK(atomic_load(&woke) == 0, "the coroutine ran again");
    RC_FAILS(bundle_wait(h, now() + 20), ETIMEDOUT);
    end_child_that_leaks();
}

START_TEST(coroutines_left_behind_by_an_exited_thread_never_run_again)
{
    rel_in_child(left_behind_child, NULL, 20);
}
END_TEST

/* A coroutine cancelled by another thread just before it returns: the
   stale wake-up is queued behind the caller of bundle_go, and the reaper
   takes it out again. */
struct closer {
    int b;
    pid_t tid;
    _Atomic int started;
    int rc;
};

static void *closer_main(void *arg)
{
    struct closer *c = arg;
    c->tid = tu_gettid();
    atomic_store(&c->started, 1);
    c->rc = hclose(c->b);
    return NULL;
}

static struct closer the_closer;
static pthread_t closer_thread;

static coroutine void get_closed_then_return(void)
{
    atomic_fetch_add(&ran, 1);
    ck_assert_int_eq(
        pthread_create(&closer_thread, NULL, closer_main, &the_closer), 0);
    while (!atomic_load(&the_closer.started))
        tu_sleep_ms(1);
    /* The closer has cancelled us and waits for us to leave. */
    tu_wait_sleeping(the_closer.tid);
}

START_TEST(a_coroutine_cancelled_as_it_returns_is_reaped_once)
{
    atomic_store(&ran, 0);
    the_closer = (struct closer){.rc = -2};
    TU_HANDLE(the_closer.b, bundle());
    TU_OK(bundle_go(the_closer.b, get_closed_then_return()));
    ck_assert_int_eq(pthread_join(closer_thread, NULL), 0);
    ck_assert_int_eq(the_closer.rc, 0);
    ck_assert_int_eq(atomic_load(&ran), 1);
    TU_FAILS(bundle_wait(the_closer.b, 0), EBADF);
    TU_OK(yield());
}
END_TEST

/* A coroutine parked in brecv, on a thread that is busy elsewhere, is
   cancelled by one thread and woken by the poller on another: it is
   queued once and runs once. */
struct twice {
    int s[2];
    int h;
    int pipe[2];
    pid_t tid;
    _Atomic int parked, done;
    int rc, err;
};

static struct twice tw;

static coroutine void recv_once(void)
{
    char c;
    errno = 0;
    tw.rc = brecv(tw.s[0], &c, 1, -1);
    tw.err = errno;
    atomic_fetch_add(&ran, 1);
    atomic_store(&tw.done, 1);
}

static void *busy_host(void *arg)
{
    (void)arg;
    tw.tid = tu_gettid();
    tw.h = go(recv_once());
    /* It spins a little, giving way at each try, then parks. */
    msleep(now() + 50);
    atomic_store(&tw.parked, 1);
    char c;
    /* Busy outside tdill: the coroutine cannot run meanwhile. */
    while (read(tw.pipe[0], &c, 1) < 0 && errno == EINTR)
        ;
    while (!atomic_load(&tw.done))
        yield();
    return NULL;
}

START_TEST(a_coroutine_woken_by_two_threads_at_once_runs_once)
{
    atomic_store(&ran, 0);
    tw = (struct twice){.h = -1, .rc = -2};
    tu_pair(tw.s);
    ck_assert_int_eq(pipe(tw.pipe), 0);
    pthread_t host;
    ck_assert_int_eq(pthread_create(&host, NULL, busy_host, NULL), 0);
    while (!atomic_load(&tw.parked))
        tu_sleep_ms(1);
    tu_wait_sleeping(tw.tid);
    ck_assert_int_ge(tw.h, 0);
    /* Wake-up 1: hclose cancels it, then waits for it to finish. */
    struct tu_op closer = {.kind = TU_HCLOSE, .h = tw.h};
    tu_op_start_blocked(&closer);
    /* Wake-up 2: its receive becomes ready (an I/O thread). */
    TU_OK(bsend(tw.s[1], "x", 1, now() + 5000));
    tu_sleep_ms(50 * tu_slowness());
    ck_assert_int_eq(atomic_load(&ran), 0);
    ck_assert_int_eq(write(tw.pipe[1], "go", 1), 1);
    tu_op_join(&closer);
    TU_OP_OK(&closer);
    ck_assert_int_eq(pthread_join(host, NULL), 0);
    ck_assert_int_eq(atomic_load(&ran), 1);
    /* Cancelled is checked first when it resumes. */
    ck_assert_msg(tw.rc == -1 && tw.err == ECANCELED, "brecv: %d %s", tw.rc,
                  tu_errname(tw.err));
    close(tw.pipe[0]);
    close(tw.pipe[1]);
    TU_OK(hclose(tw.s[0]));
    TU_OK(hclose(tw.s[1]));
}
END_TEST

/* bundle_wait woken because the bundle emptied, on a thread busy
   elsewhere; before it looks again a new member has joined and another
   thread has begun closing the bundle: it fails with ECANCELED (the
   bundle was closed while it waited), though its waiter was woken as
   ready. */
struct reopen {
    int b, hw, hc;
    int m0[2], c[2], pipe_t[2], pipe_t2[2];
    pid_t tid_t, tid_t2;
    _Atomic int t2_ready, t_ready, m0_done, t2_blocked, m2_done;
    int wait_rc, wait_err;
    pthread_t t, t2;
};

static struct reopen ro;

static coroutine void ro_waiter(void)
{
    errno = 0;
    ro.wait_rc = bundle_wait(ro.b, -1);
    ro.wait_err = errno;
}

static coroutine void ro_first_member(void)
{
    char c;
    brecv(ro.m0[0], &c, 1, -1);
    atomic_store(&ro.m0_done, 1);
}

static coroutine void ro_second_member(void)
{
    msleep(-1); /* until cancelled */
    atomic_store(&ro.m2_done, 1);
}

static coroutine void ro_joiner(void)
{
    char c;
    brecv(ro.c[0], &c, 1, -1);
    bundle_go(ro.b, ro_second_member());
}

static void wait_byte(int fd)
{
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

/* Runs the members: the first, then (from a coroutine of its own) the
   second; then stays busy outside tdill until told. */
static void *ro_members_thread(void *arg)
{
    (void)arg;
    ro.tid_t2 = tu_gettid();
    bundle_go(ro.b, ro_first_member());
    ro.hc = go(ro_joiner());
    msleep(now() + 50); /* both park in brecv */
    atomic_store(&ro.t2_ready, 1);
    bundle_wait(ro.hc, -1);
    atomic_store(&ro.t2_blocked, 1);
    wait_byte(ro.pipe_t2[0]);
    while (!atomic_load(&ro.m2_done))
        yield();
    hclose(ro.hc);
    return NULL;
}

/* Runs the waiter, then stays busy outside tdill until told. */
static void *ro_waiter_thread(void *arg)
{
    (void)arg;
    ro.tid_t = tu_gettid();
    ro.hw = go(ro_waiter());
    atomic_store(&ro.t_ready, 1);
    wait_byte(ro.pipe_t[0]);
    bundle_wait(ro.hw, -1); /* the waiter runs now */
    hclose(ro.hw);
    return NULL;
}

static void spin_until(_Atomic int *flag)
{
    while (!atomic_load(flag))
        tu_sleep_ms(1);
}

START_TEST(
    bundle_wait_woken_as_the_bundle_emptied_fails_with_ecanceled_if_it_is_being_closed)
{
    memset(&ro, 0, sizeof ro);
    ro.wait_rc = -2;
    TU_HANDLE(ro.b, bundle());
    tu_pair(ro.m0);
    tu_pair(ro.c);
    ck_assert_int_eq(pipe(ro.pipe_t), 0);
    ck_assert_int_eq(pipe(ro.pipe_t2), 0);
    ck_assert_int_eq(pthread_create(&ro.t2, NULL, ro_members_thread, NULL), 0);
    spin_until(&ro.t2_ready);
    ck_assert_int_eq(pthread_create(&ro.t, NULL, ro_waiter_thread, NULL), 0);
    spin_until(&ro.t_ready);
    tu_wait_sleeping(ro.tid_t);
    /* The only member finishes: the waiter is woken, but its thread is
       busy. */
    TU_OK(bsend(ro.m0[1], "x", 1, now() + 5000));
    spin_until(&ro.m0_done);
    /* A new member joins; then its thread is busy too. */
    TU_OK(bsend(ro.c[1], "x", 1, now() + 5000));
    spin_until(&ro.t2_blocked);
    tu_wait_sleeping(ro.tid_t2);
    /* The bundle is closed: its member is cancelled, the closer waits. */
    struct tu_op closer = {.kind = TU_HCLOSE, .h = ro.b};
    tu_op_start_blocked(&closer);
    /* Now the waiter looks. */
    ck_assert_int_eq(write(ro.pipe_t[1], "x", 1), 1);
    ck_assert_int_eq(pthread_join(ro.t, NULL), 0);
    ck_assert_msg(ro.wait_rc == -1 && ro.wait_err == ECANCELED,
                  "bundle_wait: %d %s", ro.wait_rc, tu_errname(ro.wait_err));
    ck_assert(!tu_op_done(&closer));
    /* The member goes, and so does the bundle. */
    ck_assert_int_eq(write(ro.pipe_t2[1], "x", 1), 1);
    ck_assert_int_eq(pthread_join(ro.t2, NULL), 0);
    tu_op_join(&closer);
    TU_OP_OK(&closer);
    for (int i = 0; i < 2; i++) {
        TU_OK(hclose(ro.m0[i]));
        TU_OK(hclose(ro.c[i]));
        close(ro.pipe_t[i]);
        close(ro.pipe_t2[i]);
    }
}
END_TEST

/* ---- fork ------------------------------------------------------------*/

/* Members and waiters of a bundle on several threads at fork(): the child
   keeps those of the forking thread, with their references, and can close
   the bundle; the others never existed there. */
static _Atomic int members_cancelled, closing_member_cancelled;
static int wait_rc, wait_err;

static coroutine void member_until_cancelled(void)
{
    if (msleep(-1) == -1 && errno == ECANCELED)
        atomic_fetch_add(&members_cancelled, 1);
}

static coroutine void member_of_a_closing_bundle(void)
{
    if (msleep(-1) == -1 && errno == ECANCELED)
        atomic_fetch_add(&closing_member_cancelled, 1);
}

static coroutine void wait_for_bundle(int b)
{
    errno = 0;
    wait_rc = bundle_wait(b, -1);
    wait_err = errno;
}

struct other {
    int b;
    int coro; /* run a member of b and wait as a coroutine thread */
    pid_t tid;
    _Atomic int started;
    int rc, err;
    pthread_t th;
};

static void *other_main(void *arg)
{
    struct other *o = arg;
    o->tid = tu_gettid();
    if (o->coro && bundle_go(o->b, member_until_cancelled()) != 0)
        return NULL;
    atomic_store(&o->started, 1);
    errno = 0;
    o->rc = bundle_wait(o->b, -1);
    o->err = errno;
    return NULL;
}

static void forked_bundle_child(void *arg)
{
    int *b = arg;
    /* b2, which another thread was closing, waits for its member here. */
    RC_FAILS(bundle_wait(b[1], 0), EBADF);
    RC_OK(hclose(b[0]));
    RC_CHECK(atomic_load(&members_cancelled) == 1, "%d members cancelled",
             atomic_load(&members_cancelled));
    RC_CHECK(wait_rc == -1 && wait_err == ECANCELED, "bundle_wait: %d %s",
             wait_rc, tu_errname(wait_err));
    /* That member ran when this thread parked, and left b2. */
    RC_CHECK(atomic_load(&closing_member_cancelled) == 1,
             "b2's member not cancelled");
    end_child_that_leaks();
}

START_TEST(child_keeps_the_bundle_members_and_waiters_of_the_forking_thread)
{
    atomic_store(&members_cancelled, 0);
    atomic_store(&closing_member_cancelled, 0);
    wait_rc = -2;
    int b, w, b2[2];
    TU_HANDLE(b, bundle());
    struct other o[2] = {{.b = b, .coro = 1}, {.b = b, .coro = 0}};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_create(&o[i].th, NULL, other_main, &o[i]), 0);
        while (!atomic_load(&o[i].started))
            tu_sleep_ms(1);
        tu_wait_sleeping(o[i].tid);
    }
    TU_OK(bundle_go(b, member_until_cancelled()));
    TU_HANDLE(w, go(wait_for_bundle(b)));
    /* Another bundle, with a member here, that another thread closes. */
    b2[0] = b;
    TU_HANDLE(b2[1], bundle());
    TU_OK(bundle_go(b2[1], member_of_a_closing_bundle()));
    struct tu_op closer = {.kind = TU_HCLOSE, .h = b2[1]};
    tu_op_start_blocked(&closer);
    rel_in_child(forked_bundle_child, b2, 20);
    ck_assert(!tu_op_done(&closer));
    TU_OK(hclose(b));
    ck_assert_int_eq(atomic_load(&members_cancelled), 2);
    tu_op_join(&closer);
    TU_OP_OK(&closer);
    ck_assert_int_eq(atomic_load(&closing_member_cancelled), 1);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(o[i].th, NULL), 0);
        ck_assert_msg(o[i].rc == -1 && o[i].err == ECANCELED,
                      "thread %d: %d %s", i, o[i].rc, tu_errname(o[i].err));
    }
    ck_assert(wait_rc == -1 && wait_err == ECANCELED);
    TU_OK(hclose(w));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("coro_limits");
    TCase *tc = tu_tcase("memory");
    tcase_add_test(tc, go_mem_accepts_4096_bytes_and_not_much_less);
    tcase_add_test(
        tc,
        first_use_in_a_thread_fails_with_enomem_if_its_scheduler_cannot_be_made);
    tcase_add_test(
        tc,
        first_use_fails_with_enomem_when_the_threads_key_block_cannot_be_made);
    tcase_add_test(
        tc,
        go_fails_with_enomem_and_maps_nothing_if_the_stack_or_its_guard_page_is_refused);
    tcase_add_test(tc, go_fails_with_enomem_when_the_timer_heap_cannot_grow);
    tcase_add_test(
        tc, bundle_fails_with_enomem_when_it_or_the_handle_table_cannot_grow);
    suite_add_tcase(s, tc);

    tc = tu_tcase("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(
        tc,
        handle_table_full_fails_with_emfile_and_reuses_a_closed_slot_at_once);
    suite_add_tcase(s, tc);

    tc = tu_tcase("threads");
    tcase_add_test(tc,
                   coroutines_left_behind_by_an_exited_thread_never_run_again);
    tcase_add_test(tc, a_coroutine_cancelled_as_it_returns_is_reaped_once);
    tcase_add_test(tc, a_coroutine_woken_by_two_threads_at_once_runs_once);
    tcase_add_test(tc, first_use_fails_with_enomem_when_no_thread_key_is_left);
    tcase_add_test(
        tc,
        bundle_wait_woken_as_the_bundle_emptied_fails_with_ecanceled_if_it_is_being_closed);
    suite_add_tcase(s, tc);

    tc = tu_tcase("fork");
    tcase_add_test(
        tc, child_keeps_the_bundle_members_and_waiters_of_the_forking_thread);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
