/*
 * The stress test (test_stress.c) and its parts:
 *   stress_frames.c  the wire protocol: frames both ends can compute
 *   stress_conns.c   the shared state: tallies and failures, watched calls,
 *                    connection slots, the listener, stale handles
 *   stress_xfer.c    sending and receiving frames
 *   stress_ops.c     every other operation: closing, connecting, refused
 *                    handles
 */
#ifndef TDILL_STRESS_H
#define TDILL_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rel.h"

/******************************************************************************/
/*  Frames                                                                    */
/******************************************************************************/

/* Each direction of a connection carries a sequence of frames: a 32-byte
   header and a payload of 0..64 KiB, or, for one frame in about 25, a
   header followed by one descriptor (ipc_sendfd of the test's marker file).
   Which it is, its length and its bytes follow from (connection serial,
   direction, sequence number) alone, so the receiver checks every byte
   against what the sender must have sent. */
#define SF_HDR 32
#define SF_MAXPAY 65536
#define SF_MAXFRAME (SF_HDR + SF_MAXPAY)

enum sf_kind { SF_DATA = 0, SF_FD = 1 };

struct sf_frame {
    enum sf_kind kind;
    size_t len; /* bytes on the wire, header included (the fd byte not) */
};

/* Writes frame (serial, dir, seq) into buf (SF_MAXFRAME bytes). */
void sf_make(uint64_t serial, int dir, uint32_t seq, unsigned char *buf,
             struct sf_frame *f);

/* Checks a received frame by its own header: magic, kind, serial, seq,
   length and, unless payload bytes were skipped, the payload checksum.
   Returns NULL or what is wrong. */
const char *sf_check(const unsigned char *buf, size_t len, uint64_t serial,
                     uint32_t seq, int payload_skipped);

/******************************************************************************/
/*  Operations, tallies, failures                                             */
/******************************************************************************/

enum st_op {
    OP_BSEND,
    OP_BSENDL,
    OP_SENDFD,
    OP_BRECV,
    OP_BRECVL,
    OP_DISCARD,
    OP_RECVFD,
    OP_ZERO,
    OP_DEAD,
    OP_DONE,
    OP_IPC_CLOSE,
    OP_HCLOSE,
    OP_ROGUE_HCLOSE,
    OP_PAIR,
    OP_CONNECT,
    OP_ACCEPT,
    OP_HELLO,
    OP_STALE,
    OP_WRONG_KIND,
    OP_PEERCRED,
    OP_LISTEN,
    OP_TEARDOWN,
    NOPS
};

extern const char *const st_op_names[NOPS];

/* Records a failure of the run (printed at once, the first few). */
__attribute__((format(printf, 1, 2))) void st_failure(const char *fmt, ...);
/* How many failures so far, and the first one. */
int st_failures(const char **first);

/* A 0-terminated list of errno values. */
#define ERRS(...) ((const int[]){__VA_ARGS__, 0})
/* What a transfer may fail with in this run. */
#define ST_XFER_ERRS                                                          \
    ERRS(ETIMEDOUT, ECANCELED, ECONNRESET, EPIPE, EBUSY, EBADF)

/* Counts a call (rc >= 0 is success); a failure must be one of `allowed`,
   else it is a failure of the run. Returns 1 on success. */
int st_judge(enum st_op op, long rc, int err, const int *allowed, int h);

/******************************************************************************/
/*  Workers and their watched calls                                           */
/******************************************************************************/

struct worker {
    int id;
    uint64_t rng;
    pthread_t th;
    unsigned char *scratch; /* SF_MAXFRAME bytes */
    /* The library call in progress, for the watchdog: started == 0 means
       none. Deadline -1: none. */
    _Atomic int64_t started;
    _Atomic int64_t deadline;
    _Atomic int op;
    _Atomic int h;
    _Atomic unsigned seq;
    unsigned reported; /* the watchdog's own */
    int64_t began_us;
};

void st_call_begin(struct worker *w, enum st_op op, int h, int64_t dl);
void st_call_end(struct worker *w);

/* One library call, watched; keeps its errno. */
#define ST_CALL(w, op, h, dl, expr)                                           \
    ({                                                                        \
        st_call_begin((w), (op), (h), (dl));                                  \
        errno = 0;                                                            \
        long _r = (long)(expr);                                               \
        int _e = errno;                                                       \
        st_call_end(w);                                                       \
        errno = _e;                                                           \
        _r;                                                                   \
    })

uint64_t st_rnd(struct worker *w);
size_t st_rndn(struct worker *w, size_t n);
/* Deadlines: 0, past, a few ms ahead; "risky" calls, which may have to
   wait, also get none at all. */
int64_t st_deadline(struct worker *w, int risky);

/******************************************************************************/
/*  Connection slots                                                          */
/******************************************************************************/

#define NSLOT 24

enum st_cstate { C_FREE, C_MAKING, C_CONNECTING, C_ACTIVE, C_CLOSING };

/* One direction: end d of the connection sends, end 1 - d receives. The
   test thread that drives the sender holds snd_mu (taken with trylock, so
   busy sides are skipped, not waited for); the receiver likewise. */
struct st_dir {
    pthread_mutex_t snd_mu, rcv_mu;
    uint64_t serial; /* changed only with both mutexes held */
    /* Sender, under snd_mu. */
    uint32_t snd_seq;
    struct sf_frame snd_f;
    int snd_busy; /* a frame is under way */
    size_t snd_off;
    int snd_fd; /* its descriptor is still to go */
    int snd_dead;
    unsigned char *snd_buf;
    /* Receiver, under rcv_mu. */
    uint32_t rcv_seq;
    struct sf_frame rcv_f;
    int rcv_busy;
    size_t rcv_off;
    int rcv_fd;
    int rcv_skipped;
    int rcv_dead;
    unsigned char *rcv_exp, *rcv_buf;
    /* Stream bytes and frames moved by successful calls. */
    _Atomic uint64_t sent, rcvd, sent_frames, rcvd_frames;
    _Atomic int dead; /* 1: sender dead, 2: receiver dead */
};

struct st_conn {
    pthread_mutex_t mu; /* protects the fields up to end */
    enum st_cstate state;
    uint64_t serial;
    int64_t born;
    void *mem[2];   /* per-end storage; freed by whoever closes the end */
    void *pair_mem; /* ipc_pair_mem storage; freed by teardown */
    int closers;    /* threads closing an end right now */
    _Atomic int end[2];
    struct st_dir dir[2];
};

/* What every part of the run shares. */
struct st_run {
    _Atomic long tally[NOPS][2]; /* calls, successes */
    _Atomic long tally_us[NOPS]; /* time spent in the calls */
    _Atomic long frames_ok, bytes_ok, fds_ok, conns_made;
    struct st_conn conns[NSLOT];
    _Atomic int connecting; /* slots in C_CONNECTING */
    int marker_fd;          /* the file that descriptor frames pass */
    /* The listener moves to a new path now and then. */
    pthread_mutex_t lst_mu; /* protects the lst_ fields but lst_h */
    _Atomic int lst_h;
    char lst_path[TU_PATH_MAX];
    void *lst_mem;
    int64_t lst_since;
};

extern struct st_run st;

void st_setup_slots(void);
void st_free_slots(void);

/* The handle of end e of an active connection, and the serial; -1 if
   none. */
int st_snapshot(struct st_conn *c, int e, uint64_t *serial);
/* Closes end e if this thread wins it (ipc_close or hclose). w may be
   NULL (no watching, deadline 0). */
void st_close_end(struct st_conn *c, int e, int orderly, struct worker *w);
/* Tears c down if it is active and both its ends are closed, or both its
   directions dead, or `force`; or if it is connecting and was born before
   `stale_before` (or `force`). Returns 1 if it did. */
int st_begin_teardown(struct st_conn *c, int force, int64_t stale_before);
/* Ends a connection whose state this thread set to C_CLOSING. */
void st_teardown(struct st_conn *c);
/* A free slot, now C_MAKING and the caller's, with its direction states
   set for a new serial; NULL if none is free. */
struct st_conn *st_claim_slot(struct worker *w, uint64_t *serial);
void st_unclaim_slot(struct st_conn *c);

/* Closed handles, which must answer EBADF. */
void st_stale_push(int h);
int st_stale_pick(struct worker *w);

/* Replaces the listener by a new one (make) or by none. */
void st_swap_listener(struct worker *w, int make);

/******************************************************************************/
/*  The operations a worker picks from                                        */
/******************************************************************************/

void st_op_send(struct worker *w);
void st_op_recv(struct worker *w);
void st_op_done(struct worker *w);
void st_op_close_orderly(struct worker *w);
void st_op_close_now(struct worker *w);
void st_op_rogue_hclose(struct worker *w);
void st_op_reap(struct worker *w);
void st_op_swap_listener(struct worker *w);
void st_op_pair(struct worker *w);
void st_op_connect(struct worker *w);
void st_op_accept(struct worker *w);
void st_op_stale(struct worker *w);
void st_op_wrong_kind(struct worker *w);
void st_op_peercred(struct worker *w);

#endif
