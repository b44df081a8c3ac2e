/* The libcsv adapter: records with their physical line numbers (multi-line fields, CRLF,
 * blank lines, across 64 KiB block boundaries), BOM, delimiter detection, limits and
 * malformed input with file/line/column, and the writer's quoting. */
#include "test.h"

#include "kpipress/csv.h"
#include "kpipress/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/kp_test_csv.XXXXXX";
static char path[512];

/* Records flattened to "line-endline:f1|f2|...\n" lines. */
static char out[1 << 20];

static kp_err collect(void *user, const kp_csv_record *rec, kp_error *e)
{
    (void)user;
    (void)e;
    /* Every field lies in the record's bytes, and they are all ASCII exactly when the
     * fields are (the loader's one-pass UTF-8 check relies on it). */
    assert_non_null(rec->bytes);
    int fields_ascii = 1, bytes_ascii = 1;
    for (size_t i = 0; i < rec->nfields; i++) {
        assert_true(rec->fields[i] >= rec->bytes &&
                    rec->fields[i] + rec->lens[i] <= rec->bytes + rec->nbytes);
        for (size_t k = 0; k < rec->lens[i]; k++)
            fields_ascii &= !((unsigned char)rec->fields[i][k] & 0x80);
    }
    for (size_t k = 0; k < rec->nbytes; k++)
        bytes_ascii &= !((unsigned char)rec->bytes[k] & 0x80);
    assert_int_equal(bytes_ascii, fields_ascii);
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, sizeof out - n, "%ld-%ld:", rec->line, rec->end_line);
    for (size_t i = 0; i < rec->nfields; i++) {
        assert_int_equal(strlen(rec->fields[i]), rec->lens[i]);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? "|" : "", rec->fields[i]);
    }
    snprintf(out + n, sizeof out - n, "\n");
    return KP_OK;
}

static void put(const char *data, size_t len)
{
    snprintf(path, sizeof path, "%s/in.csv", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static int libcsv_only; /* 1: the reader's fast path off, every line through libcsv */

/* Read data; return the error text ("" on success) and leave the records in out. */
static const char *read_str(const char *data, size_t len, char delim, size_t max_field,
                            char *used)
{
    static char msg[2048];
    kp_error e = {0};
    kp_csv_options opt = {delim, max_field, 8, libcsv_only};
    put(data, len);
    out[0] = '\0';
    msg[0] = '\0';
    if (kp_csv_read(path, &opt, collect, NULL, used, &e) != KP_OK) {
        assert_int_equal(e.code, KP_ERR_DATA);
        assert_string_equal(e.file, path);
        snprintf(msg, sizeof msg, "%ld:%ld: %s", e.line, e.column, e.msg);
    }
    return msg;
}

#define READ(s) read_str(s, sizeof(s) - 1, 0, 0, NULL)
#define READ_D(s, delim, used) read_str(s, sizeof(s) - 1, delim, 0, used)

static void test_lines(void **state)
{
    (void)state;
    assert_string_equal(READ("a,b\n1,2\n"), "");
    assert_string_equal(out, "1-1:a|b\n2-2:1|2\n");
    assert_string_equal(READ("a,b\r\n1,2\r\n\r\n\r\n3,4"), "");
    assert_string_equal(out, "1-1:a|b\n2-2:1|2\n5-5:3|4\n");
    assert_string_equal(READ("a,b\n\"x\ny\",2\n\"p\r\nq\",3\n"), "");
    assert_string_equal(out, "1-1:a|b\n2-3:x\ny|2\n4-5:p\r\nq|3\n");
    assert_string_equal(READ("\xEF\xBB\xBFId,Name\n1, spaced \n"), "");
    assert_string_equal(out, "1-1:Id|Name\n2-2:1| spaced \n");
    assert_string_equal(READ("\"a\"\"b\",\"\"\n"), "");
    assert_string_equal(out, "1-1:a\"b|\n");
    assert_string_equal(READ(""), "");
    assert_string_equal(out, "");
}

static void test_delimiter(void **state)
{
    (void)state;
    char d = 0;
    assert_string_equal(READ_D("a;b;\"c,d\"\n1;2;3\n", 0, &d), "");
    assert_int_equal(d, ';');
    assert_string_equal(out, "1-1:a|b|c,d\n2-2:1|2|3\n");
    assert_string_equal(READ_D("a\tb\n1\t2\n", 0, &d), "");
    assert_int_equal(d, '\t');
    assert_string_equal(out, "1-1:a|b\n2-2:1|2\n");
    assert_string_equal(READ_D("\"x;y\",b\n", 0, &d), "");
    assert_int_equal(d, ',');
    assert_string_equal(READ_D("a;b\n", ',', &d), "");
    assert_int_equal(d, ',');
    assert_string_equal(out, "1-1:a;b\n");
}

static void test_blocks(void **state)
{
    (void)state;
    /* 3 blocks' worth of rows, one of them a quoted field with a newline straddling the
     * first block boundary: line numbers must still be physical lines. */
    size_t cap = 3 * KP_CSV_BLOCK, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    long line = 0, straddle = 0;
    while (n < 2 * KP_CSV_BLOCK + 1000) {
        line++;
        if (!straddle && n > KP_CSV_BLOCK - 20) {
            straddle = line;
            n += (size_t)sprintf(buf + n, "\"multi\nline %030d\",x\n", 7);
            line++;
        } else {
            n += (size_t)sprintf(buf + n, "row%06ld,y\n", line);
        }
    }
    read_str(buf, n, 0, 0, NULL);
    free(buf);
    char want[256];
    snprintf(want, sizeof want, "\n%ld-%ld:multi\nline %030d|x\n%ld-%ld:row%06ld|y\n", straddle,
             straddle + 1, 7, straddle + 2, straddle + 2, straddle + 2);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "\n%ld-%ld:row%06ld|y\n", line, line, line);
    assert_non_null(strstr(out, want));
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(READ("a,b\n1,\"x\"y\n"),
                        "2:2: malformed quoting: text after the closing quote of a quoted "
                        "field; a field containing quotes must be quoted as a whole, with each "
                        "inner quote doubled (\"\")");
    assert_string_equal(READ("a,b\n1,x\"y\"\n"),
                        "2:2: malformed quoting: a '\"' inside an unquoted field; a field "
                        "containing quotes must be quoted as a whole, with each inner quote "
                        "doubled (\"\")");
    assert_string_equal(READ("a,b\n1,2\n3,\"open\n4,5\n"),
                        "3:2: unterminated quoted field: the file ends inside the quotes opened "
                        "in field 2 of the record starting on line 3");
    assert_string_equal(read_str("a,b\n1,x\0y\n", 10, 0, 0, NULL),
                        "2:2: NUL byte in the data: this is not a text CSV file (a UTF-16 "
                        "export or a binary file?); save it as CSV UTF-8");
    assert_string_equal(read_str("\xFF\xFEi\0d\0", 6, 0, 0, NULL),
                        "1:1: the file is UTF-16 encoded; save it as CSV UTF-8");
    assert_string_equal(read_str("a,b\n1,12345678901\n", 18, 0, 10, NULL),
                        "2:2: field 2 is longer than the limit of 10 bytes (a missing closing "
                        "quote can make one field swallow the rest of the file)");
    assert_string_equal(read_str("a,b\n\"1234567890\n1234567890\n", 27, 0, 10, NULL),
                        "2:1: field 1 is longer than the limit of 10 bytes (a missing closing "
                        "quote can make one field swallow the rest of the file)");
    assert_string_equal(READ("a,b\n1,2,3,4,5,6,7,8,9\n"), "2:9: row has more than 8 fields (the limit)");
}

static kp_err stop_at_2(void *user, const kp_csv_record *rec, kp_error *e)
{
    (*(int *)user)++;
    if (rec->line == 2)
        return kp_error_set(e, KP_ERR_CONFIG, "x", rec->line, 0, "stop");
    return KP_OK;
}

static void test_callback_error(void **state)
{
    (void)state;
    int calls = 0;
    kp_error e = {0};
    put("a\nb\nc\n", 6);
    assert_int_equal(kp_csv_read(path, NULL, stop_at_2, &calls, NULL, &e), KP_ERR_CONFIG);
    assert_int_equal(calls, 2);
    assert_string_equal(e.msg, "stop");
    assert_int_equal(kp_csv_read("/nonexistent/x.csv", NULL, stop_at_2, &calls, NULL, &e),
                     KP_ERR_IO);
}

static void test_write(void **state)
{
    (void)state;
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    const char *row[] = {"plain", "a,b", "say \"hi\"", NULL, "two\nlines", " sp "};
    assert_int_equal(kp_csv_write_record(f, 6, row), 0);
    fclose(f);
    assert_string_equal(buf, "plain,\"a,b\",\"say \"\"hi\"\"\",,\"two\nlines\", sp \n");
    /* and it reads back as written */
    read_str(buf, strlen(buf), 0, 0, NULL);
    assert_string_equal(out, "1-2:plain|a,b|say \"hi\"||two\nlines| sp \n");
}

/* Cells a spreadsheet would run as formulas get a leading apostrophe; numbers do not. */
static void test_write_formula_guard(void **state)
{
    (void)state;
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    const char *row[] = {"=HYPERLINK(\"x\")", "+1+2", "-1200.50", "-", "@SUM(A1)",
                         "\t=1", "a=b", "+7", "-cmd|' /C calc'!A0", "1e999"};
    assert_int_equal(kp_csv_write_record(f, 10, row), 0);
    fclose(f);
    assert_string_equal(buf, "\"'=HYPERLINK(\"\"x\"\")\",'+1+2,-1200.50,'-,'@SUM(A1),'\t=1,a=b,"
                             "+7,'-cmd|' /C calc'!A0,1e999\n");
}

/* The fast path for plain lines must read exactly what libcsv reads, and leave every
 * other line (and every error) to it: random lines over the characters that matter,
 * read both ways, give the same records and the same messages. */
static void test_fast_path_same_as_libcsv(void **state)
{
    (void)state;
    static const char alphabet[] = "ab,,;\"\"\"\r\n\n \t\xc3";
    static char fast_out[sizeof out], fast_msg[2048], data[96];
    unsigned long x = 12345; /* fixed seed: the same cases every run */
    int differed_from_plain = 0;
    for (int t = 0; t < 20000; t++) {
        size_t len = 0, n = 1 + (x >> 7) % 80;
        for (; len < n; len++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            data[len] = alphabet[(x >> 33) % (sizeof alphabet - 1)];
        }
        char delim = t % 3 == 0 ? ';' : ',';
        libcsv_only = 0;
        snprintf(fast_msg, sizeof fast_msg, "%s", read_str(data, len, delim, 12, NULL));
        memcpy(fast_out, out, strlen(out) + 1);
        libcsv_only = 1;
        const char *msg = read_str(data, len, delim, 12, NULL);
        libcsv_only = 0;
        if (strcmp(fast_msg, msg) || strcmp(fast_out, out))
            fail_msg("case %d: input [%.*s]\nfast: %s\n%s\nlibcsv: %s\n%s", t, (int)len, data,
                     fast_msg, fast_out, msg, out);
        differed_from_plain += fast_out[0] != '\0';
    }
    assert_true(differed_from_plain > 1000); /* the cases do produce records */
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),  cmocka_unit_test(test_delimiter),
        cmocka_unit_test(test_blocks), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_callback_error), cmocka_unit_test(test_write), cmocka_unit_test(test_write_formula_guard),
        cmocka_unit_test(test_fast_path_same_as_libcsv),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
