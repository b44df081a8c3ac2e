/* Internal to the PDF renderer: the drawing context, palette and text helpers shared by
 * render_pdf.c (pages, text, tiles, tables) and chart_pdf.c (vector charts). It includes
 * <hpdf.h>, so it lives in src/ and never under include/: nothing else sees libharu. */
#ifndef KP_CHART_PDF_H
#define KP_CHART_PDF_H

#include "kpipress/doc.h"

#include <hpdf.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kp_pdf_rgb {
    float r, g, b;
} kp_pdf_rgb;

/* A restrained palette: slate inks, one blue accent, muted status colours. */
#define KP_PDF_RGB(r, g, b) ((kp_pdf_rgb){(r) / 255.0f, (g) / 255.0f, (b) / 255.0f})
#define KP_PDF_INK KP_PDF_RGB(30, 41, 59)
#define KP_PDF_MUTED KP_PDF_RGB(100, 116, 139)
#define KP_PDF_FAINT KP_PDF_RGB(148, 163, 184)
#define KP_PDF_RULE KP_PDF_RGB(226, 232, 240)
#define KP_PDF_SHADE KP_PDF_RGB(241, 245, 249)
#define KP_PDF_ZEBRA KP_PDF_RGB(248, 250, 252)
#define KP_PDF_ACCENT KP_PDF_RGB(37, 84, 145)
#define KP_PDF_WHITE KP_PDF_RGB(255, 255, 255)
#define KP_PDF_GOOD KP_PDF_RGB(22, 128, 61)
#define KP_PDF_WARN KP_PDF_RGB(217, 119, 6)
#define KP_PDF_BAD KP_PDF_RGB(190, 30, 45)

/* Widths are cached per code point in a direct-mapped table: a document uses a few
 * hundred distinct characters, and libharu's width lookup walks the font's cmap. */
#define KP_PDF_WIDTH_CACHE 1024

/* M_PI is not in strict C11. */
#define KP_PDF_PI 3.14159265358979f

struct kp_pdf_face;

typedef struct kp_pdf_font {
    HPDF_Font font;
    const struct kp_pdf_face *face; /* the prepared subset (font_pdf.h), or NULL: */
    HPDF_FontDef def;               /* the whole font loaded by libharu, for glyph lookup */
    uint32_t replacement;                  /* U+FFFD when the font has it, else '?' */
    uint32_t cache_cp[KP_PDF_WIDTH_CACHE]; /* code point + 1 (0 = empty slot) */
    uint32_t cache_draw[KP_PDF_WIDTH_CACHE]; /* code point actually drawn */
    float cache_w[KP_PDF_WIDTH_CACHE];       /* advance width, 1/1000 em */
} kp_pdf_font;

typedef enum { KP_PDF_LEFT = 0, KP_PDF_CENTER, KP_PDF_RIGHT } kp_pdf_align;

/* One document being rendered. Coordinates are PDF points, origin bottom-left. */
typedef struct kp_pdf {
    HPDF_Doc pdf;
    HPDF_STATUS hpdf_err, hpdf_detail; /* first libharu error, 0 when none */
    int oom;
    const kp_doc *doc;
    const char *font_path; /* regular font actually loaded, for messages */
    kp_pdf_font *regular, *bold;
    HPDF_Page page;
    HPDF_Page *pages;
    size_t npages, cap_pages;
    float page_w, page_h;
    float left, right, top, bottom; /* content box */
    float y;                        /* top of the free space on the current page */
    int page_empty;
    /* The page's graphics state as last set (no q/Q is used, so it holds until the next
     * page): repeating a colour or font costs libharu ~2,000 instructions and the file
     * a few bytes, several hundred times per page. */
    kp_pdf_rgb fill, stroke;
    int has_fill, has_stroke;
    const struct kp_pdf_font *cur_font;
    float cur_size;
    int warned_glyph, warned_subset;
    uint32_t *cps; /* the document's code points, sorted: the font subset's content */
    size_t ncps;
    char *buf; /* scratch: cleaned UTF-8 handed to libharu */
    size_t cap_buf;
} kp_pdf;

/* ---- text (render_pdf.c) -------------------------------------------------------- */

/* Decode one code point at s (len > 0 bytes left) and return the bytes it took; invalid
 * bytes decode as U+FFFD and consume one byte so that hostile text still advances. */
size_t kp_pdf_utf8_next(const char *s, size_t len, uint32_t *cp);

/* Width in points of s[0..len) at size. Characters the font lacks count as their
 * replacement. */
float kp_pdf_text_width(kp_pdf *p, kp_pdf_font *f, float size, const char *s, size_t len);

/* Number of bytes of s[0..len) (whole code points) whose width fits in maxw. */
size_t kp_pdf_text_fit(kp_pdf *p, kp_pdf_font *f, float size, const char *s, size_t len,
                       float maxw);

/* Draw s[0..len) with its baseline starting at (x, y). */
void kp_pdf_text(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, const char *s, size_t len,
                 kp_pdf_rgb color);

/* Draw s (NUL-terminated) in the box [x, x+w] aligned as asked, shortened with an
 * ellipsis when it does not fit. Returns the width drawn. */
float kp_pdf_text_box(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, float w,
                      kp_pdf_align align, const char *s, kp_pdf_rgb color);

/* Same, rotated by deg degrees counter-clockwise about (x, y); the text ends at (x, y)
 * when align is RIGHT. */
void kp_pdf_text_rotated(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, float deg,
                         float maxw, const char *s, kp_pdf_rgb color);

/* ---- shapes (render_pdf.c) ------------------------------------------------------- */

/* Set the fill / stroke colour (written only when it changes). */
void kp_pdf_set_fill(kp_pdf *p, kp_pdf_rgb c);
void kp_pdf_set_stroke(kp_pdf *p, kp_pdf_rgb c);

void kp_pdf_rect(kp_pdf *p, float x, float y, float w, float h, kp_pdf_rgb fill);
void kp_pdf_line(kp_pdf *p, float x1, float y1, float x2, float y2, float width, kp_pdf_rgb color);
void kp_pdf_dot(kp_pdf *p, float x, float y, float r, kp_pdf_rgb fill);

/* ---- charts (chart_pdf.c) -------------------------------------------------------- */

/* Height the chart takes when drawn w points wide (title and legend included). */
float kp_chart_pdf_height(const kp_pdf *p, const kp_chart *c, float w);

/* Draw chart c in the box whose top-left corner is (x, top), w by h points. */
void kp_chart_pdf_draw(kp_pdf *p, const kp_chart *c, float x, float top, float w, float h);

#endif
