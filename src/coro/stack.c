#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro.h"
#include "san.h"
#include "tdill_coro.h"

/*
 * Coroutine stacks: mmap'd with MAP_NORESERVE, so a page costs memory only
 * once the coroutine touches it, with a PROT_NONE guard page at the bottom
 * that turns an overflow into SIGSEGV instead of silent corruption. Each
 * thread keeps a few freed stacks: starting a coroutine then costs no
 * system call.
 */

static size_t page_size(void)
{
    static _Atomic size_t page;
    size_t p = atomic_load_explicit(&page, memory_order_relaxed);
    if (!p) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page, p, memory_order_relaxed);
    }
    return p;
}

int tdc_stack_alloc(struct tdc_sched *s, void **mem, void **lo)
{
    void *m;
    if (s->ncache) {
        m = s->cache[--s->ncache];
    } else {
        m = mmap(NULL, TDILL_STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1,
                 0);
        if (m == MAP_FAILED)
            return ENOMEM;
        if (mprotect(m, page_size(), PROT_NONE)) {
            munmap(m, TDILL_STACK_SIZE);
            return ENOMEM;
        }
    }
    *mem = m;
    *lo = (char *)m + page_size();
    return 0;
}

void tdc_stack_forget(const void *lo, size_t len)
{
#ifdef TDC_ASAN
    /* NB: the frames a coroutine left by switching away for good never
       unpoisoned their redzones; the next user of the memory would trip
       on them. */
    ASAN_UNPOISON_MEMORY_REGION(lo, len);
#else
    (void)lo;
    (void)len;
#endif
}

void tdc_stack_free(void *mem)
{
    struct tdc_sched *s = tdc_sched();
    size_t page = page_size();
    tdc_stack_forget((char *)mem + page, TDILL_STACK_SIZE - page);
    if (s && s->ncache < TDC_STACK_CACHE)
        s->cache[s->ncache++] = mem;
    else
        munmap(mem, TDILL_STACK_SIZE);
}

void tdc_stack_cache_clear(struct tdc_sched *s)
{
    while (s->ncache)
        munmap(s->cache[--s->ncache], TDILL_STACK_SIZE);
}
