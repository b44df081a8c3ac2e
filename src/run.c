/* Running a job: lock the database, load the exports, compute the KPI tables, render each
 * report (once, or once per burst row, in worker processes when asked), write every file
 * atomically, then the manifest, then the run record. Any failure stops the run with the
 * previous documents and database untouched. */
#include "kpipress/run.h"

#include "kpipress/deliver.h"
#include "kpipress/email.h"
#include "kpipress/forecast_pipeline.h"
#include "kpipress/forecast_series.h"
#include "kpipress/heap.h"
#include "kpipress/job.h"
#include "kpipress/load.h"
#include "kpipress/log.h"
#include "kpipress/metrics.h"
#include "kpipress/render_pdf.h"
#include "kpipress/render_xlsx.h"
#include "kpipress/template.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One document to write: its variables and where it goes. */
typedef struct {
    size_t report;  /* index into job->reports */
    kp_vars vars;   /* job vars + burst row */
    char *key;      /* burst key (first burst column) or NULL */
    char *path;     /* final path */
    /* E-mail, when the report has email =: */
    char *eml_path; /* message beside the document (".eml" instead of its extension) */
    char *to_addr, *to_name, *subject, *body;
    /* Temporaries fixed by the parent before rendering (workers write into them), renamed
     * into place only when every document of the run has rendered. */
    kp_outfile doc_of, eml_of;
} output;

/* Stages as the run record names them (stage_names below). */
enum { STAGE_LOCK, STAGE_LOAD, STAGE_MODEL, STAGE_FORECAST, STAGE_PLAN, STAGE_RENDER,
       STAGE_MANIFEST, STAGE_DELIVER, STAGE_COUNT };

typedef struct {
    kp_job *job;
    const kp_run_options *o;
    kp_template *templates[KP_MAX_REPORTS];
    output *outs;
    size_t nouts;
    int lock_fd;
    /* The run record (runs table, --summary): */
    const char *job_path;
    int resolved;                       /* job and templates prepared */
    int rendered;                       /* documents and manifest in place */
    int stage;                          /* STAGE_* now running (the failed one, after) */
    double ms[STAGE_COUNT];             /* per stage, monotonic clock */
    char started[24];                   /* UTC wall clock */
    char job_sha[65];
    char in_sha[KP_MAX_SOURCES][65];
    uint64_t in_bytes[KP_MAX_SOURCES];
    kp_load_stats stats;
    char *summary;                      /* JSON, built once for the table and the file */
} run_ctx;

static void outputs_free(run_ctx *c)
{
    for (size_t i = 0; i < c->nouts; i++) {
        kp_vars_clear(&c->outs[i].vars);
        free(c->outs[i].key);
        free(c->outs[i].path);
        free(c->outs[i].eml_path);
        free(c->outs[i].to_addr);
        free(c->outs[i].to_name);
        free(c->outs[i].subject);
        free(c->outs[i].body);
        kp_outfile_abort(&c->outs[i].doc_of); /* removes temporaries of a failed run */
        kp_outfile_abort(&c->outs[i].eml_of);
    }
    free(c->outs);
    c->outs = NULL;
    c->nouts = 0;
}

static void ctx_free(run_ctx *c)
{
    outputs_free(c);
    for (size_t i = 0; i < KP_MAX_REPORTS; i++)
        kp_template_free(c->templates[i]);
    kp_job_free(c->job);
    free(c->summary);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
}

static int selected(const run_ctx *c, size_t r)
{
    return !c->o->only || !strcmp(c->o->only, c->job->reports[r].name);
}

static const char *extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && !strchr(dot, '/') ? dot + 1 : "";
}

/* Job + templates, parsed and cross-checked; overrides applied. */
static kp_err prepare(run_ctx *c, const char *job_path, kp_error *e)
{
    kp_err rc = kp_job_load(job_path, &c->job, e);
    if (rc)
        return rc;
    kp_job *job = c->job;
    if (c->o->output_dir && kp_doc_set_str(&job->output_dir, c->o->output_dir))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    if (c->o->database && kp_doc_set_str(&job->database, c->o->database))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    if ((rc = kp_job_resolve(job, c->o->as_of, e)))
        return rc;
    int any = 0;
    for (size_t r = 0; r < job->nreports; r++) {
        if (!selected(c, r))
            continue;
        any = 1;
        kp_report *rep = &job->reports[r];
        if ((rc = kp_template_load(rep->template_path, &c->templates[r], e)))
            return rc;
        const char *want = c->templates[r]->kind == KP_DOC_XLSX ? "xlsx" : "pdf";
        if (strcmp(extension(rep->output), want))
            return kp_error_set(e, KP_ERR_CONFIG, job->path, rep->line, 0,
                                "[report %s]: template %s makes a .%s file but output is \"%s\"",
                                rep->name, rep->template_file, want, rep->output);
        /* Found missing only at the first PDF, a font would fail the run after other
         * documents were already replaced: check it before anything runs. */
        const char *font = job->font ? job->font : KP_DEFAULT_FONT;
        if (c->templates[r]->kind == KP_DOC_PDF && access(font, R_OK) != 0)
            return kp_error_set(e, KP_ERR_IO, job->path, rep->line, 0,
                                "[report %s]: font file %s not found (set font = in [job], or "
                                "install fonts-dejavu-core)",
                                rep->name, font);
    }
    if (c->o->only && !any)
        return kp_error_set(e, KP_ERR_USAGE, job->path, 0, 0, "no [report %s] in this job",
                            c->o->only);
    return KP_OK;
}

/* ---- lock ---------------------------------------------------------------------------- */

static kp_err lock_database(run_ctx *c, kp_error *e)
{
    const char *db = c->job->database;
    if (!strcmp(db, ":memory:"))
        return KP_OK;
    char path[KP_PATH_MAX];
    snprintf(path, sizeof path, "%s", db);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        kp_err rc = kp_mkdirs(path, e);
        if (rc)
            return rc;
    }
    snprintf(path, sizeof path, "%s.lock", db);
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->lock_fd < 0)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot create lock file: %s",
                            strerror(errno));
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(c->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        return kp_error_set(e, KP_ERR_LOCKED, db, 0, 0,
                            "database is in use by another kpipress run (pid %s)",
                            pid[0] ? pid : "unknown");
    }
    /* The kernel drops a flock when its holder dies, so a stale file never blocks. */
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(c->lock_fd, 0) != 0 || pwrite(c->lock_fd, buf, (size_t)n, 0) != n)
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot write lock file: %s",
                            strerror(errno));
    return KP_OK;
}

static kp_err open_store(run_ctx *c, kp_store **s, kp_error *e)
{
    return kp_store_open(c->job->database, KP_STORE_CREATE, s, e);
}

/* Templates read `opportunities`: make it, for this connection, the latest snapshot as of
 * the run rather than the latest in the database, so that re-running last March after
 * April was loaded reports on March. A TEMP view shadows the stored one. The snapshot is
 * resolved once, in the catalogue, and the view reads its rowid range in table order (no
 * index needed; the as_of test keeps it exact whatever the range). A database without
 * a catalogue (opened read-only before any load by this version, or filled other than by
 * the load) keeps the max(as_of) lookup. Dates are validated ISO dates and rowids
 * integers, so splicing them is safe. */
static kp_err scope_to_as_of(kp_store *s, const kp_job *job, kp_error *e)
{
    char iso[KP_DATE_ISO_LEN + 1], sql[640];
    kp_snapshot snap;
    kp_date_format_iso(job->as_of, iso);
    kp_err rc = kp_load_find_snapshot(s, iso, &snap, e);
    if (rc)
        return rc;
    if (!snap.in_catalogue)
        snprintf(sql, sizeof sql,
                 "DROP VIEW IF EXISTS temp.opportunities;"
                 "CREATE TEMP VIEW opportunities AS SELECT o.*, o.amount_cents / 100.0 AS"
                 " amount FROM main.opportunity_snapshots o WHERE o.as_of = (SELECT max(as_of)"
                 " FROM main.opportunity_snapshots WHERE as_of <= '%s');",
                 iso);
    else /* no snapshot at or before the as-of: first > last, no rows */
        snprintf(sql, sizeof sql,
                 "DROP VIEW IF EXISTS temp.opportunities;"
                 "CREATE TEMP VIEW opportunities AS SELECT o.*, o.amount_cents / 100.0 AS"
                 " amount FROM main.opportunity_snapshots o WHERE o.rowid BETWEEN %" PRId64
                 " AND %" PRId64 " AND o.as_of = '%s';",
                 snap.first_rowid, snap.last_rowid, snap.as_of);
    return kp_store_exec(s, sql, e);
}

/* After the KPI stage, temporary tables go to a file. The load leaves temp_store=MEMORY
 * (its index sorts) and the KPI stage's temporary tables are much faster in memory (a
 * file made the 1,000-scorecard job's KPI stage 50% slower); but an in-memory temporary
 * database keeps every page it ever held after its tables are dropped (10 MB at 1M deals
 * for the rest of the run), and the forecast's temporary tables grow with the stage
 * history (every earlier snapshot's open deals). Changing temp_store closes the temporary
 * database, freeing it, and drops what was in it: the TEMP view is made again. The
 * forecast reads them once, through the temporary database's own small page cache. */
static kp_err temp_to_file(kp_store *s, const kp_job *job, kp_error *e)
{
    kp_err rc = kp_store_exec(s, "PRAGMA temp_store=FILE", e);
    return rc ? rc : scope_to_as_of(s, job, e);
}

/* After the KPI stage, a small page cache for the rest of the run (the store opens with
 * 8 MB, the KPI stage gives it back). The forecast reads the deals in table order, each
 * page once, and a single document reads the small KPI tables and a few rows per block:
 * neither re-reads enough pages for a larger cache to save time (measured: the same CPU
 * time at 1M deals), while every page it held stayed resident to the end of the run (a
 * board pack at 100k deals: forecast peak 23 -> 18 MB, render 18 -> 12 MB). Lowering the
 * size frees the pages above it at once. Burst workers open their own connection. */
#define LATE_CACHE_SIZE (-512) /* KiB */

/* ---- planning the outputs ----------------------------------------------------------- */

/* Expand one message field; errors point at the report's section. */
static kp_err expand_field(const run_ctx *c, const kp_report *rep, const kp_vars *v,
                           const char *pattern, char **out, kp_error *e)
{
    *out = NULL;
    if (!pattern)
        return KP_OK;
    kp_err rc = kp_vars_expand(v, pattern, out, e);
    if (rc && e) {
        snprintf(e->file, sizeof e->file, "%s", c->job->path);
        e->line = rep->line;
    }
    return rc;
}

/* Work out the message of one burst row. A row whose address is empty or invalid gets
 * its document but no message, with a warning naming the row: one bad CRM e-mail field
 * must not hold back everybody else's scorecard. */
static kp_err plan_email(run_ctx *c, const kp_report *rep, output *out, kp_error *e)
{
    kp_err rc = expand_field(c, rep, &out->vars, rep->email, &out->to_addr, e);
    if (!rc)
        rc = expand_field(c, rep, &out->vars, rep->email_name, &out->to_name, e);
    if (!rc)
        rc = expand_field(c, rep, &out->vars,
                          rep->subject ? rep->subject : "{job_name}: {period_label}",
                          &out->subject, e);
    if (!rc)
        rc = expand_field(c, rep, &out->vars, rep->body, &out->body, e);
    if (rc)
        return rc;
    kp_error ignore = {0};
    if (!out->to_addr[0] || kp_email_check_address(out->to_addr, &ignore) != KP_OK) {
        kp_log_warn("[report %s] %s: no message: bad recipient address \"%s\"", rep->name,
                    out->key ? out->key : out->path, out->to_addr);
        free(out->to_addr);
        out->to_addr = NULL;
        return KP_OK;
    }
    size_t n = strlen(out->path);
    const char *dot = strrchr(out->path, '.');
    size_t stem = dot && !strchr(dot, '/') ? (size_t)(dot - out->path) : n;
    if (!(out->eml_path = malloc(stem + 5)))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    memcpy(out->eml_path, out->path, stem);
    memcpy(out->eml_path + stem, ".eml", 5);
    return KP_OK;
}

static kp_err add_output(run_ctx *c, size_t r, const kp_vars *row, const char *key,
                         kp_error *e)
{
    kp_job *job = c->job;
    kp_report *rep = &job->reports[r];
    output *no = realloc(c->outs, (c->nouts + 1) * sizeof *no);
    if (!no)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    c->outs = no;
    output *out = &c->outs[c->nouts++];
    memset(out, 0, sizeof *out);
    out->report = r;
    kp_vars pathvars = {0};
    kp_err rc = kp_vars_merge(&out->vars, &job->vars);
    if (!rc && row)
        rc = kp_vars_merge(&out->vars, row);
    if (!rc)
        rc = kp_vars_merge(&pathvars, &job->vars);
    /* Burst values become file-name components only after sanitising: a rep called
     * "../../etc/x" or "CON" cannot leave the output directory. */
    for (size_t i = 0; row && !rc && i < row->count; i++) {
        char safe[KP_BURST_NAME_MAX + 1];
        kp_vars_sanitize_component(row->values[i], safe, sizeof safe);
        rc = kp_vars_set(&pathvars, row->names[i], safe);
    }
    if (rc) {
        kp_vars_clear(&pathvars);
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    char *rel = NULL;
    rc = kp_vars_expand(&pathvars, rep->output, &rel, e);
    kp_vars_clear(&pathvars);
    if (rc) {
        if (e) {
            snprintf(e->file, sizeof e->file, "%s", job->path);
            e->line = rep->line;
        }
        return rc;
    }
    size_t n = strlen(job->output_dir) + strlen(rel) + 2;
    out->path = malloc(n);
    if (out->path)
        snprintf(out->path, n, "%s/%s", job->output_dir, rel);
    free(rel);
    if (!out->path || (key && !(out->key = strdup(key))))
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    return rep->email ? plan_email(c, rep, out, e) : KP_OK;
}

/* Run the burst query and add one output per row of this machine's shard. */
static kp_err plan_burst(run_ctx *c, kp_store *s, size_t r, kp_error *e)
{
    kp_report *rep = &c->job->reports[r];
    kp_stmt *st = NULL;
    kp_store_set_readonly(s, 1);
    kp_err rc = kp_store_prepare(s, rep->burst, c->job->path, rep->burst_line, &st, e);
    if (!rc)
        rc = kp_stmt_bind_vars(st, &c->job->vars, e);
    long idx = 0;
    int step;
    while (!rc && (step = kp_stmt_step(st, e)) == 1) {
        if (idx++ % c->o->shard_count != c->o->shard_index)
            continue;
        kp_vars row = {0};
        int ncol = kp_stmt_column_count(st);
        for (int i = 0; i < ncol && !rc; i++) {
            /* Burst values reach file names, text blocks and mail headers: SQL can make
             * any bytes (CAST(x'ff' AS TEXT)), so bad UTF-8 becomes U+FFFD here, once. */
            const char *v = kp_stmt_column_text(st, i);
            kp_cell cell = {0};
            if ((v && kp_cell_set_text(&cell, v, strlen(v))) ||
                kp_vars_set(&row, kp_stmt_column_name(st, i), v ? cell.text : NULL))
                rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            kp_cell_clear(&cell);
        }
        const char *key = row.count ? row.values[0] : NULL;
        if (!rc)
            rc = add_output(c, r, &row, key ? key : "", e);
        kp_vars_clear(&row);
    }
    if (!rc && step < 0)
        rc = e ? e->code : KP_ERR_IO;
    kp_stmt_finalize(st);
    kp_store_set_readonly(s, 0);
    return rc;
}

static kp_err plan(run_ctx *c, kp_store *s, kp_error *e)
{
    for (size_t r = 0; r < c->job->nreports; r++) {
        if (!selected(c, r))
            continue;
        kp_err rc = c->job->reports[r].burst ? plan_burst(c, s, r, e) : add_output(c, r, NULL, NULL, e);
        if (rc)
            return rc;
    }
    /* Two outputs with one path would silently overwrite each other. */
    for (size_t i = 0; i < c->nouts; i++)
        for (size_t j = i + 1; j < c->nouts; j++)
            if (!strcmp(c->outs[i].path, c->outs[j].path))
                return kp_error_set(e, KP_ERR_CONFIG, c->job->path,
                                    c->job->reports[c->outs[j].report].line, 0,
                                    "two documents would be written to %s: make the output "
                                    "pattern unique (e.g. add {rep_id})",
                                    c->outs[i].path);
    return KP_OK;
}

/* ---- rendering ------------------------------------------------------------------------ */

/* Write a message (attachment read from the document's temporary) to its temporary. */
static kp_err write_message(const run_ctx *c, const output *out, const kp_template *t,
                            kp_error *e)
{
    const kp_report *rep = &c->job->reports[out->report];
    const char *slash = strrchr(out->path, '/');
    kp_email m = {.from_name = rep->from_name,
                  .from_addr = rep->from,
                  .to_name = out->to_name,
                  .to_addr = out->to_addr,
                  .subject = out->subject,
                  .body = out->body,
                  .attachment_path = out->doc_of.tmp_path,
                  .attachment_name = slash ? slash + 1 : out->path,
                  .attachment_type = t->kind == KP_DOC_XLSX
                                         ? "application/vnd.openxmlformats-officedocument."
                                           "spreadsheetml.sheet"
                                         : "application/pdf",
                  .report = rep->name,
                  .key = out->key,
                  .as_of = c->job->as_of};
    FILE *f = fopen(out->eml_of.tmp_path, "wb");
    if (!f)
        return kp_error_set(e, KP_ERR_IO, out->eml_of.tmp_path, 0, 0, "cannot create: %s",
                            strerror(errno));
    kp_err rc = kp_email_write(f, &m, e);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (!rc && bad)
        rc = kp_error_set(e, KP_ERR_IO, out->eml_path, 0, 0, "write error: %s", strerror(errno));
    return rc;
}

/* Render one document (and its message) into its temporaries. */
static kp_err render_output(run_ctx *c, kp_store *s, const output *out, kp_error *e)
{
    kp_job *job = c->job;
    const kp_template *t = c->templates[out->report];
    kp_doc *doc = NULL;
    kp_err rc = kp_report_build(t, s, &out->vars, job->currency, job->as_of, job->font, &doc, e);
    /* The template's queries sort (open deals by stage: 2 MB of buffers at 1M deals), and
     * the writer would stack its memory on what they freed: given back first (render
     * peak of a board pack at 1M deals 16.4 -> 15.2 MB). Not per burst document: a
     * millisecond each, for small queries. */
    if (c->nouts == 1)
        kp_heap_trim();
    if (!rc)
        rc = t->kind == KP_DOC_XLSX ? kp_render_xlsx(doc, out->doc_of.tmp_path, e)
                                    : kp_render_pdf(doc, out->doc_of.tmp_path, e);
    kp_doc_free(doc);
    if (!rc && out->eml_path)
        rc = write_message(c, out, t, e);
    return rc;
}

/* Fix every output's temporary names (and create the directories) before rendering. */
static kp_err stage_outputs(run_ctx *c, kp_error *e)
{
    kp_err rc = KP_OK;
    for (size_t i = 0; i < c->nouts && !rc; i++) {
        output *out = &c->outs[i];
        rc = kp_outfile_begin(&out->doc_of, out->path, e);
        if (!rc && out->eml_path)
            rc = kp_outfile_begin(&out->eml_of, out->eml_path, e);
    }
    return rc;
}

/* All documents rendered: sync and rename each into place. Until this point the previous
 * run's documents are untouched, whatever failed. */
static kp_err commit_outputs(run_ctx *c, kp_error *e)
{
    kp_err rc = KP_OK;
    for (size_t i = 0; i < c->nouts && !rc; i++) {
        output *out = &c->outs[i];
        rc = kp_outfile_commit(&out->doc_of, e);
        if (!rc && out->eml_path)
            rc = kp_outfile_commit(&out->eml_of, e);
    }
    return rc;
}

/* Render outputs [k], k = worker, worker + nworkers, ... on connection s. */
static kp_err render_share(run_ctx *c, kp_store *s, int worker, int nworkers, kp_error *e)
{
    /* A burst's documents each read rows scattered over the whole database: through a
     * memory map they cost no pread() and copy per page (a fifth of a scorecard's CPU).
     * A single document reads each page about once, and a map would only add the file's
     * pages to the process's resident memory (hundreds of MB at 1M deals). */
    kp_err rc = c->nouts > (size_t)nworkers ? kp_store_map_reads(s, e) : KP_OK;
    for (size_t i = (size_t)worker; !rc && i < c->nouts; i += (size_t)nworkers) {
        rc = render_output(c, s, &c->outs[i], e);
        if (!rc && nworkers == 1 && c->nouts > 1 && (i + 1) % 100 == 0)
            kp_log_info("rendered %zu of %zu documents", i + 1, c->nouts);
    }
    return rc;
}

/* A worker process renders its share on a private connection (SQLite connections must
 * not cross fork()). */
static kp_err render_worker(run_ctx *c, int worker, int nworkers, kp_error *e)
{
    kp_store *s = NULL;
    kp_err rc = kp_store_open(c->job->database, 0, &s, e);
    if (!rc)
        rc = scope_to_as_of(s, c->job, e);
    if (!rc)
        rc = render_share(c, s, worker, nworkers, e);
    kp_store_close(s);
    return rc;
}

/* Fork nworkers processes; each renders its share. The first failure's message travels
 * back through a pipe so that main.c can print it like any other error. */
static kp_err render_parallel(run_ctx *c, int nworkers, kp_error *e)
{
    pid_t pids[64];
    int fds[64];
    int started = 0;
    kp_err rc = KP_OK;
    fflush(NULL);
    for (int w = 0; w < nworkers; w++) {
        int p[2];
        if (pipe(p) != 0) {
            rc = kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "pipe: %s", strerror(errno));
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(p[0]);
            close(p[1]);
            rc = kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            close(p[0]);
            kp_error we = {0};
            kp_err wrc = render_worker(c, w, nworkers, &we);
            if (wrc && write(p[1], &we, sizeof we) != (ssize_t)sizeof we)
                wrc = KP_ERR_IO;
            close(p[1]);
            _exit(wrc ? 10 + (int)wrc : 0);
        }
        close(p[1]);
        pids[started] = pid;
        fds[started++] = p[0];
    }
    for (int w = 0; w < started; w++) {
        kp_error we;
        ssize_t n = read(fds[w], &we, sizeof we);
        close(fds[w]);
        int status = 0;
        waitpid(pids[w], &status, 0);
        if (rc)
            continue;
        if (n == (ssize_t)sizeof we && we.code != KP_OK) {
            if (e)
                *e = we;
            rc = we.code;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            rc = kp_error_set(e, KP_ERR_INTERNAL, NULL, 0, 0,
                              "render worker %d died (status %d)", w, status);
        }
    }
    return rc;
}

static kp_err render_all(run_ctx *c, kp_store *s, kp_error *e)
{
    int jobs = c->o->jobs > 0 ? c->o->jobs : 1;
    if ((size_t)jobs > c->nouts)
        jobs = c->nouts ? (int)c->nouts : 1;
    if (jobs > 64)
        jobs = 64;
    if (jobs == 1 || !strcmp(c->job->database, ":memory:"))
        return render_share(c, s, 0, 1, e);
    return render_parallel(c, jobs, e);
}

static kp_err write_manifest(run_ctx *c, kp_error *e)
{
    kp_manifest *m = kp_manifest_new();
    if (!m)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    kp_err rc = KP_OK;
    for (size_t i = 0; i < c->nouts && !rc; i++) {
        const output *out = &c->outs[i];
        const char *name = c->job->reports[out->report].name;
        rc = kp_manifest_add(m, name, out->key, out->path, out->to_addr, out->subject, e);
        if (!rc && out->eml_path)
            rc = kp_manifest_add(m, name, out->key, out->eml_path, out->to_addr, out->subject, e);
    }
    if (!rc)
        rc = kp_manifest_write(m, c->job->output_dir, e);
    kp_manifest_free(m);
    return rc;
}

/* Hand each message to the job's deliver_command. A failure for one recipient is logged
 * and the others still go out; the run then fails with the count. */
static kp_err deliver_all(run_ctx *c, kp_error *e)
{
    const char *cmd = c->job->deliver_command;
    size_t sent = 0, failed = 0;
    if (!cmd)
        return KP_OK;
    for (size_t i = 0; i < c->nouts; i++) {
        const output *out = &c->outs[i];
        if (!out->eml_path)
            continue;
        int status = 0;
        kp_error de = {0};
        if (kp_email_send(cmd, out->eml_path, &status, &de) == KP_OK) {
            sent++;
        } else {
            failed++;
            kp_log_warn("delivery to %s failed: %s exited with status %d", out->to_addr, cmd,
                        status);
        }
    }
    kp_log_info("delivered %zu messages", sent);
    if (failed)
        return kp_error_set(e, KP_ERR_IO, c->job->path, 0, 0,
                            "%zu of %zu messages could not be delivered (documents and "
                            "messages are written; see the warnings above)",
                            failed, sent + failed);
    return KP_OK;
}

/* ---- run record and summary ------------------------------------------------------------ */

static const char *const stage_names[STAGE_COUNT] = {
    "lock", "load", "model", "forecast", "plan", "render", "manifest", "deliver"};

/* Monotonic milliseconds, for stage durations in the run record only (never a document). */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Charge the time since *t to the current stage and move on to stage k. */
static void enter_stage(run_ctx *c, int k, double *t)
{
    double now = now_ms();
    c->ms[c->stage] += now - *t;
    *t = now;
    c->stage = k;
}

/* Wall-clock UTC time for the record's started/finished fields. */
static void utc_now(char out[24])
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm))
        out[0] = '\0';
}

/* SHA-256 of every source: the record names the bytes the run read. A FIFO or a
 * vanished file gets none here; the load reports the real error. The hashing runs on a
 * thread of its own while the load parses and inserts (on a 1M-row export it was a
 * fifth of a second of the load's wall time); load_stage, which run_stages calls right
 * after hash_inputs, waits for it before returning. */
static void *hash_thread(void *arg)
{
    run_ctx *c = arg;
    kp_error ignore = {0};
    for (size_t i = 0; i < c->job->nsources; i++) {
        struct stat sb;
        if (stat(c->job->sources[i].path, &sb) == 0 && S_ISREG(sb.st_mode))
            kp_sha256_file(c->job->sources[i].path, c->in_sha[i], &c->in_bytes[i], &ignore);
    }
    return NULL;
}

static struct {
    pthread_t thread;
    int running;
} hashing;

static void hash_inputs(run_ctx *c)
{
    assert(!hashing.running);
    if (pthread_create(&hashing.thread, NULL, hash_thread, c) == 0)
        hashing.running = 1;
    else
        hash_thread(c); /* no thread to be had: hash before loading, as always */
}

static void hash_inputs_wait(void)
{
    if (hashing.running)
        pthread_join(hashing.thread, NULL);
    hashing.running = 0;
}

static void json_hex(FILE *f, const char *hex)
{
    if (hex[0])
        fprintf(f, "\"%s\"", hex);
    else
        fputs("null", f);
}

static void json_output(FILE *f, const run_ctx *c, const output *out, const char *path)
{
    char hex[65] = "";
    uint64_t bytes = 0;
    kp_error ignore = {0};
    kp_sha256_file(path, hex, &bytes, &ignore);
    fputs("\n    {\"report\": ", f);
    kp_json_write_string(f, c->job->reports[out->report].name);
    fputs(", \"key\": ", f);
    kp_json_write_string(f, out->key);
    fputs(", \"path\": ", f);
    kp_json_write_string(f, path);
    fprintf(f, ", \"bytes\": %" PRIu64 ", \"sha256\": ", bytes);
    json_hex(f, hex);
    fputc('}', f);
}

/* The run summary: what --summary writes and runs.summary holds. Durations come from the
 * monotonic clock; everything else is as deterministic as the run. */
static char *summary_json(const run_ctx *c, kp_err rc, const kp_error *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    char iso[KP_DATE_ISO_LEN + 1] = "", finished[24];
    utc_now(finished);
    fprintf(f, "{\n  \"status\": \"%s\",\n  \"exit_code\": %d,\n  \"error\": ",
            rc ? "failed" : "ok", kp_err_exit_status(rc));
    if (rc) {
        char msg[KP_ERROR_MSG_MAX + 700];
        kp_error_format(e, msg, sizeof msg);
        kp_json_write_string(f, msg);
        fprintf(f, ",\n  \"failed_stage\": \"%s\"", c->resolved ? stage_names[c->stage] : "job");
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\n  \"started\": \"%s\",\n  \"finished\": \"%s\",\n  \"job\": ", c->started,
            finished);
    kp_json_write_string(f, c->job_path);
    fputs(",\n  \"job_sha256\": ", f);
    json_hex(f, c->job_sha);
    if (c->resolved) {
        const kp_job *job = c->job;
        fprintf(f, ",\n  \"as_of\": \"%s\"", kp_date_format_iso(job->as_of, iso));
        fputs(",\n  \"period\": ", f);
        kp_json_write_string(f, job->period.slug);
        fputs(",\n  \"period_start\": ", f);
        kp_json_write_string(f, kp_vars_get(&job->vars, "period_start"));
        fputs(",\n  \"period_end\": ", f);
        kp_json_write_string(f, kp_vars_get(&job->vars, "period_end"));
        fputs(",\n  \"database\": ", f);
        kp_json_write_string(f, job->database);
        fputs(",\n  \"output_dir\": ", f);
        kp_json_write_string(f, job->output_dir);
        fputs(",\n  \"sources\": [", f);
        for (size_t i = 0; i < job->nsources; i++) {
            const kp_load_stats *st = &c->stats;
            fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
            kp_json_write_string(f, job->sources[i].name);
            fputs(", \"file\": ", f);
            kp_json_write_string(f, job->sources[i].path);
            fprintf(f, ", \"bytes\": %" PRIu64 ", \"sha256\": ", c->in_bytes[i]);
            json_hex(f, c->in_sha[i]);
            fprintf(f,
                    ", \"rows_read\": %ld, \"rows_loaded\": %ld, \"rows_rejected\": %ld,"
                    " \"rows_warned\": %ld, \"rows_skipped\": %ld}",
                    st->rows_read[i], st->rows_loaded[i], st->rows_rejected[i],
                    st->rows_warned[i], st->rows_skipped[i]);
        }
        fputs(job->nsources ? "\n  ]" : "]", f);
    }
    /* Only documents that reached their final name are listed (and hashed). */
    fprintf(f, ",\n  \"documents\": %zu,\n  \"outputs\": [", c->rendered ? c->nouts : 0);
    size_t n = 0;
    for (size_t i = 0; c->rendered && i < c->nouts; i++) {
        fputs(n++ ? "," : "", f);
        json_output(f, c, &c->outs[i], c->outs[i].path);
        if (c->outs[i].eml_path) {
            fputc(',', f);
            json_output(f, c, &c->outs[i], c->outs[i].eml_path);
        }
    }
    fputs(n ? "\n  ],\n  \"durations_ms\": {" : "],\n  \"durations_ms\": {", f);
    double total = 0;
    for (int k = 0; k < STAGE_COUNT; k++) {
        fprintf(f, "%s\"%s\": %.1f", k ? ", " : "", stage_names[k], c->ms[k]);
        total += c->ms[k];
    }
    fprintf(f, ", \"total\": %.1f},\n  \"warnings\": %ld\n}\n", total, kp_log_warnings());
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static kp_err summary_write_fn(FILE *f, const void *ctx, kp_error *e)
{
    (void)e;
    fputs(ctx, f);
    return KP_OK;
}

/* --summary FILE.json, written atomically; a failure is a warning, not the run's error. */
static void write_summary(const run_ctx *c)
{
    kp_error se = {0};
    char msg[KP_ERROR_MSG_MAX + 700];
    if (!c->o->summary_path)
        return;
    if (!c->summary) {
        kp_log_warn("cannot write summary %s: out of memory", c->o->summary_path);
    } else if (kp_outfile_write(c->o->summary_path, summary_write_fn, c->summary, &se)) {
        kp_error_format(&se, msg, sizeof msg);
        kp_log_warn("cannot write summary: %s", msg);
    }
}

/* The runs row: a run that got the lock leaves one, ok or failed, with its summary. */
static void record_run(kp_store *s, const run_ctx *c, const char *status, const kp_error *e)
{
    kp_stmt *st = NULL;
    kp_error ignore = {0};
    char iso[KP_DATE_ISO_LEN + 1];
    if (kp_store_prepare(s,
                         "INSERT INTO runs(as_of, job_file, job_sha256, status, error,"
                         " started_step, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         NULL, 0, &st, &ignore))
        return;
    kp_date_format_iso(c->job->as_of, iso);
    kp_stmt_bind_text(st, 1, iso, strlen(iso));
    kp_stmt_bind_text(st, 2, c->job->path, strlen(c->job->path));
    kp_stmt_bind_text(st, 3, c->job_sha, strlen(c->job_sha));
    kp_stmt_bind_text(st, 4, status, strlen(status));
    if (e && e->code)
        kp_stmt_bind_text(st, 5, e->msg, strlen(e->msg));
    const char *step = stage_names[c->stage];
    kp_stmt_bind_text(st, 6, step, strlen(step));
    if (c->summary)
        kp_stmt_bind_text(st, 7, c->summary, strlen(c->summary));
    if (kp_stmt_step(st, &ignore) < 0)
        kp_log_warn("could not record the run in %s: %s", c->job->database, ignore.msg);
    kp_stmt_finalize(st);
}

/* ---- commands ---------------------------------------------------------------------------- */

static kp_err load_stage(run_ctx *c, kp_store *s, kp_load_stats *st, kp_error *e)
{
    /* One transaction for the schema: each CREATE on its own was a commit with its
     * fsyncs, about 35 of them on a new database (half a second of a load's wall time). */
    kp_err rc = kp_store_begin(s, e);
    if (!rc)
        rc = kp_load_schema(s, e);
    if (!rc)
        rc = kp_metrics_schema(s, e);
    if (!rc)
        rc = kp_store_commit(s, e);
    if (rc) {
        kp_store_rollback(s);
        hash_inputs_wait();
        return rc;
    }
    kp_log_info("loading %zu sources for %s (as of %s)", c->job->nsources,
                c->job->period.label, kp_vars_get(&c->job->vars, "as_of"));
    rc = kp_load_run(c->job, s, st, e);
    hash_inputs_wait();
    for (size_t i = 0; !rc && i < c->job->nsources; i++)
        kp_log_info("  %-14s %ld rows loaded, %ld rejected, %ld warnings",
                    c->job->sources[i].name, st->rows_loaded[i], st->rows_rejected[i],
                    st->rows_warned[i]);
    return rc;
}

static kp_err run_stages(run_ctx *c, int load_only, kp_error *e)
{
    kp_store *s = NULL;
    double t = now_ms();
    kp_err rc = lock_database(c, e);
    if (!rc)
        rc = open_store(c, &s, e);
    /* Temporaries of a killed run are ours to remove once we hold the lock; with --shard
     * another host may be writing into the same directory, so leave them. */
    long swept = !rc && c->o->shard_count <= 1 ? kp_outfile_sweep(c->job->output_dir) : 0;
    if (swept)
        kp_log_info("removed %ld temporary files left by an interrupted run under %s", swept,
                    c->job->output_dir);
    if (!rc) {
        enter_stage(c, STAGE_LOAD, &t);
        hash_inputs(c);
        rc = load_stage(c, s, &c->stats, e);
    }
    if (!rc && !load_only) {
        kp_log_info("computing KPIs");
        enter_stage(c, STAGE_MODEL, &t);
        /* The load leaves the snapshot indexes to the queries that need them: the key
         * for the history joins of two or more snapshots (which snapshot a query reads
         * comes from the catalogue), the owner index for burst documents. Before
         * scope_to_as_of: building one drops TEMP objects. */
        unsigned need = 0;
        int64_t nsnap = 0;
        rc = kp_store_query_int64(s, "SELECT count(*) FROM (SELECT 1 FROM snapshots LIMIT 2)",
                                  NULL, 0, &nsnap, e);
        if (nsnap > 1)
            need |= KP_LOAD_INDEX_KEY;
        for (size_t r = 0; r < c->job->nreports; r++)
            if (selected(c, r) && c->job->reports[r].burst)
                need |= KP_LOAD_INDEX_OWNER;
        if (!rc)
            rc = kp_load_ensure_indexes(s, need, e);
        if (!rc)
            rc = scope_to_as_of(s, c->job, e);
        if (!rc)
            rc = kp_metrics_run(c->job, s, e);
        if (!rc) {
            enter_stage(c, STAGE_FORECAST, &t);
            rc = temp_to_file(s, c->job, e);
            if (!rc)
                rc = kp_store_cache_size(s, LATE_CACHE_SIZE, NULL, e);
            /* what the KPI stage freed (20 MB at 100k deals) would stay resident */
            kp_heap_trim();
        }
        if (!rc)
            rc = kp_forecast_series_run(c->job, s, e);
        if (!rc)
            rc = kp_forecast_pipeline_run(c->job, s, e);
        if (!rc) {
            enter_stage(c, STAGE_PLAN, &t);
            kp_heap_trim();
            rc = plan(c, s, e);
        }
        if (!rc && c->o->dry_run) {
            for (size_t i = 0; i < c->nouts; i++)
                printf("%s\t%s\n", c->job->reports[c->outs[i].report].name, c->outs[i].path);
        } else if (!rc) {
            kp_log_info("rendering %zu documents", c->nouts);
            enter_stage(c, STAGE_RENDER, &t);
            rc = stage_outputs(c, e);
            if (!rc)
                rc = render_all(c, s, e);
            if (!rc) {
                enter_stage(c, STAGE_MANIFEST, &t);
                rc = commit_outputs(c, e);
            }
            /* The renderers' scratch directories are empty now: remove them. */
            if (!rc && c->o->shard_count <= 1)
                kp_outfile_sweep(c->job->output_dir);
            if (!rc)
                rc = write_manifest(c, e);
            if (!rc) {
                c->rendered = 1;
                kp_log_info("wrote %zu documents and the manifest under %s", c->nouts,
                            c->job->output_dir);
                enter_stage(c, STAGE_DELIVER, &t);
                rc = deliver_all(c, e);
            }
        }
    }
    enter_stage(c, c->stage, &t);
    c->summary = summary_json(c, rc, e);
    if (s) {
        record_run(s, c, rc ? "failed" : "ok", e);
        kp_store_close(s);
    }
    return rc;
}

static kp_err run_job(const char *job_path, const kp_run_options *o, int load_only, kp_error *e)
{
    run_ctx c = {.o = o, .lock_fd = -1, .job_path = job_path};
    kp_error ignore = {0};
    utc_now(c.started);
    kp_sha256_file(job_path, c.job_sha, NULL, &ignore);
    kp_err rc = prepare(&c, job_path, e);
    if (!rc) {
        c.resolved = 1;
        rc = run_stages(&c, load_only, e);
    } else {
        c.summary = summary_json(&c, rc, e);
    }
    write_summary(&c);
    ctx_free(&c);
    return rc;
}

kp_err kp_run(const char *job_path, const kp_run_options *o, kp_error *e)
{
    return run_job(job_path, o, 0, e);
}

kp_err kp_run_load(const char *job_path, const kp_run_options *o, kp_error *e)
{
    return run_job(job_path, o, 1, e);
}

kp_err kp_run_check(const char *job_path, const kp_run_options *o, kp_error *e)
{
    run_ctx c = {.o = o, .lock_fd = -1};
    kp_store *s = NULL;
    kp_err rc = prepare(&c, job_path, e);
    /* An empty in-memory database with the full schema: SQL is prepared, never run. */
    if (!rc)
        rc = kp_store_open(":memory:", KP_STORE_MEMORY, &s, e);
    if (!rc)
        rc = kp_load_schema(s, e);
    if (!rc)
        rc = kp_metrics_schema(s, e);
    /* The metric library: unknown metrics, cycles and SQL errors, with file and line. */
    kp_metric_lib *lib = NULL;
    if (!rc)
        rc = kp_metrics_load(c.job, &lib, e);
    if (!rc)
        rc = kp_metrics_check(lib, s, e);
    kp_metrics_free(lib);
    for (size_t r = 0; !rc && r < c.job->nreports; r++) {
        if (!c.templates[r])
            continue;
        kp_vars v = {0};
        if (kp_vars_merge(&v, &c.job->vars))
            rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        kp_report *rep = &c.job->reports[r];
        if (!rc && rep->burst) {
            kp_stmt *st = NULL;
            kp_store_set_readonly(s, 1);
            rc = kp_store_prepare(s, rep->burst, c.job->path, rep->burst_line, &st, e);
            kp_store_set_readonly(s, 0);
            /* Burst columns become parameters: give each a placeholder value. */
            for (int i = 0; !rc && i < kp_stmt_column_count(st); i++)
                if (kp_vars_set(&v, kp_stmt_column_name(st, i), ""))
                    rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
            if (!rc)
                rc = kp_stmt_bind_vars(st, &c.job->vars, e);
            kp_stmt_finalize(st);
        }
        if (!rc)
            rc = kp_template_check(c.templates[r], s, &v, e);
        char *tmp = NULL;
        if (!rc && (rc = kp_vars_expand(&v, rep->output, &tmp, e)) && e) {
            snprintf(e->file, sizeof e->file, "%s", c.job->path);
            e->line = rep->line;
        }
        free(tmp);
        kp_vars_clear(&v);
    }
    if (!rc)
        printf("%s: ok (%zu sources, %zu reports, period %s: %s .. %s)\n", job_path,
               c.job->nsources, c.job->nreports, c.job->period.label,
               kp_vars_get(&c.job->vars, "period_start"), kp_vars_get(&c.job->vars, "period_end"));
    kp_store_close(s);
    ctx_free(&c);
    return rc;
}

/* Display width of UTF-8 text: one column per code point (continuation bytes skipped). */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Print s padded to width columns, right-aligned when right != 0. */
static void print_padded(const char *s, size_t width, int right)
{
    size_t w = text_width(s);
    if (right)
        for (size_t i = w; i < width; i++)
            putchar(' ');
    fputs(s, stdout);
    if (!right)
        for (size_t i = w; i < width; i++)
            putchar(' ');
}

/* Aligned text output: column widths from content, numbers right-aligned. */
static void print_table(const kp_table *t)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
    char buf[512];
    if (!w)
        return;
    for (size_t c = 0; c < t->ncols; c++)
        w[c] = text_width(t->cols[c].name);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const kp_cell *cell = kp_table_cell(t, r, c);
            if (cell->type == KP_CELL_NUMBER)
                snprintf(buf, sizeof buf, "%.15g", cell->num);
            else
                kp_format_cell(cell, KP_FMT_TEXT, NULL, buf, sizeof buf);
            if (cell->type == KP_CELL_NULL)
                buf[0] = '\0';
            if (text_width(buf) > w[c])
                w[c] = text_width(buf);
        }
    for (size_t c = 0; c < t->ncols; c++) {
        printf("%s", c ? "  " : "");
        print_padded(t->cols[c].name, w[c], 0);
    }
    printf("\n");
    for (size_t c = 0; c < t->ncols; c++) {
        printf("%s", c ? "  " : "");
        for (size_t i = 0; i < w[c]; i++)
            putchar('-');
    }
    printf("\n");
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const kp_cell *cell = kp_table_cell(t, r, c);
            if (cell->type == KP_CELL_NUMBER)
                snprintf(buf, sizeof buf, "%.15g", cell->num);
            else
                kp_format_cell(cell, KP_FMT_TEXT, NULL, buf, sizeof buf);
            if (cell->type == KP_CELL_NULL)
                buf[0] = '\0';
            printf("%s", c ? "  " : "");
            print_padded(buf, w[c], cell->type == KP_CELL_NUMBER);
        }
        printf("\n");
    }
    free(w);
}

static void csv_text(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const kp_table *t)
{
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            putchar(',');
        csv_text(t->cols[c].name);
    }
    printf("\n");
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const kp_cell *cell = kp_table_cell(t, r, c);
            if (c)
                putchar(',');
            if (cell->type == KP_CELL_NUMBER)
                printf("%.15g", cell->num);
            else if (cell->type == KP_CELL_TEXT)
                csv_text(cell->text);
        }
        printf("\n");
    }
}

kp_err kp_run_sql(const char *job_path, const kp_run_options *o, const char *sql, int csv,
                  kp_error *e)
{
    run_ctx c = {.o = o, .lock_fd = -1};
    kp_store *s = NULL;
    kp_template t = {.path = "query", .kind = KP_DOC_XLSX};
    kp_tblock b = {.kind = KP_BLOCK_TABLE, .name = "query", .sql = (char *)sql, .sql_line = 1};
    kp_doc *doc = NULL;
    t.blocks = &b;
    t.nblocks = 1;
    kp_err rc = kp_job_load(job_path, &c.job, e);
    if (!rc && o->database)
        rc = kp_doc_set_str(&c.job->database, o->database);
    if (!rc)
        rc = kp_job_resolve(c.job, o->as_of, e);
    if (!rc)
        rc = kp_store_open(c.job->database, KP_STORE_READONLY, &s, e);
    if (!rc)
        rc = scope_to_as_of(s, c.job, e);
    if (!rc)
        rc = kp_report_build(&t, s, &c.job->vars, c.job->currency, c.job->as_of, NULL, &doc, e);
    if (!rc) {
        if (csv)
            print_csv(doc->blocks[0].table);
        else
            print_table(doc->blocks[0].table);
    }
    kp_doc_free(doc);
    kp_store_close(s);
    ctx_free(&c);
    return rc;
}
