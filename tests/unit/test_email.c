/* E-mail messages, checked by an independent reader: tests/unit/check_email.py parses
 * each .eml with Python's email package (policy=default) and compares the decoded
 * headers, body and attachment bytes with the values written here. Also header
 * injection, address validation, determinism, and the deliver command. */
#include "test.h"

#include "kpipress/deliver.h"
#include "kpipress/email.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/kp_email.XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return getenv("KP_KEEP") ? 0 : (system(cmd) == 0 ? 0 : -1);
}

static void put(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void put_str(const char *dir, const char *name, const char *s)
{
    if (s)
        put(dir, name, s, strlen(s));
}

static size_t slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    return n;
}

/* 50 KB that contain every byte value, CR/LF pairs and runs base64 must not mangle. */
static void make_attachment(const char *path, size_t n)
{
    unsigned char *p = malloc(n);
    uint32_t x = 42;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = i < 256 ? (unsigned char)i : (unsigned char)(x >> 24);
    }
    if (n > 313)
        memcpy(p + 300, "\r\n\r\n.\r\nFrom \n", 13);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(p);
}

/* Write m into its own directory with the expected values beside it, run the checker. */
static void write_and_check(const char *name, kp_email *m, size_t att_bytes)
{
    char dir[128], eml[256], cmd[512], att[256];
    kp_error e;
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (att_bytes) {
        snprintf(att, sizeof att, "%s/attachment", dir);
        make_attachment(att, att_bytes);
        m->attachment_path = att;
        put_str(dir, "attachment_name", m->attachment_name);
    }
    put_str(dir, "to_name", m->to_name);
    put_str(dir, "to_addr", m->to_addr);
    put_str(dir, "from_name", m->from_name);
    put_str(dir, "from_addr", m->from_addr);
    put_str(dir, "subject", m->subject);
    put_str(dir, "body", m->body);
    char day[KP_DATE_ISO_LEN + 1];
    put_str(dir, "date", kp_date_format_iso(m->as_of, day));
    snprintf(eml, sizeof eml, "%s/message.eml", dir);
    kp_error_clear(&e);
    if (kp_email_write_file(eml, m, &e) != KP_OK)
        fail_msg("%s: %s", name, e.msg);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/check_email.py '%s' '%s'", eml, dir);
    if (system(cmd) != 0)
        fail_msg("%s: check_email.py found differences (above)", name);
    m->attachment_path = NULL;
}

static kp_date day(int y, int m, int d)
{
    return kp_date_from_ymd(y, m, d);
}

static const char *const long_body =
    "Hallo J\xc3\xbcrgen,\n"
    "\n"
    "anbei Ihre Scorecard f\xc3\xbcr Oktober 2026. Zielerreichung: 103 % = Bonusstufe 2; "
    "diese Zeile ist absichtlich l\xc3\xa4nger als sechsundsiebzig Zeichen, damit "
    "quoted-printable weiche Umbr\xc3\xbc"
    "che einf\xc3\xbcgen muss.\n"
    "From here on, a line that mbox would mangle.\n"
    ".\n"
    "trailing spaces   \n"
    "tab\tinside and = sign and \xe2\x82\xac 1.234,50\n"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\n"
    "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
    "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
    "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\n"
    "Gr\xc3\xbc\xc3\x9f"
    "e\n";

static void test_mueller(void **state)
{
    (void)state;
    kp_email m = {
        .from_name = "Sales Ops \xe2\x80\x93 kpipress",
        .from_addr = "reports@acme.example",
        .to_name = "J\xc3\xbcrgen M\xc3\xbcller",
        .to_addr = "j.mueller@example.de",
        .subject = "Ihre Scorecard f\xc3\xbcr Oktober 2026 \xe2\x80\x93 M\xc3\xbcller "
                   "(Q4-\xc3\x9c"
                   "bersicht, Zielerreichung 103 %, Provision vorl\xc3\xa4ufig)",
        .body = long_body,
        .attachment_name = "Scorecard M\xc3\xbcller.pdf",
        .report = "scorecards",
        .key = "r001",
        .as_of = day(2026, 11, 1),
    };
    write_and_check("mueller", &m, 50 * 1024);
}

static void test_soren_ascii_subject(void **state)
{
    (void)state;
    kp_email m = {
        .from_addr = "reports@acme.example",
        .to_name = "S\xc3\xb8ren Kierkegaard",
        .to_addr = "soren@example.dk",
        .subject = "Your monthly scorecard for October 2026 is attached: please review the "
                   "pipeline section before Friday's forecast call",
        .body = "Hi S\xc3\xb8ren,\r\nyour scorecard is attached.\r\n",
        .attachment_name = "scorecard-r002.pdf",
        .report = "scorecards",
        .key = "r002",
        .as_of = day(2024, 2, 29),
    };
    write_and_check("soren", &m, 50 * 1024 + 1);
}

static void test_zoe_greek(void **state)
{
    (void)state;
    kp_email m = {
        .from_name = "kpipress",
        .from_addr = "noreply@sales.example.gr",
        .to_name = "\xce\x96\xcf\x89\xce\xae \xce\xa0\xce\xb1\xcf\x80\xce\xb1\xce\xb4\xce\xbf"
                   "\xcf\x80\xce\xbf\xcf\x8d\xce\xbb\xce\xbf\xcf\x85",
        .to_addr = "zoe@example.gr",
        .subject = "\xce\x9a\xce\xac\xcf\x81\xcf\x84\xce\xb1 \xce\xb1\xcf\x80\xcf\x8c\xce\xb4"
                   "\xce\xbf\xcf\x83\xce\xb7\xcf\x82 \xce\x9f\xce\xba\xcf\x84\xcf\x89\xce\xb2"
                   "\xcf\x81\xce\xaf\xce\xbf\xcf\x85 2026",
        .body = "\xce\x93\xce\xb5\xce\xb9\xce\xb1 \xcf\x83\xce\xbf\xcf\x85 \xce\x96\xcf\x89"
                "\xce\xae!",
        /* Long enough for RFC 2231 continuations (filename*0*=, filename*1*= ...). */
        .attachment_name = "\xce\x9a\xce\xac\xcf\x81\xcf\x84\xce\xb1_\xce\xb1\xcf\x80\xcf\x8c"
                           "\xce\xb4\xce\xbf\xcf\x83\xce\xb7\xcf\x82_\xce\x96\xcf\x89\xce\xae_"
                           "\xce\xa0\xce\xb1\xcf\x80\xce\xb1\xce\xb4\xce\xbf\xcf\x80\xce\xbf"
                           "\xcf\x8d\xce\xbb\xce\xbf\xcf\x85_2026.pdf",
        .report = "scorecards",
        .key = "r003",
        .as_of = day(2026, 12, 31),
    };
    write_and_check("zoe", &m, 1);
}

static void test_ascii_specials_and_text_only(void **state)
{
    (void)state;
    kp_email m = {
        .from_name = "Reports \\ Team",
        .from_addr = "reports@acme.example",
        .to_name = "O\"Brien, Pat",
        .to_addr = "pat.obrien+sales@example.ie",
        .subject = "=?UTF-8?B?not an encoded word?= really",
        .body = "No attachment here.\n",
        .report = "digest",
        .as_of = day(2000, 1, 1),
    };
    write_and_check("obrien", &m, 0);
    kp_email n = {
        .from_addr = "reports@acme.example",
        .to_addr = "plain@example.com",
        .subject = "Short",
        .report = "digest",
        .key = "k",
        .as_of = day(2026, 11, 1),
    };
    write_and_check("plain", &n, 0);
}

static void test_deterministic(void **state)
{
    (void)state;
    char a[256], b[256], c[256], att[256];
    static char x[70000], y[70000];
    kp_error e;
    snprintf(att, sizeof att, "%s/det.pdf", root);
    make_attachment(att, 4000);
    kp_email m = {.from_addr = "r@acme.example",
                  .to_name = "Z\xc3\xb6\x65",
                  .to_addr = "z@e.com",
                  .subject = "S",
                  .body = "b",
                  .attachment_path = att,
                  .report = "r",
                  .key = "1",
                  .as_of = day(2026, 11, 1)};
    snprintf(a, sizeof a, "%s/det-a.eml", root);
    snprintf(b, sizeof b, "%s/det-b.eml", root);
    snprintf(c, sizeof c, "%s/det-c.eml", root);
    assert_int_equal(kp_email_write_file(a, &m, &e), KP_OK);
    assert_int_equal(kp_email_write_file(b, &m, &e), KP_OK);
    size_t na = slurp(a, x, sizeof x), nb = slurp(b, y, sizeof y);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    m.key = "2"; /* another burst row: another Message-ID */
    assert_int_equal(kp_email_write_file(c, &m, &e), KP_OK);
    nb = slurp(c, y, sizeof y);
    const char *ida = strstr(x, "Message-ID: "), *idc = strstr(y, "Message-ID: ");
    assert_non_null(ida);
    assert_non_null(idc);
    assert_memory_not_equal(ida, idc, 40);
    assert_non_null(strstr(x, "Date: Sun, 01 Nov 2026 06:00:00 +0000\r\n"));
}

/* A field that tries to start a new header is refused and nothing is written. */
static void test_header_injection(void **state)
{
    (void)state;
    static const struct {
        const char *to_name, *subject, *to_addr, *att_name, *key;
    } cases[] = {
        {"Eve\r\nBcc: victim@example.com", "Hi", "eve@example.com", NULL, "recipient name"},
        {"Eve\nBcc: victim@example.com", "Hi", "eve@example.com", NULL, "recipient name"},
        {"Eve", "Hi\r\nBcc: victim@example.com", "eve@example.com", NULL, "subject"},
        {"Eve", "Hi\rX-Spam: no", "eve@example.com", NULL, "subject"},
        {"Eve", "Hi", "eve@example.com\r\nBcc: victim@example.com", NULL, "email"},
        {"Eve", "Hi", "eve@example.com", "a.pdf\r\nContent-Type: text/html", "attachment name"},
        {"Eve \xc3", "Hi", "eve@example.com", NULL, "recipient name"}, /* invalid UTF-8 */
    };
    char att[256];
    snprintf(att, sizeof att, "%s/inj.pdf", root);
    make_attachment(att, 10);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_email m = {.from_addr = "r@acme.example",
                      .to_name = cases[i].to_name,
                      .to_addr = cases[i].to_addr,
                      .subject = cases[i].subject,
                      .attachment_path = att,
                      .attachment_name = cases[i].att_name,
                      .report = "r",
                      .as_of = day(2026, 11, 1)};
        kp_error e;
        kp_error_clear(&e);
        FILE *f = tmpfile();
        assert_non_null(f);
        assert_int_equal(kp_email_write(f, &m, &e), KP_ERR_DATA);
        assert_int_equal(ftell(f), 0);
        fclose(f);
        assert_string_equal(e.key, cases[i].key);
        char path[256];
        snprintf(path, sizeof path, "%s/inj%zu.eml", root, i);
        assert_int_equal(kp_email_write_file(path, &m, &e), KP_ERR_DATA);
        assert_int_equal(access(path, F_OK), -1);
    }
}

static void test_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        kp_err rc;
    } cases[] = {
        {"a@b.c", KP_OK},
        {"first.last+tag@sub.example.co.uk", KP_OK},
        {"o'brien@example.ie", KP_OK},
        {"a b@c.d", KP_ERR_DATA},
        {"<a@b.c>", KP_ERR_DATA},
        {"Name <a@b.c>", KP_ERR_DATA},
        {"a@@b.c", KP_ERR_DATA},
        {"a@b@c.d", KP_ERR_DATA},
        {"@b.c", KP_ERR_DATA},
        {"a@", KP_ERR_DATA},
        {"ab.c", KP_ERR_DATA},
        {"", KP_ERR_DATA},
        {"a@b.c,d@e.f", KP_ERR_DATA},
        {"a@b.c;d@e.f", KP_ERR_DATA},
        {"\xc3\xa4@b.c", KP_ERR_DATA},
        {"a.@b.c", KP_ERR_DATA},
        {".a@b.c", KP_ERR_DATA},
        {"a@b..c", KP_ERR_DATA},
        {"a@b.c.", KP_ERR_DATA},
        {"a@b.c\n", KP_ERR_DATA},
        {"a\t@b.c", KP_ERR_DATA},
        {"\"a\"@b.c", KP_ERR_DATA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_error e;
        kp_err rc = kp_email_check_address(cases[i].addr, &e);
        if (rc != cases[i].rc)
            fail_msg("address \"%s\": %d, want %d", cases[i].addr, rc, cases[i].rc);
    }
    char longaddr[300];
    memset(longaddr, 'a', 250);
    memcpy(longaddr + 250, "@b.co", 6); /* 255 bytes */
    assert_int_equal(kp_email_check_address(longaddr, NULL), KP_ERR_DATA);
    assert_int_equal(kp_email_check_address(NULL, NULL), KP_ERR_DATA);
}

static void test_missing_attachment(void **state)
{
    (void)state;
    char path[256];
    kp_error e;
    snprintf(path, sizeof path, "%s/noatt.eml", root);
    kp_email m = {.from_addr = "r@acme.example",
                  .to_addr = "a@b.c",
                  .report = "r",
                  .attachment_path = "/nonexistent/scorecard.pdf",
                  .as_of = day(2026, 11, 1)};
    assert_int_equal(kp_email_write_file(path, &m, &e), KP_ERR_IO);
    assert_string_equal(e.file, "/nonexistent/scorecard.pdf");
    assert_int_equal(access(path, F_OK), -1);
}

static void test_deliver_command(void **state)
{
    (void)state;
    char eml[256], got[256], cmd[600];
    static char x[20000], y[20000];
    int status = -5;
    kp_error e;
    snprintf(eml, sizeof eml, "%s/send.eml", root);
    snprintf(got, sizeof got, "%s/received.eml", root);
    kp_email m = {.from_addr = "r@acme.example",
                  .to_name = "S\xc3\xb8ren",
                  .to_addr = "s@e.dk",
                  .subject = "Scorecard",
                  .body = "hello\n",
                  .report = "r",
                  .key = "1",
                  .as_of = day(2026, 11, 1)};
    assert_int_equal(kp_email_write_file(eml, &m, &e), KP_OK);

    snprintf(cmd, sizeof cmd, "sh tests/unit/fake_email_deliver.sh '%s'", got);
    assert_int_equal(kp_email_send(cmd, eml, &status, &e), KP_OK);
    assert_int_equal(status, 0);
    size_t nx = slurp(eml, x, sizeof x), ny = slurp(got, y, sizeof y);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, nx);

    /* A failing mailer: its status comes back, with an error naming the message. */
    snprintf(cmd, sizeof cmd, "sh tests/unit/fake_email_deliver.sh '%s' 75", got);
    kp_error_clear(&e);
    assert_int_equal(kp_email_send(cmd, eml, &status, &e), KP_ERR_IO);
    assert_int_equal(status, 75);
    assert_string_equal(e.file, eml);
    assert_non_null(strstr(e.msg, "75"));

    assert_int_equal(kp_email_send("/nonexistent/sendmail -t", eml, &status, &e), KP_ERR_IO);
    assert_int_equal(status, 127);
    assert_int_equal(kp_email_send("kill -TERM $$", eml, &status, &e), KP_ERR_IO);
    assert_int_equal(status, 128 + 15);
    snprintf(cmd, sizeof cmd, "%s/nothing.eml", root);
    assert_int_equal(kp_email_send("cat >/dev/null", cmd, &status, &e), KP_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mueller),         cmocka_unit_test(test_soren_ascii_subject),
        cmocka_unit_test(test_zoe_greek),       cmocka_unit_test(test_ascii_specials_and_text_only),
        cmocka_unit_test(test_deterministic),   cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_addresses),       cmocka_unit_test(test_missing_attachment),
        cmocka_unit_test(test_deliver_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
