/* Allocation-failure injection; see failmalloc.h. */
#include "failmalloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void *aligned_alloc(size_t align, size_t size);
void free(void *p);

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void (*real_free)(void *);

/* dlsym() may allocate (calloc) before the real functions are known: such
   early requests are served from this arena and never freed. */
static _Alignas(16) unsigned char boot[16384];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > sizeof boot - boot_used)
        return NULL;
    void *p = boot + boot_used;
    boot_used += size;
    return p; /* static storage: already zero */
}

static int in_boot(const void *p)
{
    return (const unsigned char *)p >= boot &&
           (const unsigned char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    if (real_free)
        return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_aligned_alloc =
        (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

__attribute__((constructor)) static void fm_init(void)
{
    resolve();
}

/* Per-thread arming: the countdown to the failing allocation. */
static __thread int armed;
static __thread long countdown;
static __thread long attempts;
static __thread int injected;

void fm_arm(long n)
{
    countdown = n;
    attempts = 0;
    injected = 0;
    armed = 1;
}

long fm_disarm(void)
{
    armed = 0;
    return attempts;
}

int fm_injected(void)
{
    return injected;
}

/* 1 if this allocation must fail. */
static int fail_now(void)
{
    if (!armed)
        return 0;
    attempts++;
    if (countdown > 0 && --countdown == 0) {
        injected = 1;
        return 1;
    }
    return 0;
}

void *malloc(size_t size)
{
    if (!real_malloc) {
        if (resolving)
            return boot_alloc(size);
        resolve();
    }
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    if (!real_calloc) {
        if (resolving)
            return size && n > SIZE_MAX / size ? NULL : boot_alloc(n * size);
        resolve();
    }
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(n, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    if (!real_aligned_alloc)
        resolve();
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_aligned_alloc(align, size);
}

void *realloc(void *p, size_t size)
{
    if (!real_realloc)
        resolve();
    if (in_boot(p)) {
        /* Rare: grow an early block by copying it out of the arena. */
        size_t room = (size_t)(boot + sizeof boot - (unsigned char *)p);
        void *q = malloc(size);
        if (q)
            memcpy(q, p, size < room ? size : room);
        return q;
    }
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_realloc(p, size);
}

void free(void *p)
{
    if (!p || in_boot(p))
        return;
    if (!real_free)
        resolve();
    real_free(p);
}
