/* Channels at their edges: the allocator or the handle table refusing, a
   long choose cancelled or refused, and fork while another thread waits in
   a channel. Each body runs in a child process (rel_in_child) that ends
   with exit(), so that a coverage build records it. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../reliability/failmalloc.h"
#include "../reliability/rel.h"
#include "../util.h"

#define MANY 9 /* more clauses than a choose keeps on its stack */

static void chmake_without_memory_child(void *arg)
{
    (void)arg;
    int ch[2] = {-1, -1};
    fm_arm(1);
    int rc = chmake(ch);
    int err = errno;
    fm_disarm();
    RC_CHECK(rc == -1 && err == ENOMEM, "chmake: %d %s", rc,
             tu_errname(err));
    RC_CHECK(ch[0] == -1 && ch[1] == -1, "chv written on failure");
    RC_OK(chmake(ch)); /* nothing was left half made */
    RC_OK(hclose(ch[0]));
    RC_OK(hclose(ch[1]));
}

START_TEST(chmake_without_memory_fails_with_enomem_and_changes_nothing)
{
    rel_in_child(chmake_without_memory_child, NULL, 10);
}
END_TEST

/* MANY clauses, all receiving on ends of one channel. */
static void many_clauses(struct chclause *cl, int ch, int *val)
{
    for (int i = 0; i < MANY; i++)
        cl[i] = (struct chclause){CHRECV, ch, &val[i], sizeof(int)};
}

static void long_choose_without_memory_child(void *arg)
{
    (void)arg;
    int ch[2], val[MANY];
    struct chclause cl[MANY];
    RC_OK(chmake(ch));
    many_clauses(cl, ch[0], val);
    fm_arm(1);
    int rc = choose(cl, MANY, 0);
    int err = errno;
    fm_disarm();
    RC_CHECK(rc == -1 && err == ENOMEM, "choose: %d %s", rc,
             tu_errname(err));
    RC_CHECK(choose(cl, MANY, 0) == -1 && errno == ETIMEDOUT,
             "choose after: %s", tu_errname(errno));
    RC_OK(hclose(ch[0]));
    RC_OK(hclose(ch[1]));
}

START_TEST(a_long_choose_without_memory_fails_with_enomem)
{
    rel_in_child(long_choose_without_memory_child, NULL, 10);
}
END_TEST

struct chooser_arg {
    int ch;
    _Atomic int started;
};

static void *long_chooser(void *p)
{
    struct chooser_arg *a = p;
    int val[MANY];
    struct chclause cl[MANY];
    many_clauses(cl, a->ch, val);
    a->started = 1;
    choose(cl, MANY, -1);
    return NULL;
}

static void long_choose_cancelled_child(void *arg)
{
    (void)arg;
    int ch[2];
    RC_OK(chmake(ch));
    struct chooser_arg a = {.ch = ch[0]};
    pthread_t t;
    RC_CHECK(pthread_create(&t, NULL, long_chooser, &a) == 0, "thread");
    while (!a.started)
        tu_sleep_ms(1);
    tu_sleep_ms(50); /* now blocked in choose */
    pthread_cancel(t);
    void *res;
    pthread_join(t, &res);
    RC_CHECK(res == PTHREAD_CANCELED, "the chooser was not cancelled");
    /* Its clauses were withdrawn: a send finds nobody. */
    int v = 1;
    RC_FAILS(chsend(ch[1], &v, sizeof v, 0), ETIMEDOUT);
    int64_t t0 = now();
    RC_OK(hclose(ch[0]));
    RC_OK(hclose(ch[1]));
    RC_CHECK(now() - t0 < 1000, "hclose waited");
}

START_TEST(a_long_choose_cancelled_while_blocked_leaves_nothing_behind)
{
    rel_in_child(long_choose_cancelled_child, NULL, 10);
}
END_TEST

static void *blocked_receiver(void *p)
{
    int v;
    chrecv(*(int *)p, &v, sizeof v, -1);
    return NULL;
}

/* In the grandchild the receiver does not exist: a send meets nobody.
   NB: exit(), not _exit(), so a coverage build records the child. */
static void fork_child_meets_nobody(int tx)
{
    int v = 7;
    errno = 0;
    int rc = chsend(tx, &v, sizeof v, now() + 50);
    exit(rc == -1 && errno == ETIMEDOUT ? 0 : 3);
}

static void fork_while_receiving_child(void *arg)
{
    (void)arg;
    int ch[2];
    RC_OK(chmake(ch));
    pthread_t t;
    RC_CHECK(pthread_create(&t, NULL, blocked_receiver, &ch[0]) == 0, "t");
    tu_sleep_ms(50); /* now blocked in chrecv */
    pid_t pid = fork();
    RC_CHECK(pid >= 0, "fork");
    if (pid == 0)
        fork_child_meets_nobody(ch[1]);
    int st;
    RC_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    RC_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    int v = 8; /* the parent's receiver is still there */
    RC_OK(chsend(ch[1], &v, sizeof v, now() + 5000));
    pthread_join(t, NULL);
    RC_OK(hclose(ch[0]));
    RC_OK(hclose(ch[1]));
}

START_TEST(fork_child_forgets_the_parents_blocked_receivers)
{
    rel_in_child(fork_while_receiving_child, NULL, 10);
}
END_TEST

#define MAX_HANDLES (1 << 20)

/* Fills the handle table with channels; returns how many were made. */
static int fill_with_channels(int (*ends)[2])
{
    int n = 0;
    for (;;) {
        RC_CHECK(n <= MAX_HANDLES / 2, "more than %d channels", n);
        errno = 0;
        if (chmake(ends[n]) < 0) {
            RC_CHECK(errno == EMFILE, "chmake %d: %s", n, tu_errname(errno));
            return n;
        }
        n++;
    }
}

static void full_table_child(void *arg)
{
    (void)arg;
    int (*ends)[2] = malloc((MAX_HANDLES / 2 + 1) * sizeof(*ends));
    RC_CHECK(ends != NULL, "malloc");
    int n = fill_with_channels(ends);
    RC_CHECK(n > MAX_HANDLES / 2 - 4096, "only %d channels", n);
    /* One slot free (perhaps two): the first end may be made, the second
       cannot, and the first is closed again. */
    RC_OK(hclose(ends[0][0]));
    int ch[2];
    RC_FAILS(chmake(ch), EMFILE);
    RC_FAILS(chmake(ch), EMFILE); /* the slot came back */
    RC_OK(hclose(ends[0][1]));
    RC_OK(chmake(ch));
    free(ends);
    exit(0); /* the channels are not closed */
}

START_TEST(chmake_with_a_full_handle_table_fails_with_emfile_and_leaks_nothing)
{
    if (tu_valgrind())
        return; /* a million handles would take minutes */
    rel_in_child(full_table_child, NULL, 60);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chan_edges");
    TCase *tc = tu_tcase("chan_edges");
    tcase_add_test(tc,
                   chmake_without_memory_fails_with_enomem_and_changes_nothing);
    tcase_add_test(tc, a_long_choose_without_memory_fails_with_enomem);
    tcase_add_test(tc,
                   a_long_choose_cancelled_while_blocked_leaves_nothing_behind);
    tcase_add_test(tc, fork_child_forgets_the_parents_blocked_receivers);
    tcase_add_test(
        tc, chmake_with_a_full_handle_table_fails_with_emfile_and_leaks_nothing);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
