/*
 * Compiled with TDILL_DISABLE_RAW_NAMES: only the tdill_* names exist, so a
 * program may use libdill's plain names for its own things.
 */
#define TDILL_DISABLE_RAW_NAMES
#include <tdill_coro.h>

#include "coro_tests.h"

#if defined(coroutine) || defined(go) || defined(go_mem) ||                   \
    defined(bundle_go) || defined(bundle_go_mem) || defined(yield) ||         \
    defined(msleep) || defined(bundle) || defined(bundle_mem) ||              \
    defined(bundle_wait) || defined(bundle_storage)
#error "TDILL_DISABLE_RAW_NAMES must hide libdill's plain names"
#endif

/* The program's own things, named like libdill's API. */
struct bundle {
    int go;
};

static int yield(struct bundle *bundle)
{
    return bundle->go;
}

static int total;

static tdill_coroutine void add(int n)
{
    total += n;
    tdill_yield();
    total += n;
}

int coro_raw_names_off_check(void)
{
    struct bundle mine = {3};
    if (yield(&mine) != 3)
        return 1;
    total = 0;
    int cr = tdill_go(add(1));
    if (cr < 0 || total != 1)
        return 2;
    static struct tdill_bundle_storage mem;
    int b = tdill_bundle_mem(&mem);
    if (b < 0 || tdill_bundle_go(b, add(10)) != 0)
        return 3;
    if (tdill_bundle_wait(b, -1) != 0 || tdill_bundle_wait(cr, -1) != 0)
        return 4;
    if (total != 22 || tdill_hclose(b) != 0 || tdill_hclose(cr) != 0)
        return 5;
    if (tdill_msleep(tdill_now() + 1) != 0)
        return 6;
    return 0;
}
