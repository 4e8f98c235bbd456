/*
 * dlopen/dlclose: any number of load, use and unload cycles of a plugin
 * that links tdill, or of libtdill itself, leave one set of the library's
 * threads (at most TDILL_IO_THREADS I/O threads, 2 by default) and one
 * epoll descriptor. The library stays resident once loaded, so none of its
 * code can run unmapped.
 *
 * This host does not link tdill: it finds the plugin and the library in the
 * build tree (SF_PLUGIN_PATH, SF_TDILL_PATH), and is skipped in builds
 * without shared libraries.
 */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SF_PLUGIN_PATH
#error "SF_PLUGIN_PATH: the path of the plugin's shared object"
#endif
#ifndef SF_TDILL_PATH
#error "SF_TDILL_PATH: the path of libtdill's shared object"
#endif

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int count_threads(void)
{
    return count_entries("/proc/self/task");
}

/* The directory scan's own descriptor not included. */
static int count_fds(void)
{
    return count_entries("/proc/self/fd") - 1;
}

static int io_threads(void)
{
    const char *v = getenv("TDILL_IO_THREADS");
    return v && atoi(v) > 0 ? atoi(v) : 2;
}

static void *load(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib != NULL, "dlopen: %s", dlerror());
    return lib;
}

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    ck_assert_msg(p != NULL, "dlsym(%s): %s", name, dlerror());
    return p;
}

/* One cycle with the plugin: 0, or the step of plugin_run() that failed. */
static int plugin_cycle(void)
{
    void *lib = load(SF_PLUGIN_PATH);
    int (*run)(void) = (int (*)(void))sym(lib, "plugin_run");
    int rc = run();
    ck_assert_int_eq(dlclose(lib), 0);
    return rc;
}

/* One cycle with libtdill itself, through its exported names. */
static int tdill_cycle(void)
{
    void *lib = load(SF_TDILL_PATH);
    int (*pair_fn)(int[2]) = (int (*)(int[2]))sym(lib, "tdill_ipc_pair");
    int (*recv_fn)(int, void *, size_t, int64_t) =
        (int (*)(int, void *, size_t, int64_t))sym(lib, "tdill_brecv");
    int64_t (*now_fn)(void) = (int64_t(*)(void))sym(lib, "tdill_now");
    int (*hclose_fn)(int) = (int (*)(int))sym(lib, "tdill_hclose");
    int s[2], rc = 0;
    char c;
    if (pair_fn(s) != 0)
        rc = 1;
    /* A wait: the library starts its I/O threads. */
    else if (recv_fn(s[0], &c, 1, now_fn() + 50) != -1 || errno != ETIMEDOUT)
        rc = 2;
    else if (hclose_fn(s[0]) != 0 || hclose_fn(s[1]) != 0)
        rc = 3;
    ck_assert_int_eq(dlclose(lib), 0);
    return rc;
}

static void check_cycles(int (*cycle)(void), int n, const char *what)
{
    int t0 = count_threads(), f0 = count_fds();
    /* A cycle whose wait ended while the library still spun, before it
       parked, has started no thread; one of the next few will. */
    int rc, done = 0;
    do {
        rc = cycle();
        done++;
        ck_assert_msg(rc == 0, "%s: cycle %d failed at step %d", what, done,
                      rc);
    } while (count_threads() == t0 && done < 5 && done < n);
    int t1 = count_threads(), f1 = count_fds();
    ck_assert_msg(t1 - t0 <= io_threads(), "%s: %d cycles left %d threads",
                  what, done, t1 - t0);
    ck_assert_msg(f1 - f0 <= 1, "%s: %d cycles left %d descriptors", what,
                  done, f1 - f0);
    for (int i = done; i < n; i++) {
        rc = cycle();
        ck_assert_msg(rc == 0, "%s: cycle %d failed at step %d", what, i + 1,
                      rc);
    }
    /* Give threads that are on their way out a moment. */
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 1000; i++) {
        if (count_threads() == t1 && count_fds() == f1)
            break;
        nanosleep(&ms, NULL);
    }
    ck_assert_msg(count_threads() == t1 && count_fds() == f1,
                  "%s: %d threads and %d descriptors after %d cycles, %d and "
                  "%d after %d, %d and %d before any",
                  what, count_threads(), count_fds(), n, t1, f1, done, t0,
                  f0);
}

START_TEST(plugin_load_use_unload_cycles_leave_one_set_of_threads_and_fds)
{
    check_cycles(plugin_cycle, 50, "plugin");
}
END_TEST

START_TEST(libtdill_load_use_unload_cycles_leave_one_set_of_threads_and_fds)
{
    check_cycles(tdill_cycle, 20, "libtdill");
}
END_TEST

START_TEST(plugin_and_libtdill_cycles_share_one_set_of_threads_and_fds)
{
    check_cycles(tdill_cycle, 1, "libtdill");
    check_cycles(plugin_cycle, 10, "plugin after libtdill");
    check_cycles(tdill_cycle, 10, "libtdill after the plugin");
}
END_TEST

int main(void)
{
    if (access(SF_PLUGIN_PATH, R_OK) != 0 ||
        access(SF_TDILL_PATH, R_OK) != 0) {
        printf("skipped: this build has no shared libraries (%s)\n",
               SF_PLUGIN_PATH);
        return 77;
    }
    Suite *s = suite_create("unload");
    TCase *tc = tcase_create("unload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc,
                   plugin_load_use_unload_cycles_leave_one_set_of_threads_and_fds);
    tcase_add_test(tc,
                   libtdill_load_use_unload_cycles_leave_one_set_of_threads_and_fds);
    tcase_add_test(tc,
                   plugin_and_libtdill_cycles_share_one_set_of_threads_and_fds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
