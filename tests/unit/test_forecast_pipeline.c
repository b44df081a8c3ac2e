/* The pipeline forecast: the grouped Monte Carlo (one draw per deal and run counted in its
 * group; groups add up to the ungrouped total run by run; each group's mean within four
 * standard errors of sum(amount x p)), the percentile rule, and the stage on a hand-made
 * in-memory database: a quota reached by one deal of p = 0.3, and a bad probability that
 * fails the stage with a message naming the deal while the previous rows stay; Omitted
 * deals left out of the forecast. The
 * functional test (tests/functional/test_forecast_pipeline.sh) covers the roll-up. */
#include "test.h"

#include "kpipress/date.h"
#include "kpipress/forecast.h"
#include "kpipress/forecast_pipeline.h"
#include "kpipress/load.h"
#include "kpipress/log.h"
#include "kpipress/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test's own generator (not the module's): a 64-bit LCG, top bits as uniform [0,1). */
static double unif(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * 0x1.0p-53;
}

#define ND 400
#define NG 4
#define RUNS 5000

static void test_groups(void **state)
{
    (void)state;
    static kp_fc_deal d[ND];
    static uint32_t g[ND];
    static double tot[NG * RUNS], one[RUNS];
    double expect[NG] = {0}, var[NG] = {0};
    uint64_t s = 7;
    for (size_t i = 0; i < ND; i++) {
        d[i].amount = floor(100000 * unif(&s)); /* cents: integers, summed exactly */
        d[i].probability = i % 7 == 0 ? 1.0 : i % 7 == 1 ? 0.0 : unif(&s);
        g[i] = (uint32_t)(unif(&s) * NG);
        expect[g[i]] += d[i].amount * d[i].probability;
        var[g[i]] += d[i].amount * d[i].amount * d[i].probability * (1 - d[i].probability);
    }
    kp_error e;
    assert_int_equal(kp_forecast_simulate_groups(d, g, ND, NG, RUNS, 42, tot, &e), KP_OK);
    assert_int_equal(kp_forecast_simulate_groups(d, NULL, ND, 1, RUNS, 42, one, &e), KP_OK);
    /* the same draws: the groups of a run add up to that run's ungrouped total, exactly */
    for (size_t r = 0; r < RUNS; r++) {
        double sum = 0;
        for (size_t k = 0; k < NG; k++)
            sum += tot[k * RUNS + r];
        assert_true(sum == one[r]);
    }
    /* each group's mean: standard error sqrt(var / runs); 4 of them is a 1-in-15,000
     * false alarm for a correct simulation, and a bias of 1% of a group's expectation
     * (about 10 standard errors here) would fail */
    for (size_t k = 0; k < NG; k++) {
        double m = 0;
        for (size_t r = 0; r < RUNS; r++)
            m += tot[k * RUNS + r];
        m /= RUNS;
        double se = sqrt(var[k] / RUNS);
        print_message("group %zu: mean %.0f expected %.0f se %.0f\n", k, m, expect[k], se);
        assert_true(fabs(m - expect[k]) < 4 * se);
    }
    /* kp_forecast_simulate draws the same sequence: its mean is the grouped runs' mean */
    kp_fc_sim sim;
    assert_int_equal(kp_forecast_simulate(d, ND, RUNS, 42, 0, &sim, &e), KP_OK);
    double m = 0;
    for (size_t r = 0; r < RUNS; r++)
        m += one[r];
    assert_true(fabs(sim.mean - m / RUNS) < 1e-6);
    /* seeds: the same one repeats, another differs */
    static double again[NG * RUNS];
    assert_int_equal(kp_forecast_simulate_groups(d, g, ND, NG, RUNS, 42, again, &e), KP_OK);
    assert_memory_equal(tot, again, sizeof tot);
    assert_int_equal(kp_forecast_simulate_groups(d, g, ND, NG, RUNS, 43, again, &e), KP_OK);
    assert_true(memcmp(tot, again, sizeof tot) != 0);
    /* bad deals are refused with their number */
    d[5].probability = -0.1;
    assert_int_equal(kp_forecast_simulate_groups(d, g, ND, NG, RUNS, 42, tot, &e), KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: deal 6 has probability -0.1, outside [0, 1]");
}

static void test_percentile(void **state)
{
    (void)state;
    /* numpy.percentile([10, 20, 30, 40, 50], [10, 50, 90]) = 14, 30, 46 */
    const double v[5] = {10, 20, 30, 40, 50};
    assert_true(fabs(kp_forecast_percentile(v, 5, 0.1) - 14) < 1e-12);
    assert_true(kp_forecast_percentile(v, 5, 0.5) == 30);
    assert_true(fabs(kp_forecast_percentile(v, 5, 0.9) - 46) < 1e-12);
    assert_true(kp_forecast_percentile(v, 5, 1.0) == 50);
    assert_true(kp_forecast_percentile(v, 1, 0.9) == 10);
}

/* The documented draws, re-derived here from the generator alone: block b of 1,000 runs
 * seeded (seed, b); per run one 64-bit output per two deals in the given order, high half
 * first; a deal wins when its 32-bit draw is below floor(p 2^32). Three deals (an odd
 * count: the last one takes a fresh output's high half) over 2,500 runs (a partial third
 * block). */
static void test_stream(void **state)
{
    (void)state;
    enum { N = 3, R = 2500 };
    const kp_fc_deal d[N] = {{100, 0.5}, {200, 0.25}, {400, 0.9}};
    const uint32_t g[N] = {1, 0, 1};
    static double tot[2 * R];
    kp_error e;
    assert_int_equal(kp_forecast_simulate_groups(d, g, N, 2, R, 99, tot, &e), KP_OK);
    kp_rng rng;
    for (size_t r = 0; r < R; r++) {
        if (r % 1000 == 0)
            kp_rng_seed(&rng, 99, r / 1000);
        uint64_t x = kp_rng_next(&rng), y = kp_rng_next(&rng);
        double want0 = (double)((x & 0xFFFFFFFFu) < 1073741824u) * 200;            /* p .25 */
        double want1 = (double)((x >> 32) < 2147483648u) * 100 +                   /* p .5 */
                       (double)((y >> 32) < (uint64_t)(0.9 * 4294967296.0)) * 400; /* p .9 */
        if (tot[r] != want0 || tot[R + r] != want1) {
            print_error("run %zu: %g %g, want %g %g\n", r, tot[r], tot[R + r], want0, want1);
            fail();
        }
    }
}

/* The totals do not depend on the number of threads the blocks are shared among. */
static void test_threads(void **state)
{
    (void)state;
    static kp_fc_deal d[ND];
    static uint32_t g[ND];
    static double one[NG * RUNS], many[NG * RUNS];
    uint64_t s = 3;
    for (size_t i = 0; i < ND; i++) {
        d[i] = (kp_fc_deal){floor(100000 * unif(&s)), unif(&s)};
        g[i] = (uint32_t)(unif(&s) * NG);
    }
    kp_error e;
    for (size_t runs = RUNS; runs >= RUNS / 2 - 1; runs = runs / 2 - 1) { /* 5 and 3 blocks */
        setenv("KPIPRESS_FORECAST_THREADS", "1", 1);
        assert_int_equal(kp_forecast_threads(), 1);
        assert_int_equal(kp_forecast_simulate_groups(d, g, ND, NG, runs, 5, one, &e), KP_OK);
        setenv("KPIPRESS_FORECAST_THREADS", "3", 1);
        assert_int_equal(kp_forecast_threads(), 3);
        assert_int_equal(kp_forecast_simulate_groups(d, g, ND, NG, runs, 5, many, &e), KP_OK);
        assert_memory_equal(one, many, NG * runs * sizeof *one);
    }
    setenv("KPIPRESS_FORECAST_THREADS", "99", 1);
    assert_int_equal(kp_forecast_threads(), KP_FORECAST_MAX_THREADS);
    unsetenv("KPIPRESS_FORECAST_THREADS");
}

/* Percentiles by selection equal those of the sorted values, ties and edges included. */
static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_percentiles_select(void **state)
{
    (void)state;
    static double v[1001], sorted[1001];
    const double q[6] = {0.0, 0.1, 0.5, 0.5, 0.9, 1.0};
    const size_t sizes[] = {1, 2, 3, 10, 11, 1000, 1001};
    uint64_t s = 17;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int distinct = 1; distinct <= 1000; distinct *= 10) { /* 1: all equal */
            size_t n = sizes[k];
            for (size_t i = 0; i < n; i++)
                v[i] = sorted[i] = floor(unif(&s) * distinct) * 25;
            qsort(sorted, n, sizeof *sorted, cmp_dbl);
            double got[6];
            kp_forecast_percentiles(v, n, q, 6, got);
            for (size_t j = 0; j < 6; j++)
                if (got[j] != kp_forecast_percentile(sorted, n, q[j])) {
                    print_error("n %zu, %d distinct, q %g: %g, sorted gives %g\n", n, distinct,
                                q[j], got[j], kp_forecast_percentile(sorted, n, q[j]));
                    fail();
                }
        }
}

/* A database in memory with the load's tables and the rows of sql. */
static kp_store *store_with(const char *sql)
{
    kp_store *s = NULL;
    kp_error e;
    assert_int_equal(kp_store_open(":memory:", KP_STORE_CREATE, &s, &e), KP_OK);
    assert_int_equal(kp_load_schema(s, &e), KP_OK);
    assert_int_equal(kp_store_exec(s, sql, &e), KP_OK);
    return s;
}

static kp_store *fixture(void)
{
    /* one rep, one open deal of 1000.00 in a stage configured at 30%, due this month; a
     * March quota of 1000.00 that only this deal can reach */
    return store_with(
        "INSERT INTO reps(rep_id, name, team, region) VALUES('r1', 'Ann', 'T', 'EU');"
        "INSERT INTO stage_rules VALUES('Open', 1, 0.3, 0, 0, 'Commit');"
        "INSERT INTO stage_rules VALUES('Won', 2, 1.0, 1, 1, 'Closed');"
        "INSERT INTO quotas VALUES('r1', '2026-03-01', '2026-03-31', 100000);"
        "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id, stage, amount_cents,"
        " forecast_category, close_date, is_closed, is_won, source_line)"
        " VALUES('2026-03-10', 'd1', 'r1', 'Open', 100000, 'Commit', '2026-03-20', 0, 0, 2)");
}

/* The job of the stage tests: as of 2026-03-15, calendar fiscal year, seed 5. */
static kp_job stage_job(long runs, long min_sample)
{
    kp_job job;
    memset(&job, 0, sizeof job);
    job.as_of = kp_date_from_ymd(2026, 3, 15);
    job.fiscal_year_start = 1;
    job.forecast.runs = runs;
    job.forecast.seed = 5;
    job.forecast.min_sample = min_sample;
    return job;
}

static int64_t one_int(kp_store *s, const char *sql)
{
    int64_t v = -1;
    kp_error e;
    assert_int_equal(kp_store_query_int64(s, sql, NULL, -1, &v, &e), KP_OK);
    return v;
}

static void test_stage(void **state)
{
    (void)state;
    kp_log_set_level(2);
    kp_store *s = fixture();
    kp_job job = stage_job(20000, 20);
    kp_error e;
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_OK);
    /* p_quota: reached exactly when the deal wins, p = 0.3; binomial standard error
     * sqrt(0.3 x 0.7 / 20000) = 0.0032, four of them 0.013 */
    int64_t pq = one_int(s, "SELECT CAST(p_quota * 1000000 AS INTEGER) FROM forecast_pipeline"
                            " WHERE dimension = 'rep' AND member = 'r1' AND grain = 'month'");
    print_message("p_quota %.4f\n", pq / 1e6);
    assert_true(llabs(pq - 300000) < 13000);
    assert_int_equal(one_int(s, "SELECT expected_cents FROM forecast_pipeline WHERE dimension ="
                                " 'company' AND grain = 'month'"),
                     30000);
    /* P10 = 0 (lost in 70% of runs), P90 = 100000 (won in 30%) */
    assert_int_equal(one_int(s, "SELECT p10_cents * 1000000 + p90_cents FROM forecast_pipeline"
                                " WHERE dimension = 'company' AND grain = 'month'"),
                     100000);
    assert_int_equal(one_int(s, "SELECT count(*) FROM forecast_pipeline"), 15); /* 5 x 3 */
    /* quota already met: a won deal of 1000.00 closed in March -> p_quota exactly 1 */
    kp_error e2;
    assert_int_equal(kp_store_exec(s,
                                   "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id,"
                                   " stage, amount_cents, close_date, is_closed, is_won,"
                                   " source_line) VALUES('2026-03-10', 'd0', 'r1', 'Won',"
                                   " 100000, '2026-03-02', 1, 1, 3)",
                                   &e2),
                     KP_OK);
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_OK);
    assert_int_equal(one_int(s, "SELECT p_quota * 10 FROM forecast_pipeline WHERE dimension ="
                                " 'rep' AND grain = 'month'"),
                     10);

    /* a probability outside 0..1 fails the stage, names the deal, and leaves the rows of
     * the previous run as they were (one transaction) */
    assert_int_equal(kp_store_exec(s,
                                   "UPDATE stage_rules SET probability = 1.5 WHERE stage ="
                                   " 'Open'",
                                   &e2),
                     KP_OK);
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_ERR_DATA);
    assert_string_equal(e.msg, "forecast: open deal d1 (stage 'Open') has win probability 1.5,"
                               " outside 0..1");
    assert_int_equal(one_int(s, "SELECT count(*) FROM forecast_pipeline"), 15);
    assert_int_equal(one_int(s, "SELECT probability * 10 FROM stage_win_rates"), 3);
    /* and the stage can run again once the data is fixed (no temporary table left) */
    assert_int_equal(kp_store_exec(s, "UPDATE stage_rules SET probability = 0.3", &e2), KP_OK);
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_OK);

    kp_store_close(s);
}

/* Omitted deals are left out of the forecast, as Salesforce leaves them out of its
 * forecasts: by hand, one rep as of 2026-03-15 with, due in March, d1 1000.00 Commit in
 * 'Open' (30%), d2 5000.00 'Omitted' in 'Open', d3 700.00 'omit' (HubSpot's word) in a
 * stage without any probability, d4 300.00 Pipeline in that stage. Forecast: open deals
 * d1 and d4 (2); expected 0.3 x 1000.00 + 0 = 300.00; commit 1000.00, pipeline 300.00;
 * the simulated total is 1000.00 (p .3) or 0: P10 0, P90 1000.00 (with d2 it would reach
 * 6000.00); only d4 is warned about (d3 is not in the forecast). */
static void test_omitted(void **state)
{
    (void)state;
    kp_log_set_level(2);
    kp_store *s =
        store_with("INSERT INTO reps(rep_id, name, team, region) VALUES('r1', 'Ann', 'T', 'EU');"
                   "INSERT INTO stage_rules VALUES('Open', 1, 0.3, 0, 0, 'Commit');"
                   "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id, stage, amount_cents,"
                   " forecast_category, close_date, is_closed, is_won, source_line) VALUES"
                   " ('2026-03-10', 'd1', 'r1', 'Open', 100000, 'Commit', '2026-03-20', 0, 0, 2),"
                   " ('2026-03-10', 'd2', 'r1', 'Open', 500000, 'Omitted', '2026-03-21', 0, 0, 3),"
                   " ('2026-03-10', 'd3', 'r1', 'Nowhere', 70000, 'omit', '2026-03-22', 0, 0, 4)");
    kp_job job = stage_job(10000, 20);
    kp_error e;
    long warned = kp_log_warnings();
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_OK);
    assert_int_equal(kp_log_warnings(), warned); /* d3, the one without a probability, is omitted */
    const char *row = "SELECT printf('%d|%d|%d|%d|%d|%d|%d|%d', open_deals, expected_cents,"
                      " commit_cents, best_case_cents, pipeline_cents, p10_cents, p50_cents,"
                      " p90_cents) FROM forecast_pipeline WHERE dimension = 'rep' AND"
                      " grain = 'month'";
    kp_stmt *st = NULL;
    assert_int_equal(kp_store_prepare(s, row, NULL, 0, &st, &e), KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    assert_string_equal(kp_stmt_column_text(st, 0), "1|30000|100000|100000|0|0|0|100000");
    kp_stmt_finalize(st);

    assert_int_equal(kp_store_exec(s,
                                   "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id,"
                                   " stage, amount_cents, forecast_category, close_date,"
                                   " is_closed, is_won, source_line) VALUES('2026-03-10', 'd4',"
                                   " 'r1', 'Nowhere', 30000, 'Pipeline', '2026-03-23', 0, 0, 5)",
                                   &e),
                     KP_OK);
    /* the warning, read from stderr, counts d4 alone */
    char path[] = "/tmp/kp_fc_warn_XXXXXX", text[512] = "";
    int fd = mkstemp(path), saved = dup(2);
    assert_true(fd >= 0 && saved >= 0);
    kp_log_set_level(1);
    fflush(stderr);
    dup2(fd, 2);
    kp_err rc = kp_forecast_pipeline_run(&job, s, &e);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    kp_log_set_level(2);
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    assert_int_equal(rc, KP_OK);
    assert_true(got > 0);
    assert_non_null(strstr(text, "forecast: 1 open deals in stage 'Nowhere' have no win"));
    assert_int_equal(kp_log_warnings(), warned + 1); /* d4's stage */
    st = NULL;
    assert_int_equal(kp_store_prepare(s, row, NULL, 0, &st, &e), KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    assert_string_equal(kp_stmt_column_text(st, 0), "2|30000|100000|100000|30000|0|0|100000");
    kp_stmt_finalize(st);
    kp_store_close(s);
}

/* kp_forecast_simulate_rollup against the runs kept in full: for sums of a continuous
 * group (400 deals), atoms (one deal of p = 0.5; p = 1, 0 and 0.3), 64 equally likely
 * totals (six deals of p = 0.5: more distinct values than counted in pass 1, each in many
 * runs), mixtures, an empty sum, and 2,600 copies of the six-deal sum (more values to keep
 * than one pass 2 holds: several passes), on 1 and 3 threads: the total, the target hits
 * and every quantile equal, to the bit, what kp_forecast_percentiles makes of the full
 * runs of kp_forecast_simulate_groups. */
#define RU_RUNS 5000
#define RU_NG 5
#define RU_COPIES 2600
#define RU_NS (9 + RU_COPIES)

static void test_rollup(void **state)
{
    (void)state;
    static kp_fc_deal d[430];
    static uint32_t g[430];
    static double tot[RU_NG * RU_RUNS], v[RU_RUNS];
    size_t n = 0;
    uint64_t s = 11;
    for (int i = 0; i < 400; i++, n++) {
        d[n] = (kp_fc_deal){floor(100000 * unif(&s)), unif(&s)};
        g[n] = 0;
    }
    d[n] = (kp_fc_deal){250000, 0.5};
    g[n++] = 1;
    for (int i = 0; i < 6; i++, n++) {
        d[n] = (kp_fc_deal){(double)(1000 << i), 0.5}; /* subset sums all distinct */
        g[n] = 2;
    }
    const double p3[3] = {1.0, 0.0, 0.3};
    for (int i = 0; i < 3; i++, n++) {
        d[n] = (kp_fc_deal){7000.0 + i, p3[i]};
        g[n] = 3;
    }
    for (int i = 0; i < 20; i++, n++) {
        d[n] = (kp_fc_deal){floor(50000 * unif(&s)), unif(&s)};
        g[n] = 4;
    }
    static size_t off[RU_NS + 1];
    static uint32_t mem[RU_NS * RU_NG];
    static double base[RU_NS], target[RU_NS];
    static const int sets[9][RU_NG + 1] = {{0, -1}, {1, -1}, {2, -1}, {3, -1}, {4, -1},
                                           {0, 1, 2, 3, 4, -1}, {-1}, {1, 3, -1}, {2, 4, -1}};
    size_t nm = 0;
    for (size_t k = 0; k < RU_NS; k++) {
        off[k] = nm;
        for (const int *x = sets[k < 9 ? k : 2]; *x >= 0; x++)
            mem[nm++] = (uint32_t)*x;
        base[k] = (double)(100 * (k % 50));
        target[k] = k % 3 == 2 ? NAN : k == 5 ? 12000000.0 : 30000.0;
    }
    off[RU_NS] = nm;
    kp_fc_rollup r = {RU_NS, off, mem, base, target};
    const double q[4] = {0.0, 0.1, 0.5, 0.9};
    kp_error e;
    assert_int_equal(kp_forecast_simulate_groups(d, g, n, RU_NG, RU_RUNS, 99, tot, &e), KP_OK);
    static kp_fc_rollup_out out[RU_NS];
    const char *threads[2] = {"1", "3"};
    for (int t = 0; t < 2; t++) {
        setenv("KPIPRESS_FORECAST_THREADS", threads[t], 1);
        memset(out, 0xff, sizeof out);
        assert_int_equal(kp_forecast_simulate_rollup(d, g, n, RU_NG, RU_RUNS, 99, &r, q, 4, out, &e),
                         KP_OK);
        for (size_t k = 0; k < RU_NS; k++) {
            double total = 0.0, want[4];
            size_t hits = 0;
            for (size_t i = 0; i < RU_RUNS; i++) {
                v[i] = 0.0;
                for (size_t j = off[k]; j < off[k + 1]; j++)
                    v[i] += tot[mem[j] * RU_RUNS + i];
                total += v[i];
                hits += base[k] + v[i] >= target[k];
            }
            kp_forecast_percentiles(v, RU_RUNS, q, 4, want);
            if (k < 10)
                print_message("sum %zu: total %.0f hits %zu p10 %.1f p50 %.1f p90 %.1f\n", k,
                              out[k].total, out[k].hits, out[k].q[1], out[k].q[2], out[k].q[3]);
            assert_true(out[k].total == total);
            assert_int_equal(out[k].hits, hits);
            for (int j = 0; j < 4; j++)
                assert_true(out[k].q[j] == want[j]);
        }
    }
    unsetenv("KPIPRESS_FORECAST_THREADS");
    /* the empty sum: every run 0, no hit of a positive target */
    assert_true(out[6].total == 0.0 && out[6].q[3] == 0.0);
    /* the atoms: a single deal of p = 0.5 gives 0 or its amount; the median of 5,000 runs
     * lies between the 2,500th and 2,501st, both 0 or both 250,000 or their midpoint */
    assert_true(out[1].q[0] == 0.0 && out[1].q[3] == 250000.0);
}

/* The stage's tables of one database, as text. */
static char *dump_tables(kp_store *s)
{
    kp_stmt *st = NULL;
    kp_error e;
    assert_int_equal(
        kp_store_prepare(s,
                         "SELECT group_concat(r, char(10)) FROM (SELECT 'w|' || stage || '|' ||"
                         " probability || '|' || closed_sample || '|' || won || '|' ||"
                         " open_deals || '|' || source AS r FROM stage_win_rates"
                         " UNION ALL SELECT 'p|' || dimension || '|' || member || '|' || grain"
                         " || '|' || closed_cents || '|' || commit_cents || '|' ||"
                         " pipeline_cents || '|' || open_deals || '|' || expected_cents || '|'"
                         " || p10_cents || '|' || p50_cents || '|' || p90_cents || '|' ||"
                         " coalesce(p_quota, '-') FROM forecast_pipeline ORDER BY 1)",
                         NULL, 0, &st, &e),
        KP_OK);
    assert_int_equal(kp_stmt_step(st, &e), 1);
    char *out = strdup(kp_stmt_column_text(st, 0) ? kp_stmt_column_text(st, 0) : "");
    kp_stmt_finalize(st);
    assert_non_null(out);
    return out;
}

/* The load's catalogue (the snapshots' rowid ranges) and the scan by date give the same
 * rates and forecast: snapshots as of 2026-02-01 (the earlier one, where d1 and d2 were
 * open in 'Open'), 2026-03-10 (the run's: d1 won, d2 lost, d3 open) and 2026-04-01 (after
 * the as-of date, its rows must not count: d3 won, d4 open). Learned: 'Open' 1 won of 2,
 * which only the earlier snapshot tells. The catalogue is written as the load writes it,
 * after a first run without it. */
static void test_catalogue(void **state)
{
    (void)state;
    kp_log_set_level(2);
    kp_store *s = store_with(
        "INSERT INTO reps(rep_id, name, team, region) VALUES('r1', 'Ann', 'T', 'EU');"
        "INSERT INTO stage_rules VALUES('Open', 1, 0.3, 0, 0, 'Commit');"
        "INSERT INTO stage_rules VALUES('Won', 2, 1.0, 1, 1, 'Closed');"
        "INSERT INTO stage_rules VALUES('Lost', 3, 0.0, 1, 0, 'Omitted');"
        "INSERT INTO opportunity_snapshots(as_of, opp_id, owner_id, stage, amount_cents,"
        " close_date, is_closed, is_won, source_line) VALUES"
        " ('2026-02-01', 'd1', 'r1', 'Open', 100000, '2026-03-05', 0, 0, 2),"
        " ('2026-02-01', 'd2', 'r1', 'Open', 50000, '2026-03-06', 0, 0, 3),"
        " ('2026-03-10', 'd1', 'r1', 'Won', 100000, '2026-03-05', 1, 1, 2),"
        " ('2026-03-10', 'd2', 'r1', 'Lost', 50000, '2026-03-06', 1, 0, 3),"
        " ('2026-03-10', 'd3', 'r1', 'Open', 70000, '2026-03-20', 0, 0, 4),"
        " ('2026-04-01', 'd3', 'r1', 'Won', 70000, '2026-03-20', 1, 1, 2),"
        " ('2026-04-01', 'd4', 'r2', 'Open', 90000, '2026-03-25', 0, 0, 3)");
    kp_error e;
    kp_job job = stage_job(2000, 2);
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_OK);
    char *scan = dump_tables(s);
    assert_int_equal(one_int(s, "SELECT won * 10 + closed_sample FROM stage_win_rates WHERE"
                                " stage = 'Open' AND source = 'learned'"),
                     12);
    assert_int_equal(one_int(s, "SELECT count(*) FROM forecast_pipeline WHERE member = 'r2'"), 0);
    assert_int_equal(kp_store_exec(s,
                                   "INSERT INTO snapshots SELECT as_of, min(rowid), max(rowid),"
                                   " count(*) FROM opportunity_snapshots GROUP BY as_of",
                                   &e),
                     KP_OK);
    assert_int_equal(kp_forecast_pipeline_run(&job, s, &e), KP_OK);
    char *cat = dump_tables(s);
    assert_string_equal(cat, scan);
    print_message("%s\n", cat);
    free(scan);
    free(cat);
    kp_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_percentiles_select),
        cmocka_unit_test(test_rollup),
        cmocka_unit_test(test_stage),
        cmocka_unit_test(test_omitted),
        cmocka_unit_test(test_catalogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
