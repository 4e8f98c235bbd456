#ifndef TD_IOLIST_H
#define TD_IOLIST_H

#include <stddef.h>
#include <sys/uio.h>

#include "tdill.h"

/*
 * iolists: checking the caller's list and walking it without modifying it.
 */

/* Returns 0 and the list's byte count, or EINVAL when the list is malformed
   (see brecvl(3)). A send list may not have a NULL base with a length. */
int td_iolist_walk(struct tdill_iolist *first, struct tdill_iolist *last,
                   int for_send, size_t *total);

/* NB: inline for one piece, as bsend and brecv pass; longer lists are
   walked. */
static inline int td_iolist_check(struct tdill_iolist *first,
                                  struct tdill_iolist *last, int for_send,
                                  size_t *total)
{
    if (first && first == last && !first->iol_next && !first->iol_rsvd &&
        (first->iol_base || !for_send)) {
        *total = first->iol_len;
        return 0;
    }
    return td_iolist_walk(first, last, for_send, total);
}

/* A position in a list and the bytes still to go from there. After last
   the walk goes on to tail: a piece of our own appended to the caller's
   list without touching it. */
struct td_iocur {
    struct tdill_iolist *node;
    size_t off;
    size_t left;
    struct tdill_iolist *last;
    struct tdill_iolist *tail;
};

/* With tail (one piece, iol_next unused) after last. */
static inline void td_iocur_init_tail(struct td_iocur *c,
                                      struct tdill_iolist *first,
                                      struct tdill_iolist *last,
                                      struct tdill_iolist *tail, size_t total)
{
    c->node = first;
    c->off = 0;
    c->left = total;
    c->last = last;
    c->tail = tail;
}

static inline void td_iocur_init(struct td_iocur *c,
                                 struct tdill_iolist *first, size_t total)
{
    td_iocur_init_tail(c, first, NULL, NULL, total);
}

/* Describes up to max pieces from the cursor on as iovecs; pieces with a
   NULL base (receive lists only) point into scratch. Returns the count. */
int td_iocur_fill(const struct td_iocur *c, struct iovec *iov, int max,
                  void *scratch, size_t scratch_len);

void td_iocur_step(struct td_iocur *c, size_t n);

/* Moves the cursor n bytes on. NB: inline for the common case, where the
   n bytes are all that was left: where the cursor then rests does not
   matter. */
static inline void td_iocur_advance(struct td_iocur *c, size_t n)
{
    if (n == c->left)
        c->left = 0;
    else
        td_iocur_step(c, n);
}

/* Where the cursor's bytes are when all of them lie in its current piece
   and it has memory, else NULL: most transfers have one buffer. */
static inline void *td_iocur_whole(const struct td_iocur *c)
{
    struct tdill_iolist *it = c->node;
    if (!it->iol_base || c->left > it->iol_len - c->off)
        return NULL;
    return (char *)it->iol_base + c->off;
}

#endif
