/* The libcsv adapter (the only file that includes <csv.h>). libcsv knows nothing of line
 * numbers, so the file is fed one physical line at a time out of 64 KiB blocks: after
 * each line the parser's state tells whether a record is open, which is how every
 * record and every error gets the line (and field number) a user can find in an editor. */
/* A line that is a whole record of plain fields (no quote inside a field, no CR or LF
 * inside, nothing after a closing quote) is split in place without libcsv, whose
 * byte-by-byte state machine was a third of the parsing thread's instructions on a big
 * export; every other line, and any line that might be an error, goes to libcsv, so
 * what is accepted and every message stay libcsv's. */
#include "kpipress/csv.h"
#include "kpipress/limits.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* libcsv's parser states (libcsv.c); csv.h exposes pstate but not these names. */
#define KP_CSV_ROW_NOT_BEGUN 0

typedef struct reader {
    const char *path;
    kp_csv_record_fn fn;
    void *user;
    kp_error *e;
    kp_err err;        /* first error; callbacks do nothing once set */
    size_t max_field, max_columns;
    long line;         /* physical line being fed (1-based) */
    long rec_line;     /* line where the open record started */
    char *buf;         /* all fields of the current record, each NUL-terminated */
    size_t buf_len, buf_cap;
    size_t *offs, *lens;
    const char **fields;
    size_t nfields, fields_cap;
} reader;

static int never_space(unsigned char c)
{
    (void)c;
    return 0; /* keep spaces: trimming is the value parsers' decision, not the reader's */
}

static kp_err grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return KP_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return KP_ERR_NOMEM;
    *p = q;
    *cap = n;
    return KP_OK;
}

/* Room for need fields in offs, lens and fields (which share fields_cap). */
static kp_err grow_fields(reader *r, size_t need)
{
    size_t cap_before = r->fields_cap;
    if (grow((void **)&r->offs, &r->fields_cap, need, sizeof *r->offs))
        return KP_ERR_NOMEM;
    if (r->fields_cap != cap_before) {
        size_t *l = realloc(r->lens, r->fields_cap * sizeof *l);
        if (l)
            r->lens = l;
        const char **f = l ? realloc(r->fields, r->fields_cap * sizeof *f) : NULL;
        if (f)
            r->fields = f;
        if (!l || !f)
            return KP_ERR_NOMEM;
    }
    return KP_OK;
}

static kp_err field_too_long(reader *r)
{
    return kp_error_set(r->e, KP_ERR_DATA, r->path, r->rec_line, (long)r->nfields + 1,
                        "field %zu is longer than the limit of %zu bytes (a missing closing "
                        "quote can make one field swallow the rest of the file)",
                        r->nfields + 1, r->max_field);
}

static void on_field(void *data, size_t len, void *ctx)
{
    reader *r = ctx;
    if (r->err)
        return;
    if (len > r->max_field) {
        r->err = field_too_long(r);
        return;
    }
    if (r->nfields >= r->max_columns) {
        r->err = kp_error_set(r->e, KP_ERR_DATA, r->path, r->line, (long)r->nfields + 1,
                              "row has more than %zu fields (the limit)", r->max_columns);
        return;
    }
    if (grow((void **)&r->buf, &r->buf_cap, r->buf_len + len + 1, 1) ||
        grow_fields(r, r->nfields + 1)) {
        r->err = kp_error_set(r->e, KP_ERR_NOMEM, r->path, r->line, 0, "out of memory");
        return;
    }
    if (len)
        memcpy(r->buf + r->buf_len, data, len);
    r->buf[r->buf_len + len] = '\0';
    r->offs[r->nfields] = r->buf_len;
    r->lens[r->nfields] = len;
    r->buf_len += len + 1;
    r->nfields++;
}

/* Hand the record whose fields start at base + offs[i], all within base[0..n), over to
 * the callback. */
static void emit(reader *r, char *base, size_t n)
{
    for (size_t i = 0; i < r->nfields; i++)
        r->fields[i] = base + r->offs[i];
    kp_csv_record rec = {r->nfields, r->fields, r->lens, r->rec_line, r->line, base, n};
    kp_err rc = r->fn(r->user, &rec, r->e);
    if (rc)
        r->err = rc;
}

static void on_record(int term, void *ctx)
{
    reader *r = ctx;
    (void)term;
    if (!r->err)
        emit(r, r->buf, r->buf_len);
    r->nfields = 0;
    r->buf_len = 0;
}

/* The fast path (see the top of the file): s[0..len) is one physical line ending in LF,
 * at the start of a record, without NUL bytes. Returns 1 when the line was a plain record
 * (split in place: each field's terminator becomes a NUL, and the record is handed over),
 * 0 when libcsv must parse it; nothing is changed then. */
static int split_plain(reader *r, char *s, size_t len, char d)
{
    if (len < 2 || s[len - 1] != '\n')
        return 0;
    size_t end = len - 1, n = 0, p = 0;
    if (s[end - 1] == '\r')
        end--;
    /* An empty line is no record for libcsv; a CR inside the line ends one. */
    if (end == 0 || memchr(s, '\r', end))
        return 0;
    for (;;) {
        size_t start, next;
        if (s[p] == '"') {
            const char *q = memchr(s + p + 1, '"', end - p - 1);
            if (!q)
                return 0; /* the quoted field goes on past the line */
            start = p + 1;
            next = (size_t)(q - s) + 1;
            if (next < end && s[next] != d)
                return 0; /* a doubled quote, or text after the closing one */
        } else {
            start = p;
            for (next = p; next < end && s[next] != d; next++)
                if (s[next] == '"')
                    return 0;
        }
        size_t flen = next - start - (s[p] == '"');
        if (flen > r->max_field || n >= r->max_columns ||
            (n >= r->fields_cap && grow_fields(r, n + 1)))
            return 0; /* libcsv's path reports it */
        r->offs[n] = start;
        r->lens[n++] = flen;
        if (next >= end)
            break;
        p = next + 1; /* past the delimiter; p == end is an empty last field */
    }
    for (size_t i = 0; i < n; i++)
        s[r->offs[i] + r->lens[i]] = '\0';
    r->nfields = n;
    emit(r, s, end);
    r->nfields = 0;
    return 1;
}

/* The delimiter of the header line: the most frequent of , ; TAB outside quotes, ','
 * on a tie or when there is none. */
static char detect_delimiter(const char *s, size_t len)
{
    size_t comma = 0, semi = 0, tab = 0;
    int quoted = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && (c == '\n' || c == '\r'))
            break;
        else if (!quoted && c == ',')
            comma++;
        else if (!quoted && c == ';')
            semi++;
        else if (!quoted && c == '\t')
            tab++;
    }
    if (semi > comma && semi >= tab)
        return ';';
    if (tab > comma && tab > semi)
        return '\t';
    return ',';
}

static kp_err parse_error(reader *r, struct csv_parser *p)
{
    const char *what = p->quoted
        ? "text after the closing quote of a quoted field"
        : "a '\"' inside an unquoted field";
    return kp_error_set(r->e, KP_ERR_DATA, r->path, r->line, (long)r->nfields + 1,
                        "malformed quoting: %s; a field containing quotes must be quoted "
                        "as a whole, with each inner quote doubled (\"\")",
                        what);
}

/* Feed one segment (at most one physical line, maybe a part of one). */
static kp_err feed(reader *r, struct csv_parser *p, char *s, size_t len, int fast)
{
    const char *nul = memchr(s, '\0', len);
    if (p->pstate == KP_CSV_ROW_NOT_BEGUN) {
        r->rec_line = r->line;
        if (fast && !nul && split_plain(r, s, len, (char)csv_get_delim(p)))
            return r->err;
    }
    size_t n = nul ? (size_t)(nul - s) : len;
    if (csv_parse(p, s, n, on_field, on_record, r) != n && !r->err)
        r->err = parse_error(r, p);
    if (r->err)
        return r->err;
    if (nul)
        return kp_error_set(r->e, KP_ERR_DATA, r->path, r->line, (long)r->nfields + 1,
                            "NUL byte in the data: this is not a text CSV file (a UTF-16 "
                            "export or a binary file?); save it as CSV UTF-8");
    if (p->entry_pos > r->max_field)
        return field_too_long(r);
    return KP_OK;
}

kp_err kp_csv_read(const char *path, const kp_csv_options *opt, kp_csv_record_fn fn,
                   void *user, char *used_delimiter, kp_error *e)
{
    reader r = {0};
    struct csv_parser p;
    int parser_ok = 0;
    char *block = NULL;
    kp_err rc = KP_OK;
    r.path = path;
    r.fn = fn;
    r.user = user;
    r.e = e;
    r.line = 1;
    r.rec_line = 1;
    r.max_field = opt && opt->max_field ? opt->max_field : KP_CSV_MAX_FIELD;
    r.max_columns = opt && opt->max_columns ? opt->max_columns : KP_CSV_MAX_COLUMNS;

    FILE *f = fopen(path, "rb");
    if (!f)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    block = malloc(KP_CSV_BLOCK);
    if (!block) {
        rc = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
        goto fail;
    }
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        rc = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
        goto fail;
    }
    parser_ok = 1;
    csv_set_space_func(&p, never_space);

    int first = 1;
    size_t got;
    while ((got = fread(block, 1, KP_CSV_BLOCK, f)) > 0) {
        char *s = block;
        size_t len = got;
        if (first) {
            first = 0;
            if (len >= 2 && ((s[0] == '\xFF' && s[1] == '\xFE') ||
                             (s[0] == '\xFE' && s[1] == '\xFF'))) {
                rc = kp_error_set(e, KP_ERR_DATA, path, 1, 1,
                                  "the file is UTF-16 encoded; save it as CSV UTF-8");
                goto fail;
            }
            if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
                s += 3; /* libcsv would hand the BOM over as part of the first header */
                len -= 3;
            }
            char d = opt && opt->delimiter ? opt->delimiter : detect_delimiter(s, len);
            csv_set_delim(&p, (unsigned char)d);
            if (used_delimiter)
                *used_delimiter = d;
        }
        while (len > 0) {
            const char *nl = memchr(s, '\n', len);
            size_t n = nl ? (size_t)(nl - s) + 1 : len;
            if ((rc = feed(&r, &p, s, n, !(opt && opt->libcsv_only))) != KP_OK)
                goto fail;
            if (nl)
                r.line++;
            s += n;
            len -= n;
        }
    }
    if (ferror(f)) {
        rc = kp_error_set(e, KP_ERR_IO, path, r.line, 0, "read error: %s", strerror(errno));
        goto fail;
    }
    if (first && used_delimiter)
        *used_delimiter = opt && opt->delimiter ? opt->delimiter : ',';
    /* The physical line counter is one past the last newline; an open record ends on
     * the line before when the file ends with a newline. */
    if (r.line > 1 && p.pstate == KP_CSV_ROW_NOT_BEGUN)
        r.line--;
    if (csv_fini(&p, on_field, on_record, &r) != 0 && !r.err) {
        r.err = kp_error_set(e, KP_ERR_DATA, path, r.rec_line, (long)r.nfields + 1,
                             "unterminated quoted field: the file ends inside the quotes "
                             "opened in field %zu of the record starting on line %ld",
                             r.nfields + 1, r.rec_line);
    }
    rc = r.err;
fail:
    if (parser_ok)
        csv_free(&p);
    fclose(f);
    free(block);
    free(r.buf);
    free(r.offs);
    free(r.lens);
    free(r.fields);
    return rc;
}

/* A spreadsheet opening the file would run a cell that starts with = + - @ (or a tab/CR
 * before one) as a formula: the rejects hold raw rows of someone else's export, and the
 * manifest holds names from it. Such a cell gets a leading apostrophe (shown as text by
 * Excel and LibreOffice), unless it is a plain number such as -1200.50. */
static int formula_like(const char *v)
{
    if (!*v || !strchr("=+-@\t\r", *v))
        return 0;
    char *end;
    errno = 0;
    (void)strtod(v, &end);
    return end == v || *end != '\0' || errno == ERANGE;
}

int kp_csv_write_record(FILE *f, size_t n, const char *const *fields)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = fields[i] ? fields[i] : "";
        if (i && fputc(',', f) == EOF)
            return -1;
        int guard = formula_like(v);
        if (!v[strcspn(v, ",\"\r\n")]) {
            if (guard && fputc('\'', f) == EOF)
                return -1;
            if (fputs(v, f) == EOF)
                return -1;
            continue;
        }
        if (fputc('"', f) == EOF || (guard && fputc('\'', f) == EOF))
            return -1;
        for (; *v; v++)
            if ((*v == '"' && fputc('"', f) == EOF) || fputc(*v, f) == EOF)
                return -1;
        if (fputc('"', f) == EOF)
            return -1;
    }
    return fputc('\n', f) == EOF ? -1 : 0;
}
