/* kpipress command line: parses the subcommand and its options, runs it, and is the one
 * place that prints errors ("file:line:column: message") and maps them to exit codes:
 * 0 success, 1 data rejected, 2 usage or configuration, 3 I/O or environment. */
#include "kpipress/err.h"
#include "kpipress/job.h"
#include "kpipress/log.h"
#include "kpipress/metrics.h"
#include "kpipress/run.h"
#include "kpipress/sample.h"
#include "kpipress/store.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_main[] =
    "usage: kpipress COMMAND [ARGS]\n"
    "\n"
    "Batch sales-KPI reporting: CRM exports -> SQLite -> Excel workbooks and PDF scorecards.\n"
    "\n"
    "commands:\n"
    "  run JOB.ini      load the exports, compute KPIs, write every report of the job\n"
    "  check JOB.ini    validate the job, its templates, SQL and sources; load nothing\n"
    "  load JOB.ini     the load stage alone (data-quality findings, rejects)\n"
    "  sql JOB.ini SQL  query the job's database (aligned table, or --csv)\n"
    "  metrics [JOB.ini] list the metric library (the job's additions included)\n"
    "  sample DIR       write a realistic sample data set and its job.ini\n"
    "\n"
    "  kpipress COMMAND --help   options of one command\n"
    "  kpipress --version\n"
    "\n"
    "exit status: 0 ok, 1 data rejected, 2 usage/configuration error, 3 I/O or environment\n";

static const char usage_run[] =
    "usage: kpipress run JOB.ini [options]\n"
    "\n"
    "  --as-of YYYY-MM-DD   report as of this date (overrides the job's as_of)\n"
    "  --only REPORT        render only [report REPORT]\n"
    "  --jobs N             render in N worker processes (same bytes as --jobs 1)\n"
    "  --shard I/N          render only burst rows I, I+N, I+2N... (I from 0 to N-1)\n"
    "  --dry-run            load and list the documents that would be written\n"
    "  --output-dir DIR     write documents here instead of the job's output_dir\n"
    "  --database PATH      use this database (\":memory:\" for a throw-away one)\n"
    "  --summary FILE.json  write a machine-readable run summary\n"
    "  --quiet              no progress lines (warnings and errors only)\n";

static const char usage_check[] =
    "usage: kpipress check JOB.ini [--as-of YYYY-MM-DD]\n"
    "\n"
    "Validates the job file, the templates it names (their SQL is prepared against the\n"
    "schema, not run) and that every source file exists. Loads nothing, writes nothing.\n";

static const char usage_load[] =
    "usage: kpipress load JOB.ini [--as-of YYYY-MM-DD] [--database PATH] [--quiet]\n"
    "\n"
    "Loads the job's sources into its database (one transaction) and reports row counts,\n"
    "rejects (written to OUTPUT_DIR/rejects/SOURCE.csv) and data-quality warnings.\n";

static const char usage_metrics[] =
    "usage: kpipress metrics [JOB.ini]\n"
    "\n"
    "Lists every metric of the library with its label, format, direction and definition:\n"
    "the shipped templates/metrics.ini, plus the job's `metrics =` file and [metric NAME]\n"
    "sections when a job is given. Definitions are checked (unknown metrics, cycles).\n";

/* `kpipress metrics [JOB.ini]`: the library as `kpipress check` would validate it. */
static int metrics_main(int argc, char **argv, kp_error *e)
{
    const char *job_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_metrics, stdout);
            return 0;
        }
        if (argv[i][0] == '-' || job_path) {
            fputs(usage_metrics, stderr);
            return 2;
        }
        job_path = argv[i];
    }
    kp_job *job = NULL;
    kp_metric_lib *lib = NULL;
    kp_err rc = job_path ? kp_job_load(job_path, &job, e) : KP_OK;
    if (!rc)
        rc = kp_metrics_load(job, &lib, e);
    if (!rc)
        kp_metrics_print(lib, stdout);
    kp_metrics_free(lib);
    kp_job_free(job);
    return rc ? -1 : 0;
}

static const char usage_sql[] =
    "usage: kpipress sql JOB.ini \"SELECT ...\" [--csv] [--as-of YYYY-MM-DD]\n"
    "\n"
    "Runs one read-only query on the job's database. :period_start, :period_end, :as_of\n"
    "and the other job values are available as parameters.\n";

typedef struct {
    const char *job;
    const char *sql;
    int csv, quiet, help;
    kp_run_options run;
} cli;

static kp_err parse_int(const char *opt, const char *v, int min, int max, int *out, kp_error *e)
{
    char *end;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || n < min || n > max)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "%s needs a number from %d to %d", opt,
                            min, max);
    *out = (int)n;
    return KP_OK;
}

/* Options shared by run/check/load/sql. Positional arguments fill job, then sql. */
static kp_err parse_args(int argc, char **argv, const char *cmd, cli *c, kp_error *e)
{
    c->run.jobs = 1;
    c->run.shard_count = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            c->help = 1;
            takes = 0;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            c->quiet = 1;
            takes = 0;
        } else if (!strcmp(a, "--csv") && !strcmp(cmd, "sql")) {
            c->csv = 1;
            takes = 0;
        } else if (!strcmp(a, "--dry-run") && !strcmp(cmd, "run")) {
            c->run.dry_run = 1;
            takes = 0;
        } else if (!strcmp(a, "--as-of")) {
            c->run.as_of = v;
        } else if (!strcmp(a, "--database")) {
            c->run.database = v;
        } else if (!strcmp(a, "--only") && !strcmp(cmd, "run")) {
            c->run.only = v;
        } else if (!strcmp(a, "--output-dir") && !strcmp(cmd, "run")) {
            c->run.output_dir = v;
        } else if (!strcmp(a, "--summary") && (!strcmp(cmd, "run") || !strcmp(cmd, "load"))) {
            c->run.summary_path = v;
        } else if (!strcmp(a, "--jobs") && !strcmp(cmd, "run")) {
            kp_err rc = parse_int(a, v, 1, 64, &c->run.jobs, e);
            if (rc)
                return rc;
        } else if (!strcmp(a, "--shard") && !strcmp(cmd, "run")) {
            int si, sn;
            char extra;
            if (!v || sscanf(v, "%d/%d%c", &si, &sn, &extra) != 2 || sn < 1 || si < 0 ||
                si >= sn)
                return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0,
                                    "--shard needs I/N with 0 <= I < N, e.g. --shard 0/4");
            c->run.shard_index = si;
            c->run.shard_count = sn;
        } else if (a[0] == '-' && a[1] == '-') {
            return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0,
                                "unknown option %s for '%s' (see kpipress %s --help)", a, cmd,
                                cmd);
        } else {
            takes = 0;
            if (!c->job)
                c->job = a;
            else if (!strcmp(cmd, "sql") && !c->sql)
                c->sql = a;
            else
                return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "unexpected argument \"%s\"",
                                    a);
        }
        if (takes) {
            if (!v)
                return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "%s needs a value", a);
            i++;
        }
    }
    return KP_OK;
}

static int fail(const kp_error *e)
{
    char msg[KP_ERROR_MSG_MAX + 700];
    kp_error_format(e, msg, sizeof msg);
    fprintf(stderr, "kpipress: %s\n", msg);
    return kp_err_exit_status(e->code);
}

int main(int argc, char **argv)
{
    /* Everything is formatted in the C locale (libxlsxwriter writes doubles with sprintf):
     * never inherit LC_NUMERIC from the environment. */
    setlocale(LC_ALL, "C");
    kp_error e = {0};
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("kpipress %s (SQLite %s)\n", KP_VERSION, kp_store_library_version());
        return 0;
    }
    if (!strcmp(cmd, "metrics")) {
        int st = metrics_main(argc - 1, argv + 1, &e);
        return st < 0 ? fail(&e) : st;
    }
    if (!strcmp(cmd, "sample")) {
        kp_err rc = kp_sample_main(argc - 1, argv + 1, &e);
        return rc ? fail(&e) : 0;
    }
    const char *usage = !strcmp(cmd, "run")     ? usage_run
                        : !strcmp(cmd, "check") ? usage_check
                        : !strcmp(cmd, "load")  ? usage_load
                        : !strcmp(cmd, "sql")   ? usage_sql
                                                : NULL;
    if (!usage) {
        fprintf(stderr, "kpipress: unknown command \"%s\"\n\n%s", cmd, usage_main);
        return 2;
    }
    cli c = {0};
    if (parse_args(argc - 1, argv + 1, cmd, &c, &e))
        return fail(&e);
    if (c.help) {
        fputs(usage, stdout);
        return 0;
    }
    if (!c.job || (!strcmp(cmd, "sql") && !c.sql)) {
        fputs(usage, stderr);
        return 2;
    }
    kp_log_set_level(c.quiet);
    kp_err rc;
    if (!strcmp(cmd, "run"))
        rc = kp_run(c.job, &c.run, &e);
    else if (!strcmp(cmd, "check"))
        rc = kp_run_check(c.job, &c.run, &e);
    else if (!strcmp(cmd, "load"))
        rc = kp_run_load(c.job, &c.run, &e);
    else
        rc = kp_run_sql(c.job, &c.run, c.sql, c.csv, &e);
    return rc ? fail(&e) : 0;
}
