/* The load stage: reads each source of a job (reps, then quotas, then opportunities, so
 * owners and quota holders can be checked against reps), maps its columns through the
 * preset, parses and validates every row, and writes the canonical tables in ONE
 * transaction. Bad rows go to dq_issues and <output_dir>/rejects/<source>.csv; a bad file
 * or too many rejects roll everything back, so the database is as it was before. */
#include "kpipress/load.h"
#include "kpipress/bulk.h"
#include "kpipress/csv.h"
#include "kpipress/deliver.h"
#include "kpipress/doc.h"
#include "kpipress/forecast_pipeline.h"
#include "kpipress/forecast_series.h"
#include "kpipress/log.h"
#include "kpipress/presets.h"
#include "kpipress/tz.h"
#include "kpipress/value.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Amounts are stored as INTEGER cents: SQLite sums integers exactly, so bookings and
 * quota attainment add up to the cent however many rows there are; REAL dollars would
 * drift (0.1 + 0.2 != 0.3). The opportunities view adds amount = cents / 100.0 for
 * display. Dates are TEXT 'YYYY-MM-DD', validated by value.c before insert, because
 * SQLite's date functions accept 2024-02-30 unchanged. */
/* The snapshot indexes serve queries, not the load, so a first snapshot goes in without
 * them and kp_load_ensure_indexes builds each one when a query needs it (a sort, far
 * cheaper than keeping an index current row by row): the key (as_of, opp_id) for the
 * history joins on opp_id when there are two or more snapshots (queries find a snapshot
 * and its rows through the catalogue table `snapshots`, see below); the owner index for
 * the per-rep queries of burst reports (owner_id = ? AND as_of = ?). Its owner comes
 * first because SQLite's sorter compares the first column on a fast path and the full
 * record only on a tie: with as_of first every comparison tied, and the index took twice
 * as long to build (1.2 against 0.6 CPU s at 1M rows). Metric queries read a whole
 * snapshot, so close_date gets no index: on 1M rows it cost a second and a half to build
 * and saved nothing. Duplicate deals are found without the unique index (see the Bloom
 * filter below). */
static const char key_index_sql[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS opp_snap_key ON opportunity_snapshots(as_of, opp_id)";
static const char owner_index_sql[] =
    "CREATE INDEX IF NOT EXISTS opp_snap_owner ON opportunity_snapshots(owner_id, as_of)";

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS reps("
    " rep_id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT, team TEXT, region TEXT,"
    " manager_id TEXT, hire_date TEXT, active INTEGER NOT NULL DEFAULT 1) STRICT;"
    "CREATE TABLE IF NOT EXISTS quotas("
    " rep_id TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " amount_cents INTEGER NOT NULL, PRIMARY KEY(rep_id, period_start)) STRICT;"
    "CREATE INDEX IF NOT EXISTS quotas_period ON quotas(period_start, period_end);"
    /* A rowid table, so a load appends; one row per (as_of, opp_id), which the load
     * enforces (by the Bloom filter, or the unique index opp_snap_key when it exists).
     * amount_cents is in the job's currency; a deal converted from another currency keeps
     * its own amount and currency in original_amount_cents / original_currency. */
    "CREATE TABLE IF NOT EXISTS opportunity_snapshots("
    " as_of TEXT NOT NULL, opp_id TEXT NOT NULL, name TEXT, account TEXT, owner_id TEXT,"
    " stage TEXT, amount_cents INTEGER, currency TEXT, probability REAL,"
    " forecast_category TEXT, type TEXT, lead_source TEXT, product TEXT, created_date TEXT,"
    " close_date TEXT, is_closed INTEGER NOT NULL, is_won INTEGER NOT NULL,"
    " source_line INTEGER NOT NULL, original_amount_cents INTEGER, original_currency TEXT)"
    " STRICT;"
    /* The catalogue of snapshots, written by the load in its transaction: which
     * snapshots exist and where their rows are. A snapshot is loaded in one piece into a
     * table that appends, so its rows form one rowid range; reloading an as-of deletes
     * them and adds a new range, removing duplicates only deletes inside it. Queries
     * find "the latest snapshot at or before" here instead of by max(as_of) over the
     * whole table (a scan of every row without the key index). */
    "CREATE TABLE IF NOT EXISTS snapshots("
    " as_of TEXT PRIMARY KEY, first_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL,"
    " rows INTEGER NOT NULL) STRICT;"
    "CREATE VIEW IF NOT EXISTS opportunities AS"
    " SELECT as_of, opp_id, name, account, owner_id, stage, amount_cents, currency,"
    " probability, forecast_category, type, lead_source, product, created_date, close_date,"
    " is_closed, is_won, source_line, original_amount_cents, original_currency,"
    " amount_cents / 100.0 AS amount"
    " FROM opportunity_snapshots"
    " WHERE as_of = coalesce((SELECT max(as_of) FROM snapshots),"
    " (SELECT max(as_of) FROM opportunity_snapshots));" /* rows not loaded by kpipress */
    /* The stage rules in force at the last load (preset, overridden by [stages]). */
    "CREATE TABLE IF NOT EXISTS stage_rules("
    " stage TEXT PRIMARY KEY, stage_order INTEGER NOT NULL, probability REAL,"
    " is_closed INTEGER NOT NULL, is_won INTEGER NOT NULL, forecast_category TEXT) STRICT;"
    /* Optional sources: replaced wholesale by each load that has them. */
    "CREATE TABLE IF NOT EXISTS accounts("
    " account_id TEXT NOT NULL, name TEXT NOT NULL, industry TEXT, region TEXT, owner_id TEXT,"
    " employees INTEGER, annual_revenue_cents INTEGER, created_date TEXT,"
    " source_line INTEGER NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS accounts_id ON accounts(account_id);"
    "CREATE TABLE IF NOT EXISTS activities("
    " activity_id TEXT, rep_id TEXT NOT NULL, type TEXT NOT NULL, activity_date TEXT NOT NULL,"
    " minutes INTEGER, selling INTEGER NOT NULL, account TEXT, opp_id TEXT,"
    " source_line INTEGER NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS activities_rep ON activities(rep_id, activity_date);"
    "CREATE TABLE IF NOT EXISTS leads("
    " lead_id TEXT, created_date TEXT NOT NULL, converted_date TEXT,"
    " is_converted INTEGER NOT NULL, lead_source TEXT, owner_id TEXT, status TEXT,"
    " source_line INTEGER NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS leads_created ON leads(created_date);"
    "CREATE TABLE IF NOT EXISTS spend("
    " month TEXT NOT NULL, channel TEXT NOT NULL, amount_cents INTEGER NOT NULL,"
    " source_line INTEGER NOT NULL) STRICT;"
    "CREATE TABLE IF NOT EXISTS subscriptions("
    " subscription_id TEXT, account TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT,"
    " mrr_cents INTEGER NOT NULL, source_line INTEGER NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS subscriptions_account ON subscriptions(account, start_date);"
    "CREATE TABLE IF NOT EXISTS stage_history("
    " opp_id TEXT NOT NULL, stage TEXT NOT NULL, entered_date TEXT NOT NULL,"
    " amount_cents INTEGER, source_line INTEGER NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS stage_history_opp ON stage_history(opp_id, entered_date);"
    /* rate: units of the job's currency per unit of `currency` during `month`. */
    "CREATE TABLE IF NOT EXISTS rates("
    " currency TEXT NOT NULL, month TEXT NOT NULL, rate REAL NOT NULL,"
    " source_line INTEGER NOT NULL, PRIMARY KEY(currency, month)) STRICT;"
    "CREATE TABLE IF NOT EXISTS dq_issues("
    " as_of TEXT NOT NULL, source TEXT NOT NULL, line INTEGER, column_name TEXT,"
    " rule TEXT NOT NULL, severity TEXT NOT NULL, value TEXT, message TEXT NOT NULL) STRICT;"
    "CREATE INDEX IF NOT EXISTS dq_issues_as_of ON dq_issues(as_of, source, line);"
    "CREATE TABLE IF NOT EXISTS runs("
    " run_id INTEGER PRIMARY KEY, as_of TEXT NOT NULL, job_file TEXT, job_sha256 TEXT,"
    " status TEXT NOT NULL, error TEXT, started_step TEXT, summary TEXT) STRICT;";

/* For a database made before the catalogue: every snapshot's range in one pass. */
static const char catalogue_fill_sql[] =
    "INSERT INTO snapshots(as_of, first_rowid, last_rowid, rows)"
    " SELECT as_of, min(rowid), max(rowid), count(*) FROM opportunity_snapshots"
    " GROUP BY as_of ORDER BY as_of";

kp_err kp_load_schema(kp_store *s, kp_error *e)
{
    kp_err rc = kp_store_exec(s, schema_sql, e);
    /* A database made before the catalogue gets it filled once. */
    int64_t cat = 0, snaps = 0;
    if (!rc && !(rc = kp_store_query_int64(s, "SELECT count(*) FROM (SELECT 1 FROM snapshots"
                                              " LIMIT 1)",
                                           NULL, 0, &cat, e)) &&
        !cat &&
        !(rc = kp_store_query_int64(s, "SELECT count(*) FROM (SELECT 1 FROM"
                                       " opportunity_snapshots LIMIT 1)",
                                    NULL, 0, &snaps, e)) &&
        snaps)
        rc = kp_store_exec(s, catalogue_fill_sql, e);
    /* the forecast history too, so a fresh database (and `check`) has every table that
     * the metric library and the templates read */
    if (!rc)
        rc = kp_forecast_series_schema(s, e);
    return rc ? rc : kp_forecast_pipeline_schema(s, e);
}

/* ---- per-source state ----------------------------------------------------------------- */

/* Column index (into the file's header) of each canonical field; -1 when absent. */
typedef struct cols {
    int opp_id, name, account, owner, stage, amount, currency, probability,
        forecast_category, type, lead_source, product, created_date, close_date, is_closed,
        is_won, status, won_time, lost_time;
    int rep_id, email, team, region, manager, hire_date, active;
    int period_start, period_end;
} cols;

static const struct {
    const char *field;
    size_t off;
} col_slots[] = {
    {"opp_id", offsetof(cols, opp_id)},
    {"name", offsetof(cols, name)},
    {"account", offsetof(cols, account)},
    {"owner", offsetof(cols, owner)},
    {"stage", offsetof(cols, stage)},
    {"amount", offsetof(cols, amount)},
    {"currency", offsetof(cols, currency)},
    {"probability", offsetof(cols, probability)},
    {"forecast_category", offsetof(cols, forecast_category)},
    {"type", offsetof(cols, type)},
    {"lead_source", offsetof(cols, lead_source)},
    {"product", offsetof(cols, product)},
    {"created_date", offsetof(cols, created_date)},
    {"close_date", offsetof(cols, close_date)},
    {"is_closed", offsetof(cols, is_closed)},
    {"is_won", offsetof(cols, is_won)},
    {"status", offsetof(cols, status)},
    {"won_time", offsetof(cols, won_time)},
    {"lost_time", offsetof(cols, lost_time)},
    {"rep_id", offsetof(cols, rep_id)},
    {"email", offsetof(cols, email)},
    {"team", offsetof(cols, team)},
    {"region", offsetof(cols, region)},
    {"manager", offsetof(cols, manager)},
    {"hire_date", offsetof(cols, hire_date)},
    {"active", offsetof(cols, active)},
    {"period_start", offsetof(cols, period_start)},
    {"period_end", offsetof(cols, period_end)},
};

#define MAX_ISSUES 16
#define MAX_PENDING_FOOTER 8
#define MSG_MAX 320

typedef struct issue {
    const char *rule;
    int reject; /* 1 reject, 0 warning */
    int col;    /* column index or -1 */
    char msg[MSG_MAX];
} issue;

enum { ROW_DATA = 0, ROW_ISSUE = 1, ROW_CANDIDATE = 2 };

/* Open-addressing string map: rep ids, and rep names -> the rep id (count > 1 when
 * several reps share a name). Sized by the reps, not by the opportunities. */
typedef struct name_entry {
    char *key, *value;
    size_t keylen;
    int count;
    size_t quotas; /* quotas source: its rep's last accepted period in loader.periods, + 1 */
} name_entry;

typedef struct name_map {
    name_entry *slots;
    size_t cap;
} name_map;

/* An accepted quota period, chained per rep (next: the rep's previous period, + 1). */
typedef struct quota_period {
    kp_date start, end;
    size_t next;
} quota_period;

typedef struct rate {
    char currency[4];
    kp_date month;
    double rate;
} rate;

typedef struct footer_row {
    long line;
    char *text;
} footer_row;

/* The duplicate filter's record of the keys (see "duplicate deals without the unique
 * index"): each queued deal's key hash, in insertion order, in an unlinked temporary
 * file, and the hashes the filter flagged, in memory. */
typedef struct key_spill {
    int fd;           /* the file, -1 when none */
    uint64_t *buf;    /* SPILL_BUF hashes: the write buffer, then the read buffer */
    size_t n;         /* hashes in buf, not yet written */
    int64_t rows;     /* hashes recorded: the rows queued */
    int64_t base;     /* the table's largest rowid before the rows (0: empty) */
    uint64_t *set;    /* the candidates' hashes: open addressing, 0 an empty slot */
    size_t cap, used; /* slots (a power of two), hashes in them */
    size_t limit;     /* most hashes kept, then the SQL pass */
    uint64_t mask;    /* of the hashes: all bits, fewer to force collisions in tests */
    int zero;         /* the hash 0 is a candidate (it cannot be stored in set) */
    int off;          /* not usable (no file, a write failed, over the limit): SQL pass */
} key_spill;

/* The database file synced by a helper thread while loading (see flusher_start). */
typedef struct flusher {
    int fd, kicks, stop, started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} flusher;

typedef struct loader {
    const kp_job *job;
    const kp_source *src;
    size_t index;
    const kp_preset *preset;
    kp_store *s;
    kp_load_stats *stats;
    char as_of[KP_DATE_ISO_LEN + 1];
    const kp_tz *tz;    /* job time zone */
    int cp1252;
    kp_date_order dates;
    struct cell_cache *dc; /* date cells parsed, days formatted, texts interned */

    int have_header;
    size_t ncols;
    char **header;
    cols c;
    int ocol[KP_BULK_MAX_COLS]; /* optional sources: column of each preset field */

    issue issues[MAX_ISSUES];
    size_t nissues;

    footer_row pending[MAX_PENDING_FOOTER];
    size_t npending;

    /* Converted (cp1252) copy of the current record. */
    char *conv;
    size_t conv_cap;
    const char **cfields;
    size_t *clens;
    size_t cfields_cap;

    kp_stmt *q_rep_id;              /* reps: checked against the store */
    kp_bulk *bulk;                  /* row kind ROW_DATA: the source's table; ROW_ISSUE */
    int threaded;                   /* opportunities: inserts on a second thread */
    int filter_dups;                /* no unique key index: duplicates by bloom, then SQL */
    int history;                    /* other snapshots: the key index is built after */
    uint64_t *bloom;                /* opportunity keys seen (filter_dups) */
    size_t bloom_blocks;            /* its size in 64-byte blocks */
    long candidates;                /* keys the filter may have seen before */
    key_spill spill;                /* the keys' hashes in row order, the candidates' */
    kp_stmt *dup_probe, *dup_issue; /* used by the insert thread only */
    flusher flush;                  /* opportunities: the file synced while loading */

    /* Opportunities: what the rows are checked against, in memory (not the store, which
     * the insert thread owns): reps, stage rules, exchange rates. */
    name_map rep_ids, rep_names;
    kp_stage_rule *rules;
    size_t *rule_len; /* trimmed length of each rule's stage: most rules fail on it */
    const char **rule_text; /* its trimmed stage */
    size_t nrules;
    rate *rates;
    size_t nrates;

    /* Quotas: the reps and the periods accepted so far, in memory, so that the rows need
     * no query each and go through multi-row inserts (rep_ids is shared with the above). */
    quota_period *periods;
    size_t nperiods, periods_cap;

    kp_outfile rej;
    FILE *rej_f;
    long first_line, first_col;
    char first_msg[MSG_MAX];
    char first_colname[KP_NAME_MAX];
} loader;

static const char *kind_name(kp_source_kind k)
{
    switch (k) {
    case KP_SRC_OPPORTUNITIES: return "opportunities";
    case KP_SRC_REPS: return "reps";
    case KP_SRC_QUOTAS: return "quotas";
    default: return kp_presets_table(k) ? kp_presets_table(k) : "?";
    }
}

static char *dup_mem(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Trimmed text of column col, or NULL (len 0) when the column is absent. */
static const char *cell(const kp_csv_record *rec, int col, size_t *len)
{
    if (col < 0 || (size_t)col >= rec->nfields) {
        *len = 0;
        return NULL;
    }
    const char *s = rec->fields[col];
    size_t n = *len = rec->lens[col];
    /* Most cells have no blank at either end: no call for them (a cell is read ~15
     * times a row). */
    if (n == 0 || (s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' && s[n - 1] != '\t'))
        return s;
    return kp_value_trim(s, len);
}

static const char *col_name(const loader *L, int col)
{
    return col >= 0 && (size_t)col < L->ncols ? L->header[col] : "";
}

static void add_issue(loader *L, const char *rule, int reject, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void add_issue(loader *L, const char *rule, int reject, int col, const char *fmt, ...)
{
    if (L->nissues == MAX_ISSUES)
        return;
    issue *is = &L->issues[L->nissues++];
    is->rule = rule;
    is->reject = reject;
    is->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(is->msg, sizeof is->msg, fmt, ap);
    va_end(ap);
}

static int has_reject(const loader *L)
{
    for (size_t i = 0; i < L->nissues; i++)
        if (L->issues[i].reject)
            return 1;
    return 0;
}

static uint64_t hash_text(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The hash of the loader's lookup tables (reps by id and name, the date caches), which
 * run several times a row: eight bytes a step, where FNV-1a's byte loop was a fifteenth
 * of the parsing thread. The low bits index the tables, so the high ones are folded in. */
static uint64_t lookup_hash(const char *s, size_t n)
{
    const uint64_t m = 0x9e3779b97f4a7c15u;
    uint64_t h = n * m, w;
    for (; n > 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * m;
        h ^= h >> 32;
    }
    if (n >= 4) { /* two loads cover the last 4..8 bytes, overlapping when fewer than 8 */
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w = (uint64_t)a << 32 | b;
    } else { /* 0..3 bytes: first, middle and last cover them all */
        w = n ? (uint64_t)(unsigned char)s[0] << 16 | (uint64_t)(unsigned char)s[n / 2] << 8 |
                    (unsigned char)s[n - 1]
              : 0;
    }
    h = (h ^ w) * m;
    return h ^ (h >> 32);
}

/* ---- dates seen before ----------------------------------------------------------------
 *
 * An export has few distinct dates (the 1M-deal bench file: 1,519 close dates and 1,280
 * created dates), and parsing "6/9/2023" and writing it back as "2023-06-09" was a seventh
 * of the parsing thread. Two small direct-mapped caches skip both: a date cell's text (up
 * to DATE_TEXT_MAX bytes; longer ones, datetimes, are parsed each time) with the day it
 * parsed to, and a day with its ISO text. Only dates that parsed are kept, so a bad one is
 * parsed and reported every time; a source's zone and date order are fixed, so the same
 * text always gives the same day. */
#define DATE_SLOTS 4096 /* a power of two */
#define DATE_TEXT_MAX 15

typedef struct parsed_date {
    unsigned char n; /* 0: empty */
    char text[DATE_TEXT_MAX];
    kp_date day;
} parsed_date;

typedef struct iso_date {
    int used;
    kp_date day;
    char iso[KP_DATE_ISO_LEN];
} iso_date;

/* ---- interned texts ---------------------------------------------------------------
 *
 * Stages, forecast categories, types, lead sources, products and the currency take a few
 * values each, and a multi-row INSERT's parameter often holds the same one as in the
 * previous statement (in over half the rows of the bench export for stage, category and
 * type): queued as kp_bulk handles, such a parameter is not bound again. A table from
 * text to handle, indexed by the length and three bytes (a hash of the whole text cost
 * more than queueing it as plain text), a text in one of two slots; a text whose slots
 * hold others is queued as plain text, as are long texts and all texts once kp_bulk's
 * table is full. */
#define REF_SLOTS 1024 /* a power of two */
#define REF_TEXT_MAX 48

typedef struct ref_slot {
    int handle; /* a kp_bulk handle + 1; 0: empty */
    unsigned n;
    const char *text; /* kp_bulk's copy */
} ref_slot;

struct cell_cache {
    parsed_date parsed[DATE_SLOTS];
    iso_date iso[DATE_SLOTS];
    ref_slot ref[REF_SLOTS];
};

/* kp_value_parse_date of the trimmed text v (n > 0), through the cache. */
static int parse_date_cached(loader *L, const char *v, size_t n, kp_date *out)
{
    if (n > DATE_TEXT_MAX)
        return kp_value_parse_date(v, n, L->dates, L->tz, out);
    parsed_date *slot = &L->dc->parsed[lookup_hash(v, n) & (DATE_SLOTS - 1)];
    if (slot->n == n && !memcmp(slot->text, v, n)) {
        *out = slot->day;
        return 0;
    }
    int r = kp_value_parse_date(v, n, L->dates, L->tz, out);
    if (r == 0) {
        slot->n = (unsigned char)n;
        memcpy(slot->text, v, n);
        slot->day = *out;
    }
    return r;
}

/* The ISO text of day d (not NUL-terminated), through the cache. */
static const char *date_iso(loader *L, kp_date d)
{
    iso_date *slot = &L->dc->iso[(uint32_t)d & (DATE_SLOTS - 1)];
    if (!slot->used || slot->day != d) {
        char buf[KP_DATE_ISO_LEN + 1];
        kp_date_format_iso(d, buf);
        memcpy(slot->iso, buf, KP_DATE_ISO_LEN);
        slot->day = d;
        slot->used = 1;
    }
    return slot->iso;
}

/* ---- typed cells: each returns 1 with a value, 0 when empty, -1 (issue added) when bad */

static int get_date(loader *L, const kp_csv_record *rec, int col, kp_date *out)
{
    size_t n;
    const char *v = cell(rec, col, &n);
    if (!n)
        return 0;
    if (parse_date_cached(L, v, n, out) == 0)
        return 1;
    add_issue(L, "unparseable", 1, col, "%s: '%.*s' is not a date (expected YYYY-MM-DD or %s)",
              col_name(L, col), (int)(n > 64 ? 64 : n), v,
              L->dates == KP_DATES_DMY ? "D/M/YYYY" : "M/D/YYYY");
    return -1;
}

static int get_money(loader *L, const kp_csv_record *rec, int col, int64_t *cents,
                     char cur[4])
{
    size_t n;
    const char *v = cell(rec, col, &n);
    if (!n)
        return 0;
    if (kp_value_parse_money(v, n, L->src->decimal_comma, cents, cur) == 0)
        return 1;
    add_issue(L, "unparseable", 1, col, "%s: '%.*s' is not an amount (expected e.g. %s)",
              col_name(L, col), (int)(n > 64 ? 64 : n), v,
              L->src->decimal_comma ? "1.234,50" : "1234.50 or $1,234.50");
    return -1;
}

static int get_percent(loader *L, const kp_csv_record *rec, int col, double *out)
{
    size_t n;
    const char *v = cell(rec, col, &n);
    if (!n)
        return 0;
    if (kp_value_parse_percent(v, n, L->preset->pct_style, out) == 0)
        return 1;
    add_issue(L, "unparseable", 1, col, "%s: '%.*s' is not a percentage", col_name(L, col),
              (int)(n > 64 ? 64 : n), v);
    return -1;
}

static int get_bool(loader *L, const kp_csv_record *rec, int col, int *out)
{
    size_t n;
    const char *v = cell(rec, col, &n);
    if (col < 0)
        return 0;
    if (kp_value_parse_bool(v, n, out) == 0)
        return n ? 1 : 0;
    add_issue(L, "unparseable", 1, col, "%s: '%.*s' is not a yes/no value (1/0, true/false)",
              col_name(L, col), (int)(n > 64 ? 64 : n), v);
    return -1;
}

/* ---- queueing row values (kp_bulk copies them) ------------------------------------ */

static void out_text(loader *L, const char *v, size_t n)
{
    if (v && n)
        kp_bulk_text(L->bulk, v, n);
    else
        kp_bulk_null(L->bulk);
}

/* Trimmed text of col, NULL when absent or empty. */
static void out_cell(loader *L, const kp_csv_record *rec, int col)
{
    size_t n;
    const char *v = cell(rec, col, &n);
    out_text(L, v, n);
}

/* Intern v[0..n) into the empty slot; 0 when kp_bulk's table is full (the slot stays
 * empty). Apart from out_ref, which runs for every cell, as it runs once a text. */
static int ref_add(loader *L, ref_slot *slot, const char *v, size_t n)
{
    int h = kp_bulk_intern(L->bulk, v, n);
    if (h < 0)
        return 0;
    size_t rn;
    slot->text = kp_bulk_interned(L->bulk, h, &rn);
    slot->n = (unsigned)rn;
    slot->handle = h + 1;
    return 1;
}

/* a[0..n) == b[0..n) for 0 < n: up to 16 bytes by two loads each, overlapping when
 * fewer (a memcmp call was a third of out_ref). */
static int same_text(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return !memcmp(a, b, n);
}

/* Text v[0..n) (n > 0) as an interned text when it can be (see the top of the section). */
static void out_ref(loader *L, const char *v, size_t n)
{
    if (n <= REF_TEXT_MAX) {
        const unsigned char *u = (const unsigned char *)v;
        uint32_t k =
            (uint32_t)n | (uint32_t)u[0] << 8 | (uint32_t)u[n / 2] << 16 | (uint32_t)u[n - 1] << 24;
        size_t i = (k * 0x9e3779b1u) >> 22; /* the top 10 bits: REF_SLOTS */
        for (int probe = 0; probe < 2; probe++, i = (i + 1) & (REF_SLOTS - 1)) {
            ref_slot *slot = &L->dc->ref[i];
            if ((slot->handle && slot->n == n && same_text(slot->text, v, n)) ||
                (!slot->handle && ref_add(L, slot, v, n))) {
                kp_bulk_ref(L->bulk, slot->handle - 1);
                return;
            }
        }
    }
    kp_bulk_text(L->bulk, v, n);
}

/* Trimmed text of col as an interned text, NULL when absent or empty. */
static void out_cell_ref(loader *L, const kp_csv_record *rec, int col)
{
    size_t n;
    const char *v = cell(rec, col, &n);
    if (n)
        out_ref(L, v, n);
    else
        kp_bulk_null(L->bulk);
}

static void out_date(loader *L, int have, kp_date d)
{
    if (have > 0) {
        kp_bulk_text(L->bulk, date_iso(L, d), KP_DATE_ISO_LEN);
    } else {
        kp_bulk_null(L->bulk);
    }
}

/* ---- in-memory lookups ------------------------------------------------------------- */

/* The slot of key k (n bytes, hash h = lookup_hash(k, n)): its entry, or the empty slot
 * where it would go. h is passed in so that one hash serves the lookups by id and by name. */
static name_entry *map_find_hashed(const name_map *m, const char *k, size_t n, uint64_t h)
{
    if (!m->cap)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        name_entry *s = &m->slots[i];
        if (!s->key || (s->keylen == n && !memcmp(s->key, k, n)))
            return s;
    }
}

static name_entry *map_find(const name_map *m, const char *k, size_t n)
{
    return map_find_hashed(m, k, n, lookup_hash(k, n));
}

static int map_init(name_map *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 2)
        m->cap *= 2;
    return (m->slots = calloc(m->cap, sizeof *m->slots)) ? 0 : -1;
}

static int map_add(name_map *m, const char *k, const char *v)
{
    name_entry *s = map_find(m, k, strlen(k));
    if (!s->key) {
        s->key = strdup(k);
        s->keylen = strlen(k);
        s->value = strdup(v);
        if (!s->key || !s->value)
            return -1;
    }
    s->count++;
    return 0;
}

static void map_free(name_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        free(m->slots[i].value);
    }
    free(m->slots);
}

/* ---- duplicate deals without the unique index ------------------------------------------
 *
 * Each loaded deal's key goes into a Bloom filter of bounded size. A key the filter may
 * have seen before is a candidate. Every queued deal's 64-bit key hash also goes to a
 * spill file (8 bytes a row: the page cache's, not the process's memory), in insertion
 * order, so the i-th hash is the row of rowid base + 1 + i (the table appends; checked
 * after the rows). The candidates' hashes are kept in memory. After the rows, one
 * sequential read of the spill finds every row whose hash is a candidate's, among them
 * all the rows of every key that occurs twice, and SQL compares only those rows' real keys
 * (looked up by rowid): exact, without a scan of the snapshot. The candidates are also
 * queued into the table load_dup_candidates: when there are too many to keep (a file of
 * millions of deals for the filter's size) or the spill cannot be used, one SQL pass over
 * the snapshot finds which of them really occur twice, as before. Either way the later
 * rows of a key go to dq_issues and out of the table, as the unique index did.
 * Blocked: the k bits of a key lie in one 64-byte cache line, one cache miss per key.
 * Sized from the file: 64 bits a row at a guessed BLOOM_ROW_BYTES a row (real exports
 * have longer rows, so more bits a key), rounded down to a power of two, from 64 KiB up
 * to 2 MiB, where files up to 256 MiB stay, so that the load's peak memory is the same
 * for 100k and 1M deals (1 MiB for the 22 MB of the 100k-deal bench export, 2 MiB for the
 * 224 MB of the 1M one: 16 bits a deal, 93 false candidates; 8 MiB there made the peak
 * 21 MB against 14 MB at 100k). Bigger files (millions of deals) get 8 bits a row, up to
 * 8 MiB at 1 GiB: at 5M deals (1.1 GB) a 2 MiB filter made 646k false candidates, over
 * CANDIDATE_LIMIT, and the SQL pass cost 4 s; 4 MiB made 57k; 8 MiB 1.8k. A pipe (size
 * unknown) gets the largest. */
#define BLOOM_MIN_BYTES ((size_t)64 << 10)
#define BLOOM_FLAT_BYTES ((size_t)2 << 20)
#define BLOOM_MAX_BYTES ((size_t)8 << 20)
#define BLOOM_ROW_BYTES 128 /* few exports have shorter rows: the ids and dates alone ~60 */
#define BLOOM_K 8 /* bits a key, one in each 64-bit word of its block */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33; /* murmur3's finalizer: FNV-1a alone leaves the low bits weak */
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 33);
}

static uint64_t bloom_hash(const char *key, size_t n)
{
    return mix64(hash_text(key, n));
}

static uint64_t *bloom_block(uint64_t *bloom, size_t blocks, uint64_t h)
{
    return bloom + (size_t)(h & (blocks - 1)) * BLOOM_K; /* blocks: a power of two */
}

/* Ask for the key's block early: the filter is far bigger than the caches, and a row's
 * parsing hides the wait (the miss was a tenth of the parsing thread's time). */
static void bloom_prefetch(uint64_t *bloom, size_t blocks, uint64_t h)
{
#if defined(__GNUC__)
    __builtin_prefetch(bloom_block(bloom, blocks, h), 1);
#else
    (void)bloom, (void)blocks, (void)h;
#endif
}

/* Add the key of hash h; 1 when all its bits were set already (maybe seen before).
 * Split block: bit i is in word i of the key's block, at 6 bits of a second hash. */
static int bloom_add(uint64_t *bloom, size_t blocks, uint64_t h)
{
    uint64_t bits = mix64(h ^ 0x9e3779b97f4a7c15u), *block = bloom_block(bloom, blocks, h);
    int seen = 1;
    for (int i = 0; i < BLOOM_K; i++, bits >>= 6) {
        uint64_t m = (uint64_t)1 << (bits & 63);
        seen &= (block[i] & m) != 0;
        block[i] |= m;
    }
    return seen;
}

/* The filter's bytes for a file of file_bytes (-1: size unknown): 8 bytes (64 bits) for
 * each row the file could hold at BLOOM_ROW_BYTES a row up to BLOOM_FLAT_BYTES, one byte
 * a row past it, rounded down to a power of two (a mask, not a division, then picks a
 * key's block), within the limits above. */
size_t kp_load_bloom_bytes(long long file_bytes)
{
    if (file_bytes < 0)
        return BLOOM_MAX_BYTES;
    unsigned long long rows = (unsigned long long)file_bytes / BLOOM_ROW_BYTES,
                       want = rows * 8;
    if (want > BLOOM_FLAT_BYTES) /* past the flat part: 8 bits a row, from 2 MiB at 256 MiB */
        want = rows > BLOOM_FLAT_BYTES ? rows : BLOOM_FLAT_BYTES;
    size_t bytes = BLOOM_MIN_BYTES;
    while (bytes < BLOOM_MAX_BYTES && bytes * 2 <= want)
        bytes *= 2;
    return bytes;
}

/* The filter's size in 64-byte blocks for the file at path; for tests
 * KPIPRESS_TEST_FILTER_BYTES instead (rounded down to a power of two), small enough that
 * most keys become false candidates and the SQL pass must sort them out. */
static size_t bloom_blocks(const char *path)
{
    const char *t = getenv("KPIPRESS_TEST_FILTER_BYTES");
    if (!t || atol(t) < 64) {
        struct stat sb;
        int known = path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
        return kp_load_bloom_bytes(known ? (long long)sb.st_size : -1) / 64;
    }
    size_t bytes = (size_t)atol(t), blocks = 1;
    while (blocks * 2 <= bytes / 64)
        blocks *= 2;
    return blocks;
}

#define SPILL_BUF 8192        /* hashes: 64 KiB writes and reads */
/* Candidates' hashes kept: 2 MiB of set at most. 10M deals (2.3 GB, an 8 MiB filter) made
 * 114k: checked by the spill, 21.8 CPU s and 26.4 MB peak against 24.1 s and 26.1 MB for
 * the SQL pass. */
#define CANDIDATE_LIMIT 131072

/* Start the spill: an unlinked file in TMPDIR (nothing left behind however the run ends),
 * and the table's largest rowid before the rows. Without a file the SQL pass does the
 * work (off); only a failing query is an error. For tests, KPIPRESS_TEST_CANDIDATE_LIMIT
 * sets the limit (0: always the SQL pass) and KPIPRESS_TEST_HASH_BITS keeps that many
 * bits of each hash, so that different keys share one. */
static kp_err spill_open(key_spill *k, kp_store *s, kp_error *e)
{
    const char *t = getenv("KPIPRESS_TEST_CANDIDATE_LIMIT"),
               *bits = getenv("KPIPRESS_TEST_HASH_BITS");
    k->limit = t ? (size_t)atol(t) : CANDIDATE_LIMIT;
    k->mask = bits && atoi(bits) > 0 && atoi(bits) < 64 ? ((uint64_t)1 << atoi(bits)) - 1
                                                         : ~(uint64_t)0;
    kp_err rc = kp_store_query_int64(s, "SELECT max(rowid) FROM opportunity_snapshots", NULL, 0,
                                     &k->base, e);
    if (rc)
        return rc;
    const char *dir = getenv("TMPDIR");
    char path[KP_PATH_MAX];
    snprintf(path, sizeof path, "%s/kpipress-keys-XXXXXX", dir && *dir ? dir : "/tmp");
    k->fd = mkstemp(path);
    if (k->fd >= 0)
        unlink(path);
    if (k->fd < 0 || !(k->buf = malloc(SPILL_BUF * sizeof *k->buf)))
        k->off = 1;
    return KP_OK;
}

/* NULL-safe on a spill never opened (fd -1). */
static void spill_close(key_spill *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    free(k->buf);
    free(k->set);
    k->buf = k->set = NULL;
}

/* The buffered hashes to the file; a failure turns the spill off (the SQL pass remains). */
static void spill_flush(key_spill *k)
{
    const char *p = (const char *)k->buf;
    size_t left = k->n * sizeof *k->buf;
    while (!k->off && left) {
        ssize_t w = write(k->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            k->off = 1;
        else
            p += w, left -= (size_t)w;
    }
    k->n = 0;
}

/* The hash of the next row queued. */
static void spill_add(key_spill *k, uint64_t h)
{
    if (k->off)
        return;
    k->buf[k->n++] = h;
    k->rows++;
    if (k->n == SPILL_BUF)
        spill_flush(k);
}

static int candidate_has(const key_spill *k, uint64_t h)
{
    if (!h || !k->set)
        return h ? 0 : k->zero;
    for (size_t i = (size_t)h & (k->cap - 1);; i = (i + 1) & (k->cap - 1))
        if (k->set[i] == h || !k->set[i])
            return k->set[i] == h;
}

/* Keep a candidate's hash (the set doubles at half full). Over the limit, or out of
 * memory, the spill is off and its memory freed: the SQL pass takes over. */
static void candidate_add(key_spill *k, uint64_t h)
{
    if (k->off || (h ? k->set && candidate_has(k, h) : k->zero))
        return;
    if (k->used + (size_t)k->zero >= k->limit) {
        spill_close(k);
        k->off = 1;
        return;
    }
    if (!h) {
        k->zero = 1;
        return;
    }
    if (2 * (k->used + 1) > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        uint64_t *set = calloc(cap, sizeof *set), *old = k->set;
        if (!set) {
            spill_close(k);
            k->off = 1;
            return;
        }
        size_t oldcap = k->cap;
        k->set = set;
        k->cap = cap;
        k->used = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i])
                candidate_add(k, old[i]);
        free(old);
    }
    size_t i = (size_t)h & (k->cap - 1);
    while (k->set[i] && k->set[i] != h)
        i = (i + 1) & (k->cap - 1);
    k->used += !k->set[i];
    k->set[i] = h;
}

/* A deal just queued, by the hash of its key: recorded in the spill, and when the filter
 * may have seen the key before, kept and queued as a candidate. */
static kp_err filter_key(loader *L, uint64_t h, const char *key, size_t n, long line,
                         kp_error *e)
{
    h &= L->spill.mask;
    spill_add(&L->spill, h);
    if (!bloom_add(L->bloom, L->bloom_blocks, h))
        return KP_OK;
    L->candidates++;
    candidate_add(&L->spill, h);
    kp_bulk_row(L->bulk, ROW_CANDIDATE, line);
    kp_bulk_text(L->bulk, key, n);
    return kp_bulk_end(L->bulk, e);
}

/* Run a lookup statement with one or two text parameters; returns rows seen (max 2),
 * -1 on error. *first gets a copy of column 0 of the first row when non-NULL. */
static int lookup(kp_stmt *st, const char *a, size_t alen, const char *b, size_t blen,
                  char **first, kp_error *e)
{
    int rows = 0, rc;
    kp_stmt_reset(st);
    kp_stmt_bind_text(st, 1, a, alen);
    if (b)
        kp_stmt_bind_text(st, 2, b, blen);
    while (rows < 2 && (rc = kp_stmt_step(st, e)) == 1) {
        if (rows == 0 && first) {
            const char *t = kp_stmt_column_text(st, 0);
            *first = t ? dup_mem(t, strlen(t)) : NULL;
        }
        rows++;
    }
    if (rows < 2 && rc < 0)
        return -1;
    kp_stmt_reset(st);
    return rows;
}

/* ---- flushing while loading -------------------------------------------------------------
 *
 * SQLite writes the pages of a big load to the operating system as its page cache fills,
 * and the commit's fdatasync then waits until all of them are on the disk: a fifth of a
 * second at 1M deals, with both cores idle. A helper thread that asks for the same sync
 * every FLUSH_ROWS deals lets the disk write the pages while the rows are still being
 * parsed and inserted, so the commit finds little left to do. It reads the file through a
 * descriptor of its own (fdatasync works on the file, whoever wrote it); its failures are
 * ignored: the commit's own sync reports a real one. Crash safety does not change: the
 * pages written early are past the database's old end or already journalled, as when the
 * kernel writes them back on its own. */
#define FLUSH_ROWS 65536

static void *flusher_main(void *arg)
{
    flusher *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->kicks && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->stop)
            break;
        f->kicks = 0; /* kicks during a sync make one more, not one each */
        pthread_mutex_unlock(&f->mu);
        (void)fdatasync(f->fd);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Start flushing the database file at path (nothing for an in-memory one, or when the
 * file or a thread cannot be had: it only saves time). */
static void flusher_start(flusher *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || !*path || !strcmp(path, ":memory:") ||
        (f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->thread, NULL, flusher_main, f) == 0) {
        f->started = 1;
        return;
    }
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    close(f->fd);
    f->fd = -1;
}

static void flusher_kick(flusher *f)
{
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->kicks++;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void flusher_stop(flusher *f)
{
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stop = 1;
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        f->started = 0;
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* ---- rows of each kind ----------------------------------------------------------------- */

static kp_err row_rep(loader *L, const kp_csv_record *rec, kp_error *e)
{
    const cols *c = &L->c;
    size_t idn, namen;
    const char *id = cell(rec, c->rep_id, &idn);
    cell(rec, c->name, &namen);
    kp_date hire = 0;
    int active = 1;
    if (!idn)
        add_issue(L, "missing_required", 1, c->rep_id, "%s: rep id is empty",
                  col_name(L, c->rep_id));
    if (!namen)
        add_issue(L, "missing_required", 1, c->name, "%s: rep name is empty",
                  col_name(L, c->name));
    int have_hire = get_date(L, rec, c->hire_date, &hire);
    int a;
    if (get_bool(L, rec, c->active, &a) == 1)
        active = a;
    if (idn) {
        int n = lookup(L->q_rep_id, id, idn, NULL, 0, NULL, e);
        if (n < 0)
            return e->code;
        if (n > 0)
            add_issue(L, "duplicate_id", 1, c->rep_id, "%s: rep id '%.*s' appears twice",
                      col_name(L, c->rep_id), (int)idn, id);
    }
    if (has_reject(L))
        return KP_OK;
    kp_bulk_row(L->bulk, ROW_DATA, rec->line);
    out_text(L, id, idn);
    out_cell(L, rec, c->name);
    out_cell(L, rec, c->email);
    out_cell(L, rec, c->team);
    out_cell(L, rec, c->region);
    out_cell(L, rec, c->manager);
    out_date(L, have_hire, hire);
    kp_bulk_int(L->bulk, active);
    return kp_bulk_end(L->bulk, e);
}

/* The rep's accepted period that overlaps start..end and starts first, or NULL. */
static const quota_period *overlapping(const loader *L, const name_entry *rep, kp_date start,
                                       kp_date end)
{
    const quota_period *best = NULL;
    for (size_t i = rep ? rep->quotas : 0; i; i = L->periods[i - 1].next) {
        const quota_period *p = &L->periods[i - 1];
        if (p->start <= end && p->end >= start && (!best || p->start < best->start))
            best = p;
    }
    return best;
}

/* Chain an accepted period to its rep (rep: in the map, as a row is only accepted then). */
static int add_period(loader *L, name_entry *rep, kp_date start, kp_date end)
{
    if (L->nperiods == L->periods_cap) {
        size_t cap = L->periods_cap ? 2 * L->periods_cap : 256;
        quota_period *p = realloc(L->periods, cap * sizeof *p);
        if (!p)
            return -1;
        L->periods = p;
        L->periods_cap = cap;
    }
    L->periods[L->nperiods++] = (quota_period){start, end, rep->quotas};
    rep->quotas = L->nperiods;
    return 0;
}

static kp_err row_quota(loader *L, const kp_csv_record *rec, kp_error *e)
{
    const cols *c = &L->c;
    size_t idn;
    const char *id = cell(rec, c->rep_id, &idn);
    kp_date start = 0, end = 0;
    int64_t cents = 0;
    char cur[4];
    if (!idn)
        add_issue(L, "missing_required", 1, c->rep_id, "%s: quota owner is empty",
                  col_name(L, c->rep_id));
    int hs = get_date(L, rec, c->period_start, &start);
    if (hs == 0)
        add_issue(L, "missing_required", 1, c->period_start, "%s: start date is empty",
                  col_name(L, c->period_start));
    int he = get_date(L, rec, c->period_end, &end);
    int ha = get_money(L, rec, c->amount, &cents, cur);
    if (ha == 0)
        add_issue(L, "missing_required", 1, c->amount, "%s: quota amount is empty",
                  col_name(L, c->amount));
    if (ha > 0 && cents < 0)
        add_issue(L, "negative_amount", 1, c->amount, "%s: quota amount is negative",
                  col_name(L, c->amount));
    if (hs > 0 && he == 0) {
        /* Monthly quotas: a period without an end runs to the end of its month. */
        end = kp_date_month_start(start, 1) - 1;
        he = 1;
    }
    if (hs > 0 && he > 0 && end < start)
        add_issue(L, "period_end_before_start", 1, c->period_end,
                  "%s: the quota period ends before it starts", col_name(L, c->period_end));
    name_entry *rep = idn ? map_find(&L->rep_ids, id, idn) : NULL;
    if (rep && !rep->key)
        rep = NULL;
    if (idn && !rep)
        add_issue(L, "quota_unknown_rep", 1, c->rep_id,
                  "%s: '%.*s' is not a rep_id in the reps source", col_name(L, c->rep_id),
                  (int)(idn > 64 ? 64 : idn), id);
    char sb[KP_DATE_ISO_LEN + 1], eb[KP_DATE_ISO_LEN + 1];
    if (idn && hs > 0 && he > 0 && end >= start) {
        kp_date_format_iso(start, sb);
        kp_date_format_iso(end, eb);
        const quota_period *o = overlapping(L, rep, start, end);
        if (o) {
            char ob[KP_DATE_ISO_LEN + 1];
            kp_date_format_iso(o->start, ob);
            add_issue(L, "quota_overlap", 1, c->period_start,
                      "%s: quota %s..%s overlaps the quota of '%.*s' starting %s",
                      col_name(L, c->period_start), sb, eb, (int)(idn > 64 ? 64 : idn), id,
                      ob);
        }
    }
    if (has_reject(L))
        return KP_OK;
    if (add_period(L, rep, start, end))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    kp_bulk_row(L->bulk, ROW_DATA, rec->line);
    out_text(L, id, idn);
    out_text(L, sb, KP_DATE_ISO_LEN);
    out_text(L, eb, KP_DATE_ISO_LEN);
    kp_bulk_int(L->bulk, cents);
    return kp_bulk_end(L->bulk, e);
}

/* ok = 1 and *v set for "open", "won", "lost" (Pipedrive's deal status). */
static int parse_status(const char *s, size_t n, int *closed, int *won)
{
    if (kp_presets_header_eq(s, n, "open")) {
        *closed = *won = 0;
        return 1;
    }
    if (kp_presets_header_eq(s, n, "won")) {
        *closed = *won = 1;
        return 1;
    }
    if (kp_presets_header_eq(s, n, "lost")) {
        *closed = 1;
        *won = 0;
        return 1;
    }
    return 0;
}

/* The rule whose stage equals stage ignoring case and surrounding blanks. An export
 * nearly always writes a stage exactly as its rule does, so the bytes are compared first
 * (a fraction of the cost of the comparison ignoring case); no two rules are equal
 * ignoring case (see add_rule), so a rule that matches exactly is the only match. */
static const kp_stage_rule *find_rule(const loader *L, const char *stage, size_t n)
{
    stage = kp_value_trim(stage, &n);
    for (size_t i = 0; i < L->nrules; i++)
        if (L->rule_len[i] == n && !memcmp(stage, L->rule_text[i], n))
            return &L->rules[i];
    for (size_t i = 0; i < L->nrules; i++)
        if (L->rule_len[i] == n && kp_presets_header_eq(stage, n, L->rules[i].stage))
            return &L->rules[i];
    return NULL;
}

static const rate *find_rate(const loader *L, const char *cur, kp_date month)
{
    for (size_t i = 0; i < L->nrates; i++)
        if (L->rates[i].month == month && !strcmp(L->rates[i].currency, cur))
            return &L->rates[i];
    return NULL;
}

/* Amount in another currency than the job's: into the job's currency at the rate of the
 * close month (the as-of month for a deal without a close date). 0 when converted or
 * nothing to do; -1 with an issue when no rate is known. */
static int convert_amount(loader *L, int col, const char *cur, kp_date when, int64_t *cents,
                          int64_t *orig)
{
    kp_date month = kp_date_month_start(when, 0);
    const rate *r = find_rate(L, cur, month);
    int y, m;
    kp_date_to_ymd(month, &y, &m, NULL);
    if (!r) {
        if (L->nrates)
            add_issue(L, "no_rate", 1, col, "%s: no %s rate for %04d-%02d in the rates source",
                      col_name(L, col), cur, y, m);
        else
            add_issue(L, "no_rate", 1, col,
                      "%s: the amount is in %s, the job's currency is %s: add a rates source "
                      "(currency, month, rate) with the %s rate for %04d-%02d",
                      col_name(L, col), cur, L->job->currency, cur, y, m);
        return -1;
    }
    *orig = *cents;
    *cents = (int64_t)llround((double)*cents * r->rate);
    return 0;
}

static kp_err row_opp(loader *L, const kp_csv_record *rec, kp_error *e)
{
    const cols *c = &L->c;
    kp_err rc = KP_OK;
    char *key = NULL;
    const char *owner_id = NULL;
    size_t idn, namen, stagen, ownern, accn;
    const char *id = cell(rec, c->opp_id, &idn);
    const char *name = cell(rec, c->name, &namen);
    const char *stage = cell(rec, c->stage, &stagen);
    const char *owner = cell(rec, c->owner, &ownern);
    const char *account = cell(rec, c->account, &accn);
    kp_date created = 0, closed_on = 0;
    int64_t cents = 0, orig_cents = 0;
    char cur[4] = "", deal_cur[4] = "";
    double prob = -1;
    uint64_t key_hash = 0;
    if (L->bloom && c->opp_id >= 0) {
        key_hash = bloom_hash(id ? id : "", idn);
        bloom_prefetch(L->bloom, L->bloom_blocks, key_hash);
    }

    int hc = get_date(L, rec, c->created_date, &created);
    int hd = get_date(L, rec, c->close_date, &closed_on);
    int ha = get_money(L, rec, c->amount, &cents, cur);
    int hp = get_percent(L, rec, c->probability, &prob);

    /* The key. Report exports often have no id column; then the deal is identified by
     * name + account + created date joined with '|': stable across exports of the same
     * CRM (a line number is not), at the price that renaming a deal makes it a new one. */
    size_t keyn;
    if (c->opp_id >= 0) {
        if (!idn)
            add_issue(L, "missing_required", 1, c->opp_id, "%s: opportunity id is empty",
                      col_name(L, c->opp_id));
        keyn = idn;
    } else {
        char cb[KP_DATE_ISO_LEN + 1] = "";
        if (hc > 0)
            kp_date_format_iso(created, cb);
        if (!namen)
            add_issue(L, "missing_required", 1, c->name,
                      "%s: opportunity name is empty (the file has no id column, so name, "
                      "account and created date identify a deal)",
                      col_name(L, c->name));
        size_t cap = namen + accn + sizeof cb + 3;
        if ((key = malloc(cap)) == NULL)
            return kp_error_set(e, KP_ERR_NOMEM, L->src->path, rec->line, 0, "out of memory");
        snprintf(key, cap, "%.*s|%.*s|%s", (int)namen, name ? name : "", (int)accn,
                 account ? account : "", cb);
        keyn = strlen(key);
    }
    if (!stagen)
        add_issue(L, "missing_required", 1, c->stage, "%s: stage is empty",
                  col_name(L, c->stage));

    /* Closed/won: the export's own flags, else Pipedrive-style status, else stage rule. */
    const kp_stage_rule *rule = stagen ? find_rule(L, stage, stagen) : NULL;
    int is_closed = 0, is_won = 0, decided = 0;
    if (c->is_closed >= 0 || c->is_won >= 0) {
        int a = 0, b = 0;
        int ra = get_bool(L, rec, c->is_closed, &a), rb = get_bool(L, rec, c->is_won, &b);
        if (ra >= 0 && rb >= 0) {
            is_won = b;
            is_closed = a || b;
            decided = 1;
        }
    }
    size_t stn;
    const char *status = cell(rec, c->status, &stn);
    if (!decided && stn) {
        if (parse_status(status, stn, &is_closed, &is_won))
            decided = 1;
        else
            add_issue(L, "unparseable", 1, c->status,
                      "%s: '%.*s' is not a deal status (open, won, lost)",
                      col_name(L, c->status), (int)(stn > 64 ? 64 : stn), status);
    }
    if (!decided && rule) {
        is_closed = rule->is_closed;
        is_won = rule->is_won;
        decided = 1;
    }
    if (stagen && !rule && !L->preset->open_unknown_stages) {
        const char *where = L->job->nstages ? " or [stages]" : "";
        if (!decided)
            add_issue(L, "unknown_stage", 1, c->stage,
                      "%s: '%.*s' is not a stage of the %s preset%s, so whether the deal is "
                      "closed or won is unknown",
                      col_name(L, c->stage), (int)(stagen > 64 ? 64 : stagen), stage,
                      L->preset->name, where);
        else
            add_issue(L, "unknown_stage", 0, c->stage,
                      "%s: '%.*s' is not a stage of the %s preset%s (closed/won taken from "
                      "the export)",
                      col_name(L, c->stage), (int)(stagen > 64 ? 64 : stagen), stage,
                      L->preset->name, where);
    }
    /* Pipedrive keeps a closed deal's expected close date as it was planned and records
     * when the deal was won (lost) apart: that is the date it closed on, the month its
     * bookings belong to. */
    if (is_closed) {
        kp_date t;
        if (get_date(L, rec, is_won ? c->won_time : c->lost_time, &t) > 0) {
            closed_on = t;
            hd = 1;
        }
    }
    /* Legal, but no period can place the deal: say so, or a won deal's amount silently
     * leaves every period's bookings and a forecast of undated open deals reads as an
     * empty pipeline. */
    if (decided && hd == 0)
        add_issue(L, "missing_close_date", 0, c->close_date,
                  is_closed ? "%s: the closed deal has no close date, so it counts in no "
                              "period (bookings, deals won or lost)"
                            : "%s: the open deal has no close date, so it is left out of the "
                              "pipeline due in a period and of the pipeline forecast",
                  col_name(L, c->close_date));
    if (hp == 0 && rule && rule->probability >= 0) {
        prob = rule->probability;
        hp = 1;
    }
    if (hp > 0 && (prob < 0 || prob > 1))
        add_issue(L, "probability_out_of_range", 1, c->probability,
                  "%s: probability %g%% is outside 0..100%%", col_name(L, c->probability),
                  prob * 100);
    if (ha > 0 && cents < 0)
        add_issue(L, "negative_amount", 1, c->amount, "%s: amount is negative",
                  col_name(L, c->amount));
    if (is_won && ha == 0)
        add_issue(L, "won_without_amount", 0, c->amount, "%s: a won deal has no amount",
                  col_name(L, c->amount));
    /* A warning, not a reject: deals imported into a CRM after the fact carry the import
     * date as created date (the Salesforce demo extract does), and are real deals. */
    if (hc > 0 && hd > 0 && closed_on < created)
        add_issue(L, "close_before_created", 0, c->close_date,
                  "%s: the close date is before the created date", col_name(L, c->close_date));
    if (c->account >= 0 && !accn)
        add_issue(L, "missing_account", 0, c->account, "%s: the deal has no account",
                  col_name(L, c->account));

    /* The deal's currency: its column, else a code or symbol in the amount. */
    size_t curn;
    const char *curv = cell(rec, c->currency, &curn);
    if (curn == 3)
        for (int k = 0; k < 3; k++)
            deal_cur[k] = (char)(curv[k] >= 'a' && curv[k] <= 'z' ? curv[k] - 32 : curv[k]);
    else if (curn)
        add_issue(L, "unparseable", 1, c->currency,
                  "%s: '%.*s' is not a three-letter currency code like EUR",
                  col_name(L, c->currency), (int)(curn > 64 ? 64 : curn), curv);
    else
        memcpy(deal_cur, cur, sizeof cur);
    int converted = 0;
    if (ha > 0 && deal_cur[0] && L->job->currency && strcmp(deal_cur, L->job->currency)) {
        if (convert_amount(L, c->amount, deal_cur, hd > 0 ? closed_on : L->job->as_of, &cents,
                           &orig_cents) == 0)
            converted = 1;
    }

    /* Owner: a rep_id, else exactly one rep of that name, else kept as written. */
    if (ownern) {
        uint64_t h = lookup_hash(owner, ownern);
        const name_entry *ent = map_find_hashed(&L->rep_ids, owner, ownern, h);
        int n = ent && ent->key ? 1 : 0;
        if (!n) {
            ent = map_find_hashed(&L->rep_names, owner, ownern, h);
            n = ent && ent->key ? ent->count : 0;
            if (n == 1)
                owner_id = ent->value;
        }
        if (n != 1)
            add_issue(L, "owner_not_in_reps", 0, c->owner,
                      n == 0 ? "%s: '%.*s' is neither a rep_id nor a rep name in reps"
                             : "%s: '%.*s' is the name of several reps",
                      col_name(L, c->owner), (int)(ownern > 64 ? 64 : ownern), owner);
    } else {
        add_issue(L, "owner_not_in_reps", 0, c->owner, "%s: the deal has no owner",
                  col_name(L, c->owner));
    }

    if (has_reject(L))
        goto fail;
    kp_bulk *b = L->bulk;
    kp_bulk_row(b, ROW_DATA, rec->line); /* as_of: the kind's shared first column */
    kp_bulk_text(b, key ? key : id ? id : "", keyn);
    out_cell(L, rec, c->name);
    out_cell(L, rec, c->account);
    if (owner_id)
        kp_bulk_text(b, owner_id, strlen(owner_id));
    else
        out_cell(L, rec, c->owner);
    if (stagen)
        out_ref(L, stage, stagen);
    else
        kp_bulk_null(b);
    if (ha > 0)
        kp_bulk_int(b, cents);
    else
        kp_bulk_null(b);
    const char *jc = L->job->currency;
    if (converted || !deal_cur[0]) {
        if (jc && *jc)
            out_ref(L, jc, strlen(jc));
        else
            kp_bulk_null(b);
    } else {
        out_ref(L, deal_cur, 3);
    }
    if (hp > 0)
        kp_bulk_real(b, prob);
    else
        kp_bulk_null(b);
    size_t fcn;
    const char *fc = cell(rec, c->forecast_category, &fcn);
    if (!fcn && rule && rule->forecast_category)
        fcn = strlen(fc = rule->forecast_category);
    if (fcn)
        out_ref(L, fc, fcn);
    else
        kp_bulk_null(b);
    out_cell_ref(L, rec, c->type);
    out_cell_ref(L, rec, c->lead_source);
    out_cell_ref(L, rec, c->product);
    out_date(L, hc, created);
    out_date(L, hd, closed_on);
    kp_bulk_int(b, is_closed);
    kp_bulk_int(b, is_won);
    kp_bulk_int(b, rec->line);
    if (converted) {
        kp_bulk_int(b, orig_cents);
        kp_bulk_text(b, deal_cur, 3);
    } else {
        kp_bulk_null(b);
        kp_bulk_null(b);
    }
    rc = kp_bulk_end(b, e);
    if (!rc && L->bloom && key)
        key_hash = bloom_hash(key, keyn);
    if (!rc && L->bloom)
        rc = filter_key(L, key_hash, key ? key : id, keyn, rec->line, e);
fail:
    free(key);
    return rc;
}

/* Activity types that count as selling time when the export has no selling flag. */
static int selling_type(const char *t, size_t n)
{
    static const char *const types[] = {"call", "meeting", "demo", "presentation", "email",
                                        "event", "visit", NULL};
    for (size_t i = 0; types[i]; i++)
        if (kp_presets_header_eq(t, n, types[i]))
            return 1;
    return 0;
}

/* A row of an optional source, driven by the preset's field table: each field parsed by
 * its type, required ones present, money not negative, rates positive, and the two
 * derived flags (activities.selling, leads.is_converted) filled when not given. */
static kp_err row_optional(loader *L, const kp_csv_record *rec, kp_error *e)
{
    const kp_field_def *defs = L->preset->fields[L->src->kind];
    size_t ndefs = L->preset->nfields[L->src->kind];
    kp_bulk *b = L->bulk;
    struct {
        int have;
        int64_t i;
        double d;
        kp_date date;
    } v[KP_BULK_MAX_COLS];
    memset(v, 0, sizeof v);
    for (size_t k = 0; k < ndefs; k++) {
        int col = L->ocol[k];
        size_t n;
        const char *t = cell(rec, col, &n);
        const kp_field_def *d = &defs[k];
        char cur[4];
        switch (d->type) {
        case KP_VT_DATE: v[k].have = get_date(L, rec, col, &v[k].date); break;
        case KP_VT_MONEY:
            v[k].have = get_money(L, rec, col, &v[k].i, cur);
            if (v[k].have > 0 && v[k].i < 0)
                add_issue(L, "negative_amount", 1, col, "%s: amount is negative",
                          col_name(L, col));
            break;
        case KP_VT_BOOL: {
            int x = 0;
            v[k].have = get_bool(L, rec, col, &x);
            v[k].i = x;
            break;
        }
        case KP_VT_MONTH:
            if (!n)
                break;
            v[k].have = kp_value_parse_month(t, n, L->dates, &v[k].date) == 0 ? 1 : -1;
            if (v[k].have < 0)
                add_issue(L, "unparseable", 1, col,
                          "%s: '%.*s' is not a month (expected YYYY-MM or a date)",
                          col_name(L, col), (int)(n > 64 ? 64 : n), t);
            break;
        case KP_VT_INT:
        case KP_VT_NUMBER:
        case KP_VT_PERCENT: {
            if (!n)
                break;
            double x;
            int ok = kp_value_parse_percent(t, n, KP_PCT_FRACTION, &x) == 0 && x >= 0 &&
                     (d->type != KP_VT_INT || x == floor(x));
            v[k].have = ok ? 1 : -1;
            v[k].d = x;
            v[k].i = ok ? (int64_t)x : 0;
            if (!ok)
                add_issue(L, "unparseable", 1, col, "%s: '%.*s' is not a %s", col_name(L, col),
                          (int)(n > 64 ? 64 : n), t,
                          d->type == KP_VT_INT ? "whole number" : "positive number");
            break;
        }
        default: v[k].have = n ? 1 : 0; break;
        }
        if (d->required && v[k].have == 0)
            add_issue(L, "missing_required", 1, col, "%s: %s is empty", col_name(L, col),
                      d->field);
        if (L->src->kind == KP_SRC_RATES && !strcmp(d->field, "currency") && n &&
            (n != 3 || !(t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z' &&
                         t[2] >= 'A' && t[2] <= 'Z')))
            add_issue(L, "unparseable", 1, col,
                      "%s: '%.*s' is not a three-letter currency code like EUR",
                      col_name(L, col), (int)(n > 64 ? 64 : n), t);
        if (d->type == KP_VT_NUMBER && v[k].have > 0 && !(v[k].d > 0))
            add_issue(L, "unparseable", 1, col, "%s: a rate must be above 0", col_name(L, col));
    }
    if (L->src->kind == KP_SRC_SUBSCRIPTIONS && v[2].have > 0 && v[3].have > 0 &&
        v[3].date < v[2].date)
        add_issue(L, "period_end_before_start", 1, L->ocol[3],
                  "%s: the subscription ends before it starts", col_name(L, L->ocol[3]));
    if (has_reject(L))
        return KP_OK;
    kp_bulk_row(b, ROW_DATA, rec->line);
    for (size_t k = 0; k < ndefs; k++) {
        const kp_field_def *d = &defs[k];
        if (v[k].have <= 0 && d->type == KP_VT_BOOL) {
            /* Derived flags of NOT NULL columns. */
            size_t n = 0;
            const char *t = NULL;
            if (!strcmp(d->field, "selling"))
                t = cell(rec, L->ocol[2], &n); /* activities.type */
            kp_bulk_int(b, !strcmp(d->field, "selling") ? selling_type(t ? t : "", n)
                                                        : v[2].have > 0); /* converted_date */
            continue;
        }
        if (v[k].have <= 0) {
            kp_bulk_null(b);
            continue;
        }
        switch (d->type) {
        case KP_VT_DATE:
        case KP_VT_MONTH: out_date(L, 1, v[k].date); break;
        case KP_VT_MONEY:
        case KP_VT_BOOL:
        case KP_VT_INT: kp_bulk_int(b, v[k].i); break;
        case KP_VT_NUMBER:
        case KP_VT_PERCENT: kp_bulk_real(b, v[k].d); break;
        default: out_cell(L, rec, L->ocol[k]); break;
        }
    }
    kp_bulk_int(b, rec->line);
    return kp_bulk_end(b, e);
}

/* ---- issues and rejects ------------------------------------------------------------- */

static kp_err write_issue(loader *L, long line, const char *colname, const char *value,
                          size_t vlen, const issue *is, kp_error *e)
{
    kp_bulk *b = L->bulk;
    kp_bulk_row(b, ROW_ISSUE, line);
    kp_bulk_text(b, L->as_of, KP_DATE_ISO_LEN);
    kp_bulk_text(b, L->src->name, strlen(L->src->name));
    kp_bulk_int(b, line);
    out_text(L, colname, colname ? strlen(colname) : 0);
    kp_bulk_text(b, is->rule, strlen(is->rule));
    kp_bulk_text(b, is->reject ? "reject" : "warning", is->reject ? 6 : 7);
    if (value)
        kp_bulk_text(b, value, vlen);
    else
        kp_bulk_null(b);
    kp_bulk_text(b, is->msg, strlen(is->msg));
    return kp_bulk_end(b, e);
}

static kp_err open_rejects(loader *L, size_t nraw, const char *const *raw, kp_error *e)
{
    kp_err rc;
    char path[KP_PATH_MAX], safe[KP_NAME_MAX];
    kp_vars_sanitize_component(L->src->name, safe, sizeof safe);
    snprintf(path, sizeof path, "%s/rejects/%s.csv", L->job->output_dir, safe);
    if ((rc = kp_outfile_begin(&L->rej, path, e)) != KP_OK)
        return rc;
    if (!(L->rej_f = fopen(L->rej.tmp_path, "w"))) {
        rc = kp_error_set(e, KP_ERR_IO, L->rej.tmp_path, 0, 0, "cannot create: %s",
                          strerror(errno));
        kp_outfile_abort(&L->rej);
        return rc;
    }
    const char *fixed[4] = {"line", "column", "rule", "message"};
    const char **hdr = malloc((nraw + 4) * sizeof *hdr);
    if (!hdr)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    memcpy(hdr, fixed, sizeof fixed);
    memcpy(hdr + 4, raw, nraw * sizeof *hdr);
    int w = kp_csv_write_record(L->rej_f, nraw + 4, hdr);
    free(hdr);
    return w ? kp_error_set(e, KP_ERR_IO, L->rej.tmp_path, 0, 0, "write error") : KP_OK;
}


static kp_err write_reject(loader *L, long line, const issue *is, size_t nraw,
                           const char *const *raw, kp_error *e)
{
    kp_err rc;
    if (L->first_line == 0) {
        L->first_line = line;
        L->first_col = is->col + 1;
        snprintf(L->first_msg, sizeof L->first_msg, "%s", is->msg);
        snprintf(L->first_colname, sizeof L->first_colname, "%s", col_name(L, is->col));
    }
    if (!L->job->output_dir)
        return KP_OK;
    if (!L->rej_f && (rc = open_rejects(L, L->ncols, (const char *const *)L->header, e)))
        return rc;
    char lb[24], cb[24];
    snprintf(lb, sizeof lb, "%ld", line);
    snprintf(cb, sizeof cb, "%d", is->col + 1);
    const char **row = malloc((nraw + 4) * sizeof *row);
    if (!row)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    row[0] = lb;
    row[1] = is->col >= 0 ? cb : "";
    row[2] = is->rule;
    row[3] = is->msg;
    memcpy(row + 4, raw, nraw * sizeof *row);
    int w = kp_csv_write_record(L->rej_f, nraw + 4, row);
    free(row);
    return w ? kp_error_set(e, KP_ERR_IO, L->rej.tmp_path, 0, 0, "write error") : KP_OK;
}

/* After a row's checks: its issues into dq_issues, the row into the rejects file when
 * any issue rejects it, and the counters. */
static kp_err finish_row(loader *L, const kp_csv_record *rec, kp_error *e)
{
    kp_err rc;
    const issue *first_reject = NULL;
    int warned = 0;
    for (size_t i = 0; i < L->nissues; i++) {
        const issue *is = &L->issues[i];
        size_t n = 0;
        const char *v = is->col >= 0 ? cell(rec, is->col, &n) : NULL;
        if ((rc = write_issue(L, rec->line, col_name(L, is->col), v, n, is, e)))
            return rc;
        if (is->reject && !first_reject)
            first_reject = is;
        warned |= !is->reject;
    }
    if (first_reject) {
        L->stats->rows_rejected[L->index]++;
        return write_reject(L, rec->line, first_reject, rec->nfields, rec->fields, e);
    }
    L->stats->rows_loaded[L->index]++;
    L->stats->rows_warned[L->index] += warned;
    return KP_OK;
}

/* ---- footers, encoding, header ----------------------------------------------------- */

static int starts_with(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !memcmp(s, prefix, k);
}

static int contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k))
            return 1;
    return 0;
}

/* Salesforce report exports end with a blank row, "Grand Totals (N records)", a blank
 * row, a confidentiality line and a copyright line, each one field wide. */
static int is_footer(const char *s, size_t n)
{
    s = kp_value_trim(s, &n);
    return n == 0 || starts_with(s, n, "Grand Totals (") ||
           kp_presets_header_eq(s, n, "Confidential Information - Do Not Distribute") ||
           (starts_with(s, n, "Copyright (c)") && contains(s, n, "salesforce.com"));
}

/* A Grand Totals row as wide as the header: a Salesforce report with a summarised column
 * writes the total (e.g. of Amount) in that column, the other fields empty. Its first
 * field says what it is; the rest is a sum, not a deal. */
static int is_wide_grand_total(const kp_csv_record *rec, size_t ncols)
{
    if (rec->nfields != ncols || ncols < 2)
        return 0;
    size_t n = rec->lens[0];
    const char *s = kp_value_trim(rec->fields[0], &n);
    return starts_with(s, n, "Grand Totals (") && s[n - 1] == ')';
}

/* Windows-1252 bytes 0x80..0x9F; the rest of the high half is Latin-1. The five bytes
 * Windows leaves undefined map to the C1 controls, as Windows itself converts them. */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

static kp_err convert_cp1252(loader *L, const kp_csv_record *in, kp_csv_record *out,
                             kp_error *e)
{
    size_t need = 0;
    for (size_t i = 0; i < in->nfields; i++)
        need += in->lens[i] * 3 + 1;
    if (need > L->conv_cap) {
        char *p = realloc(L->conv, need);
        if (!p)
            return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        L->conv = p;
        L->conv_cap = need;
    }
    if (in->nfields > L->cfields_cap) {
        const char **f = realloc(L->cfields, in->nfields * sizeof *f);
        if (f)
            L->cfields = f;
        size_t *l = f ? realloc(L->clens, in->nfields * sizeof *l) : NULL;
        if (!l)
            return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        L->clens = l;
        L->cfields_cap = in->nfields;
    }
    size_t o = 0;
    for (size_t i = 0; i < in->nfields; i++) {
        size_t start = o;
        for (size_t k = 0; k < in->lens[i]; k++) {
            unsigned char b = (unsigned char)in->fields[i][k];
            unsigned cp = b < 0x80 ? b : b < 0xA0 ? cp1252_high[b - 0x80] : b;
            if (cp < 0x80) {
                L->conv[o++] = (char)cp;
            } else if (cp < 0x800) {
                L->conv[o++] = (char)(0xC0 | (cp >> 6));
                L->conv[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                L->conv[o++] = (char)(0xE0 | (cp >> 12));
                L->conv[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                L->conv[o++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        L->conv[o++] = '\0';
        L->cfields[i] = L->conv + start;
        L->clens[i] = o - start - 1;
    }
    *out = *in;
    out->fields = L->cfields;
    out->lens = L->clens;
    out->bytes = NULL;
    out->nbytes = 0;
    return KP_OK;
}

/* Offset of the first byte >= 0x80 in s, or n: eight bytes at a time, because most
 * fields are ASCII and validating them byte by byte was 6% of a load. */
static size_t ascii_prefix(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080u)
            break;
    }
    while (i < n && !((unsigned char)s[i] & 0x80))
        i++;
    return i;
}

/* 1 when s[0..n) is all ASCII: the bytes ORed together, which compilers vectorise. */
static int all_ascii(const char *s, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= (unsigned char)s[i];
    return !(acc & 0x8080808080808080u);
}

static kp_err check_utf8(loader *L, const kp_csv_record *rec, kp_error *e)
{
    /* Most records are ASCII: one pass over the record's bytes instead of one per field
     * (the per-field loops were a tenth of the parsing thread). */
    if (rec->bytes && all_ascii(rec->bytes, rec->nbytes))
        return KP_OK;
    for (size_t i = 0; i < rec->nfields; i++) {
        size_t a = ascii_prefix(rec->fields[i], rec->lens[i]);
        /* The ASCII prefix ends on a character boundary: validate the rest alone. */
        if (a < rec->lens[i] && !kp_utf8_valid(rec->fields[i] + a, rec->lens[i] - a))
            return kp_error_set(e, KP_ERR_DATA, L->src->path, rec->line, (long)i + 1,
                                "invalid UTF-8 in field %zu; if the file was saved by Excel "
                                "on Windows, set `encoding = cp1252` in [source %s] or save "
                                "it as CSV UTF-8",
                                i + 1, L->src->name);
    }
    return KP_OK;
}

static int find_header(const loader *L, const char *name)
{
    for (size_t i = 0; i < L->ncols; i++)
        if (kp_presets_header_eq(L->header[i], strlen(L->header[i]), name))
            return (int)i;
    return -1;
}

static int *slot(cols *c, const char *field)
{
    for (size_t i = 0; i < sizeof col_slots / sizeof col_slots[0]; i++)
        if (!strcmp(col_slots[i].field, field))
            return (int *)((char *)c + col_slots[i].off);
    return NULL;
}

static void list_aliases(const kp_field_def *d, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; d->headers[i] && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s\"%s\"", i ? ", " : "", d->headers[i]);
}

static kp_err on_header(loader *L, const kp_csv_record *rec, kp_error *e)
{
    const kp_source *src = L->src;
    const kp_field_def *defs = L->preset->fields[src->kind];
    size_t ndefs = L->preset->nfields[src->kind];
    char aliases[600];

    L->have_header = 1;
    if (!(L->header = calloc(rec->nfields, sizeof *L->header)))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    L->ncols = rec->nfields;
    for (size_t i = 0; i < rec->nfields; i++) {
        size_t n = rec->lens[i];
        const char *h = kp_value_trim(rec->fields[i], &n);
        if (!(L->header[i] = dup_mem(h, n)))
            return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    if (rec->nfields == 1) {
        const char *h = rec->fields[0];
        /* The job spells delimiters as words: ';' would start an INI comment. */
        static const struct {
            char c;
            const char *shown, *fix;
        } delims[] = {{';', "';'", "set `delimiter = semicolon`"},
                      {'\t', "a tab", "set `delimiter = tab`"},
                      {',', "','", "set `delimiter = comma`"},
                      {'|', "'|'", "kpipress reads , ; and tab: export again with one of them"}};
        for (size_t i = 0; i < sizeof delims / sizeof delims[0]; i++)
            if (strchr(h, delims[i].c))
                return kp_error_set(e, KP_ERR_DATA, src->path, rec->line, 1,
                                    "the header has a single column, but a %s export has "
                                    "several: is the delimiter %s? (%s in [source %s])",
                                    kind_name(src->kind), delims[i].shown, delims[i].fix,
                                    src->name);
    }
    for (size_t i = 0; i < sizeof col_slots / sizeof col_slots[0]; i++)
        *(int *)((char *)&L->c + col_slots[i].off) = -1;

    /* A map must name a field this kind of source has. */
    for (size_t m = 0; m < src->nmaps; m++)
        if (!kp_presets_field(L->preset, src->kind, src->maps[m].field))
            return kp_error_set(e, KP_ERR_CONFIG, L->job->path, src->maps[m].line, 0,
                                "map.%s: a %s source has no field '%s'", src->maps[m].field,
                                kind_name(src->kind), src->maps[m].field);
    for (size_t k = 0; k < ndefs; k++) {
        const kp_field_def *d = &defs[k];
        int col = -1, mapped = 0;
        for (size_t m = 0; m < src->nmaps; m++) {
            if (kp_presets_field(L->preset, src->kind, src->maps[m].field) != d)
                continue;
            mapped = 1;
            if ((col = find_header(L, src->maps[m].header)) < 0)
                return kp_error_set(e, KP_ERR_DATA, src->path, rec->line, 0,
                                    "map.%s = %s (job line %ld), but the header has no column "
                                    "\"%s\"",
                                    src->maps[m].field, src->maps[m].header,
                                    src->maps[m].line, src->maps[m].header);
        }
        for (size_t a = 0; !mapped && col < 0 && d->headers[a]; a++)
            col = find_header(L, d->headers[a]);
        if (kp_presets_table(src->kind))
            L->ocol[k] = col;
        else
            *slot(&L->c, d->field) = col;
        if (col < 0 && d->required) {
            list_aliases(d, aliases, sizeof aliases);
            return kp_error_set(e, KP_ERR_DATA, src->path, rec->line, 0,
                                "no column for the required field '%s' of a %s %s export: "
                                "expected one of %s (or set `map.%s = <header>` in [source %s])",
                                d->field, L->preset->name, kind_name(src->kind), aliases,
                                d->field, src->name);
        }
    }
    if (src->kind == KP_SRC_OPPORTUNITIES && L->c.opp_id < 0 && L->c.name < 0) {
        list_aliases(kp_presets_field(L->preset, src->kind, "opp_id"), aliases, sizeof aliases);
        return kp_error_set(e, KP_ERR_DATA, src->path, rec->line, 0,
                            "no column for the required field 'opp_id': expected one of %s, or "
                            "an opportunity name column (name, account and created date then "
                            "identify a deal)",
                            aliases);
    }
    return KP_OK;
}

/* ---- the record callback ------------------------------------------------------------ */

static kp_err flush_footers(loader *L, kp_error *e)
{
    kp_err rc = KP_OK;
    for (size_t i = 0; i < L->npending; i++) {
        footer_row *f = &L->pending[i];
        if (!rc && f->text[0]) {
            /* A footer line followed by more data is not a footer: report, do not skip. */
            const char *raw[1] = {f->text};
            size_t len = strlen(f->text);
            kp_csv_record rec = {1, raw, &len, f->line, f->line, NULL, 0};
            L->stats->rows_read[L->index]++;
            L->nissues = 0;
            add_issue(L, "misplaced_footer", 1, 0,
                      "a report footer row ('%.60s') before the end of the file", f->text);
            rc = finish_row(L, &rec, e);
        } else if (!rc) {
            L->stats->rows_skipped[L->index]++;
        }
        free(f->text);
    }
    L->npending = 0;
    return rc;
}

static kp_err on_record(void *user, const kp_csv_record *raw, kp_error *e)
{
    loader *L = user;
    kp_csv_record conv;
    const kp_csv_record *rec = raw;
    kp_err rc;
    if (L->cp1252) {
        if ((rc = convert_cp1252(L, raw, &conv, e)))
            return rc;
        rec = &conv;
    } else if ((rc = check_utf8(L, raw, e))) {
        return rc;
    }
    if (!L->have_header)
        return on_header(L, rec, e);
    int footer = rec->nfields != L->ncols ? rec->nfields == 1 &&
                                                 is_footer(rec->fields[0], rec->lens[0])
                                           : is_wide_grand_total(rec, L->ncols);
    if (footer && L->npending < MAX_PENDING_FOOTER) {
        size_t n = rec->lens[0];
        const char *t = kp_value_trim(rec->fields[0], &n);
        footer_row *f = &L->pending[L->npending];
        if (!(f->text = dup_mem(t, n)))
            return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        f->line = rec->line;
        L->npending++;
        return KP_OK;
    }
    if (rec->nfields != L->ncols) {
        int more = rec->nfields > L->ncols;
        return kp_error_set(e, KP_ERR_DATA, L->src->path, rec->line,
                            (long)(more ? L->ncols : rec->nfields) + 1,
                            "row has %zu fields, the header has %zu (expected %zu, got %zu): "
                            "%s",
                            rec->nfields, L->ncols, L->ncols, rec->nfields,
                            more ? "an unquoted delimiter inside a value? quote that value"
                                 : "a missing field or a line break inside an unquoted value?");
    }
    int blank = 1;
    for (size_t i = 0; i < rec->nfields && blank; i++) {
        size_t n = rec->lens[i];
        kp_value_trim(rec->fields[i], &n);
        blank = n == 0;
    }
    if (blank) {
        L->stats->rows_skipped[L->index]++;
        return KP_OK;
    }
    if (L->npending && (rc = flush_footers(L, e)))
        return rc;
    if ((++L->stats->rows_read[L->index] & (FLUSH_ROWS - 1)) == 0)
        flusher_kick(&L->flush);
    L->nissues = 0;
    switch (L->src->kind) {
    case KP_SRC_REPS: rc = row_rep(L, rec, e); break;
    case KP_SRC_QUOTAS: rc = row_quota(L, rec, e); break;
    case KP_SRC_OPPORTUNITIES: rc = row_opp(L, rec, e); break;
    default: rc = row_optional(L, rec, e); break;
    }
    if (!rc)
        rc = finish_row(L, rec, e);
    /* Unthreaded sources check rows against the store: keep it current (quotas are
     * checked in memory). */
    if (!rc && !L->threaded && L->src->kind != KP_SRC_QUOTAS)
        rc = kp_bulk_flush(L->bulk, e);
    return rc;
}

/* ---- one source, all sources ---------------------------------------------------------- */

static const char *const insert_sql[KP_SRC_KIND_COUNT] = {
    [KP_SRC_OPPORTUNITIES] =
        "INSERT INTO opportunity_snapshots(as_of, opp_id, name, account, owner_id, stage,"
        " amount_cents, currency, probability, forecast_category, type, lead_source, product,"
        " created_date, close_date, is_closed, is_won, source_line, original_amount_cents,"
        " original_currency)",
    [KP_SRC_REPS] = ("INSERT INTO reps(rep_id, name, email, team, region, manager_id,"
                     " hire_date, active)"),
    [KP_SRC_QUOTAS] = "INSERT INTO quotas(rep_id, period_start, period_end, amount_cents)",
};
static const int insert_cols[KP_SRC_KIND_COUNT] = {
    [KP_SRC_OPPORTUNITIES] = 20, [KP_SRC_REPS] = 8, [KP_SRC_QUOTAS] = 4};

/* Rows per multi-row INSERT: each statement's step and reset cost about 18,000
 * instructions, so 128 rows (2,560 parameters, well under SQLite's limit of 32,766) made
 * the insert thread 5% cheaper than 32; 256 saved 1% more. */
#define ROWS_PER_INSERT 128

/* The insert thread met a unique-key failure: a deal seen earlier in this file. */
static kp_err on_duplicate(void *user, int kind, long line, const kp_bulk_value *row,
                           kp_error *e)
{
    loader *L = user;
    kp_error orig = *e;
    (void)kind;
    kp_stmt *p = L->dup_probe;
    kp_stmt_bind_text(p, 1, row[0].s, row[0].n);
    kp_stmt_bind_text(p, 2, row[1].s, row[1].n);
    int r = kp_stmt_step(p, e);
    kp_stmt_reset(p);
    if (r != 1) {
        if (r == 0)
            *e = orig; /* not a duplicate: the original failure stands */
        return e->code;
    }
    int by_id = L->c.opp_id >= 0;
    const kp_bulk_value *v = &row[by_id ? 1 : 2];
    char msg[MSG_MAX];
    snprintf(msg, sizeof msg, "opportunity '%.*s' appears twice",
             (int)(row[1].n > 80 ? 80 : row[1].n), row[1].s);
    const char *colname = col_name(L, by_id ? L->c.opp_id : L->c.name);
    kp_stmt *st = L->dup_issue;
    kp_stmt_bind_text(st, 1, row[0].s, row[0].n);
    kp_stmt_bind_text(st, 2, L->src->name, strlen(L->src->name));
    kp_stmt_bind_int64(st, 3, line);
    kp_stmt_bind_text(st, 4, colname, strlen(colname));
    if (v->type == KP_BV_TEXT)
        kp_stmt_bind_text(st, 5, v->s, v->n);
    kp_stmt_bind_text(st, 6, msg, strlen(msg));
    r = kp_stmt_step(st, e);
    kp_stmt_reset(st);
    return r < 0 ? e->code : KP_OK;
}

static const char dup_issue_sql[] =
    "INSERT INTO dq_issues(as_of, source, line, column_name, rule, severity, value, message)"
    " VALUES(?1, ?2, ?3, ?4, 'duplicate_id', 'reject', ?5, ?6)";

/* The INSERT head of an optional source, from its preset fields. */
static char *optional_insert(const loader *L)
{
    const kp_field_def *defs = L->preset->fields[L->src->kind];
    size_t ndefs = L->preset->nfields[L->src->kind], n = 64;
    for (size_t k = 0; k < ndefs; k++)
        n += strlen(defs[k].column ? defs[k].column : defs[k].field) + 2;
    char *sql = malloc(n);
    if (!sql)
        return NULL;
    size_t o = (size_t)snprintf(sql, n, "INSERT INTO %s(", kp_presets_table(L->src->kind));
    for (size_t k = 0; k < ndefs; k++)
        o += (size_t)snprintf(sql + o, n - o, "%s, ",
                              defs[k].column ? defs[k].column : defs[k].field);
    snprintf(sql + o, n - o, "source_line)");
    return sql;
}

static kp_err prepare_all(loader *L, kp_error *e)
{
    kp_err rc;
    int opps = L->src->kind == KP_SRC_OPPORTUNITIES;
    char *opt = NULL;
    if (kp_presets_table(L->src->kind) && !(opt = optional_insert(L)))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    kp_bulk_kind kinds[3] = {
        {opt ? opt : insert_sql[L->src->kind],
         opt ? (int)L->preset->nfields[L->src->kind] + 1 : insert_cols[L->src->kind],
         opps || L->src->kind == KP_SRC_QUOTAS ? ROWS_PER_INSERT : 1,
         opps && !L->filter_dups ? on_duplicate : NULL,
         /* every deal of a load has its as-of date: bound once, not per row */
         opps ? L->as_of : NULL},
        {"INSERT INTO dq_issues(as_of, source, line, column_name, rule, severity, value,"
         " message)",
         8, 1, NULL, NULL},
        {"INSERT INTO load_dup_candidates(opp_id)", 1, 1, NULL, NULL}};
    if ((rc = kp_store_prepare(L->s, "SELECT rep_id FROM reps WHERE rep_id = ?1 ORDER BY 1",
                               NULL, 0, &L->q_rep_id, e)) ||
        (opps && (rc = kp_store_prepare(L->s,
                                        "SELECT 1 FROM opportunity_snapshots WHERE as_of = ?1"
                                        " AND opp_id = ?2 ORDER BY 1",
                                        NULL, 0, &L->dup_probe, e))) ||
        (opps && (rc = kp_store_prepare(L->s, dup_issue_sql, NULL, 0, &L->dup_issue, e))))
        goto done;
    L->threaded = opps;
    rc = kp_bulk_open(L->s, kinds, L->filter_dups ? 3 : 2, L->threaded, L, &L->bulk, e);
done:
    free(opt);
    return rc;
}

static void loader_free(loader *L)
{
    kp_bulk_free(L->bulk); /* first: it stops the insert thread */
    flusher_stop(&L->flush);
    kp_stmt_finalize(L->q_rep_id);
    kp_stmt_finalize(L->dup_probe);
    kp_stmt_finalize(L->dup_issue);
    free(L->bloom);
    spill_close(&L->spill);
    free(L->dc);
    for (size_t i = 0; i < L->ncols; i++)
        free(L->header[i]);
    free(L->header);
    for (size_t i = 0; i < L->npending; i++)
        free(L->pending[i].text);
    free(L->conv);
    free(L->cfields);
    free(L->clens);
    map_free(&L->rep_ids);
    map_free(&L->rep_names);
    free(L->rules);
    free(L->rule_len);
    free(L->rule_text);
    free(L->rates);
    free(L->periods);
    if (L->rej_f)
        fclose(L->rej_f);
    kp_outfile_abort(&L->rej);
}

/* Grand Totals (N records) should count the rows read: a mismatch means the export was
 * cut or edited. A warning on the footer's line. */
static kp_err check_grand_total(loader *L, kp_error *e)
{
    for (size_t i = 0; i < L->npending; i++) {
        const char *t = L->pending[i].text;
        if (strncmp(t, "Grand Totals (", 14))
            continue;
        long n = 0;
        const char *p = t + 14;
        for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
            if (*p != ',')
                n = n * 10 + (*p - '0');
        if (n == L->stats->rows_read[L->index] || p == t + 14)
            continue;
        issue is = {"footer_count_mismatch", 0, -1, ""};
        snprintf(is.msg, sizeof is.msg, "the footer says %ld records, the file has %ld", n,
                 L->stats->rows_read[L->index]);
        return write_issue(L, L->pending[i].line, NULL, t, strlen(t), &is, e);
    }
    return KP_OK;
}

/* ---- opportunities: before and after the rows ----------------------------------------- */

static void add_rule(loader *L, const kp_stage_rule *r)
{
    size_t i = L->nrules, n = strlen(r->stage);
    /* The job refuses a stage defined twice (ignoring case), and a preset's rule is added
     * only when no rule has its name. */
    assert(!find_rule(L, r->stage, n));
    L->rule_text[i] = kp_value_trim(r->stage, &n);
    L->rule_len[i] = n;
    L->rules[L->nrules++] = *r;
}

/* The reps already in the store (loaded before this source in the same transaction, or
 * by an earlier load) by id, and with by_name also by name (the rep id as the value). */
static kp_err read_reps(loader *L, int by_name, kp_error *e)
{
    kp_err rc;
    int64_t nreps = 0;
    kp_stmt *st = NULL;
    if ((rc = kp_store_query_int64(L->s, "SELECT count(*) FROM reps", NULL, 0, &nreps, e)))
        return rc;
    if (map_init(&L->rep_ids, (size_t)nreps) ||
        (by_name && map_init(&L->rep_names, (size_t)nreps)))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    if ((rc = kp_store_prepare(L->s, "SELECT rep_id, name FROM reps ORDER BY rep_id", NULL, 0,
                               &st, e)))
        return rc;
    int r, bad = 0;
    while (!bad && (r = kp_stmt_step(st, e)) == 1)
        bad = map_add(&L->rep_ids, kp_stmt_column_text(st, 0), "") ||
              (by_name &&
               map_add(&L->rep_names, kp_stmt_column_text(st, 1), kp_stmt_column_text(st, 0)));
    kp_stmt_finalize(st);
    if (bad)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    return r < 0 ? e->code : KP_OK;
}

/* What a quota row is checked against, in memory: the reps. The quotas table starts empty
 * (kp_load_run empties it; a job has one quotas source), so the periods accepted so far
 * are the periods of this file: each row needs no query, and rows go through multi-row
 * inserts. */
static kp_err prepare_quotas(loader *L, kp_error *e)
{
    return read_reps(L, 0, e);
}

/* Everything a row is checked against, read into memory before the insert thread owns the
 * store: reps by id and by name, the stage rules ([stages] over the preset's), the rates.
 * On a first snapshot the indexes go (queries build them when they need them), and
 * without the key index the duplicate filter is set up. */
static kp_err prepare_opportunities(loader *L, kp_error *e)
{
    kp_err rc;
    kp_stmt *st = NULL;
    int64_t nrates = 0, others = 0;
    if ((rc = read_reps(L, 1, e)) ||
        (rc = kp_store_query_int64(L->s, "SELECT count(*) FROM rates", NULL, 0, &nrates, e)) ||
        (rc = kp_store_query_int64(L->s,
                                   "SELECT count(*) FROM (SELECT 1 FROM"
                                   " opportunity_snapshots LIMIT 1)",
                                   NULL, 0, &others, e)))
        return rc;
    if (nrates && !(L->rates = calloc((size_t)nrates, sizeof *L->rates)))
        goto nomem;
    if ((rc = kp_store_prepare(L->s, "SELECT currency, month, rate FROM rates ORDER BY 1, 2",
                               NULL, 0, &st, e)))
        return rc;
    while (L->nrates < (size_t)nrates && kp_stmt_step(st, e) == 1) {
        rate *t = &L->rates[L->nrates++];
        snprintf(t->currency, sizeof t->currency, "%s", kp_stmt_column_text(st, 0));
        kp_date_parse_iso(kp_stmt_column_text(st, 1), KP_DATE_ISO_LEN, &t->month);
        t->rate = kp_stmt_column_double(st, 2);
    }
    kp_stmt_finalize(st);
    st = NULL;

    /* Stage rules: the job's first, then the preset's that the job does not redefine. */
    const kp_job *job = L->job;
    size_t maxrules = job->nstages + L->preset->nstages + 1;
    if (!(L->rules = calloc(maxrules, sizeof *L->rules)) ||
        !(L->rule_len = calloc(maxrules, sizeof *L->rule_len)) ||
        !(L->rule_text = calloc(maxrules, sizeof *L->rule_text)))
        goto nomem;
    for (size_t i = 0; i < job->nstages; i++) {
        const kp_stage_def *d = &job->stages[i];
        add_rule(L, &(kp_stage_rule){d->stage, d->order, d->probability, d->is_closed,
                                     d->is_won, d->forecast_category});
    }
    for (size_t i = 0; i < L->preset->nstages; i++) {
        const kp_stage_rule *p = &L->preset->stages[i];
        if (!find_rule(L, p->stage, strlen(p->stage)))
            add_rule(L, p);
    }
    if ((rc = kp_store_exec(L->s, "DELETE FROM stage_rules", e)) ||
        (rc = kp_store_prepare(L->s,
                               "INSERT OR IGNORE INTO stage_rules(stage, stage_order,"
                               " probability, is_closed, is_won, forecast_category)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                               NULL, 0, &st, e)))
        return rc;
    for (size_t i = 0; i < L->nrules && !rc; i++) {
        const kp_stage_rule *u = &L->rules[i];
        kp_stmt_bind_text(st, 1, u->stage, strlen(u->stage));
        kp_stmt_bind_int64(st, 2, u->order);
        if (u->probability >= 0)
            kp_stmt_bind_double(st, 3, u->probability);
        kp_stmt_bind_int64(st, 4, u->is_closed);
        kp_stmt_bind_int64(st, 5, u->is_won);
        if (u->forecast_category)
            kp_stmt_bind_text(st, 6, u->forecast_category, strlen(u->forecast_category));
        rc = kp_stmt_step(st, e) < 0 ? e->code : KP_OK;
        kp_stmt_reset(st);
    }
    kp_stmt_finalize(st);
    if (rc)
        return rc;

    /* A first snapshot loads into a table without indexes (kp_load_ensure_indexes builds
     * them when queries need them). A later one keeps a key index that exists up to date
     * row by row, and its unique constraint finds the duplicates; without one, the filter
     * does, and the index is built after the rows: history queries need it. */
    int64_t have_key = 0;
    if (!others && (rc = kp_store_exec(L->s,
                                       "DROP INDEX IF EXISTS opp_snap_key;"
                                       "DROP INDEX IF EXISTS opp_snap_owner;"
                                       "DROP INDEX IF EXISTS opp_snap_close;", /* older */
                                       e)))
        return rc;
    if ((rc = kp_store_query_int64(L->s,
                                   "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                   " AND name = 'opp_snap_key'",
                                   NULL, 0, &have_key, e)))
        return rc;
    L->history = others != 0;
    L->filter_dups = !have_key;
    if (!L->filter_dups)
        return KP_OK;
    L->bloom_blocks = bloom_blocks(L->src->path);
    if (!(L->bloom = calloc(L->bloom_blocks, 64)))
        goto nomem;
    if ((rc = spill_open(&L->spill, L->s, e)))
        return rc;
    return kp_store_exec(L->s,
                         "DROP TABLE IF EXISTS load_dup_candidates;"
                         "CREATE TABLE load_dup_candidates(opp_id TEXT NOT NULL) STRICT;",
                         e);
nomem:
    kp_stmt_finalize(st);
    return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
}

/* Run sql with ?1 = as_of, ?2 = source, ?3 = column name, ?4 = by_id (NULLs unbound). */
static kp_err exec_bound(kp_store *s, const char *sql, const char *as_of, const char *source,
                         const char *colname, int by_id, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(s, sql, NULL, 0, &st, e);
    if (rc)
        return rc;
    kp_stmt_bind_text(st, 1, as_of, KP_DATE_ISO_LEN);
    if (source)
        kp_stmt_bind_text(st, 2, source, strlen(source));
    if (colname)
        kp_stmt_bind_text(st, 3, colname, strlen(colname));
    if (source)
        kp_stmt_bind_int64(st, 4, by_id);
    rc = kp_stmt_step(st, e) < 0 ? e->code : KP_OK;
    kp_stmt_finalize(st);
    return rc;
}

/* Where remove_duplicates looks for the keys that occur twice: the rows it reads (the
 * candidates' keys, or the rows the spill found), and the rows after the first of a key
 * (?1 = as_of; load_dups holds the keys). */
typedef struct dup_rows {
    const char *keyed;     /* rows of the candidate keys, a WHERE condition on the table */
    const char *duplicate; /* FROM and WHERE of the later rows, s the snapshot's */
} dup_rows;

#define DUPLICATE_OF " CROSS JOIN load_dups d ON d.opp_id = s.opp_id"
#define DUPLICATE_WHERE " WHERE s.as_of = ?1 AND s.source_line > d.first"

/* One scan of the snapshot, which drives the join: it has no index on opp_id. */
static const dup_rows dup_by_scan = {
    " opp_id IN (SELECT opp_id FROM load_dup_candidates)",
    " FROM opportunity_snapshots s" DUPLICATE_OF DUPLICATE_WHERE};

/* The rows the spill found (load_dup_rows), looked up by rowid. */
static const dup_rows dup_by_rowid = {
    " rowid IN (SELECT id FROM load_dup_rows)",
    " FROM load_dup_rows r CROSS JOIN opportunity_snapshots s ON s.rowid = r.id"
    DUPLICATE_OF DUPLICATE_WHERE};

/* The keys of the rows w reads that really occur twice, their later rows as findings,
 * then out of the table. */
static kp_err remove_duplicates(loader *L, const dup_rows *w, kp_error *e)
{
    int by_id = L->c.opp_id >= 0;
    int64_t n = 0;
    char sql[640];
    kp_err rc = kp_store_exec(L->s,
                              "CREATE TABLE load_dups(opp_id TEXT PRIMARY KEY,"
                              " first INTEGER NOT NULL) STRICT",
                              e);
    snprintf(sql, sizeof sql,
             "INSERT INTO load_dups(opp_id, first) SELECT opp_id, min(source_line)"
             " FROM opportunity_snapshots WHERE as_of = ?1 AND%s"
             " GROUP BY opp_id HAVING count(*) > 1 ORDER BY opp_id",
             w->keyed);
    if (!rc)
        rc = exec_bound(L->s, sql, L->as_of, NULL, NULL, 0, e);
    if (!rc)
        rc = kp_store_query_int64(L->s, "SELECT count(*) FROM load_dups", NULL, 0, &n, e);
    if (rc || !n)
        return rc;
    snprintf(sql, sizeof sql,
             "INSERT INTO dq_issues(as_of, source, line, column_name, rule, severity, value,"
             " message) SELECT ?1, ?2, s.source_line, ?3, 'duplicate_id', 'reject',"
             " CASE WHEN ?4 THEN s.opp_id ELSE s.name END,"
             " 'opportunity ''' || substr(s.opp_id, 1, 80) || ''' appears twice'%s"
             " ORDER BY s.source_line",
             w->duplicate);
    rc = exec_bound(L->s, sql, L->as_of, L->src->name,
                    col_name(L, by_id ? L->c.opp_id : L->c.name), by_id, e);
    snprintf(sql, sizeof sql,
             "DELETE FROM opportunity_snapshots WHERE rowid IN (SELECT s.rowid%s)",
             w->duplicate);
    if (!rc)
        rc = exec_bound(L->s, sql, L->as_of, NULL, NULL, 0, e);
    return rc;
}

/* The spill read once, each row whose hash is a candidate's into load_dup_rows by its
 * rowid: the candidates and the earlier rows of their keys, every row of a key that
 * occurs twice (all its rows have its hash, and its second row was a candidate), and few
 * others (false candidates, which occur once). *done = 0 when the spill cannot be used:
 * a read failed, or the rows are not at base + 1 + i (the row count or a row's key hash
 * disagrees); the SQL pass runs then. */
static kp_err read_spill(loader *L, int *done, kp_error *e)
{
    key_spill *k = &L->spill;
    int64_t top = 0, i = 0;
    kp_stmt *st = NULL;
    kp_err rc;
    *done = 0;
    spill_flush(k);
    if (k->off)
        return KP_OK;
    if ((rc = kp_store_query_int64(L->s, "SELECT max(rowid) FROM opportunity_snapshots", NULL,
                                   0, &top, e)) ||
        top - k->base != k->rows) /* (no overflow: 0 <= base <= top) */
        return rc;
    if ((rc = kp_store_exec(L->s,
                            "CREATE TABLE load_dup_rows(id INTEGER PRIMARY KEY,"
                            " hash INTEGER NOT NULL) STRICT",
                            e)) ||
        (rc = kp_store_prepare(L->s, "INSERT INTO load_dup_rows(id, hash) VALUES(?1, ?2)",
                               NULL, 0, &st, e)))
        goto done;
    if (lseek(k->fd, 0, SEEK_SET) != 0)
        goto done;
    while (!rc && i < k->rows) {
        ssize_t got = read(k->fd, k->buf, SPILL_BUF * sizeof *k->buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || got % (ssize_t)sizeof *k->buf)
            goto done; /* a short file: not trusted */
        for (size_t j = 0; j < (size_t)got / sizeof *k->buf && !rc; j++, i++) {
            if (!candidate_has(k, k->buf[j]))
                continue;
            kp_stmt_bind_int64(st, 1, k->base + 1 + i);
            kp_stmt_bind_int64(st, 2, (int64_t)k->buf[j]);
            rc = kp_stmt_step(st, e) < 0 ? e->code : KP_OK;
            kp_stmt_reset(st);
        }
    }
    kp_stmt_finalize(st);
    st = NULL;
    if (rc || i != k->rows)
        goto done;
    /* Each row found has the key its hash says: the rows are where assumed. */
    if ((rc = kp_store_prepare(L->s,
                               "SELECT r.hash, s.opp_id FROM load_dup_rows r LEFT JOIN"
                               " opportunity_snapshots s ON s.rowid = r.id AND s.as_of = ?1"
                               " ORDER BY r.id",
                               NULL, 0, &st, e)))
        goto done;
    kp_stmt_bind_text(st, 1, L->as_of, KP_DATE_ISO_LEN);
    int r, same = 1;
    while (same && (r = kp_stmt_step(st, e)) == 1) {
        const char *key = kp_stmt_column_text(st, 1);
        same = key && (uint64_t)kp_stmt_column_int64(st, 0) ==
                          (bloom_hash(key, kp_stmt_column_bytes(st, 1)) & k->mask);
    }
    if (same && r < 0)
        rc = e->code;
    *done = same && !rc;
done:
    kp_stmt_finalize(st);
    return rc;
}

/* The rejects file in line order from dq_issues, re-reading the export for the raw rows:
 * needed when the insert side found duplicates, which the parsing side never sees. */
typedef struct reread {
    loader *L;
    kp_stmt *q;
    int more;
} reread;

static kp_err on_reread(void *user, const kp_csv_record *raw, kp_error *e)
{
    reread *r = user;
    loader *L = r->L;
    kp_csv_record conv;
    const kp_csv_record *rec = raw;
    kp_err rc;
    if (L->cp1252) {
        if ((rc = convert_cp1252(L, raw, &conv, e)))
            return rc;
        rec = &conv;
    }
    if (r->more != 1 || rec->line < kp_stmt_column_int64(r->q, 0))
        return KP_OK;
    issue is = {NULL, 1, -1, ""};
    const char *colname = kp_stmt_column_text(r->q, 1);
    is.rule = kp_stmt_column_text(r->q, 2);
    is.col = colname ? find_header(L, colname) : -1;
    snprintf(is.msg, sizeof is.msg, "%s", kp_stmt_column_text(r->q, 3));
    rc = write_reject(L, rec->line, &is, rec->nfields, rec->fields, e);
    long line = rec->line;
    while (!rc && (r->more = kp_stmt_step(r->q, e)) == 1 && kp_stmt_column_int64(r->q, 0) == line)
        ;
    return rc ? rc : r->more < 0 ? e->code : KP_OK;
}

static kp_err rewrite_rejects(loader *L, kp_error *e)
{
    kp_err rc;
    reread r = {L, NULL, 0};
    if (L->rej_f) {
        fclose(L->rej_f);
        L->rej_f = NULL;
        kp_outfile_abort(&L->rej);
    }
    L->first_line = 0;
    if ((rc = kp_store_prepare(L->s,
                               "SELECT line, column_name, rule, message FROM dq_issues"
                               " WHERE as_of = ?1 AND source = ?2 AND severity = 'reject'"
                               " ORDER BY line, rowid",
                               NULL, 0, &r.q, e)))
        return rc;
    kp_stmt_bind_text(r.q, 1, L->as_of, KP_DATE_ISO_LEN);
    kp_stmt_bind_text(r.q, 2, L->src->name, strlen(L->src->name));
    r.more = kp_stmt_step(r.q, e);
    kp_csv_options opt = {L->src->delimiter, 0, 0, 0};
    rc = r.more < 0 ? e->code : kp_csv_read(L->src->path, &opt, on_reread, &r, NULL, e);
    kp_stmt_finalize(r.q);
    return rc;
}

/* The page cache while loading and while building the snapshot indexes, in SQLite's
 * units (negative: KiB). 2 MB while loading: the rows append, so SQLite needs little
 * more than the right edge of the table, and 8 MB cost the same CPU (per-thread clocks
 * and instruction counts at 100k and 1M deals, a first and a third snapshot) for 6 MB
 * more peak memory. */
#define LOAD_CACHE_SIZE (-2048)
#define SORT_CACHE_SIZE (-2048)

static kp_err index_exists(kp_store *s, const char *name, int *yes, kp_error *e)
{
    int64_t n = 0;
    kp_vars v = {0};
    if (kp_vars_set(&v, "name", name)) {
        kp_vars_clear(&v);
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    kp_err rc = kp_store_query_int64(s,
                                     "SELECT count(*) FROM sqlite_master WHERE"
                                     " type = 'index' AND name = :name",
                                     &v, 0, &n, e);
    kp_vars_clear(&v);
    *yes = n > 0;
    return rc;
}

kp_err kp_load_ensure_indexes(kp_store *s, unsigned which, kp_error *e)
{
    static const struct {
        unsigned flag;
        const char *name, *sql;
    } idx[] = {{KP_LOAD_INDEX_KEY, "opp_snap_key", key_index_sql},
               {KP_LOAD_INDEX_OWNER, "opp_snap_owner", owner_index_sql}};
    int missing[2] = {0, 0}, any = 0;
    kp_err rc;
    for (size_t i = 0; i < 2; i++) {
        int yes = 1;
        if ((which & idx[i].flag) && (rc = index_exists(s, idx[i].name, &yes, e)))
            return rc;
        missing[i] = !yes;
        any |= !yes;
    }
    if (!any)
        return KP_OK;
    /* The sorter spills to a temporary file rather than to memory, so that building an
     * index over a big snapshot does not take memory in proportion to its rows. It keeps
     * up to the cache size in memory per thread, so the cache is small while it runs: a
     * sort of 100k rows then spills too, and the peak memory is the same for 100k and 1M
     * rows. The spilled runs are sorted and merged by two helper threads. Changing
     * temp_store drops TEMP objects: call this before creating any. */
    int64_t cache = 0, temp = 0, threads = 0;
    if ((rc = kp_store_query_int64(s, "PRAGMA temp_store", NULL, 0, &temp, e)) ||
        (rc = kp_store_query_int64(s, "PRAGMA threads", NULL, 0, &threads, e)))
        return rc;
    rc = kp_store_exec(s, "PRAGMA temp_store = FILE; PRAGMA threads = 2;", e);
    if (!rc)
        rc = kp_store_cache_size(s, SORT_CACHE_SIZE, &cache, e);
    for (size_t i = 0; i < 2 && !rc; i++)
        if (missing[i])
            rc = kp_store_exec(s, idx[i].sql, e);
    char sql[96];
    kp_error ignore;
    snprintf(sql, sizeof sql, "PRAGMA temp_store = %" PRId64 "; PRAGMA threads = %" PRId64,
             temp, threads);
    kp_store_exec(s, sql, &ignore);
    kp_store_cache_restore(s, cache);
    return rc;
}

/* After the rows: the duplicates the filter saw (and the key index a database with
 * history needs), then the duplicates of either path counted as rejects. */
static kp_err finish_opportunities(loader *L, kp_error *e)
{
    kp_err rc = KP_OK;
    int64_t dups = 0;
    if (L->filter_dups) {
        if (L->candidates) {
            /* The rows the spill finds, else (too many candidates, or no usable spill)
             * the SQL pass: with the hundreds of thousands of candidates of a file of
             * tens of millions of deals, its candidate list and sorts then spill to a
             * file, not to memory. */
            kp_error ignore;
            int done = 0;
            rc = kp_store_exec(L->s, "PRAGMA temp_store = FILE", e);
            if (!rc)
                rc = read_spill(L, &done, e);
            L->stats->dup_candidates[L->index] = L->candidates;
            L->stats->dup_scan[L->index] = !done;
            if (!rc)
                rc = remove_duplicates(L, done ? &dup_by_rowid : &dup_by_scan, e);
            kp_store_exec(L->s, "PRAGMA temp_store = MEMORY", &ignore);
        }
        spill_close(&L->spill);
        if (!rc)
            rc = kp_store_exec(L->s,
                               "DROP TABLE load_dup_candidates; DROP TABLE IF EXISTS load_dups;"
                               " DROP TABLE IF EXISTS load_dup_rows;",
                               e);
        if (!rc && L->history)
            rc = kp_load_ensure_indexes(L->s, KP_LOAD_INDEX_KEY, e);
        if (rc)
            return rc;
    }
    kp_vars v = {0};
    if (kp_vars_set(&v, "as_of", L->as_of) || kp_vars_set(&v, "source", L->src->name)) {
        kp_vars_clear(&v);
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    rc = kp_store_query_int64(L->s,
                              "SELECT count(*) FROM dq_issues WHERE as_of = :as_of AND"
                              " source = :source AND rule = 'duplicate_id'",
                              &v, 0, &dups, e);
    kp_vars_clear(&v);
    if (rc || !dups)
        return rc;
    L->stats->rows_loaded[L->index] -= (long)dups;
    L->stats->rows_rejected[L->index] += (long)dups;
    return rewrite_rejects(L, e);
}

static kp_err load_source(const kp_job *job, size_t index, kp_store *s, kp_load_stats *stats,
                          const char *as_of, const kp_tz *tz, kp_error *e)
{
    const kp_source *src = &job->sources[index];
    loader L;
    kp_err rc;
    memset(&L, 0, sizeof L);
    L.flush.fd = -1;
    L.spill.fd = -1;
    L.job = job;
    L.src = src;
    L.index = index;
    L.s = s;
    L.stats = stats;
    L.tz = tz;
    L.dates = src->date_dmy ? KP_DATES_DMY : KP_DATES_AUTO;
    memcpy(L.as_of, as_of, sizeof L.as_of);
    if (!(L.preset = kp_presets_find(src->preset)))
        return kp_error_set(e, KP_ERR_CONFIG, job->path, src->line, 0,
                            "[source %s]: unknown preset '%s' (known: %s)", src->name,
                            src->preset, kp_presets_names());
    const char *enc = src->encoding ? src->encoding : "utf-8";
    if (kp_presets_header_eq(enc, strlen(enc), "cp1252") ||
        kp_presets_header_eq(enc, strlen(enc), "windows-1252"))
        L.cp1252 = 1;
    else if (!kp_presets_header_eq(enc, strlen(enc), "utf-8") &&
             !kp_presets_header_eq(enc, strlen(enc), "utf8"))
        return kp_error_set(e, KP_ERR_CONFIG, job->path, src->line, 0,
                            "[source %s]: unknown encoding '%s' (use utf-8 or cp1252)",
                            src->name, enc);
    if (!(L.dc = calloc(1, sizeof *L.dc))) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto fail;
    }
    if (src->kind == KP_SRC_OPPORTUNITIES && (rc = prepare_opportunities(&L, e)))
        goto fail;
    if (src->kind == KP_SRC_QUOTAS && (rc = prepare_quotas(&L, e)))
        goto fail;
    if ((rc = prepare_all(&L, e)))
        goto fail;
    if (L.threaded)
        flusher_start(&L.flush, job->database);
    kp_csv_options opt = {src->delimiter, 0, 0, 0};
    if ((rc = kp_csv_read(src->path, &opt, on_record, &L, NULL, e)))
        goto fail;
    if (!L.have_header) {
        rc = kp_error_set(e, KP_ERR_DATA, src->path, 1, 0,
                          "the file is empty: a %s export starts with a header line",
                          kind_name(src->kind));
        goto fail;
    }
    if ((rc = check_grand_total(&L, e)) || (rc = kp_bulk_finish(L.bulk, e)))
        goto fail;
    if (src->kind == KP_SRC_OPPORTUNITIES && (rc = finish_opportunities(&L, e)))
        goto fail;
    stats->rows_skipped[index] += (long)L.npending;
    long read = stats->rows_read[index], rejected = stats->rows_rejected[index];
    if (read == 0 && src->kind == KP_SRC_OPPORTUNITIES) {
        rc = kp_error_set(e, KP_ERR_DATA, src->path, 1, 0,
                          "the file has a header but no data rows: an opportunities export "
                          "must have at least one opportunity");
        goto fail;
    }
    if (L.rej_f) {
        int bad = fclose(L.rej_f) != 0;
        L.rej_f = NULL;
        if (bad) {
            rc = kp_error_set(e, KP_ERR_IO, L.rej.tmp_path, 0, 0, "write error");
            goto fail;
        }
        if ((rc = kp_outfile_commit(&L.rej, e)))
            goto fail;
    } else if (job->output_dir) {
        /* No rejects this time: a rejects file from an earlier run would mislead. */
        char path[KP_PATH_MAX], safe[KP_NAME_MAX];
        kp_vars_sanitize_component(src->name, safe, sizeof safe);
        snprintf(path, sizeof path, "%s/rejects/%s.csv", job->output_dir, safe);
        unlink(path);
    }
    if (read > 0 && 100.0 * (double)rejected / (double)read > job->max_reject_pct) {
        rc = kp_error_set(e, KP_ERR_DATA, src->path, L.first_line, L.first_col,
                          "source '%s': %ld of %ld rows rejected (%.1f%%), over max_reject_pct "
                          "= %g; first reject: line %ld, column %ld (%s): %s%s%s%s",
                          src->name, rejected, read, 100.0 * (double)rejected / (double)read,
                          job->max_reject_pct, L.first_line, L.first_col, L.first_colname,
                          L.first_msg, job->output_dir ? "; all rejects are in " : "",
                          job->output_dir ? job->output_dir : "",
                          job->output_dir ? "/rejects/" : "");
        if (job->output_dir) {
            size_t n = strlen(e->msg);
            snprintf(e->msg + n, sizeof e->msg - n, "%s.csv", src->name);
        }
        goto fail;
    }
    rc = KP_OK;
fail:
    loader_free(&L);
    return rc;
}

static kp_err exec_as_of(kp_store *s, const char *sql, const char *as_of, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(s, sql, NULL, 0, &st, e);
    if (rc)
        return rc;
    kp_stmt_bind_text(st, 1, as_of, KP_DATE_ISO_LEN);
    rc = kp_stmt_step(st, e) < 0 ? e->code : KP_OK;
    kp_stmt_finalize(st);
    return rc;
}

kp_err kp_load_find_snapshot(kp_store *s, const char *as_of, kp_snapshot *out, kp_error *e)
{
    memset(out, 0, sizeof *out);
    out->last_rowid = -1;
    int64_t cat = 0;
    kp_err rc = kp_store_query_int64(s,
                                     "SELECT count(*) FROM main.sqlite_master WHERE"
                                     " type = 'table' AND name = 'snapshots'",
                                     NULL, 0, &cat, e);
    if (!rc && cat) /* an empty catalogue: no snapshots, or rows not put there by a load */
        rc = kp_store_query_int64(s, "SELECT count(*) FROM (SELECT 1 FROM main.snapshots"
                                     " LIMIT 1)",
                                  NULL, 0, &cat, e);
    if (rc || !cat)
        return rc;
    out->in_catalogue = 1;
    kp_stmt *st = NULL;
    if ((rc = kp_store_prepare(s,
                               "SELECT as_of, first_rowid, last_rowid FROM main.snapshots"
                               " WHERE as_of <= ?1 ORDER BY as_of DESC LIMIT 1",
                               NULL, 0, &st, e)))
        return rc;
    kp_stmt_bind_text(st, 1, as_of, strlen(as_of));
    int r = kp_stmt_step(st, e);
    const char *a = r == 1 ? kp_stmt_column_text(st, 0) : NULL;
    kp_date d;
    if (r < 0) {
        rc = e && e->code ? e->code : KP_ERR_IO;
    } else if (a && strlen(a) == KP_DATE_ISO_LEN &&
               kp_date_parse_iso(a, KP_DATE_ISO_LEN, &d) == KP_OK) {
        /* a valid ISO date (callers splice it into SQL) */
        kp_date_format_iso(d, out->as_of);
        out->first_rowid = kp_stmt_column_int64(st, 1);
        out->last_rowid = kp_stmt_column_int64(st, 2);
    }
    kp_stmt_finalize(st);
    return rc;
}

/* The snapshot just loaded into the catalogue: its rows are those above the largest
 * rowid before the load (base), the rows loaded of its sources (duplicates removed). Both
 * ends are found through the rowid b-tree, no scan. */
static kp_err catalogue_add(kp_store *s, const char *as_of, int64_t base, int64_t rows,
                            kp_error *e)
{
    if (rows <= 0)
        return KP_OK;
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(s,
                                 "INSERT INTO snapshots(as_of, first_rowid, last_rowid, rows)"
                                 " SELECT ?1, (SELECT min(rowid) FROM opportunity_snapshots"
                                 " WHERE rowid > ?2), (SELECT max(rowid) FROM"
                                 " opportunity_snapshots), ?3",
                                 NULL, 0, &st, e);
    if (rc)
        return rc;
    kp_stmt_bind_text(st, 1, as_of, KP_DATE_ISO_LEN);
    kp_stmt_bind_int64(st, 2, base);
    kp_stmt_bind_int64(st, 3, rows);
    rc = kp_stmt_step(st, e) < 0 ? e->code : KP_OK;
    kp_stmt_finalize(st);
    return rc;
}

kp_err kp_load_run(const kp_job *job, kp_store *s, kp_load_stats *stats, kp_error *e)
{
    /* Reps before what names them; rates before the deals they convert. */
    static const kp_source_kind order[] = {
        KP_SRC_REPS,       KP_SRC_QUOTAS, KP_SRC_RATES, KP_SRC_ACCOUNTS,
        KP_SRC_OPPORTUNITIES, KP_SRC_ACTIVITIES, KP_SRC_LEADS, KP_SRC_SPEND,
        KP_SRC_SUBSCRIPTIONS, KP_SRC_STAGE_HISTORY};
    kp_load_stats local;
    char as_of[KP_DATE_ISO_LEN + 1];
    int have[KP_SRC_KIND_COUNT] = {0};
    int64_t base = 0; /* the largest rowid of the snapshots before this one */
    kp_tz *tz = NULL;
    kp_err rc;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if ((rc = kp_tz_load(job->timezone ? job->timezone : "UTC", NULL, &tz, e))) {
        snprintf(e->file, sizeof e->file, "%s", job->path);
        return rc;
    }
    kp_date_format_iso(job->as_of, as_of);
    for (size_t i = 0; i < job->nsources; i++)
        have[job->sources[i].kind] = 1;

    /* A smaller page cache for the load: it appends, so a big cache buys nothing, and
     * the cache (which the index sorter's memory follows) would otherwise fill up with the
     * rows of a big file and make the peak memory grow with the row count up to it. */
    int64_t cache = 0;
    if ((rc = kp_store_cache_size(s, LOAD_CACHE_SIZE, &cache, e))) {
        kp_tz_free(tz);
        return rc;
    }
    if ((rc = kp_store_begin(s, e))) {
        kp_store_cache_restore(s, cache);
        kp_tz_free(tz);
        return rc;
    }
    if ((rc = kp_load_schema(s, e)))
        goto fail;
    /* Reps and quotas are replaced wholesale when the job loads them; the snapshot and
     * the findings of this as-of date are replaced, so a rerun is idempotent. */
    if ((have[KP_SRC_REPS] && (rc = kp_store_exec(s, "DELETE FROM reps", e))) ||
        (have[KP_SRC_QUOTAS] && (rc = kp_store_exec(s, "DELETE FROM quotas", e))) ||
        (have[KP_SRC_OPPORTUNITIES] &&
         ((rc = exec_as_of(s, "DELETE FROM opportunity_snapshots WHERE as_of = ?1", as_of, e)) ||
          (rc = exec_as_of(s, "DELETE FROM snapshots WHERE as_of = ?1", as_of, e)) ||
          (rc = kp_store_query_int64(s, "SELECT max(rowid) FROM opportunity_snapshots", NULL,
                                     0, &base, e)))) ||
        (rc = exec_as_of(s, "DELETE FROM dq_issues WHERE as_of = ?1", as_of, e)))
        goto fail;
    for (int k = 0; k < KP_SRC_KIND_COUNT; k++) {
        char sql[64];
        if (!have[k] || !kp_presets_table((kp_source_kind)k))
            continue;
        snprintf(sql, sizeof sql, "DELETE FROM %s", kp_presets_table((kp_source_kind)k));
        if ((rc = kp_store_exec(s, sql, e)))
            goto fail;
    }
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        for (size_t i = 0; i < job->nsources; i++)
            if (job->sources[i].kind == order[k] &&
                (rc = load_source(job, i, s, stats, as_of, tz, e)))
                goto fail;
    int64_t rows = 0;
    for (size_t i = 0; i < job->nsources; i++)
        if (job->sources[i].kind == KP_SRC_OPPORTUNITIES)
            rows += stats->rows_loaded[i];
    if (have[KP_SRC_OPPORTUNITIES] && (rc = catalogue_add(s, as_of, base, rows, e)))
        goto fail;
    if ((rc = kp_store_commit(s, e)))
        goto fail;
    kp_tz_free(tz);
    return kp_store_cache_size(s, cache, NULL, e);
fail:
    kp_store_rollback(s);
    kp_store_cache_restore(s, cache);
    kp_tz_free(tz);
    return rc;
}
