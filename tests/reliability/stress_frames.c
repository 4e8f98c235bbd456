/* The stress test's frames; see stress.h. */
#include "stress.h"

#include <string.h>

#define SF_MAGIC 0x46534454u /* "TDSF" read as little-endian bytes */

/* Header layout: magic u32, kind u8, 3 zero bytes, serial u64, seq u32,
   payload length u32, payload checksum u64. */

static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t basis)
{
    uint64_t h = 0xcbf29ce484222325ull ^ basis;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t frame_seed(uint64_t serial, int dir, uint32_t seq)
{
    uint64_t st = serial * 0x9E3779B97F4A7C15ull ^ ((uint64_t)dir << 62) ^
                  ((uint64_t)seq << 20);
    return tu_rand(&st);
}

void sf_make(uint64_t serial, int dir, uint32_t seq, unsigned char *buf,
             struct sf_frame *f)
{
    uint64_t st = frame_seed(serial, dir, seq);
    uint64_t r = tu_rand(&st);
    f->kind = r % 25 == 0 ? SF_FD : SF_DATA;
    uint32_t pay = 0;
    if (f->kind == SF_DATA) {
        /* Mostly small frames, some large. */
        unsigned bucket = (unsigned)((r >> 8) % 100);
        uint32_t max = bucket < 50 ? 256 : bucket < 85 ? 4096 : SF_MAXPAY;
        pay = (uint32_t)((r >> 20) % (max + 1));
    }
    tu_fill(buf + SF_HDR, pay, tu_rand(&st));
    uint32_t magic = SF_MAGIC;
    uint64_t sum = fnv1a(buf + SF_HDR, pay, serial ^ seq);
    memset(buf, 0, SF_HDR);
    memcpy(buf, &magic, 4);
    buf[4] = (unsigned char)f->kind;
    memcpy(buf + 8, &serial, 8);
    memcpy(buf + 16, &seq, 4);
    memcpy(buf + 20, &pay, 4);
    memcpy(buf + 24, &sum, 8);
    f->len = SF_HDR + pay;
}

const char *sf_check(const unsigned char *buf, size_t len, uint64_t serial,
                     uint32_t seq, int payload_skipped)
{
    uint32_t magic, hseq, pay;
    uint64_t hserial, sum;
    if (len < SF_HDR)
        return "short frame";
    memcpy(&magic, buf, 4);
    memcpy(&hserial, buf + 8, 8);
    memcpy(&hseq, buf + 16, 4);
    memcpy(&pay, buf + 20, 4);
    memcpy(&sum, buf + 24, 8);
    if (magic != SF_MAGIC)
        return "bad magic";
    if (buf[4] > SF_FD || buf[5] || buf[6] || buf[7])
        return "bad kind";
    if (hserial != serial)
        return "frame of another connection";
    if (hseq != seq)
        return "frame out of sequence";
    if (pay > SF_MAXPAY || SF_HDR + (size_t)pay != len)
        return "bad length";
    if (!payload_skipped && fnv1a(buf + SF_HDR, pay, serial ^ seq) != sum)
        return "bad checksum";
    return NULL;
}
