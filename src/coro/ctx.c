/*
 * The context switch: the registers a C function must preserve, the stack
 * pointer and the return address; struct tdc_ctx holds them.
 *
 * tdill__ctx_save(ctx): saves the caller's context and returns 0; when the
 *     context is resumed it returns again, with 1. go() calls it in the
 *     caller's own frame (exported; deliberately not declared
 *     returns_twice: tdill_coro.h says why).
 * tdc_ctx_swap(from, to): saves into from and resumes to.
 *
 * Top-level asm in a C file, so the build needs no assembler rules.
 * Anything but x86-64 and AArch64 fails here, at build time.
 */
#include "coro.h"

#if defined(__x86_64__)

#if defined(__CET__)
#define ENDBR "endbr64\n"
#else
#define ENDBR ""
#endif

_Static_assert(sizeof(struct tdc_ctx) >= 72, "struct tdc_ctx too small");

/* rbx rbp r12 r13 r14 r15 rsp rip at 0..56, mxcsr at 64, x87 cw at 68. */
#define SAVE(r)                                                               \
    "movq (%rsp), %rax\n"                                                     \
    "movq %rax, 56(" r ")\n"                                                  \
    "leaq 8(%rsp), %rax\n"                                                    \
    "movq %rax, 48(" r ")\n"                                                  \
    "movq %rbx, 0(" r ")\n"                                                   \
    "movq %rbp, 8(" r ")\n"                                                   \
    "movq %r12, 16(" r ")\n"                                                  \
    "movq %r13, 24(" r ")\n"                                                  \
    "movq %r14, 32(" r ")\n"                                                  \
    "movq %r15, 40(" r ")\n"                                                  \
    "stmxcsr 64(" r ")\n"                                                     \
    "fnstcw 68(" r ")\n"

/* clang-format off */
__asm__(".text\n"
        ".globl tdill__ctx_save\n"
        ".type tdill__ctx_save, @function\n"
        ".p2align 4\n"
        "tdill__ctx_save:\n" ENDBR SAVE("%rdi")
        "xorl %eax, %eax\n"
        "ret\n"
        ".size tdill__ctx_save, .-tdill__ctx_save\n"

        ".globl tdc_ctx_swap\n"
        ".hidden tdc_ctx_swap\n"
        ".type tdc_ctx_swap, @function\n"
        ".p2align 4\n"
        "tdc_ctx_swap:\n" ENDBR SAVE("%rdi")
        "movq 0(%rsi), %rbx\n"
        "movq 8(%rsi), %rbp\n"
        "movq 16(%rsi), %r12\n"
        "movq 24(%rsi), %r13\n"
        "movq 32(%rsi), %r14\n"
        "movq 40(%rsi), %r15\n"
        "ldmxcsr 64(%rsi)\n"
        "fldcw 68(%rsi)\n"
        "movq 48(%rsi), %rsp\n"
        /* NB: 1 is what a resumed tdill__ctx_save returns. */
        "movl $1, %eax\n"
        "jmpq *56(%rsi)\n"
        ".size tdc_ctx_swap, .-tdc_ctx_swap\n");
/* clang-format on */

#elif defined(__aarch64__)

#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define BTI "bti c\n"
#else
#define BTI ""
#endif

_Static_assert(sizeof(struct tdc_ctx) >= 168, "struct tdc_ctx too small");

/* x19..x28 at 0..72, x29 x30 at 80, sp at 96, d8..d15 at 104..160. */
#define SAVE(r)                                                               \
    "stp x19, x20, [" r ", #0]\n"                                             \
    "stp x21, x22, [" r ", #16]\n"                                            \
    "stp x23, x24, [" r ", #32]\n"                                            \
    "stp x25, x26, [" r ", #48]\n"                                            \
    "stp x27, x28, [" r ", #64]\n"                                            \
    "stp x29, x30, [" r ", #80]\n"                                            \
    "mov x9, sp\n"                                                            \
    "str x9, [" r ", #96]\n"                                                  \
    "stp d8, d9, [" r ", #104]\n"                                             \
    "stp d10, d11, [" r ", #120]\n"                                           \
    "stp d12, d13, [" r ", #136]\n"                                           \
    "stp d14, d15, [" r ", #152]\n"

/* clang-format off */
__asm__(".text\n"
        ".globl tdill__ctx_save\n"
        ".type tdill__ctx_save, %function\n"
        ".p2align 4\n"
        "tdill__ctx_save:\n" BTI SAVE("x0")
        "mov w0, #0\n"
        "ret\n"
        ".size tdill__ctx_save, .-tdill__ctx_save\n"

        ".globl tdc_ctx_swap\n"
        ".hidden tdc_ctx_swap\n"
        ".type tdc_ctx_swap, %function\n"
        ".p2align 4\n"
        "tdc_ctx_swap:\n" BTI SAVE("x0")
        "ldp x19, x20, [x1, #0]\n"
        "ldp x21, x22, [x1, #16]\n"
        "ldp x23, x24, [x1, #32]\n"
        "ldp x25, x26, [x1, #48]\n"
        "ldp x27, x28, [x1, #64]\n"
        "ldp x29, x30, [x1, #80]\n"
        "ldr x9, [x1, #96]\n"
        "mov sp, x9\n"
        "ldp d8, d9, [x1, #104]\n"
        "ldp d10, d11, [x1, #120]\n"
        "ldp d12, d13, [x1, #136]\n"
        "ldp d14, d15, [x1, #152]\n"
        /* NB: 1 is what a resumed tdill__ctx_save returns. */
        "mov w0, #1\n"
        "ret\n"
        ".size tdc_ctx_swap, .-tdc_ctx_swap\n");
/* clang-format on */

#else
#error                                                                        \
    "libtdill_coro supports x86-64 and AArch64 only (configure --disable-coro)"
#endif
