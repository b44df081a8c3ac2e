/* Font subsetting (HarfBuzz adapter): the one module that includes <hb-subset.h>. A PDF
 * that embeds only the glyphs its text uses is ~10 KB of font instead of ~180 KB, and
 * libharu loads a small font many times faster than the whole of DejaVu Sans. */
#ifndef KPIPRESS_FONT_SUBSET_H
#define KPIPRESS_FONT_SUBSET_H

#include "kpipress/err.h"

#include <stddef.h>
#include <stdint.h>

/* A TrueType font holding only the code points cps[0..n) (sorted ascending, no
 * duplicates) that the font at path has, plus .notdef, plus U+FFFD (if the font has it)
 * when some of cps are not in the font, to show in their place. Hinting and layout tables are
 * dropped: a PDF viewer needs outlines and advances, not shaping rules. On success
 * *data (malloc'd, the caller frees it) holds *len bytes. The same path and code points
 * give the same bytes. Faces and recent subsets are kept for the life of the process,
 * so a burst of documents with the same characters subsets once. */
kp_err kp_font_subset_make(const char *path, const uint32_t *cps, size_t n, unsigned char **data,
                           size_t *len, kp_error *e);

/* Release the cached faces and subsets (tests, leak checkers). */
void kp_font_subset_cache_clear(void);

#endif
