/* Benchmark baseline: the least a C program must do to write the raw-data sheet, i.e. one
 * SELECT over the loaded database and one libxlsxwriter call per cell in constant_memory
 * mode, with the same columns, number formats and header as tests/bench/raw-data.ini.
 * kpipress's streamed raw-data render is measured against this loop (issue 6: <= 1.25x).
 * usage: bare_xlsx DATABASE OUT.xlsx */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

/* Keep in step with tests/bench/raw-data.ini: same columns, same order. */
static const char query[] =
    "SELECT opp_id, name, account, owner_id, stage, amount, probability, created_date,"
    " close_date, forecast_category, type, lead_source, product"
    " FROM opportunities ORDER BY opp_id";

static const char *const headers[] = {
    "Opportunity ID", "Name",     "Account",     "Owner ID",    "Stage",
    "Amount",         "Probability", "Created",  "Close date",  "Forecast category",
    "Type",           "Lead source", "Product"};

enum { COL_AMOUNT = 5, COL_PROB = 6, COL_CREATED = 7, COL_CLOSE = 8, NCOLS = 13 };

/* Days from 1970-01-01 (H. Hinnant's days_from_civil), as the Excel serial needs. */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const long yoe = y - era * 400;
    const long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* 'YYYY-MM-DD' -> Excel serial (1900 system); 0 when the text is not a date. */
static double excel_serial(const unsigned char *t)
{
    int y, m, d;
    if (!t || sscanf((const char *)t, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return 0;
    return (double)(days_from_civil(y, m, d) + 25569);
}

int main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    lxw_workbook *wb = NULL;
    int status = 1;
    if (argc != 3) {
        fprintf(stderr, "usage: bare_xlsx DATABASE OUT.xlsx\n");
        return 2;
    }
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bare_xlsx: %s\n", sqlite3_errmsg(db));
        goto fail;
    }
    lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = NULL};
    wb = workbook_new_opt(argv[2], &opt);
    if (!wb)
        goto fail;
    lxw_worksheet *ws = workbook_add_worksheet(wb, "Opportunities");
    lxw_format *hdr = workbook_add_format(wb), *money = workbook_add_format(wb);
    lxw_format *pct = workbook_add_format(wb), *date = workbook_add_format(wb);
    format_set_bold(hdr);
    format_set_bg_color(hdr, 0xD9E1F2);
    format_set_bottom(hdr, LXW_BORDER_THIN);
    format_set_num_format(money, "\"$\"#,##0.00");
    format_set_num_format(pct, "0.0%");
    format_set_num_format(date, "yyyy-mm-dd");
    worksheet_freeze_panes(ws, 1, 0);
    for (int c = 0; c < NCOLS; c++)
        worksheet_write_string(ws, 0, (lxw_col_t)c, headers[c], hdr);
    lxw_row_t r = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r++;
        for (int c = 0; c < NCOLS; c++) {
            if (sqlite3_column_type(st, c) == SQLITE_NULL)
                continue;
            switch (c) {
            case COL_AMOUNT:
                worksheet_write_number(ws, r, (lxw_col_t)c, sqlite3_column_double(st, c), money);
                break;
            case COL_PROB:
                worksheet_write_number(ws, r, (lxw_col_t)c, sqlite3_column_double(st, c), pct);
                break;
            case COL_CREATED:
            case COL_CLOSE:
                worksheet_write_number(ws, r, (lxw_col_t)c,
                                       excel_serial(sqlite3_column_text(st, c)), date);
                break;
            default:
                worksheet_write_string(ws, r, (lxw_col_t)c,
                                       (const char *)sqlite3_column_text(st, c), NULL);
            }
        }
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "bare_xlsx: %s\n", sqlite3_errmsg(db));
        goto fail;
    }
    worksheet_autofilter(ws, 0, 0, r, NCOLS - 1);
    lxw_error err = workbook_close(wb);
    wb = NULL;
    if (err != LXW_NO_ERROR) {
        fprintf(stderr, "bare_xlsx: %s\n", lxw_strerror(err));
        goto fail;
    }
    printf("%lu rows\n", (unsigned long)r);
    status = 0;
fail:
    if (wb)
        workbook_close(wb);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return status;
}
