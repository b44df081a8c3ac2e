/* Font subsetting through HarfBuzz's hb-subset, the one adapter for it. The PDF renderer
 * hands over the code points a document uses and gets a small TrueType font back, which it
 * embeds instead of the whole face. Faces and recent subsets are cached for the process:
 * a burst of scorecards whose text is all ASCII asks for the same subset every time. */
#include "kpipress/font_subset.h"

#include <hb-subset.h>
#include <hb.h>
#include <stdlib.h>
#include <string.h>

/* Cache sizes: a document has two faces (regular, bold); a few subsets cover a burst
 * where most names share one character set. Which entry is evicted never changes the
 * bytes returned, only whether they are computed again. */
#define FACE_CACHE 4
#define SUBSET_CACHE 8
#define REPLACEMENT 0xFFFD

typedef struct face_entry {
    char *path;
    hb_face_t *face;
    hb_set_t *unicodes; /* code points the font maps to a glyph */
} face_entry;

typedef struct subset_entry {
    char *path;
    uint32_t *cps;
    size_t n;
    unsigned char *data;
    size_t len;
} subset_entry;

static face_entry faces[FACE_CACHE];
static subset_entry subsets[SUBSET_CACHE];
static size_t next_face, next_subset;

static void face_entry_clear(face_entry *f)
{
    free(f->path);
    if (f->face)
        hb_face_destroy(f->face);
    if (f->unicodes)
        hb_set_destroy(f->unicodes);
    memset(f, 0, sizeof *f);
}

static void subset_entry_clear(subset_entry *s)
{
    free(s->path);
    free(s->cps);
    free(s->data);
    memset(s, 0, sizeof *s);
}

void kp_font_subset_cache_clear(void)
{
    for (size_t i = 0; i < FACE_CACHE; i++)
        face_entry_clear(&faces[i]);
    for (size_t i = 0; i < SUBSET_CACHE; i++)
        subset_entry_clear(&subsets[i]);
    next_face = next_subset = 0;
}

/* The parsed face of the font at path (cached; owned by the cache). */
static kp_err face_for(const char *path, const face_entry **out, kp_error *e)
{
    for (size_t i = 0; i < FACE_CACHE; i++)
        if (faces[i].path && !strcmp(faces[i].path, path)) {
            *out = &faces[i];
            return KP_OK;
        }
    hb_blob_t *blob = hb_blob_create_from_file_or_fail(path);
    if (!blob)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot read font file");
    hb_face_t *face = hb_face_create(blob, 0);
    hb_blob_destroy(blob); /* the face keeps its own reference */
    if (hb_face_get_glyph_count(face) == 0) {
        hb_face_destroy(face);
        return kp_error_set(e, KP_ERR_DATA, path, 0, 0,
                            "not a TrueType font (no glyphs found); set font to a .ttf file");
    }
    char *copy = strdup(path);
    hb_set_t *unicodes = hb_set_create();
    if (!copy || !hb_set_allocation_successful(unicodes)) {
        free(copy);
        hb_set_destroy(unicodes);
        hb_face_destroy(face);
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    hb_face_collect_unicodes(face, unicodes);
    face_entry *slot = &faces[next_face];
    next_face = (next_face + 1) % FACE_CACHE;
    face_entry_clear(slot);
    *slot = (face_entry){copy, face, unicodes};
    *out = slot;
    return KP_OK;
}

static const subset_entry *cached_subset(const char *path, const uint32_t *cps, size_t n)
{
    for (size_t i = 0; i < SUBSET_CACHE; i++) {
        const subset_entry *s = &subsets[i];
        if (s->path && s->n == n && !strcmp(s->path, path) &&
            (n == 0 || !memcmp(s->cps, cps, n * sizeof *cps)))
            return s;
    }
    return NULL;
}

/* Remember a subset; a failed allocation only means no caching. */
static void remember(const char *path, const uint32_t *cps, size_t n, const unsigned char *data,
                     size_t len)
{
    subset_entry s = {strdup(path), malloc(n * sizeof *cps + 1), n, malloc(len), len};
    if (!s.path || !s.cps || !s.data) {
        subset_entry_clear(&s);
        return;
    }
    memcpy(s.cps, cps, n * sizeof *cps);
    memcpy(s.data, data, len);
    subset_entry_clear(&subsets[next_subset]);
    subsets[next_subset] = s;
    next_subset = (next_subset + 1) % SUBSET_CACHE;
}

static unsigned char *copy_bytes(const void *src, size_t len)
{
    unsigned char *p = malloc(len ? len : 1);
    if (p)
        memcpy(p, src, len);
    return p;
}

/* Tables a PDF viewer never reads: shaping (we place glyphs ourselves), kerning, and the
 * hinting programs (NO_HINTING below) that only help at small pixel sizes on screen. */
static void drop_layout_tables(hb_subset_input_t *in)
{
    static const hb_tag_t drop[] = {HB_TAG('G', 'S', 'U', 'B'), HB_TAG('G', 'P', 'O', 'S'),
                                    HB_TAG('G', 'D', 'E', 'F'), HB_TAG('k', 'e', 'r', 'n'),
                                    HB_TAG('M', 'A', 'T', 'H'), HB_TAG('F', 'F', 'T', 'M')};
    hb_set_t *tags = hb_subset_input_set(in, HB_SUBSET_SETS_DROP_TABLE_TAG);
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        hb_set_add(tags, drop[i]);
}

kp_err kp_font_subset_make(const char *path, const uint32_t *cps, size_t n, unsigned char **data,
                           size_t *len, kp_error *e)
{
    *data = NULL;
    *len = 0;
    const subset_entry *hit = cached_subset(path, cps, n);
    if (hit) {
        if (!(*data = copy_bytes(hit->data, hit->len)))
            return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
        *len = hit->len;
        return KP_OK;
    }
    const face_entry *fe = NULL;
    kp_err rc = face_for(path, &fe, e);
    if (rc)
        return rc;
    hb_subset_input_t *in = hb_subset_input_create_or_fail();
    if (!in)
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    hb_set_t *unicodes = hb_subset_input_unicode_set(in);
    int lacking = 0;
    for (size_t i = 0; i < n; i++) {
        hb_set_add(unicodes, cps[i]);
        lacking |= !hb_set_has(fe->unicodes, cps[i]);
    }
    /* U+FFFD only when something must be replaced: a PDF's glyph map runs up to its
     * highest character, and U+FFFD would make it 128 KB to build and compress. */
    if (lacking)
        hb_set_add(unicodes, REPLACEMENT);
    hb_subset_input_set_flags(in, HB_SUBSET_FLAGS_NO_HINTING);
    drop_layout_tables(in);
    hb_face_t *sub = hb_subset_or_fail(fe->face, in);
    hb_subset_input_destroy(in);
    if (!sub)
        return kp_error_set(e, KP_ERR_DATA, path, 0, 0, "HarfBuzz cannot subset this font");
    hb_blob_t *blob = hb_face_reference_blob(sub);
    unsigned int blen = 0;
    const char *bytes = hb_blob_get_data(blob, &blen);
    if (!bytes || blen == 0)
        rc = kp_error_set(e, KP_ERR_DATA, path, 0, 0, "HarfBuzz produced an empty subset");
    else if (!(*data = copy_bytes(bytes, blen)))
        rc = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    else {
        *len = blen;
        remember(path, cps, n, *data, *len);
    }
    hb_blob_destroy(blob);
    hb_face_destroy(sub);
    return rc;
}
