/* The tdill side of the interop check (see run.sh): listens on PATH, runs
   the libdill echo peer, sends it COUNT messages of random sizes over the
   same protocol and checks that each comes back whole and in order. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tdill.h>

static int fail(const char *what, int i)
{
    perror(what);
    fprintf(stderr, "tdill side: message %d\n", i);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr,
                "usage: %s ECHO PATH prefix|suffix HDRLEN/SUFFIX COUNT\n",
                argv[0]);
        return 2;
    }
    unlink(argv[2]);
    int ls = ipc_listen(argv[2], 1);
    if (ls < 0)
        return fail("ipc_listen", 0);
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[1], argv[1], argv[2], argv[3], argv[4], argv[5],
              (char *)NULL);
        _exit(127);
    }
    int s = ipc_accept(ls, now() + 5000);
    if (s < 0)
        return fail("ipc_accept", 0);
    int hdrlen = atoi(argv[4]);
    bool prefix = strcmp(argv[3], "prefix") == 0;
    size_t max = 100000;
    int m;
    if (prefix) {
        int flags = hdrlen < 0 ? PREFIX_LITTLE_ENDIAN : PREFIX_BIG_ENDIAN;
        m = prefix_attach(s, (size_t)abs(hdrlen), flags);
        if (abs(hdrlen) < 3)
            max = (1u << (8 * abs(hdrlen))) - 1; /* what the prefix holds */
    } else {
        m = suffix_attach(s, argv[4], strlen(argv[4]));
        max = 10000; /* libdill takes a suffixed message byte by byte */
    }
    if (m < 0)
        return fail("attach", 0);
    static char out[100000], in[100000];
    srand(7);
    for (int i = 0; i < atoi(argv[5]); i++) {
        size_t len = (size_t)rand() % (max + 1);
        for (size_t j = 0; j < len; j++)
            out[j] = (char)('a' + rand() % 26); /* never the suffix */
        if (msend(m, out, len, now() + 10000) < 0)
            return fail("msend", i);
        ssize_t n = mrecv(m, in, sizeof(in), now() + 10000);
        if (n < 0)
            return fail("mrecv", i);
        if ((size_t)n != len || memcmp(in, out, len)) {
            fprintf(stderr, "tdill side: message %d came back changed\n", i);
            return 1;
        }
    }
    int status;
    waitpid(pid, &status, 0);
    hclose(m);
    hclose(ls);
    unlink(argv[2]);
    return !WIFEXITED(status) || WEXITSTATUS(status);
}
