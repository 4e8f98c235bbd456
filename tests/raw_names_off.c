/*
 * Compiled with TDILL_DISABLE_RAW_NAMES: only the tdill_* names exist, so a
 * program may use libdill's plain names for its own things.
 */
#define TDILL_DISABLE_RAW_NAMES
#include <tdill.h>

#include <string.h>

#include "raw_names_off.h"

#if defined(now) || defined(hclose) || defined(bsend) || defined(brecv) ||   \
    defined(bsendl) || defined(brecvl) || defined(iolist) ||                \
    defined(ipc_listen) || defined(ipc_connect) || defined(ipc_accept) ||   \
    defined(ipc_pair) || defined(ipc_storage) || defined(ipc_close) ||      \
    defined(ipc_done) || defined(ipc_fromfd) || defined(ipc_sendfd) ||      \
    defined(ipc_recvfd) || defined(ipc_peercred) || defined(ipc_listen_mode)
#error "TDILL_DISABLE_RAW_NAMES must hide libdill's plain names"
#endif

/* The program's own things, named like libdill's API. */
struct iolist {
    int unrelated;
};

static int now(void) { return 42; }

static int bsend(struct iolist *l) { return l->unrelated + now(); }

int raw_names_off_roundtrip(void)
{
    struct iolist mine = {1};
    if (bsend(&mine) != 43)
        return 1;
    int s[2];
    if (tdill_ipc_pair(s) != 0)
        return 2;
    char a[] = "tdill_", b[] = "only";
    struct tdill_iolist l2 = {b, 4, NULL, 0};
    struct tdill_iolist l1 = {a, 6, &l2, 0};
    if (tdill_bsendl(s[0], &l1, &l2, tdill_now() + 5000) != 0)
        return 3;
    char got[10];
    if (tdill_brecv(s[1], got, sizeof got, tdill_now() + 5000) != 0)
        return 4;
    if (memcmp(got, "tdill_only", 10) != 0)
        return 5;
    if (tdill_hclose(s[0]) != 0 || tdill_hclose(s[1]) != 0)
        return 6;
    return 0;
}
