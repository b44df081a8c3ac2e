/* SHA-256 (FIPS 180-4), self-contained so that manifests need no crypto library. */
#ifndef KPIPRESS_SHA256_H
#define KPIPRESS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct kp_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} kp_sha256;

void kp_sha256_init(kp_sha256 *c);
void kp_sha256_update(kp_sha256 *c, const void *data, size_t len);
void kp_sha256_final(kp_sha256 *c, unsigned char out[32]);
/* 64 lowercase hex digits + NUL. */
void kp_sha256_hex(const unsigned char digest[32], char hex[65]);

/* Whether the processor's SHA instructions are used (detected on first use). enable = 0
 * forces the portable code, 1 uses them again if the processor has them, -1 only asks:
 * for tests, which check that both paths give the same digests. Returns whether they are
 * in use after the call. */
int kp_sha256_accelerated(int enable);

#endif
