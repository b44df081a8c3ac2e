/* Report e-mails as RFC 5322 / MIME messages: non-ASCII names and subjects as RFC 2047
 * encoded-words, file names as RFC 2231 parameters, the body quoted-printable and the
 * attachment base64. Everything that could differ between runs (date, Message-ID,
 * boundary) is derived from the as-of date and a hash, so reruns write identical bytes. */
#include "kpipress/email.h"

#include "kpipress/deliver.h"
#include "kpipress/doc.h"
#include "kpipress/limits.h"
#include "kpipress/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* RFC 2047: an encoded-word is at most 75 characters. 39 bytes of text become 52 base64
 * characters, 64 with "=?UTF-8?B?" and "?=", so even after "Subject: " a line stays well
 * under KP_EMAIL_LINE. */
#define EW_MAX_BYTES 39
/* Longest quoted display name or plain parameter value before we switch to encoding. */
#define PLAIN_MAX 60
/* RFC 2045: base64 and quoted-printable lines are at most 76 characters. */
#define B64_LINE_BYTES 57 /* 57 bytes -> 76 characters */
#define QP_LINE 76

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- a growable byte buffer; an allocation failure is remembered, checked once ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void b64_encode(sbuf *b, const unsigned char *s, size_t len)
{
    char q[4];
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < len)
            v |= s[i + 2];
        q[0] = b64_alphabet[v >> 18 & 63];
        q[1] = b64_alphabet[v >> 12 & 63];
        q[2] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
        q[3] = i + 2 < len ? b64_alphabet[v & 63] : '=';
        sb_add(b, q, 4);
    }
}

/* ---- header lines folded at token boundaries under KP_EMAIL_LINE columns ---- */

typedef struct fold {
    sbuf *b;
    size_t col;   /* characters on the current line */
    size_t first; /* column after "Name:", where the first token goes */
} fold;

static void hdr_begin(fold *h, sbuf *b, const char *name)
{
    h->b = b;
    sb_puts(b, name);
    sb_puts(b, ":");
    h->col = h->first = strlen(name) + 1;
}

/* Add a token preceded by a space, or by a fold (CRLF + space) if the line would get too
 * long; a token longer than a line still goes on a line of its own. */
static void hdr_token(fold *h, const char *tok, size_t len)
{
    if (h->col > h->first && h->col + 1 + len > KP_EMAIL_LINE) {
        sb_puts(h->b, "\r\n");
        h->col = 0;
    }
    sb_puts(h->b, " ");
    sb_add(h->b, tok, len);
    h->col += 1 + len;
}

/* Append raw text to the current line (e.g. the ';' between parameters). */
static void hdr_raw(fold *h, const char *s)
{
    sb_puts(h->b, s);
    h->col += strlen(s);
}

static void hdr_end(fold *h)
{
    sb_puts(h->b, "\r\n");
}

/* Text as a run of "=?UTF-8?B?...?=" words, each whole UTF-8 characters (RFC 2047 6.3
 * forbids splitting a character across words). s is valid UTF-8. */
static void hdr_encoded_words(fold *h, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = len - i < EW_MAX_BYTES ? len - i : EW_MAX_BYTES;
        while (i + n < len && ((unsigned char)s[i + n] & 0xC0) == 0x80)
            n--; /* back off to a character boundary */
        sbuf w = {0};
        sb_puts(&w, "=?UTF-8?B?");
        b64_encode(&w, (const unsigned char *)s + i, n);
        sb_puts(&w, "?=");
        if (w.oom)
            h->b->oom = 1;
        else
            hdr_token(h, w.p, w.n);
        free(w.p);
        i += n;
    }
}

/* 1 if s can appear literally: printable ASCII, single spaces between words, no word
 * longer than fits on a line, nothing a reader would take for an encoded-word. */
static int plain_text(const char *s, size_t max_word)
{
    size_t word = 0;
    if (*s == ' ' || strstr(s, "=?"))
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ') {
            if (p[1] == ' ' || p[1] == '\0')
                return 0;
            word = 0;
        } else if (c < 0x21 || c > 0x7e || ++word > max_word) {
            return 0;
        }
    }
    return 1;
}

/* Subject (or any unstructured text): words as they are when plain, else encoded. */
static void hdr_text(fold *h, const char *s)
{
    if (!plain_text(s, KP_EMAIL_LINE - h->first - 2)) {
        hdr_encoded_words(h, s);
        return;
    }
    while (*s) {
        size_t n = strcspn(s, " ");
        hdr_token(h, s, n);
        s += n + (s[n] == ' ');
    }
}

/* "Display Name" <addr>, or just addr when there is no name. */
static void hdr_mailbox(fold *h, const char *name, const char *addr)
{
    if (name && *name) {
        size_t len = strlen(name);
        int quoted = len <= PLAIN_MAX && !strstr(name, "=?");
        for (const char *p = name; *p && quoted; p++)
            quoted = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f;
        if (quoted) {
            sbuf q = {0};
            sb_puts(&q, "\"");
            for (const char *p = name; *p; p++) {
                if (*p == '"' || *p == '\\')
                    sb_puts(&q, "\\");
                sb_add(&q, p, 1);
            }
            sb_puts(&q, "\"");
            if (q.oom)
                h->b->oom = 1;
            else
                hdr_token(h, q.p, q.n);
            free(q.p);
        } else {
            hdr_encoded_words(h, name);
        }
        sbuf a = {0};
        sb_puts(&a, "<");
        sb_puts(&a, addr);
        sb_puts(&a, ">");
        if (a.oom)
            h->b->oom = 1;
        else
            hdr_token(h, a.p, a.n);
        free(a.p);
    } else {
        hdr_token(h, addr, strlen(addr));
    }
}

/* attr-char of RFC 2231/5987: what a parameter value may hold unencoded. */
static int attr_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("!#$&+-.^_`|~", c) != NULL;
}

/* "; attr=value": quoted when plain ASCII, else RFC 2231 UTF-8 percent-encoding, split
 * into numbered continuations (attr*0*=, attr*1*= ...) when long. */
static void hdr_param(fold *h, const char *attr, const char *value)
{
    sbuf t = {0};
    size_t len = strlen(value);
    int plain = len <= PLAIN_MAX && !strstr(value, "=?");
    for (const char *p = value; *p && plain; p++)
        plain = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f && *p != '"' && *p != '\\';
    hdr_raw(h, ";");
    if (plain) {
        sb_puts(&t, attr);
        sb_puts(&t, "=\"");
        sb_puts(&t, value);
        sb_puts(&t, "\"");
        if (!t.oom)
            hdr_token(h, t.p, t.n);
        goto done;
    }
    sbuf pe = {0};
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        char x[4];
        if (attr_char(*p)) {
            sb_add(&pe, (const char *)p, 1);
        } else {
            snprintf(x, sizeof x, "%%%02X", *p);
            sb_add(&pe, x, 3);
        }
    }
    if (pe.oom) {
        h->b->oom = 1;
        free(pe.p);
        goto done;
    }
    if (pe.n <= PLAIN_MAX) {
        sb_puts(&t, attr);
        sb_puts(&t, "*=UTF-8''");
        sb_add(&t, pe.p, pe.n);
        if (!t.oom)
            hdr_token(h, t.p, t.n);
    } else {
        size_t seg = 0;
        for (size_t i = 0; i < pe.n; seg++) {
            char head[64];
            snprintf(head, sizeof head, "%s*%zu*=%s", attr, seg, seg ? "" : "UTF-8''");
            /* Fill a folded line: leading space, head, value, ';'. */
            size_t room = KP_EMAIL_LINE - 2 - strlen(head);
            size_t n = pe.n - i < room ? pe.n - i : room;
            /* Never cut a %XX triplet. */
            if (i + n < pe.n && pe.p[i + n - 1] == '%')
                n -= 1;
            else if (i + n < pe.n && pe.p[i + n - 2] == '%')
                n -= 2;
            t.n = 0;
            sb_puts(&t, head);
            sb_add(&t, pe.p + i, n);
            if (i + n < pe.n)
                sb_puts(&t, ";");
            if (!t.oom)
                hdr_token(h, t.p, t.n);
            i += n;
        }
    }
    free(pe.p);
done:
    if (t.oom)
        h->b->oom = 1;
    free(t.p);
}

/* ---- body encodings ---- */

/* Quoted-printable (RFC 2045 6.7) with CRLF hard breaks. Also encodes a '.' or "From "
 * at the start of a line, which some transports would otherwise alter. */
static void qp_encode(sbuf *b, const char *s)
{
    size_t col = 0;
    const char *p = s;
    while (*p) {
        if (*p == '\r' && p[1] == '\n')
            p++;
        if (*p == '\n') {
            sb_puts(b, "\r\n");
            col = 0;
            p++;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        int eol = p[1] == '\0' || p[1] == '\n' || (p[1] == '\r' && p[2] == '\n');
        int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol);
        if (col == 0 && (c == '.' || (c == 'F' && strncmp(p, "From ", 5) == 0)))
            literal = 0;
        size_t n = literal ? 1 : 3;
        /* Room for the '=' of a soft break, unless this character ends the line. */
        if (col + n > (eol ? QP_LINE : QP_LINE - 1)) {
            sb_puts(b, "=\r\n");
            col = 0;
            continue; /* re-decide: the character now starts a line */
        }
        if (literal) {
            sb_add(b, p, 1);
        } else {
            char x[4];
            snprintf(x, sizeof x, "=%02X", c);
            sb_add(b, x, 3);
        }
        col += n;
        p++;
    }
}

/* ---- validation ---- */

kp_err kp_email_check_address(const char *addr, kp_error *e)
{
    const char *at = addr ? strchr(addr, '@') : NULL;
    size_t len = addr ? strlen(addr) : 0;
    const char *why = NULL;
    if (!addr || !*addr)
        why = "is empty";
    else if (len > KP_EMAIL_MAX_ADDRESS)
        why = "is too long";
    else if (!at || strchr(at + 1, '@'))
        why = "must contain exactly one '@'";
    else if (at == addr || !at[1])
        why = "needs a local part and a domain";
    else if (addr[0] == '.' || at[-1] == '.' || at[1] == '.' || addr[len - 1] == '.' ||
             strstr(at, ".."))
        why = "has a misplaced '.'";
    for (const char *p = addr; !why && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            why = "contains a space, control or non-ASCII character";
        else if (strchr("<>\"(),;:\\[]", c))
            why = "contains a character not allowed in an address (<>\"(),;:\\[])";
    }
    if (!why)
        return KP_OK;
    kp_error_set(e, KP_ERR_DATA, NULL, 0, 0, "e-mail address \"%.200s\" %s", addr ? addr : "", why);
    kp_error_key(e, "email");
    return KP_ERR_DATA;
}

/* A header value: no line breaks (header injection), valid UTF-8. */
static kp_err check_value(const char *value, const char *what, kp_error *e)
{
    if (!value)
        return KP_OK;
    if (strpbrk(value, "\r\n")) {
        kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                     "%s contains a line break; refused (it could add mail headers): \"%.100s\"",
                     what, value);
        kp_error_key(e, what);
        return KP_ERR_DATA;
    }
    if (!kp_utf8_valid(value, strlen(value))) {
        kp_error_set(e, KP_ERR_DATA, NULL, 0, 0, "%s is not valid UTF-8", what);
        kp_error_key(e, what);
        return KP_ERR_DATA;
    }
    return KP_OK;
}

static int mime_type_ok(const char *t)
{
    const char *slash = strchr(t, '/');
    if (!slash || slash == t || !slash[1] || strchr(slash + 1, '/'))
        return 0;
    for (const char *p = t; *p; p++)
        if (p != slash && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                            (*p >= '0' && *p <= '9') || strchr("!#$&^_.+-", *p)))
            return 0;
    return 1;
}

static kp_err validate(const kp_email *m, const char *att_name, kp_error *e)
{
    kp_err rc;
    if ((rc = kp_email_check_address(m->from_addr, e)) != KP_OK ||
        (rc = kp_email_check_address(m->to_addr, e)) != KP_OK ||
        (rc = check_value(m->from_name, "sender name", e)) != KP_OK ||
        (rc = check_value(m->to_name, "recipient name", e)) != KP_OK ||
        (rc = check_value(m->subject, "subject", e)) != KP_OK ||
        (rc = check_value(att_name, "attachment name", e)) != KP_OK)
        return rc;
    if (m->body && !kp_utf8_valid(m->body, strlen(m->body))) {
        kp_error_set(e, KP_ERR_DATA, NULL, 0, 0, "message body is not valid UTF-8");
        return KP_ERR_DATA;
    }
    if (m->attachment_path && att_name && !*att_name)
        return kp_error_set(e, KP_ERR_DATA, m->attachment_path, 0, 0,
                            "attachment has an empty file name");
    if (m->attachment_type && !mime_type_ok(m->attachment_type))
        return kp_error_set(e, KP_ERR_DATA, NULL, 0, 0, "invalid MIME type \"%.100s\"",
                            m->attachment_type);
    return KP_OK;
}

/* ---- the message ---- */

/* Hash of what identifies the message: report, key, as-of date and recipient, each
 * NUL-terminated so that ("ab","c") and ("a","bc") differ. */
static void message_hash(const kp_email *m, char hex[65])
{
    kp_sha256 c;
    unsigned char d[32];
    char day[KP_DATE_ISO_LEN + 1];
    const char *parts[4] = {m->report ? m->report : "", m->key ? m->key : "",
                            kp_date_format_iso(m->as_of, day), m->to_addr};
    kp_sha256_init(&c);
    for (int i = 0; i < 4; i++)
        kp_sha256_update(&c, parts[i], strlen(parts[i]) + 1);
    kp_sha256_final(&c, d);
    kp_sha256_hex(d, hex);
}

static void write_headers(sbuf *b, const kp_email *m, const char *hash, const char *boundary,
                          const char *att_name)
{
    static const char *const wd[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char line[512];
    int y, mo, d;
    fold h;
    kp_date_to_ymd(m->as_of, &y, &mo, &d);
    /* 06:00 UTC: a fixed time of day, since the run is identified by its date alone. */
    snprintf(line, sizeof line, "Date: %s, %02d %s %04d 06:00:00 +0000\r\n",
             wd[kp_date_weekday(m->as_of)], d, mon[mo - 1], y);
    sb_puts(b, line);
    hdr_begin(&h, b, "From");
    hdr_mailbox(&h, m->from_name, m->from_addr);
    hdr_end(&h);
    hdr_begin(&h, b, "To");
    hdr_mailbox(&h, m->to_name, m->to_addr);
    hdr_end(&h);
    hdr_begin(&h, b, "Subject");
    hdr_text(&h, m->subject ? m->subject : "");
    hdr_end(&h);
    snprintf(line, sizeof line, "Message-ID: <kpipress.%.32s@%s>\r\n", hash,
             strchr(m->from_addr, '@') + 1);
    sb_puts(b, line);
    sb_puts(b, "MIME-Version: 1.0\r\n");
    sb_puts(b, "Auto-Submitted: auto-generated\r\n"); /* RFC 3834: no vacation replies */
    if (att_name) {
        hdr_begin(&h, b, "Content-Type");
        hdr_token(&h, "multipart/mixed", strlen("multipart/mixed"));
        hdr_param(&h, "boundary", boundary);
        hdr_end(&h);
        sb_puts(b, "\r\n");
        sb_puts(b, "This is a MIME message.\r\n\r\n--");
        sb_puts(b, boundary);
        sb_puts(b, "\r\n");
    }
    sb_puts(b, "Content-Type: text/plain; charset=UTF-8\r\n"
               "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    qp_encode(b, m->body ? m->body : "");
    if (att_name) {
        sb_puts(b, "\r\n--");
        sb_puts(b, boundary);
        sb_puts(b, "\r\n");
        const char *type = m->attachment_type ? m->attachment_type : "application/pdf";
        hdr_begin(&h, b, "Content-Type");
        hdr_token(&h, type, strlen(type));
        hdr_param(&h, "name", att_name);
        hdr_end(&h);
        hdr_begin(&h, b, "Content-Disposition");
        hdr_token(&h, "attachment", strlen("attachment"));
        hdr_param(&h, "filename", att_name);
        hdr_end(&h);
        sb_puts(b, "Content-Transfer-Encoding: base64\r\n\r\n");
    } else if (b->n >= 2 && memcmp(b->p + b->n - 2, "\r\n", 2) != 0) {
        /* End the message with CRLF without adding a newline to the text: a final
         * soft line break decodes to nothing. */
        sb_puts(b, "=\r\n");
    }
}

/* The attachment as base64 lines of 76 characters, read in blocks of whole lines. */
static kp_err write_base64_file(FILE *out, FILE *in, const char *path, kp_error *e)
{
    unsigned char block[B64_LINE_BYTES * 64];
    sbuf b = {0};
    kp_err rc = KP_OK;
    size_t n;
    while ((n = fread(block, 1, sizeof block, in)) > 0) {
        b.n = 0;
        for (size_t i = 0; i < n; i += B64_LINE_BYTES) {
            b64_encode(&b, block + i, n - i < B64_LINE_BYTES ? n - i : B64_LINE_BYTES);
            sb_puts(&b, "\r\n");
        }
        if (b.oom) {
            rc = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
            goto done;
        }
        if (fwrite(b.p, 1, b.n, out) != b.n) {
            rc =
                kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "cannot write message: %s", strerror(errno));
            goto done;
        }
        if (n < sizeof block)
            break; /* a short block can end in a partial group: it must be the last */
    }
    if (ferror(in))
        rc = kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot read attachment: %s", strerror(errno));
done:
    free(b.p);
    return rc;
}

kp_err kp_email_write(FILE *f, const kp_email *m, kp_error *e)
{
    kp_err rc;
    sbuf b = {0};
    FILE *att = NULL;
    char hash[65], bhash[65], boundary[48];
    const char *att_name = m->attachment_name;
    if (m->attachment_path && !att_name) {
        const char *slash = strrchr(m->attachment_path, '/');
        att_name = slash ? slash + 1 : m->attachment_path;
    }
    if (!m->attachment_path)
        att_name = NULL;
    if ((rc = validate(m, att_name, e)) != KP_OK)
        return rc;
    if (att_name && !(att = fopen(m->attachment_path, "rb")))
        return kp_error_set(e, KP_ERR_IO, m->attachment_path, 0, 0, "cannot open attachment: %s",
                            strerror(errno));

    message_hash(m, hash);
    /* "=_" cannot occur in quoted-printable or base64 text, so this boundary never
     * collides with the content; the hash only makes it distinct per message. */
    kp_sha256 c;
    unsigned char d[32];
    kp_sha256_init(&c);
    kp_sha256_update(&c, "boundary", 8);
    kp_sha256_update(&c, hash, 64);
    kp_sha256_final(&c, d);
    kp_sha256_hex(d, bhash);
    snprintf(boundary, sizeof boundary, "=_kp_%.32s", bhash);

    write_headers(&b, m, hash, boundary, att_name);
    if (b.oom) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    if (fwrite(b.p, 1, b.n, f) != b.n) {
        rc = kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "cannot write message: %s", strerror(errno));
        goto done;
    }
    if (att) {
        if ((rc = write_base64_file(f, att, m->attachment_path, e)) != KP_OK)
            goto done;
        if (fprintf(f, "\r\n--%s--\r\n", boundary) < 0) {
            rc =
                kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "cannot write message: %s", strerror(errno));
            goto done;
        }
    }
    if (fflush(f) != 0 || ferror(f))
        rc = kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "cannot write message: %s", strerror(errno));
done:
    if (att)
        fclose(att);
    free(b.p);
    return rc;
}

static kp_err write_fn(FILE *f, const void *ctx, kp_error *e)
{
    return kp_email_write(f, ctx, e);
}

kp_err kp_email_write_file(const char *path, const kp_email *m, kp_error *e)
{
    return kp_outfile_write(path, write_fn, m, e);
}

kp_err kp_email_send(const char *command, const char *eml_path, int *status, kp_error *e)
{
    int st = 0;
    if (status)
        *status = -1;
    int fd = open(eml_path, O_RDONLY);
    if (fd < 0)
        return kp_error_set(e, KP_ERR_IO, eml_path, 0, 0, "cannot open message: %s",
                            strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fd);
        return kp_error_set(e, KP_ERR_IO, eml_path, 0, 0, "cannot start deliver command: %s",
                            strerror(err));
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec; _exit keeps parent buffers. */
        if (dup2(fd, STDIN_FILENO) < 0)
            _exit(126);
        if (fd != STDIN_FILENO)
            close(fd);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(fd);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return kp_error_set(e, KP_ERR_IO, eml_path, 0, 0, "cannot wait for deliver command: %s",
                                strerror(errno));
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    if (status)
        *status = code;
    if (code != 0)
        return kp_error_set(e, KP_ERR_IO, eml_path, 0, 0, "deliver command exited with status %d",
                            code);
    return KP_OK;
}
