/* TrueType subsets as ready-made PDF font objects (see font_pdf.h). A face is measured
 * once by libharu itself, on a scratch document, so glyph ids, advances and descriptor
 * metrics are exactly what HPDF_GetFont would have produced and pages lay out the same;
 * the objects a document gets are those of libharu's Type0/CIDFontType2 font, with a
 * glyph map that stops at the highest character used and a ToUnicode map of bfchar
 * entries. */
#include "font_pdf.h"

#include "chart_pdf.h" /* kp_pdf_utf8_next */

#include "kpipress/font_subset.h"
#include "kpipress/limits.h"

#include <hpdf_doc.h>
#include <hpdf_font.h>
#include <hpdf_fontdef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FACE_CACHE 64
#define REPLACEMENT 0xFFFD

struct kp_pdf_face {
    char *path;
    uint32_t *cps; /* the key: the code points asked for */
    size_t n;
    unsigned long stamp; /* last use, for least-recently-used eviction */
    /* Glyph table: cps plus U+FFFD, sorted; gid 0 = not in the font. */
    uint32_t *tcp;
    uint16_t *gid;
    uint16_t *width;
    size_t nt;
    char name[HPDF_LIMIT_MAX_NAME_LEN + 1]; /* "DejaVuSans,Book", without the subset tag */
    int ascent, descent, flags, italic, stemv, xheight, dw;
    HPDF_Box bbox;
    char *widths; /* the CIDFont's /W entries, "32 [ 317 400 ] 65 [ ... ]" */
    unsigned char *file, *map, *tounicode; /* Flate-compressed stream contents */
    size_t file_len, file_raw, map_len, tounicode_len;
};

static kp_pdf_face *cache[FACE_CACHE];
static unsigned long clock_;

static void face_free(kp_pdf_face *f)
{
    if (!f)
        return;
    free(f->path);
    free(f->cps);
    free(f->tcp);
    free(f->gid);
    free(f->width);
    free(f->widths);
    free(f->file);
    free(f->map);
    free(f->tounicode);
    free(f);
}

void kp_pdf_face_cache_clear(void)
{
    for (size_t i = 0; i < FACE_CACHE; i++) {
        face_free(cache[i]);
        cache[i] = NULL;
    }
}

/* ---- growing text buffer ----------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = b->oom ? 0 : vsnprintf(b->s ? b->s + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* Flate-compress src into a new buffer, as libharu does (zlib's default level). */
static unsigned char *deflate_copy(const void *src, size_t len, size_t *out_len)
{
    uLongf cap = compressBound((uLong)len);
    unsigned char *dst = malloc(cap ? cap : 1);
    if (dst && compress2(dst, &cap, src, (uLong)len, Z_DEFAULT_COMPRESSION) != Z_OK) {
        free(dst);
        return NULL;
    }
    *out_len = cap;
    return dst;
}

/* ---- measuring with libharu ------------------------------------------------------ */

typedef struct scratch {
    HPDF_STATUS err, detail;
} scratch;

static void on_scratch_error(HPDF_STATUS err, HPDF_STATUS detail, void *data)
{
    scratch *s = data;
    if (!s->err) {
        s->err = err;
        s->detail = detail;
    }
}

/* libharu 2.3.0 loads TrueType only from a file, so the subset goes through a temporary
 * file. Its name is unlinked straight after mkstemp and libharu opens it through
 * /proc/self/fd, so a run killed at any moment leaves nothing in TMPDIR; where /proc is
 * missing the name lives until libharu has opened it. */
static const char *load_bytes(HPDF_Doc pdf, const unsigned char *data, size_t len)
{
    const char *dir = getenv("TMPDIR");
    char tmp[KP_PATH_MAX], via[64];
    snprintf(tmp, sizeof tmp, "%s/kpipress-font-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return NULL;
    snprintf(via, sizeof via, "/proc/self/fd/%d", fd);
    int early = access(via, R_OK) == 0 && unlink(tmp) == 0;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    /* Not for embedding: libharu then measures from memory, without a seek and a read
     * of the file per glyph. */
    const char *name = off == len ? HPDF_LoadTTFontFromFile(pdf, early ? via : tmp, HPDF_FALSE)
                                  : NULL;
    if (!early)
        unlink(tmp);
    close(fd);
    return name;
}

/* Glyph ids, advances and metrics of the subset, read from libharu's own parse of it. */
static int measure(kp_pdf_face *f, const unsigned char *data, size_t len)
{
    scratch s = {0};
    HPDF_Doc pdf = HPDF_New(on_scratch_error, &s);
    if (!pdf)
        return -1;
    const char *name = load_bytes(pdf, data, len);
    HPDF_FontDef def = name && !s.err ? HPDF_GetFontDef(pdf, name) : NULL;
    if (!def || s.err) {
        HPDF_Free(pdf);
        return name || s.err ? -1 : -2; /* -2: the temporary file could not be written */
    }
    const HPDF_TTFontDefAttr a = (HPDF_TTFontDefAttr)def->attr;
    const char *plus = strchr(a->base_font, '+');
    snprintf(f->name, sizeof f->name, "%s", plus ? plus + 1 : a->base_font);
    f->ascent = def->ascent;
    f->descent = def->descent;
    f->flags = (int)def->flags;
    f->bbox = def->font_bbox;
    f->italic = def->italic_angle;
    f->stemv = def->stemv;
    f->xheight = def->x_height;
    f->dw = def->missing_width;
    for (size_t i = 0; i < f->nt; i++) {
        f->gid[i] = f->tcp[i] > 0xFFFF ? 0 : HPDF_TTFontDef_GetGlyphid(def, (HPDF_UINT16)f->tcp[i]);
        f->width[i] = (uint16_t)HPDF_TTFontDef_GetCharWidth(def, (HPDF_UNICODE)f->tcp[i]);
    }
    HPDF_Free(pdf);
    return s.err ? -1 : 0;
}

/* ---- the per-face streams ---------------------------------------------------------- */

/* CIDToGIDMap: two bytes per CID (= code point) up to the highest one drawn. */
static int make_map(kp_pdf_face *f)
{
    uint32_t max = 0;
    for (size_t i = 0; i < f->nt; i++)
        if (f->gid[i] && f->tcp[i] > max)
            max = f->tcp[i];
    size_t len = 2 * ((size_t)max + 1);
    unsigned char *raw = calloc(len, 1);
    if (!raw)
        return -1;
    for (size_t i = 0; i < f->nt; i++)
        if (f->gid[i]) {
            raw[2 * f->tcp[i]] = (unsigned char)(f->gid[i] >> 8);
            raw[2 * f->tcp[i] + 1] = (unsigned char)f->gid[i];
        }
    f->map = deflate_copy(raw, len, &f->map_len);
    free(raw);
    return f->map ? 0 : -1;
}

/* /W: runs of consecutive CIDs whose advance differs from the default width. */
static int make_widths(kp_pdf_face *f)
{
    sbuf b = {0};
    int open = 0;
    uint32_t last = 0;
    sb_printf(&b, "%s", "");
    for (size_t i = 0; i < f->nt; i++) {
        if (!f->gid[i] || f->width[i] == f->dw) {
            continue;
        }
        if (open && f->tcp[i] == last + 1) {
            sb_printf(&b, " %u", f->width[i]);
        } else {
            sb_printf(&b, "%s%lu [ %u", open ? " ] " : "", (unsigned long)f->tcp[i], f->width[i]);
            open = 1;
        }
        last = f->tcp[i];
    }
    if (open)
        sb_printf(&b, " ]");
    if (b.oom) {
        free(b.s);
        return -1;
    }
    f->widths = b.s;
    return 0;
}

/* ToUnicode: each CID is its code point, listed for the characters the font draws, so
 * text extraction gives back exactly what was written. */
static int make_tounicode(kp_pdf_face *f)
{
    sbuf b = {0};
    sb_printf(&b, "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                  "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
                  "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                  "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n");
    size_t drawn = 0;
    for (size_t i = 0; i < f->nt; i++)
        drawn += f->gid[i] != 0;
    for (size_t i = 0, k = 0; i < f->nt; i++) {
        if (!f->gid[i])
            continue;
        if (k % 100 == 0) /* a bfchar block holds at most 100 entries */
            sb_printf(&b, "%zu beginbfchar\n", drawn - k < 100 ? drawn - k : (size_t)100);
        sb_printf(&b, "<%04lX> <%04lX>\n", (unsigned long)f->tcp[i], (unsigned long)f->tcp[i]);
        if (++k % 100 == 0 || k == drawn)
            sb_printf(&b, "endbfchar\n");
    }
    sb_printf(&b, "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    if (!b.oom)
        f->tounicode = deflate_copy(b.s, b.len, &f->tounicode_len);
    free(b.s);
    return f->tounicode ? 0 : -1;
}

static kp_err build_face(const char *path, const uint32_t *cps, size_t n, kp_pdf_face **out,
                         kp_error *e)
{
    unsigned char *data = NULL;
    size_t len = 0;
    kp_err rc = kp_font_subset_make(path, cps, n, &data, &len, e);
    if (rc)
        return rc;
    kp_pdf_face *f = calloc(1, sizeof *f);
    int bad = !f;
    if (!bad) {
        /* The table: cps plus U+FFFD (in the subset only when something is replaced). */
        f->nt = n + 1;
        f->path = strdup(path);
        f->cps = malloc((n ? n : 1) * sizeof *cps);
        f->tcp = malloc(f->nt * sizeof *f->tcp);
        f->gid = calloc(f->nt, sizeof *f->gid);
        f->width = calloc(f->nt, sizeof *f->width);
        bad = !f->path || !f->cps || !f->tcp || !f->gid || !f->width;
    }
    if (!bad) {
        f->n = n;
        if (n)
            memcpy(f->cps, cps, n * sizeof *cps);
        size_t k = 0, i = 0;
        for (; i < n && cps[i] < REPLACEMENT; i++)
            f->tcp[k++] = cps[i];
        if (i < n && cps[i] == REPLACEMENT)
            f->nt--; /* already asked for */
        else
            f->tcp[k++] = REPLACEMENT;
        for (; i < n; i++)
            f->tcp[k++] = cps[i];
        int m = measure(f, data, len);
        if (m) {
            face_free(f);
            free(data);
            return m == -2 ? kp_error_set(e, KP_ERR_IO, path, 0, 0,
                                          "cannot write a temporary file for its subset (TMPDIR)")
                           : kp_error_set(e, KP_ERR_DATA, path, 0, 0,
                                          "the PDF library cannot read the subset of this font");
        }
        f->file_raw = len;
        f->file = deflate_copy(data, len, &f->file_len);
        bad = !f->file || make_map(f) || make_widths(f) || make_tounicode(f);
    }
    free(data);
    if (bad) {
        face_free(f);
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory preparing the font");
    }
    *out = f;
    return KP_OK;
}

kp_err kp_pdf_face_get(const char *path, const uint32_t *cps, size_t n, const kp_pdf_face **out,
                       kp_error *e)
{
    size_t victim = 0;
    for (size_t i = 0; i < FACE_CACHE; i++) {
        kp_pdf_face *f = cache[i];
        if (f && f->n == n && !strcmp(f->path, path) &&
            (n == 0 || !memcmp(f->cps, cps, n * sizeof *cps))) {
            f->stamp = ++clock_;
            *out = f;
            return KP_OK;
        }
        if (!f || (cache[victim] && f->stamp < cache[victim]->stamp))
            victim = i;
    }
    kp_pdf_face *f = NULL;
    kp_err rc = build_face(path, cps, n, &f, e);
    if (rc)
        return rc;
    face_free(cache[victim]);
    cache[victim] = f;
    f->stamp = ++clock_;
    *out = f;
    return KP_OK;
}

int kp_pdf_face_glyph(const kp_pdf_face *f, uint32_t cp, float *width)
{
    size_t lo = 0, hi = f->nt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->tcp[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == f->nt || f->tcp[lo] != cp) {
        *width = (float)f->dw;
        return 0;
    }
    *width = f->width[lo];
    return f->gid[lo] != 0;
}

/* ---- embedding ----------------------------------------------------------------------- */

/* Streams hold data compressed here once per face: libharu writes them as they are
 * (filter none) and this hook names the filter. */
static HPDF_STATUS write_flate(HPDF_Dict obj, HPDF_Stream stream)
{
    (void)obj;
    return HPDF_Stream_WriteStr(stream, "/Filter [ /FlateDecode ]\012");
}

/* The CIDFont's widths: the dict's attr is the face, which outlives the document. */
static HPDF_STATUS write_widths(HPDF_Dict obj, HPDF_Stream stream)
{
    const kp_pdf_face *f = obj->attr;
    if (!f->widths[0])
        return HPDF_OK;
    HPDF_STATUS st = HPDF_Stream_WriteStr(stream, "/W [ ");
    if (st == HPDF_OK)
        st = HPDF_Stream_WriteStr(stream, f->widths);
    if (st == HPDF_OK)
        st = HPDF_Stream_WriteStr(stream, " ]\012");
    return st;
}

int kp_pdf_stream_deflate(HPDF_Dict d, int level)
{
    HPDF_Stream s = d->stream;
    if (!s || s->type != HPDF_STREAM_MEMORY || d->write_fn || d->filter != HPDF_STREAM_FILTER_FLATE_DECODE)
        return -1;
    size_t total = s->size, off = 0;
    unsigned char *raw = malloc(total ? total : 1);
    if (!raw)
        return -1;
    for (HPDF_UINT i = 0, n = HPDF_MemStream_GetBufCount(s); i < n && off <= total; i++) {
        HPDF_UINT len = 0;
        HPDF_BYTE *buf = HPDF_MemStream_GetBufPtr(s, i, &len);
        if (!buf || len > total - off)
            break;
        memcpy(raw + off, buf, len);
        off += len;
    }
    uLongf cap = compressBound((uLong)total);
    unsigned char *z = off == total ? malloc(cap) : NULL;
    int rc = z && compress2(z, &cap, raw, (uLong)total, level) == Z_OK ? 0 : -1;
    free(raw);
    if (!rc) {
        HPDF_MemStream_FreeData(s);
        rc = HPDF_Stream_Write(s, z, (HPDF_UINT)cap) == HPDF_OK ? 0 : -1;
        d->filter = HPDF_STREAM_FILTER_NONE;
        d->write_fn = write_flate;
    }
    free(z);
    return rc;
}

static HPDF_Dict flate_stream(HPDF_Doc pdf, const unsigned char *data, size_t len)
{
    HPDF_Dict d = HPDF_DictStream_New(pdf->mmgr, pdf->xref);
    if (!d)
        return NULL;
    d->write_fn = write_flate;
    d->filter = HPDF_STREAM_FILTER_NONE;
    if (HPDF_Stream_Write(d->stream, data, (HPDF_UINT)len) != HPDF_OK)
        return NULL;
    return d;
}

static void free_font_attr(HPDF_Dict obj)
{
    if (obj->attr)
        HPDF_FreeMem(obj->mmgr, obj->attr);
}

/* Width of UTF-8 text for libharu's text position (ShowText): the face's advances. */
static HPDF_TextWidth text_width(HPDF_Font font, const HPDF_BYTE *text, HPDF_UINT len)
{
    HPDF_TextWidth tw = {0, 0, 0, 0};
    const kp_pdf_face *f = ((HPDF_FontAttr)font->attr)->descendant_font->attr;
    for (HPDF_UINT i = 0; i < len;) {
        uint32_t cp;
        i += (HPDF_UINT)kp_pdf_utf8_next((const char *)text + i, len - i, &cp);
        float w;
        kp_pdf_face_glyph(f, cp, &w);
        tw.width += (HPDF_UINT)w;
        tw.numchars++;
        if (cp == ' ') {
            tw.numspace++;
            tw.numwords++;
        }
    }
    return tw;
}

static HPDF_STATUS add_descriptor(HPDF_Doc pdf, const kp_pdf_face *f, HPDF_Dict cid,
                                  const char *base)
{
    HPDF_Dict file = flate_stream(pdf, f->file, f->file_len);
    HPDF_Dict desc = HPDF_Dict_New(pdf->mmgr);
    if (!file || !desc || HPDF_Xref_Add(pdf->xref, desc) != HPDF_OK)
        return HPDF_FAILD_TO_ALLOC_MEM;
    HPDF_STATUS st = HPDF_Dict_AddNumber(file, "Length1", (HPDF_INT32)f->file_raw);
    st += HPDF_Dict_AddNumber(file, "Length2", 0);
    st += HPDF_Dict_AddNumber(file, "Length3", 0);
    st += HPDF_Dict_Add(desc, "FontFile2", file);
    st += HPDF_Dict_AddName(desc, "Type", "FontDescriptor");
    st += HPDF_Dict_AddNumber(desc, "Ascent", f->ascent);
    st += HPDF_Dict_AddNumber(desc, "Descent", f->descent);
    st += HPDF_Dict_AddNumber(desc, "Flags", f->flags);
    st += HPDF_Dict_Add(desc, "FontBBox", HPDF_Box_Array_New(pdf->mmgr, f->bbox));
    st += HPDF_Dict_AddName(desc, "FontName", base);
    st += HPDF_Dict_AddNumber(desc, "ItalicAngle", f->italic);
    st += HPDF_Dict_AddNumber(desc, "StemV", f->stemv);
    st += HPDF_Dict_AddNumber(desc, "XHeight", f->xheight);
    st += HPDF_Dict_Add(cid, "FontDescriptor", desc);
    return st;
}

static HPDF_Dict add_cidfont(HPDF_Doc pdf, const kp_pdf_face *f, const char *base)
{
    HPDF_Dict cid = HPDF_Dict_New(pdf->mmgr);
    HPDF_Array dw2 = HPDF_Array_New(pdf->mmgr);
    HPDF_Dict sysinfo = HPDF_Dict_New(pdf->mmgr);
    HPDF_Dict map = flate_stream(pdf, f->map, f->map_len);
    if (!cid || !dw2 || !sysinfo || !map || HPDF_Xref_Add(pdf->xref, cid) != HPDF_OK)
        return NULL;
    cid->attr = (void *)f; /* read by write_widths and text_width; not freed with the dict */
    cid->write_fn = write_widths;
    HPDF_STATUS st = HPDF_Dict_AddName(cid, "Type", "Font");
    st += HPDF_Dict_AddName(cid, "Subtype", "CIDFontType2");
    st += HPDF_Dict_AddName(cid, "BaseFont", base);
    st += HPDF_Dict_AddNumber(cid, "DW", f->dw);
    st += HPDF_Dict_Add(cid, "DW2", dw2);
    st += HPDF_Array_AddNumber(dw2, (HPDF_INT32)f->bbox.bottom);
    st += HPDF_Array_AddNumber(dw2, (HPDF_INT32)(f->bbox.bottom - f->bbox.top));
    st += HPDF_Dict_Add(cid, "CIDToGIDMap", map);
    st += HPDF_Dict_Add(cid, "CIDSystemInfo", sysinfo);
    st += HPDF_Dict_Add(sysinfo, "Registry", HPDF_String_New(pdf->mmgr, "Adobe", NULL));
    st += HPDF_Dict_Add(sysinfo, "Ordering", HPDF_String_New(pdf->mmgr, "Identity", NULL));
    st += HPDF_Dict_AddNumber(sysinfo, "Supplement", 0);
    st += add_descriptor(pdf, f, cid, base);
    return st == HPDF_OK ? cid : NULL;
}

/* Text of a face's font is written as its code points, two bytes each (the CIDs of
 * Identity-H), like libharu's "UTF-8" encoder does; this one has no 400 KB of code
 * tables to build per document. The text is valid UTF-8 of the BMP (render_pdf.c cleans
 * it first). libharu frees the result with free(). */
static char *encode_ucs2(HPDF_Encoder enc, const char *text, HPDF_UINT len, HPDF_UINT *out_len)
{
    (void)enc;
    char *out = malloc(2 * (size_t)len + 1);
    HPDF_UINT n = 0;
    for (HPDF_UINT i = 0; out && i < len;) {
        uint32_t cp;
        i += (HPDF_UINT)kp_pdf_utf8_next(text + i, len - i, &cp);
        if (cp > 0xFFFF)
            cp = REPLACEMENT;
        out[n++] = (char)(cp >> 8);
        out[n++] = (char)(cp & 0xFF);
    }
    *out_len = out ? n : 0;
    return out;
}

static HPDF_Encoder_Rec ucs2_encoder = {.sig_bytes = HPDF_ENCODER_SIG_BYTES,
                                        .name = "UCS-2",
                                        .type = HPDF_ENCODER_TYPE_DOUBLE_BYTE,
                                        .encode_text_fn = encode_ucs2};

HPDF_Font kp_pdf_face_embed(HPDF_Doc pdf, const kp_pdf_face *f, const char *tag)
{
    HPDF_Encoder enc = &ucs2_encoder;
    char base[HPDF_LIMIT_MAX_NAME_LEN + 1];
    snprintf(base, sizeof base, "%.6s+%.*s", tag, HPDF_LIMIT_MAX_NAME_LEN - 7, f->name);
    HPDF_Dict font = HPDF_Dict_New(pdf->mmgr);
    if (!enc || !font)
        return NULL;
    font->header.obj_class |= HPDF_OSUBCLASS_FONT;
    if (HPDF_Xref_Add(pdf->xref, font) != HPDF_OK)
        return NULL;
    HPDF_FontAttr attr = HPDF_GetMem(pdf->mmgr, sizeof *attr);
    if (!attr)
        return NULL;
    memset(attr, 0, sizeof *attr);
    font->attr = attr;
    font->free_fn = free_font_attr;
    attr->type = HPDF_FONT_TYPE0_TT; /* text is written as 2-byte codes by the encoder */
    attr->writing_mode = HPDF_WMODE_HORIZONTAL;
    attr->text_width_fn = text_width;
    attr->encoder = enc;
    attr->xref = pdf->xref;
    HPDF_Array descendants = HPDF_Array_New(pdf->mmgr);
    HPDF_Dict tounicode = flate_stream(pdf, f->tounicode, f->tounicode_len);
    HPDF_Dict cid = descendants && tounicode ? add_cidfont(pdf, f, base) : NULL;
    if (!cid)
        return NULL;
    attr->descendant_font = cid;
    HPDF_STATUS st = HPDF_Dict_AddName(font, "Type", "Font");
    st += HPDF_Dict_AddName(font, "BaseFont", base);
    st += HPDF_Dict_AddName(font, "Subtype", "Type0");
    st += HPDF_Dict_AddName(font, "Encoding", "Identity-H");
    st += HPDF_Dict_Add(font, "ToUnicode", tounicode);
    st += HPDF_Dict_Add(font, "DescendantFonts", descendants);
    st += HPDF_Array_Add(descendants, cid);
    return st == HPDF_OK ? font : NULL;
}
