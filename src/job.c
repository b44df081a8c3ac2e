/* The job file: parsed with the INI adapter into a kp_job, validated key by key with the
 * line of every mistake, then resolved (as-of date, period, output directory, vars).
 * Relative paths are relative to the job file, so a job runs the same from any cwd. */
#include "kpipress/job.h"

#include "kpipress/email.h"
#include "kpipress/ini.h"
#include "kpipress/log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef KP_TEMPLATE_DIR
#define KP_TEMPLATE_DIR "/usr/local/share/kpipress/templates"
#endif

typedef enum {
    SEC_NONE,
    SEC_JOB,
    SEC_SOURCE,
    SEC_REPORT,
    SEC_COMMISSION,
    SEC_FORECAST,
    SEC_METRIC,
    SEC_STAGES
} sec_kind;

typedef struct {
    kp_job *job;
    sec_kind sec;
    kp_source *src;
    kp_report *rep;
    char last_key[KP_NAME_MAX]; /* for continuation lines and duplicate detection */
    char seen[64][KP_NAME_MAX]; /* keys seen in the current section */
    size_t nseen;
    long job_line; /* line of [job], 0 if absent */
    unsigned long tiers_set; /* bit N-1: [commission] tier.N was given */
} parse_ctx;

static const char *const job_keys[] = {"name",     "database",          "as_of",
                                       "period",   "fiscal_year_start", "currency",
                                       "output_dir", "max_reject_pct",  "timezone",
                                       "font",     "deliver_command", "metrics",
                                       "gross_margin", NULL};
static const char *const source_keys[] = {"file",     "preset",  "type",     "delimiter",
                                          "dates",    "decimal", "encoding", NULL};
static const char *const report_keys[] = {"template", "output",  "burst", "email",
                                          "email_name", "subject", "body",  "from",
                                          "from_name",  NULL};
static const char *const commission_keys[] = {"target_incentive", "method", "floor", "cap",
                                              NULL};
static const char *const forecast_keys[] = {"horizon", "runs", "seed", "min_sample", NULL};
static const char *const source_kinds[] = {"opportunities", "reps",          "quotas",
                                           "accounts",      "activities",    "leads",
                                           "spend",         "subscriptions", "stage_history",
                                           "rates",         NULL};
#define SOURCE_KINDS_TEXT                                                                    \
    "opportunities, reps, quotas, accounts, activities, leads, spend, subscriptions, "       \
    "stage_history or rates"

/* ---- small helpers ------------------------------------------------------------------ */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* dir + "/" + rel unless rel is absolute or dir is "". malloc'd. */
static char *join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir[0] || !strcmp(dir, "."))
        return strdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

static const char *list_keys(const char *const *keys, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; keys[i] && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", keys[i]);
    return buf;
}

static int in_list(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++)
        if (!strcmp(keys[i], k))
            return 1;
    return 0;
}

/* ---- section and key handlers -------------------------------------------------------- */

static kp_err on_section(void *user, const char *section, long line, kp_error *e)
{
    parse_ctx *c = user;
    kp_job *job = c->job;
    c->nseen = 0;
    c->last_key[0] = '\0';
    c->src = NULL;
    c->rep = NULL;
    if (!strcmp(section, "job")) {
        if (c->job_line)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "duplicate [job] section (first at line %ld)", c->job_line);
        c->sec = SEC_JOB;
        c->job_line = line;
        return KP_OK;
    }
    /* [metric NAME]: read and validated by metrics.c (kp_metrics_load), with lines. */
    if (!strncmp(section, "metric ", 7)) {
        c->sec = SEC_METRIC;
        return KP_OK;
    }
    if (!strcmp(section, "stages")) {
        if (job->nstages)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "duplicate [stages] section (first rule at line %ld)",
                                job->stages[0].line);
        c->sec = SEC_STAGES;
        return KP_OK;
    }
    if (!strcmp(section, "commission")) {
        if (job->has_commission)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "duplicate [commission] section (first at line %ld)",
                                job->commission_line);
        c->sec = SEC_COMMISSION;
        job->has_commission = 1;
        job->commission_line = line;
        return KP_OK;
    }
    if (!strcmp(section, "forecast")) {
        if (job->forecast.line)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "duplicate [forecast] section (first at line %ld)",
                                job->forecast.line);
        c->sec = SEC_FORECAST;
        job->forecast.line = line;
        return KP_OK;
    }
    const char *name = NULL;
    if (!strncmp(section, "source ", 7)) {
        c->sec = SEC_SOURCE;
        name = section + 7;
    } else if (!strncmp(section, "report ", 7)) {
        c->sec = SEC_REPORT;
        name = section + 7;
    } else {
        return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                            "unknown section [%s] (expected [job], [source NAME], "
                            "[report NAME], [metric NAME], [stages], [commission] or [forecast])",
                            section);
    }
    while (*name == ' ')
        name++;
    if (!*name)
        return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0, "[%s] needs a name",
                            section);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "name \"%s\" may hold only letters, digits, '-' and '_'", name);
    if (c->sec == SEC_SOURCE) {
        for (size_t i = 0; i < job->nsources; i++)
            if (!strcmp(job->sources[i].name, name))
                return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                    "duplicate [source %s] (first at line %ld)", name,
                                    job->sources[i].line);
        if (job->nsources == KP_MAX_SOURCES)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "more than %d sources", KP_MAX_SOURCES);
        c->src = &job->sources[job->nsources++];
        c->src->line = line;
        c->src->kind = KP_SRC_KIND_COUNT; /* unset until type= or the name decides */
        if (!(c->src->name = strdup(name)))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
    } else {
        for (size_t i = 0; i < job->nreports; i++)
            if (!strcmp(job->reports[i].name, name))
                return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                    "duplicate [report %s] (first at line %ld)", name,
                                    job->reports[i].line);
        if (job->nreports == KP_MAX_REPORTS)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                                "more than %d reports", KP_MAX_REPORTS);
        c->rep = &job->reports[job->nreports++];
        c->rep->line = line;
        if (!(c->rep->name = strdup(name)))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
    }
    return KP_OK;
}

static kp_err set_str(char **field, const char *value, const kp_job *job, long line, kp_error *e)
{
    char *v = strdup(value);
    if (!v)
        return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
    free(*field);
    *field = v;
    return KP_OK;
}

static kp_err bad_value(const kp_job *job, long line, const char *key, const char *value,
                        const char *expected, kp_error *e)
{
    kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0, "bad value \"%s\": expected %s", value,
                 expected);
    kp_error_key(e, key);
    return KP_ERR_CONFIG;
}

static kp_err job_key(parse_ctx *c, const char *key, const char *value, long line, kp_error *e)
{
    kp_job *job = c->job;
    if (!strcmp(key, "name"))
        return set_str(&job->name, value, job, line, e);
    if (!strcmp(key, "database"))
        return set_str(&job->database, value, job, line, e);
    if (!strcmp(key, "as_of")) {
        kp_date d;
        if (strcmp(value, "today") && kp_date_parse_iso(value, strlen(value), &d))
            return bad_value(job, line, key, value, "\"today\" or a date YYYY-MM-DD", e);
        return set_str(&job->as_of_text, value, job, line, e);
    }
    if (!strcmp(key, "period")) {
        kp_period_kind k;
        kp_date s, en;
        if (kp_period_parse(value, &k, &s, &en))
            return bad_value(job, line, key, value,
                             "current_month, previous_month, current_quarter, "
                             "previous_quarter, quarter_to_date, month_to_date, year_to_date, "
                             "current_fiscal_year, previous_fiscal_year, fiscal_year_to_date, "
                             "current_fiscal_quarter, previous_fiscal_quarter, "
                             "trailing_12_months or YYYY-MM-DD..YYYY-MM-DD",
                             e);
        return set_str(&job->period_text, value, job, line, e);
    }
    if (!strcmp(key, "fiscal_year_start")) {
        char *end;
        errno = 0;
        long m = strtol(value, &end, 10);
        if (errno || *end || end == value || m < 1 || m > 12)
            return bad_value(job, line, key, value, "a month number 1-12", e);
        job->fiscal_year_start = (int)m;
        return KP_OK;
    }
    if (!strcmp(key, "currency")) {
        if (strlen(value) != 3 || !isupper((unsigned char)value[0]) ||
            !isupper((unsigned char)value[1]) || !isupper((unsigned char)value[2]))
            return bad_value(job, line, key, value, "a three-letter ISO 4217 code like USD", e);
        return set_str(&job->currency, value, job, line, e);
    }
    if (!strcmp(key, "output_dir"))
        return set_str(&job->output_dir, value, job, line, e);
    if (!strcmp(key, "max_reject_pct")) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || *end || end == value || !(v >= 0 && v <= 100))
            return bad_value(job, line, key, value, "a percentage between 0 and 100", e);
        job->max_reject_pct = v;
        return KP_OK;
    }
    if (!strcmp(key, "timezone"))
        return set_str(&job->timezone, value, job, line, e);
    if (!strcmp(key, "font"))
        return set_str(&job->font, value, job, line, e);
    if (!strcmp(key, "deliver_command"))
        return set_str(&job->deliver_command, value, job, line, e);
    if (!strcmp(key, "metrics")) {
        job->metrics_line = line;
        return set_str(&job->metrics_file, value, job, line, e);
    }
    if (!strcmp(key, "gross_margin")) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (!errno && end != value && *end == '%' && !end[1]) {
            v /= 100.0;
            end++;
        }
        if (errno || *end || end == value || !(v > 0 && v <= 1))
            return bad_value(job, line, key, value, "a share like 70% or 0.7", e);
        job->gross_margin = v;
        return KP_OK;
    }
    return KP_ERR_INTERNAL;
}

static kp_err source_key(parse_ctx *c, const char *key, const char *value, long line,
                         kp_error *e)
{
    kp_job *job = c->job;
    kp_source *s = c->src;
    if (!strncmp(key, "map.", 4)) {
        if (!key[4])
            return bad_value(job, line, key, value, "map.FIELD = Export Header", e);
        kp_mapping *m = realloc(s->maps, (s->nmaps + 1) * sizeof *m);
        if (!m)
            return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
        s->maps = m;
        m = &s->maps[s->nmaps++];
        m->line = line;
        m->field = strdup(key + 4);
        m->header = strdup(value);
        if (!m->field || !m->header)
            return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
        return KP_OK;
    }
    if (!strcmp(key, "file"))
        return set_str(&s->file, value, job, line, e);
    if (!strcmp(key, "preset")) {
        static const char *const presets[] = {"salesforce", "hubspot", "pipedrive", "generic",
                                              NULL};
        if (!in_list(presets, value))
            return bad_value(job, line, key, value, "salesforce, hubspot, pipedrive or generic",
                             e);
        return set_str(&s->preset, value, job, line, e);
    }
    if (!strcmp(key, "type")) {
        for (int k = 0; k < KP_SRC_KIND_COUNT; k++)
            if (!strcmp(value, source_kinds[k])) {
                s->kind = (kp_source_kind)k;
                return KP_OK;
            }
        return bad_value(job, line, key, value, SOURCE_KINDS_TEXT, e);
    }
    if (!strcmp(key, "delimiter")) {
        if (!strcmp(value, "auto"))
            s->delimiter = 0;
        else if (!strcmp(value, "comma") || !strcmp(value, ","))
            s->delimiter = ',';
        else if (!strcmp(value, "semicolon"))
            s->delimiter = ';';
        else if (!strcmp(value, "tab"))
            s->delimiter = '\t';
        else
            return bad_value(job, line, key, value, "auto, comma, semicolon or tab", e);
        return KP_OK;
    }
    if (!strcmp(key, "dates")) {
        if (strcmp(value, "mdy") && strcmp(value, "dmy") && strcmp(value, "auto"))
            return bad_value(job, line, key, value, "auto, mdy or dmy", e);
        s->date_dmy = !strcmp(value, "dmy");
        return KP_OK;
    }
    if (!strcmp(key, "decimal")) {
        if (strcmp(value, "point") && strcmp(value, "comma"))
            return bad_value(job, line, key, value, "point or comma", e);
        s->decimal_comma = !strcmp(value, "comma");
        return KP_OK;
    }
    if (!strcmp(key, "encoding")) {
        if (strcasecmp(value, "utf-8") && strcasecmp(value, "utf8") &&
            strcasecmp(value, "cp1252") && strcasecmp(value, "windows-1252"))
            return bad_value(job, line, key, value, "utf-8 or cp1252", e);
        return set_str(&s->encoding, strncasecmp(value, "utf", 3) ? "cp1252" : "utf-8", job,
                       line, e);
    }
    return KP_ERR_INTERNAL;
}

static kp_err report_key(parse_ctx *c, const char *key, const char *value, long line,
                         kp_error *e)
{
    kp_job *job = c->job;
    kp_report *r = c->rep;
    if (!strcmp(key, "template"))
        return set_str(&r->template_file, value, job, line, e);
    if (!strcmp(key, "output")) {
        if (value[0] == '/' || strstr(value, ".."))
            return bad_value(job, line, key, value,
                             "a path relative to output_dir, without \"..\"", e);
        return set_str(&r->output, value, job, line, e);
    }
    if (!strcmp(key, "burst")) {
        r->burst_line = line;
        return set_str(&r->burst, value, job, line, e);
    }
    struct {
        const char *key;
        char **field;
    } texts[] = {{"email", &r->email},     {"email_name", &r->email_name},
                 {"subject", &r->subject}, {"body", &r->body},
                 {"from", &r->from},       {"from_name", &r->from_name}};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        if (!strcmp(key, texts[i].key))
            return set_str(texts[i].field, value, job, line, e);
    return KP_ERR_INTERNAL;
}

/* An attainment share: "50%" or the fraction "0.5". */
static int parse_share(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    if (*end == '%') {
        v /= 100.0;
        end++;
    }
    *out = v;
    return *end ? -1 : 0;
}

/* [forecast]: horizon, runs, seed, min_sample: whole numbers within their ranges. */
static kp_err forecast_key(parse_ctx *c, const char *key, const char *value, long line,
                           kp_error *e)
{
    kp_forecast_settings *f = &c->job->forecast;
    char *end;
    errno = 0;
    if (!strcmp(key, "seed")) {
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end || !isdigit((unsigned char)value[0]))
            return bad_value(c->job, line, key, value, "a whole number of 0 or more", e);
        f->seed = v;
        return KP_OK;
    }
    long v = strtol(value, &end, 10);
    long lo = !strcmp(key, "runs") ? 100 : 1;
    long hi = !strcmp(key, "horizon") ? 36 : !strcmp(key, "runs") ? 1000000 : 1000000000;
    if (errno || *end || end == value || v < lo || v > hi) {
        char want[96];
        snprintf(want, sizeof want, "a whole number from %ld to %ld", lo, hi);
        return bad_value(c->job, line, key, value, want, e);
    }
    if (!strcmp(key, "horizon"))
        f->horizon = (int)v;
    else if (!strcmp(key, "runs"))
        f->runs = v;
    else
        f->min_sample = v;
    return KP_OK;
}

/* [commission]: target_incentive, method, floor, cap and tier.N = FROM RATE. */
static kp_err commission_key(parse_ctx *c, const char *key, const char *value, long line,
                             kp_error *e)
{
    kp_job *job = c->job;
    kp_commission_plan *p = &job->commission;
    if (!strcmp(key, "target_incentive")) {
        char *end;
        errno = 0;
        p->target_incentive = strtod(value, &end);
        if (errno || *end || end == value || !(p->target_incentive > 0) ||
            !isfinite(p->target_incentive))
            return bad_value(job, line, key, value,
                             "an amount above 0 (the payout at 100% attainment)", e);
        return KP_OK;
    }
    if (!strcmp(key, "method")) {
        if (strcmp(value, "marginal") && strcmp(value, "cumulative"))
            return bad_value(job, line, key, value, "marginal or cumulative", e);
        p->method = strcmp(value, "marginal") ? KP_COMMISSION_CUMULATIVE : KP_COMMISSION_MARGINAL;
        return KP_OK;
    }
    if (!strcmp(key, "floor") || !strcmp(key, "cap")) {
        double v;
        if (parse_share(value, &v) || v < 0 || (!strcmp(key, "cap") && v == 0))
            return bad_value(job, line, key, value,
                             !strcmp(key, "cap") ? "a share of the target incentive above 0, "
                                                   "like 200% or 2"
                                                 : "an attainment like 50% or 0.5",
                             e);
        if (!strcmp(key, "cap")) {
            p->has_cap = 1;
            p->cap = v;
        } else {
            p->floor = v;
        }
        return KP_OK;
    }
    /* tier.N = FROM RATE */
    char *end;
    long n = strtol(key + 5, &end, 10);
    if (*end || n < 1 || n > KP_COMMISSION_MAX_TIERS) {
        kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0, "tier number must be 1 to %d",
                     KP_COMMISSION_MAX_TIERS);
        kp_error_key(e, key);
        return KP_ERR_CONFIG;
    }
    char from[64];
    double rate;
    size_t fl = strcspn(value, " \t");
    char *rend;
    if (fl < sizeof from) {
        memcpy(from, value, fl);
        from[fl] = '\0';
    }
    const char *rs = value + fl + strspn(value + fl, " \t");
    errno = 0;
    rate = strtod(rs, &rend);
    if (fl >= sizeof from || parse_share(from, &p->tiers[n - 1].from) || p->tiers[n - 1].from < 0 ||
        errno || rend == rs || (*rend && strcmp(rend, "x")) || !isfinite(rate) || rate < 0)
        return bad_value(job, line, key, value,
                         "FROM RATE: the attainment where the tier starts and its rate, like "
                         "\"100% 1.5\"",
                         e);
    p->tiers[n - 1].rate = rate;
    c->tiers_set |= 1UL << (n - 1);
    if ((size_t)n > p->ntiers)
        p->ntiers = (size_t)n;
    return KP_OK;
}

/* Append an indented continuation line to the previous key's value (multi-line SQL). */
static kp_err continue_value(parse_ctx *c, const char *value, long line, kp_error *e)
{
    char **field = NULL;
    if (c->sec == SEC_REPORT && !strcmp(c->last_key, "burst"))
        field = &c->rep->burst;
    else if (c->sec == SEC_REPORT && !strcmp(c->last_key, "body"))
        field = &c->rep->body;
    if (!field || !*field)
        return kp_error_set(e, KP_ERR_CONFIG, c->job->path, line, 0,
                            "indented line continues \"%s\", which takes a single line "
                            "(only burst SQL and body may span lines)",
                            c->last_key);
    size_t n = strlen(*field) + strlen(value) + 2;
    if (n > KP_INI_MAX_VALUE)
        return kp_error_set(e, KP_ERR_CONFIG, c->job->path, line, 0,
                            "value of %s longer than %d bytes", c->last_key, KP_INI_MAX_VALUE);
    char *p = realloc(*field, n);
    if (!p)
        return kp_error_set(e, KP_ERR_NOMEM, c->job->path, line, 0, "out of memory");
    strcat(p, "\n");
    strcat(p, value);
    *field = p;
    return KP_OK;
}

/* One [stages] rule: `Stage name = order | probability | open|won|lost [| category]`;
 * the probability as a fraction (0.8) or a percentage (80%). */
static kp_err stage_key(parse_ctx *c, const char *key, const char *value, long line,
                        int continuation, kp_error *e)
{
    kp_job *job = c->job;
    static const char form[] = "order | probability | open, won or lost [| forecast category], "
                               "e.g. 5 | 0.8 | open | Commit";
    char buf[KP_NAME_MAX], *part[5] = {NULL};
    size_t nparts = 0;
    if (continuation)
        return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                            "[stages]: a rule takes one line");
    for (size_t i = 0; i < job->nstages; i++)
        if (!strcasecmp(job->stages[i].stage, key)) {
            kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                         "stage defined twice (first at line %ld)", job->stages[i].line);
            kp_error_key(e, key);
            return KP_ERR_CONFIG;
        }
    if (strlen(value) >= sizeof buf)
        return bad_value(job, line, key, value, form, e);
    strcpy(buf, value);
    for (char *p = buf, *bar; nparts < 5; p = bar + 1) {
        bar = strchr(p, '|');
        if (bar)
            *bar = '\0';
        while (*p == ' ')
            p++;
        for (size_t n = strlen(p); n && p[n - 1] == ' ';)
            p[--n] = '\0';
        part[nparts++] = p;
        if (!bar)
            break;
    }
    if (nparts < 3 || nparts > 4)
        return bad_value(job, line, key, value, form, e);
    char *end;
    errno = 0;
    long order = strtol(part[0], &end, 10);
    if (errno || *end || end == part[0] || order < 1 || order > 1000)
        return bad_value(job, line, key, value, "a stage order 1-1000 first: " "order | ...", e);
    double prob = strtod(part[1], &end);
    int pct = *end == '%';
    if (end == part[1] || end[pct] || !(prob >= 0 && prob <= (pct ? 100 : 1)))
        return bad_value(job, line, key, value,
                         "a probability 0..1 (or 0%..100%) second: order | probability | ...", e);
    int closed, won;
    if (!strcasecmp(part[2], "open"))
        closed = won = 0;
    else if (!strcasecmp(part[2], "won"))
        closed = won = 1;
    else if (!strcasecmp(part[2], "lost"))
        closed = 1, won = 0;
    else
        return bad_value(job, line, key, value, "open, won or lost third: order | probability | "
                                                "open|won|lost", e);
    kp_stage_def *d = realloc(job->stages, (job->nstages + 1) * sizeof *d);
    if (!d)
        return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
    job->stages = d;
    d = &job->stages[job->nstages];
    memset(d, 0, sizeof *d);
    d->order = (int)order;
    d->probability = pct ? prob / 100 : prob;
    d->is_closed = closed;
    d->is_won = won;
    d->line = line;
    d->stage = strdup(key);
    d->forecast_category = nparts == 4 && *part[3] ? strdup(part[3]) : NULL;
    job->nstages++;
    if (!d->stage || (nparts == 4 && *part[3] && !d->forecast_category))
        return kp_error_set(e, KP_ERR_NOMEM, job->path, line, 0, "out of memory");
    return KP_OK;
}

static kp_err on_key(void *user, const char *section, const char *key, const char *value,
                     long line, int continuation, kp_error *e)
{
    parse_ctx *c = user;
    kp_job *job = c->job;
    char keys[256];
    (void)section;
    if (c->sec == SEC_NONE)
        return kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0,
                            "key \"%s\" outside any section (start with [job])", key);
    if (c->sec == SEC_METRIC)
        return KP_OK;
    if (c->sec == SEC_STAGES)
        return stage_key(c, key, value, line, continuation, e);
    if (continuation && !strcmp(key, c->last_key))
        return continue_value(c, value, line, e);
    const char *const *valid = c->sec == SEC_JOB          ? job_keys
                               : c->sec == SEC_SOURCE     ? source_keys
                               : c->sec == SEC_COMMISSION ? commission_keys
                               : c->sec == SEC_FORECAST   ? forecast_keys
                                                          : report_keys;
    int is_map = (c->sec == SEC_SOURCE && !strncmp(key, "map.", 4)) ||
                 (c->sec == SEC_COMMISSION && !strncmp(key, "tier.", 5));
    if (!is_map && !in_list(valid, key)) {
        kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0, "unknown key (valid keys: %s%s)",
                     list_keys(valid, keys, sizeof keys),
                     c->sec == SEC_SOURCE       ? ", map.FIELD"
                     : c->sec == SEC_COMMISSION ? ", tier.N"
                                                : "");
        kp_error_key(e, key);
        return KP_ERR_CONFIG;
    }
    for (size_t i = 0; i < c->nseen; i++)
        if (!strcmp(c->seen[i], key)) {
            kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0, "duplicate key");
            kp_error_key(e, key);
            return KP_ERR_CONFIG;
        }
    if (c->nseen < sizeof c->seen / sizeof c->seen[0])
        snprintf(c->seen[c->nseen++], KP_NAME_MAX, "%s", key);
    snprintf(c->last_key, sizeof c->last_key, "%s", key);
    if (!*value) {
        kp_error_set(e, KP_ERR_CONFIG, job->path, line, 0, "empty value");
        kp_error_key(e, key);
        return KP_ERR_CONFIG;
    }
    return c->sec == SEC_JOB          ? job_key(c, key, value, line, e)
           : c->sec == SEC_SOURCE     ? source_key(c, key, value, line, e)
           : c->sec == SEC_COMMISSION ? commission_key(c, key, value, line, e)
           : c->sec == SEC_FORECAST   ? forecast_key(c, key, value, line, e)
                                      : report_key(c, key, value, line, e);
}

/* ---- validation after parsing -------------------------------------------------------- */

/* Where a template named in a job is looked for: beside the job, then $KPIPRESS_TEMPLATES,
 * then templates/ beside or above the executable (a source tree: ./kpipress or
 * build-asan/kpipress), then ../share/kpipress/templates from it (an installed tree), then
 * the compiled-in installation directory. */
static char *find_template(const kp_job *job, const char *name)
{
    char *p = join_path(job->dir, name);
    if (!p || file_exists(p) || strchr(name, '/'))
        return p;
    free(p);
    char exe[KP_PATH_MAX];
    char dirs[4][KP_PATH_MAX + 32];
    size_t n = 0;
    const char *env = getenv("KPIPRESS_TEMPLATES");
    if (env && *env)
        snprintf(dirs[n++], sizeof dirs[0], "%s", env);
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = len > 0 ? (exe[len] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        snprintf(dirs[n++], sizeof dirs[0], "%s/templates", exe);
        snprintf(dirs[n++], sizeof dirs[0], "%s/../templates", exe);
        snprintf(dirs[n++], sizeof dirs[0], "%s/../share/kpipress/templates", exe);
    }
    for (size_t i = 0; i <= n; i++) {
        p = join_path(i < n ? dirs[i] : KP_TEMPLATE_DIR, name);
        if (!p || file_exists(p))
            return p;
        free(p);
    }
    return join_path(job->dir, name); /* not found: report the path beside the job */
}

static kp_err validate_commission(const kp_job *job, unsigned long tiers_set, kp_error *e)
{
    const kp_commission_plan *p = &job->commission;
    if (!job->has_commission)
        return KP_OK;
    if (!(p->target_incentive > 0))
        return kp_error_set(e, KP_ERR_CONFIG, job->path, job->commission_line, 0,
                            "[commission] is missing the required key \"target_incentive\"");
    for (size_t i = 0; i < p->ntiers; i++)
        if (!(tiers_set & (1UL << i)))
            return kp_error_set(e, KP_ERR_CONFIG, job->path, job->commission_line, 0,
                                "[commission]: tier.%zu is missing (tiers are numbered "
                                "1, 2, 3... without gaps)",
                                i + 1);
    const char *why = kp_commission_invalid(p);
    if (why)
        return kp_error_set(e, KP_ERR_CONFIG, job->path, job->commission_line, 0,
                            "[commission]: %s", why);
    return KP_OK;
}

static kp_err validate(kp_job *job, kp_error *e)
{
    if (!job->name)
        return kp_error_set(e, KP_ERR_CONFIG, job->path, 0, 0,
                            "missing [job] section or its required key \"name\"");
    if (!job->period_text)
        return kp_error_set(e, KP_ERR_CONFIG, job->path, 0, 0,
                            "[job] is missing the required key \"period\"");
    for (size_t i = 0; i < job->nsources; i++) {
        kp_source *s = &job->sources[i];
        if (s->kind == KP_SRC_KIND_COUNT) {
            for (int k = 0; k < KP_SRC_KIND_COUNT; k++)
                if (!strcmp(s->name, source_kinds[k]))
                    s->kind = (kp_source_kind)k;
            if (s->kind == KP_SRC_KIND_COUNT)
                return kp_error_set(e, KP_ERR_CONFIG, job->path, s->line, 0,
                                    "[source %s] needs \"type = KIND\" (or name the section "
                                    "after its type); kinds: " SOURCE_KINDS_TEXT,
                                    s->name);
        }
        for (size_t j = 0; j < i; j++)
            if (job->sources[j].kind == s->kind)
                return kp_error_set(e, KP_ERR_CONFIG, job->path, s->line, 0,
                                    "second source of type %s (first is [source %s])",
                                    source_kinds[s->kind], job->sources[j].name);
        if (!s->file)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, s->line, 0,
                                "[source %s] is missing the required key \"file\"", s->name);
        if (!s->preset && !(s->preset = strdup("generic")))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, s->line, 0, "out of memory");
        if (!s->encoding && !(s->encoding = strdup("utf-8")))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, s->line, 0, "out of memory");
        if (!(s->path = join_path(job->dir, s->file)))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, s->line, 0, "out of memory");
        if (!file_exists(s->path))
            return kp_error_set(e, KP_ERR_CONFIG, job->path, s->line, 0,
                                "[source %s]: file not found: %s", s->name, s->path);
    }
    if (job->metrics_file) {
        if (!(job->metrics_path = find_template(job, job->metrics_file)))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, job->metrics_line, 0,
                                "out of memory");
        if (!file_exists(job->metrics_path))
            return kp_error_set(e, KP_ERR_CONFIG, job->path, job->metrics_line, 0,
                                "metrics file not found: %s", job->metrics_path);
    }
    if (!kp_job_source(job, KP_SRC_OPPORTUNITIES))
        return kp_error_set(e, KP_ERR_CONFIG, job->path, 0, 0,
                            "no opportunities source: add [source opportunities] with a file");
    for (size_t i = 0; i < job->nreports; i++) {
        kp_report *r = &job->reports[i];
        if (!r->template_file)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, r->line, 0,
                                "[report %s] is missing the required key \"template\"",
                                r->name);
        if (!r->output)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, r->line, 0,
                                "[report %s] is missing the required key \"output\"", r->name);
        if (!(r->template_path = find_template(job, r->template_file)))
            return kp_error_set(e, KP_ERR_NOMEM, job->path, r->line, 0, "out of memory");
        if (!file_exists(r->template_path))
            return kp_error_set(e, KP_ERR_CONFIG, job->path, r->line, 0,
                                "[report %s]: template not found: %s", r->name,
                                r->template_path);
        if (r->email && !r->from)
            return kp_error_set(e, KP_ERR_CONFIG, job->path, r->line, 0,
                                "[report %s] sends e-mail: add \"from = address\"", r->name);
        if (r->from && kp_email_check_address(r->from, e) != KP_OK) {
            e->code = KP_ERR_CONFIG;
            snprintf(e->file, sizeof e->file, "%s", job->path);
            e->line = r->line;
            return KP_ERR_CONFIG;
        }
    }
    return KP_OK;
}

kp_err kp_job_load(const char *path, kp_job **out, kp_error *e)
{
    *out = NULL;
    kp_job *job = calloc(1, sizeof *job);
    if (!job)
        return kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    job->fiscal_year_start = 1;
    job->max_reject_pct = 1.0;
    job->forecast.horizon = 6;
    job->forecast.runs = 10000;
    job->forecast.seed = 1;
    job->forecast.min_sample = 20;
    kp_err rc = KP_ERR_NOMEM;
    if (!(job->path = strdup(path)))
        goto fail;
    const char *slash = strrchr(path, '/');
    job->dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
    if (!job->dir)
        goto fail;
    if (!file_exists(path)) {
        rc = kp_error_set(e, KP_ERR_CONFIG, path, 0, 0, "job file not found");
        goto fail;
    }
    parse_ctx c = {.job = job};
    kp_ini_handler h = {.on_section = on_section, .on_key = on_key};
    if ((rc = kp_ini_parse(path, &h, &c, e)) != KP_OK)
        goto fail;
    if ((rc = validate_commission(job, c.tiers_set, e)) != KP_OK)
        goto fail;
    if ((rc = validate(job, e)) != KP_OK)
        goto fail;
    rc = KP_ERR_NOMEM;
    if (!job->as_of_text && !(job->as_of_text = strdup("today")))
        goto fail;
    if (!job->currency && !(job->currency = strdup("USD")))
        goto fail;
    if (!job->timezone && !(job->timezone = strdup("UTC")))
        goto fail;
    char *db = job->database ? job->database : "var/kpipress.db";
    char *resolved = strcmp(db, ":memory:") ? join_path(job->dir, db) : strdup(db);
    if (!resolved)
        goto fail;
    free(job->database);
    job->database = resolved;
    char *od = join_path(job->dir, job->output_dir ? job->output_dir : "out/{period}");
    if (!od)
        goto fail;
    free(job->output_dir);
    job->output_dir = od;
    *out = job;
    return KP_OK;
fail:
    if (rc == KP_ERR_NOMEM && (!e || e->code != KP_ERR_NOMEM))
        kp_error_set(e, KP_ERR_NOMEM, path, 0, 0, "out of memory");
    kp_job_free(job);
    return rc;
}

void kp_job_free(kp_job *job)
{
    if (!job)
        return;
    free(job->path);
    free(job->dir);
    free(job->name);
    free(job->database);
    free(job->as_of_text);
    free(job->period_text);
    free(job->currency);
    free(job->output_dir);
    free(job->timezone);
    free(job->font);
    free(job->deliver_command);
    for (size_t i = 0; i < job->nstages; i++) {
        free(job->stages[i].stage);
        free(job->stages[i].forecast_category);
    }
    free(job->stages);
    free(job->metrics_file);
    free(job->metrics_path);
    for (size_t i = 0; i < job->nsources; i++) {
        kp_source *s = &job->sources[i];
        free(s->name);
        free(s->file);
        free(s->path);
        free(s->preset);
        free(s->encoding);
        for (size_t m = 0; m < s->nmaps; m++) {
            free(s->maps[m].field);
            free(s->maps[m].header);
        }
        free(s->maps);
    }
    for (size_t i = 0; i < job->nreports; i++) {
        kp_report *r = &job->reports[i];
        free(r->name);
        free(r->template_file);
        free(r->template_path);
        free(r->output);
        free(r->burst);
        free(r->email);
        free(r->email_name);
        free(r->subject);
        free(r->body);
        free(r->from);
        free(r->from_name);
    }
    kp_vars_clear(&job->vars);
    free(job);
}

char *kp_job_find_file(const kp_job *job, const char *name)
{
    static const kp_job nojob = {.dir = "."};
    return find_template(job ? job : &nojob, name);
}

const kp_source *kp_job_source(const kp_job *job, kp_source_kind kind)
{
    for (size_t i = 0; i < job->nsources; i++)
        if (job->sources[i].kind == kind)
            return &job->sources[i];
    return NULL;
}

/* ---- resolution ----------------------------------------------------------------------- */

static kp_date today_utc(void)
{
    /* The one clock read of kpipress: "as_of = today" asks for it explicitly. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    return kp_date_from_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The plan reaches templates as values (%.17g round-trips a double exactly), so SQL and
 * text can use them and report.c rebuilds the same plan for payout(...) columns. */
static kp_err commission_vars(const kp_commission_plan *p, kp_vars *v)
{
    char num[32], tiers[KP_COMMISSION_MAX_TIERS * 50];
    size_t o = 0;
    for (size_t i = 0; i < p->ntiers; i++)
        o += (size_t)snprintf(tiers + o, sizeof tiers - o, "%s%.17g:%.17g", i ? " " : "",
                              p->tiers[i].from, p->tiers[i].rate);
    kp_err rc = kp_vars_set(v, "commission_tiers", tiers);
    if (!rc)
        rc = kp_vars_set(v, "commission_method",
                         p->method == KP_COMMISSION_CUMULATIVE ? "cumulative" : "marginal");
    snprintf(num, sizeof num, "%.17g", p->target_incentive);
    if (!rc)
        rc = kp_vars_set(v, "commission_target_incentive", num);
    snprintf(num, sizeof num, "%.17g", p->floor);
    if (!rc)
        rc = kp_vars_set(v, "commission_floor", num);
    snprintf(num, sizeof num, "%.17g", p->cap);
    if (!rc)
        rc = kp_vars_set(v, "commission_cap", p->has_cap ? num : NULL);
    return rc;
}

kp_err kp_job_resolve(kp_job *job, const char *as_of_override, kp_error *e)
{
    const char *text = as_of_override ? as_of_override : job->as_of_text;
    if (!strcmp(text, "today"))
        job->as_of = today_utc();
    else if (kp_date_parse_iso(text, strlen(text), &job->as_of))
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0,
                            "bad as-of date \"%s\": expected YYYY-MM-DD or today", text);
    kp_period_kind kind;
    kp_date cs = 0, ce = 0;
    if (kp_period_parse(job->period_text, &kind, &cs, &ce))
        return kp_error_set(e, KP_ERR_CONFIG, job->path, 0, 0, "bad period");
    kp_period_resolve(kind, job->as_of, job->fiscal_year_start, cs, ce, &job->period);
    kp_period *p = &job->period;
    char buf[KP_DATE_ISO_LEN + 1], fy[8];
    kp_vars *v = &job->vars;
    kp_vars_clear(v);
    snprintf(fy, sizeof fy, "%d", job->fiscal_year_start);
    struct {
        const char *name;
        kp_date d;
    } dates[] = {{"as_of", job->as_of},          {"period_start", p->start},
                 {"period_end", p->end},         {"prev_start", p->prev_start},
                 {"prev_end", p->prev_end},      {"yoy_start", p->yoy_start},
                 {"yoy_end", p->yoy_end}};
    kp_err rc = KP_OK;
    for (size_t i = 0; i < sizeof dates / sizeof *dates && !rc; i++)
        rc = kp_vars_set(v, dates[i].name, kp_date_format_iso(dates[i].d, buf));
    if (!rc)
        rc = kp_vars_set(v, "job_name", job->name);
    if (!rc)
        rc = kp_vars_set(v, "period", p->slug);
    if (!rc)
        rc = kp_vars_set(v, "period_label", p->label);
    if (!rc)
        rc = kp_vars_set(v, "currency", job->currency);
    if (!rc)
        rc = kp_vars_set(v, "fiscal_year_start", fy);
    if (!rc && job->has_commission)
        rc = commission_vars(&job->commission, v);
    if (rc)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    char *od = NULL;
    if ((rc = kp_vars_expand(v, job->output_dir, &od, e)) != KP_OK) {
        if (e)
            snprintf(e->file, sizeof e->file, "%s", job->path);
        return rc;
    }
    free(job->output_dir);
    job->output_dir = od;
    if ((rc = kp_vars_set(v, "output_dir", od)))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    return KP_OK;
}
