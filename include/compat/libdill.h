/*
 * libdill.h for tdill: lets an unmodified libdill program that uses only
 * what tdill provides (coroutines, bundles, channels, IPC, bytestream and
 * message-socket calls, descriptor waits, now, hclose, hown) build against
 * tdill.
 *
 * Installed as $(includedir)/tdill/compat/libdill.h, out of the default
 * include path, so that it never hides a real libdill: a program gets it
 * only through "pkg-config --cflags tdill_libdill", which puts this folder
 * first. Link with -ltdill_coro -ltdill ("pkg-config --libs tdill_libdill").
 * Installed only with the coroutine front-end (not after configure
 * --disable-coro), since libdill programs start coroutines.
 */
#ifndef TDILL_COMPAT_LIBDILL_H_INCLUDED
#define TDILL_COMPAT_LIBDILL_H_INCLUDED

#include <tdill_coro.h>

#endif
