/* PDF renderer: lays a kp_doc out on A4/Letter pages through libharu, the only library
 * adapter for it. Text goes through an embedded TrueType font with our own measuring and
 * wrapping (libharu's own measure functions cut UTF-8 mid-character); libharu errors are
 * recorded by a handler in the kp_pdf context and turned into one kp_error. */
#include "kpipress/render_pdf.h"

#include "chart_pdf.h"
#include "font_pdf.h"
#include "kpipress/limits.h"
#include "kpipress/log.h"

#include <hpdf_font.h>  /* HPDF_FontAttr: the font's definition, for glyph lookup */
#include <hpdf_pages.h> /* HPDF_PageAttr: a page's contents stream */
#include <hpdf_utils.h> /* the byte loops replaced below */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Page furniture, in points. */
#define MARGIN_X 48.0f
#define HEADER_BASE 30.0f /* header baseline, from the top edge */
#define CONTENT_TOP 58.0f /* first content line, from the top edge */
#define FOOTER_BASE 26.0f /* footer baseline, from the bottom edge */
#define CONTENT_BOTTOM 52.0f
#define BLOCK_GAP 16.0f

#define FS_FURNITURE 7.5f
#define FS_SECTION 16.0f
#define FS_TITLE 20.0f
#define FS_TEXT 9.5f
#define FS_CAPTION 10.5f
#define FS_TABLE 8.0f
#define LEAD_TEXT 14.0f

#define TILE_MIN_W 135.0f
#define TILE_GAP 12.0f
#define TILE_PAD 12.0f

#define CHART_GAP 28.0f
#define CHART_MIN_W 320.0f /* narrower than this, charts do not share a row */

#define ROW_H 17.0f
#define CELL_PAD 6.0f
#define TABLE_MIN_ROWS 3       /* rows that must fit under a header before a table starts */
#define TABLE_SAMPLE_ROWS 2000 /* rows measured to size columns */
#define TABLE_MIN_FONT 6.0f

#define CONTENT_ZLIB_LEVEL 3 /* see save_pdf */

static const char ELLIPSIS[] = "\xE2\x80\xA6";

/* ---- libharu's byte loops ------------------------------------------------------------ */

/* libharu 2.3.0 fills, copies and measures memory one byte at a time, and every page
 * operator (a move, a colour, a line) first clears a 512-byte buffer that way: a sixth of
 * a scorecard's instructions. The library calls these through its PLT, so the definitions
 * here take their place for the whole process (the dynamic linker prefers the
 * executable's); where it does not (a static or -Bsymbolic build) libharu keeps its own,
 * same results. Each returns what libharu's returns: the end of what was written, and for
 * HPDF_StrLen the length up to maxlen (no limit when negative). */
void *HPDF_MemSet(void *s, HPDF_BYTE c, HPDF_UINT n)
{
    memset(s, c, n);
    return (HPDF_BYTE *)s + n;
}

HPDF_BYTE *HPDF_MemCpy(HPDF_BYTE *out, const HPDF_BYTE *in, HPDF_UINT n)
{
    memmove(out, in, n);
    return out + n;
}

HPDF_UINT HPDF_StrLen(const char *s, HPDF_INT maxlen)
{
    if (!s)
        return 0;
    return (HPDF_UINT)(maxlen < 0 ? strlen(s) : strnlen(s, (size_t)maxlen));
}

/* ---- errors ---------------------------------------------------------------------- */

static void on_hpdf_error(HPDF_STATUS err, HPDF_STATUS detail, void *data)
{
    kp_pdf *p = data;
    if (!p->hpdf_err) {
        p->hpdf_err = err;
        p->hpdf_detail = detail;
    }
}

static int failed(const kp_pdf *p)
{
    return p->hpdf_err != 0 || p->oom;
}

static kp_err set_failure(const kp_pdf *p, const char *path, const char *what, kp_error *e)
{
    if (p->oom)
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory while %s", what);
    if (p->hpdf_err == HPDF_FILE_OPEN_ERROR)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot create the PDF file: %s",
                            strerror((int)p->hpdf_detail));
    return kp_error_set(e, KP_ERR_IO, path, 0, 0, "PDF library error 0x%04lX (detail %lu) while %s",
                        (unsigned long)p->hpdf_err, (unsigned long)p->hpdf_detail, what);
}

/* HPDF_SaveToFile ignores fclose()'s result: a disk that fills at the final flush leaves
 * a truncated PDF that looks saved (and would be renamed into place). Save to memory and
 * write it out here, checking every write and the close. */
static kp_err save_pdf(const kp_pdf *p, const char *path, kp_error *e)
{
    /* Page contents compress at a faster zlib level than libharu's default: a few per
     * cent more bytes for a third of the time (a page that cannot be recompressed keeps
     * libharu's compression). */
    for (size_t i = 0; i < p->npages; i++)
        kp_pdf_stream_deflate(((HPDF_PageAttr)p->pages[i]->attr)->contents, CONTENT_ZLIB_LEVEL);
    if (HPDF_SaveToStream(p->pdf) != HPDF_OK || failed(p))
        return set_failure(p, path, "writing the file", e);
    FILE *f = fopen(path, "wb");
    if (!f)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot create the PDF file: %s",
                            strerror(errno));
    HPDF_BYTE buf[16384];
    HPDF_STATUS st;
    int bad = 0;
    do {
        HPDF_UINT32 n = sizeof buf;
        st = HPDF_ReadFromStream(p->pdf, buf, &n);
        bad = (st != HPDF_OK && st != HPDF_STREAM_EOF) || (n && fwrite(buf, 1, n, f) != n);
    } while (!bad && st == HPDF_OK);
    int err = bad ? errno : 0;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot write the PDF file: %s",
                            err ? strerror(err) : "PDF library stream error");
    return KP_OK;
}

/* ---- UTF-8 and glyphs ------------------------------------------------------------- */

size_t kp_pdf_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[0];
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        c &= 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (len < n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = (c << 6) | (u[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return n;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

static int font_has(const kp_pdf_font *f, uint32_t cp)
{
    /* libharu 2.3.0 maps only the Basic Multilingual Plane. */
    if (cp > 0xFFFF || cp == 0)
        return 0;
    float w;
    if (f->face)
        return kp_pdf_face_glyph(f->face, cp, &w);
    return HPDF_TTFontDef_GetGlyphid(f->def, (HPDF_UINT16)cp) != 0;
}

/* Advance of the character d that is drawn, in 1/1000 em. */
static float draw_width(const kp_pdf_font *f, uint32_t d)
{
    float w = 0;
    if (f->face) {
        kp_pdf_face_glyph(f->face, d, &w);
        return w;
    }
    char bytes[4];
    size_t n = utf8_put(d, bytes);
    return (float)HPDF_Font_TextWidth(f->font, (const HPDF_BYTE *)bytes, (HPDF_UINT)n).width;
}

/* Advance of cp in 1/1000 em, and the code point that will actually be drawn. */
static float glyph_width(kp_pdf *p, kp_pdf_font *f, uint32_t cp, uint32_t *draw)
{
    size_t slot = cp % KP_PDF_WIDTH_CACHE;
    if (f->cache_cp[slot] == cp + 1) {
        *draw = f->cache_draw[slot];
        return f->cache_w[slot];
    }
    uint32_t d = cp;
    if (cp < 0x20 || cp == 0x7F)
        d = ' '; /* tabs and stray controls: a space is what a reader expects */
    else if (!font_has(f, cp)) {
        d = f->replacement;
        if (!p->warned_glyph) {
            p->warned_glyph = 1;
            kp_log_warn("PDF: character U+%04lX is not in font %s; shown as %s (further "
                        "missing characters in this document are replaced silently)",
                        (unsigned long)cp, p->font_path, d == '?' ? "'?'" : "U+FFFD");
        }
    }
    float w = draw_width(f, d);
    f->cache_cp[slot] = cp + 1;
    f->cache_draw[slot] = d;
    f->cache_w[slot] = w;
    *draw = d;
    return w;
}

float kp_pdf_text_width(kp_pdf *p, kp_pdf_font *f, float size, const char *s, size_t len)
{
    float w = 0;
    uint32_t cp, d;
    for (size_t i = 0; i < len;) {
        i += kp_pdf_utf8_next(s + i, len - i, &cp);
        w += glyph_width(p, f, cp, &d);
    }
    return w * size / 1000.0f;
}

size_t kp_pdf_text_fit(kp_pdf *p, kp_pdf_font *f, float size, const char *s, size_t len, float maxw)
{
    float w = 0, limit = maxw * 1000.0f / size;
    uint32_t cp, d;
    size_t i = 0;
    while (i < len) {
        size_t n = kp_pdf_utf8_next(s + i, len - i, &cp);
        float g = glyph_width(p, f, cp, &d);
        if (w + g > limit + 0.01f)
            break;
        w += g;
        i += n;
    }
    return i;
}

/* Copy s[0..len) into p->buf as the UTF-8 libharu will draw (replacements applied). */
static const char *clean_text(kp_pdf *p, kp_pdf_font *f, const char *s, size_t len,
                              const char *suffix)
{
    size_t need = len * 3 + (suffix ? strlen(suffix) : 0) + 1;
    if (need > p->cap_buf) {
        char *nb = realloc(p->buf, need);
        if (!nb) {
            p->oom = 1;
            return NULL;
        }
        p->buf = nb;
        p->cap_buf = need;
    }
    size_t o = 0;
    uint32_t cp, d;
    for (size_t i = 0; i < len;) {
        i += kp_pdf_utf8_next(s + i, len - i, &cp);
        glyph_width(p, f, cp, &d);
        o += utf8_put(d, p->buf + o);
    }
    if (suffix) {
        memcpy(p->buf + o, suffix, strlen(suffix));
        o += strlen(suffix);
    }
    p->buf[o] = '\0';
    return p->buf;
}

static int same_rgb(kp_pdf_rgb a, kp_pdf_rgb b)
{
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

void kp_pdf_set_fill(kp_pdf *p, kp_pdf_rgb c)
{
    if (p->has_fill && same_rgb(p->fill, c))
        return;
    HPDF_Page_SetRGBFill(p->page, c.r, c.g, c.b);
    p->fill = c;
    p->has_fill = 1;
}

void kp_pdf_set_stroke(kp_pdf *p, kp_pdf_rgb c)
{
    if (p->has_stroke && same_rgb(p->stroke, c))
        return;
    HPDF_Page_SetRGBStroke(p->page, c.r, c.g, c.b);
    p->stroke = c;
    p->has_stroke = 1;
}

/* Font and size for the text object being started (Tf persists across BT/ET). */
static void set_font(kp_pdf *p, kp_pdf_font *f, float size)
{
    if (p->cur_font == f && p->cur_size == size)
        return;
    HPDF_Page_SetFontAndSize(p->page, f->font, size);
    p->cur_font = f;
    p->cur_size = size;
}

static char hex_digit(unsigned v)
{
    return (char)(v < 10 ? '0' + v : 'A' + v - 10);
}

/* What HPDF_Page_TextOut writes for text of a subset face just after BeginText, written
 * here in one go: "x y Td" (the text matrix is the identity, so the position is
 * absolute) and the text as the hex of its 2-byte codes, "<...> Tj". libharu would
 * measure the text again through the font's callback, encode it into a malloc'd copy and
 * write it in pieces; the bytes are the same (numbers through libharu's own HPDF_FToA,
 * codes as the face's encoder makes them), and so is libharu's text state afterwards.
 * Like ShowText, text of zero width writes no Tj. */
static void face_text_out(kp_pdf *p, const kp_pdf_font *f, float x, float y, const char *txt)
{
    HPDF_PageAttr attr = (HPDF_PageAttr)p->page->attr;
    size_t len = strlen(txt);
    char local[1024];
    size_t need = 2 * 32 + 8 + 4 * len + 8; /* 4 hex digits per code point at most */
    char *buf = need <= sizeof local ? local : malloc(need);
    if (!buf) {
        p->oom = 1;
        return;
    }
    char *o = HPDF_FToA(buf, x, buf + 32);
    *o++ = ' ';
    o = HPDF_FToA(o, y, o + 32);
    memcpy(o, " Td\012<", 5);
    o += 5;
    char *text = o - 1;
    unsigned long width = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        float w;
        i += kp_pdf_utf8_next(txt + i, len - i, &cp);
        kp_pdf_face_glyph(f->face, cp, &w);
        width += (unsigned long)w;
        if (cp > 0xFFFF)
            cp = 0xFFFD;
        for (int sh = 12; sh >= 0; sh -= 4)
            *o++ = hex_digit((cp >> sh) & 0xF);
    }
    memcpy(o, "> Tj\012", 5);
    o += 5;
    float tw = (float)width * attr->gstate->font_size / 1000;
    size_t n = tw != 0 ? (size_t)(o - buf) : (size_t)(text - buf);
    if (HPDF_Stream_Write(attr->stream, (const HPDF_BYTE *)buf, (HPDF_UINT)n) != HPDF_OK)
        p->hpdf_err = p->hpdf_err ? p->hpdf_err : HPDF_FILE_IO_ERROR;
    attr->text_matrix.x += x;
    attr->text_matrix.y += y;
    attr->text_pos.x = attr->text_matrix.x + tw;
    attr->text_pos.y = attr->text_matrix.y;
    if (buf != local)
        free(buf);
}

static void draw_clean(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, const char *txt,
                       kp_pdf_rgb color)
{
    if (!txt || !*txt)
        return;
    HPDF_Page_BeginText(p->page);
    set_font(p, f, size);
    kp_pdf_set_fill(p, color);
    if (f->face && !failed(p))
        face_text_out(p, f, x, y, txt);
    else
        HPDF_Page_TextOut(p->page, x, y, txt);
    HPDF_Page_EndText(p->page);
}

void kp_pdf_text(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, const char *s, size_t len,
                 kp_pdf_rgb color)
{
    draw_clean(p, f, size, x, y, clean_text(p, f, s, len, NULL), color);
}

/* The text shortened to fit maxw, ellipsis included; *out_len bytes of s are kept and
 * *ellipsis tells whether the ellipsis is needed. Returns the final width. */
static float shorten(kp_pdf *p, kp_pdf_font *f, float size, const char *s, float maxw,
                     size_t *out_len, int *ellipsis)
{
    size_t len = strlen(s);
    float w = kp_pdf_text_width(p, f, size, s, len);
    *ellipsis = 0;
    *out_len = len;
    if (w <= maxw + 0.01f)
        return w;
    float ew = kp_pdf_text_width(p, f, size, ELLIPSIS, sizeof ELLIPSIS - 1);
    size_t keep = maxw > ew ? kp_pdf_text_fit(p, f, size, s, len, maxw - ew) : 0;
    /* No dangling space before the ellipsis. */
    while (keep > 0 && s[keep - 1] == ' ')
        keep--;
    *out_len = keep;
    *ellipsis = 1;
    return kp_pdf_text_width(p, f, size, s, keep) + ew;
}

float kp_pdf_text_box(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, float w,
                      kp_pdf_align align, const char *s, kp_pdf_rgb color)
{
    if (!s || !*s)
        return 0;
    size_t keep;
    int ell;
    float tw = shorten(p, f, size, s, w, &keep, &ell);
    float tx = align == KP_PDF_RIGHT ? x + w - tw : align == KP_PDF_CENTER ? x + (w - tw) / 2 : x;
    draw_clean(p, f, size, tx, y, clean_text(p, f, s, keep, ell ? ELLIPSIS : NULL), color);
    return tw;
}

void kp_pdf_text_rotated(kp_pdf *p, kp_pdf_font *f, float size, float x, float y, float deg,
                         float maxw, const char *s, kp_pdf_rgb color)
{
    if (!s || !*s)
        return;
    size_t keep;
    int ell;
    float tw = shorten(p, f, size, s, maxw, &keep, &ell);
    const char *txt = clean_text(p, f, s, keep, ell ? ELLIPSIS : NULL);
    if (!txt)
        return;
    float a = deg * KP_PDF_PI / 180.0f, c = cosf(a), sn = sinf(a);
    /* Right-aligned: the text ends at (x, y), so it hangs below-left of a tick. */
    float tx = x - tw * c, ty = y - tw * sn;
    HPDF_Page_BeginText(p->page);
    set_font(p, f, size);
    kp_pdf_set_fill(p, color);
    HPDF_Page_SetTextMatrix(p->page, c, sn, -sn, c, tx, ty);
    HPDF_Page_ShowText(p->page, txt);
    HPDF_Page_EndText(p->page);
}

/* ---- shapes ----------------------------------------------------------------------- */

void kp_pdf_rect(kp_pdf *p, float x, float y, float w, float h, kp_pdf_rgb fill)
{
    kp_pdf_set_fill(p, fill);
    HPDF_Page_Rectangle(p->page, x, y, w, h);
    HPDF_Page_Fill(p->page);
}

void kp_pdf_line(kp_pdf *p, float x1, float y1, float x2, float y2, float width, kp_pdf_rgb c)
{
    kp_pdf_set_stroke(p, c);
    HPDF_Page_SetLineWidth(p->page, width);
    HPDF_Page_MoveTo(p->page, x1, y1);
    HPDF_Page_LineTo(p->page, x2, y2);
    HPDF_Page_Stroke(p->page);
}

void kp_pdf_dot(kp_pdf *p, float x, float y, float r, kp_pdf_rgb fill)
{
    kp_pdf_set_fill(p, fill);
    HPDF_Page_Circle(p->page, x, y, r);
    HPDF_Page_Fill(p->page);
}

/* Rounded rectangle path (Bezier corners), filled and optionally stroked. */
static void round_rect(kp_pdf *p, float x, float y, float w, float h, float r, kp_pdf_rgb fill,
                       const kp_pdf_rgb *stroke)
{
    const float k = 0.5523f * r;
    HPDF_Page pg = p->page;
    kp_pdf_set_fill(p, fill);
    if (stroke) {
        kp_pdf_set_stroke(p, *stroke);
        HPDF_Page_SetLineWidth(pg, 0.75f);
    }
    HPDF_Page_MoveTo(pg, x + r, y);
    HPDF_Page_LineTo(pg, x + w - r, y);
    HPDF_Page_CurveTo(pg, x + w - r + k, y, x + w, y + r - k, x + w, y + r);
    HPDF_Page_LineTo(pg, x + w, y + h - r);
    HPDF_Page_CurveTo(pg, x + w, y + h - r + k, x + w - r + k, y + h, x + w - r, y + h);
    HPDF_Page_LineTo(pg, x + r, y + h);
    HPDF_Page_CurveTo(pg, x + r - k, y + h, x, y + h - r + k, x, y + h - r);
    HPDF_Page_LineTo(pg, x, y + r);
    HPDF_Page_CurveTo(pg, x, y + r - k, x + r - k, y, x + r, y);
    HPDF_Page_ClosePath(pg);
    if (stroke)
        HPDF_Page_FillStroke(pg);
    else
        HPDF_Page_Fill(pg);
}

/* Small filled triangle pointing up or down, centred on (cx, cy). */
static void triangle(kp_pdf *p, float cx, float cy, float s, int up, kp_pdf_rgb fill)
{
    kp_pdf_set_fill(p, fill);
    float h = s * 0.866f;
    if (up) {
        HPDF_Page_MoveTo(p->page, cx - s / 2, cy - h / 2);
        HPDF_Page_LineTo(p->page, cx + s / 2, cy - h / 2);
        HPDF_Page_LineTo(p->page, cx, cy + h / 2);
    } else {
        HPDF_Page_MoveTo(p->page, cx - s / 2, cy + h / 2);
        HPDF_Page_LineTo(p->page, cx + s / 2, cy + h / 2);
        HPDF_Page_LineTo(p->page, cx, cy - h / 2);
    }
    HPDF_Page_ClosePath(p->page);
    HPDF_Page_Fill(p->page);
}

/* ---- the document's characters ---------------------------------------------------- */

/* Code points the renderer itself writes, whatever the data: printable ASCII (figures,
 * "Page X of Y", axis labels), General Punctuation's dashes, quotes, bullet and ellipsis
 * (U+2010..U+2027), the minus sign of changes. A character drawn by render_pdf.c or
 * chart_pdf.c outside these ranges must be added here, or it shows as a replacement.
 * Currency symbols come from formatting a sample amount; the subsetter adds U+FFFD when
 * a character is missing from the font. */
static const uint32_t ALWAYS_RANGES[][2] = {{0x20, 0x7E}, {0x2010, 0x2027}, {0x2212, 0x2212}};

typedef struct cpset {
    unsigned char bits[0x10000 / 8]; /* the BMP: all that libharu 2.3.0 can draw */
} cpset;

static void cps_add_str(cpset *set, const char *s)
{
    if (!s)
        return;
    size_t len = strlen(s);
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += kp_pdf_utf8_next(s + i, len - i, &cp);
        if (cp <= 0xFFFF)
            set->bits[cp >> 3] |= (unsigned char)(1u << (cp & 7));
    }
}

static void cps_add_cell(cpset *set, const kp_cell *c)
{
    if (c->type == KP_CELL_TEXT)
        cps_add_str(set, c->text);
}

static void cps_add_table(cpset *set, const kp_table *t)
{
    if (!t)
        return;
    for (size_t c = 0; c < t->ncols; c++) {
        cps_add_str(set, t->cols[c].name);
        cps_add_str(set, t->cols[c].label);
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        cps_add_cell(set, &t->cells[i]);
}

/* Every character the document can show: a superset of what is drawn, so the subset
 * font never lacks a glyph the whole font has. Sorted, as kp_font_subset_make wants. */
static uint32_t *document_codepoints(const kp_doc *d, size_t *n)
{
    cpset *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    for (size_t i = 0; i < sizeof ALWAYS_RANGES / sizeof *ALWAYS_RANGES; i++)
        for (uint32_t cp = ALWAYS_RANGES[i][0]; cp <= ALWAYS_RANGES[i][1]; cp++)
            set->bits[cp >> 3] |= (unsigned char)(1u << (cp & 7));
    char money[64];
    kp_cell sample = {0};
    kp_cell_set_number(&sample, -1234.5);
    kp_format_cell(&sample, KP_FMT_CURRENCY, d->currency, money, sizeof money);
    const char *meta[] = {money, d->title, d->subtitle, d->company, d->footer};
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
        cps_add_str(set, meta[i]);
    for (size_t b = 0; b < d->nblocks; b++) {
        const kp_block *blk = &d->blocks[b];
        cps_add_str(set, blk->name);
        cps_add_str(set, blk->text);
        cps_add_table(set, blk->table);
        for (size_t t = 0; t < blk->ntiles; t++) {
            const kp_tile *tile = &blk->tiles[t];
            cps_add_str(set, tile->label);
            cps_add_str(set, tile->compare_label);
            cps_add_cell(set, &tile->value);
            cps_add_cell(set, &tile->compare);
            cps_add_cell(set, &tile->target);
        }
        if (blk->chart)
            cps_add_str(set, blk->chart->title);
    }
    /* A document uses a few hundred of the 65,536: walk the set a byte at a time. */
    set->bits[0] &= 0xFE; /* U+0000 is never drawn */
    size_t count = 0;
    for (size_t i = 0; i < sizeof set->bits; i++)
        for (unsigned b = set->bits[i]; b; b &= b - 1)
            count++;
    uint32_t *cps = malloc((count ? count : 1) * sizeof *cps);
    if (cps) {
        *n = 0;
        for (size_t i = 0; i < sizeof set->bits; i++)
            for (unsigned k = 0; set->bits[i] >> k; k++)
                if ((set->bits[i] >> k) & 1)
                    cps[(*n)++] = (uint32_t)(i * 8 + k);
    }
    free(set);
    return cps;
}

/* ---- fonts ------------------------------------------------------------------------ */

static int file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

/* The bold face next to a regular one: "X.ttf" -> "X-Bold.ttf" if that file exists. */
static void bold_path_for(const char *regular, char *out, size_t size)
{
    size_t n = strlen(regular);
    out[0] = '\0';
    if (n > 4 && !strcmp(regular + n - 4, ".ttf") && n + 6 < size) {
        snprintf(out, size, "%.*s-Bold.ttf", (int)(n - 4), regular);
        if (!file_exists(out))
            out[0] = '\0';
    }
}


/* The font at path, embedded as a subset holding the document's characters (prepared
 * once per character set, see font_pdf.h); the whole font (bigger, slower, same text)
 * when subsetting is not possible. tag names the subset in the document. */
static kp_err load_face(kp_pdf *p, const char *path, const char *tag, kp_pdf_font **out,
                        kp_error *e)
{
    const kp_pdf_face *face = NULL;
    HPDF_Font font = NULL;
    if (p->cps) {
        kp_error se = {0};
        if (kp_pdf_face_get(path, p->cps, p->ncps, &face, &se) == KP_OK) {
            font = kp_pdf_face_embed(p->pdf, face, tag);
        } else if (!p->warned_subset) {
            p->warned_subset = 1;
            kp_log_warn("PDF: cannot subset font %s (%s); embedding the whole font", path,
                        se.msg[0] ? se.msg : "temporary file not writable");
        }
    }
    if (!face) {
        const char *name = HPDF_LoadTTFontFromFile(p->pdf, path, HPDF_TRUE);
        font = name ? HPDF_GetFont(p->pdf, name, "UTF-8") : NULL;
    }
    if (!font || failed(p))
        return kp_error_set(e, KP_ERR_IO, path, 0, 0,
                            "cannot load TrueType font (PDF library error 0x%04lX); is it a "
                            "valid .ttf file?",
                            (unsigned long)p->hpdf_err);
    kp_pdf_font *f = calloc(1, sizeof *f);
    if (!f)
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory loading font");
    f->font = font;
    f->face = face;
    f->def = face ? NULL : ((HPDF_FontAttr)font->attr)->fontdef;
    f->replacement = font_has(f, 0xFFFD) ? 0xFFFD : '?';
    *out = f;
    return KP_OK;
}

/* Every font decision in one place: regular = doc->font_path or the default, bold = its
 * "-Bold" sibling or the regular; both subset to the document's characters. */
static kp_err load_fonts(kp_pdf *p, kp_error *e)
{
    const char *regular = p->doc->font_path ? p->doc->font_path : KP_DEFAULT_FONT;
    char bold[KP_PATH_MAX];
    if (!file_exists(regular))
        return kp_error_set(e, KP_ERR_IO, regular, 0, 0,
                            "font file %s not found; install it with `apt-get install "
                            "fonts-dejavu-core` or set font_path to a TrueType font",
                            regular);
    p->font_path = regular;
    if (p->doc->font_path)
        bold_path_for(regular, bold, sizeof bold);
    else
        snprintf(bold, sizeof bold, "%s",
                 file_exists(KP_DEFAULT_FONT_BOLD) ? KP_DEFAULT_FONT_BOLD : "");
    p->cps = document_codepoints(p->doc, &p->ncps); /* NULL (no memory): whole fonts */
    kp_err rc = load_face(p, regular, "HPDFAA", &p->regular, e);
    if (rc)
        return rc;
    if (!bold[0]) {
        p->bold = p->regular;
        return KP_OK;
    }
    return load_face(p, bold, "HPDFAB", &p->bold, e);
}

/* ---- pages ------------------------------------------------------------------------ */

static void draw_header(kp_pdf *p)
{
    const kp_doc *d = p->doc;
    float y = p->page_h - HEADER_BASE, w = p->right - p->left;
    char right[512] = "";
    const char *org = d->company ? d->company : d->subtitle;
    if (org)
        snprintf(right, sizeof right, "%s", org);
    float rw = right[0] ? kp_pdf_text_box(p, p->regular, FS_FURNITURE, p->left + w * 0.45f, y,
                                          w * 0.55f, KP_PDF_RIGHT, right, KP_PDF_MUTED)
                        : 0;
    if (d->title)
        kp_pdf_text_box(p, p->bold, FS_FURNITURE, p->left, y, w - rw - 16, KP_PDF_LEFT, d->title,
                        KP_PDF_INK);
    kp_pdf_line(p, p->left, y - 7, p->right, y - 7, 0.5f, KP_PDF_RULE);
}

/* Drawing moves to another page: its graphics state is not the one remembered. */
static void forget_state(kp_pdf *p)
{
    p->has_fill = p->has_stroke = 0;
    p->cur_font = NULL;
}

static void new_page(kp_pdf *p)
{
    if (p->npages == p->cap_pages) {
        size_t cap = p->cap_pages ? p->cap_pages * 2 : 16;
        HPDF_Page *np = realloc(p->pages, cap * sizeof *np);
        if (!np) {
            p->oom = 1;
            return;
        }
        p->pages = np;
        p->cap_pages = cap;
    }
    p->page = HPDF_AddPage(p->pdf);
    if (!p->page)
        return;
    p->pages[p->npages++] = p->page;
    HPDF_Page_SetSize(p->page,
                      p->doc->paper == KP_PAPER_LETTER ? HPDF_PAGE_SIZE_LETTER : HPDF_PAGE_SIZE_A4,
                      p->doc->landscape ? HPDF_PAGE_LANDSCAPE : HPDF_PAGE_PORTRAIT);
    p->page_w = HPDF_Page_GetWidth(p->page);
    p->page_h = HPDF_Page_GetHeight(p->page);
    p->left = MARGIN_X;
    p->right = p->page_w - MARGIN_X;
    p->top = p->page_h - CONTENT_TOP;
    p->bottom = CONTENT_BOTTOM;
    p->y = p->top;
    p->page_empty = 1;
    forget_state(p);
    HPDF_Page_SetLineCap(p->page, HPDF_BUTT_END);
    draw_header(p);
}

/* Make room for h points: a new page unless it fits or the page is still empty (a block
 * taller than a page is drawn anyway rather than looping). */
static void need(kp_pdf *p, float h)
{
    if (p->y - h < p->bottom && !p->page_empty)
        new_page(p);
}

static void used(kp_pdf *p, float h)
{
    p->y -= h;
    p->page_empty = 0;
}

static void draw_footers(kp_pdf *p)
{
    const kp_doc *d = p->doc;
    const char *left = d->footer ? d->footer : d->subtitle;
    for (size_t i = 0; i < p->npages && !failed(p); i++) {
        char num[64];
        p->page = p->pages[i];
        forget_state(p);
        float w = p->right - p->left;
        snprintf(num, sizeof num, "Page %zu of %zu", i + 1, p->npages);
        kp_pdf_line(p, p->left, FOOTER_BASE + 11, p->right, FOOTER_BASE + 11, 0.5f, KP_PDF_RULE);
        float nw = kp_pdf_text_box(p, p->regular, FS_FURNITURE, p->left + w / 2, FOOTER_BASE, w / 2,
                                   KP_PDF_RIGHT, num, KP_PDF_MUTED);
        if (left)
            kp_pdf_text_box(p, p->regular, FS_FURNITURE, p->left, FOOTER_BASE, w - nw - 16,
                            KP_PDF_LEFT, left, KP_PDF_MUTED);
    }
}

/* ---- wrapped text ----------------------------------------------------------------- */

typedef struct span {
    size_t off, len;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static void spans_push(kp_pdf *p, spans *l, size_t off, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        span *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            p->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = (span){off, len};
}

/* Break s into lines no wider than maxw: at '\n', else at the last space that fits, else
 * (a word longer than the line) between code points. */
static void wrap(kp_pdf *p, kp_pdf_font *f, float size, const char *s, float maxw, spans *out)
{
    size_t len = strlen(s), pos = 0;
    float limit = maxw * 1000.0f / size;
    while (pos <= len && !p->oom) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t i = pos;
        if (i == end)
            spans_push(p, out, i, 0);
        while (i < end) {
            size_t start = i, last_space = (size_t)-1, j = i;
            float w = 0;
            uint32_t cp, d;
            while (j < end) {
                size_t n = kp_pdf_utf8_next(s + j, end - j, &cp);
                float g = glyph_width(p, f, cp, &d);
                if (cp == ' ')
                    last_space = j;
                if (w + g > limit && j > start && cp != ' ')
                    break;
                w += g;
                j += n;
            }
            if (j >= end) {
                spans_push(p, out, start, end - start);
                i = end;
            } else if (last_space != (size_t)-1 && last_space > start) {
                spans_push(p, out, start, last_space - start);
                i = last_space + 1;
            } else {
                spans_push(p, out, start, j - start);
                i = j;
            }
            while (i < end && s[i] == ' ')
                i++;
        }
        pos = end + 1;
    }
}

/* A paragraph in the content width; lines continue onto the next page as needed. */
static void draw_paragraph(kp_pdf *p, kp_pdf_font *f, float size, float lead, const char *s,
                           kp_pdf_rgb color)
{
    spans lines = {0};
    wrap(p, f, size, s, p->right - p->left, &lines);
    for (size_t i = 0; i < lines.n && !failed(p); i++) {
        need(p, lead);
        kp_pdf_text(p, f, size, p->left, p->y - size, s + lines.v[i].off, lines.v[i].len, color);
        used(p, lead);
    }
    free(lines.v);
}

/* ---- sections and headings -------------------------------------------------------- */

static void draw_section(kp_pdf *p, const kp_block *b)
{
    if (!p->page_empty)
        new_page(p);
    if (failed(p))
        return;
    const char *name = b->text ? b->text : b->name ? b->name : "Section";
    HPDF_Outline o = HPDF_CreateOutline(p->pdf, NULL, name, HPDF_GetEncoder(p->pdf, "UTF-8"));
    if (o) {
        /* The default destination shows the whole page (libharu refuses zoom 0, the
         * PDF spelling of "keep the reader's zoom"). */
        HPDF_Destination dst = HPDF_Page_CreateDestination(p->page);
        HPDF_Outline_SetDestination(o, dst);
    }
    kp_pdf_rect(p, p->left, p->y - FS_SECTION - 2, 3.5f, FS_SECTION + 4, KP_PDF_ACCENT);
    kp_pdf_text_box(p, p->bold, FS_SECTION, p->left + 12, p->y - FS_SECTION + 1,
                    p->right - p->left - 12, KP_PDF_LEFT, name, KP_PDF_INK);
    used(p, FS_SECTION + 4 + BLOCK_GAP);
}

static void draw_title(kp_pdf *p, const kp_block *b)
{
    if (!b->text)
        return;
    need(p, FS_TITLE * 1.3f * 2);
    draw_paragraph(p, p->bold, FS_TITLE, FS_TITLE * 1.3f, b->text, KP_PDF_INK);
    used(p, 6);
}

/* Caption above a tile grid, table or chart. */
static float caption_height(const kp_block *b)
{
    return b->text ? FS_CAPTION + 10 : 0;
}

static void draw_caption(kp_pdf *p, const char *text, const char *suffix)
{
    if (!text)
        return;
    float w = kp_pdf_text_box(p, p->bold, FS_CAPTION, p->left, p->y - FS_CAPTION,
                              p->right - p->left, KP_PDF_LEFT, text, KP_PDF_INK);
    if (suffix)
        kp_pdf_text_box(p, p->regular, FS_CAPTION - 1.5f, p->left + w + 6, p->y - FS_CAPTION,
                        p->right - p->left - w - 6, KP_PDF_LEFT, suffix, KP_PDF_MUTED);
    used(p, FS_CAPTION + 10);
}

/* ---- KPI tiles -------------------------------------------------------------------- */

static int cell_num(const kp_cell *c, double *v)
{
    if (c->type != KP_CELL_NUMBER)
        return 0;
    *v = c->num;
    return 1;
}

/* Traffic light for value against target: red < 80% <= amber < 100% <= green. When lower
 * is better the ratio is inverted, so 20% under budget is green. */
static int attainment(const kp_tile *t, double *ratio)
{
    double v, tg;
    if (!cell_num(&t->value, &v) || !cell_num(&t->target, &tg))
        return 0;
    if (t->higher_is_better) {
        if (tg == 0)
            return 0;
        *ratio = v / tg;
    } else {
        if (v == 0)
            return 0;
        *ratio = tg / v;
    }
    return 1;
}

static kp_pdf_rgb rag_colour(double v, double amber, double green)
{
    return v < amber ? KP_PDF_BAD : v < green ? KP_PDF_WARN : KP_PDF_GOOD;
}

/* "+12.3% vs previous month"; percentages change in points ("+2.1 pts"). Returns the
 * direction: 1 up, -1 down, 0 flat or unknown. */
static int change_text(const kp_doc *d, const kp_tile *t, char *buf, size_t size)
{
    double v, c;
    buf[0] = '\0';
    if (!cell_num(&t->value, &v) || !cell_num(&t->compare, &c))
        return 0;
    kp_cell delta = {0};
    char num[64];
    if (t->fmt == KP_FMT_PERCENT) {
        kp_cell_set_number(&delta, fabs(v - c));
        kp_format_cell(&delta, KP_FMT_PERCENT, d->currency, num, sizeof num);
        size_t n = strlen(num);
        if (n && num[n - 1] == '%')
            snprintf(num + n - 1, sizeof num - (n - 1), " pts");
    } else if (c != 0) {
        kp_cell_set_number(&delta, fabs((v - c) / fabs(c)));
        kp_format_cell(&delta, KP_FMT_PERCENT, d->currency, num, sizeof num);
    } else {
        kp_cell_set_number(&delta, fabs(v - c));
        kp_format_cell(&delta, t->fmt, d->currency, num, sizeof num);
    }
    int dir = v > c ? 1 : v < c ? -1 : 0;
    if (!strcmp(num, "0.0%") || !strcmp(num, "0.0 pts"))
        dir = 0;
    snprintf(buf, size, "%s%s%s%s",
             dir > 0   ? "+"
             : dir < 0 ? "\xE2\x88\x92"
                       : "",
             num, t->compare_label ? " " : "", t->compare_label ? t->compare_label : "");
    return dir;
}

static int tile_has_target(const kp_block *b)
{
    for (size_t i = 0; i < b->ntiles; i++)
        if (b->tiles[i].target.type != KP_CELL_NULL)
            return 1;
    return 0;
}

static void draw_tile(kp_pdf *p, const kp_tile *t, float x, float top, float w, float h)
{
    const kp_doc *d = p->doc;
    kp_pdf_rgb border = KP_PDF_RULE;
    round_rect(p, x, top - h, w, h, 5, KP_PDF_ZEBRA, &border);
    float ix = x + TILE_PAD, iw = w - 2 * TILE_PAD, y = top - TILE_PAD - 7.5f;
    kp_pdf_text_box(p, p->regular, 8, ix, y, iw, KP_PDF_LEFT, t->label ? t->label : "",
                    KP_PDF_MUTED);

    char val[128];
    kp_format_cell(&t->value, t->fmt, d->currency, val, sizeof val);
    float vs = 20;
    float vw = kp_pdf_text_width(p, p->bold, vs, val, strlen(val));
    if (vw > iw)
        vs = fmaxf(11, vs * iw / vw); /* shrink a long figure before cutting it */
    y -= 9 + 20;
    kp_pdf_text_box(p, p->bold, vs, ix, y, iw, KP_PDF_LEFT, val, KP_PDF_INK);

    char chg[256];
    int dir = change_text(d, t, chg, sizeof chg);
    y -= 16;
    if (chg[0]) {
        int good = t->higher_is_better ? dir > 0 : dir < 0;
        kp_pdf_rgb col = dir == 0 ? KP_PDF_MUTED : good ? KP_PDF_GOOD : KP_PDF_BAD;
        float tx = ix;
        if (dir != 0) {
            triangle(p, ix + 3.5f, y + 2.8f, 6.5f, dir > 0, col);
            tx += 10;
        }
        kp_pdf_text_box(p, p->regular, 8, tx, y, iw - (tx - ix), KP_PDF_LEFT, chg, col);
    }
    if (t->target.type != KP_CELL_NULL) {
        char tv[128], line[160];
        kp_format_cell(&t->target, t->fmt, d->currency, tv, sizeof tv);
        snprintf(line, sizeof line, "Target %s", tv);
        y -= 13;
        double r;
        float rw = 0;
        if (attainment(t, &r)) {
            kp_cell rc = {0};
            char pct[64];
            kp_cell_set_number(&rc, r);
            kp_format_cell(&rc, KP_FMT_PERCENT, d->currency, pct, sizeof pct);
            kp_pdf_rgb col = rag_colour(r, 0.8, 1.0);
            rw = kp_pdf_text_box(p, p->bold, 8, ix, y, iw, KP_PDF_RIGHT, pct, col);
            kp_pdf_dot(p, ix + iw - rw - 7, y + 2.8f, 3.2f, col);
            rw += 14;
        }
        kp_pdf_text_box(p, p->regular, 8, ix, y, iw - rw, KP_PDF_LEFT, line, KP_PDF_MUTED);
    }
}

static void draw_tiles(kp_pdf *p, const kp_block *b)
{
    if (!b->ntiles)
        return;
    float w = p->right - p->left;
    size_t maxc = (size_t)((w + TILE_GAP) / (TILE_MIN_W + TILE_GAP));
    if (maxc < 1)
        maxc = 1;
    size_t rows = (b->ntiles + maxc - 1) / maxc;
    size_t cols = (b->ntiles + rows - 1) / rows;
    float tw = (w - (float)(cols - 1) * TILE_GAP) / (float)cols;
    float th = tile_has_target(b) ? 92 : 78;
    /* Tiles move whole: the caption and the first row go together. */
    need(p, caption_height(b) + th);
    draw_caption(p, b->text, NULL);
    for (size_t r = 0; r < rows && !failed(p); r++) {
        need(p, th);
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            if (i < b->ntiles)
                draw_tile(p, &b->tiles[i], p->left + (float)c * (tw + TILE_GAP), p->y, tw, th);
        }
        used(p, th + (r + 1 < rows ? TILE_GAP : 0));
    }
    used(p, BLOCK_GAP);
}

/* ---- tables ----------------------------------------------------------------------- */

typedef struct table_layout {
    float *x, *w;     /* column left edges and widths */
    float *min, *pad; /* narrowest a column may get; its padding */
    float fs;         /* font size: smaller for a table too wide for the page */
    int *right;       /* right-aligned column */
    kp_cell *totals;  /* one per column, NULL cell where no total */
    int has_totals;
    float header_h;
} table_layout;

static void compute_totals(const kp_table *t, table_layout *L)
{
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        double sum = 0, v;
        size_t n = 0;
        if (col->total == KP_TOTAL_NONE)
            continue;
        L->has_totals = 1;
        if (col->total == KP_TOTAL_RATIO) {
            if (col->ratio_num < 0 || col->ratio_den < 0 || (size_t)col->ratio_num >= t->ncols ||
                (size_t)col->ratio_den >= t->ncols)
                continue;
            double sn = 0, sd = 0;
            for (size_t r = 0; r < t->nrows; r++) {
                if (cell_num(kp_table_cell(t, r, (size_t)col->ratio_num), &v))
                    sn += v;
                if (cell_num(kp_table_cell(t, r, (size_t)col->ratio_den), &v))
                    sd += v;
            }
            if (sd != 0)
                kp_cell_set_number(&L->totals[c], sn / sd);
            continue;
        }
        for (size_t r = 0; r < t->nrows; r++)
            if (cell_num(kp_table_cell(t, r, c), &v)) {
                sum += v;
                n++;
            }
        if (col->total == KP_TOTAL_SUM)
            kp_cell_set_number(&L->totals[c], sum);
        else if (n)
            kp_cell_set_number(&L->totals[c], sum / (double)n);
    }
}

static const char *col_label(const kp_column *col)
{
    return col->label ? col->label : col->name ? col->name : "";
}

/* Widest word of a header: a text column is not squeezed below it, so headers wrap
 * between words rather than inside one. */
static float widest_word(kp_pdf *p, float size, const char *s)
{
    float best = 0;
    while (*s) {
        size_t n = strcspn(s, " ");
        best = fmaxf(best, kp_pdf_text_width(p, p->bold, size, s, n));
        s += n;
        s += strspn(s, " ");
    }
    return best;
}

/* An untyped (text-format) column whose cells are all numbers or NULL is still a column
 * of figures, e.g. from a raw SQL block: it aligns right like one. */
static int numeric_column(const kp_table *t, size_t c, size_t sample)
{
    int any = 0;
    for (size_t r = 0; r < sample; r++) {
        kp_cell_type ty = kp_table_cell(t, r, c)->type;
        if (ty == KP_CELL_TEXT || ty == KP_CELL_DATE)
            return 0;
        any |= ty == KP_CELL_NUMBER;
    }
    return any;
}

/* Column widths: natural widths from the header and the first TABLE_SAMPLE_ROWS cells;
 * a table too wide even with text columns at their minimum gets a smaller font; then text
 * columns shrink (truncating with an ellipsis) and everything scales to the content
 * width. */
static void layout_columns(kp_pdf *p, const kp_table *t, table_layout *L)
{
    const float avail = p->right - p->left;
    const kp_doc *d = p->doc;
    char buf[256];
    size_t sample = t->nrows < TABLE_SAMPLE_ROWS ? t->nrows : TABLE_SAMPLE_ROWS;
    float pads = 0, need = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        const char *label = col_label(col);
        float w = kp_pdf_text_width(p, p->bold, FS_TABLE, label, strlen(label));
        L->right[c] = col->fmt != KP_FMT_TEXT || numeric_column(t, c, sample);
        if (col->width > 0) {
            w = (float)col->width * FS_TABLE * 0.55f;
        } else {
            for (size_t r = 0; r < sample; r++) {
                kp_format_cell(kp_table_cell(t, r, c), col->fmt, d->currency, buf, sizeof buf);
                w = fmaxf(w, kp_pdf_text_width(p, p->regular, FS_TABLE, buf, strlen(buf)));
            }
            if (L->totals[c].type != KP_CELL_NULL) {
                kp_format_cell(&L->totals[c], col->fmt, d->currency, buf, sizeof buf);
                w = fmaxf(w, kp_pdf_text_width(p, p->bold, FS_TABLE, buf, strlen(buf)));
            }
        }
        L->pad[c] = 2 * CELL_PAD + (col->has_rag ? 12 : 0);
        L->w[c] = w;
        L->min[c] = L->right[c] ? w : fminf(w, fmaxf(36, widest_word(p, FS_TABLE, label) + 1));
        pads += L->pad[c];
        need += L->min[c];
    }
    float k = need + pads > avail && need > 0 ? (avail - pads) / need : 1;
    if (k < TABLE_MIN_FONT / FS_TABLE)
        k = TABLE_MIN_FONT / FS_TABLE;
    L->fs = FS_TABLE * k;
    float total = 0, shrinkable = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        L->w[c] = L->w[c] * k + L->pad[c];
        L->min[c] = L->min[c] * k + L->pad[c];
        total += L->w[c];
        if (!L->right[c])
            shrinkable += L->w[c] - L->min[c];
    }
    if (total > avail && shrinkable > 0) {
        float take = fminf(total - avail, shrinkable);
        for (size_t c = 0; c < t->ncols; c++)
            if (!L->right[c])
                L->w[c] -= take * (L->w[c] - L->min[c]) / shrinkable;
        total -= take;
    }
    /* Scale to the content width: grows a narrow table, squeezes one still too wide. */
    float scale = total > 0 ? avail / total : 1, x = p->left;
    for (size_t c = 0; c < t->ncols; c++) {
        L->w[c] *= scale;
        L->x[c] = x;
        x += L->w[c];
    }
    /* Headers wrap onto a second line rather than widening a numeric column. */
    L->header_h = 20;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *label = col_label(&t->cols[c]);
        if (kp_pdf_text_width(p, p->bold, L->fs, label, strlen(label)) > L->w[c] - 2 * CELL_PAD)
            L->header_h = 30;
    }
}

static void draw_table_header(kp_pdf *p, const kp_table *t, const table_layout *L)
{
    float top = p->y, h = L->header_h;
    kp_pdf_rect(p, p->left, top - h, p->right - p->left, h, KP_PDF_SHADE);
    for (size_t c = 0; c < t->ncols; c++) {
        const char *label = col_label(&t->cols[c]);
        float iw = L->w[c] - 2 * CELL_PAD;
        spans lines = {0};
        wrap(p, p->bold, L->fs, label, iw, &lines);
        size_t n = lines.n < 2 ? lines.n : 2;
        float y = top - h / 2 - L->fs * 0.35f + (n == 2 ? 5 : 0);
        for (size_t i = 0; i < n; i++) {
            char line[512];
            size_t len = lines.v[i].len < sizeof line - 1 ? lines.v[i].len : sizeof line - 1;
            /* A third line is folded into the second, which then gets the ellipsis. */
            if (i == 1 && lines.n > 2)
                len = strlen(label + lines.v[i].off) < sizeof line - 1
                          ? strlen(label + lines.v[i].off)
                          : sizeof line - 1;
            memcpy(line, label + lines.v[i].off, len);
            line[len] = '\0';
            kp_pdf_text_box(p, p->bold, L->fs, L->x[c] + CELL_PAD, y - (float)i * 10, iw,
                            L->right[c] ? KP_PDF_RIGHT : KP_PDF_LEFT, line, KP_PDF_INK);
        }
        free(lines.v);
    }
    kp_pdf_line(p, p->left, top - h, p->right, top - h, 0.75f, KP_PDF_FAINT);
    used(p, h);
}

static void draw_table_row(kp_pdf *p, const kp_table *t, const table_layout *L,
                           const kp_cell *cells, int zebra, int total_row)
{
    float top = p->y;
    char buf[1024];
    if (zebra)
        kp_pdf_rect(p, p->left, top - ROW_H, p->right - p->left, ROW_H, KP_PDF_ZEBRA);
    if (total_row)
        kp_pdf_line(p, p->left, top, p->right, top, 0.75f, KP_PDF_INK);
    float base = top - ROW_H / 2 - L->fs * 0.35f;
    for (size_t c = 0; c < t->ncols; c++) {
        const kp_column *col = &t->cols[c];
        const kp_cell *cell = &cells[c];
        float x = L->x[c] + CELL_PAD, iw = L->w[c] - 2 * CELL_PAD;
        if (total_row && cell->type == KP_CELL_NULL) {
            if (c == 0)
                kp_pdf_text_box(p, p->bold, L->fs, x, base, iw, KP_PDF_LEFT, "Total", KP_PDF_INK);
            continue;
        }
        kp_format_cell(cell, col->fmt, p->doc->currency, buf, sizeof buf);
        kp_pdf_rgb ink = cell->type == KP_CELL_NULL ? KP_PDF_FAINT : KP_PDF_INK;
        double v;
        int rag = col->has_rag && cell_num(cell, &v);
        if (rag && !L->right[c]) {
            kp_pdf_dot(p, x + 3, top - ROW_H / 2, 3, rag_colour(v, col->rag_amber, col->rag_green));
            x += 12;
        }
        if (col->has_rag && !L->right[c])
            iw -= 12;
        float tw = kp_pdf_text_box(p, total_row ? p->bold : p->regular, L->fs, x, base, iw,
                                   L->right[c] ? KP_PDF_RIGHT : KP_PDF_LEFT, buf, ink);
        /* Right-aligned figures get the dot just before them, not at the column edge. */
        if (rag && L->right[c])
            kp_pdf_dot(p, x + iw - tw - 7, top - ROW_H / 2, 3,
                       rag_colour(v, col->rag_amber, col->rag_green));
    }
    used(p, ROW_H);
}

static void draw_table(kp_pdf *p, const kp_block *b)
{
    const kp_table *t = b->table;
    if (!t || !t->ncols)
        return;
    table_layout L = {0};
    L.x = calloc(t->ncols, sizeof *L.x);
    L.w = calloc(t->ncols, sizeof *L.w);
    L.right = calloc(t->ncols, sizeof *L.right);
    L.totals = calloc(t->ncols, sizeof *L.totals);
    L.min = calloc(t->ncols, sizeof *L.min);
    L.pad = calloc(t->ncols, sizeof *L.pad);
    if (!L.x || !L.w || !L.right || !L.totals || !L.min || !L.pad) {
        p->oom = 1;
        goto done;
    }
    compute_totals(t, &L);
    layout_columns(p, t, &L);
    size_t first = t->nrows < TABLE_MIN_ROWS ? t->nrows : TABLE_MIN_ROWS;
    need(p, caption_height(b) + L.header_h + (float)first * ROW_H +
                (t->nrows <= TABLE_MIN_ROWS && L.has_totals ? ROW_H : 0));
    draw_caption(p, b->text, NULL);
    draw_table_header(p, t, &L);
    if (!t->nrows) {
        kp_pdf_text_box(p, p->regular, L.fs, p->left + CELL_PAD, p->y - ROW_H / 2 - 3,
                        p->right - p->left, KP_PDF_LEFT, "No rows", KP_PDF_MUTED);
        used(p, ROW_H);
    }
    for (size_t r = 0; r < t->nrows && !failed(p); r++) {
        /* The last row keeps its totals company: a total never sits alone on a page. */
        float h = ROW_H + (r + 1 == t->nrows && L.has_totals ? ROW_H : 0);
        if (p->y - h < p->bottom) {
            new_page(p);
            draw_caption(p, b->text, "(continued)");
            draw_table_header(p, t, &L);
        }
        draw_table_row(p, t, &L, &t->cells[r * t->ncols], (int)(r % 2), 0);
    }
    if (L.has_totals && !failed(p)) {
        if (p->y - ROW_H < p->bottom) {
            new_page(p);
            draw_caption(p, b->text, "(continued)");
            draw_table_header(p, t, &L);
        }
        draw_table_row(p, t, &L, L.totals, 0, 1);
    }
    kp_pdf_line(p, p->left, p->y, p->right, p->y, 0.5f, KP_PDF_RULE);
    used(p, BLOCK_GAP);
done:
    if (L.totals)
        for (size_t c = 0; c < t->ncols; c++)
            kp_cell_clear(&L.totals[c]);
    free(L.x);
    free(L.w);
    free(L.right);
    free(L.totals);
    free(L.min);
    free(L.pad);
}

/* ---- charts ----------------------------------------------------------------------- */

static void draw_chart_caption(kp_pdf *p, const kp_block *b, float x, float w)
{
    if (b->text)
        kp_pdf_text_box(p, p->bold, FS_CAPTION, x, p->y - FS_CAPTION, w, KP_PDF_LEFT, b->text,
                        KP_PDF_INK);
}

/* One chart across the content width, or two side by side (a and b) when the page is
 * wide enough: a landscape board pack reads better as a dashboard. Charts move whole. */
static void draw_charts(kp_pdf *p, const kp_block *a, const kp_block *b)
{
    float full = p->right - p->left;
    float w = b ? (full - CHART_GAP) / 2 : full;
    float cap = fmaxf(caption_height(a), b ? caption_height(b) : 0);
    /* Paired charts keep the height of a full-width one: half as wide, not half as tall. */
    float h = kp_chart_pdf_height(p, a->chart, full);
    if (b)
        h = fmaxf(h, kp_chart_pdf_height(p, b->chart, full));
    float room = p->top - p->bottom - cap;
    if (h > room)
        h = room;
    need(p, cap + h);
    draw_chart_caption(p, a, p->left, w);
    if (b)
        draw_chart_caption(p, b, p->left + w + CHART_GAP, w);
    used(p, cap);
    kp_chart_pdf_draw(p, a->chart, p->left, p->y, w, h);
    if (b)
        kp_chart_pdf_draw(p, b->chart, p->left + w + CHART_GAP, p->y, w, h);
    used(p, h + BLOCK_GAP);
}

/* ---- document --------------------------------------------------------------------- */

static int ascii(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* Whether the document information can be written without an encoder. */
static int ascii_info(const kp_doc *d)
{
    return ascii(d->title) && ascii(d->author) && ascii(d->subject) && ascii(d->keywords);
}

static void set_info(kp_pdf *p)
{
    const kp_doc *d = p->doc;
    if (d->title)
        HPDF_SetInfoAttr(p->pdf, HPDF_INFO_TITLE, d->title);
    if (d->author)
        HPDF_SetInfoAttr(p->pdf, HPDF_INFO_AUTHOR, d->author);
    if (d->subject)
        HPDF_SetInfoAttr(p->pdf, HPDF_INFO_SUBJECT, d->subject);
    if (d->keywords)
        HPDF_SetInfoAttr(p->pdf, HPDF_INFO_KEYWORDS, d->keywords);
    HPDF_SetInfoAttr(p->pdf, HPDF_INFO_CREATOR, "kpipress");
    /* The document date is the as-of date, never the clock, so reruns are identical. */
    if (d->as_of) {
        HPDF_Date dt = {0};
        int y, m, dd;
        kp_date_to_ymd(d->as_of, &y, &m, &dd);
        dt.year = y;
        dt.month = m;
        dt.day = dd;
        dt.ind = 'Z';
        HPDF_SetInfoDateAttr(p->pdf, HPDF_INFO_CREATION_DATE, dt);
        HPDF_SetInfoDateAttr(p->pdf, HPDF_INFO_MOD_DATE, dt);
    }
}

static void render_blocks(kp_pdf *p)
{
    int outlines = 0;
    for (size_t i = 0; i < p->doc->nblocks && !failed(p); i++) {
        const kp_block *b = &p->doc->blocks[i];
        switch (b->kind) {
        case KP_BLOCK_SHEET:
            draw_section(p, b);
            outlines = 1;
            break;
        case KP_BLOCK_TITLE: draw_title(p, b); break;
        case KP_BLOCK_TEXT:
            if (b->text) {
                draw_paragraph(p, p->regular, FS_TEXT, LEAD_TEXT, b->text, KP_PDF_INK);
                used(p, BLOCK_GAP - (LEAD_TEXT - FS_TEXT));
            }
            break;
        case KP_BLOCK_TILES: draw_tiles(p, b); break;
        case KP_BLOCK_TABLE: draw_table(p, b); break;
        case KP_BLOCK_CHART: {
            const kp_block *next = i + 1 < p->doc->nblocks ? &p->doc->blocks[i + 1] : NULL;
            int pair = next && next->kind == KP_BLOCK_CHART && next->chart &&
                       p->right - p->left >= 2 * CHART_MIN_W + CHART_GAP;
            if (b->chart)
                draw_charts(p, b, pair ? next : NULL);
            i += (size_t)pair;
            break;
        }
        case KP_BLOCK_BREAK:
            if (!p->page_empty)
                new_page(p);
            break;
        }
    }
    if (outlines)
        HPDF_SetPageMode(p->pdf, HPDF_PAGE_MODE_USE_OUTLINE);
}

kp_err kp_render_pdf(const kp_doc *doc, const char *path, kp_error *e)
{
    kp_pdf p = {0};
    kp_err rc = KP_OK;
    p.doc = doc;
    p.pdf = HPDF_New(on_hpdf_error, &p);
    if (!p.pdf) {
        rc = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "cannot create PDF document");
        goto fail;
    }
    HPDF_SetCompressionMode(p.pdf, HPDF_COMP_ALL);
    HPDF_UseUTFEncodings(p.pdf);
    /* libharu's UTF-8 encoder builds 400 KB of tables per document: only for metadata
     * that is not ASCII (and fonts that could not be subset, see load_face). */
    if (!ascii_info(doc))
        HPDF_SetCurrentEncoder(p.pdf, "UTF-8");
    if (failed(&p)) {
        rc = set_failure(&p, path, "setting up UTF-8 text", e);
        goto fail;
    }
    if ((rc = load_fonts(&p, e)))
        goto fail;
    set_info(&p);
    new_page(&p);
    render_blocks(&p);
    if (failed(&p)) {
        rc = set_failure(&p, path, "laying out pages", e);
        goto fail;
    }
    draw_footers(&p);
    if (failed(&p)) {
        rc = set_failure(&p, path, "drawing footers", e);
        goto fail;
    }
    rc = save_pdf(&p, path, e);
fail:
    if (p.bold != p.regular)
        free(p.bold);
    free(p.regular);
    free(p.pages);
    free(p.buf);
    free(p.cps);
    if (p.pdf)
        HPDF_Free(p.pdf);
    return rc;
}
