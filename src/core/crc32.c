/* CRC-32 (zlib's polynomial), slicing-by-8. The tables live in the caller's context (a
 * file reader or writer builds them once), so there is no global state. */
#include <string.h>

#include "core/internal.h"

void als__crc_init(als__crctab *c) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++) v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
        c->t[0][i] = v;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int s = 1; s < 8; s++) c->t[s][i] = (c->t[s - 1][i] >> 8) ^ c->t[0][c->t[s - 1][i] & 0xFF];
}

uint32_t als__crc32_tab(const als__crctab *c, uint32_t crc, const void *buf, size_t n) {
    const uint32_t(*t)[256] = c->t;
    const unsigned char *p = buf;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = als__ld32(p) ^ crc, hi = als__ld32(p + 4);
        crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
              t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

uint32_t als__crc32(uint32_t crc, const void *buf, size_t n) {
    als__crctab c;
    als__crc_init(&c);
    return als__crc32_tab(&c, crc, buf, n);
}
