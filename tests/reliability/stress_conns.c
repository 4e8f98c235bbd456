/* The stress test's shared state: tallies and failures, watched calls,
   connection slots, the listener, stale handles; see stress.h. */
#include "stress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define STALE_RING 64

struct st_run st = {.lst_mu = PTHREAD_MUTEX_INITIALIZER, .lst_h = -1};

/******************************************************************************/
/*  Tallies and failures                                                      */
/******************************************************************************/

const char *const st_op_names[NOPS] = {
    "bsend",           "bsendl",       "ipc_sendfd",  "brecv",
    "brecvl",          "brecv(NULL)",  "ipc_recvfd",  "0-byte probe",
    "dead-side probe", "ipc_done",     "ipc_close",   "hclose",
    "hclose(in use)",  "ipc_pair",     "ipc_connect", "ipc_accept",
    "hello",           "stale handle", "wrong kind",  "ipc_peercred",
    "ipc_listen",      "teardown",
};

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static int nfail;
static char first_fail[512];

void st_failure(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fail_mu);
    if (nfail == 0)
        snprintf(first_fail, sizeof first_fail, "%s", msg);
    if (nfail < 20)
        fprintf(stderr, "stress: FAILURE: %s\n", msg);
    nfail++;
    pthread_mutex_unlock(&fail_mu);
}

int st_failures(const char **first)
{
    pthread_mutex_lock(&fail_mu);
    int n = nfail;
    pthread_mutex_unlock(&fail_mu);
    *first = first_fail; /* written once, before nfail became non-zero */
    return n;
}

int st_judge(enum st_op op, long rc, int err, const int *allowed, int h)
{
    atomic_fetch_add(&st.tally[op][0], 1);
    if (rc >= 0) {
        atomic_fetch_add(&st.tally[op][1], 1);
        return 1;
    }
    for (const int *a = allowed; *a; a++)
        if (*a == err)
            return 0;
    st_failure("%s on handle %d failed with %s (%d), not allowed here",
               st_op_names[op], h, tu_errname(err), err);
    return 0;
}

/******************************************************************************/
/*  Watched calls and randomness                                              */
/******************************************************************************/

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void st_call_begin(struct worker *w, enum st_op op, int h, int64_t dl)
{
    w->began_us = mono_us();
    atomic_store(&w->op, op);
    atomic_store(&w->h, h);
    atomic_store(&w->deadline, dl < 0 ? -1 : dl);
    atomic_fetch_add(&w->seq, 1);
    atomic_store(&w->started, now());
}

void st_call_end(struct worker *w)
{
    atomic_store(&w->started, 0);
    atomic_fetch_add(&st.tally_us[atomic_load(&w->op)],
                     mono_us() - w->began_us);
}

uint64_t st_rnd(struct worker *w)
{
    return tu_rand(&w->rng);
}
size_t st_rndn(struct worker *w, size_t n)
{
    return (size_t)(st_rnd(w) % n);
}

int64_t st_deadline(struct worker *w, int risky)
{
    size_t r = st_rndn(w, 100);
    if (r < 15)
        return 0;
    if (r < 25)
        return now() - 1 - (int64_t)st_rndn(w, 10);
    if (risky && r < 30)
        return -1;
    return now() + 1 + (int64_t)st_rndn(w, 30);
}

/******************************************************************************/
/*  Stale handles and connection slots                                        */
/******************************************************************************/

static _Atomic uint64_t next_serial;

/* Stale handles: closed for certain, so they must answer EBADF. */
static pthread_mutex_t stale_mu = PTHREAD_MUTEX_INITIALIZER;
static int stale[STALE_RING], nstale;
static unsigned stale_pos;

void st_stale_push(int h)
{
    pthread_mutex_lock(&stale_mu);
    stale[stale_pos++ % STALE_RING] = h;
    if (nstale < STALE_RING)
        nstale++;
    pthread_mutex_unlock(&stale_mu);
}

int st_stale_pick(struct worker *w)
{
    int h = -1;
    pthread_mutex_lock(&stale_mu);
    if (nstale)
        h = stale[st_rndn(w, (size_t)nstale)];
    pthread_mutex_unlock(&stale_mu);
    return h;
}

int st_snapshot(struct st_conn *c, int e, uint64_t *serial)
{
    int h = -1;
    pthread_mutex_lock(&c->mu);
    if (c->state == C_ACTIVE) {
        h = atomic_load(&c->end[e]);
        *serial = c->serial;
    }
    pthread_mutex_unlock(&c->mu);
    return h;
}

static void lock_dirs(struct st_conn *c)
{
    for (int d = 0; d < 2; d++) {
        pthread_mutex_lock(&c->dir[d].snd_mu);
        pthread_mutex_lock(&c->dir[d].rcv_mu);
    }
}

static void unlock_dirs(struct st_conn *c)
{
    for (int d = 1; d >= 0; d--) {
        pthread_mutex_unlock(&c->dir[d].rcv_mu);
        pthread_mutex_unlock(&c->dir[d].snd_mu);
    }
}

void st_close_end(struct st_conn *c, int e, int orderly, struct worker *w)
{
    int h = atomic_exchange(&c->end[e], -1);
    if (h < 0)
        return;
    long rc;
    /* Another thread may have closed it behind the slot's back (EBADF). */
    if (orderly) {
        int64_t dl = w ? st_deadline(w, 0) : 0;
        rc = w ? ST_CALL(w, OP_IPC_CLOSE, h, dl, ipc_close(h, dl))
               : ipc_close(h, dl);
        st_judge(OP_IPC_CLOSE, rc, errno,
                 ERRS(ETIMEDOUT, ECONNRESET, EBUSY, ECANCELED, EBADF), h);
    } else {
        rc = w ? ST_CALL(w, OP_HCLOSE, h, now(), hclose(h)) : hclose(h);
        st_judge(OP_HCLOSE, rc, errno, ERRS(EBADF), h);
    }
    st_stale_push(h);
    pthread_mutex_lock(&c->mu);
    void *mem = c->mem[e];
    c->mem[e] = NULL;
    pthread_mutex_unlock(&c->mu);
    free(mem); /* the library is done with it once the close returned */
}

void st_teardown(struct st_conn *c)
{
    st_close_end(c, 0, 0, NULL);
    st_close_end(c, 1, 0, NULL);
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int busy = c->closers;
        pthread_mutex_unlock(&c->mu);
        if (!busy)
            break;
        tu_sleep_ms(1);
    }
    lock_dirs(c);
    for (int d = 0; d < 2; d++) {
        struct st_dir *x = &c->dir[d];
        uint64_t sf = atomic_load(&x->sent_frames);
        uint64_t rf = atomic_load(&x->rcvd_frames);
        if (rf > sf)
            st_failure("connection %llu direction %d: %llu frames received, "
                       "only %llu sent",
                       (unsigned long long)x->serial, d,
                       (unsigned long long)rf, (unsigned long long)sf);
        x->serial = 0;
        x->snd_seq = x->rcv_seq = 0;
        x->snd_busy = x->rcv_busy = 0;
        x->snd_dead = x->rcv_dead = 0;
        atomic_store(&x->sent, 0);
        atomic_store(&x->rcvd, 0);
        atomic_store(&x->sent_frames, 0);
        atomic_store(&x->rcvd_frames, 0);
        atomic_store(&x->dead, 0);
    }
    unlock_dirs(c);
    pthread_mutex_lock(&c->mu);
    void *pm = c->pair_mem;
    c->pair_mem = NULL;
    c->state = C_FREE;
    pthread_mutex_unlock(&c->mu);
    free(pm);
    atomic_fetch_add(&st.tally[OP_TEARDOWN][0], 1);
    atomic_fetch_add(&st.tally[OP_TEARDOWN][1], 1);
}

int st_begin_teardown(struct st_conn *c, int force, int64_t stale_before)
{
    int go = 0;
    pthread_mutex_lock(&c->mu);
    if (c->state == C_ACTIVE)
        go = force ||
             (atomic_load(&c->end[0]) < 0 && atomic_load(&c->end[1]) < 0) ||
             (atomic_load(&c->dir[0].dead) && atomic_load(&c->dir[1].dead));
    else if (c->state == C_CONNECTING)
        go = force || c->born < stale_before;
    if (go && c->state == C_CONNECTING)
        atomic_fetch_sub(&st.connecting, 1);
    if (go)
        c->state = C_CLOSING;
    pthread_mutex_unlock(&c->mu);
    if (go)
        st_teardown(c);
    return go;
}

struct st_conn *st_claim_slot(struct worker *w, uint64_t *serial)
{
    size_t start = st_rndn(w, NSLOT);
    for (size_t i = 0; i < NSLOT; i++) {
        struct st_conn *c = &st.conns[(start + i) % NSLOT];
        pthread_mutex_lock(&c->mu);
        if (c->state == C_FREE) {
            c->state = C_MAKING;
            c->serial = *serial = atomic_fetch_add(&next_serial, 1) + 1;
            pthread_mutex_unlock(&c->mu);
            lock_dirs(c);
            c->dir[0].serial = c->dir[1].serial = *serial;
            unlock_dirs(c);
            return c;
        }
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

void st_unclaim_slot(struct st_conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->state = C_FREE;
    pthread_mutex_unlock(&c->mu);
}

void st_setup_slots(void)
{
    for (int i = 0; i < NSLOT; i++) {
        struct st_conn *c = &st.conns[i];
        pthread_mutex_init(&c->mu, NULL);
        c->state = C_FREE;
        atomic_store(&c->end[0], -1);
        atomic_store(&c->end[1], -1);
        for (int d = 0; d < 2; d++) {
            struct st_dir *x = &c->dir[d];
            pthread_mutex_init(&x->snd_mu, NULL);
            pthread_mutex_init(&x->rcv_mu, NULL);
            x->snd_buf = malloc(SF_MAXFRAME);
            x->rcv_exp = malloc(SF_MAXFRAME);
            x->rcv_buf = malloc(SF_MAXFRAME);
            ck_assert(x->snd_buf && x->rcv_exp && x->rcv_buf);
        }
    }
}

void st_free_slots(void)
{
    for (int i = 0; i < NSLOT; i++) {
        struct st_conn *c = &st.conns[i];
        ck_assert_int_eq(c->state, C_FREE);
        pthread_mutex_destroy(&c->mu);
        for (int d = 0; d < 2; d++) {
            struct st_dir *x = &c->dir[d];
            pthread_mutex_destroy(&x->snd_mu);
            pthread_mutex_destroy(&x->rcv_mu);
            free(x->snd_buf);
            free(x->rcv_exp);
            free(x->rcv_buf);
        }
    }
}

/******************************************************************************/
/*  The listener                                                              */
/******************************************************************************/

void st_swap_listener(struct worker *w, int make)
{
    char old_path[TU_PATH_MAX], path[TU_PATH_MAX];
    void *mem = NULL, *old_mem;
    int nl = -1;
    if (make) {
        tu_path(path, "stress-listener");
        mem =
            st_rndn(w, 2) ? malloc(sizeof(struct ipc_listener_storage)) : NULL;
        nl = mem ? ipc_listen_mem(path, 16, mem) : ipc_listen(path, 16);
        st_judge(OP_LISTEN, nl, errno, ERRS(0), nl);
        if (nl < 0) {
            free(mem);
            return;
        }
    }
    pthread_mutex_lock(&st.lst_mu);
    int old = atomic_exchange(&st.lst_h, nl);
    snprintf(old_path, sizeof old_path, "%s", st.lst_path);
    snprintf(st.lst_path, sizeof st.lst_path, "%s", make ? path : "");
    old_mem = st.lst_mem;
    st.lst_mem = mem;
    st.lst_since = now();
    pthread_mutex_unlock(&st.lst_mu);
    if (old >= 0) {
        long rc = st_rndn(w, 2) ? hclose(old) : ipc_close(old, 0);
        st_judge(OP_HCLOSE, rc, errno, ERRS(0), old);
        st_stale_push(old);
        unlink(old_path);
    }
    free(old_mem);
}
