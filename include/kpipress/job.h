/* The job file: which exports to load, which period to report on, which documents to
 * write. kp_job_load parses and validates it (inih via ini.c); kp_job_resolve fixes the
 * as-of date and the period's exact date range. A kp_job owns all its strings. */
#ifndef KPIPRESS_JOB_H
#define KPIPRESS_JOB_H

#include "kpipress/date.h"
#include "kpipress/doc.h"
#include "kpipress/err.h"
#include "kpipress/limits.h"
#include "kpipress/vars.h"

typedef enum {
    KP_SRC_OPPORTUNITIES = 0,
    KP_SRC_REPS,
    KP_SRC_QUOTAS,
    KP_SRC_ACCOUNTS,      /* optional sources: */
    KP_SRC_ACTIVITIES,
    KP_SRC_LEADS,
    KP_SRC_SPEND,
    KP_SRC_SUBSCRIPTIONS,
    KP_SRC_STAGE_HISTORY,
    KP_SRC_RATES,         /* currency, month, rate: converts deals in other currencies */
    KP_SRC_KIND_COUNT
} kp_source_kind;

/* [stages]: `Stage name = order | probability | open|won|lost [| forecast category]`.
 * A rule overrides the preset's rule for the same stage name (case-insensitive). */
typedef struct kp_stage_def {
    char *stage;
    int order;
    double probability; /* fraction 0..1 */
    int is_closed, is_won;
    char *forecast_category; /* NULL when not given */
    long line;
} kp_stage_def;

typedef struct kp_mapping {
    char *field;  /* canonical field, e.g. "amount" */
    char *header; /* export header that feeds it */
    long line;
} kp_mapping;

typedef struct kp_source {
    char *name;     /* section name: [source NAME] */
    kp_source_kind kind; /* from `type =`, or from the name when it is a kind name */
    char *file;     /* as written in the job */
    char *path;     /* resolved against the job file's directory */
    char *preset;   /* "salesforce", "hubspot", "pipedrive", "generic" */
    char delimiter; /* 0 = detect */
    int date_dmy;   /* dates = dmy */
    int decimal_comma;
    char *encoding; /* "utf-8" (default) or "cp1252" */
    kp_mapping *maps;
    size_t nmaps;
    long line;      /* line of the section header */
} kp_source;

typedef struct kp_report {
    char *name;
    char *template_file; /* as written */
    char *template_path; /* resolved against the job file's directory */
    char *output;        /* output pattern relative to output_dir, with {placeholders} */
    char *burst;         /* SQL or NULL */
    long burst_line;
    char *email;         /* recipient address pattern ({email}) or NULL */
    char *email_name;    /* recipient display-name pattern ({name}) or NULL */
    char *subject;       /* message subject pattern */
    char *body;          /* message body pattern */
    char *from;          /* sender address (required with email) */
    char *from_name;     /* sender display name or NULL */
    long line;
} kp_report;

typedef enum {
    KP_PERIOD_CURRENT_MONTH = 0,
    KP_PERIOD_PREVIOUS_MONTH,
    KP_PERIOD_CURRENT_QUARTER,
    KP_PERIOD_PREVIOUS_QUARTER,
    KP_PERIOD_QUARTER_TO_DATE,
    KP_PERIOD_MONTH_TO_DATE,
    KP_PERIOD_YEAR_TO_DATE,
    KP_PERIOD_CURRENT_FISCAL_YEAR,
    KP_PERIOD_PREVIOUS_FISCAL_YEAR,
    KP_PERIOD_FISCAL_YEAR_TO_DATE,
    KP_PERIOD_CURRENT_FISCAL_QUARTER,
    KP_PERIOD_PREVIOUS_FISCAL_QUARTER,
    KP_PERIOD_TRAILING_12_MONTHS,
    KP_PERIOD_CUSTOM /* "2026-01-01..2026-03-31" */
} kp_period_kind;

/* A resolved reporting period: inclusive bounds, with its comparison periods. */
typedef struct kp_period {
    kp_period_kind kind;
    kp_date start, end;           /* inclusive */
    kp_date prev_start, prev_end; /* the period before, same length in months */
    kp_date yoy_start, yoy_end;   /* same period one year earlier */
    char label[64];   /* "October 2026", "Q3 2026", "FY2027", "2026-01-01 to 2026-03-31" */
    char slug[64];    /* file-name form: "2026-10", "2026-Q3", "FY2027", "2026-01-01_2026-03-31" */
} kp_period;

/* [forecast] of a job: how far ahead, how many Monte Carlo runs with which seed, and how
 * many historical deals a stage needs before its learned win probability is used. */
typedef struct kp_forecast_settings {
    int horizon;             /* months forecast ahead, 1..36 (default 6) */
    long runs;               /* Monte Carlo runs, 100..1,000,000 (default 10,000) */
    unsigned long long seed; /* seed of the simulation (default 1) */
    long min_sample;         /* deals per stage for a learned probability, >= 1 (default 20) */
    long line;               /* line of [forecast], 0 when absent */
} kp_forecast_settings;

typedef struct kp_job {
    char *path;        /* job file as given */
    char *dir;         /* its directory: relative paths resolve against it */
    char *name;
    char *database;    /* resolved path, or ":memory:" */
    char *as_of_text;  /* "today" or a date, as written */
    char *period_text;
    int fiscal_year_start; /* 1..12 */
    char *currency;    /* ISO code */
    char *output_dir;  /* resolved, may still contain {placeholders} until resolve */
    double max_reject_pct;
    char *timezone;    /* IANA name or "UTC" */
    char *font;        /* TTF path for PDFs, NULL = default */
    char *deliver_command; /* e.g. "/usr/sbin/sendmail -t -i": gets each message on stdin */
    char *metrics_file;    /* `metrics = file.ini` as written, or NULL */
    char *metrics_path;    /* resolved like templates (beside the job, then shipped) */
    long metrics_line;
    double gross_margin;   /* `gross_margin` (0..1] for LTV; 0 = not given */
    kp_source sources[KP_MAX_SOURCES];
    size_t nsources;
    kp_report reports[KP_MAX_REPORTS];
    size_t nreports;
    kp_stage_def *stages; /* [stages], in file order */
    size_t nstages;
    /* [commission]: the plan that payout(...) columns apply (see doc.h). kp_job_resolve
     * passes it to templates as vars commission_method, commission_target_incentive,
     * commission_floor, commission_cap (NULL = none), commission_tiers ("FROM:RATE ..."). */
    int has_commission;
    long commission_line;
    kp_commission_plan commission;
    /* [forecast]: settings of the forecast stage (defaults when the section is absent). */
    kp_forecast_settings forecast;
    /* Filled by kp_job_resolve: */
    kp_date as_of;
    kp_period period;
    kp_vars vars; /* job_name, as_of, period, period_label, period_start, period_end,
                     prev_start, prev_end, yoy_start, yoy_end, currency, fiscal_year_start */
} kp_job;

/* Parse and validate path. Checks: known sections and keys, required keys, value syntax,
 * that source files and templates exist. Errors name the file and line. On success *out
 * is a new job the caller frees with kp_job_free. */
kp_err kp_job_load(const char *path, kp_job **out, kp_error *e);
void kp_job_free(kp_job *job); /* NULL-safe */

/* Fix the as-of date (override: "YYYY-MM-DD" or NULL for the job's as_of; "today" reads
 * the clock, in UTC, here and only here), resolve the period, expand output_dir, fill
 * job->vars. */
kp_err kp_job_resolve(kp_job *job, const char *as_of_override, kp_error *e);

/* Find a source by kind, or NULL. */
const kp_source *kp_job_source(const kp_job *job, kp_source_kind kind);

/* Where a template or metrics file named `name` is found for job (NULL job: no job
 * directory): beside the job, $KPIPRESS_TEMPLATES, then the shipped templates. malloc'd
 * path (of the job-relative candidate when nothing exists); NULL on ENOMEM. */
char *kp_job_find_file(const kp_job *job, const char *name);

/* Period arithmetic (period.c). Parse a period name ("previous_month") or custom range;
 * -1 if unknown. */
int kp_period_parse(const char *text, kp_period_kind *kind, kp_date *custom_start,
                    kp_date *custom_end);
/* Resolve kind at as_of with the fiscal year starting in month fy_start (1..12). The
 * fiscal year is named after the calendar year in which it ends (FY2027 = Feb 2026 to
 * Jan 2027 when fy_start = 2), as Salesforce does by default. */
void kp_period_resolve(kp_period_kind kind, kp_date as_of, int fy_start, kp_date custom_start,
                       kp_date custom_end, kp_period *out);

#endif
