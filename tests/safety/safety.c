/* Helpers of the safety suites; see safety.h. */
#include "safety.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- threads that are cancelled --------------------------------------- */

int sf_op(void *arg)
{
    struct tu_op *op = arg;
    switch (op->kind) {
    case TU_BSEND: return bsend(op->h, op->buf, op->len, op->deadline);
    case TU_BRECV: return brecv(op->h, op->buf, op->len, op->deadline);
    case TU_BSENDL: return bsendl(op->h, op->first, op->last, op->deadline);
    case TU_BRECVL: return brecvl(op->h, op->first, op->last, op->deadline);
    case TU_ACCEPT: return ipc_accept(op->h, op->deadline);
    case TU_ACCEPT_MEM: return ipc_accept_mem(op->h, op->mem, op->deadline);
    case TU_CONNECT:
        if (op->mem)
            return ipc_connect_mem(op->addr, op->mem, op->deadline);
        return ipc_connect(op->addr, op->deadline);
    case TU_RECVFD: return ipc_recvfd(op->h, op->deadline);
    case TU_SENDFD: return ipc_sendfd(op->h, (int)op->len, op->deadline);
    case TU_IPC_CLOSE: return ipc_close(op->h, op->deadline);
    case TU_IPC_DONE: return ipc_done(op->h, op->deadline);
    case TU_HCLOSE: return hclose(op->h);
    }
    errno = EINVAL;
    return -1;
}

static void sf_cleanup(void *arg)
{
    struct sf_thread *t = arg;
    atomic_store(&t->cleaned, 1);
}

/* NB: not instrumented by AddressSanitizer. A cancellation comes back here
   by longjmp over instrumented frames, whose poisoned redzones stay behind;
   the __asan_handle_no_return() that precedes pthread_cleanup_push's
   __pthread_unwind_next() then trips over them (GCC 12's libasan checks its
   own sigaltstack() call: "CHECK failed: asan_thread.cpp:371"). */
__attribute__((no_sanitize_address)) static void *sf_main(void *arg)
{
    struct sf_thread *t = arg;
    int old;
    if (t->how == SF_DISABLED)
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_cleanup_push(sf_cleanup, t);
    t->tid = tu_gettid();
    atomic_store(&t->started, 1);
    if (t->how == SF_PENDING)
        pthread_cancel(pthread_self());
    errno = 0;
    t->rc = t->fn(t->arg);
    t->err = errno;
    atomic_store(&t->returned, 1);
    if (t->how == SF_DISABLED)
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    pthread_testcancel();
    atomic_store(&t->survived, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

void sf_start(struct sf_thread *t, enum sf_how how, int (*fn)(void *),
              void *arg)
{
    t->fn = fn;
    t->arg = arg;
    t->how = how;
    t->rc = -2;
    t->err = 0;
    atomic_store(&t->returned, 0);
    atomic_store(&t->cleaned, 0);
    atomic_store(&t->survived, 0);
    atomic_store(&t->started, 0);
    ck_assert_int_eq(pthread_create(&t->th, NULL, sf_main, t), 0);
}

void sf_start_blocked(struct sf_thread *t, enum sf_how how, struct tu_op *op)
{
    sf_start(t, how, sf_op, op);
    while (!atomic_load(&t->started))
        tu_sleep_ms(1);
    tu_wait_sleeping(t->tid);
    ck_assert_msg(!atomic_load(&t->returned),
                  "the call returned %d (%s) instead of blocking", t->rc,
                  tu_errname(t->err));
}

void sf_join_cancelled(struct sf_thread *t, const char *what)
{
    int ms = SF_HANG_MS * tu_slowness();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    void *ret = NULL;
    int rc = pthread_timedjoin_np(t->th, &ret, &ts);
    ck_assert_msg(rc == 0, "%s: the thread has not ended %d ms after "
                  "pthread_cancel (%s)", what, ms, strerror(rc));
    ck_assert_msg(ret == PTHREAD_CANCELED, "%s: the thread was not "
                  "cancelled; the call returned %d (%s)", what, t->rc,
                  tu_errname(t->err));
    ck_assert_msg(atomic_load(&t->cleaned), "%s: the thread's cleanup "
                  "handler did not run", what);
}

void sf_join_cancelled_in_call(struct sf_thread *t, const char *what)
{
    sf_join_cancelled(t, what);
    ck_assert_msg(!atomic_load(&t->returned), "%s: the call returned %d "
                  "(%s) before the thread was cancelled", what, t->rc,
                  tu_errname(t->err));
}

/* ---- calls that must not hang ----------------------------------------- */

int sf_timed(struct tu_op op, const char *what)
{
    /* On the heap: a hung thread may outlive this frame. */
    struct tu_op *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    *p = op;
    tu_op_start(p);
    int ms = SF_HANG_MS * tu_slowness();
    int64_t end = tu_mono_ms() + ms;
    while (!tu_op_done(p) && tu_mono_ms() < end)
        tu_sleep_ms(1);
    ck_assert_msg(tu_op_done(p), "%s has not returned after %d ms", what,
                  ms);
    tu_op_join(p);
    int rc = p->rc, err = p->err;
    free(p);
    errno = err;
    return rc;
}

void sf_hclose_promptly(int h)
{
    struct tu_op *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    *p = (struct tu_op){.kind = TU_HCLOSE, .h = h};
    int ms = SF_PROMPT_MS * tu_slowness();
    int64_t start = tu_mono_ms();
    tu_op_start(p);
    while (!tu_op_done(p) && tu_mono_ms() - start < ms)
        tu_sleep_ms(1);
    ck_assert_msg(tu_op_done(p), "hclose(%d) has not returned after %d ms",
                  h, ms);
    tu_op_join(p);
    ck_assert_msg(p->rc == 0, "hclose(%d): %d with %s", h, p->rc,
                  tu_errname(p->err));
    free(p);
}

/* ---- pieces of test setup --------------------------------------------- */

void sf_full_pair(int s[2])
{
    int fd[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd),
                     0);
    ck_assert_int_eq(fcntl(fd[0], F_SETFL, O_NONBLOCK), 0);
    /* Smaller and smaller writes, until not even one byte fits. */
    static char junk[65536];
    for (size_t chunk = sizeof junk; chunk >= 1; chunk /= 16)
        while (send(fd[0], junk, chunk, MSG_NOSIGNAL) > 0) {
        }
    ck_assert_int_eq(send(fd[0], junk, 1, MSG_NOSIGNAL), -1);
    TU_HANDLE(s[0], ipc_fromfd(fd[0]));
    TU_HANDLE(s[1], ipc_fromfd(fd[1]));
}

int sf_fill_backlog(const char *path, int *conns, int max)
{
    int n = 0;
    for (;;) {
        ck_assert_msg(n < max, "the backlog of %s never filled", path);
        errno = 0;
        int c = ipc_connect(path, 0);
        if (c < 0) {
            ck_assert_msg(errno == ETIMEDOUT, "connect to fill the backlog:"
                          " %s", tu_errname(errno));
            return n;
        }
        conns[n++] = c;
    }
}

/* ---- child processes -------------------------------------------------- */

int sf_reap(pid_t pid, int ms)
{
    return tu_reap(pid, ms * tu_slowness());
}

void sf_fork_now(struct sf_fork *f)
{
    int64_t t0 = tu_mono_ms();
    pid_t pid = fork();
    if (pid == 0) {
        tu_child_alarm((f->alarm_s ? f->alarm_s : 10) * tu_slowness());
        _exit(f->child ? f->child() : 0);
    }
    f->took_ms = tu_mono_ms() - t0;
    f->pid = pid;
    atomic_store(&f->done, 1);
}

static void *sf_fork_main(void *arg)
{
    sf_fork_now(arg);
    return NULL;
}

void sf_fork_in_thread(struct sf_fork *f)
{
    atomic_store(&f->done, 0);
    f->in_thread = 1;
    ck_assert_int_eq(pthread_create(&f->th, NULL, sf_fork_main, f), 0);
}

void sf_fork_check(struct sf_fork *f, int ms, const char *what)
{
    int limit = ms * tu_slowness();
    int64_t end = tu_mono_ms() + limit;
    while (!atomic_load(&f->done) && tu_mono_ms() < end)
        tu_sleep_ms(1);
    ck_assert_msg(atomic_load(&f->done),
                  "%s: fork() has not returned after %d ms", what, limit);
    if (f->in_thread)
        ck_assert_int_eq(pthread_join(f->th, NULL), 0);
    ck_assert_msg(f->pid > 0, "%s: fork() failed", what);
    ck_assert_msg(f->took_ms <= limit, "%s: fork() took %lld ms", what,
                  (long long)f->took_ms);
    int code = sf_reap(f->pid, ms);
    ck_assert_msg(code == 0, "%s: the child ended with %s%d", what,
                  code >= 1000 ? "signal " : "exit code ",
                  code >= 1000 ? code - 1000 : code);
}
