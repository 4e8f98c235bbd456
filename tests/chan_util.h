/*
 * Helpers of the channel suites (test_chan, test_chan_threads): a channel
 * call made by another thread, and short checks of what a channel holds.
 */
#ifndef TDILL_TESTS_CHAN_UTIL_H
#define TDILL_TESTS_CHAN_UTIL_H

#include <stdatomic.h>

#include "util.h"

/* How long a wait that should end at once may take, in ms (scaled by
   tu_slowness()). */
int ct_prompt_ms(void);

/* One chsend or chrecv of an int, or one choose, made by a thread. */
enum ct_kind { CT_SEND, CT_RECV, CT_CHOOSE };

struct ct_op {
    enum ct_kind kind;
    int ch;
    int val; /* sent, or received */
    struct chclause *cl;
    int n;
    int64_t deadline;
    /* Results. */
    int rc, err;
    /* Internal. */
    pid_t tid;
    atomic_int started, done;
    pthread_t th;
};

struct ct_op ct_send_op(int ch, int val, int64_t deadline);
struct ct_op ct_recv_op(int ch, int64_t deadline);
/* Starts the call in a new thread and returns at once. */
void ct_op_start(struct ct_op *op);
/* Starts the call and returns once its thread sleeps inside it. */
void ct_op_start_blocked(struct ct_op *op);
void ct_op_join(struct ct_op *op);

/* The joined call succeeded / failed with exactly e. */
#define CT_OP_OK(op)                                                          \
    ck_assert_msg((op)->rc == 0, "thread call: expected 0, got %d with %s",   \
                  (op)->rc, tu_errname((op)->err))
#define CT_OP_FAILED(op, e)                                                   \
    ck_assert_msg((op)->rc == -1 && (op)->err == (e),                         \
                  "thread call: expected -1 with %s, got %d with %s",         \
                  tu_errname(e), (op)->rc, tu_errname((op)->err))
/* choose returned index i with errno e. */
#define CT_CHOSE(expr, i, e)                                                  \
    do {                                                                      \
        errno = 0;                                                            \
        int _ct_rc = (expr);                                                  \
        int _ct_e = errno;                                                    \
        ck_assert_msg(_ct_rc == (i) && _ct_e == (e),                          \
                      "%s: expected %d with %s, got %d with %s", #expr, (i),  \
                      tu_errname(e), _ct_rc, tu_errname(_ct_e));              \
    } while (0)

/* chmake that must succeed; hclose of both ends, each must succeed. */
void ct_make(int ch[2]);
void ct_close_both(int ch[2]);

/* Nobody waits to receive what end ch sends: a send with deadline 0 fails
   with ETIMEDOUT. */
void ct_no_receiver(int ch);
/* Nobody waits to send to end ch. */
void ct_no_sender(int ch);
/* A value passes from end from to end to (a receiver thread takes it). */
void ct_passes(int from, int to, int val);

#endif
