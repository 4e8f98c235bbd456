/*
 * A libdill program that defines DILL_DISABLE_RAW_NAMES and calls libdill's
 * dill_ spellings, built unmodified against tdill's drop-in libdill.h: the
 * plain names must be gone (the program uses them for its own things) and
 * every dill_ name must be there. Exit status 0: pass.
 */
#define DILL_DISABLE_RAW_NAMES
#include <libdill.h>

#include <assert.h>
#include <string.h>

#if defined(now) || defined(hclose) || defined(iolist) || defined(bsend) ||   \
    defined(brecv) || defined(bsendl) || defined(brecvl) ||                   \
    defined(ipc_pair) || defined(ipc_storage) || defined(ipc_listen) ||       \
    defined(chmake) || defined(choose) || defined(CHSEND) ||                  \
    defined(coroutine) || defined(go) || defined(go_mem) ||                   \
    defined(bundle_go) || defined(bundle_go_mem) || defined(yield) ||         \
    defined(msleep) || defined(bundle) || defined(bundle_mem) ||              \
    defined(bundle_wait) || defined(bundle_storage)
#error "DILL_DISABLE_RAW_NAMES must hide libdill's plain names"
#endif

/* The program's own things, named like libdill's API. */
struct bundle {
    int now;
};

static int yield(struct bundle *go)
{
    return go->now;
}

static int got;

static dill_coroutine void receiver(int s)
{
    char buf[6];
    struct dill_iolist iol = {buf, sizeof(buf), NULL, 0};
    int rc = dill_brecvl(s, &iol, &iol, -1);
    assert(rc == 0 && memcmp(buf, "hello!", 6) == 0);
    got = 1;
    rc = dill_yield();
    assert(rc == 0);
}

static dill_coroutine void forever(void)
{
    int rc = dill_msleep(-1);
    assert(rc == -1 && errno == ECANCELED);
}

int main(void)
{
    struct bundle mine = {7};
    assert(yield(&mine) == 7);

    static struct dill_ipc_pair_storage pmem;
    int s[2];
    int rc = dill_ipc_pair_mem(&pmem, s);
    assert(rc == 0);
    static struct dill_bundle_storage bmem;
    int b = dill_bundle_mem(&bmem);
    assert(b >= 0);
    rc = dill_bundle_go(b, receiver(s[1]));
    assert(rc == 0);
    struct dill_iolist iol2 = {"lo!", 3, NULL, 0};
    struct dill_iolist iol1 = {"hel", 3, &iol2, 0};
    rc = dill_bsendl(s[0], &iol1, &iol2, dill_now() + 1000);
    assert(rc == 0);
    rc = dill_bundle_wait(b, dill_now() + 5000);
    assert(rc == 0 && got == 1);
    rc = dill_hclose(b);
    assert(rc == 0);

    static char stk[8192];
    int cr = dill_go_mem(forever(), stk, sizeof(stk));
    assert(cr >= 0);
    rc = dill_hclose(cr);
    assert(rc == 0);
    cr = dill_go(forever());
    assert(cr >= 0);
    rc = dill_hclose(cr);
    assert(rc == 0);
    b = dill_bundle();
    assert(b >= 0);
    rc = dill_bundle_go_mem(b, forever(), stk, sizeof(stk));
    assert(rc == 0);
    rc = dill_hclose(b);
    assert(rc == 0);

    static struct dill_chstorage cmem;
    int ch[2];
    rc = dill_chmake_mem(&cmem, ch);
    assert(rc == 0);
    int v = 42;
    struct dill_chclause cl = {DILL_CHSEND, ch[0], &v, sizeof(v)};
    rc = dill_choose(&cl, 1, 0);
    assert(rc == -1 && errno == ETIMEDOUT);
    rc = dill_chdone(ch[0]);
    assert(rc == 0);
    rc = dill_chrecv(ch[1], &v, sizeof(v), -1);
    assert(rc == -1 && errno == EPIPE);
    rc = dill_chsend(ch[0], &v, sizeof(v), 0);
    assert(rc == -1 && errno == EPIPE);

    struct dill_ipc_storage imem;
    struct dill_ipc_listener_storage lmem;
    (void)imem;
    (void)lmem;
    rc = dill_ipc_connect("/nonexistent/tdill", dill_now() + 100);
    assert(rc == -1);
    assert(dill_hclose(ch[0]) == 0 && dill_hclose(ch[1]) == 0);
    assert(dill_hclose(s[0]) == 0 && dill_hclose(s[1]) == 0);
    return 0;
}
