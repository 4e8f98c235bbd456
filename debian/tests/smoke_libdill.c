/* An unmodified libdill program: message sockets between two coroutines,
   built through tdill::libdill (find_package(tdill COMPONENTS libdill)). */
#include <libdill.h>
#include <stdio.h>
#include <string.h>

static coroutine void echo(int s)
{
    char buf[16];
    ssize_t n = mrecv(s, buf, sizeof(buf), -1);
    if (n >= 0)
        msend(s, buf, (size_t)n, -1);
}

int main(void)
{
    int p[2];
    if (ipc_pair(p) < 0)
        return 1;
    int a = prefix_attach(p[0], 4, 0);
    int b = prefix_attach(p[1], 4, 0);
    if (a < 0 || b < 0)
        return 1;
    int cr = go(echo(b));
    char buf[16];
    if (cr < 0 || msend(a, "hello", 5, -1) < 0)
        return 1;
    ssize_t n = mrecv(a, buf, sizeof(buf), -1);
    if (n != 5 || memcmp(buf, "hello", 5) || bundle_wait(cr, -1) < 0)
        return 1;
    puts("libdill smoke: ok");
    return hclose(cr) || hclose(a) || hclose(b);
}
