/* The SQLite adapter. Every connection is opened the same hardened way: no double-quoted
 * string literals (a typo in template SQL must fail, not become a string), no trusted
 * schema, foreign keys on. Template SQL runs under an authorizer that allows reads only. */
#include "kpipress/store.h"

#include <assert.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KP_STR_(x) #x
#define KP_STR(x) KP_STR_(x)

/* Statements kept by kp_store_prepare_cached(): a burst runs the same few template
 * queries once per document, and compiling them is a sixth of a scorecard's SQL time. */
#define STMT_CACHE_SIZE 32

struct kp_store {
    sqlite3 *db;
    char *path;
    int readonly_sql;   /* template SQL: the authorizer refuses writes */
    int authorizer_set; /* installed once: installing one expires every prepared statement */
    int mapped;         /* kp_store_map_reads done */
    kp_stmt *cache[STMT_CACHE_SIZE];
    size_t ncache;
};

struct kp_stmt {
    sqlite3_stmt *st;
    kp_store *store;
    char *origin;
    long line;
    char *sql;    /* cached statements: the text they were looked up by */
    int cached;   /* owned by the store's cache; kp_stmt_finalize hands it back */
    int busy;     /* cached and handed out */
    int readonly; /* prepared under the read-only authorizer */
};

/* median(x): an aggregate SQLite lacks. Values are collected per group and the middle
 * one (mean of the two middle ones for an even count) is found by sorting once at the
 * end, so a median per rep and month is one grouped scan instead of a window-function
 * ranking of every row. NULLs are ignored, as by avg(). */
typedef struct {
    double *v;
    size_t n, cap;
    int oom;
} median_acc;

static void median_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    median_acc *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (!a || a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        double *nv = sqlite3_realloc64(a->v, cap * sizeof *nv);
        if (!nv) {
            a->oom = 1;
            return;
        }
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = sqlite3_value_double(argv[0]);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void median_final(sqlite3_context *ctx)
{
    median_acc *a = sqlite3_aggregate_context(ctx, 0);
    if (!a || a->oom) {
        if (a && a->oom)
            sqlite3_result_error_nomem(ctx);
        else
            sqlite3_result_null(ctx);
        if (a)
            sqlite3_free(a->v);
        return;
    }
    if (a->n == 0) {
        sqlite3_result_null(ctx);
    } else {
        qsort(a->v, a->n, sizeof *a->v, cmp_double);
        double m = a->n % 2 ? a->v[a->n / 2] : (a->v[a->n / 2 - 1] + a->v[a->n / 2]) / 2.0;
        sqlite3_result_double(ctx, m);
    }
    sqlite3_free(a->v);
}

static kp_err db_error(kp_store *s, kp_error *e, const char *what)
{
    return kp_error_set(e, KP_ERR_IO, s->path, 0, 0, "%s: %s", what, sqlite3_errmsg(s->db));
}

static int authorize(void *user, int action, const char *a, const char *b, const char *c,
                     const char *d)
{
    if (!((kp_store *)user)->readonly_sql)
        return SQLITE_OK;
    (void)b;
    (void)c;
    (void)d;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        /* Extension loading is disabled anyway; refusing it here makes it a template
         * error at prepare time (exit 2) instead of a failure halfway through a run. */
        return b && !sqlite3_stricmp(b, "load_extension") ? SQLITE_DENY : SQLITE_OK;
    case SQLITE_PRAGMA:
        /* Reading a pragma is harmless; setting one (b != NULL) changes state. */
        if (b == NULL && a && (!strcmp(a, "table_info") || !strcmp(a, "table_list")))
            return SQLITE_OK;
        return SQLITE_DENY;
    default:
        return SQLITE_DENY;
    }
}

/* SQLite's memory statistics take a global mutex on every allocation; kpipress never
 * reads them. sqlite3_config must run before the library initialises, hence once, here. */
static void configure_library(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
}

/* KPIPRESS_TRACE_SQL=MS prints every statement that ran longer than MS milliseconds to
 * stderr: how a slow run is diagnosed without a profiler. */
static int trace_slow(unsigned type, void *ctx, void *p, void *x)
{
    (void)type;
    double ms = (double)*(sqlite3_int64 *)x / 1e6;
    if (ms >= *(double *)ctx) {
        char *sql = sqlite3_expanded_sql(p);
        fprintf(stderr, "kpipress: sql %.1f ms: %.300s\n", ms, sql ? sql : sqlite3_sql(p));
        sqlite3_free(sql);
    }
    return 0;
}

kp_err kp_store_open(const char *path, int flags, kp_store **out, kp_error *e)
{
    static double trace_ms = -1;
    configure_library();
    if (trace_ms < 0) {
        const char *t = getenv("KPIPRESS_TRACE_SQL");
        trace_ms = t ? atof(t) : 1e300;
    }
    *out = NULL;
    kp_store *s = calloc(1, sizeof *s);
    if (!s)
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    int memory = (flags & KP_STORE_MEMORY) || !strcmp(path, ":memory:");
    s->path = strdup(memory ? ":memory:" : path);
    if (!s->path) {
        free(s);
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    }
    int oflags = SQLITE_OPEN_NOMUTEX;
    if (flags & KP_STORE_READONLY)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & KP_STORE_CREATE) || memory ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(s->path, &s->db, oflags, NULL) != SQLITE_OK) {
        kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot open database: %s",
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        kp_store_close(s);
        return KP_ERR_IO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
    sqlite3_busy_timeout(s->db, 5000);
    if (trace_ms < 1e300)
        sqlite3_trace_v2(s->db, SQLITE_TRACE_PROFILE, trace_slow, &trace_ms);
    sqlite3_create_function_v2(s->db, "median", 1,
                               SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, NULL,
                               median_step, median_final, NULL);
    /* 8 KiB pages for a database this creates (an existing one keeps its own): a big
     * load writes each page once and reads it back to build the snapshot indexes, one
     * system call per page, and the calls, not the bytes, cost: 4 KiB pages made 300,000
     * of them for 1M deals. Larger pages grew the index sorter's memory. */
    if (!(flags & KP_STORE_READONLY) && kp_store_exec(s, "PRAGMA page_size=8192", e) != KP_OK) {
        kp_store_close(s);
        return KP_ERR_IO;
    }
    /* An 8 MB page cache: kpipress reads most pages once per stage (the KPI stage's scans,
     * a document's queries), so a bigger one bought no measurable CPU (64, 8 and 2 MB
     * compared at 100k and 1M deals) while it stayed full for the rest of the run: 64 MB
     * was half the peak memory of a board pack at 1M deals. The load and the KPI stage
     * set their own sizes while they run. */
    if (kp_store_exec(s,
                      "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                      "PRAGMA cache_size=-8192;",
                      e) != KP_OK) {
        kp_store_close(s);
        return KP_ERR_IO;
    }
    /* A rollback journal, not WAL: kpipress is the only writer (the run holds a lock), a
     * bulk load into fresh pages then writes each page once instead of twice, and no
     * -wal/-shm files are left beside the database. Atomicity is the same. */
    if (!(flags & KP_STORE_READONLY) && !memory &&
        kp_store_exec(s, "PRAGMA journal_mode=DELETE;", e) != KP_OK) {
        kp_store_close(s);
        return KP_ERR_IO;
    }
    *out = s;
    return KP_OK;
}

static void stmt_free(kp_stmt *st)
{
    sqlite3_finalize(st->st);
    free(st->origin);
    free(st->sql);
    free(st);
}

void kp_store_close(kp_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncache; i++) {
        assert(!s->cache[i]->busy); /* finalize what you prepared before closing */
        stmt_free(s->cache[i]);
    }
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

kp_err kp_store_exec(kp_store *s, const char *sql, kp_error *e)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        kp_error_set(e, KP_ERR_IO, s->path, 0, 0, "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return KP_ERR_IO;
    }
    return KP_OK;
}

kp_err kp_store_cache_size(kp_store *s, int64_t size, int64_t *old, kp_error *e)
{
    char sql[64];
    kp_err rc = old ? kp_store_query_int64(s, "PRAGMA cache_size", NULL, 0, old, e) : KP_OK;
    snprintf(sql, sizeof sql, "PRAGMA cache_size = %" PRId64, size);
    return rc ? rc : kp_store_exec(s, sql, e);
}

void kp_store_cache_restore(kp_store *s, int64_t old)
{
    if (old)
        kp_store_cache_size(s, old, NULL, NULL);
}

kp_err kp_store_begin(kp_store *s, kp_error *e)
{
    return kp_store_exec(s, "BEGIN IMMEDIATE", e);
}

kp_err kp_store_commit(kp_store *s, kp_error *e)
{
    return kp_store_exec(s, "COMMIT", e);
}

void kp_store_rollback(kp_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The authorizer stays installed and reads the flag: installing one expires every
 * prepared statement, so toggling it per document would recompile the cached ones. */
void kp_store_set_readonly(kp_store *s, int on)
{
    s->readonly_sql = on;
    if (on && !s->authorizer_set) {
        sqlite3_set_authorizer(s->db, authorize, s);
        s->authorizer_set = 1;
    }
}

/* 1 GB: a database of 200,000 opportunities is about 160 MB; past the map SQLite reads
 * as usual. */
#define READ_MAP_BYTES 1073741824

kp_err kp_store_map_reads(kp_store *s, kp_error *e)
{
    if (s->mapped || !strcmp(s->path, ":memory:"))
        return KP_OK;
    s->mapped = 1;
    int ro = s->readonly_sql; /* our own setting, not template SQL: past the authorizer */
    s->readonly_sql = 0;
    kp_err rc = kp_store_exec(s, "PRAGMA mmap_size=" KP_STR(READ_MAP_BYTES) ";", e);
    s->readonly_sql = ro;
    return rc;
}

/* Line of SQL text where byte offset `off` falls, counted from `line`. */
static long sql_line(const char *sql, size_t off, long line)
{
    for (size_t i = 0; i < off && sql[i]; i++)
        if (sql[i] == '\n')
            line++;
    return line;
}

kp_err kp_store_prepare(kp_store *s, const char *sql, const char *origin, long line,
                        kp_stmt **out, kp_error *e)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    const char *where = origin ? origin : s->path;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail) != SQLITE_OK) {
        int off = sqlite3_error_offset(s->db);
        long l = line > 0 && off >= 0 ? sql_line(sql, (size_t)off, line) : line;
        kp_err code = origin ? KP_ERR_CONFIG : KP_ERR_IO;
        if (sqlite3_errcode(s->db) == SQLITE_AUTH)
            return kp_error_set(e, KP_ERR_CONFIG, where, l, 0,
                                "SQL refused: template SQL is read-only (%s)",
                                sqlite3_errmsg(s->db));
        return kp_error_set(e, code, where, l, 0, "SQL error: %s", sqlite3_errmsg(s->db));
    }
    if (!st)
        return kp_error_set(e, KP_ERR_CONFIG, where, line, 0, "SQL is empty");
    for (; tail && *tail; tail++) {
        if (*tail != ' ' && *tail != '\t' && *tail != '\n' && *tail != '\r' && *tail != ';') {
            sqlite3_finalize(st);
            return kp_error_set(e, KP_ERR_CONFIG, where, line, 0,
                                "SQL holds more than one statement (near \"%.20s\")", tail);
        }
    }
    if (s->readonly_sql && !sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        return kp_error_set(e, KP_ERR_CONFIG, where, line, 0,
                            "SQL refused: template SQL is read-only");
    }
    kp_stmt *k = calloc(1, sizeof *k);
    if (!k || (origin && !(k->origin = strdup(origin)))) {
        free(k);
        sqlite3_finalize(st);
        return kp_error_set(e, KP_ERR_NOMEM, where, line, 0, "out of memory");
    }
    k->st = st;
    k->store = s;
    k->line = line;
    *out = k;
    return KP_OK;
}

void kp_stmt_finalize(kp_stmt *st)
{
    if (!st)
        return;
    if (st->cached) {
        kp_stmt_reset(st);
        st->busy = 0;
        return;
    }
    stmt_free(st);
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Statements that run once per document look up a handful of rows each. For such a
 * query SQLite 3.38+ may plan a Bloom filter on the inner table of a join (when it
 * cannot tell that the outer loop, e.g. a recursive CTE of 15 months, is short) and
 * then reads the whole inner table to build the filter on every run: a scan of every
 * rep's months to fetch one rep's. Cached statements are compiled without it. The
 * bits are SQLITE_BloomFilter and SQLITE_BloomPulldown of sqliteInt.h (3.38 to 3.45);
 * SQLITE_TESTCTRL_OPTIMIZATIONS sets the connection's mask of disabled optimizations
 * and is what the sqlite3 shell's ".testctrl optimizations" calls. */
#define NO_BLOOM_FILTER 0x00180000u

kp_err kp_store_prepare_cached(kp_store *s, const char *sql, const char *origin, long line,
                               kp_stmt **out, kp_error *e)
{
    *out = NULL;
    for (size_t i = 0; i < s->ncache; i++) {
        kp_stmt *k = s->cache[i];
        if (!k->busy && k->readonly == s->readonly_sql && k->line == line &&
            same_text(k->origin, origin) && !strcmp(k->sql, sql)) {
            k->busy = 1;
            *out = k;
            return KP_OK;
        }
    }
    sqlite3_test_control(SQLITE_TESTCTRL_OPTIMIZATIONS, s->db, NO_BLOOM_FILTER);
    kp_err rc = kp_store_prepare(s, sql, origin, line, out, e);
    sqlite3_test_control(SQLITE_TESTCTRL_OPTIMIZATIONS, s->db, 0u);
    if (rc || s->ncache == STMT_CACHE_SIZE)
        return rc; /* a full cache: this one is finalized as usual */
    kp_stmt *k = *out;
    if (!(k->sql = strdup(sql))) {
        stmt_free(k);
        *out = NULL;
        return kp_error_set(e, KP_ERR_NOMEM, origin, line, 0, "out of memory");
    }
    k->cached = k->busy = 1;
    k->readonly = s->readonly_sql;
    s->cache[s->ncache++] = k;
    return KP_OK;
}

kp_err kp_stmt_bind_null(kp_stmt *st, int idx)
{
    return sqlite3_bind_null(st->st, idx) == SQLITE_OK ? KP_OK : KP_ERR_INTERNAL;
}

kp_err kp_stmt_bind_int64(kp_stmt *st, int idx, int64_t v)
{
    return sqlite3_bind_int64(st->st, idx, v) == SQLITE_OK ? KP_OK : KP_ERR_INTERNAL;
}

kp_err kp_stmt_bind_double(kp_stmt *st, int idx, double v)
{
    return sqlite3_bind_double(st->st, idx, v) == SQLITE_OK ? KP_OK : KP_ERR_INTERNAL;
}

kp_err kp_stmt_bind_text(kp_stmt *st, int idx, const char *text, size_t len)
{
    return sqlite3_bind_text64(st->st, idx, text, len, SQLITE_TRANSIENT, SQLITE_UTF8) == SQLITE_OK
               ? KP_OK
               : KP_ERR_INTERNAL;
}

kp_err kp_stmt_bind_text_static(kp_stmt *st, int idx, const char *text, size_t len)
{
    return sqlite3_bind_text64(st->st, idx, text, len, SQLITE_STATIC, SQLITE_UTF8) == SQLITE_OK
               ? KP_OK
               : KP_ERR_INTERNAL;
}

kp_err kp_stmt_bind_vars(kp_stmt *st, const kp_vars *vars, kp_error *e)
{
    int n = sqlite3_bind_parameter_count(st->st);
    for (int i = 1; i <= n; i++) {
        const char *p = sqlite3_bind_parameter_name(st->st, i);
        if (!p)
            return kp_error_set(e, KP_ERR_CONFIG, st->origin, st->line, 0,
                                "SQL uses a '?' parameter: use named parameters like :rep_id");
        const char *name = p + 1; /* skip ':', '@' or '$' */
        if (!vars || !kp_vars_has(vars, name))
            return kp_error_set(e, KP_ERR_CONFIG, st->origin, st->line, 0,
                                "SQL parameter %s is not defined (known: job, period and "
                                "burst-row names)",
                                p);
        const char *v = kp_vars_get(vars, name);
        int rc = v ? sqlite3_bind_text(st->st, i, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st->st, i);
        if (rc != SQLITE_OK)
            return kp_error_set(e, KP_ERR_NOMEM, st->origin, st->line, 0, "cannot bind %s", p);
    }
    return KP_OK;
}

int kp_stmt_step(kp_stmt *st, kp_error *e)
{
    int rc = sqlite3_step(st->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    kp_err code = (rc & 0xff) == SQLITE_CONSTRAINT ? KP_ERR_DATA : KP_ERR_IO;
    if (st->origin)
        kp_error_set(e, code, st->origin, st->line, 0, "SQL error: %s",
                     sqlite3_errmsg(st->store->db));
    else
        db_error(st->store, e, "database error");
    if (e)
        e->code = code;
    return -1;
}

void kp_stmt_reset(kp_stmt *st)
{
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
}

void kp_stmt_reset_keep(kp_stmt *st)
{
    sqlite3_reset(st->st);
}

int kp_stmt_column_count(kp_stmt *st)
{
    return sqlite3_column_count(st->st);
}

const char *kp_stmt_column_name(kp_stmt *st, int col)
{
    return sqlite3_column_name(st->st, col);
}

const char *kp_stmt_column_decltype(kp_stmt *st, int col)
{
    return sqlite3_column_decltype(st->st, col);
}

kp_coltype kp_stmt_column_type(kp_stmt *st, int col)
{
    switch (sqlite3_column_type(st->st, col)) {
    case SQLITE_INTEGER: return KP_COL_INTEGER;
    case SQLITE_FLOAT: return KP_COL_REAL;
    case SQLITE_TEXT: return KP_COL_TEXT;
    case SQLITE_BLOB: return KP_COL_BLOB;
    default: return KP_COL_NULL;
    }
}

int64_t kp_stmt_column_int64(kp_stmt *st, int col)
{
    return sqlite3_column_int64(st->st, col);
}

double kp_stmt_column_double(kp_stmt *st, int col)
{
    return sqlite3_column_double(st->st, col);
}

const char *kp_stmt_column_text(kp_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st->st, col);
}

size_t kp_stmt_column_bytes(kp_stmt *st, int col)
{
    return (size_t)sqlite3_column_bytes(st->st, col);
}

kp_err kp_store_query_int64(kp_store *s, const char *sql, const kp_vars *vars, int64_t def,
                            int64_t *out, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(s, sql, NULL, 0, &st, e);
    if (rc)
        return rc;
    *out = def;
    if (vars && (rc = kp_stmt_bind_vars(st, vars, e)) != KP_OK)
        goto done;
    int r = kp_stmt_step(st, e);
    if (r < 0)
        rc = e ? e->code : KP_ERR_IO;
    else if (r == 1 && kp_stmt_column_type(st, 0) != KP_COL_NULL)
        *out = kp_stmt_column_int64(st, 0);
done:
    kp_stmt_finalize(st);
    return rc;
}

const char *kp_store_library_version(void)
{
    return sqlite3_libversion();
}
