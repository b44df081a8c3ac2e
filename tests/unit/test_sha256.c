/* SHA-256: the FIPS 180-2 example vectors, padding-boundary lengths and a 1 MB buffer
 * checked against coreutils sha256sum, and incremental updates in odd-sized pieces; all
 * of it twice, with the processor's SHA instructions (when it has them) and without. */
#include "test.h"

#include "kpipress/deliver.h"
#include "kpipress/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void digest_of(const void *data, size_t len, char hex[65])
{
    kp_sha256 c;
    unsigned char d[32];
    kp_sha256_init(&c);
    kp_sha256_update(&c, data, len);
    kp_sha256_final(&c, d);
    kp_sha256_hex(d, hex);
}

static void test_fips_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
         "mnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        digest_of(v[i].msg, strlen(v[i].msg), hex);
        assert_string_equal(hex, v[i].hex);
    }
}

static void test_million_a(void **state)
{
    (void)state;
    char chunk[1000], hex[65];
    unsigned char d[32];
    kp_sha256 c;
    memset(chunk, 'a', sizeof chunk);
    kp_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        kp_sha256_update(&c, chunk, sizeof chunk);
    kp_sha256_final(&c, d);
    kp_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static unsigned char *generated(size_t n)
{
    unsigned char *p = malloc(n);
    uint32_t x = 12345;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
    return p;
}

/* Digest of path as printed by sha256sum (the first 64 characters of its output). */
static void sha256sum(const char *path, char hex[65])
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(hex, 65, p));
    assert_int_equal(strlen(hex), 64);
    assert_int_equal(pclose(p), 0);
}

static void test_against_sha256sum(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000000};
    char dir[] = "/tmp/kp_sha256.XXXXXX";
    assert_non_null(mkdtemp(dir));
    unsigned char *data = generated(1000000);
    memcpy(data, "abc", 3); /* so the 3-byte file is the FIPS "abc" */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char path[256], want[65], got[65], ours[65];
        uint64_t bytes = 0;
        snprintf(path, sizeof path, "%s/f%zu", dir, sizes[i]);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, sizes[i], f), sizes[i]);
        assert_int_equal(fclose(f), 0);
        sha256sum(path, want);
        digest_of(data, sizes[i], ours);
        assert_string_equal(ours, want);
        assert_int_equal(kp_sha256_file(path, got, &bytes, NULL), KP_OK);
        assert_string_equal(got, want);
        assert_int_equal(bytes, sizes[i]);
        unlink(path);
    }
    free(data);
    rmdir(dir);
}

/* Feeding the same bytes in pieces of every size 1..130 gives the one-shot digest. */
static void test_incremental(void **state)
{
    (void)state;
    const size_t n = 5000;
    unsigned char *data = generated(n);
    char want[65], got[65];
    digest_of(data, n, want);
    for (size_t step = 1; step <= 130; step++) {
        kp_sha256 c;
        unsigned char d[32];
        kp_sha256_init(&c);
        for (size_t off = 0; off < n; off += step)
            kp_sha256_update(&c, data + off, off + step <= n ? step : n - off);
        kp_sha256_final(&c, d);
        kp_sha256_hex(d, got);
        assert_string_equal(got, want);
    }
    free(data);
}

static void test_file_errors(void **state)
{
    (void)state;
    kp_error e;
    char hex[65];
    kp_error_clear(&e);
    assert_int_equal(kp_sha256_file("/nonexistent/kp/file", hex, NULL, &e), KP_ERR_IO);
    assert_string_equal(e.file, "/nonexistent/kp/file");
}

static int portable(void **state)
{
    (void)state;
    return kp_sha256_accelerated(0) ? -1 : 0;
}

static int accelerated(void **state)
{
    (void)state;
    if (!kp_sha256_accelerated(1))
        fprintf(stderr, "note: no SHA instructions here: the portable code is tested twice\n");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_vectors),      cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_against_sha256sum), cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_file_errors),
    };
    int failed = cmocka_run_group_tests_name("accelerated", tests, accelerated, NULL);
    return failed + cmocka_run_group_tests_name("portable", tests, portable, NULL);
}
