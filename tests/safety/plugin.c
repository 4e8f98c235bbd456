/* A plugin that uses tdill: test_unload loads it with dlopen, calls
   plugin_run() and unloads it with dlclose, again and again. */
#include <errno.h>

#include <tdill.h>

int plugin_run(void);

/* 0, or the step that failed. */
int plugin_run(void)
{
    int s[2];
    char c;
    if (ipc_pair(s) != 0)
        return 1;
    /* A wait: the library starts its I/O threads. */
    errno = 0;
    if (brecv(s[0], &c, 1, now() + 50) != -1 || errno != ETIMEDOUT)
        return 2;
    if (bsend(s[0], "x", 1, now() + 1000) != 0)
        return 3;
    if (brecv(s[1], &c, 1, now() + 1000) != 0 || c != 'x')
        return 4;
    if (hclose(s[0]) != 0 || hclose(s[1]) != 0)
        return 5;
    return 0;
}
