/*
 * A libdill program as libdill's users write it, built unmodified against
 * tdill's drop-in libdill.h (include/compat): it uses errno, ECANCELED,
 * malloc, free, exit and fork without including their headers, because
 * libdill.h includes them. Built with -Werror=implicit-function-declaration
 * so that a missing include fails the build. Exit status 0: pass.
 */
#include <libdill.h>

#include <assert.h>
#include <string.h>
#include <sys/wait.h>

#define errno_assert(x) assert(x)

static int sum;

coroutine void adder(int ch, int n)
{
    int i;
    for (i = 0; i != n; ++i) {
        int v;
        int rc = chrecv(ch, &v, sizeof(v), -1);
        errno_assert(rc == 0);
        sum += v;
        rc = yield();
        errno_assert(rc == 0);
    }
}

coroutine void sleeper(void)
{
    int rc = msleep(now() + 100000);
    assert(rc == -1 && errno == ECANCELED);
}

coroutine void echo(int s)
{
    char buf[4];
    int rc = brecv(s, buf, sizeof(buf), -1);
    errno_assert(rc == 0);
    rc = bsend(s, buf, sizeof(buf), -1);
    errno_assert(rc == 0);
}

int main(void)
{
    /* Channels and coroutines. */
    int ch[2];
    int rc = chmake(ch);
    errno_assert(rc == 0);
    int cr = go(adder(ch[1], 3));
    errno_assert(cr >= 0);
    int i;
    for (i = 1; i <= 3; ++i) {
        rc = chsend(ch[0], &i, sizeof(i), -1);
        errno_assert(rc == 0);
    }
    rc = bundle_wait(cr, -1);
    errno_assert(rc == 0);
    assert(sum == 6);
    rc = hclose(cr);
    errno_assert(rc == 0);

    /* Cancellation: ECANCELED without <errno.h>. */
    int b = bundle();
    errno_assert(b >= 0);
    rc = bundle_go(b, sleeper());
    errno_assert(rc == 0);
    rc = hclose(b);
    errno_assert(rc == 0);

    /* A coroutine on a 4096-byte stack, as libdill's tests/bundle.c. */
    char stk[4096];
    b = bundle();
    errno_assert(b >= 0);
    rc = bundle_go_mem(b, sleeper(), stk, sizeof(stk));
    errno_assert(rc == 0);
    rc = hclose(b);
    errno_assert(rc == 0);

    /* IPC: a pair of bytestream handles, the echo in a coroutine. */
    int s[2];
    rc = ipc_pair(s);
    errno_assert(rc == 0);
    cr = go(echo(s[1]));
    errno_assert(cr >= 0);
    rc = bsend(s[0], "ping", 4, now() + 1000);
    errno_assert(rc == 0);
    char *buf = malloc(4);
    assert(buf);
    rc = brecv(s[0], buf, 4, now() + 1000);
    errno_assert(rc == 0);
    assert(memcmp(buf, "ping", 4) == 0);
    free(buf);
    rc = hclose(cr);
    errno_assert(rc == 0);

    /* fork: the handle works in the child. */
    pid_t pid = fork();
    assert(pid >= 0);
    if (pid == 0) {
        rc = bsend(s[1], "pong", 4, now() + 1000);
        exit(rc == 0 ? 0 : 1);
    }
    char reply[4];
    rc = brecv(s[0], reply, sizeof(reply), now() + 5000);
    errno_assert(rc == 0);
    assert(memcmp(reply, "pong", 4) == 0);
    int status;
    assert(waitpid(pid, &status, 0) == pid);
    assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rc = hclose(s[0]);
    errno_assert(rc == 0);
    rc = hclose(s[1]);
    errno_assert(rc == 0);
    rc = chdone(ch[0]);
    errno_assert(rc == 0);
    rc = hclose(ch[0]);
    errno_assert(rc == 0);
    rc = hclose(ch[1]);
    errno_assert(rc == 0);
    return 0;
}
