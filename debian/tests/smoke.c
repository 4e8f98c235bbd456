/* Built against the installed packages by debian/tests/build-pkg-config
   and debian/tests/build-cmake, once with <tdill.h> and once with
   -DWITH_CORO and <tdill_coro.h>: bytes across a connected pair, across a
   connection made through a socket file, and (WITH_CORO) to a coroutine
   that answers while the main one waits. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef WITH_CORO
#include <tdill_coro.h>
#else
#include <tdill.h>
#endif

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            perror(#cond);                                                    \
            return 1;                                                         \
        }                                                                     \
    } while (0)

#ifdef WITH_CORO
coroutine void echo_once(int s)
{
    char buf[5];
    if (brecv(s, buf, 5, now() + 1000) == 0)
        bsend(s, buf, 5, now() + 1000);
}
#endif

int main(void)
{
    int p[2];
    char buf[5];
    CHECK(ipc_pair(p) == 0);
#ifdef WITH_CORO
    int cr = go(echo_once(p[1]));
    CHECK(cr >= 0);
    CHECK(bsend(p[0], "hello", 5, now() + 1000) == 0);
    CHECK(brecv(p[0], buf, 5, now() + 1000) == 0);
    CHECK(hclose(cr) == 0);
#else
    CHECK(bsend(p[0], "hello", 5, now() + 1000) == 0);
    CHECK(brecv(p[1], buf, 5, now() + 1000) == 0);
#endif
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(hclose(p[0]) == 0 && hclose(p[1]) == 0);

    const char *path = "smoke.sock";
    unlink(path);
    int ls = ipc_listen(path, 8);
    CHECK(ls >= 0);
    int c = ipc_connect(path, now() + 1000);
    CHECK(c >= 0);
    int s = ipc_accept(ls, now() + 1000);
    CHECK(s >= 0);
    CHECK(bsend(c, "ping", 4, now() + 1000) == 0);
    CHECK(brecv(s, buf, 4, now() + 1000) == 0);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK(hclose(c) == 0 && hclose(s) == 0 && hclose(ls) == 0);
    unlink(path);
#ifdef WITH_CORO
    puts("smoke (coroutines): ok");
#else
    puts("smoke: ok");
#endif
    return 0;
}
