/* Benchmark baseline: the least a C program must do to write the rep scorecards of
 * templates/rep-scorecard.ini with libharu: per rep, three indexed queries on the loaded
 * database and the same two pages (tiles, 12-month table, column chart, top open deals,
 * header and footer) drawn with the same embedded DejaVu TTFs, one file per rep.
 * usage: bare_pdf DATABASE OUTDIR COUNT FONT.ttf BOLD.ttf PSTART PEND PREVSTART PREVEND ASOF */
#include <hpdf.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_W 595.276f
#define PAGE_H 841.89f
#define MX 48.0f

typedef struct ctx {
    HPDF_Doc pdf;
    HPDF_Page page;
    HPDF_Font reg, bold;
    const char *footer_left;
    int error;
} ctx;

static void on_error(HPDF_STATUS err, HPDF_STATUS detail, void *data)
{
    (void)detail;
    ((ctx *)data)->error = (int)err;
}

static void text(ctx *c, HPDF_Font f, float size, float x, float y, const char *s)
{
    HPDF_Page_SetFontAndSize(c->page, f, size);
    HPDF_Page_BeginText(c->page);
    HPDF_Page_TextOut(c->page, x, y, s);
    HPDF_Page_EndText(c->page);
}

static void text_right(ctx *c, HPDF_Font f, float size, float right, float y, const char *s)
{
    HPDF_Page_SetFontAndSize(c->page, f, size);
    text(c, f, size, right - HPDF_Page_TextWidth(c->page, s), y, s);
}

static void rect(ctx *c, float x, float y, float w, float h, float r, float g, float b)
{
    HPDF_Page_SetRGBFill(c->page, r, g, b);
    HPDF_Page_Rectangle(c->page, x, y, w, h);
    HPDF_Page_Fill(c->page);
}

static void money(char *out, size_t n, double v)
{
    long long cents = (long long)(v * 100 + (v < 0 ? -0.5 : 0.5));
    long long whole = cents / 100, frac = cents % 100;
    char digits[32], grouped[48];
    int len = snprintf(digits, sizeof digits, "%lld", whole < 0 ? -whole : whole), k = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            grouped[k++] = ',';
        grouped[k++] = digits[i];
    }
    grouped[k] = '\0';
    snprintf(out, n, "%s$%s.%02lld", whole < 0 ? "-" : "", grouped, frac < 0 ? -frac : frac);
}

static void new_page(ctx *c, const char *title, int pageno)
{
    char buf[64];
    c->page = HPDF_AddPage(c->pdf);
    HPDF_Page_SetSize(c->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    HPDF_Page_SetRGBFill(c->page, 0.2f, 0.2f, 0.2f);
    text(c, c->bold, 7.5f, MX, PAGE_H - 30, title);
    text_right(c, c->reg, 7.5f, PAGE_W - MX, PAGE_H - 30, "Sample Co monthly board pack");
    HPDF_Page_SetLineWidth(c->page, 0.5f);
    HPDF_Page_MoveTo(c->page, MX, PAGE_H - 36);
    HPDF_Page_LineTo(c->page, PAGE_W - MX, PAGE_H - 36);
    HPDF_Page_MoveTo(c->page, MX, 36);
    HPDF_Page_LineTo(c->page, PAGE_W - MX, 36);
    HPDF_Page_Stroke(c->page);
    text(c, c->reg, 7.5f, MX, 26, c->footer_left);
    snprintf(buf, sizeof buf, "Page %d of 2", pageno);
    text_right(c, c->reg, 7.5f, PAGE_W - MX, 26, buf);
}

/* First max code points of s (the columns truncate long names; never cut a UTF-8 byte
 * sequence, libharu rejects it). */
static void clip(char *out, size_t size, const char *s, int max)
{
    size_t k = 0;
    for (int cps = 0; s && *s && k + 4 < size; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80 && ++cps > max)
            break;
        out[k++] = *s;
    }
    out[k] = '\0';
}

static int step_or_done(sqlite3_stmt *st)
{
    return sqlite3_step(st) == SQLITE_ROW;
}

/* Tiles: this and the previous period for one rep, as the template's [tiles kpis]. */
static void draw_tiles(ctx *c, sqlite3_stmt *agg, const char *rep, const char *const *p)
{
    double cur[6] = {0}, prev[6] = {0}; /* quota, bookings, won, lost, open */
    for (int k = 0; k < 2; k++) {
        double *v = k ? prev : cur;
        sqlite3_reset(agg);
        sqlite3_bind_text(agg, 1, rep, -1, SQLITE_STATIC);
        sqlite3_bind_text(agg, 2, p[2 * k], -1, SQLITE_STATIC);
        sqlite3_bind_text(agg, 3, p[2 * k + 1], -1, SQLITE_STATIC);
        sqlite3_bind_text(agg, 4, p[4], -1, SQLITE_STATIC);
        if (step_or_done(agg))
            for (int i = 0; i < 5; i++)
                v[i] = sqlite3_column_double(agg, i);
    }
    const char *labels[] = {"Bookings", "Quota", "Quota attainment",
                            "Win rate", "Average deal size", "Open pipeline due in period"};
    double val[6], cmp[6];
    for (int k = 0; k < 2; k++) {
        double *v = k ? prev : cur, *out = k ? cmp : val;
        out[0] = v[1];
        out[1] = v[0];
        out[2] = v[0] > 0 ? v[1] / v[0] : 0;
        out[3] = v[2] + v[3] > 0 ? v[2] / (v[2] + v[3]) : 0;
        out[4] = v[2] > 0 ? v[1] / v[2] : 0;
        out[5] = v[4];
    }
    char buf[64], line[96];
    for (int i = 0; i < 6; i++) {
        float x = MX + (float)(i % 3) * 169.0f, y = PAGE_H - 230 - (float)(i / 3) * 108.0f;
        HPDF_Page_SetRGBStroke(c->page, 0.85f, 0.87f, 0.9f);
        HPDF_Page_SetRGBFill(c->page, 0.97f, 0.98f, 0.99f);
        HPDF_Page_Rectangle(c->page, x, y, 157, 96);
        HPDF_Page_FillStroke(c->page);
        HPDF_Page_SetRGBFill(c->page, 0.4f, 0.4f, 0.45f);
        text(c, c->reg, 7.5f, x + 12, y + 80, labels[i]);
        if (i == 2 || i == 3)
            snprintf(buf, sizeof buf, "%.1f%%", val[i] * 100);
        else
            money(buf, sizeof buf, val[i]);
        HPDF_Page_SetRGBFill(c->page, 0.1f, 0.1f, 0.15f);
        text(c, c->bold, 18.0f, x + 12, y + 52, buf);
        if (i < 5) {
            double ch = cmp[i] ? (val[i] - cmp[i]) / cmp[i] * 100 : 0;
            snprintf(line, sizeof line, "%s%+.1f%% vs previous period", ch >= 0 ? "\xE2\x96\xB2 " : "\xE2\x96\xBC ", ch);
            HPDF_Page_SetRGBFill(c->page, ch >= 0 ? 0.1f : 0.8f, ch >= 0 ? 0.5f : 0.1f, 0.2f);
            text(c, c->reg, 7.0f, x + 12, y + 36, line);
        }
        if (i == 0 || i == 2) {
            HPDF_Page_SetRGBFill(c->page, 0.1f, 0.5f, 0.2f);
            HPDF_Page_Circle(c->page, x + 100, y + 22, 2.5f);
            HPDF_Page_Fill(c->page);
            text(c, c->reg, 7.0f, x + 12, y + 20, "Target");
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr, "usage: bare_pdf DATABASE OUTDIR COUNT FONT.ttf BOLD.ttf PSTART PEND "
                        "PREVSTART PREVEND ASOF\n");
        return 2;
    }
    char snapshot[16] = "";
    const char *period[5] = {argv[6], argv[7], argv[8], argv[9], snapshot}, *as_of = argv[10];
    sqlite3 *db = NULL;
    sqlite3_stmt *reps = NULL, *agg = NULL, *months = NULL, *deals = NULL;
    int status = 1, n = 0, limit = atoi(argv[3]);
    /* The same cache as kpipress's store. The per-rep queries name the snapshot and its
     * (as_of, owner_id) index: without statistics (no ANALYZE), SQLite prefers the primary
     * key prefix and scans every deal of the snapshot once per rep. */
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(db, "SELECT max(as_of) FROM opportunity_snapshots", -1, &reps, NULL) ||
        !step_or_done(reps))
        goto fail;
    snprintf(snapshot, sizeof snapshot, "%s", (const char *)sqlite3_column_text(reps, 0));
    sqlite3_finalize(reps);
    reps = NULL;
    /* Same burst, tiles, month table and deal list as the job and rep-scorecard.ini. */
    if (sqlite3_prepare_v2(db,
                           "SELECT rep_id, name FROM reps WHERE active = 1 AND rep_id IN"
                           " (SELECT rep_id FROM quotas WHERE period_start BETWEEN ?1 AND ?2)"
                           " ORDER BY rep_id LIMIT ?3",
                           -1, &reps, NULL) ||
        sqlite3_prepare_v2(db,
                           "SELECT (SELECT coalesce(sum(amount_cents),0) FROM quotas WHERE"
                           "  rep_id = ?1 AND period_start BETWEEN ?2 AND ?3) / 100.0,"
                           " coalesce(sum(CASE WHEN is_closed AND is_won THEN amount_cents END),0)"
                           "  / 100.0, coalesce(sum(is_closed AND is_won),0),"
                           " coalesce(sum(is_closed AND NOT is_won),0),"
                           " coalesce(sum(CASE WHEN NOT is_closed THEN amount_cents END),0) / 100.0"
                           " FROM opportunity_snapshots INDEXED BY opp_snap_owner WHERE as_of = ?4 AND owner_id = ?1"
                           " AND close_date BETWEEN ?2 AND ?3",
                           -1, &agg, NULL) ||
        sqlite3_prepare_v2(db,
                           "WITH b AS (SELECT substr(close_date,1,7) AS ym,"
                           "  sum(amount_cents) AS c FROM opportunity_snapshots INDEXED BY opp_snap_owner"
                           "  WHERE as_of = ?3 AND owner_id = ?1"
                           "  AND is_won AND close_date > date(?2, '-12 months') GROUP BY ym)"
                           " SELECT q.period_start, q.amount_cents / 100.0,"
                           " coalesce(b.c,0) / 100.0 FROM quotas q"
                           " LEFT JOIN b ON b.ym = substr(q.period_start,1,7)"
                           " WHERE q.rep_id = ?1 AND q.period_start <= ?2"
                           " AND q.period_start > date(?2, '-12 months') ORDER BY 1",
                           -1, &months, NULL) ||
        sqlite3_prepare_v2(db,
                           "SELECT name, account, stage, close_date, amount_cents / 100.0,"
                           " CASE WHEN close_date < ?2 THEN 'overdue' ELSE '' END"
                           " FROM opportunity_snapshots INDEXED BY opp_snap_owner"
                           " WHERE as_of = ?3 AND owner_id = ?1 AND NOT is_closed"
                           " ORDER BY amount_cents DESC, opp_id LIMIT 10",
                           -1, &deals, NULL)) {
        fprintf(stderr, "bare_pdf: %s\n", sqlite3_errmsg(db));
        goto fail;
    }
    sqlite3_bind_text(reps, 1, period[0], -1, SQLITE_STATIC);
    sqlite3_bind_text(reps, 2, period[1], -1, SQLITE_STATIC);
    sqlite3_bind_int(reps, 3, limit);
    while (step_or_done(reps)) {
        char rep[64], name[256], title[300], footer[400], path[4096], buf[64];
        snprintf(rep, sizeof rep, "%s", (const char *)sqlite3_column_text(reps, 0));
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(reps, 1));
        snprintf(title, sizeof title, "Scorecard - %s", name);
        snprintf(footer, sizeof footer, "Sample Co monthly board pack - %s - as of %s", name,
                 as_of);
        ctx c = {.footer_left = footer};
        c.pdf = HPDF_New(on_error, &c);
        HPDF_SetCompressionMode(c.pdf, HPDF_COMP_ALL);
        HPDF_UseUTFEncodings(c.pdf);
        HPDF_SetCurrentEncoder(c.pdf, "UTF-8");
        c.reg = HPDF_GetFont(c.pdf, HPDF_LoadTTFontFromFile(c.pdf, argv[4], HPDF_TRUE), "UTF-8");
        c.bold = HPDF_GetFont(c.pdf, HPDF_LoadTTFontFromFile(c.pdf, argv[5], HPDF_TRUE), "UTF-8");
        HPDF_SetInfoAttr(c.pdf, HPDF_INFO_TITLE, title);
        HPDF_SetInfoAttr(c.pdf, HPDF_INFO_AUTHOR, "kpipress");

        new_page(&c, title, 1);
        HPDF_Page_SetRGBFill(c.page, 0.1f, 0.1f, 0.15f);
        text(&c, c.bold, 20.0f, MX, PAGE_H - 80, name);
        text(&c, c.reg, 9.5f, MX, PAGE_H - 100,
             "Scorecard for the period. Changes compare with the previous period.");
        text(&c, c.reg, 9.5f, MX, PAGE_H - 114, "Amounts in USD.");
        draw_tiles(&c, agg, rep, period);

        /* 12-month table; the values feed the chart on page 2. */
        double q[12] = {0}, b[12] = {0}, tq = 0, tb = 0;
        int nm = 0;
        float y = PAGE_H - 400;
        text(&c, c.bold, 10.5f, MX, y, "Bookings vs quota, last 12 months");
        y -= 20;
        rect(&c, MX, y - 4, PAGE_W - 2 * MX, 16, 0.85f, 0.88f, 0.95f);
        HPDF_Page_SetRGBFill(c.page, 0.1f, 0.1f, 0.15f);
        const char *mh[] = {"Month", "Quota", "Bookings", "Attainment"};
        for (int i = 0; i < 4; i++)
            text_right(&c, c.bold, 8.0f, MX + 120 + (float)i * 110, y, mh[i]);
        sqlite3_reset(months);
        sqlite3_bind_text(months, 1, rep, -1, SQLITE_STATIC);
        sqlite3_bind_text(months, 2, period[1], -1, SQLITE_STATIC);
        sqlite3_bind_text(months, 3, snapshot, -1, SQLITE_STATIC);
        while (nm < 12 && step_or_done(months)) {
            y -= 17;
            q[nm] = sqlite3_column_double(months, 1);
            b[nm] = sqlite3_column_double(months, 2);
            if (nm % 2)
                rect(&c, MX, y - 4, PAGE_W - 2 * MX, 17, 0.96f, 0.97f, 0.98f);
            HPDF_Page_SetRGBFill(c.page, 0.1f, 0.1f, 0.15f);
            text_right(&c, c.reg, 8.0f, MX + 120, y, (const char *)sqlite3_column_text(months, 0));
            money(buf, sizeof buf, q[nm]);
            text_right(&c, c.reg, 8.0f, MX + 230, y, buf);
            money(buf, sizeof buf, b[nm]);
            text_right(&c, c.reg, 8.0f, MX + 340, y, buf);
            snprintf(buf, sizeof buf, "%.1f%%", q[nm] > 0 ? b[nm] / q[nm] * 100 : 0);
            text_right(&c, c.reg, 8.0f, MX + 450, y, buf);
            HPDF_Page_SetRGBFill(c.page, 0.1f, 0.6f, 0.2f);
            HPDF_Page_Circle(c.page, MX + 400, y + 3, 2.5f);
            HPDF_Page_Fill(c.page);
            tq += q[nm];
            tb += b[nm];
            nm++;
        }
        y -= 17;
        HPDF_Page_SetRGBFill(c.page, 0.1f, 0.1f, 0.15f);
        text(&c, c.bold, 8.0f, MX + 4, y, "Total");
        money(buf, sizeof buf, tq);
        text_right(&c, c.bold, 8.0f, MX + 230, y, buf);
        money(buf, sizeof buf, tb);
        text_right(&c, c.bold, 8.0f, MX + 340, y, buf);

        /* Page 2: column chart (bookings, quota per month) and the open deals. */
        new_page(&c, title, 2);
        HPDF_Page_SetRGBFill(c.page, 0.1f, 0.1f, 0.15f);
        text(&c, c.bold, 10.5f, MX, PAGE_H - 70, "Bookings vs quota by month");
        double top = 1;
        for (int i = 0; i < nm; i++)
            top = b[i] > top ? b[i] : q[i] > top ? q[i] : top;
        float base = PAGE_H - 330, height = 220, slot = (PAGE_W - 2 * MX - 40) / 12;
        HPDF_Page_SetRGBStroke(c.page, 0.85f, 0.85f, 0.85f);
        for (int t = 0; t <= 4; t++) {
            HPDF_Page_MoveTo(c.page, MX + 40, base + height * (float)t / 4);
            HPDF_Page_LineTo(c.page, PAGE_W - MX, base + height * (float)t / 4);
            HPDF_Page_Stroke(c.page);
            money(buf, sizeof buf, top * t / 4);
            text_right(&c, c.reg, 6.5f, MX + 36, base + height * (float)t / 4 - 2, buf);
        }
        for (int i = 0; i < nm; i++) {
            float x = MX + 40 + slot * (float)i + 4;
            rect(&c, x, base, slot / 2 - 4, (float)(height * b[i] / top), 0.15f, 0.3f, 0.5f);
            rect(&c, x + slot / 2 - 4, base, slot / 2 - 4, (float)(height * q[i] / top), 0.4f,
                 0.65f, 0.85f);
        }
        y = base - 60;
        HPDF_Page_SetRGBFill(c.page, 0.1f, 0.1f, 0.15f);
        text(&c, c.bold, 10.5f, MX, y, "Largest open deals");
        y -= 20;
        const char *dh[] = {"Deal", "Account", "Stage", "Close date", "Amount", "Flag"};
        for (int i = 0; i < 6; i++)
            text(&c, c.bold, 8.0f, MX + 4 + (float)i * 83, y, dh[i]);
        sqlite3_reset(deals);
        sqlite3_bind_text(deals, 1, rep, -1, SQLITE_STATIC);
        sqlite3_bind_text(deals, 2, as_of, -1, SQLITE_STATIC);
        sqlite3_bind_text(deals, 3, snapshot, -1, SQLITE_STATIC);
        double total = 0;
        while (step_or_done(deals)) {
            y -= 17;
            for (int i = 0; i < 6; i++) {
                char cell[40];
                if (i == 4) {
                    total += sqlite3_column_double(deals, 4);
                    money(cell, sizeof cell, sqlite3_column_double(deals, 4));
                } else {
                    clip(cell, sizeof cell, (const char *)sqlite3_column_text(deals, i), 22);
                }
                text(&c, c.reg, 8.0f, MX + 4 + (float)i * 83, y, cell);
            }
        }
        y -= 17;
        money(buf, sizeof buf, total);
        text(&c, c.bold, 8.0f, MX + 4, y, "Total");
        text(&c, c.bold, 8.0f, MX + 336, y, buf);

        snprintf(path, sizeof path, "%s/%s.pdf", argv[2], rep);
        HPDF_SaveToFile(c.pdf, path);
        HPDF_Free(c.pdf);
        if (c.error) {
            fprintf(stderr, "bare_pdf: %s: libharu error 0x%04X\n", path, c.error);
            goto fail;
        }
        n++;
    }
    printf("%d documents\n", n);
    status = 0;
fail:
    sqlite3_finalize(reps);
    sqlite3_finalize(agg);
    sqlite3_finalize(months);
    sqlite3_finalize(deals);
    sqlite3_close(db);
    return status;
}
