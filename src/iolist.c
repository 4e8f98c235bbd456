#include <errno.h>
#include <stdint.h>

#include "iolist.h"

/*
 * iolists (see iolist.h): checking a caller's list once, before anything
 * moves, and walking it as iovecs without modifying it.
 */

/* Loops are found with Brent's algorithm: a mark is dropped at steps 2, 4,
   8, ... and a walk that comes back to it is going round in circles. The
   check needs no memory whatever the list's length. */
int td_iolist_walk(struct tdill_iolist *first, struct tdill_iolist *last,
                   int for_send, size_t *total)
{
    if (!first || !last || last->iol_next)
        return EINVAL;
    struct tdill_iolist *it = first, *mark = first;
    size_t sum = 0, steps = 0, limit = 2;
    for (;;) {
        if (it->iol_rsvd)
            return EINVAL;
        if (for_send && !it->iol_base && it->iol_len)
            return EINVAL;
        if (sum + it->iol_len < sum)
            return EINVAL;
        sum += it->iol_len;
        if (it == last)
            break;
        it = it->iol_next;
        if (!it || it == mark)
            return EINVAL; /* last is not in the list, or the list loops */
        if (++steps == limit) {
            mark = it;
            steps = 0;
            limit *= 2;
        }
    }
    *total = sum;
    return 0;
}

static struct tdill_iolist *next(const struct td_iocur *c,
                                 const struct tdill_iolist *it)
{
    return it == c->last ? c->tail : it->iol_next;
}

int td_iocur_fill(const struct td_iocur *c, struct iovec *iov, int max,
                  void *scratch, size_t scratch_len)
{
    struct tdill_iolist *it = c->node;
    size_t off = c->off, left = c->left;
    int n = 0;
    while (left && n < max) {
        size_t len = it->iol_len - off;
        /* GCOVR_EXCL_START: a guard, never true: left counts every byte
           still to move, the rest of this piece included. */
        if (len > left)
            len = left;
        /* GCOVR_EXCL_STOP */
        if (len) {
            if (it->iol_base) {
                iov[n].iov_base = (char *)it->iol_base + off;
            } else {
                /* Bytes to drop: every such piece may share the scratch
                   buffer, its contents are never looked at. */
                if (len > scratch_len)
                    len = scratch_len;
                iov[n].iov_base = scratch;
            }
            iov[n].iov_len = len;
            left -= len;
            n++;
            if (!it->iol_base && off + len < it->iol_len)
                break; /* scratch too small for the rest of this piece */
        }
        it = next(c, it);
        off = 0;
    }
    return n;
}

void td_iocur_step(struct td_iocur *c, size_t n)
{
    c->left -= n;
    while (n) {
        size_t rest = c->node->iol_len - c->off;
        if (n < rest) {
            c->off += n;
            return;
        }
        n -= rest;
        c->node = next(c, c->node);
        c->off = 0;
    }
    /* Skip empty pieces so the cursor rests on the next byte to move. */
    while (c->left && c->node->iol_len == c->off) {
        c->node = next(c, c->node);
        c->off = 0;
    }
}
