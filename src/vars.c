/* Named values for {placeholders} and :parameters. A handful of entries per document, so
 * a linear array beats a hash table in both code size and speed. */
#include "kpipress/vars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static long find(const kp_vars *v, const char *name)
{
    for (size_t i = 0; i < v->count; i++)
        if (!strcmp(v->names[i], name))
            return (long)i;
    return -1;
}

kp_err kp_vars_set(kp_vars *v, const char *name, const char *value)
{
    char *val = NULL;
    if (value && !(val = strdup(value)))
        return KP_ERR_NOMEM;
    long i = find(v, name);
    if (i >= 0) {
        free(v->values[i]);
        v->values[i] = val;
        return KP_OK;
    }
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **n = realloc(v->names, cap * sizeof *n);
        if (!n)
            goto nomem;
        v->names = n;
        char **vv = realloc(v->values, cap * sizeof *vv);
        if (!vv)
            goto nomem;
        v->values = vv;
        v->cap = cap;
    }
    if (!(v->names[v->count] = strdup(name)))
        goto nomem;
    v->values[v->count++] = val;
    return KP_OK;
nomem:
    free(val);
    return KP_ERR_NOMEM;
}

const char *kp_vars_get(const kp_vars *v, const char *name)
{
    long i = find(v, name);
    return i >= 0 ? v->values[i] : NULL;
}

int kp_vars_has(const kp_vars *v, const char *name)
{
    return find(v, name) >= 0;
}

kp_err kp_vars_merge(kp_vars *dst, const kp_vars *src)
{
    for (size_t i = 0; i < src->count; i++)
        if (kp_vars_set(dst, src->names[i], src->values[i]) != KP_OK)
            return KP_ERR_NOMEM;
    return KP_OK;
}

void kp_vars_clear(kp_vars *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        free(v->names[i]);
        free(v->values[i]);
    }
    free(v->names);
    free(v->values);
    memset(v, 0, sizeof *v);
}

/* Growable output buffer for expansion. */
typedef struct {
    char *p;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

kp_err kp_vars_expand(const kp_vars *v, const char *text, char **out, kp_error *e)
{
    buf b = {0};
    *out = NULL;
    if (buf_add(&b, "", 0))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    for (const char *p = text; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (buf_add(&b, p, 1))
                goto nomem;
            p += 2;
            continue;
        }
        if (*p != '{') {
            size_t n = strcspn(p, "{}");
            if (n == 0)
                n = 1; /* a lone '}' is literal */
            if (buf_add(&b, p, n))
                goto nomem;
            p += n;
            continue;
        }
        const char *end = strchr(p + 1, '}');
        if (!end) {
            free(b.p);
            return kp_error_set(e, KP_ERR_CONFIG, NULL, 0, 0,
                                "unclosed '{' in \"%s\" (write {{ for a literal brace)", text);
        }
        char name[256];
        size_t n = (size_t)(end - p - 1);
        if (n == 0 || n >= sizeof name) {
            free(b.p);
            return kp_error_set(e, KP_ERR_CONFIG, NULL, 0, 0, "bad placeholder in \"%s\"", text);
        }
        memcpy(name, p + 1, n);
        name[n] = '\0';
        if (!kp_vars_has(v, name)) {
            free(b.p);
            return kp_error_set(e, KP_ERR_CONFIG, NULL, 0, 0, "unknown placeholder {%s}", name);
        }
        const char *val = kp_vars_get(v, name);
        if (val && buf_add(&b, val, strlen(val)))
            goto nomem;
        p = end + 1;
    }
    *out = b.p;
    return KP_OK;
nomem:
    free(b.p);
    return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
}

static int is_reserved(const char *s, size_t n)
{
    /* Windows device names, with or without an extension. */
    static const char *const names[] = {"CON", "PRN", "AUX", "NUL"};
    size_t stem = strcspn(s, ".");
    if (stem > n)
        stem = n;
    for (size_t i = 0; i < 4; i++)
        if (stem == 3 && !strncasecmp(s, names[i], 3))
            return 1;
    if (stem == 4 && (!strncasecmp(s, "COM", 3) || !strncasecmp(s, "LPT", 3)) &&
        s[3] >= '1' && s[3] <= '9')
        return 1;
    return 0;
}

void kp_vars_sanitize_component(const char *in, char *out, size_t size)
{
    size_t o = 0;
    if (size < 8) {
        if (size)
            out[0] = '\0';
        return;
    }
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p == '.' || *p == ' ')
        p++; /* no hidden files, no "..", no leading blanks */
    for (; *p && o + 1 < size; p++) {
        unsigned char c = *p;
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' ||
            c == '"' || c == '<' || c == '>' || c == '|')
            c = '_';
        out[o++] = (char)c;
    }
    /* Do not end inside a UTF-8 sequence after truncation. */
    while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80 && *p)
        o--;
    if (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0 && *p)
        o--;
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '.'))
        o--; /* Windows drops trailing dots and spaces */
    out[o] = '\0';
    if (o == 0) {
        snprintf(out, size, "_");
        return;
    }
    if (is_reserved(out, o)) {
        memmove(out + 1, out, o + 1 < size - 1 ? o + 1 : size - 2);
        out[0] = '_';
        out[size - 1] = '\0';
    }
}
