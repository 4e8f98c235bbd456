/*
 * go(fn(args)) evaluates fn's arguments on the new coroutine's stack, from
 * the caller's locals, which the compiler must then reach through the frame
 * pointer. This file is compiled twice: as the build says, and (with
 * GO_ARGS_O0) at -O0, where every local lives in the frame.
 */
#ifdef GO_ARGS_O0
#if defined(__clang__)
#pragma clang optimize off
#else
#pragma GCC optimize("O0")
#endif
#define CHECK go_args_check_O0
#define P(name) o0_##name
#else
#define CHECK go_args_check
#define P(name) on_##name
#endif

#include "coro_tests.h"

#include <stdalign.h>
#include <string.h>

struct big {
    long v[5];
    double d;
};

/* What the coroutines saw; static, so every compiler sees it change. */
static long P(sum);
static double P(fsum);
static int P(calls);
static const char *P(text);
static int P(seen)[64];

/* Fourteen arguments: on x86-64 and AArch64 some travel on the stack. */
static coroutine void P(many)(int a, long b, double c, float d, char e,
                              struct big big, const char *s, long f, long g,
                              long h, double i, double j, double k, double l)
{
    P(sum) = a + b + e + f + g + h;
    for (int n = 0; n < 5; n++)
        P(sum) += big.v[n];
    P(fsum) = c + d + big.d + i + j + k + l;
    P(text) = s;
    P(calls)++;
}

static coroutine void P(record)(int i)
{
    P(seen)[i]++;
    yield();
    P(seen)[i]++;
}

static coroutine void P(aligned)(const char *p, int n)
{
    P(sum) = 0;
    for (int i = 0; i < n; i++)
        P(sum) += p[i];
}

static int P(evals);

static int P(once)(int n)
{
    P(evals)++;
    return n;
}

static coroutine void P(nested)(int depth)
{
    P(calls)++;
    if (depth > 0) {
        int child = depth - 1;
        int h = go(P(nested)(child));
        if (h >= 0)
            hclose(h);
    }
}

int CHECK(void)
{
    /* 1. Locals of every kind, some on the stack. */
    struct big big = {{1, 2, 3, 4, 5}, 0.5};
    char text[] = "frame";
    int a = 10;
    long b = 20, f = 30, g = 40, h = 50;
    double c = 1.25, i = 2.0, j = 3.0, k = 4.0, l = 5.0;
    float d = 0.25f;
    char e = 7;
    P(calls) = 0;
    int cr = go(P(many)(a, b, c, d, e, big, text, f, g, h, i, j, k, l));
    if (cr < 0)
        return 1;
    if (P(calls) != 1 || P(sum) != 10 + 20 + 7 + 30 + 40 + 50 + 15)
        return 2;
    if (P(fsum) != 1.25 + 0.25 + 0.5 + 2.0 + 3.0 + 4.0 + 5.0)
        return 3;
    if (P(text) != text)
        return 4;
    if (hclose(cr) != 0)
        return 5;
    /* 2. Locals survive in the caller after go() returns. */
    if (a != 10 || b != 20 || big.v[4] != 5 || strcmp(text, "frame") != 0)
        return 6;
    /* 3. A loop variable: each coroutine gets its own value, evaluated
       once. (Side effects on the caller's own locals would be lost: its
       registers come back as they were before go(); see tdill_coro.h.) */
    int hs[64];
    memset(P(seen), 0, sizeof(P(seen)));
    P(evals) = 0;
    for (int n = 0; n < 64; n++) {
        hs[n] = go(P(record)(P(once)(n)));
        if (hs[n] < 0)
            return 7;
    }
    if (P(evals) != 64)
        return 8;
    for (int n = 0; n < 64; n++) {
        if (bundle_wait(hs[n], -1) != 0 || hclose(hs[n]) != 0)
            return 9;
        if (P(seen)[n] != 2)
            return 10;
    }
    /* 4. An over-aligned local (Clang then addresses the frame through a
       base register). */
    alignas(64) char buf[64];
    for (int n = 0; n < 64; n++)
        buf[n] = (char)n;
    cr = go(P(aligned)(buf, 64));
    if (cr < 0 || hclose(cr) != 0 || P(sum) != 64 * 63 / 2)
        return 11;
    /* 5. go() inside coroutines, eight deep. */
    P(calls) = 0;
    cr = go(P(nested)(8));
    if (cr < 0 || hclose(cr) != 0 || P(calls) != 9)
        return 12;
    return 0;
}
