/* The load stage end to end on tiny fixture exports written into a temp dir and loaded
 * into an in-memory store: the rows as SQL sees them, rejects and dq findings, rollback,
 * idempotent reruns, 25+ malformed files with their exact error text, and the real CRM
 * data sets in ../shared/datasets checked against Python's csv module. */
#include "test.h"

#include "kpipress/load.h"
#include "kpipress/presets.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/kp_test_load.XXXXXX";

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static char *write_file(const char *name, const char *data, size_t len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len == 0)
        len = strlen(data);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return xstrdup(path);
}

static kp_job *new_job(double max_reject_pct)
{
    char out[600];
    kp_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    snprintf(out, sizeof out, "%s/out", dir);
    j->path = xstrdup("job.ini");
    j->name = xstrdup("test");
    j->currency = xstrdup("USD");
    j->output_dir = xstrdup(out);
    j->timezone = xstrdup("UTC");
    j->max_reject_pct = max_reject_pct;
    j->as_of = kp_date_from_ymd(2026, 10, 31);
    return j;
}

/* Add a source whose file holds data (len bytes, or strlen when len is 0). */
static kp_source *add_src_n(kp_job *j, const char *name, kp_source_kind kind,
                            const char *preset, const char *data, size_t len)
{
    char file[300];
    kp_source *s = &j->sources[j->nsources++];
    snprintf(file, sizeof file, "%s.csv", name);
    s->name = xstrdup(name);
    s->kind = kind;
    s->file = xstrdup(file);
    s->path = write_file(file, data, len);
    s->preset = xstrdup(preset);
    s->line = 10 + (long)j->nsources;
    return s;
}

static kp_source *add_src(kp_job *j, const char *name, kp_source_kind kind,
                          const char *preset, const char *data)
{
    return add_src_n(j, name, kind, preset, data, 0);
}

static void add_map(kp_source *s, const char *field, const char *header)
{
    s->maps = realloc(s->maps, (s->nmaps + 1) * sizeof *s->maps);
    assert_non_null(s->maps);
    s->maps[s->nmaps].field = xstrdup(field);
    s->maps[s->nmaps].header = xstrdup(header);
    s->maps[s->nmaps].line = 20 + (long)s->nmaps;
    s->nmaps++;
}

static kp_store *new_store(void)
{
    kp_store *s = NULL;
    kp_error e = {0};
    assert_int_equal(kp_store_open(":memory:", KP_STORE_CREATE, &s, &e), KP_OK);
    return s;
}

static int64_t qi(kp_store *s, const char *sql)
{
    int64_t v = -999;
    kp_error e = {0};
    if (kp_store_query_int64(s, sql, NULL, -1, &v, &e) != KP_OK) {
        print_error("%s: %s\n", sql, e.msg);
        fail();
    }
    return v;
}

/* All rows of sql as "a|b\n" lines. */
static const char *qs(kp_store *s, const char *sql)
{
    static char buf[8192];
    kp_stmt *st = NULL;
    kp_error e = {0};
    size_t n = 0;
    buf[0] = '\0';
    if (kp_store_prepare(s, sql, NULL, 0, &st, &e) != KP_OK) {
        print_error("%s: %s\n", sql, e.msg);
        fail();
    }
    while (kp_stmt_step(st, &e) == 1) {
        assert_true(n + 1024 < sizeof buf); /* a result this long is a failing test */
        for (int c = 0; c < kp_stmt_column_count(st); c++) {
            const char *t = kp_stmt_column_text(st, c);
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", c ? "|" : "", t ? t : "NULL");
        }
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\n");
    }
    kp_stmt_finalize(st);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- the sample generator's shape (Salesforce report export) -------------------------- */

static const char users_csv[] =
    "\"User ID\",\"Full Name\",\"Email\",\"Role\",\"Division\",\"Manager ID\",\"Active\","
    "\"Start Date\"\r\n"
    "\"005A\",\"S\xC3\xB8ren M\xC3\xBCller\",\"soren@example.com\",\"AE\",\"EMEA\",\"\",\"1\","
    "\"3/15/2021\"\r\n"
    "\"005B\",\"\xC5\x81ukasz Nowak\",\"lukasz@example.com\",\"AE\",\"EMEA\",\"005A\",\"1\","
    "\"1/2/2022\"\r\n"
    "\"005C\",\"Jane Doe\",\"jane@example.com\",\"SDR\",\"NA\",\"005A\",\"0\",\"12/31/2020\"\r\n";

static const char quotas_csv[] = "\"Quota Owner ID\",\"Start Date\",\"Quota Amount\"\r\n"
                                 "\"005A\",\"10/1/2026\",\"$50,000.00\"\r\n"
                                 "\"005B\",\"10/1/2026\",\"$40,000.00\"\r\n"
                                 "\"005A\",\"9/1/2026\",\"$50,000.00\"\r\n";

#define OPPS_HEADER                                                                            \
    "\"Opportunity ID\",\"Opportunity Name\",\"Account Name\",\"Opportunity Owner\","          \
    "\"Stage\",\"Amount\",\"Probability (%)\",\"Close Date\",\"Created Date\","                \
    "\"Forecast Category\",\"Type\",\"Lead Source\",\"Product\"\r\n"

static const char opps_csv[] =
    OPPS_HEADER
    "\"006001\",\"Acme - Renewal\",\"Acme\",\"S\xC3\xB8ren M\xC3\xBCller\",\"Closed Won\","
    "\"$1,234.56\",\"100\",\"10/5/2026\",\"8/1/2026\",\"Closed\",\"Existing Business\",\"Web\","
    "\"Widget\"\r\n"
    "\"006002\",\"Beta - New\",\"Beta, Inc.\",\"\xC5\x81ukasz Nowak\",\"Negotiation/Review\","
    "\"$10,000.00\",\"90\",\"11/15/2026\",\"9/1/2026\",\"Pipeline\",\"New Business\","
    "\"Partner\",\"Gadget\"\r\n"
    "\"006003\",\"Gamma\",\"Gamma\",\"Jane Doe\",\"Closed Lost\",\"$500.10\",\"\","
    "\"10/20/2026\",\"7/1/2026\",\"\",\"New Business\",\"\",\"Widget\"\r\n"
    "\r\n"
    "\"Grand Totals (3 records)\"\r\n"
    "\r\n"
    "\"Confidential Information - Do Not Distribute\"\r\n"
    "\"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.\"\r\n";

static kp_job *sample_job(void)
{
    kp_job *j = new_job(1);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "salesforce", opps_csv);
    add_src(j, "reps", KP_SRC_REPS, "salesforce", users_csv);
    add_src(j, "quotas", KP_SRC_QUOTAS, "salesforce", quotas_csv);
    return j;
}

static void test_sample_salesforce(void **state)
{
    (void)state;
    kp_job *j = sample_job();
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    if (kp_load_run(j, s, &st, &e) != KP_OK) {
        print_error("%s:%ld:%ld: %s\n", e.file, e.line, e.column, e.msg);
        fail();
    }
    assert_string_equal(qs(s, "SELECT * FROM reps ORDER BY rep_id"),
                        "005A|S\xC3\xB8ren M\xC3\xBCller|soren@example.com|AE|EMEA|NULL|"
                        "2021-03-15|1\n"
                        "005B|\xC5\x81ukasz Nowak|lukasz@example.com|AE|EMEA|005A|2022-01-02|1\n"
                        "005C|Jane Doe|jane@example.com|SDR|NA|005A|2020-12-31|0\n");
    assert_string_equal(qs(s, "SELECT * FROM quotas ORDER BY rep_id, period_start"),
                        "005A|2026-09-01|2026-09-30|5000000\n"
                        "005A|2026-10-01|2026-10-31|5000000\n"
                        "005B|2026-10-01|2026-10-31|4000000\n");
    assert_string_equal(
        qs(s, "SELECT * FROM opportunity_snapshots ORDER BY opp_id"),
        "2026-10-31|006001|Acme - Renewal|Acme|005A|Closed Won|123456|USD|1.0|Closed|"
        "Existing Business|Web|Widget|2026-08-01|2026-10-05|1|1|2|NULL|NULL\n"
        "2026-10-31|006002|Beta - New|Beta, Inc.|005B|Negotiation/Review|1000000|USD|0.9|"
        "Pipeline|New Business|Partner|Gadget|2026-09-01|2026-11-15|0|0|3|NULL|NULL\n"
        "2026-10-31|006003|Gamma|Gamma|005C|Closed Lost|50010|USD|0.0|Omitted|New Business|"
        "NULL|Widget|2026-07-01|2026-10-20|1|0|4|NULL|NULL\n");
    assert_string_equal(qs(s, "SELECT opp_id, amount FROM opportunities ORDER BY opp_id"),
                        "006001|1234.56\n006002|10000.0\n006003|500.1\n");
    assert_int_equal(qi(s, "SELECT count(*) FROM dq_issues"), 0);
    assert_int_equal(st.rows_read[0], 3);
    assert_int_equal(st.rows_loaded[0], 3);
    assert_int_equal(st.rows_skipped[0], 3);
    assert_int_equal(st.rows_rejected[0], 0);
    assert_int_equal(st.rows_read[1], 3);
    assert_int_equal(st.rows_loaded[2], 3);
    char p[700];
    snprintf(p, sizeof p, "%s/rejects/opportunities.csv", j->output_dir);
    assert_int_equal(access(p, F_OK), -1);

    /* Rerun: same rows, nothing doubled. Another as-of: a second snapshot, and the view
     * shows the latest only. */
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunity_snapshots"), 3);
    assert_int_equal(qi(s, "SELECT count(*) FROM reps"), 3);
    j->as_of = kp_date_from_ymd(2026, 11, 30);
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunity_snapshots"), 6);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE as_of = '2026-11-30'"), 3);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities"), 3);
    kp_store_close(s);
    kp_job_free(j);
}

/* A first load leaves the snapshot indexes out; a second snapshot (history) gets the key
 * index built after its rows; kp_load_ensure_indexes builds what is missing, and the
 * per-rep lookup of burst reports and the view's as-of lookup use them; the load and the
 * index build give the connection its page cache size and temp_store back. */
static void test_snapshot_indexes(void **state)
{
    (void)state;
    kp_job *j = sample_job();
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    int64_t cache = qi(s, "PRAGMA cache_size"), temp = qi(s, "PRAGMA temp_store");
    const char *const after[2] = {"", "opp_snap_key\n"};
    for (int run = 0; run < 2; run++) {
        if (run)
            j->as_of = kp_date_from_ymd(2026, 11, 30);
        assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
        assert_string_equal(qs(s, "SELECT name FROM sqlite_master WHERE type = 'index' AND"
                                  " tbl_name = 'opportunity_snapshots' ORDER BY name"),
                            after[run]);
        assert_int_equal(qi(s, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'load_%'"),
                         0);
        assert_int_equal(qi(s, "PRAGMA cache_size"), cache);
    }
    assert_int_equal(kp_load_ensure_indexes(s, KP_LOAD_INDEX_KEY | KP_LOAD_INDEX_OWNER, &e),
                     KP_OK);
    assert_int_equal(kp_load_ensure_indexes(s, KP_LOAD_INDEX_OWNER, &e), KP_OK); /* no-op */
    assert_string_equal(qs(s, "SELECT name FROM sqlite_master WHERE type = 'index' AND"
                              " tbl_name = 'opportunity_snapshots' ORDER BY name"),
                        "opp_snap_key\nopp_snap_owner\n");
    assert_int_equal(qi(s, "SELECT count(*) FROM pragma_index_info('opp_snap_key')"), 2);
    assert_int_equal(qi(s, "SELECT count(*) FROM pragma_index_info('opp_snap_owner')"), 2);
    assert_int_equal(qi(s, "PRAGMA cache_size"), cache);
    assert_int_equal(qi(s, "PRAGMA temp_store"), temp);
    kp_stmt *q = NULL;
    assert_int_equal(kp_store_prepare(s,
                                      "EXPLAIN QUERY PLAN SELECT sum(amount_cents) FROM"
                                      " opportunity_snapshots WHERE as_of = '2026-11-30' AND"
                                      " owner_id = '005A'",
                                      NULL, 0, &q, &e),
                     KP_OK);
    int found = 0;
    while (kp_stmt_step(q, &e) == 1)
        found |= strstr(kp_stmt_column_text(q, 3), "USING INDEX opp_snap_owner") != NULL;
    kp_stmt_finalize(q);
    assert_true(found);
    assert_int_equal(kp_store_prepare(s,
                                      "EXPLAIN QUERY PLAN SELECT max(as_of) FROM"
                                      " opportunity_snapshots",
                                      NULL, 0, &q, &e),
                     KP_OK);
    found = 0;
    while (kp_stmt_step(q, &e) == 1)
        found |= strstr(kp_stmt_column_text(q, 3), "COVERING INDEX opp_snap_key") != NULL;
    kp_stmt_finalize(q);
    assert_true(found);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE owner_id = '005A'"), 1);

    /* Reloading the only snapshot drops them again (a first snapshot once more). */
    j->as_of = kp_date_from_ymd(2026, 10, 31);
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunity_snapshots"), 6);
    kp_store_close(s);
    kp_job_free(j);
}

/* A failed load leaves every table as it was, even those loaded before the failure. */
static void test_rollback(void **state)
{
    (void)state;
    kp_job *j = sample_job();
    kp_store *s = new_store();
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
    const char *dump_sql =
        "SELECT (SELECT group_concat(rep_id || name, ',') FROM (SELECT * FROM reps ORDER BY 1))"
        " || (SELECT group_concat(opp_id || amount_cents, ',') FROM"
        " (SELECT * FROM opportunity_snapshots ORDER BY 2))"
        " || (SELECT group_concat(rep_id || period_start, ',') FROM"
        " (SELECT * FROM quotas ORDER BY 1, 2))";
    char before[4096];
    snprintf(before, sizeof before, "%s", qs(s, dump_sql));
    /* reps and quotas now load fine (and differ), then opportunities fail */
    free(write_file("reps.csv", "\"User ID\",\"Full Name\"\n\"009\",\"Only One\"\n", 0));
    free(write_file("quotas.csv", "rep_id,start_date,amount\n", 0));
    free(write_file("opportunities.csv", OPPS_HEADER "\"x\",\"y\"\r\n", 0));
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_ERR_DATA);
    assert_int_equal(e.line, 2);
    assert_string_equal(qs(s, dump_sql), before);
    assert_int_equal(qi(s, "SELECT count(*) FROM reps"), 3);
    kp_store_close(s);
    kp_job_free(j);
}

/* ---- rejects and findings --------------------------------------------------------------- */

static const char gen_reps[] = "rep_id,name\nr1,Rita\nr2,Rob\n";
static const char gen_opps[] = "opp_id,name,owner,stage,amount,close_date\n"
                               "o1,Deal 1,r1,Won,100,2026-10-01\n"
                               "o2,Deal 2,r1,Open,abc,2026-10-02\n"
                               "o3,Deal 3,Rob,Open,5,2026-02-30\n"
                               "o1,Deal 1b,r1,Won,7,2026-10-03\n"
                               "o4,Deal 4,nobody,Prospect,-5,2026-10-04\n";
static const char gen_rejects[] =
    "line,column,rule,message,opp_id,name,owner,stage,amount,close_date\n"
    "3,5,unparseable,\"amount: 'abc' is not an amount (expected e.g. 1234.50 or $1,234.50)\","
    "o2,Deal 2,r1,Open,abc,2026-10-02\n"
    "4,6,unparseable,close_date: '2026-02-30' is not a date (expected YYYY-MM-DD or "
    "M/D/YYYY),o3,Deal 3,Rob,Open,5,2026-02-30\n"
    "5,1,duplicate_id,opportunity 'o1' appears twice,o1,Deal 1b,r1,Won,7,2026-10-03\n"
    "6,5,negative_amount,amount: amount is negative,o4,Deal 4,nobody,Prospect,-5,2026-10-04\n";

static void test_rejects(void **state)
{
    (void)state;
    kp_job *j = new_job(80);
    add_src(j, "reps", KP_SRC_REPS, "generic", gen_reps);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", gen_opps);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(st.rows_read[1], 5);
    assert_int_equal(st.rows_loaded[1], 1);
    assert_int_equal(st.rows_rejected[1], 4);
    assert_string_equal(qs(s, "SELECT opp_id, owner_id, amount_cents, is_won, is_closed"
                              " FROM opportunities ORDER BY opp_id"),
                        "o1|r1|10000|1|1\n");
    assert_string_equal(
        qs(s, "SELECT line, column_name, rule, severity, value FROM dq_issues"
              " ORDER BY line, rule"),
        "3|amount|unparseable|reject|abc\n"
        "4|close_date|unparseable|reject|2026-02-30\n"
        "5|opp_id|duplicate_id|reject|o1\n"
        "6|amount|negative_amount|reject|-5\n"
        "6|owner|owner_not_in_reps|warning|nobody\n");
    char p[700];
    snprintf(p, sizeof p, "%s/rejects/opportunities.csv", j->output_dir);
    const char *got = slurp(p);
    assert_non_null(got);
    assert_string_equal(got, gen_rejects);
    kp_store_close(s);

    /* Over the threshold: an error naming the first reject, nothing loaded, and the
     * rejects file written for the user to look at. */
    unlink(p);
    j->max_reject_pct = 50;
    s = new_store();
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_ERR_DATA);
    char want[1200];
    snprintf(want, sizeof want,
             "source 'opportunities': 4 of 5 rows rejected (80.0%%), over max_reject_pct = 50; "
             "first reject: line 3, column 5 (amount): amount: 'abc' is not an amount "
             "(expected e.g. 1234.50 or $1,234.50); all rejects are in %s/rejects/"
             "opportunities.csv",
             j->output_dir);
    assert_string_equal(e.msg, want);
    assert_int_equal(e.line, 3);
    assert_int_equal(e.column, 5);
    assert_string_equal(e.file, j->sources[1].path);
    /* rolled back to the empty database: not even the schema remains */
    assert_int_equal(qi(s, "SELECT count(*) FROM sqlite_schema"), 0);
    assert_string_equal(slurp(p), gen_rejects);

    /* Fixed file, rerun: the stale rejects file goes away. */
    free(write_file("opportunities.csv", "opp_id,owner,stage,amount,close_date\no1,r1,Won,1,\n", 0));
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(access(p, F_OK), -1);
    kp_store_close(s);
    kp_job_free(j);
}

/* Owner by id, by unique name, ambiguous name; stage rules vs export flags; warnings. */
static void test_findings(void **state)
{
    (void)state;
    kp_job *j = new_job(0);
    add_src(j, "reps", KP_SRC_REPS, "salesforce",
            "Id,Name,IsActive\n005X,Ann Lee,true\n005Y,Bo Chan,\n005Z,Bo Chan,false\n");
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "salesforce",
            "Id,Name,StageName,Amount,Probability,CloseDate,CreatedDate,OwnerId,IsClosed,"
            "IsWon,AccountId\n"
            "a1,A,Discovery,10,20,2024-11-10,2024-01-22T16:14:25.000+0000,005X,,,acc\n"
            "a2,B,Closed Won,,100,2023-06-17,2024-01-22T16:14:25.000+0000,Ann Lee,1,1,acc\n"
            "a3,C,Closed Lost,5,0,2024-02-01,2024-01-22T23:59:59.000-0500,Bo Chan,1,,\n");
    add_src(j, "quotas", KP_SRC_QUOTAS, "salesforce",
            "QuotaOwnerId,StartDate,EndDate,QuotaAmount\n"
            "005X,2024-01-01,2024-03-31,300000\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    if (kp_load_run(j, s, &st, &e) != KP_OK) {
        print_error("%s:%ld:%ld: %s\n", e.file, e.line, e.column, e.msg);
        fail();
    }
    assert_string_equal(qs(s, "SELECT rep_id, active FROM reps ORDER BY 1"),
                        "005X|1\n005Y|1\n005Z|0\n");
    assert_string_equal(qs(s, "SELECT * FROM quotas ORDER BY 1"),
                        "005X|2024-01-01|2024-03-31|30000000\n");
    assert_string_equal(qs(s, "SELECT opp_id, owner_id, stage, amount_cents, probability,"
                              " created_date, is_closed, is_won, forecast_category"
                              " FROM opportunities ORDER BY opp_id"),
                        "a1|005X|Discovery|1000|0.2|2024-01-22|0|0|NULL\n"
                        "a2|005X|Closed Won|NULL|1.0|2024-01-22|1|1|Closed\n"
                        "a3|Bo Chan|Closed Lost|500|0.0|2024-01-23|1|0|Omitted\n");
    assert_string_equal(qs(s, "SELECT line, column_name, rule, severity FROM dq_issues"
                              " ORDER BY line, rule"),
                        "2|StageName|unknown_stage|warning\n"
                        "3|CloseDate|close_before_created|warning\n"
                        "3|Amount|won_without_amount|warning\n"
                        "4|AccountId|missing_account|warning\n"
                        "4|OwnerId|owner_not_in_reps|warning\n");
    assert_int_equal(st.rows_warned[1], 3);
    assert_int_equal(st.rows_loaded[1], 3);
    kp_store_close(s);
    kp_job_free(j);
}

static void test_quota_rules(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "reps", KP_SRC_REPS, "generic", gen_reps);
    add_src(j, "quotas", KP_SRC_QUOTAS, "generic",
            "rep_id,period_start,period_end,amount\n"
            "r1,2026-01-01,2026-03-31,100\n"
            "r1,2026-03-01,,100\n"
            "r9,2026-01-01,,100\n"
            "r2,2026-05-01,2026-04-30,100\n"
            "r2,2026-05-01,,(5)\n"
            "r2,,,1\n");
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic",
            "name,account,created_date,owner,stage,amount,close_date\n"
            "Deal,Acme,2026-01-05,r1,Lost,0,2026-02-01\n"
            "Deal,Acme,2026-01-06,r1,Lost,0,2026-02-01\n"
            "Deal,Acme,2026-01-05,r1,Lost,0,2026-02-01\n");
    kp_store *s = new_store();
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT line, rule FROM dq_issues WHERE source = 'quotas'"
                              " ORDER BY line, rule"),
                        "3|quota_overlap\n4|quota_unknown_rep\n5|period_end_before_start\n"
                        "6|negative_amount\n7|missing_required\n");
    assert_string_equal(qs(s, "SELECT * FROM quotas ORDER BY 1"),
                        "r1|2026-01-01|2026-03-31|10000\n");
    /* No id column: name|account|created date is the key. */
    assert_string_equal(qs(s, "SELECT opp_id FROM opportunities ORDER BY 1"),
                        "Deal|Acme|2026-01-05\nDeal|Acme|2026-01-06\n");
    assert_string_equal(qs(s, "SELECT line, rule FROM dq_issues WHERE source = 'opportunities'"
                              " ORDER BY line"),
                        "4|duplicate_id\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* Quotas are checked in memory and inserted in batches: a period overlapping one from an
 * earlier batch (2048 rows) is still found, and the message names the overlapped period
 * that starts first, not the one accepted last. */
static void test_quota_overlap_batches(void **state)
{
    (void)state;
    size_t cap = 200000, n = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    n += (size_t)snprintf(csv + n, cap - n,
                          "rep_id,period_start,period_end,amount\n"
                          "r1,2026-01-01,2026-03-31,100\n"   /* line 2 */
                          "r1,2026-06-01,2026-06-30,100\n"); /* line 3 */
    for (int y = 1900; y <= 2075; y++) /* lines 4..2115: 2112 monthly quotas of r2 */
        for (int m = 1; m <= 12; m++)
            n += (size_t)snprintf(csv + n, cap - n, "r2,%04d-%02d-01,,1\n", y, m);
    snprintf(csv + n, cap - n,
             "r1,2026-05-01,2026-07-31,100\n"  /* 2116: overlaps June only */
             "r1,2025-12-01,2026-12-31,100\n"  /* 2117: overlaps both r1 periods */
             "r2,1900-02-15,1900-02-20,1\n"    /* 2118: overlaps the first batch */
             "r1,2026-04-01,,1\n");           /* 2119: April: accepted */
    kp_job *j = new_job(100);
    add_src(j, "reps", KP_SRC_REPS, "generic", gen_reps);
    add_src(j, "quotas", KP_SRC_QUOTAS, "generic", csv);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", gen_opps);
    free(csv);
    kp_store *s = new_store();
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
    assert_string_equal(
        qs(s, "SELECT line, rule, message FROM dq_issues WHERE source = 'quotas' ORDER BY line"),
        "2116|quota_overlap|period_start: quota 2026-05-01..2026-07-31 overlaps the quota of"
        " 'r1' starting 2026-06-01\n"
        "2117|quota_overlap|period_start: quota 2025-12-01..2026-12-31 overlaps the quota of"
        " 'r1' starting 2026-01-01\n"
        "2118|quota_overlap|period_start: quota 1900-02-15..1900-02-20 overlaps the quota of"
        " 'r2' starting 1900-02-01\n");
    assert_string_equal(qs(s, "SELECT rep_id, count(*), min(period_start), max(period_end)"
                              " FROM quotas GROUP BY 1 ORDER BY 1"),
                        "r1|3|2026-01-01|2026-06-30\nr2|2112|1900-01-01|2075-12-31\n");
    kp_store_close(s);
    kp_job_free(j);
}

static void test_presets_hubspot_pipedrive(void **state)
{
    (void)state;
    kp_job *j = new_job(0);
    add_src(j, "deals", KP_SRC_OPPORTUNITIES, "hubspot",
            "Record ID,Deal Name,Deal Stage,Amount,Close Date,Create Date,Deal owner,"
            "Deal probability\n"
            "11,X,Contract Sent,1200.5,2024-05-01 10:00,2024-01-02 09:30,Kim,\n"
            "12,Y,closedwon,\"1,000\",2024-04-01,2024-01-03,Kim,1\n"
            "13,Z,appointmentscheduled,0,2024-06-01,2024-01-03,Kim,0.25\n");
    kp_store *s = new_store();
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, stage, amount_cents, probability, close_date,"
                              " is_closed, is_won FROM opportunities ORDER BY 1"),
                        "11|Contract Sent|120050|0.9|2024-05-01|0|0\n"
                        "12|closedwon|100000|1.0|2024-04-01|1|1\n"
                        "13|appointmentscheduled|0|0.25|2024-06-01|0|0\n");
    kp_store_close(s);
    kp_job_free(j);

    j = new_job(0);
    add_src(j, "deals", KP_SRC_OPPORTUNITIES, "pipedrive",
            "Deal - ID;Deal - Title;Deal - Owner;Deal - Stage;Deal - Value;Deal - Status;"
            "Deal - Expected close date;Deal - Deal created\n"
            "7;A;Kim;Proposal Made;1.234,50;won;2023-04-04;2023-01-01 11:48\n"
            "8;B;Kim;Custom Stage;500;open;2023-05-04;2023-01-01 11:48\n"
            "9;C;Kim;Qualified;0;Lost;2023-05-04;2023-01-01 11:48\n")
        ->decimal_comma = 1;
    s = new_store();
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, amount_cents, probability, is_closed, is_won"
                              " FROM opportunities ORDER BY 1"),
                        "7|123450|NULL|1|1\n8|50000|NULL|0|0\n9|0|NULL|1|0\n");
    kp_store_close(s);
    kp_job_free(j);
}

static void test_cp1252_and_maps(void **state)
{
    (void)state;
    kp_job *j = new_job(0);
    kp_source *r = add_src(j, "team", KP_SRC_REPS, "generic",
                           "agent,boss\nJ\xFCrgen \x93JJ\x94 M\xFCller,Zo\xEB\n");
    r->encoding = xstrdup("cp1252");
    add_map(r, "rep_id", "agent");
    add_map(r, "name", "AGENT ");
    add_map(r, "manager_id", "boss");
    kp_store *s = new_store();
    kp_error e = {0};
    if (kp_load_run(j, s, NULL, &e) != KP_OK) {
        print_error("%s:%ld:%ld: %s\n", e.file, e.line, e.column, e.msg);
        fail();
    }
    assert_string_equal(qs(s, "SELECT rep_id, name, manager_id FROM reps"),
                        "J\xC3\xBCrgen \xE2\x80\x9CJJ\xE2\x80\x9D M\xC3\xBCller|"
                        "J\xC3\xBCrgen \xE2\x80\x9CJJ\xE2\x80\x9D M\xC3\xBCller|Zo\xC3\xAB\n");
    kp_store_close(s);
    kp_job_free(j);
}

static void test_presets_api(void **state)
{
    (void)state;
    const kp_preset *p = kp_presets_find("SalesForce");
    assert_non_null(p);
    assert_string_equal(p->name, "salesforce");
    assert_string_equal(kp_presets_find(NULL)->name, "generic");
    assert_null(kp_presets_find("zoho"));
    assert_non_null(kp_presets_field(p, KP_SRC_OPPORTUNITIES, "owner_id"));
    assert_null(kp_presets_field(p, KP_SRC_OPPORTUNITIES, "nope"));
    const kp_stage_rule *r = kp_presets_stage(p, " negotiation/review ", 20);
    assert_non_null(r);
    assert_int_equal(r->order, 8);
    assert_true(r->probability == 0.90);
    assert_null(kp_presets_stage(p, "Won", 3));
    assert_true(kp_presets_stage(kp_presets_find("hubspot"), "Decision Maker Bought-In", 24)
                    ->probability == 0.8);
    assert_true(kp_presets_header_eq("  OPPORTUNITY owner ", 20, "Opportunity Owner"));
    assert_false(kp_presets_header_eq("Opportunity Owners", 18, "Opportunity Owner"));
}

/* ---- malformed files: exact error text --------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    kp_source_kind kind;
    const char *preset;
    const char *data; /* NULL: generated by the test */
    size_t len;       /* 0 = strlen */
    char delimiter;
    const char *encoding;
    const char *map_field, *map_header;
    kp_err code;
    const char *want; /* "<file>:line:col: msg" with <file> the csv's base name */
} bad_case;

#define OPP_H "opp_id,owner,stage,amount,close_date\n"
#define GEN KP_SRC_OPPORTUNITIES, "generic"

static const bad_case bad_cases[] = {
    {"unterminated quote", GEN, OPP_H "o1,r,Won,1,2024-01-01\no2,\"r,Won,1,2024-01-01\n", 0, 0,
     NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:3:2: unterminated quoted field: the file ends inside the quotes opened in field 2 "
     "of the record starting on line 3"},
    {"ragged short", GEN, OPP_H "o1,r,Won,1\n", 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:2:5: row has 4 fields, the header has 5 (expected 5, got 4): a missing field or a "
     "line break inside an unquoted value?"},
    {"ragged long", GEN, OPP_H "o1,r,Won,1,200,2024-01-01\n", 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:2:6: row has 6 fields, the header has 5 (expected 5, got 6): an unquoted delimiter "
     "inside a value? quote that value"},
    {"ragged after multi-line field", GEN, OPP_H "\"o\n1\",r,Won\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:2:4: row has 3 fields, the header has 5 (expected 5, got 3): a missing field or a "
     "line break inside an unquoted value?"},
    {"NUL byte", GEN, OPP_H "o1,r,Wo\0n,1,2024-01-01\n", sizeof OPP_H + 22, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:2:3: NUL byte in the data: this is not a text CSV file (a UTF-16 export or a "
     "binary file?); save it as CSV UTF-8"},
    {"UTF-16", GEN, "\xFF\xFEo\0p\0", 6, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1:1: the file is UTF-16 encoded; save it as CSV UTF-8"},
    {"field too long", GEN, NULL, 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:2:2: field 2 is longer than the limit of 65536 bytes (a missing closing quote can "
     "make one field swallow the rest of the file)"},
    {"too many columns", GEN, NULL, 1, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1:1025: row has more than 1024 fields (the limit)"},
    {"empty file", GEN, "", 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1: the file is empty: a opportunities export starts with a header line"},
    {"BOM only", GEN, "\xEF\xBB\xBF", 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1: the file is empty: a opportunities export starts with a header line"},
    {"blank lines only", KP_SRC_REPS, "generic", "\n\r\n\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA, "f.csv:1: the file is empty: a reps export starts with a header line"},
    {"header only", GEN, OPP_H, 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1: the file has a header but no data rows: an opportunities export must have at "
     "least one opportunity"},
    {"header and footer only", KP_SRC_OPPORTUNITIES, "salesforce",
     OPPS_HEADER "\n\"Grand Totals (0 records)\"\n", 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1: the file has a header but no data rows: an opportunities export must have at "
     "least one opportunity"},
    {"missing stage column", GEN, "opp_id,owner,amount,close_date\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:1: no column for the required field 'stage' of a generic opportunities export: "
     "expected one of \"stage\", \"deal_stage\" (or set `map.stage = <header>` in [source f])"},
    {"missing owner column (salesforce)", KP_SRC_OPPORTUNITIES, "salesforce",
     "\"Opportunity ID\",\"Stage\",\"Amount\",\"Close Date\"\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:1: no column for the required field 'owner' of a salesforce opportunities export: "
     "expected one of \"Opportunity Owner\", \"Owner Name\", \"Owner.Name\", \"OwnerId\", "
     "\"Owner ID\", \"Opportunity Owner ID\" (or set `map.owner = <header>` in [source f])"},
    {"no id and no name", GEN, "owner,stage,amount,close_date\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:1: no column for the required field 'opp_id': expected one of \"opp_id\", "
     "\"opportunity_id\", \"deal_id\", \"id\", or an opportunity name column (name, account "
     "and created date then identify a deal)"},
    {"reps without name", KP_SRC_REPS, "generic", "rep_id,email\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:1: no column for the required field 'name' of a generic reps export: expected one "
     "of \"Full Name\", \"Name\", \"full_name\", \"rep_name\", \"Owner Name\" (or set "
     "`map.name = <header>` in [source f])"},
    {"quotas without amount", KP_SRC_QUOTAS, "salesforce",
     "\"Quota Owner ID\",\"Start Date\"\n", 0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:1: no column for the required field 'amount' of a salesforce quotas export: "
     "expected one of \"Quota Amount\", \"QuotaAmount\", \"amount\", \"quota\" (or set "
     "`map.amount = <header>` in [source f])"},
    {"semicolons read as commas", GEN, "opp_id;owner;stage;amount;close_date\n", 0, ',', NULL,
     NULL, NULL, KP_ERR_DATA,
     "f.csv:1:1: the header has a single column, but a opportunities export has several: is "
     "the delimiter ';'? (set `delimiter = semicolon` in [source f])"},
    {"pipe delimiter", GEN, "opp_id|owner|stage|amount|close_date\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:1:1: the header has a single column, but a opportunities export has several: is "
     "the delimiter '|'? (kpipress reads , ; and tab: export again with one of them in "
     "[source f])"},
    {"Latin-1 byte", GEN, OPP_H "o1,J\xFCrgen,Won,1,2024-01-01\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:2:2: invalid UTF-8 in field 2; if the file was saved by Excel on Windows, set "
     "`encoding = cp1252` in [source f] or save it as CSV UTF-8"},
    {"invalid UTF-8 in header", GEN, "opp_id,own\xC3r,stage\n", 0, 0, NULL, NULL, NULL,
     KP_ERR_DATA,
     "f.csv:1:2: invalid UTF-8 in field 2; if the file was saved by Excel on Windows, set "
     "`encoding = cp1252` in [source f] or save it as CSV UTF-8"},
    {"map to a missing header", GEN, OPP_H "o1,r,Won,1,2024-01-01\n", 0, 0, NULL, "amount",
     "Amount (converted)", KP_ERR_DATA,
     "f.csv:1: map.amount = Amount (converted) (job line 20), but the header has no column "
     "\"Amount (converted)\""},
    {"map of an unknown field", GEN, OPP_H, 0, 0, NULL, "amount_usd", "amount", KP_ERR_CONFIG,
     "job.ini:20: map.amount_usd: a opportunities source has no field 'amount_usd'"},
    {"quote inside unquoted field", GEN, OPP_H "o1,r\"x\",Won,1,2024-01-01\n", 0, 0, NULL,
     NULL, NULL, KP_ERR_DATA,
     "f.csv:2:2: malformed quoting: a '\"' inside an unquoted field; a field containing quotes "
     "must be quoted as a whole, with each inner quote doubled (\"\")"},
    {"text after closing quote", GEN, OPP_H "o1,\"r\"x,Won,1,2024-01-01\n", 0, 0, NULL, NULL,
     NULL, KP_ERR_DATA,
     "f.csv:2:2: malformed quoting: text after the closing quote of a quoted field; a field "
     "containing quotes must be quoted as a whole, with each inner quote doubled (\"\")"},
    {"data after the footer", KP_SRC_OPPORTUNITIES, "salesforce",
     "Id,OwnerId,StageName,Amount,CloseDate\no1,r,Closed Won,1,2024-01-01\n"
     "\"Grand Totals (1 records)\"\n\"Confidential Information - Do Not Distribute\"\nx,y\n",
     0, 0, NULL, NULL, NULL, KP_ERR_DATA,
     "f.csv:5:3: row has 2 fields, the header has 5 (expected 5, got 2): a missing field or a "
     "line break inside an unquoted value?"},
    {"unknown preset", KP_SRC_OPPORTUNITIES, "zoho", OPP_H, 0, 0, NULL, NULL, NULL,
     KP_ERR_CONFIG,
     "job.ini:11: [source f]: unknown preset 'zoho' (known: salesforce, hubspot, pipedrive, "
     "generic)"},
    {"unknown encoding", GEN, OPP_H, 0, 0, "latin9", NULL, NULL, KP_ERR_CONFIG,
     "job.ini:11: [source f]: unknown encoding 'latin9' (use utf-8 or cp1252)"},
};

static void run_bad_case(const bad_case *c)
{
    kp_job *j = new_job(0);
    char *gen = NULL;
    const char *data = c->data;
    size_t len = c->len;
    if (!data && len == 0) { /* a field over KP_CSV_MAX_FIELD */
        size_t n = 70000;
        gen = malloc(n + 64);
        assert_non_null(gen);
        strcpy(gen, OPP_H "x,\"");
        memset(gen + sizeof OPP_H + 2, 'y', n);
        strcpy(gen + sizeof OPP_H + 2 + n, "\"\n");
        data = gen;
    } else if (!data) { /* 1025 header columns */
        gen = malloc(1025 * 8);
        assert_non_null(gen);
        size_t o = 0;
        for (int i = 0; i < 1025; i++)
            o += (size_t)sprintf(gen + o, "%sc%d", i ? "," : "", i);
        strcpy(gen + o, "\n");
        data = gen;
        len = 0;
    }
    kp_source *s = add_src_n(j, "f", c->kind, c->preset, data, len);
    s->delimiter = c->delimiter;
    if (c->encoding)
        s->encoding = xstrdup(c->encoding);
    if (c->map_field)
        add_map(s, c->map_field, c->map_header);
    kp_store *st = new_store();
    kp_error e = {0};
    kp_err rc = kp_load_run(j, st, NULL, &e);
    char got[2048];
    const char *base = strrchr(e.file, '/');
    snprintf(got, sizeof got, "%s:", base ? base + 1 : e.file);
    if (e.line)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%ld:", e.line);
    if (e.column)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%ld:", e.column);
    snprintf(got + strlen(got), sizeof got - strlen(got), " %s", e.msg);
    if (rc != c->code || strcmp(got, c->want)) {
        print_error("case '%s': code %d (want %d)\n  got:  %s\n  want: %s\n", c->what, rc,
                    c->code, got, c->want);
        fail();
    }
    /* nothing was loaded */
    assert_int_equal(qi(st, "SELECT count(*) FROM sqlite_schema WHERE name = 'reps'"), 0);
    kp_store_close(st);
    kp_job_free(j);
    free(gen);
}

static void test_malformed(void **state)
{
    (void)state;
    size_t n = sizeof bad_cases / sizeof bad_cases[0];
    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++)
        run_bad_case(&bad_cases[i]);
}

/* Instants are dated in the job's zone: the evening of the last day of a month in New
 * York is the next month in UTC. Dates checked with Python's zoneinfo. */
static void test_timezone(void **state)
{
    (void)state;
    kp_job *j = new_job(0);
    free(j->timezone);
    j->timezone = xstrdup("Mars/Olympus");
    add_src(j, "o", GEN, OPP_H "o1,r,Won,1,2024-01-01\n");
    kp_store *s = new_store();
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_ERR_CONFIG);
    assert_string_equal(e.file, "job.ini");
    assert_non_null(strstr(e.msg, "timezone = Mars/Olympus: unknown time zone"));
    free(j->timezone);
    j->timezone = xstrdup("+05:30");
    free(write_file("o.csv", OPP_H "o1,r,Won,1,2024-01-01T20:00:00Z\n", 0));
    assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT close_date FROM opportunities"), "2024-01-02\n");
    if (access("/usr/share/zoneinfo/America/New_York", R_OK) == 0) {
        free(j->timezone);
        j->timezone = xstrdup("America/New_York");
        free(write_file("o.csv",
                        OPP_H "o1,r,Won,1,2024-01-31T23:30:00-05:00\n" /* Jan 31 in NY */
                              "o2,r,Won,1,2024-02-01T04:30:00Z\n"      /* the same instant */
                              "o3,r,Won,1,2024-07-01T04:30:00.000+0000\n" /* EDT: Jul 1 */
                              "o4,r,Won,1,2024-11-03T04:30:00Z\n" /* before fall-back */
                              "o5,r,Won,1,2024-11-03T06:30:00Z\n" /* after: EST */
                              "o6,r,Won,1,2024-03-31 23:30\n",    /* no zone: local */
                        0));
        assert_int_equal(kp_load_run(j, s, NULL, &e), KP_OK);
        assert_string_equal(qs(s, "SELECT opp_id, close_date FROM opportunities ORDER BY 1"),
                            "o1|2024-01-31\no2|2024-01-31\no3|2024-07-01\n"
                            "o4|2024-11-03\no5|2024-11-03\no6|2024-03-31\n");
    }
    kp_store_close(s);
    kp_job_free(j);
}

/* ---- currency conversion, optional sources, [stages] ------------------------------------ */

/* EUR deals converted with the rates of their close month (1 EUR = 1.10 USD in January,
 * 1.25 in February): cents computed by hand; no rate for March is a reject naming it. */
static void test_currency(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "rates", KP_SRC_RATES, "generic",
            "currency,month,rate\nEUR,2024-01,1.10\nEUR,2024-02-01,1.25\nusd,2024-01,1\n"
            "GBP,2024-01,0\n");
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic",
            "opp_id,owner,stage,amount,currency,close_date\n"
            "o1,r,Won,100.00,EUR,2024-01-31\n"
            "o2,r,Won,\xE2\x82\xAC" "10.01,,2024-02-10\n"
            "o3,r,Won,50,USD,2024-03-01\n"
            "o4,r,Won,7,EUR,2024-03-15\n"
            "o5,r,Won,7,E,2024-03-15\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, amount_cents, currency, original_amount_cents,"
                              " original_currency FROM opportunities ORDER BY 1"),
                        "o1|11000|USD|10000|EUR\n"
                        "o2|1251|USD|1001|EUR\n"
                        "o3|5000|USD|NULL|NULL\n");
    assert_string_equal(qs(s, "SELECT source, line, rule, message FROM dq_issues"
                              " WHERE severity = 'reject' ORDER BY 1, 2"),
                        "opportunities|5|no_rate|amount: no EUR rate for 2024-03 in the rates"
                        " source\n"
                        "opportunities|6|unparseable|currency: 'E' is not a three-letter"
                        " currency code like EUR\n"
                        "rates|4|unparseable|currency: 'usd' is not a three-letter currency"
                        " code like EUR\n"
                        "rates|5|unparseable|rate: a rate must be above 0\n");
    kp_store_close(s);

    /* Without a rates source the message says what to add. */
    kp_job_free(j);
    j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic",
            "opp_id,owner,stage,amount,currency,close_date\no1,r,Won,1,GBP,2024-05-02\n"
            "o2,r,Won,1,USD,2024-05-02\n");
    s = new_store();
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT message FROM dq_issues WHERE rule = 'no_rate'"),
                        "amount: the amount is in GBP, the job's currency is USD: add a rates "
                        "source (currency, month, rate) with the GBP rate for 2024-05\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* Every optional source into its table, with derived flags and its own rules. */
static void test_optional_sources(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", OPP_H "o1,r,Won,1,2024-01-01\n");
    add_src(j, "accounts", KP_SRC_ACCOUNTS, "salesforce",
            "Account ID,Account Name,Industry,Billing State/Province,Account Owner,Employees,"
            "Annual Revenue,Created Date\n"
            "001A,Acme,Retail,CA,005A,120,\"$1,000,000.00\",1/2/2020\n");
    add_src(j, "activities", KP_SRC_ACTIVITIES, "generic",
            "rep,type,date,minutes\nr1,Call,2024-01-03,30\nr1,Admin,2024-01-03,15\n"
            "r1,Call,2024-01-04,1.5\n");
    add_src(j, "leads", KP_SRC_LEADS, "salesforce",
            "Lead ID,Create Date,Converted Date,Lead Source,Lead Owner\n"
            "00Q1,1/5/2024,2/1/2024,Web,005A\n00Q2,1/6/2024,,Partner,005A\n");
    add_src(j, "spend", KP_SRC_SPEND, "generic",
            "month,channel,amount\n2024-01,Web,\"1,500.00\"\n3/2024,Events,-5\n");
    add_src(j, "subscriptions", KP_SRC_SUBSCRIPTIONS, "generic",
            "account,start_date,end_date,mrr\nAcme,2024-01-01,,99.90\n"
            "Beta,2024-03-01,2024-02-01,10\n");
    add_src(j, "history", KP_SRC_STAGE_HISTORY, "salesforce",
            "OpportunityId,StageName,CreatedDate,Amount\n"
            "006A,Prospecting,2024-01-22T16:14:25.000+0000,5000\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT * FROM accounts"),
                        "001A|Acme|Retail|CA|005A|120|100000000|2020-01-02|2\n");
    assert_string_equal(qs(s, "SELECT rep_id, type, activity_date, minutes, selling"
                              " FROM activities ORDER BY source_line"),
                        "r1|Call|2024-01-03|30|1\nr1|Admin|2024-01-03|15|0\n");
    assert_string_equal(qs(s, "SELECT lead_id, created_date, converted_date, is_converted,"
                              " lead_source, owner_id FROM leads ORDER BY 1"),
                        "00Q1|2024-01-05|2024-02-01|1|Web|005A\n"
                        "00Q2|2024-01-06|NULL|0|Partner|005A\n");
    assert_string_equal(qs(s, "SELECT month, channel, amount_cents FROM spend"),
                        "2024-01-01|Web|150000\n");
    assert_string_equal(qs(s, "SELECT account, start_date, end_date, mrr_cents FROM"
                              " subscriptions"),
                        "Acme|2024-01-01|NULL|9990\n");
    assert_string_equal(qs(s, "SELECT * FROM stage_history"),
                        "006A|Prospecting|2024-01-22|500000|2\n");
    assert_string_equal(qs(s, "SELECT source, line, rule, message FROM dq_issues"
                              " WHERE severity = 'reject' ORDER BY 1, 2"),
                        "activities|4|unparseable|minutes: '1.5' is not a whole number\n"
                        "spend|3|negative_amount|amount: amount is negative\n"
                        "subscriptions|3|period_end_before_start|end_date: the subscription "
                        "ends before it starts\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* [stages] parsed from a job file, its mistakes with their lines, and the rules applied:
 * a custom stage decides closed/won, probability and forecast category. */
static void test_stage_rules(void **state)
{
    (void)state;
    static const struct {
        const char *rule, *msg;
    } bad[] = {
        {"Negotiation = 5 | 0.8", "bad value \"5 | 0.8\": expected order | probability | "
                                  "open, won or lost [| forecast category], e.g. 5 | 0.8 | "
                                  "open | Commit"},
        {"Negotiation = x | 0.8 | open", "bad value \"x | 0.8 | open\": expected a stage order "
                                         "1-1000 first: order | ..."},
        {"Negotiation = 5 | 1.8 | open", "bad value \"5 | 1.8 | open\": expected a probability "
                                         "0..1 (or 0%..100%) second: order | probability | ..."},
        {"Negotiation = 5 | 80% | maybe", "bad value \"5 | 80% | maybe\": expected open, won "
                                          "or lost third: order | probability | open|won|lost"},
        {"Negotiation = 5 | 0.8 | open\nnegotiation = 6 | 0.8 | open",
         "stage defined twice (first at line 5)"},
    };
    char src[600], job[600];
    kp_job *jb = NULL;
    kp_error e = {0};
    free(write_file("st_opps.csv", OPP_H "o1,r,Negotiation,10,2024-01-01\n"
                                         "o2,r,Signed,10,2024-01-01\no3,r,Prospect,1,2024-01-01\n",
                    0));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(src, sizeof src,
                 "[job]\nname = t\nperiod = previous_month\n[stages]\n%s\n"
                 "[source opportunities]\nfile = st_opps.csv\n",
                 bad[i].rule);
        char *p = write_file("st_job.ini", src, 0);
        assert_int_equal(kp_job_load(p, &jb, &e), KP_ERR_CONFIG);
        if (!strstr(e.msg, bad[i].msg)) {
            print_error("case %zu: got '%s'\n", i, e.msg);
            fail();
        }
        assert_int_equal(e.line, i == 4 ? 6 : 5);
        free(p);
    }
    snprintf(src, sizeof src,
             "[job]\nname = t\nperiod = previous_month\nas_of = 2024-02-01\n"
             "output_dir = %s/out\n[stages]\nNegotiation = 5 | 80%% | open | Commit\n"
             "Signed = 9 | 1 | won | Closed\n[source opportunities]\nfile = st_opps.csv\n",
             dir);
    snprintf(job, sizeof job, "%s", src);
    char *p = write_file("st_job.ini", job, 0);
    assert_int_equal(kp_job_load(p, &jb, &e), KP_OK);
    assert_int_equal(kp_job_resolve(jb, NULL, &e), KP_OK);
    assert_int_equal(jb->nstages, 2);
    kp_store *s = new_store();
    assert_int_equal(kp_load_run(jb, s, NULL, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, probability, forecast_category, is_closed, is_won"
                              " FROM opportunities ORDER BY 1"),
                        "o1|0.8|Commit|0|0\no2|1.0|Closed|1|1\no3|NULL|NULL|0|0\n");
    assert_string_equal(qs(s, "SELECT stage, stage_order FROM stage_rules ORDER BY 2, 1"),
                        "Negotiation|5\nSigned|9\nClosed Won|90\nWon|90\nClosed Lost|91\n"
                        "Lost|91\n");
    kp_store_close(s);
    kp_job_free(jb);
    free(p);
}

/* A duplicate deal in a later snapshot, both ways: with the key index kept up to date
 * (found by the insert thread's unique constraint) and without it (found by the filter,
 * the index built after the rows). Rejected with its line, rejects file in line order. */
static void test_duplicate_incremental(void **state)
{
    (void)state;
    for (int indexed = 0; indexed < 2; indexed++) {
        kp_job *j = new_job(100);
        add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic",
                OPP_H "o1,r,Won,1,2024-01-01\no2,r,Won,x,2024-01-01\n");
        kp_store *s = new_store();
        kp_load_stats st;
        kp_error e = {0};
        assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
        if (indexed)
            assert_int_equal(kp_load_ensure_indexes(s, KP_LOAD_INDEX_KEY, &e), KP_OK);
        j->as_of = kp_date_from_ymd(2026, 11, 30);
        free(write_file("opportunities.csv",
                        OPP_H
                        "o1,r,Won,1,2024-01-01\no2,r,Won,x,2024-01-01\no1,r,Lost,2,2024-01-02\n",
                        0));
        assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
        assert_int_equal(st.rows_loaded[0], 1);
        assert_int_equal(st.rows_rejected[0], 2);
        assert_string_equal(qs(s, "SELECT opp_id, stage FROM opportunities"), "o1|Won\n");
        assert_string_equal(qs(s, "SELECT line, rule FROM dq_issues WHERE as_of = '2026-11-30'"
                                  " AND severity = 'reject' ORDER BY line"),
                            "3|unparseable\n4|duplicate_id\n");
        assert_int_equal(qi(s, "SELECT count(*) FROM sqlite_master WHERE name = 'opp_snap_key'"),
                         1);
        char p[700];
        snprintf(p, sizeof p, "%s/rejects/opportunities.csv", j->output_dir);
        assert_string_equal(slurp(p),
                            "line,column,rule,message,opp_id,owner,stage,amount,close_date\n"
                            "3,4,unparseable,\"amount: 'x' is not an amount (expected e.g. "
                            "1234.50 or $1,234.50)\",o2,r,Won,x,2024-01-01\n"
                            "4,1,duplicate_id,opportunity 'o1' appears twice,o1,r,Lost,2,"
                            "2024-01-02\n");
        kp_store_close(s);
        kp_job_free(j);
    }
}

/* The bulk insert keeps its bindings between statements and binds a NULL only where the
 * parameter held a value: with an amount empty every third row and a close date every
 * fifth, each parameter of the multi-row statement (and of the single-row one for the
 * last rows) goes from NULL to a value and back, and every row must read back as written. */
static void test_bulk_nulls_between_rows(void **state)
{
    (void)state;
    enum { ROWS = 300 }; /* two full multi-row statements of 128, then single rows */
    size_t cap = 64 + ROWS * 48, o = 0, w = 0;
    char *csv = malloc(cap), want[ROWS * 40];
    assert_non_null(csv);
    o += (size_t)snprintf(csv + o, cap - o, OPP_H);
    for (int i = 0; i < ROWS; i++) {
        char amount[16] = "", close[16] = "";
        if (i % 3)
            snprintf(amount, sizeof amount, "%d", i + 1);
        if (i % 5)
            snprintf(close, sizeof close, "2024-01-%02d", 1 + i % 28);
        o += (size_t)snprintf(csv + o, cap - o, "o%d,r,Lost,%s,%s\n", i, amount, close);
        /* line i + 2, cents = amount * 100, qs writes NULL for NULL */
        w += (size_t)snprintf(want + w, sizeof want - w, "%d|%s%s|%s\n", i + 2,
                              i % 3 ? amount : "NULL", i % 3 ? "00" : "", i % 5 ? close : "NULL");
    }
    kp_job *j = new_job(100);
    add_src(j, "opportunities", GEN, csv);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(st.rows_loaded[0], ROWS);
    assert_string_equal(qs(s, "SELECT source_line, amount_cents, close_date"
                              " FROM opportunity_snapshots ORDER BY source_line"),
                        want);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunity_snapshots"
                           " WHERE original_amount_cents IS NOT NULL"
                           " OR original_currency IS NOT NULL"),
                     0);
    kp_store_close(s);
    kp_job_free(j);
    free(csv);
}

/* Parameters of the multi-row INSERT keep their values between statements, and one that
 * holds the same NULL, number or interned text (stage, category, type, lead source,
 * product, currency) is not bound again: over 1,500 rows each such column goes between
 * repeated values, new values, NULL and, for lead source, texts too long to intern; the
 * first 1,100 products are all different, so the table of interned texts fills up and
 * later texts go as plain text. Every row must read back as written. */
static void test_bulk_kept_values(void **state)
{
    (void)state;
    enum { ROWS = 1500 };
    size_t cap = 128 + ROWS * 160, o = 0, w = 0, wcap = ROWS * 160, at[ROWS + 1];
    char *csv = malloc(cap), *want = malloc(wcap);
    assert_non_null(csv);
    assert_non_null(want);
    o += (size_t)snprintf(csv + o, cap - o,
                          "opp_id,owner,stage,amount,close_date,probability,forecast_category,"
                          "type,lead_source,product,currency\n");
    for (int i = 0; i < ROWS; i++) {
        int won = i / 128 % 2, open = i % 7 == 0;
        const char *stage = open ? "Prospecting" : won ? "Won" : "Lost";
        char prob[8] = "", lead[80] = "Web", product[16];
        if (i % 5)
            snprintf(prob, sizeof prob, "%d", i % 2 ? 10 : 20);
        if (i % 4 == 0)
            snprintf(lead, sizeof lead, "a lead source longer than forty-eight bytes: %d", i);
        snprintf(product, sizeof product, i < 1100 ? "P%d" : "Q%d", i < 1100 ? i : i % 7);
        const char *fc = i % 3 ? "Pipeline" : "";
        const char *type = i % 3 == 0 ? "" : i % 3 == 1 ? "New Business" : "Renewal";
        o += (size_t)snprintf(csv + o, cap - o, "o%d,r,%s,%d,2024-01-01,%s,%s,%s,%s,%s,%s\n", i,
                              stage, i + 1, prob, fc, type, lead, product, i % 6 ? "" : "usd");
        /* Empty probability and category: the generic preset's stage rule (Won: 100%,
         * Closed; Lost: 0%, Omitted), none for an unknown stage. */
        const char *want_prob = i % 5  ? (i % 2 ? "0.1" : "0.2")
                                : open ? "NULL"
                                : won  ? "1.0"
                                       : "0.0";
        const char *want_fc = *fc ? fc : open ? "NULL" : won ? "Closed" : "Omitted";
        at[i] = w;
        w += (size_t)snprintf(want + w, wcap - w, "%d|%s|%s|%s|%s|%s|%s|USD\n", i + 2, stage,
                              want_prob, want_fc, *type ? type : "NULL", lead, product);
    }
    kp_job *j = new_job(100);
    add_src(j, "opportunities", GEN, csv);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    if (kp_load_run(j, s, &st, &e) != KP_OK) {
        print_error("%s:%ld:%ld: %s\n", e.file, e.line, e.column, e.msg);
        fail();
    }
    assert_int_equal(st.rows_loaded[0], ROWS);
    at[ROWS] = w;
    for (int i = 0; i < ROWS; i += 50) { /* qs's buffer holds 50 rows */
        char sql[300];
        snprintf(sql, sizeof sql,
                 "SELECT source_line, stage, probability, forecast_category, type, lead_source,"
                 " product, currency FROM opportunity_snapshots WHERE source_line BETWEEN %d"
                 " AND %d ORDER BY source_line",
                 i + 2, i + 51);
        char next = want[at[i + 50]]; /* ROWS is a multiple of 50 */
        want[at[i + 50]] = '\0';
        assert_string_equal(qs(s, sql), want + at[i]);
        want[at[i + 50]] = next;
    }
    kp_store_close(s);
    kp_job_free(j);
    free(csv);
    free(want);
}

/* Dates go through the loader's caches of parsed texts and formatted days: a repeated
 * text gives the same day, two days 4096 apart (one slot of the day cache) alternate and
 * each keeps its own text, and a bad date is rejected each time it appears, not once. */
static void test_date_caches(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "opportunities", GEN,
            OPP_H "o1,r,Lost,1,6/9/2023\n"
                  "o2,r,Lost,1,1/1/2000\n"
                  "o3,r,Lost,1,3/20/2011\n"
                  "o4,r,Lost,1,6/9/2023\n"
                  "o5,r,Lost,1,2/30/2024\n"
                  "o6,r,Lost,1,2000-01-01\n"
                  "o7,r,Lost,1,2/30/2024\n"
                  "o8,r,Lost,1,2011-03-20\n"
                  "o9,r,Lost,1,06/09/2023\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_int_equal(st.rows_loaded[0], 7);
    assert_string_equal(qs(s, "SELECT opp_id, close_date FROM opportunity_snapshots"
                              " ORDER BY source_line"),
                        "o1|2023-06-09\no2|2000-01-01\no3|2011-03-20\no4|2023-06-09\n"
                        "o6|2000-01-01\no8|2011-03-20\no9|2023-06-09\n");
    assert_string_equal(qs(s, "SELECT line, rule FROM dq_issues WHERE severity = 'reject'"
                              " ORDER BY line"),
                        "6|unparseable\n8|unparseable\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* Owners are looked up by rep id, then by name, through a hash that reads eight bytes a
 * step and the last one to eight bytes in overlapping pieces: ids and names of every
 * length from 1 to 19 bytes, pairs that differ in one middle or end byte only, a name
 * that is a prefix of another, and an id equal to another rep's name (the id wins). */
static void test_owner_lookup(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "reps", KP_SRC_REPS, "generic",
            "rep_id,name\n"
            "a,Al\nab,Bo\nba,Cy\nabc,Dee Dee\nabd,Dee Dea\nabcde,Eve Ann Lee\n"
            "abXde,Eve Ann Lea\nabcdefg,Eve Ann\nabcdefgh,Fay Oaks-Smith\n"
            "abcdefghi,Fay Oaks-Smitt\nabcdefghijklmnopqrs,Gil\nZed,abc\n");
    add_src(j, "opportunities", GEN,
            OPP_H "o1,a,Lost,1,2024-01-01\no2,ab,Lost,1,2024-01-01\no3,ba,Lost,1,2024-01-01\n"
                  "o4,abc,Lost,1,2024-01-01\no5,abd,Lost,1,2024-01-01\n"
                  "o6,abcde,Lost,1,2024-01-01\no7,abXde,Lost,1,2024-01-01\n"
                  "o8,abcdefg,Lost,1,2024-01-01\no9,abcdefgh,Lost,1,2024-01-01\n"
                  "o10,abcdefghi,Lost,1,2024-01-01\no11,abcdefghijklmnopqrs,Lost,1,2024-01-01\n"
                  "o12,Al,Lost,1,2024-01-01\no13,Cy,Lost,1,2024-01-01\n"
                  "o14,Dee Dea,Lost,1,2024-01-01\no15,Eve Ann Lea,Lost,1,2024-01-01\n"
                  "o16,Eve Ann,Lost,1,2024-01-01\no17,Fay Oaks-Smitt,Lost,1,2024-01-01\n"
                  "o18,Fay Oaks-Smith,Lost,1,2024-01-01\no19,Gil,Lost,1,2024-01-01\n"
                  "o20,Eve,Lost,1,2024-01-01\no21,abcdefghijklmnopqr,Lost,1,2024-01-01\n"
                  "o22,Zed,Lost,1,2024-01-01\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, owner_id FROM opportunity_snapshots"
                              " ORDER BY source_line"),
                        "o1|a\no2|ab\no3|ba\no4|abc\no5|abd\no6|abcde\no7|abXde\n"
                        "o8|abcdefg\no9|abcdefgh\no10|abcdefghi\no11|abcdefghijklmnopqrs\n"
                        "o12|a\no13|ba\no14|abd\no15|abXde\no16|abcdefg\no17|abcdefghi\n"
                        "o18|abcdefgh\no19|abcdefghijklmnopqrs\no20|Eve\n"
                        "o21|abcdefghijklmnopqr\no22|Zed\n");
    assert_string_equal(qs(s, "SELECT line, value FROM dq_issues"
                              " WHERE rule = 'owner_not_in_reps' ORDER BY line"),
                        "21|Eve\n22|abcdefghijklmnopqr\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* A stage is found by its exact bytes first and ignoring case and blanks after: "Lost",
 * "LOST" and " lost " are the generic preset's closed, lost stage, with no issue; "Lostt"
 * is no stage of it (the generic preset loads an unknown stage as open, silently). */
static void test_stage_case(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "opportunities", GEN,
            OPP_H "o1,r,Lost,1,2024-01-01\no2,r,LOST,1,2024-01-01\no3,r, lost ,1,2024-01-01\n"
                  "o4,r,Lostt,1,2024-01-01\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, is_closed, is_won FROM opportunity_snapshots"
                              " ORDER BY source_line"),
                        "o1|1|0\no2|1|0\no3|1|0\no4|0|0\n");
    assert_string_equal(qs(s, "SELECT line, rule FROM dq_issues"
                              " WHERE rule <> 'owner_not_in_reps' ORDER BY line, rule"),
                        "");
    kp_store_close(s);
    kp_job_free(j);
}

/* Blanks and tabs around a value are not part of it, at either end or both, in every
 * field: the values below load as if written without them (o4 has none: the control). */
static void test_cells_trimmed(void **state)
{
    (void)state;
    kp_job *j = new_job(100);
    add_src(j, "opportunities", GEN,
            OPP_H " o1,r ,Won, 12.50,2024-01-01 \no2\t,\tr,\tWon\t,7 ,\t2024-01-02\n"
                  "o3 , r\t, Won , 1 , 2024-01-03 \no4,r,Won,3,2024-01-04\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, "SELECT opp_id, owner_id, is_won, amount_cents, close_date"
                              " FROM opportunity_snapshots ORDER BY source_line"),
                        "o1|r|1|1250|2024-01-01\no2|r|1|700|2024-01-02\n"
                        "o3|r|1|100|2024-01-03\no4|r|1|300|2024-01-04\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* The duplicate filter's size follows the file (64 bits for a row of 128 bytes up to
 * 2 MiB, which files up to 256 MiB stay at, then 8 bits a row, the power of two at or
 * below, 64 KiB to 8 MiB), worked by hand: the 22,142,178 bytes of the 100k bench export
 * want 1,383,880 bytes -> 1 MiB; the 224 MB of the 1M one want 14 MB -> 2 MiB (the flat
 * part); 512 MiB: 4 Mi rows -> 4 MiB; the 1.1 GB of 5M deals: 8.8 Mi rows -> 8 MiB. */
static void test_duplicate_filter_size(void **state)
{
    (void)state;
    assert_int_equal(kp_load_bloom_bytes(22142178), 1 << 20);
    assert_int_equal(kp_load_bloom_bytes(224352690), 2 << 20);
    assert_int_equal(kp_load_bloom_bytes(-1), 8 << 20);            /* a pipe: unknown */
    assert_int_equal(kp_load_bloom_bytes(0), 64 << 10);            /* the floor */
    assert_int_equal(kp_load_bloom_bytes(1048576), 64 << 10);      /* wants exactly 64 KiB */
    assert_int_equal(kp_load_bloom_bytes(2097152 - 16), 64 << 10); /* 1 byte short of 128 KiB */
    assert_int_equal(kp_load_bloom_bytes(2097152), 128 << 10);
    assert_int_equal(kp_load_bloom_bytes(33554432), 2 << 20);      /* wants exactly 2 MiB */
    assert_int_equal(kp_load_bloom_bytes(33554432 - 128), 1 << 20);
    assert_int_equal(kp_load_bloom_bytes(268435456), 2 << 20);     /* 256 MiB: still 2 MiB */
    assert_int_equal(kp_load_bloom_bytes(536870912 - 128), 2 << 20); /* a row short of 4 MiB */
    assert_int_equal(kp_load_bloom_bytes(536870912), 4 << 20);
    assert_int_equal(kp_load_bloom_bytes(1132629405), 8 << 20);    /* 5M deals */
    assert_int_equal(kp_load_bloom_bytes(1LL << 40), 8 << 20);     /* the cap */
}

/* Load the 3,000 deals of dup_csv (o7 four times, o2998 twice) with the filter shrunk to
 * one block, so nearly every key is a (false) candidate: only the real duplicates (each
 * after its first row, three times for one key) are rejected, with their lines, in line
 * order, whichever way the candidates are checked (scan: 1 for the SQL pass). */
static void check_duplicates_found(const char *csv, int scan)
{
    setenv("KPIPRESS_TEST_FILTER_BYTES", "64", 1);
    kp_job *j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", csv);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    unsetenv("KPIPRESS_TEST_FILTER_BYTES");
    /* 512 bits for 3,000 keys: all set long before the end, every later key a candidate */
    assert_true(st.dup_candidates[0] > 2000);
    assert_int_equal(st.dup_scan[0], scan);
    assert_int_equal(st.rows_read[0], 3000);
    assert_int_equal(st.rows_loaded[0], 2996);
    assert_int_equal(st.rows_rejected[0], 4);
    assert_int_equal(qi(s, "SELECT count(DISTINCT opp_id) FROM opportunity_snapshots"), 2996);
    assert_string_equal(qs(s, "SELECT line, value, message FROM dq_issues"
                              " WHERE rule = 'duplicate_id' ORDER BY line"),
                        "1002|o7|opportunity 'o7' appears twice\n"
                        "2002|o7|opportunity 'o7' appears twice\n"
                        "2502|o7|opportunity 'o7' appears twice\n"
                        "3001|o2998|opportunity 'o2998' appears twice\n");
    assert_string_equal(qs(s, "SELECT amount_cents FROM opportunity_snapshots"
                              " WHERE opp_id IN ('o7', 'o2998') ORDER BY 1"),
                        "800\n299900\n");
    assert_string_equal(qs(s, "SELECT name FROM sqlite_master WHERE name LIKE 'load_dup%'"), "");
    char p[700];
    snprintf(p, sizeof p, "%s/rejects/opportunities.csv", j->output_dir);
    assert_string_equal(slurp(p),
                        "line,column,rule,message,opp_id,owner,stage,amount,close_date\n"
                        "1002,1,duplicate_id,opportunity 'o7' appears twice,o7,r,Won,1001,"
                        "2024-01-01\n"
                        "2002,1,duplicate_id,opportunity 'o7' appears twice,o7,r,Won,2001,"
                        "2024-01-01\n"
                        "2502,1,duplicate_id,opportunity 'o7' appears twice,o7,r,Won,2501,"
                        "2024-01-01\n"
                        "3001,1,duplicate_id,opportunity 'o2998' appears twice,o2998,r,Won,3000,"
                        "2024-01-01\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* The export of check_duplicates_found: line i + 2 is o<i> with amount i + 1, except rows
 * 1000, 2000 and 2500 (o7) and 2999 (o2998). Also: every id distinct (all_distinct). */
static char *dup_csv(int all_distinct)
{
    size_t cap = 3100 * 40, o = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    o += (size_t)snprintf(csv + o, cap - o, OPP_H);
    for (int i = 0; i < 3000; i++) {
        int id = i;
        if (!all_distinct && (i == 1000 || i == 2000 || i == 2500))
            id = 7;
        else if (!all_distinct && i == 2999)
            id = 2998;
        o += (size_t)snprintf(csv + o, cap - o, "o%d,r,Won,%d,2024-01-01\n", id, i + 1);
    }
    return csv;
}

/* The filter is exact whatever it guesses: the candidates checked against the spill of
 * key hashes (the usual way), by the SQL pass over the snapshot (no spill: a limit of 0
 * candidates), and by the SQL pass after the spill gave up half-way (a limit of 100). */
static void test_duplicate_filter_exact(void **state)
{
    (void)state;
    char *csv = dup_csv(0);
    check_duplicates_found(csv, 0);
    setenv("KPIPRESS_TEST_CANDIDATE_LIMIT", "0", 1);
    check_duplicates_found(csv, 1);
    setenv("KPIPRESS_TEST_CANDIDATE_LIMIT", "100", 1);
    check_duplicates_found(csv, 1);
    unsetenv("KPIPRESS_TEST_CANDIDATE_LIMIT");
    /* a TMPDIR that cannot hold the spill: the SQL pass */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir", dir);
    setenv("TMPDIR", nodir, 1);
    check_duplicates_found(csv, 1);
    unsetenv("TMPDIR");
    free(csv);
}

/* Rows not at the rowids the spill assumes: an earlier snapshot holds the rowid one
 * below the largest there is, so the first new row gets the largest and SQLite gives the
 * next ones random rowids. The spill is not trusted (the table's largest rowid is not
 * base + rows) and the SQL pass finds the duplicate. */
static void test_duplicate_rowids_not_in_order(void **state)
{
    (void)state;
    kp_store *s = new_store();
    kp_error e = {0};
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s,
                                   "INSERT INTO opportunity_snapshots(rowid, as_of, opp_id,"
                                   " is_closed, is_won, source_line) VALUES"
                                   " (9223372036854775806, '2026-09-30', 'old', 0, 0, 2)",
                                   &e),
                     KP_OK);
    kp_job *j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic",
            OPP_H "o1,r,Won,1,2024-01-01\no2,r,Won,2,2024-01-01\no1,r,Won,3,2024-01-01\n");
    kp_load_stats st;
    setenv("KPIPRESS_TEST_FILTER_BYTES", "64", 1);
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    unsetenv("KPIPRESS_TEST_FILTER_BYTES");
    assert_int_equal(st.dup_scan[0], 1);
    assert_string_equal(qs(s, "SELECT line, value FROM dq_issues WHERE severity = 'reject'"),
                        "4|o1\n");
    assert_string_equal(qs(s, "SELECT opp_id, amount_cents FROM opportunity_snapshots"
                              " WHERE as_of = '2026-10-31' ORDER BY 1"),
                        "o1|100\no2|200\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* False candidates only: 3,000 distinct ids through a one-block filter, nearly all
 * candidates, checked by the spill, and nothing rejected, no finding, no rejects file. */
static void test_duplicate_false_candidates(void **state)
{
    (void)state;
    char *csv = dup_csv(1);
    setenv("KPIPRESS_TEST_FILTER_BYTES", "64", 1);
    kp_job *j = new_job(0);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", csv);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    unsetenv("KPIPRESS_TEST_FILTER_BYTES");
    assert_true(st.dup_candidates[0] > 2000);
    assert_int_equal(st.dup_scan[0], 0);
    assert_int_equal(st.rows_loaded[0], 3000);
    assert_int_equal(st.rows_rejected[0], 0);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunity_snapshots"), 3000);
    assert_int_equal(qi(s, "SELECT sum(amount_cents) FROM opportunity_snapshots"),
                     (int64_t)3000 * 3001 / 2 * 100);
    assert_int_equal(qi(s, "SELECT count(*) FROM dq_issues WHERE severity = 'reject'"), 0);
    char p[700];
    snprintf(p, sizeof p, "%s/rejects/opportunities.csv", j->output_dir);
    assert_null(slurp(p));
    kp_store_close(s);
    kp_job_free(j);
    free(csv);
}

/* Different keys with one hash (the hashes cut to 2 bits: 4 values, 0 among them, for 40
 * keys): the spill finds every row, and the real keys decide. o3 twice and o30 three
 * times are duplicates; the 35 other keys, each sharing its hash with about 9 others,
 * are not. Lines by hand: o<i> is on line i + 2, the repeats on lines 42 to 44. */
static void test_duplicate_hash_collision(void **state)
{
    (void)state;
    char csv[4096];
    size_t o = (size_t)snprintf(csv, sizeof csv, OPP_H);
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(csv + o, sizeof csv - o, "o%d,r,Won,%d,2024-01-01\n", i, i + 1);
    snprintf(csv + o, sizeof csv - o,
             "o30,r,Won,41,2024-01-01\no3,r,Won,42,2024-01-01\no30,r,Won,43,2024-01-01\n");
    setenv("KPIPRESS_TEST_HASH_BITS", "2", 1);
    kp_job *j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", csv);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    unsetenv("KPIPRESS_TEST_HASH_BITS");
    assert_int_equal(st.dup_candidates[0], 43 - 4); /* all but the first of each hash */
    assert_int_equal(st.dup_scan[0], 0);
    assert_int_equal(st.rows_loaded[0], 40);
    assert_int_equal(st.rows_rejected[0], 3);
    assert_string_equal(qs(s, "SELECT line, value, message FROM dq_issues"
                              " WHERE severity = 'reject' ORDER BY line"),
                        "42|o30|opportunity 'o30' appears twice\n"
                        "43|o3|opportunity 'o3' appears twice\n"
                        "44|o30|opportunity 'o30' appears twice\n");
    assert_int_equal(qi(s, "SELECT count(DISTINCT opp_id) FROM opportunity_snapshots"), 40);
    assert_int_equal(qi(s, "SELECT sum(amount_cents) FROM opportunity_snapshots"),
                     40 * 41 / 2 * 100);
    kp_store_close(s);
    kp_job_free(j);
}

/* No id column: name|account|created date is the key, through the spill with nearly every
 * key a candidate. Same name, another account or created date: other deals; all three
 * the same: a duplicate, reported in the name column with the name as its value. */
static void test_duplicate_by_name(void **state)
{
    (void)state;
    char csv[8192];
    size_t o = (size_t)snprintf(csv, sizeof csv,
                                "name,account,created_date,owner,stage,amount,close_date\n");
    for (int i = 0; i < 100; i++) /* lines 2..101 */
        o += (size_t)snprintf(csv + o, sizeof csv - o,
                              "Deal %d,Acme,2024-01-05,r,Won,%d,2024-02-01\n", i, i + 1);
    snprintf(csv + o, sizeof csv - o,
             "Deal 5,Acme,2024-01-06,r,Won,1,2024-02-01\n"  /* 102: other created date */
             "Deal 5,Zeta,2024-01-05,r,Won,1,2024-02-01\n"  /* 103: other account */
             "Deal 5,Acme,2024-01-05,r,Won,1,2024-02-01\n"  /* 104: duplicate of line 7 */
             "Deal 99,Acme,2024-01-05,r,Won,1,2024-02-01\n" /* 105: of line 101 */
             "Deal 5,Acme,2024-01-06,r,Won,1,2024-02-01\n"); /* 106: of line 102 */
    setenv("KPIPRESS_TEST_FILTER_BYTES", "64", 1);
    kp_job *j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", csv);
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    unsetenv("KPIPRESS_TEST_FILTER_BYTES");
    assert_int_equal(st.dup_scan[0], 0);
    assert_true(st.dup_candidates[0] >= 3);
    assert_int_equal(st.rows_loaded[0], 102);
    assert_int_equal(st.rows_rejected[0], 3);
    assert_string_equal(qs(s, "SELECT line, column_name, value, message FROM dq_issues"
                              " WHERE severity = 'reject' ORDER BY line"),
                        "104|name|Deal 5|opportunity 'Deal 5|Acme|2024-01-05' appears twice\n"
                        "105|name|Deal 99|opportunity 'Deal 99|Acme|2024-01-05' appears twice\n"
                        "106|name|Deal 5|opportunity 'Deal 5|Acme|2024-01-06' appears twice\n");
    assert_string_equal(qs(s, "SELECT opp_id FROM opportunity_snapshots WHERE name = 'Deal 5'"
                              " ORDER BY 1"),
                        "Deal 5|Acme|2024-01-05\nDeal 5|Acme|2024-01-06\nDeal 5|Zeta|2024-01-05\n");
    kp_store_close(s);
    kp_job_free(j);
}

/* The snapshot catalogue: each load records its as-of and rowid range (expected ranges by
 * hand: rowids are appended, a removed duplicate shortens its range, a reload deletes its
 * rows and appends), equal to what a GROUP BY over the rows gives; a database without it
 * (made before it) gets it filled from the rows; the stored view reads the latest. */
static void test_snapshot_catalogue(void **state)
{
    (void)state;
    static const char *const group =
        "SELECT as_of, min(rowid), max(rowid), count(*) FROM opportunity_snapshots"
        " GROUP BY as_of ORDER BY as_of";
    static const char *const cat =
        "SELECT as_of, first_rowid, last_rowid, rows FROM snapshots ORDER BY as_of";
    kp_job *j = new_job(100);
    /* rowids 1-3; the third row repeats o1 and is removed */
    add_src(j, "opportunities", GEN, OPP_H "o1,r,Won,1,2024-01-01\no2,r,Won,2,2024-01-01\n"
                                          "o1,r,Lost,3,2024-01-01\n");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, cat), "2026-10-31|1|2|2\n");
    j->as_of = kp_date_from_ymd(2026, 11, 30); /* appended after rowid 2: 3-4 */
    free(write_file("opportunities.csv", OPP_H "o1,r,Won,1,2024-01-01\no3,r,Won,3,2024-01-01\n", 0));
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, cat), "2026-10-31|1|2|2\n2026-11-30|3|4|2\n");
    assert_string_equal(qs(s, "SELECT DISTINCT as_of FROM opportunities"), "2026-11-30\n");
    /* reloading October: its rows 1-2 go, three new ones follow rowid 4: 5-7 */
    j->as_of = kp_date_from_ymd(2026, 10, 31);
    free(write_file("opportunities.csv",
                    OPP_H "o1,r,Won,1,2024-01-01\no2,r,Won,2,2024-01-01\no4,r,Won,4,2024-01-01\n",
                    0));
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, cat), "2026-10-31|5|7|3\n2026-11-30|3|4|2\n");
    char want[256];
    snprintf(want, sizeof want, "%s", qs(s, group));
    assert_string_equal(qs(s, cat), want);
    /* the same as-of again: replaced, not added (its rows were the last: after the
     * delete the largest rowid is 4 again, so the new rows take 5-7) */
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    assert_string_equal(qs(s, cat), "2026-10-31|5|7|3\n2026-11-30|3|4|2\n");
    /* the snapshot a date reads: the latest at or before it, with its range; none before
     * the first (an empty range, no fallback to the table); no catalogue at all, or an
     * empty one: left to the caller */
    kp_snapshot sn;
    assert_int_equal(kp_load_find_snapshot(s, "2026-11-15", &sn, &e), KP_OK);
    assert_true(sn.in_catalogue && !strcmp(sn.as_of, "2026-10-31") && sn.first_rowid == 5 &&
                sn.last_rowid == 7);
    assert_int_equal(kp_load_find_snapshot(s, "2027-01-01", &sn, &e), KP_OK);
    assert_true(sn.in_catalogue && !strcmp(sn.as_of, "2026-11-30") && sn.first_rowid == 3 &&
                sn.last_rowid == 4);
    assert_int_equal(kp_load_find_snapshot(s, "2026-10-30", &sn, &e), KP_OK);
    assert_true(sn.in_catalogue && !sn.as_of[0] && sn.first_rowid > sn.last_rowid);
    /* a database made before the catalogue */
    assert_int_equal(kp_store_exec(s, "DROP TABLE snapshots", &e), KP_OK);
    assert_int_equal(kp_load_find_snapshot(s, "2026-11-15", &sn, &e), KP_OK);
    assert_false(sn.in_catalogue);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_string_equal(qs(s, cat), "2026-10-31|5|7|3\n2026-11-30|3|4|2\n");
    assert_int_equal(kp_store_exec(s, "DELETE FROM snapshots", &e), KP_OK);
    assert_int_equal(kp_load_find_snapshot(s, "2026-11-15", &sn, &e), KP_OK);
    assert_false(sn.in_catalogue);
    kp_store_close(s);
    kp_job_free(j);
}

/* A file database and more deals than the flushing thread's interval: the rows, a real
 * duplicate near the end and the commit are as without it, and a file descriptor is not
 * left behind. */
static void test_flush_while_loading(void **state)
{
    (void)state;
    const int n = 140000; /* two kicks of the flusher (every 65,536 deals) */
    size_t cap = (size_t)n * 40 + 64, o = 0;
    char *csv = malloc(cap), db[600];
    assert_non_null(csv);
    o += (size_t)snprintf(csv + o, cap - o, OPP_H);
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(csv + o, cap - o, "o%d,r,Won,%d,2024-01-01\n",
                              i == n - 1 ? 5 : i, i + 1);
    kp_job *j = new_job(100);
    add_src(j, "opportunities", KP_SRC_OPPORTUNITIES, "generic", csv);
    snprintf(db, sizeof db, "%s/flush.db", dir);
    unlink(db);
    j->database = xstrdup(db);
    kp_store *s = NULL;
    kp_load_stats st;
    kp_error e = {0};
    assert_int_equal(kp_store_open(db, KP_STORE_CREATE, &s, &e), KP_OK);
    int fd_before = open("/dev/null", O_RDONLY);
    close(fd_before);
    assert_int_equal(kp_load_run(j, s, &st, &e), KP_OK);
    int fd_after = open("/dev/null", O_RDONLY);
    close(fd_after);
    assert_int_equal(fd_after, fd_before);
    assert_int_equal(st.rows_loaded[0], n - 1);
    assert_int_equal(st.rows_rejected[0], 1);
    assert_string_equal(qs(s, "SELECT line, value FROM dq_issues WHERE rule = 'duplicate_id'"),
                        "140001|o5\n");
    kp_store_close(s);
    /* committed: another connection sees it */
    assert_int_equal(kp_store_open(db, 0, &s, &e), KP_OK);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunity_snapshots"), n - 1);
    assert_int_equal(qi(s, "SELECT sum(amount_cents) FROM opportunity_snapshots"),
                     (int64_t)(n - 1) * n / 2 * 100);
    kp_store_close(s);
    unlink(db);
    kp_job_free(j);
    free(csv);
}

/* ---- real data sets -------------------------------------------------------------------- */

static const char *datasets(void)
{
    static char path[600];
    const char *env = getenv("KP_DATASETS");
    const char *root = getenv("KP_ROOT");
    if (env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared/datasets", root ? root : ".");
    return path;
}

/* Run a Python snippet (argv[1] = file) and read whitespace-separated integers. */
static int python_ints(const char *code, const char *file, long long *out, int n)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"%s\" '%s'", code, file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int got = 0;
    while (got < n && fscanf(p, "%lld", &out[got]) == 1)
        got++;
    pclose(p);
    return got;
}

static void test_real_maven(void **state)
{
    (void)state;
    char pipe_path[700], teams_path[700];
    snprintf(pipe_path, sizeof pipe_path, "%s/maven-crm/sales_pipeline.csv", datasets());
    snprintf(teams_path, sizeof teams_path, "%s/maven-crm/sales_teams.csv", datasets());
    if (access(pipe_path, R_OK) || access(teams_path, R_OK)) {
        printf("SKIP: %s absent\n", pipe_path);
        skip();
    }
    long long want[6];
    assert_int_equal(
        python_ints("import csv,sys\n"
                    "r=list(csv.DictReader(open(sys.argv[1],newline='',encoding='utf-8')))\n"
                    "print(len(r))\n"
                    "print(sum(int(x['close_value']) for x in r if x['deal_stage']=='Won'))\n"
                    "print(sum(1 for x in r if x['account']==''))\n"
                    "print(sum(1 for x in r if x['deal_stage'] in ('Won','Lost')))\n"
                    "print(sum(1 for x in r if x['deal_stage'] in ('Engaging','Prospecting')"
                    " and x['account']==''))\n"
                    "print(sum(1 for x in r if x['deal_stage']=='Won'))\n",
                    pipe_path, want, 6),
        6);
    kp_job *j = new_job(1);
    kp_source *r = &j->sources[j->nsources++];
    r->name = xstrdup("teams");
    r->kind = KP_SRC_REPS;
    r->path = xstrdup(teams_path);
    r->preset = xstrdup("generic");
    add_map(r, "rep_id", "sales_agent");
    add_map(r, "name", "sales_agent");
    add_map(r, "manager", "manager");
    add_map(r, "region", "regional_office");
    kp_source *o = &j->sources[j->nsources++];
    o->name = xstrdup("pipeline");
    o->kind = KP_SRC_OPPORTUNITIES;
    o->path = xstrdup(pipe_path);
    o->preset = xstrdup("generic");
    add_map(o, "opp_id", "opportunity_id");
    add_map(o, "owner", "sales_agent");
    add_map(o, "stage", "deal_stage");
    add_map(o, "created_date", "engage_date");
    add_map(o, "close_date", "close_date");
    add_map(o, "amount", "close_value");
    add_map(o, "product", "product");
    add_map(o, "account", "account");
    kp_store *s = new_store();
    kp_load_stats st;
    kp_error e = {0};
    if (kp_load_run(j, s, &st, &e) != KP_OK) {
        print_error("%s:%ld:%ld: %s\n", e.file, e.line, e.column, e.msg);
        fail();
    }
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities"), want[0]);
    assert_int_equal(st.rows_loaded[1], want[0]);
    assert_int_equal(qi(s, "SELECT sum(amount_cents) FROM opportunities WHERE is_won"),
                     want[1] * 100);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE is_won"), want[5]);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE is_closed"), want[3]);
    assert_int_equal(qi(s, "SELECT count(*) FROM dq_issues WHERE rule = 'missing_account'"),
                     want[2]);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE account IS NULL AND NOT"
                           " is_closed"),
                     want[4]);
    assert_int_equal(qi(s, "SELECT count(*) FROM reps"), 35);
    assert_int_equal(qi(s, "SELECT count(*) FROM dq_issues WHERE severity = 'reject'"), 0);
    /* The GTXPro / GTX Pro mismatch is kept as written, visible to a product check. */
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE product = 'GTXPro'"), 1480);
    kp_store_close(s);
    kp_job_free(j);
}

static void test_real_salesforce_api(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/salesforce-api-extract/Opportunity.csv", datasets());
    if (access(path, R_OK)) {
        printf("SKIP: %s absent\n", path);
        skip();
    }
    long long want[3];
    assert_int_equal(
        python_ints("import csv,sys\nfrom decimal import Decimal\n"
                    "r=list(csv.DictReader(open(sys.argv[1],newline='',encoding='utf-8-sig')))\n"
                    "print(len(r))\n"
                    "print(int(sum(Decimal(x['Amount']) for x in r if x['Amount'])*100))\n"
                    "print(sum(1 for x in r if x['IsWon']=='1'))\n",
                    path, want, 3),
        3);
    kp_job *j = new_job(0);
    kp_source *o = &j->sources[j->nsources++];
    o->name = xstrdup("sfdc");
    o->kind = KP_SRC_OPPORTUNITIES;
    o->path = xstrdup(path);
    o->preset = xstrdup("salesforce");
    kp_store *s = new_store();
    kp_error e = {0};
    if (kp_load_run(j, s, NULL, &e) != KP_OK) {
        print_error("%s:%ld:%ld: %s\n", e.file, e.line, e.column, e.msg);
        fail();
    }
    assert_int_equal(want[0], 50);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities"), want[0]);
    assert_int_equal(qi(s, "SELECT sum(amount_cents) FROM opportunities"), want[1]);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE is_won"), want[2]);
    /* BOM stripped: the first header "Id" was found, so ids are the 18-char API ids. */
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE length(opp_id) = 18"), 50);
    assert_int_equal(qi(s, "SELECT count(*) FROM opportunities WHERE created_date ="
                           " '2024-01-22'"),
                     50);
    kp_store_close(s);
    kp_job_free(j);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_salesforce),
        cmocka_unit_test(test_snapshot_indexes),
        cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_findings),
        cmocka_unit_test(test_quota_rules),
        cmocka_unit_test(test_quota_overlap_batches),
        cmocka_unit_test(test_presets_hubspot_pipedrive),
        cmocka_unit_test(test_cp1252_and_maps),
        cmocka_unit_test(test_presets_api),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_currency),
        cmocka_unit_test(test_optional_sources),
        cmocka_unit_test(test_stage_rules),
        cmocka_unit_test(test_duplicate_incremental),
        cmocka_unit_test(test_bulk_nulls_between_rows),
        cmocka_unit_test(test_bulk_kept_values),
        cmocka_unit_test(test_date_caches),
        cmocka_unit_test(test_owner_lookup),
        cmocka_unit_test(test_stage_case),
        cmocka_unit_test(test_cells_trimmed),
        cmocka_unit_test(test_duplicate_filter_size),
        cmocka_unit_test(test_duplicate_filter_exact),
        cmocka_unit_test(test_duplicate_rowids_not_in_order),
        cmocka_unit_test(test_duplicate_false_candidates),
        cmocka_unit_test(test_duplicate_hash_collision),
        cmocka_unit_test(test_duplicate_by_name),
        cmocka_unit_test(test_snapshot_catalogue),
        cmocka_unit_test(test_flush_while_loading),
        cmocka_unit_test(test_real_maven),
        cmocka_unit_test(test_real_salesforce_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
