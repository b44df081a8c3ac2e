/* The inih adapter. inih is driven through ini_parse_stream with our own line reader, so
 * that we know the physical line number of every callback, whether a line is an indented
 * continuation, and where sections start (inih only reports keys). Over-long lines, which
 * inih would silently split, are errors here. */
#include "kpipress/ini.h"

#include "kpipress/doc.h"
#include "kpipress/limits.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>

#define INIH_SECTION_MAX 49 /* inih cuts longer section names */

typedef struct {
    const char *name; /* for messages */
    FILE *f;          /* file input, or */
    const char *s;    /* string input */
    long line;
    int continuation; /* current line is indented */
    int failed;
    const kp_ini_handler *h;
    void *user;
    kp_error *e;
    char section[INIH_SECTION_MAX + 2];
} reader_ctx;

/* Examine one physical line before inih parses it. Returns 0, or -1 with ctx->e set. */
static int inspect_line(reader_ctx *c, char *str, size_t len, int at_eof)
{
    c->line++;
    if (len > 0 && str[len - 1] != '\n' && !at_eof) {
        kp_error_set(c->e, KP_ERR_CONFIG, c->name, c->line, 0,
                     "line longer than %d characters (continue long values on indented lines)",
                     KP_INI_MAX_LINE);
        return -1;
    }
    if (memchr(str, '\0', len)) {
        kp_error_set(c->e, KP_ERR_CONFIG, c->name, c->line, 0, "NUL byte in line");
        return -1;
    }
    /* Values flow into documents, file names and SQL: refuse bad bytes here, naming the
     * line, rather than let a renderer meet them. */
    if (!kp_utf8_valid(str, len)) {
        kp_error_set(c->e, KP_ERR_CONFIG, c->name, c->line, 0,
                     "invalid UTF-8 (save the file as UTF-8)");
        return -1;
    }
    c->continuation = len > 0 && (str[0] == ' ' || str[0] == '\t');
    const char *p = str;
    if (c->line == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end) {
            kp_error_set(c->e, KP_ERR_CONFIG, c->name, c->line, 0, "section header without ']'");
            return -1;
        }
        size_t n = (size_t)(end - p - 1);
        /* inih strips spaces inside the brackets' edges; do the same for our copy */
        const char *q = p + 1;
        while (n && (*q == ' ' || *q == '\t')) {
            q++;
            n--;
        }
        while (n && (q[n - 1] == ' ' || q[n - 1] == '\t'))
            n--;
        if (n > INIH_SECTION_MAX) {
            kp_error_set(c->e, KP_ERR_CONFIG, c->name, c->line, 0,
                         "section name longer than %d characters", INIH_SECTION_MAX);
            return -1;
        }
        memcpy(c->section, q, n);
        c->section[n] = '\0';
        c->continuation = 0;
        if (c->h->on_section && c->h->on_section(c->user, c->section, c->line, c->e) != KP_OK)
            return -1;
    }
    return 0;
}

static char *read_line(char *str, int num, void *stream)
{
    reader_ctx *c = stream;
    if (c->failed)
        return NULL;
    size_t len = 0;
    if (c->f) {
        /* fgets cannot report NUL bytes, so read char by char into str. */
        int ch = 0;
        while (len + 1 < (size_t)num && (ch = getc(c->f)) != EOF) {
            str[len++] = (char)ch;
            if (ch == '\n')
                break;
        }
        if (len == 0)
            return NULL;
        str[len] = '\0';
        int at_eof = ch == EOF || (str[len - 1] != '\n' && (ch = getc(c->f)) == EOF);
        if (!at_eof && str[len - 1] != '\n' && ch != EOF)
            ungetc(ch, c->f);
        if (inspect_line(c, str, len, at_eof)) {
            c->failed = 1;
            return NULL;
        }
    } else {
        if (!*c->s)
            return NULL;
        while (len + 1 < (size_t)num && c->s[len] && c->s[len] != '\n')
            len++;
        if (c->s[len] == '\n' && len + 1 < (size_t)num)
            len++;
        memcpy(str, c->s, len);
        str[len] = '\0';
        c->s += len;
        if (inspect_line(c, str, len, *c->s == '\0')) {
            c->failed = 1;
            return NULL;
        }
    }
    return str;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    reader_ctx *c = user;
    if (c->failed)
        return 0;
    if (c->h->on_key &&
        c->h->on_key(c->user, section, name, value ? value : "", c->line, c->continuation,
                     c->e) != KP_OK) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

static kp_err run(reader_ctx *c)
{
    /* Debian's inih is prebuilt: its limits are runtime variables, not macros. */
    ini_max_line = KP_INI_MAX_LINE + 3;
    ini_use_stack = false;
    ini_initial_alloc = KP_INI_MAX_LINE + 3;
    ini_allow_realloc = false;
    ini_stop_on_first_error = true;
    ini_allow_multiline = true;
    int rc = ini_parse_stream(read_line, c, on_pair, c);
    if (c->failed)
        return c->e ? c->e->code : KP_ERR_CONFIG;
    if (rc == -2)
        return kp_error_set(c->e, KP_ERR_NOMEM, c->name, 0, 0, "out of memory");
    if (rc != 0)
        return kp_error_set(c->e, KP_ERR_CONFIG, c->name, rc, 0,
                            "syntax error: expected [section], key = value, or a comment");
    return KP_OK;
}

kp_err kp_ini_parse(const char *path, const kp_ini_handler *h, void *user, kp_error *e)
{
    reader_ctx c = {.name = path, .h = h, .user = user, .e = e};
    c.f = fopen(path, "rb");
    if (!c.f)
        return kp_error_set(e, KP_ERR_CONFIG, path, 0, 0, "cannot open: %s",
                            "no such file or not readable");
    kp_err rc = run(&c);
    fclose(c.f);
    return rc;
}

kp_err kp_ini_parse_string(const char *name, const char *text, const kp_ini_handler *h,
                           void *user, kp_error *e)
{
    reader_ctx c = {.name = name, .s = text, .h = h, .user = user, .e = e};
    return run(&c);
}
