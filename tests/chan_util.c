/* Helpers of the channel suites; see chan_util.h. */
#include "chan_util.h"

int ct_prompt_ms(void)
{
    return 1000 * tu_slowness();
}

static void *ct_op_main(void *arg)
{
    struct ct_op *op = arg;
    op->tid = tu_gettid();
    atomic_store(&op->started, 1);
    int *p = &op->val;
    errno = 0;
    switch (op->kind) {
    case CT_SEND: op->rc = chsend(op->ch, p, sizeof *p, op->deadline); break;
    case CT_RECV: op->rc = chrecv(op->ch, p, sizeof *p, op->deadline); break;
    case CT_CHOOSE: op->rc = choose(op->cl, op->n, op->deadline); break;
    }
    op->err = errno;
    atomic_store(&op->done, 1);
    return NULL;
}

void ct_op_start(struct ct_op *op)
{
    op->rc = -2;
    op->err = 0;
    atomic_store(&op->started, 0);
    atomic_store(&op->done, 0);
    ck_assert_int_eq(pthread_create(&op->th, NULL, ct_op_main, op), 0);
}

void ct_op_start_blocked(struct ct_op *op)
{
    ct_op_start(op);
    while (!atomic_load(&op->started))
        tu_sleep_ms(1);
    tu_wait_sleeping(op->tid);
    ck_assert_msg(!atomic_load(&op->done), "the call returned %d (%s) "
                  "instead of blocking", op->rc, tu_errname(op->err));
}

void ct_op_join(struct ct_op *op)
{
    ck_assert_int_eq(pthread_join(op->th, NULL), 0);
}

struct ct_op ct_send_op(int ch, int val, int64_t deadline)
{
    return (struct ct_op){.kind = CT_SEND, .ch = ch, .val = val,
                          .deadline = deadline};
}

struct ct_op ct_recv_op(int ch, int64_t deadline)
{
    return (struct ct_op){.kind = CT_RECV, .ch = ch, .val = -1,
                          .deadline = deadline};
}

void ct_make(int ch[2])
{
    ch[0] = ch[1] = -1;
    TU_OK(chmake(ch));
    ck_assert_int_ge(ch[0], 0);
    ck_assert_int_ge(ch[1], 0);
}

void ct_close_both(int ch[2])
{
    TU_OK(hclose(ch[0]));
    TU_OK(hclose(ch[1]));
}

void ct_no_receiver(int ch)
{
    int v = 0;
    TU_FAILS(chsend(ch, &v, sizeof v, 0), ETIMEDOUT);
}

void ct_no_sender(int ch)
{
    int v = 0;
    TU_FAILS(chrecv(ch, &v, sizeof v, 0), ETIMEDOUT);
}

void ct_passes(int from, int to, int val)
{
    struct ct_op rx = ct_recv_op(to, now() + 5000);
    ct_op_start(&rx);
    TU_OK(chsend(from, &val, sizeof val, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, val);
}
