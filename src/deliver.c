/* Delivery: every output reaches its final name only complete, by a rename from a
 * temporary file in the same directory (same file system, so the rename is atomic) after
 * the data and then the directory entry are on disk. The manifest lists each output with
 * its size and SHA-256, sorted so that it is byte-identical across runs. */
#include "kpipress/deliver.h"

#include "kpipress/csv.h"
#include "kpipress/doc.h"
#include "kpipress/limits.h"
#include "kpipress/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SHA_BLOCK 65536

/* Distinguishes temporaries of one process; worker processes differ by pid. */
static unsigned long tmp_counter;

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

kp_err kp_mkdirs(const char *path, kp_error *e)
{
    struct stat st;
    size_t n = strlen(path);
    if (n == 0)
        return KP_OK;
    if (n >= KP_PATH_MAX)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "path too long");
    char buf[KP_PATH_MAX];
    memcpy(buf, path, n + 1);
    /* Create each prefix in turn; an existing one must be a directory. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* "a//b" or trailing slash */
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0) {
            int err = errno;
            if (err != EEXIST || stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return kp_error_set(e, KP_ERR_IO, buf, 0, 0, "cannot create directory: %s",
                                    strerror(err == EEXIST ? ENOTDIR : err));
        }
        buf[i] = saved;
    }
    return KP_OK;
}

kp_err kp_outfile_begin(kp_outfile *of, const char *final_path, kp_error *e)
{
    kp_err rc;
    of->final_path = of->tmp_path = NULL;
    const char *slash = strrchr(final_path, '/');
    const char *base = slash ? slash + 1 : final_path;
    size_t dirlen = slash ? (size_t)(slash - final_path) : 0;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return kp_error_set(e, KP_ERR_IO, final_path, 0, 0, "output path names no file");
    if (strlen(base) > KP_FILE_NAME_MAX)
        return kp_error_set(e, KP_ERR_IO, final_path, 0, 0,
                            "file name longer than %d bytes: shorten the output pattern",
                            KP_FILE_NAME_MAX);
    if (strlen(final_path) + 64 >= KP_PATH_MAX)
        return kp_error_set(e, KP_ERR_IO, final_path, 0, 0, "path too long");
    if (slash && dirlen > 0) {
        char dir[KP_PATH_MAX];
        memcpy(dir, final_path, dirlen);
        dir[dirlen] = '\0';
        if ((rc = kp_mkdirs(dir, e)) != KP_OK)
            return rc;
    }
    size_t cap = strlen(final_path) + 64;
    of->final_path = dup_str(final_path);
    of->tmp_path = malloc(cap);
    if (!of->final_path || !of->tmp_path) {
        kp_outfile_abort(of);
        return kp_error_set(e, KP_ERR_NOMEM, final_path, 0, 0, "out of memory");
    }
    /* slash ? dir + "/" : "" keeps a bare name relative to the working directory. */
    snprintf(of->tmp_path, cap, "%.*s.%s.tmp-%ld-%lu", (int)(slash ? dirlen + 1 : 0), final_path,
             base, (long)getpid(), ++tmp_counter);
    return KP_OK;
}

static kp_err fsync_path(const char *path, int is_dir, kp_error *e)
{
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot open for sync: %s", strerror(errno));
    /* Some file systems cannot sync a directory (EINVAL); the rename stands regardless. */
    if (fsync(fd) != 0 && !(is_dir && (errno == EINVAL || errno == EROFS))) {
        int err = errno;
        close(fd);
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot sync: %s", strerror(err));
    }
    close(fd);
    return KP_OK;
}

kp_err kp_outfile_commit(kp_outfile *of, kp_error *e)
{
    kp_err rc;
    char dir[KP_PATH_MAX];
    if (!of->tmp_path || !of->final_path)
        return kp_error_set(e, KP_ERR_INTERNAL, NULL, 0, 0, "commit of an unopened outfile");
    if ((rc = fsync_path(of->tmp_path, 0, e)) != KP_OK)
        goto fail;
    if (rename(of->tmp_path, of->final_path) != 0) {
        rc = kp_error_set(e, KP_ERR_IO, of->final_path, 0, 0, "cannot rename %s into place: %s",
                          of->tmp_path, strerror(errno));
        goto fail;
    }
    const char *slash = strrchr(of->final_path, '/');
    if (slash == of->final_path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - of->final_path) : 1,
                 slash ? of->final_path : ".");
    rc = fsync_path(dir, 1, e);
    free(of->tmp_path); /* renamed: nothing left to remove */
    of->tmp_path = NULL;
    kp_outfile_abort(of);
    return rc;
fail:
    kp_outfile_abort(of);
    return rc;
}

void kp_outfile_abort(kp_outfile *of)
{
    if (!of)
        return;
    if (of->tmp_path)
        unlink(of->tmp_path); /* ENOENT when the writer never created it: fine */
    free(of->tmp_path);
    free(of->final_path);
    of->tmp_path = of->final_path = NULL;
}

/* 1 if name is a temporary of kp_outfile_begin (".NAME.tmp-PID-N") whose process is
 * gone: kill -9 or a power cut skip kp_outfile_abort, and nobody else will remove it. */
static int stale_tmp(const char *name)
{
    const char *t = NULL;
    for (const char *p = name; (p = strstr(p, ".tmp-")) != NULL; p++)
        t = p;
    if (name[0] != '.' || !t || t == name)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(t + 5, &end, 10);
    if (errno || pid <= 0 || end == t + 5 || *end != '-' || !end[1])
        return 0;
    for (const char *p = end + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    if (pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remove the stale temporaries under dir; in a scratch directory (all = 1) every regular
 * file, and then the directory itself. */
static long sweep_dir(const char *dir, int depth, int all)
{
    DIR *d = opendir(dir);
    long n = 0;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[KP_PATH_MAX];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 8) /* lstat: symlinks are not followed */
            n += sweep_dir(path, depth + 1, all || !strcmp(de->d_name, KP_SCRATCH_DIR));
        else if (S_ISREG(st.st_mode) && (all || stale_tmp(de->d_name)) && unlink(path) == 0)
            n++;
    }
    closedir(d);
    if (all)
        rmdir(dir);
    return n;
}

long kp_outfile_sweep(const char *dir)
{
    return sweep_dir(dir, 0, 0);
}

kp_err kp_scratch_dir(const char *final_path, char *buf, size_t size, kp_error *e)
{
    const char *slash = strrchr(final_path, '/');
    int dl = slash ? (int)(slash - final_path) : 1;
    if (snprintf(buf, size, "%.*s/%s", dl, slash ? final_path : ".", KP_SCRATCH_DIR) >=
        (int)size)
        return kp_error_set(e, KP_ERR_IO, final_path, 0, 0, "path too long");
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return kp_error_set(e, KP_ERR_IO, buf, 0, 0, "cannot create directory: %s",
                            strerror(errno));
    return KP_OK;
}

kp_err kp_sha256_file(const char *path, char hex[65], uint64_t *bytes, kp_error *e)
{
    kp_err rc = KP_OK;
    kp_sha256 c;
    unsigned char digest[32];
    uint64_t total = 0;
    unsigned char *buf = malloc(SHA_BLOCK);
    FILE *f = fopen(path, "rb");
    if (!buf) {
        rc = kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
        goto done;
    }
    if (!f) {
        rc = kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
        goto done;
    }
    kp_sha256_init(&c);
    size_t n;
    while ((n = fread(buf, 1, SHA_BLOCK, f)) > 0) {
        kp_sha256_update(&c, buf, n);
        total += n;
    }
    if (ferror(f)) {
        rc = kp_error_set(e, KP_ERR_IO, path, 0, 0, "read error: %s", strerror(errno));
        goto done;
    }
    kp_sha256_final(&c, digest);
    kp_sha256_hex(digest, hex);
    if (bytes)
        *bytes = total;
done:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* ---- manifest ---- */

typedef struct manifest_row {
    char *report, *key, *path, *recipient, *subject;
    const char *rel; /* path relative to the manifest directory, set while writing */
    uint64_t bytes;
    char sha256[65];
} manifest_row;

struct kp_manifest {
    manifest_row *rows;
    size_t count, cap;
};

kp_manifest *kp_manifest_new(void)
{
    return calloc(1, sizeof(kp_manifest));
}

static void row_free(manifest_row *r)
{
    free(r->report);
    free(r->key);
    free(r->path);
    free(r->recipient);
    free(r->subject);
}

void kp_manifest_free(kp_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++)
        row_free(&m->rows[i]);
    free(m->rows);
    free(m);
}

kp_err kp_manifest_add(kp_manifest *m, const char *report, const char *key, const char *path,
                       const char *recipient, const char *subject, kp_error *e)
{
    kp_err rc;
    manifest_row r = {0};
    if ((rc = kp_sha256_file(path, r.sha256, &r.bytes, e)) != KP_OK)
        return rc;
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        manifest_row *rows = realloc(m->rows, cap * sizeof *rows);
        if (!rows)
            return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
        m->rows = rows;
        m->cap = cap;
    }
    r.report = dup_str(report ? report : "");
    r.key = dup_str(key);
    r.path = dup_str(path);
    r.recipient = dup_str(recipient);
    r.subject = dup_str(subject);
    if (!r.report || !r.path || (key && !r.key) || (recipient && !r.recipient) ||
        (subject && !r.subject)) {
        row_free(&r);
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    m->rows[m->count++] = r;
    return KP_OK;
}

static int row_cmp(const void *a, const void *b)
{
    const manifest_row *x = a, *y = b;
    int c = strcmp(x->report, y->report);
    if (c == 0)
        c = strcmp(x->rel, y->rel);
    /* Ties (one file listed twice) still need a fixed order: qsort is not stable. */
    if (c == 0)
        c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
    if (c == 0)
        c = strcmp(x->recipient ? x->recipient : "", y->recipient ? y->recipient : "");
    return c;
}

/* path with "dir/" removed when it starts with it; dir given without trailing slashes. */
static const char *relative_to(const char *path, const char *dir, size_t dirlen)
{
    if (dirlen > 0 && strncmp(path, dir, dirlen) == 0 && path[dirlen] == '/') {
        path += dirlen;
        while (*path == '/')
            path++;
    }
    return path;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
    if (strnlen((const char *)s, n) < n)
        return 0; /* the string ends inside the sequence */
    return kp_utf8_valid((const char *)s, n) ? n : 0;
}

/* A JSON string literal, or null. UTF-8 passes through; an invalid byte becomes U+FFFD
 * so that the file stays valid JSON whatever the CRM text held. */
static void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
        } else {
            switch (*p) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default:
                if (*p < 0x20 || *p == 0x7f)
                    fprintf(f, "\\u%04x", *p);
                else
                    fputc(*p, f);
            }
            p++;
        }
    }
    fputc('"', f);
}

void kp_json_write_string(FILE *f, const char *s)
{
    json_string(f, s);
}

static int write_csv(FILE *f, const kp_manifest *m)
{
    static const char *const header[] = {"report", "key",       "path",   "bytes",
                                         "sha256", "recipient", "subject"};
    if (kp_csv_write_record(f, 7, header) != 0)
        return -1;
    for (size_t i = 0; i < m->count; i++) {
        const manifest_row *r = &m->rows[i];
        char bytes[24];
        snprintf(bytes, sizeof bytes, "%" PRIu64, r->bytes);
        const char *fields[7] = {r->report, r->key,       r->rel,    bytes,
                                 r->sha256, r->recipient, r->subject};
        if (kp_csv_write_record(f, 7, fields) != 0)
            return -1;
    }
    return 0;
}

static int write_json(FILE *f, const kp_manifest *m)
{
    fputc('[', f);
    for (size_t i = 0; i < m->count; i++) {
        const manifest_row *r = &m->rows[i];
        fputs(i ? ",\n  {" : "\n  {", f);
        fputs("\"report\": ", f);
        json_string(f, r->report);
        fputs(", \"key\": ", f);
        json_string(f, r->key);
        fputs(", \"path\": ", f);
        json_string(f, r->rel);
        fprintf(f, ", \"bytes\": %" PRIu64 ", \"sha256\": \"%s\", \"recipient\": ", r->bytes,
                r->sha256);
        json_string(f, r->recipient);
        fputs(", \"subject\": ", f);
        json_string(f, r->subject);
        fputc('}', f);
    }
    fputs(m->count ? "\n]\n" : "]\n", f);
    return ferror(f) ? -1 : 0;
}

kp_err kp_outfile_write(const char *final_path, kp_outfile_fn fn, const void *ctx, kp_error *e)
{
    kp_outfile of;
    kp_err rc = kp_outfile_begin(&of, final_path, e);
    if (rc != KP_OK)
        return rc;
    FILE *f = fopen(of.tmp_path, "wb");
    if (!f) {
        rc = kp_error_set(e, KP_ERR_IO, of.tmp_path, 0, 0, "cannot create: %s", strerror(errno));
        goto fail;
    }
    rc = fn(f, ctx, e);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (rc == KP_OK && bad)
        rc = kp_error_set(e, KP_ERR_IO, final_path, 0, 0, "write error: %s", strerror(errno));
    if (rc != KP_OK)
        goto fail;
    return kp_outfile_commit(&of, e);
fail:
    kp_outfile_abort(&of);
    return rc;
}

/* Adapters from the manifest writers' (FILE *, manifest) shape to kp_outfile_fn. */
static kp_err write_csv_fn(FILE *f, const void *ctx, kp_error *e)
{
    if (write_csv(f, ctx))
        return kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "manifest.csv: write error: %s",
                            strerror(errno));
    return KP_OK;
}

static kp_err write_json_fn(FILE *f, const void *ctx, kp_error *e)
{
    if (write_json(f, ctx))
        return kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "manifest.json: write error: %s",
                            strerror(errno));
    return KP_OK;
}

kp_err kp_manifest_write(kp_manifest *m, const char *dir, kp_error *e)
{
    kp_err rc;
    char path[KP_PATH_MAX];
    size_t dirlen = strlen(dir);
    while (dirlen > 1 && dir[dirlen - 1] == '/')
        dirlen--;
    if (dirlen + 16 >= sizeof path)
        return kp_error_set(e, KP_ERR_IO, dir, 0, 0, "path too long");
    for (size_t i = 0; i < m->count; i++)
        m->rows[i].rel = relative_to(m->rows[i].path, dir, dirlen);
    if (m->count > 1)
        qsort(m->rows, m->count, sizeof *m->rows, row_cmp);
    snprintf(path, sizeof path, "%.*s/manifest.csv", (int)dirlen, dir);
    if ((rc = kp_outfile_write(path, write_csv_fn, m, e)) != KP_OK)
        return rc;
    snprintf(path, sizeof path, "%.*s/manifest.json", (int)dirlen, dir);
    return kp_outfile_write(path, write_json_fn, m, e);
}
