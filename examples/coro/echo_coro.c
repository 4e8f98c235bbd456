/*
 * An echo server and its clients, all coroutines of one thread, written as
 * a libdill program would be: only the #include differs.
 *
 * The server accepts connections and runs one handler coroutine per
 * connection in a bundle. Each client sends a few lines, checks the echo
 * and hangs up, which ends its handler (EPIPE). One more connection stays
 * idle. When every client is done, hclose cancels the accept loop and the
 * idle connection's handler: their blocked calls fail with ECANCELED, and
 * hclose returns once they have cleaned up.
 *
 * Usage: echo_coro [clients] [socket path]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdill_coro.h>

#define LINE 32
#define LINES 10

static int handled, cancelled, clients_ok;

coroutine void handler(int s)
{
    char line[LINE];
    for (;;) {
        if (brecv(s, line, LINE, -1) != 0)
            break;
        if (bsend(s, line, LINE, now() + 1000) != 0)
            break;
    }
    if (errno == ECANCELED)
        cancelled++;
    handled++;
    hclose(s);
}

coroutine void server(int ls, int handlers)
{
    for (;;) {
        int s = ipc_accept(ls, -1);
        if (s < 0)
            return; /* ECANCELED: the server is being shut down */
        if (bundle_go(handlers, handler(s)) != 0)
            hclose(s);
    }
}

coroutine void client(const char *addr, int id)
{
    int s = ipc_connect(addr, now() + 1000);
    if (s < 0) {
        perror("ipc_connect");
        return;
    }
    char out[LINE], in[LINE];
    for (int i = 0; i < LINES; i++) {
        snprintf(out, LINE, "client %d line %d", id, i);
        if (bsend(s, out, LINE, now() + 1000) != 0 ||
            brecv(s, in, LINE, now() + 1000) != 0 || memcmp(in, out, LINE)) {
            fprintf(stderr, "client %d: echo failed\n", id);
            hclose(s);
            return;
        }
        msleep(now() + 1); /* let the others interleave */
    }
    clients_ok++;
    hclose(s); /* its handler then sees EPIPE and ends */
}

int main(int argc, char **argv)
{
    int nclients = argc > 1 ? atoi(argv[1]) : 100;
    char addr[64];
    if (argc > 2)
        snprintf(addr, sizeof(addr), "%s", argv[2]);
    else
        snprintf(addr, sizeof(addr), "/tmp/echo_coro.%ld", (long)getpid());

    /* 1. The server: a listener, an accept loop, a bundle of handlers. */
    int ls = ipc_listen(addr, 128);
    if (ls < 0) {
        perror("ipc_listen");
        return 1;
    }
    int handlers = bundle();
    int srv = go(server(ls, handlers));
    int idle = ipc_connect(addr, now() + 1000);

    /* 2. The clients, in a bundle of their own; wait for all of them. */
    int clients = bundle();
    for (int i = 0; i < nclients; i++)
        bundle_go(clients, client(addr, i));
    int rc = bundle_wait(clients, now() + 10000);
    hclose(clients);

    /* 3. Shut the server down: cancel the accept loop, then the handlers,
       which are blocked in brecv on connections nobody uses any more. */
    hclose(srv);
    hclose(handlers);
    hclose(idle);
    hclose(ls);
    unlink(addr);

    printf("%d/%d clients echoed %d lines each; %d handlers ended, %d of "
           "them cancelled\n",
           clients_ok, nclients, LINES, handled, cancelled);
    /* At least the idle connection's handler was cancelled; a handler
       whose client had just hung up may have been, too. */
    return rc == 0 && clients_ok == nclients && handled == nclients + 1 &&
                   cancelled >= 1
               ? 0
               : 1;
}
