/* The pipeline forecast: where the open periods will land. SQL gathers the facts (history
 * of each stage, the as-of snapshot's deals, quotas); C does the probability choice, the
 * roll-up over the organisation and the Monte Carlo (src/forecast.c), because one
 * simulated outcome of a deal must count in its rep, team, region, manager and company at
 * once, which SQL cannot do without materialising runs x deals rows. */
#include "kpipress/forecast_pipeline.h"

#include "kpipress/date.h"
#include "kpipress/forecast.h"
#include "kpipress/heap.h"
#include "kpipress/load.h"
#include "kpipress/log.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_MONTH, G_QUARTER, G_NEXT, NGRAIN };       /* output grains */
enum { B_MONTH, B_QUARTER_REST, B_NEXT, NBUCKET }; /* disjoint date buckets of a rep */
enum { D_COMPANY, D_REGION, D_TEAM, D_MANAGER, D_REP, NDIM };

static const char *const grain_names[NGRAIN] = {"month", "fiscal_quarter", "next_fiscal_quarter"};
static const char *const dim_names[NDIM] = {"company", "region", "team", "manager", "rep"};

/* Buckets adding up to each grain: the as-of month is inside its fiscal quarter, so the
 * quarter is the month plus the rest of the quarter, and every deal lands in one bucket. */
static int bucket_in_grain(int b, int g)
{
    return g == G_MONTH ? b == B_MONTH : g == G_QUARTER ? b <= B_QUARTER_REST : b == B_NEXT;
}

/* One rep's figures in one bucket; cents are exact integers. */
typedef struct bucket {
    int64_t closed, commit, best_case, pipeline; /* roll-up, open deals only but closed */
    int64_t open_deals;
    double expected; /* sum of amount x probability over open deals, cents */
} bucket;

/* A rep ("leaf" of the organisation): the unit every dimension is a union of. */
typedef struct leaf {
    char *name[NDIM];      /* member of each dimension ("All" for company) */
    size_t member[NDIM];   /* index of that member within its dimension */
    int64_t quota[NGRAIN]; /* quota rows wholly inside the grain (see load_quotas) */
    int has_quota[NGRAIN];
} leaf;

typedef struct fctx {
    const kp_job *job;
    kp_store *s;
    char as_of[KP_DATE_ISO_LEN + 1];
    char snap[KP_DATE_ISO_LEN + 1]; /* snapshot the run reads; "" when none */
    /* Its rows: a rowid range from the load's catalogue (in_catalogue), else every rowid
     * (the as_of test alone finds them) */
    int64_t first_rowid, last_rowid;
    int in_catalogue;
    char start[NGRAIN][KP_DATE_ISO_LEN + 1], end[NGRAIN][KP_DATE_ISO_LEN + 1];
    leaf *leaves;
    size_t nleaves;
    size_t nmembers[NDIM];
    size_t *by_member[NDIM]; /* leaves ordered by member (CSR with off[]) */
    size_t *off[NDIM];       /* nmembers + 1 offsets into by_member */
    bucket *bk;              /* nleaves x NBUCKET */
    kp_fc_deal *deals;       /* open deals due in the three grains, by opp_id */
    uint32_t *group;         /* their simulation group: leaf x bucket, compacted */
    size_t ndeals, cap;
    int32_t *gid; /* nleaves x NBUCKET -> group, -1 when no open deal */
    size_t ngroups;
    size_t runs;
} fctx;

static kp_err nomem(kp_error *e)
{
    return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "forecast: out of memory");
}

/* ---- tables --------------------------------------------------------------------------- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS stage_win_rates("
    " as_of TEXT NOT NULL, stage TEXT NOT NULL, probability REAL NOT NULL,"
    " closed_sample INTEGER NOT NULL, won INTEGER NOT NULL, open_deals INTEGER NOT NULL,"
    " source TEXT NOT NULL, PRIMARY KEY(as_of, stage)) STRICT;"
    "CREATE TABLE IF NOT EXISTS forecast_pipeline("
    " as_of TEXT NOT NULL, dimension TEXT NOT NULL, member TEXT NOT NULL,"
    " grain TEXT NOT NULL, period_start TEXT NOT NULL, period_end TEXT NOT NULL,"
    " closed_cents INTEGER NOT NULL, commit_cents INTEGER NOT NULL,"
    " best_case_cents INTEGER NOT NULL, pipeline_cents INTEGER NOT NULL,"
    " open_deals INTEGER NOT NULL, expected_cents INTEGER NOT NULL,"
    " mean_cents INTEGER NOT NULL, p10_cents INTEGER NOT NULL, p50_cents INTEGER NOT NULL,"
    " p90_cents INTEGER NOT NULL, quota_cents INTEGER, p_quota REAL, runs INTEGER NOT NULL,"
    " seed TEXT NOT NULL,"
    " PRIMARY KEY(as_of, dimension, member, grain, period_start)) STRICT;";

kp_err kp_forecast_pipeline_schema(kp_store *s, kp_error *e)
{
    return kp_store_exec(s, schema_sql, e);
}

static const char drop_temps_sql[] =
    "DROP TABLE IF EXISTS temp.fc_was; DROP TABLE IF EXISTS temp.fc_outcome;"
    "DROP TABLE IF EXISTS temp.fc_leaf;";

/* Prepare sql, bind ?1.. to texts (NULL entries skipped), step it to the end. */
static kp_err exec_bound(fctx *c, const char *sql, const char *const *args, int nargs, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(c->s, sql, NULL, 0, &st, e);
    for (int i = 0; !rc && i < nargs; i++)
        if (args[i])
            kp_stmt_bind_text(st, i + 1, args[i], strlen(args[i]));
    int step = 0;
    while (!rc && (step = kp_stmt_step(st, e)) > 0)
        ;
    if (!rc && step < 0)
        rc = e ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

/* ---- periods and the snapshot --------------------------------------------------------- */

/* The as-of month, the fiscal quarter containing it, and the fiscal quarter after. */
static void resolve_periods(fctx *c)
{
    const kp_job *job = c->job;
    kp_period p[NGRAIN];
    kp_period_resolve(KP_PERIOD_CURRENT_MONTH, job->as_of, job->fiscal_year_start, 0, 0,
                      &p[G_MONTH]);
    kp_period_resolve(KP_PERIOD_CURRENT_FISCAL_QUARTER, job->as_of, job->fiscal_year_start, 0, 0,
                      &p[G_QUARTER]);
    kp_period_resolve(KP_PERIOD_CURRENT_FISCAL_QUARTER, kp_date_month_start(p[G_QUARTER].start, 3),
                      job->fiscal_year_start, 0, 0, &p[G_NEXT]);
    for (int g = 0; g < NGRAIN; g++) {
        kp_date_format_iso(p[g].start, c->start[g]);
        kp_date_format_iso(p[g].end, c->end[g]);
    }
    kp_date_format_iso(job->as_of, c->as_of);
}

/* The snapshot the run reports on: the latest at or before the as-of date (as the
 * opportunities view of run.c), read here directly so the stage does not depend on it.
 * The load's catalogue knows it and its rowid range without a scan (kp_load_find_snapshot,
 * as run.c's opportunities view), so the queries below read its rows only, in table
 * order, however many snapshots the database holds; the table is read whole only when
 * there is no catalogue (a database filled other than by the load). */
static kp_err find_snapshot(fctx *c, kp_error *e)
{
    kp_snapshot snap;
    kp_err rc = kp_load_find_snapshot(c->s, c->as_of, &snap, e);
    c->in_catalogue = snap.in_catalogue;
    if (rc || snap.in_catalogue) {
        snprintf(c->snap, sizeof c->snap, "%s", snap.as_of);
        c->first_rowid = snap.first_rowid;
        c->last_rowid = snap.last_rowid;
        return rc;
    }
    c->first_rowid = INT64_MIN; /* every rowid: the as_of test alone finds the rows */
    c->last_rowid = INT64_MAX;
    kp_stmt *st = NULL;
    if ((rc = kp_store_prepare(c->s,
                               "SELECT max(as_of) FROM main.opportunity_snapshots"
                               " WHERE as_of <= ?1",
                               NULL, 0, &st, e)))
        return rc;
    kp_stmt_bind_text(st, 1, c->as_of, strlen(c->as_of));
    int step = kp_stmt_step(st, e);
    if (step < 0)
        rc = e ? e->code : KP_ERR_IO;
    else if (step > 0 && kp_stmt_column_text(st, 0))
        snprintf(c->snap, sizeof c->snap, "%s", kp_stmt_column_text(st, 0));
    kp_stmt_finalize(st);
    return rc;
}

/* Bind the snapshot's rowid range to parameters lo and lo + 1. */
static void bind_range(const fctx *c, kp_stmt *st, int lo)
{
    kp_stmt_bind_int64(st, lo, c->first_rowid);
    kp_stmt_bind_int64(st, lo + 1, c->last_rowid);
}

/* ---- learned stage win probabilities --------------------------------------------------

   Definition (README, "Pipeline forecast"). For an open stage S at as-of date A, with
   snapshot T the latest loaded at or before A:
   - a deal "was in S" if an earlier snapshot (as_of < T) shows it open in stage S, or the
     stage history has it entering S on or before A (S not a closed stage of the rules);
   - its outcome is its state in the latest snapshot at or before T that contains it, or,
     for a deal only the stage history knows, the rules' closed/won flags of the last stage
     it entered on or before A;
   - closed_sample = deals that were in S and whose outcome is closed (won or lost);
     won = those of them that are won; learned probability = won / closed_sample.
   Deals still open are left out (their outcome is unknown), so the rate is that of the
   deals that have finished. With closed_sample >= [forecast] min_sample the learned rate
   is used (source 'learned'); else the stage rule's probability ([stages] or the preset:
   'configured'); else each deal's own CRM probability ('crm'; the row shows their mean);
   else 0 with a warning ('none'). Only history up to A is read, so re-running an old
   as-of date after later loads gives the same rates. */

#define WAS_IN_HISTORY                                                                             \
    " UNION"                                                                                       \
    " SELECT h.stage, h.opp_id FROM main.stage_history h WHERE h.entered_date <= ?1"               \
    "  AND NOT EXISTS (SELECT 1 FROM main.stage_rules r"                                           \
    "   WHERE r.stage = h.stage COLLATE NOCASE AND r.is_closed = 1)"

/* The earlier snapshots' open deals: with the catalogue, each earlier snapshot's rowid
 * range (nothing at all to read when the run's snapshot is the first: the common case of
 * one monthly load, a scan of a million rows before); without it, the table's rows by
 * date. */
static const char *const was_in_sql[2] = {
    "INSERT INTO temp.fc_was"
    " SELECT stage, opp_id FROM main.opportunity_snapshots"
    "  WHERE as_of < ?2 AND is_closed = 0 AND stage IS NOT NULL" WAS_IN_HISTORY,
    "INSERT INTO temp.fc_was"
    " SELECT o.stage, o.opp_id FROM main.snapshots s CROSS JOIN main.opportunity_snapshots o"
    "  WHERE s.as_of < ?2 AND o.rowid BETWEEN s.first_rowid AND s.last_rowid"
    "  AND o.as_of = s.as_of AND o.is_closed = 0 AND o.stage IS NOT NULL" WAS_IN_HISTORY};

/* Snapshot outcomes first (as_of is unique per deal, so max() picks one row); then deals
 * known only from the stage history, by their last stage (ties: the later export line). */
static const char outcome_sql[] =
    "INSERT INTO temp.fc_outcome"
    " SELECT opp_id, is_closed, is_won FROM (SELECT opp_id, max(as_of), is_closed, is_won"
    "  FROM main.opportunity_snapshots"
    "  WHERE as_of <= ?2 AND opp_id IN (SELECT opp_id FROM temp.fc_was) GROUP BY opp_id)";

static const char outcome_history_sql[] =
    "INSERT OR IGNORE INTO temp.fc_outcome"
    " SELECT h.opp_id, r.is_closed, r.is_won FROM (SELECT opp_id, stage, row_number() OVER"
    "  (PARTITION BY opp_id ORDER BY entered_date DESC, source_line DESC) AS k"
    "  FROM main.stage_history WHERE entered_date <= ?1"
    "  AND opp_id IN (SELECT opp_id FROM temp.fc_was)) h"
    " JOIN main.stage_rules r ON r.stage = h.stage COLLATE NOCASE WHERE h.k = 1";

static const char rates_sql[] =
    "INSERT INTO main.stage_win_rates(as_of, stage, probability, closed_sample, won,"
    " open_deals, source)"
    /* cur: one scan of the snapshot's open deals, also the source of its stages */
    " WITH cur AS (SELECT stage, count(*) AS n, avg(probability) AS p"
    "  FROM main.opportunity_snapshots WHERE as_of = ?2 AND rowid BETWEEN ?4 AND ?5"
    "  AND is_closed = 0 GROUP BY stage),"
    " stages AS (SELECT stage FROM main.stage_rules WHERE is_closed = 0"
    "  UNION SELECT stage FROM cur WHERE stage IS NOT NULL),"
    " learned AS (SELECT w.stage, count(*) AS n, sum(o.is_won) AS won"
    "  FROM temp.fc_was w JOIN temp.fc_outcome o ON o.opp_id = w.opp_id"
    "  WHERE o.is_closed = 1 GROUP BY w.stage),"
    " pick AS (SELECT s.stage, coalesce(l.n, 0) AS n, coalesce(l.won, 0) AS won,"
    "  coalesce(c.n, 0) AS open_deals, r.probability AS rule_p, c.p AS crm_p,"
    "  CASE WHEN coalesce(l.n, 0) >= ?3 THEN 'learned'"
    "   WHEN r.probability IS NOT NULL THEN 'configured'"
    "   WHEN c.p IS NOT NULL THEN 'crm' ELSE 'none' END AS source"
    "  FROM stages s LEFT JOIN learned l ON l.stage = s.stage"
    "  LEFT JOIN main.stage_rules r ON r.stage = s.stage COLLATE NOCASE"
    "  LEFT JOIN cur c ON c.stage = s.stage)"
    " SELECT ?1, stage, CASE source WHEN 'learned' THEN won * 1.0 / n"
    "  WHEN 'configured' THEN rule_p WHEN 'crm' THEN crm_p ELSE 0.0 END,"
    "  n, won, open_deals, source FROM pick ORDER BY stage";

static kp_err learn_rates(fctx *c, kp_error *e)
{
    const char *args[] = {c->as_of, c->snap};
    kp_err rc = kp_store_exec(c->s,
                              "CREATE TEMP TABLE fc_was(stage TEXT, opp_id TEXT);"
                              "CREATE TEMP TABLE fc_outcome(opp_id TEXT PRIMARY KEY,"
                              " is_closed INTEGER, is_won INTEGER)",
                              e);
    if (!rc)
        rc = exec_bound(c, was_in_sql[c->in_catalogue], args, 2, e);
    /* No deal was in an open stage before: no outcome to look up (each query would scan
     * the snapshots for the deals of an empty list). */
    int64_t any = 0;
    if (!rc)
        rc = kp_store_query_int64(c->s, "SELECT count(*) FROM (SELECT 1 FROM temp.fc_was LIMIT 1)",
                                  NULL, 0, &any, e);
    if (!rc && any)
        rc = exec_bound(c, outcome_sql, args, 2, e);
    if (!rc && any)
        rc = exec_bound(c, outcome_history_sql, args, 2, e);
    if (!rc)
        rc = exec_bound(c, "DELETE FROM main.stage_win_rates WHERE as_of = ?1", args, 1, e);
    if (!rc) {
        kp_stmt *st = NULL;
        rc = kp_store_prepare(c->s, rates_sql, NULL, 0, &st, e);
        if (!rc) {
            kp_stmt_bind_text(st, 1, c->as_of, strlen(c->as_of));
            kp_stmt_bind_text(st, 2, c->snap, strlen(c->snap));
            kp_stmt_bind_int64(st, 3, c->job->forecast.min_sample); /* a number */
            bind_range(c, st, 4);
            if (kp_stmt_step(st, e) < 0)
                rc = e ? e->code : KP_ERR_IO;
        }
        kp_stmt_finalize(st);
    }
    return rc;
}

/* ---- the organisation ------------------------------------------------------------------ */

/* Every rep of the reps table, every owner of a deal in the snapshot and every rep with a
 * quota in the three grains; members are named as in the kpi table ('All', '(none)'). */
static const char leaf_sql[] =
    "SELECT rep, region, team, manager FROM ("
    " SELECT rep_id AS rep, coalesce(region, '(none)') AS region,"
    "  coalesce(team, '(none)') AS team, coalesce(manager_id, '(none)') AS manager"
    "  FROM main.reps"
    " UNION SELECT coalesce(owner_id, '(none)'), '(none)', '(none)', '(none)'"
    "  FROM main.opportunity_snapshots WHERE as_of = ?1 AND rowid BETWEEN ?4 AND ?5"
    "  AND coalesce(owner_id, '(none)') NOT IN (SELECT rep_id FROM main.reps)"
    " UNION SELECT rep_id, '(none)', '(none)', '(none)' FROM main.quotas"
    "  WHERE period_start BETWEEN ?2 AND ?3 AND rep_id NOT IN (SELECT rep_id FROM main.reps))"
    " ORDER BY rep";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Index the members of dimension d (sorted by name, as SQLite's BINARY order) and list
 * each member's leaves. */
static kp_err index_members(fctx *c, int d, kp_error *e)
{
    size_t n = c->nleaves;
    char **names = malloc((n + 1) * sizeof *names);
    if (!names)
        return nomem(e);
    for (size_t i = 0; i < n; i++)
        names[i] = c->leaves[i].name[d];
    qsort(names, n, sizeof *names, cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!m || strcmp(names[m - 1], names[i]))
            names[m++] = names[i];
    for (size_t i = 0; i < n; i++) {
        char **hit = bsearch(&c->leaves[i].name[d], names, m, sizeof *names, cmp_str);
        assert(hit);
        c->leaves[i].member[d] = (size_t)(hit - names);
    }
    free(names);
    c->nmembers[d] = m;
    c->off[d] = calloc(m + 1, sizeof *c->off[d]);
    c->by_member[d] = malloc((n + 1) * sizeof *c->by_member[d]);
    if (!c->off[d] || !c->by_member[d])
        return nomem(e);
    for (size_t i = 0; i < n; i++)
        c->off[d][c->leaves[i].member[d] + 1]++;
    for (size_t k = 0; k < m; k++)
        c->off[d][k + 1] += c->off[d][k];
    size_t *fill = calloc(m + 1, sizeof *fill);
    if (!fill)
        return nomem(e);
    for (size_t i = 0; i < n; i++) {
        size_t k = c->leaves[i].member[d];
        c->by_member[d][c->off[d][k] + fill[k]++] = i;
    }
    free(fill);
    return KP_OK;
}

static kp_err load_leaves(fctx *c, kp_error *e)
{
    kp_stmt *st = NULL;
    size_t cap = 0;
    kp_err rc = kp_store_prepare(c->s, leaf_sql, NULL, 0, &st, e);
    if (rc)
        return rc;
    kp_stmt_bind_text(st, 1, c->snap, strlen(c->snap));
    kp_stmt_bind_text(st, 2, c->start[G_QUARTER], KP_DATE_ISO_LEN);
    kp_stmt_bind_text(st, 3, c->end[G_NEXT], KP_DATE_ISO_LEN);
    bind_range(c, st, 4);
    int step = 0;
    while (!rc && (step = kp_stmt_step(st, e)) > 0) {
        if (c->nleaves == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            leaf *p = realloc(c->leaves, ncap * sizeof *p);
            if (!p) {
                rc = nomem(e);
                break;
            }
            c->leaves = p;
            cap = ncap;
        }
        leaf *l = &c->leaves[c->nleaves];
        memset(l, 0, sizeof *l);
        c->nleaves++;
        l->name[D_COMPANY] = strdup("All");
        for (int d = D_REGION; d < NDIM; d++) {
            /* column order: rep, region, team, manager */
            int col = d == D_REP ? 0 : d;
            const char *v = kp_stmt_column_text(st, col);
            l->name[d] = strdup(v ? v : "(none)");
        }
        for (int d = 0; d < NDIM && !rc; d++)
            if (!l->name[d])
                rc = nomem(e);
    }
    if (!rc && step < 0)
        rc = e ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    /* the leaf's position in the ORDER BY above is its index: temp.fc_leaf maps names */
    if (!rc)
        rc = kp_store_exec(c->s, "CREATE TEMP TABLE fc_leaf(rep TEXT PRIMARY KEY, idx INTEGER)", e);
    if (!rc)
        rc = kp_store_prepare(c->s, "INSERT INTO temp.fc_leaf VALUES(?1, ?2)", NULL, 0, &st, e);
    for (size_t i = 0; !rc && i < c->nleaves; i++) {
        kp_stmt_bind_text(st, 1, c->leaves[i].name[D_REP], strlen(c->leaves[i].name[D_REP]));
        kp_stmt_bind_int64(st, 2, (int64_t)i);
        if (kp_stmt_step(st, e) < 0)
            rc = e ? e->code : KP_ERR_IO;
        kp_stmt_reset(st);
    }
    kp_stmt_finalize(st);
    for (int d = 0; d < NDIM && !rc; d++)
        rc = index_members(c, d, e);
    if (!rc && !(c->bk = calloc(c->nleaves * NBUCKET + 1, sizeof *c->bk)))
        rc = nomem(e);
    return rc;
}

/* ---- deals ------------------------------------------------------------------------------ */

/* The snapshot's deals that count in the three grains, by opp_id (the Monte Carlo draws in
 * this order, so the result does not depend on the export's row order). Open deals whose
 * close date has passed are still expected to close: they count in the as-of month (and
 * so its quarter) rather than vanish; an open deal without a close date has no period and
 * is left out. Won deals count as closed in the bucket of their close date. A deal's
 * probability is its stage's chosen rate, or its own CRM probability for a 'crm' stage. */
static const char deals_sql[] =
    "SELECT l.idx, o.opp_id, o.stage, coalesce(o.amount_cents, 0), o.is_closed,"
    " o.forecast_category,"
    " CASE w.source WHEN 'crm' THEN o.probability WHEN 'none' THEN NULL ELSE w.probability END,"
    " CASE WHEN o.is_closed = 0 THEN"
    "  CASE WHEN o.close_date <= ?3 THEN 0 WHEN o.close_date <= ?4 THEN 1 ELSE 2 END"
    "  ELSE CASE WHEN o.close_date BETWEEN ?2 AND ?3 THEN 0"
    "  WHEN o.close_date <= ?4 THEN 1 ELSE 2 END END"
    " FROM main.opportunity_snapshots o"
    " JOIN temp.fc_leaf l ON l.rep = coalesce(o.owner_id, '(none)')"
    " LEFT JOIN main.stage_win_rates w ON w.as_of = ?6 AND w.stage = o.stage"
    " WHERE o.as_of = ?1 AND o.rowid BETWEEN ?8 AND ?9 AND o.close_date IS NOT NULL"
    " AND ((o.is_closed = 0"
    "  AND o.close_date <= ?5) OR (o.is_won = 1 AND o.close_date BETWEEN ?7 AND ?5))"
    " ORDER BY o.opp_id";

typedef enum { FC_PIPELINE, FC_BEST_CASE, FC_COMMIT, FC_OMITTED } fc_cat;

/* Salesforce's categories, also as HubSpot writes them (BEST_CASE, OMIT, "Not
 * forecasted"). An open deal marked Closed counts as Commit (the rep calls it done, the
 * CRM does not yet); no or an unknown category counts as Pipeline, the catch-all of open
 * deals. */
static fc_cat category(const char *s)
{
    char k[32];
    size_t n = 0;
    for (; s && *s && n + 1 < sizeof k; s++)
        if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))
            k[n++] = *s;
        else if (*s >= 'A' && *s <= 'Z')
            k[n++] = (char)(*s - 'A' + 'a');
    k[n] = 0;
    if (!strcmp(k, "commit") || !strncmp(k, "closed", 6))
        return FC_COMMIT;
    if (!strcmp(k, "bestcase"))
        return FC_BEST_CASE;
    if (!strcmp(k, "omitted") || !strcmp(k, "omit") || !strcmp(k, "notforecasted"))
        return FC_OMITTED;
    return FC_PIPELINE;
}

static kp_err add_open_deal(fctx *c, size_t li, int b, int64_t cents, double p, kp_error *e)
{
    if (c->ndeals == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 1024;
        kp_fc_deal *d = realloc(c->deals, ncap * sizeof *d);
        if (d)
            c->deals = d;
        uint32_t *g = realloc(c->group, ncap * sizeof *g);
        if (g)
            c->group = g;
        if (!d || !g)
            return nomem(e);
        c->cap = ncap;
    }
    int32_t *gid = &c->gid[li * NBUCKET + (size_t)b];
    if (*gid < 0)
        *gid = (int32_t)c->ngroups++;
    c->deals[c->ndeals] = (kp_fc_deal){(double)cents, p};
    c->group[c->ndeals++] = (uint32_t)*gid;
    return KP_OK;
}

static kp_err load_deals(fctx *c, long *missing, kp_error *e)
{
    kp_stmt *st = NULL;
    const char *args[] = {c->snap,        c->start[G_MONTH], c->end[G_MONTH],    c->end[G_QUARTER],
                          c->end[G_NEXT], c->as_of,          c->start[G_QUARTER]};
    if (!(c->gid = malloc((c->nleaves * NBUCKET + 1) * sizeof *c->gid)))
        return nomem(e);
    for (size_t i = 0; i < c->nleaves * NBUCKET; i++)
        c->gid[i] = -1;
    kp_err rc = kp_store_prepare(c->s, deals_sql, NULL, 0, &st, e);
    for (int i = 0; !rc && i < 7; i++)
        kp_stmt_bind_text(st, i + 1, args[i], strlen(args[i]));
    if (!rc)
        bind_range(c, st, 8);
    int step = 0;
    while (!rc && (step = kp_stmt_step(st, e)) > 0) {
        size_t li = (size_t)kp_stmt_column_int64(st, 0);
        int b = (int)kp_stmt_column_int64(st, 7);
        int64_t cents = kp_stmt_column_int64(st, 3);
        assert(li < c->nleaves && b >= 0 && b < NBUCKET);
        bucket *k = &c->bk[li * NBUCKET + (size_t)b];
        if (kp_stmt_column_int64(st, 4)) { /* won */
            k->closed += cents;
            continue;
        }
        /* Salesforce leaves Omitted deals out of the forecast: not in the roll-up, the
         * expectation, the simulation or the count of open deals */
        fc_cat cat = category(kp_stmt_column_text(st, 5));
        if (cat == FC_OMITTED)
            continue;
        const char *opp = kp_stmt_column_text(st, 1), *stage = kp_stmt_column_text(st, 2);
        if (cents < 0) {
            rc = kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                              "forecast: open deal %s has a negative amount", opp);
            break;
        }
        double p = 0.0;
        if (kp_stmt_column_type(st, 6) == KP_COL_NULL)
            ++*missing; /* counted with probability 0; warned about by stage below */
        else
            p = kp_stmt_column_double(st, 6);
        if (!(p >= 0.0 && p <= 1.0)) {
            rc = kp_error_set(e, KP_ERR_DATA, NULL, 0, 0,
                              "forecast: open deal %s (stage '%s') has win probability %g, "
                              "outside 0..1",
                              opp, stage ? stage : "", p);
            break;
        }
        switch (cat) {
        case FC_COMMIT: k->commit += cents; break;
        case FC_BEST_CASE: k->best_case += cents; break;
        case FC_PIPELINE: k->pipeline += cents; break;
        case FC_OMITTED: break;
        }
        k->open_deals++;
        k->expected += (double)cents * p;
        rc = add_open_deal(c, li, b, cents, p, e);
    }
    if (!rc && step < 0)
        rc = e ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

static void warn_stage(const char *stage, int64_t n)
{
    if (n > 0)
        kp_log_warn("forecast: %lld open deals in stage '%s' have no win probability (none "
                    "learned, configured or in the export): counted with probability 0",
                    (long long)n, stage);
}

/* Open deals without any probability (stage 'none', or a 'crm' stage's deal without its
 * own): the forecast treats them as lost (p = 0) and says so, by stage. Omitted deals are
 * not in the forecast (load_deals), so not counted here: the rows come by stage and
 * category, and category() tells which to leave out. */
static kp_err warn_missing(fctx *c, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc =
        kp_store_prepare(c->s,
                         "SELECT coalesce(o.stage, '(none)'), o.forecast_category, count(*)"
                         " FROM main.opportunity_snapshots o"
                         " LEFT JOIN main.stage_win_rates w ON w.as_of = ?2 AND w.stage = o.stage"
                         " WHERE o.as_of = ?1 AND o.rowid BETWEEN ?4 AND ?5 AND o.is_closed = 0"
                         " AND o.close_date <= ?3"
                         " AND (CASE w.source WHEN 'crm' THEN o.probability WHEN 'none' THEN NULL"
                         " ELSE w.probability END) IS NULL"
                         " GROUP BY 1, 2 ORDER BY 1, 2",
                         NULL, 0, &st, e);
    if (rc)
        return rc;
    kp_stmt_bind_text(st, 1, c->snap, strlen(c->snap));
    kp_stmt_bind_text(st, 2, c->as_of, strlen(c->as_of));
    kp_stmt_bind_text(st, 3, c->end[G_NEXT], KP_DATE_ISO_LEN);
    bind_range(c, st, 4);
    int step = 0;
    char *stage = NULL; /* the stage whose rows are being added up */
    int64_t n = 0;
    while (!rc && (step = kp_stmt_step(st, e)) > 0) {
        const char *s = kp_stmt_column_text(st, 0);
        if (!stage || strcmp(s, stage)) {
            if (stage)
                warn_stage(stage, n);
            free(stage);
            if (!(stage = strdup(s)))
                rc = nomem(e);
            n = 0;
        }
        if (category(kp_stmt_column_text(st, 1)) != FC_OMITTED)
            n += kp_stmt_column_int64(st, 2);
    }
    if (!rc && stage)
        warn_stage(stage, n);
    if (!rc && step < 0)
        rc = e ? e->code : KP_ERR_IO;
    free(stage);
    kp_stmt_finalize(st);
    return rc;
}

/* Quota rows lying wholly inside a grain: a monthly quota counts in its month and quarter,
 * a quarterly quota in its quarter only (not in the month it starts in). */
static kp_err load_quotas(fctx *c, kp_error *e)
{
    kp_stmt *st = NULL;
    kp_err rc = kp_store_prepare(
        c->s,
        "SELECT l.idx, sum(CASE WHEN q.period_start >= ?1 AND q.period_end <= ?2"
        "  THEN q.amount_cents END),"
        " sum(CASE WHEN q.period_start >= ?3 AND q.period_end <= ?4 THEN q.amount_cents END),"
        " sum(CASE WHEN q.period_start >= ?5 AND q.period_end <= ?6 THEN q.amount_cents END)"
        " FROM main.quotas q JOIN temp.fc_leaf l ON l.rep = q.rep_id"
        " WHERE q.period_start BETWEEN ?3 AND ?6 GROUP BY l.idx ORDER BY l.idx",
        NULL, 0, &st, e);
    for (int g = 0; !rc && g < NGRAIN; g++) {
        kp_stmt_bind_text(st, 2 * g + 1, c->start[g], KP_DATE_ISO_LEN);
        kp_stmt_bind_text(st, 2 * g + 2, c->end[g], KP_DATE_ISO_LEN);
    }
    int step = 0;
    while (!rc && (step = kp_stmt_step(st, e)) > 0) {
        size_t li = (size_t)kp_stmt_column_int64(st, 0);
        assert(li < c->nleaves);
        for (int g = 0; g < NGRAIN; g++) {
            if (kp_stmt_column_type(st, g + 1) != KP_COL_NULL) {
                c->leaves[li].quota[g] = kp_stmt_column_int64(st, g + 1);
                c->leaves[li].has_quota[g] = 1;
            }
        }
    }
    if (!rc && step < 0)
        rc = e ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    return rc;
}

/* ---- simulation and output -------------------------------------------------------------- */

/* One output row before rounding. */
typedef struct cell {
    int64_t closed, commit, best_case, pipeline, open_deals, quota;
    int has_quota, simulated;
    double expected;
} cell;

/* Sum member m of dimension d over grain g; the simulation groups it adds up are appended
 * to grp at *ng (when grp is not NULL). */
static void sum_cell(const fctx *c, int d, size_t m, int g, cell *out, uint32_t *grp, size_t *ng)
{
    memset(out, 0, sizeof *out);
    for (size_t j = c->off[d][m]; j < c->off[d][m + 1]; j++) {
        size_t li = c->by_member[d][j];
        if (c->leaves[li].has_quota[g]) {
            out->quota += c->leaves[li].quota[g];
            out->has_quota = 1;
        }
        for (int b = 0; b < NBUCKET; b++) {
            if (!bucket_in_grain(b, g))
                continue;
            const bucket *k = &c->bk[li * NBUCKET + (size_t)b];
            out->closed += k->closed;
            out->commit += k->commit;
            out->best_case += k->best_case;
            out->pipeline += k->pipeline;
            out->open_deals += k->open_deals;
            out->expected += k->expected;
            int32_t gi = c->gid[li * NBUCKET + (size_t)b];
            if (gi >= 0) {
                if (grp)
                    grp[*ng] = (uint32_t)gi;
                ++*ng;
                out->simulated = 1;
            }
        }
    }
}

/* Every output row (dimension, member, grain, in that order) with its simulated figures:
 * the Monte Carlo is summarised per row as it runs (kp_forecast_simulate_rollup) rather
 * than kept, which took runs x reps x buckets doubles (37 MB at 100k deals, the peak of
 * a board-pack run). */
static kp_err simulate(fctx *c, cell **cells_out, kp_fc_rollup_out **sim_out, size_t *nrows,
                       kp_error *e)
{
    const double q[3] = {0.1, 0.5, 0.9};
    size_t n = 0, nmemb = 0;
    c->runs = (size_t)c->job->forecast.runs;
    for (int d = 0; d < NDIM; d++)
        n += c->nmembers[d] * NGRAIN;
    /* a leaf's group counts once per dimension and grain containing its bucket */
    nmemb = c->ngroups * NDIM * NBUCKET;
    cell *cells = calloc(n + 1, sizeof *cells);
    kp_fc_rollup_out *sim = calloc(n + 1, sizeof *sim);
    size_t *off = malloc((n + 1) * sizeof *off);
    uint32_t *grp = malloc((nmemb + 1) * sizeof *grp);
    double *base = malloc((n + 1) * sizeof *base), *target = malloc((n + 1) * sizeof *target);
    kp_err rc = cells && sim && off && grp && base && target ? KP_OK : nomem(e);
    size_t i = 0, ng = 0;
    for (int d = 0; d < NDIM && !rc; d++)
        for (size_t m = 0; m < c->nmembers[d]; m++)
            for (int g = 0; g < NGRAIN; g++, i++) {
                off[i] = ng;
                sum_cell(c, d, m, g, &cells[i], grp, &ng);
                assert(ng <= nmemb);
                base[i] = (double)cells[i].closed;
                target[i] = cells[i].has_quota ? (double)cells[i].quota : NAN;
            }
    if (!rc) {
        off[n] = ng;
        kp_fc_rollup r = {n, off, grp, base, target};
        if (c->ngroups)
            rc = kp_forecast_simulate_rollup(c->deals, c->group, c->ndeals, c->ngroups, c->runs,
                                             (uint64_t)c->job->forecast.seed, &r, q, 3, sim, e);
        else /* no open deal: every run's total is 0 */
            for (size_t k = 0; k < n; k++)
                sim[k].hits = base[k] >= target[k] ? c->runs : 0;
    }
    free(off);
    free(grp);
    free(base);
    free(target);
    if (rc) {
        free(cells);
        free(sim);
        return rc;
    }
    *cells_out = cells;
    *sim_out = sim;
    *nrows = n;
    return KP_OK;
}

static kp_err write_rows(fctx *c, const cell *cells, const kp_fc_rollup_out *sim, kp_error *e)
{
    kp_stmt *st = NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", c->job->forecast.seed);
    kp_err rc = kp_store_prepare(c->s,
                                 "INSERT INTO main.forecast_pipeline VALUES(?1, ?2, ?3, ?4, ?5,"
                                 " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
                                 " ?19, ?20)",
                                 NULL, 0, &st, e);
    size_t i = 0;
    for (int d = 0; d < NDIM && !rc; d++) {
        for (size_t m = 0; m < c->nmembers[d] && !rc; m++) {
            const char *name = c->leaves[c->by_member[d][c->off[d][m]]].name[d];
            for (int g = 0; g < NGRAIN && !rc; g++, i++) {
                const cell x = cells[i];
                const kp_fc_rollup_out *y = &sim[i];
                /* without an open deal every total is 0 */
                const double pq[3] = {x.simulated ? y->q[0] : 0.0, x.simulated ? y->q[1] : 0.0,
                                      x.simulated ? y->q[2] : 0.0};
                kp_stmt_bind_text(st, 1, c->as_of, strlen(c->as_of));
                kp_stmt_bind_text(st, 2, dim_names[d], strlen(dim_names[d]));
                kp_stmt_bind_text(st, 3, name, strlen(name));
                kp_stmt_bind_text(st, 4, grain_names[g], strlen(grain_names[g]));
                kp_stmt_bind_text(st, 5, c->start[g], KP_DATE_ISO_LEN);
                kp_stmt_bind_text(st, 6, c->end[g], KP_DATE_ISO_LEN);
                kp_stmt_bind_int64(st, 7, x.closed);
                /* Salesforce's cumulative categories: Commit includes Closed, Best Case
                 * includes Commit and Closed; Pipeline is the open Pipeline amount alone */
                kp_stmt_bind_int64(st, 8, x.commit + x.closed);
                kp_stmt_bind_int64(st, 9, x.best_case + x.commit + x.closed);
                kp_stmt_bind_int64(st, 10, x.pipeline);
                kp_stmt_bind_int64(st, 11, x.open_deals);
                kp_stmt_bind_int64(st, 12, x.closed + llround(x.expected));
                kp_stmt_bind_int64(st, 13, x.closed + llround(y->total / (double)c->runs));
                kp_stmt_bind_int64(st, 14, x.closed + llround(pq[0]));
                kp_stmt_bind_int64(st, 15, x.closed + llround(pq[1]));
                kp_stmt_bind_int64(st, 16, x.closed + llround(pq[2]));
                if (x.has_quota) {
                    kp_stmt_bind_int64(st, 17, x.quota);
                    kp_stmt_bind_double(st, 18, (double)y->hits / (double)c->runs);
                }
                kp_stmt_bind_int64(st, 19, (int64_t)c->runs);
                kp_stmt_bind_text(st, 20, seed, strlen(seed));
                if (kp_stmt_step(st, e) < 0)
                    rc = e ? e->code : KP_ERR_IO;
                kp_stmt_reset(st);
            }
        }
    }
    kp_stmt_finalize(st);
    return rc;
}

static void fctx_free(fctx *c)
{
    for (size_t i = 0; i < c->nleaves; i++)
        for (int d = 0; d < NDIM; d++)
            free(c->leaves[i].name[d]);
    free(c->leaves);
    for (int d = 0; d < NDIM; d++) {
        free(c->by_member[d]);
        free(c->off[d]);
    }
    free(c->bk);
    free(c->deals);
    free(c->group);
    free(c->gid);
}

kp_err kp_forecast_pipeline_run(const kp_job *job, kp_store *s, kp_error *e)
{
    assert(job && s && job->forecast.runs > 0);
    fctx c = {.job = job, .s = s};
    long missing = 0;
    cell *cells = NULL;
    kp_fc_rollup_out *sim = NULL;
    size_t nrows = 0;
    resolve_periods(&c);
    kp_err rc = kp_store_begin(s, e);
    if (rc)
        return rc;
    rc = kp_store_exec(s, schema_sql, e);
    if (!rc)
        rc = find_snapshot(&c, e);
    if (!rc)
        rc = learn_rates(&c, e);
    /* The rates and the deals each go through an SQLite sort, whose buffers (2 MB and
     * more, freed when the statement ends) would otherwise stay resident and add up
     * with the simulation's, as the simulation's would with the pages of the rows */
    kp_heap_trim();
    if (!rc)
        rc = load_leaves(&c, e);
    if (!rc)
        rc = load_deals(&c, &missing, e);
    kp_heap_trim();
    if (!rc && missing)
        rc = warn_missing(&c, e);
    if (!rc)
        rc = load_quotas(&c, e);
    if (!rc) {
        kp_log_info("forecasting %zu open deals (%zu Monte Carlo runs)", c.ndeals,
                    (size_t)job->forecast.runs);
        rc = simulate(&c, &cells, &sim, &nrows, e);
    }
    kp_heap_trim(); /* the simulation's buffers: the rows' pages are written next */
    if (!rc) {
        const char *args[] = {c.as_of};
        rc = exec_bound(&c, "DELETE FROM main.forecast_pipeline WHERE as_of = ?1", args, 1, e);
    }
    if (!rc)
        rc = write_rows(&c, cells, sim, e);
    if (!rc)
        rc = kp_store_exec(s, drop_temps_sql, e);
    if (!rc)
        rc = kp_store_commit(s, e);
    if (rc) {
        kp_store_rollback(s);
        kp_store_exec(s, drop_temps_sql, NULL);
    }
    fctx_free(&c);
    free(cells);
    free(sim);
    return rc;
}
