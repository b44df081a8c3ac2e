/* Internal to the PDF renderer: a TrueType subset prepared once per process and embedded
 * into each document as ready-made PDF objects. libharu's own Type0 font costs a fixed
 * ~30 million instructions per document however small the font: it walks all 65,536
 * code points to build a 128 KB glyph map per face, then compresses it on save. Here the
 * glyph map, widths, ToUnicode map and font file are built and compressed once per
 * character set, and each document only copies them in. Includes <hpdf.h>, so it lives
 * in src/ beside chart_pdf.h. */
#ifndef KP_FONT_PDF_H
#define KP_FONT_PDF_H

#include "kpipress/err.h"

#include <hpdf.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kp_pdf_face kp_pdf_face;

/* The face of the font at path subset to cps[0..n) (sorted, no duplicates), from the
 * process cache or made now. The face belongs to the cache and stays valid until the
 * second kp_pdf_face_get after it that misses (least recently used goes first), so a
 * document can hold its regular and bold faces together. */
kp_err kp_pdf_face_get(const char *path, const uint32_t *cps, size_t n, const kp_pdf_face **out,
                       kp_error *e);

/* 1 when the face draws cp, 0 when the font lacks it. *width is the advance libharu
 * would measure for cp, in 1/1000 em (its rounding, so layout does not change): the
 * .notdef glyph's for a character of the set the font lacks. */
int kp_pdf_face_glyph(const kp_pdf_face *face, uint32_t cp, float *width);

/* Add the face to pdf as a Type0 font named "<tag>+<font name>" (tag: six capitals,
 * distinct per face of a document); text drawn with it is UTF-8, as with libharu's
 * "UTF-8" encoder, which it does not need. NULL when libharu fails (its error handler
 * has the code). */
HPDF_Font kp_pdf_face_embed(HPDF_Doc pdf, const kp_pdf_face *face, const char *tag);

/* Compress the data of stream dict d (a page's contents, still in memory) here at zlib
 * level `level`, to be written as it is with a FlateDecode filter: libharu compresses
 * only at zlib's default level, which costs a scorecard more than its fonts. 0 on
 * success; on failure d is left as it was. */
int kp_pdf_stream_deflate(HPDF_Dict d, int level);

/* Release the cached faces (tests, leak checkers). */
void kp_pdf_face_cache_clear(void);

#endif
