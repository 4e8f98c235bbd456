/* Counting open descriptors; see fdcount.h. */
#include "fdcount.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fdcount(fdcount_keep_fn *keep, void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int self = dirfd(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == self)
            continue;
        if (!keep) {
            n++;
            continue;
        }
        char link[300], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        target[len > 0 ? len : 0] = 0;
        if (keep(fd, target, arg))
            n++;
    }
    closedir(d);
    return n;
}

int fdcount_is_epoll(const char *target)
{
    return strcmp(target, "anon_inode:[eventpoll]") == 0;
}
