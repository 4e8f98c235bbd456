/*
 * fdpass -- pass open descriptors to another process over an IPC pair.
 *
 *   fdpass
 *
 * The parent makes a connected pair with ipc_pair() and forks; the child
 * keeps using its inherited tdill handle (tdill handles survive fork). Over
 * that one connection the parent sends, in this order:
 *
 *   "a file follows"    bytes
 *   <temporary file>    ipc_sendfd
 *   "a pipe follows"    bytes
 *   <pipe write end>    ipc_sendfd
 *   "that's all"        bytes, then ipc_done()
 *
 * Descriptors travel in order with the bytes, so the child takes each one
 * with ipc_recvfd() exactly where it was sent. The child reads the file,
 * appends a line to it (the two processes share one open file), and writes
 * a report through the pipe. The parent checks both.
 *
 * Last, on a second pair, it shows the other side of the rule: calling
 * ipc_recvfd() when the next item is plain bytes fails with EPROTO.
 *
 * Exit status: 0 if everything matched, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tdill.h>

#define TIMEOUT_MS 5000

static const char file_text[] = "tdill passed this file to the child\n";
static const char child_line[] = "the child appended this line\n";

static int fail(const char *who, const char *what)
{
    fprintf(stderr, "fdpass: %s: %s: %s\n", who, what, strerror(errno));
    return -1;
}

/* A tiny framing for the labels: one length byte, then the text. */
static int send_label(int s, const char *text)
{
    size_t len = strlen(text);
    unsigned char n = (unsigned char)len;
    struct iolist body = {(void *)text, len, NULL, 0};
    struct iolist head = {&n, 1, &body, 0};
    return bsendl(s, &head, &body, now() + TIMEOUT_MS);
}

/* Receives a label and checks that it is `want`. */
static int recv_label(int s, const char *want)
{
    unsigned char n;
    char buf[256];
    if (brecv(s, &n, 1, now() + TIMEOUT_MS) < 0 ||
        brecv(s, buf, n, now() + TIMEOUT_MS) < 0)
        return -1;
    buf[n] = 0;
    if (strcmp(buf, want) != 0) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/******************************************************************************/
/*  The child                                                                 */
/******************************************************************************/

/* Reads all of fd (a small file) into buf. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap && (n = read(fd, buf + got, cap - got)) != 0) {
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0)
            got += (size_t)n;
    }
    return (ssize_t)got;
}

static int child(int s)
{
    char text[256];
    /* 1. The file: read it from its current offset (the start), then
       append; the offset we leave is the parent's offset too. */
    if (recv_label(s, "a file follows") < 0)
        return fail("child", "label 1");
    int file = ipc_recvfd(s, now() + TIMEOUT_MS);
    if (file < 0)
        return fail("child", "ipc_recvfd (file)");
    ssize_t n = read_all(file, text, sizeof(text) - 1);
    if (n < 0)
        return fail("child", "read (file)");
    text[n] = 0;
    if (write(file, child_line, strlen(child_line)) < 0)
        return fail("child", "write (file)");
    close(file);

    /* 2. The pipe: report what the file said through it. */
    if (recv_label(s, "a pipe follows") < 0)
        return fail("child", "label 2");
    int pipew = ipc_recvfd(s, now() + TIMEOUT_MS);
    if (pipew < 0)
        return fail("child", "ipc_recvfd (pipe)");
    char report[320];
    int len = snprintf(report, sizeof(report), "child %ld read: %s",
                       (long)getpid(), text);
    if (write(pipew, report, (size_t)len) != len)
        return fail("child", "write (pipe)");
    close(pipew);

    /* 3. The end: after the last label the parent's ipc_done gives EPIPE. */
    if (recv_label(s, "that's all") < 0)
        return fail("child", "label 3");
    char extra;
    if (brecv(s, &extra, 1, now() + TIMEOUT_MS) == 0 || errno != EPIPE)
        return fail("child", "expected EPIPE after the last label");
    if (ipc_close(s, now() + TIMEOUT_MS) < 0)
        return fail("child", "ipc_close");
    return 0;
}

/******************************************************************************/
/*  The parent                                                                */
/******************************************************************************/

/* A temporary file, already unlinked, holding file_text, offset at 0. */
static int make_file(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tdill-fdpass-XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (write(fd, file_text, strlen(file_text)) < 0 ||
        lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends the labels and descriptors in order. The parent's copy of the pipe's
   write end is closed once sent, so the child's close gives us EOF. */
static int send_all(int s, int file, int pipe_w)
{
    if (send_label(s, "a file follows") < 0)
        return fail("parent", "label 1");
    if (ipc_sendfd(s, file, now() + TIMEOUT_MS) < 0)
        return fail("parent", "ipc_sendfd (file)");
    if (send_label(s, "a pipe follows") < 0)
        return fail("parent", "label 2");
    if (ipc_sendfd(s, pipe_w, now() + TIMEOUT_MS) < 0)
        return fail("parent", "ipc_sendfd (pipe)");
    close(pipe_w);
    if (send_label(s, "that's all") < 0)
        return fail("parent", "label 3");
    if (ipc_done(s, now() + TIMEOUT_MS) < 0)
        return fail("parent", "ipc_done");
    return 0;
}

/* Reads the pipe until the child closes it, with a deadline. */
static ssize_t read_pipe(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    int64_t deadline = now() + TIMEOUT_MS;
    while (got < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - now();
        int rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t n = rc < 0 ? -1 : read(fd, buf + got, cap - got);
        if (n == 0)
            break;
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0)
            got += (size_t)n;
    }
    return (ssize_t)got;
}

static int check_results(int file, const char *report, pid_t pid)
{
    char want[320];
    snprintf(want, sizeof(want), "child %ld read: %s", (long)pid, file_text);
    if (strcmp(report, want) != 0) {
        fprintf(stderr, "fdpass: pipe said \"%s\", expected \"%s\"\n", report,
                want);
        return -1;
    }
    char text[256];
    ssize_t n = pread(file, text, sizeof(text) - 1, 0);
    if (n < 0)
        return fail("parent", "pread");
    text[n] = 0;
    snprintf(want, sizeof(want), "%s%s", file_text, child_line);
    if (strcmp(text, want) != 0) {
        fprintf(stderr, "fdpass: file holds \"%s\", expected \"%s\"\n", text,
                want);
        return -1;
    }
    return 0;
}

static int parent(int s, pid_t pid, int file, int pipe_r, int pipe_w)
{
    char report[320];
    int status;
    if (send_all(s, file, pipe_w) < 0)
        goto error;
    ssize_t n = read_pipe(pipe_r, report, sizeof(report) - 1);
    if (n < 0) {
        fail("parent", "reading the pipe");
        goto error;
    }
    report[n] = 0;
    /* The child's ipc_close finishes ours: both sides are done. */
    if (ipc_close(s, now() + TIMEOUT_MS) < 0) {
        fail("parent", "ipc_close");
        goto error;
    }
    if (waitpid(pid, &status, 0) < 0)
        return fail("parent", "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fdpass: child failed\n");
        return -1;
    }
    return check_results(file, report, pid);
error:
    /* Do not leave a stuck child behind. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/******************************************************************************/
/*  EPROTO: asking for a descriptor where bytes come next                     */
/******************************************************************************/

static int show_eproto(void)
{
    int s[2];
    if (ipc_pair(s) < 0)
        return fail("eproto", "ipc_pair");
    int rc = -1;
    if (bsend(s[0], "x", 1, now() + TIMEOUT_MS) < 0) {
        fail("eproto", "bsend");
    } else if (ipc_recvfd(s[1], now() + TIMEOUT_MS) >= 0 || errno != EPROTO) {
        fprintf(stderr, "fdpass: ipc_recvfd on a plain byte did not give "
                        "EPROTO\n");
    } else {
        rc = 0;
    }
    hclose(s[0]);
    hclose(s[1]);
    return rc;
}

int main(void)
{
    /* 1. Make everything the child will get. */
    int s[2], p[2];
    int file = make_file();
    if (file < 0) {
        fail("parent", "temporary file");
        return 1;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        fail("parent", "pipe2");
        return 1;
    }
    if (ipc_pair(s) < 0) {
        fail("parent", "ipc_pair");
        return 1;
    }

    /* 2. Fork. Each process closes the handle that belongs to the other;
       hclose in one process does not affect the other's copy. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fail("parent", "fork");
        return 1;
    }
    if (pid == 0) {
        alarm(4 * TIMEOUT_MS / 1000); /* never outlive the demo */
        hclose(s[0]);
        close(p[0]);
        close(p[1]);
        close(file);
        int rc = child(s[1]);
        _exit(rc == 0 ? 0 : 1);
    }
    hclose(s[1]);
    int rc = parent(s[0], pid, file, p[0], p[1]);
    close(p[0]);
    close(file);
    if (rc < 0)
        return 1;

    /* 3. The EPROTO rule. */
    if (show_eproto() < 0)
        return 1;
    printf("fdpass: ok: a file and a pipe passed to child %ld in order "
           "with 3 labels; child wrote back through both; "
           "ipc_recvfd on bytes gave EPROTO\n",
           (long)pid);
    return 0;
}
