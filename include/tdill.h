/*
 * tdill -- libdill's IPC API for ordinary multithreaded C programs.
 *
 * Every handle is process-wide and every call is safe from any thread.
 * All functions return -1 (or a negative handle) and set errno on failure.
 * See tdill(7) for the threading, deadline and cancellation rules.
 */
#ifndef TDILL_H_INCLUDED
#define TDILL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TDILL_EXPORT __attribute__((visibility("default")))
#define TDILL_ALIGN __attribute__((aligned(16)))
#else
#define TDILL_EXPORT
#define TDILL_ALIGN
#endif

/* Version of this header: major * 10000 + minor * 100 + patch. */
#define TDILL_VERSION 200

/******************************************************************************/
/*  Deadlines and handles                                                     */
/******************************************************************************/

/* Milliseconds on a monotonic clock; deadlines are points on this clock. */
TDILL_EXPORT int64_t tdill_now(void);

/* Closes any handle at once; calls blocked on it fail with ECANCELED. */
TDILL_EXPORT int tdill_hclose(int h);

/* A new number for the object behind h; h then answers EBADF and calls
   blocked on it fail with ECANCELED, as if it had been closed. */
TDILL_EXPORT int tdill_hown(int h);

/******************************************************************************/
/*  Bytestream sockets                                                        */
/******************************************************************************/

/* One message in pieces. iol_rsvd must be zero. */
struct tdill_iolist {
    void *iol_base;
    size_t iol_len;
    struct tdill_iolist *iol_next;
    int iol_rsvd;
};

TDILL_EXPORT int tdill_bsend(int s, const void *buf, size_t len,
                             int64_t deadline);
TDILL_EXPORT int tdill_brecv(int s, void *buf, size_t len, int64_t deadline);
TDILL_EXPORT int tdill_bsendl(int s, struct tdill_iolist *first,
                              struct tdill_iolist *last, int64_t deadline);
TDILL_EXPORT int tdill_brecvl(int s, struct tdill_iolist *first,
                              struct tdill_iolist *last, int64_t deadline);

/******************************************************************************/
/*  Message sockets over a bytestream: size prefix or terminating suffix      */
/******************************************************************************/

#define TDILL_PREFIX_BIG_ENDIAN 0
#define TDILL_PREFIX_LITTLE_ENDIAN 1

/* Opaque room for a message socket; see the _attach_mem functions. */
struct tdill_prefix_storage {
    char _[64];
} TDILL_ALIGN;

struct tdill_suffix_storage {
    char _[128];
} TDILL_ALIGN;

/* Attaching takes the bytestream handle over (it then answers EBADF), even
   when attaching fails; detaching gives it back under a new number. */
TDILL_EXPORT int tdill_prefix_attach(int s, size_t hdrlen, int flags);
TDILL_EXPORT int tdill_prefix_attach_mem(int s, size_t hdrlen, int flags,
                                         struct tdill_prefix_storage *mem);
TDILL_EXPORT int tdill_prefix_detach(int s);
TDILL_EXPORT int tdill_suffix_attach(int s, const void *suffix,
                                     size_t suffixlen);
TDILL_EXPORT int tdill_suffix_attach_mem(int s, const void *suffix,
                                         size_t suffixlen,
                                         struct tdill_suffix_storage *mem);
TDILL_EXPORT int tdill_suffix_detach(int s, int64_t deadline);
TDILL_EXPORT int tdill_msend(int s, const void *buf, size_t len,
                             int64_t deadline);
TDILL_EXPORT ssize_t tdill_mrecv(int s, void *buf, size_t len,
                                 int64_t deadline);
TDILL_EXPORT int tdill_msendl(int s, struct tdill_iolist *first,
                              struct tdill_iolist *last, int64_t deadline);
TDILL_EXPORT ssize_t tdill_mrecvl(int s, struct tdill_iolist *first,
                                  struct tdill_iolist *last,
                                  int64_t deadline);

/******************************************************************************/
/*  IPC: UNIX-domain stream sockets addressed by filesystem paths             */
/******************************************************************************/

/* Opaque room for a connection or a listener; see the _mem functions. */
struct tdill_ipc_storage {
    char _[192];
} TDILL_ALIGN;

struct tdill_ipc_listener_storage {
    char _[192];
} TDILL_ALIGN;

struct tdill_ipc_pair_storage {
    char _[384];
} TDILL_ALIGN;

TDILL_EXPORT int tdill_ipc_listen(const char *addr, int backlog);
TDILL_EXPORT int tdill_ipc_listen_mem(const char *addr, int backlog,
                                      struct tdill_ipc_listener_storage *mem);
TDILL_EXPORT int tdill_ipc_listen_mode(const char *addr, int backlog,
                                       mode_t mode);
TDILL_EXPORT int tdill_ipc_accept(int s, int64_t deadline);
TDILL_EXPORT int tdill_ipc_accept_mem(int s, struct tdill_ipc_storage *mem,
                                      int64_t deadline);
TDILL_EXPORT int tdill_ipc_connect(const char *addr, int64_t deadline);
TDILL_EXPORT int tdill_ipc_connect_mem(const char *addr,
                                       struct tdill_ipc_storage *mem,
                                       int64_t deadline);
TDILL_EXPORT int tdill_ipc_fromfd(int fd);
TDILL_EXPORT int tdill_ipc_fromfd_mem(int fd, struct tdill_ipc_storage *mem);
TDILL_EXPORT int tdill_ipc_listener_fromfd(int fd);
TDILL_EXPORT int
tdill_ipc_listener_fromfd_mem(int fd, struct tdill_ipc_listener_storage *mem);
TDILL_EXPORT int tdill_ipc_pair(int s[2]);
TDILL_EXPORT int tdill_ipc_pair_mem(struct tdill_ipc_pair_storage *mem,
                                    int s[2]);
TDILL_EXPORT int tdill_ipc_done(int s, int64_t deadline);
TDILL_EXPORT int tdill_ipc_close(int s, int64_t deadline);
TDILL_EXPORT int tdill_ipc_sendfd(int s, int fd, int64_t deadline);
TDILL_EXPORT int tdill_ipc_recvfd(int s, int64_t deadline);
TDILL_EXPORT int tdill_ipc_peercred(int s, pid_t *pid, uid_t *uid, gid_t *gid);

/******************************************************************************/
/*  Waiting on the program's own descriptors                                  */
/******************************************************************************/

/* Wait until fd is readable (fdin) or writable (fdout), or has an error;
   fdclean forgets fd before the program closes it. */
TDILL_EXPORT int tdill_fdin(int fd, int64_t deadline);
TDILL_EXPORT int tdill_fdout(int fd, int64_t deadline);
TDILL_EXPORT int tdill_fdclean(int fd);

/******************************************************************************/
/*  Channels: unbuffered rendezvous between any threads and coroutines       */
/******************************************************************************/

#define TDILL_CHSEND 1
#define TDILL_CHRECV 2

/* One operation of a choose(): op is TDILL_CHSEND or TDILL_CHRECV. */
struct tdill_chclause {
    int op;
    int ch;
    void *val;
    size_t len;
};

/* Opaque room for a channel (both ends); see tdill_chmake_mem. */
struct tdill_chstorage {
    char _[192];
} TDILL_ALIGN;

TDILL_EXPORT int tdill_chmake(int chv[2]);
TDILL_EXPORT int tdill_chmake_mem(struct tdill_chstorage *mem, int chv[2]);
TDILL_EXPORT int tdill_chsend(int ch, const void *val, size_t len,
                              int64_t deadline);
TDILL_EXPORT int tdill_chrecv(int ch, void *val, size_t len,
                              int64_t deadline);
TDILL_EXPORT int tdill_chdone(int ch);
TDILL_EXPORT int tdill_choose(struct tdill_chclause *clauses, int nclauses,
                              int64_t deadline);

/* libdill's dill_ spellings of the channel API (the others are at the end
   of this header). */
#define DILL_CHSEND TDILL_CHSEND
#define DILL_CHRECV TDILL_CHRECV
#define dill_chclause tdill_chclause
#define dill_chstorage tdill_chstorage
#define dill_chmake tdill_chmake
#define dill_chmake_mem tdill_chmake_mem
#define dill_chsend tdill_chsend
#define dill_chrecv tdill_chrecv
#define dill_chdone tdill_chdone
#define dill_choose tdill_choose

/******************************************************************************/
/*  libdill's dill_ spellings                                                 */
/******************************************************************************/

/* Always defined, as libdill's are, for programs that define
   DILL_DISABLE_RAW_NAMES; the channel ones are above. The extensions
   (ipc_listen_mode, ipc_peercred) have them too. */
#define dill_now tdill_now
#define dill_fdin tdill_fdin
#define dill_fdout tdill_fdout
#define dill_fdclean tdill_fdclean
#define dill_hclose tdill_hclose
#define dill_hown tdill_hown
#define DILL_PREFIX_BIG_ENDIAN TDILL_PREFIX_BIG_ENDIAN
#define DILL_PREFIX_LITTLE_ENDIAN TDILL_PREFIX_LITTLE_ENDIAN
#define dill_prefix_storage tdill_prefix_storage
#define dill_suffix_storage tdill_suffix_storage
#define dill_prefix_attach tdill_prefix_attach
#define dill_prefix_attach_mem tdill_prefix_attach_mem
#define dill_prefix_detach tdill_prefix_detach
#define dill_suffix_attach tdill_suffix_attach
#define dill_suffix_attach_mem tdill_suffix_attach_mem
#define dill_suffix_detach tdill_suffix_detach
#define dill_msend tdill_msend
#define dill_mrecv tdill_mrecv
#define dill_msendl tdill_msendl
#define dill_mrecvl tdill_mrecvl
#define dill_iolist tdill_iolist
#define dill_bsend tdill_bsend
#define dill_brecv tdill_brecv
#define dill_bsendl tdill_bsendl
#define dill_brecvl tdill_brecvl
#define dill_ipc_storage tdill_ipc_storage
#define dill_ipc_listener_storage tdill_ipc_listener_storage
#define dill_ipc_pair_storage tdill_ipc_pair_storage
#define dill_ipc_listen tdill_ipc_listen
#define dill_ipc_listen_mem tdill_ipc_listen_mem
#define dill_ipc_listen_mode tdill_ipc_listen_mode
#define dill_ipc_accept tdill_ipc_accept
#define dill_ipc_accept_mem tdill_ipc_accept_mem
#define dill_ipc_connect tdill_ipc_connect
#define dill_ipc_connect_mem tdill_ipc_connect_mem
#define dill_ipc_fromfd tdill_ipc_fromfd
#define dill_ipc_fromfd_mem tdill_ipc_fromfd_mem
#define dill_ipc_listener_fromfd tdill_ipc_listener_fromfd
#define dill_ipc_listener_fromfd_mem tdill_ipc_listener_fromfd_mem
#define dill_ipc_pair tdill_ipc_pair
#define dill_ipc_pair_mem tdill_ipc_pair_mem
#define dill_ipc_done tdill_ipc_done
#define dill_ipc_close tdill_ipc_close
#define dill_ipc_sendfd tdill_ipc_sendfd
#define dill_ipc_recvfd tdill_ipc_recvfd
#define dill_ipc_peercred tdill_ipc_peercred

/******************************************************************************/
/*  libdill's plain names                                                     */
/******************************************************************************/

/* Hidden by TDILL_DISABLE_RAW_NAMES or by libdill's DILL_DISABLE_RAW_NAMES. */
#if !defined(TDILL_DISABLE_RAW_NAMES) && !defined(DILL_DISABLE_RAW_NAMES)
#define now tdill_now
#define fdin tdill_fdin
#define fdout tdill_fdout
#define fdclean tdill_fdclean
#define hclose tdill_hclose
#define hown tdill_hown
#define PREFIX_BIG_ENDIAN TDILL_PREFIX_BIG_ENDIAN
#define PREFIX_LITTLE_ENDIAN TDILL_PREFIX_LITTLE_ENDIAN
#define prefix_storage tdill_prefix_storage
#define suffix_storage tdill_suffix_storage
#define prefix_attach tdill_prefix_attach
#define prefix_attach_mem tdill_prefix_attach_mem
#define prefix_detach tdill_prefix_detach
#define suffix_attach tdill_suffix_attach
#define suffix_attach_mem tdill_suffix_attach_mem
#define suffix_detach tdill_suffix_detach
#define msend tdill_msend
#define mrecv tdill_mrecv
#define msendl tdill_msendl
#define mrecvl tdill_mrecvl
#define iolist tdill_iolist
#define bsend tdill_bsend
#define brecv tdill_brecv
#define bsendl tdill_bsendl
#define brecvl tdill_brecvl
#define ipc_storage tdill_ipc_storage
#define ipc_listener_storage tdill_ipc_listener_storage
#define ipc_pair_storage tdill_ipc_pair_storage
#define ipc_listen tdill_ipc_listen
#define ipc_listen_mem tdill_ipc_listen_mem
#define ipc_listen_mode tdill_ipc_listen_mode
#define ipc_accept tdill_ipc_accept
#define ipc_accept_mem tdill_ipc_accept_mem
#define ipc_connect tdill_ipc_connect
#define ipc_connect_mem tdill_ipc_connect_mem
#define ipc_fromfd tdill_ipc_fromfd
#define ipc_fromfd_mem tdill_ipc_fromfd_mem
#define ipc_listener_fromfd tdill_ipc_listener_fromfd
#define ipc_listener_fromfd_mem tdill_ipc_listener_fromfd_mem
#define ipc_pair tdill_ipc_pair
#define ipc_pair_mem tdill_ipc_pair_mem
#define ipc_done tdill_ipc_done
#define ipc_close tdill_ipc_close
#define ipc_sendfd tdill_ipc_sendfd
#define ipc_recvfd tdill_ipc_recvfd
#define ipc_peercred tdill_ipc_peercred
#define CHSEND TDILL_CHSEND
#define CHRECV TDILL_CHRECV
#define chclause tdill_chclause
#define chstorage tdill_chstorage
#define chmake tdill_chmake
#define chmake_mem tdill_chmake_mem
#define chsend tdill_chsend
#define chrecv tdill_chrecv
#define chdone tdill_chdone
#define choose tdill_choose
#endif

#ifdef __cplusplus
}
#endif

#endif
