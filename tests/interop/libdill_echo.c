/* The libdill side of the interop check (see run.sh): connects to PATH,
   attaches a prefix or suffix protocol and echoes COUNT messages. Built
   against a real libdill only, never against tdill. */
#include <libdill.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PATH prefix|suffix HDRLEN/SUFFIX COUNT\n",
                argv[0]);
        return 2;
    }
    int s = ipc_connect(argv[1], now() + 5000);
    if (s < 0) {
        perror("ipc_connect");
        return 1;
    }
    int m;
    if (strcmp(argv[2], "prefix") == 0) {
        int hdrlen = atoi(argv[3]);
        int flags = hdrlen < 0 ? PREFIX_LITTLE_ENDIAN : PREFIX_BIG_ENDIAN;
        m = prefix_attach(s, (size_t)abs(hdrlen), flags);
    } else {
        m = suffix_attach(s, argv[3], strlen(argv[3]));
    }
    if (m < 0) {
        perror("attach");
        return 1;
    }
    static char buf[1 << 20];
    for (int i = 0; i < atoi(argv[4]); i++) {
        ssize_t n = mrecv(m, buf, sizeof(buf), now() + 10000);
        if (n < 0 || msend(m, buf, (size_t)n, now() + 10000) < 0) {
            perror("libdill echo");
            return 1;
        }
    }
    return hclose(m) < 0;
}
