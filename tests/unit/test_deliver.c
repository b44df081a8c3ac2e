/* Atomic output files, mkdir -p, and the manifest. The manifest is checked by an
 * independent reader (tests/unit/check_deliver.py: Python's json and csv modules and
 * coreutils sha256sum), not by reading it back with our own code. */
#include "test.h"

#include "kpipress/deliver.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/kp_deliver.XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return getenv("KP_KEEP") ? 0 : (system(cmd) == 0 ? 0 : -1);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_commit_renames(void **state)
{
    (void)state;
    char final[256], prefix[256], dir[128];
    kp_outfile of;
    kp_error e;
    snprintf(dir, sizeof dir, "%s/out/2026-10", root);
    snprintf(final, sizeof final, "%s/report.xlsx", dir);
    snprintf(prefix, sizeof prefix, "%s/.report.xlsx.tmp-%ld-", dir, (long)getpid());
    assert_int_equal(kp_outfile_begin(&of, final, &e), KP_OK);
    assert_true(exists(dir)); /* parents created */
    assert_string_equal(of.final_path, final);
    assert_memory_equal(of.tmp_path, prefix, strlen(prefix));
    assert_false(exists(of.tmp_path)); /* the caller creates it */
    write_file(of.tmp_path, "new contents");
    assert_false(exists(final));
    assert_int_equal(kp_outfile_commit(&of, &e), KP_OK);
    assert_null(of.tmp_path);
    assert_null(of.final_path);
    assert_string_equal(read_file(final), "new contents");
    assert_int_equal(count_entries(dir), 1);

    /* A second run replaces the file; two temporaries never share a name. */
    kp_outfile a, b;
    assert_int_equal(kp_outfile_begin(&a, final, &e), KP_OK);
    assert_int_equal(kp_outfile_begin(&b, final, &e), KP_OK);
    assert_string_not_equal(a.tmp_path, b.tmp_path);
    kp_outfile_abort(&b);
    write_file(a.tmp_path, "second run");
    assert_int_equal(kp_outfile_commit(&a, &e), KP_OK);
    assert_string_equal(read_file(final), "second run");
    assert_int_equal(count_entries(dir), 1);
    kp_outfile_abort(&a); /* safe after commit */
}

static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    char final[256], dir[128];
    kp_outfile of;
    kp_error e;
    snprintf(dir, sizeof dir, "%s/abort", root);
    snprintf(final, sizeof final, "%s/scorecard.pdf", dir);
    assert_int_equal(kp_outfile_begin(&of, final, &e), KP_OK);
    write_file(of.tmp_path, "half a PDF");
    kp_outfile_abort(&of);
    assert_null(of.tmp_path);
    assert_int_equal(count_entries(dir), 0);
    kp_outfile_abort(&of); /* twice */
    kp_outfile_abort(NULL);

    /* Abort keeps the previous version of the file. */
    write_file(final, "previous run");
    assert_int_equal(kp_outfile_begin(&of, final, &e), KP_OK);
    write_file(of.tmp_path, "broken");
    kp_outfile_abort(&of);
    assert_string_equal(read_file(final), "previous run");
    assert_int_equal(count_entries(dir), 1);

    /* Abort before the renderer created anything. */
    assert_int_equal(kp_outfile_begin(&of, final, &e), KP_OK);
    kp_outfile_abort(&of);
    assert_int_equal(count_entries(dir), 1);
}

static void test_failures(void **state)
{
    (void)state;
    char file[128], path[256];
    kp_outfile of;
    kp_error e;
    snprintf(file, sizeof file, "%s/plainfile", root);
    write_file(file, "x");

    /* Parent is a regular file: the directory cannot be made. */
    kp_error_clear(&e);
    snprintf(path, sizeof path, "%s/sub/out.pdf", file);
    assert_int_equal(kp_outfile_begin(&of, path, &e), KP_ERR_IO);
    assert_null(of.tmp_path);
    assert_int_equal(e.code, KP_ERR_IO);
    assert_string_equal(e.file, file);
    assert_int_equal(kp_mkdirs(path, &e), KP_ERR_IO);

    /* The final name is taken by a non-empty directory: the rename fails, the temporary
     * is removed, the directory stays. */
    char dir[128], inner[300];
    snprintf(dir, sizeof dir, "%s/taken", root);
    snprintf(inner, sizeof inner, "%s/taken/keep", root);
    assert_int_equal(kp_mkdirs(dir, &e), KP_OK);
    write_file(inner, "keep");
    assert_int_equal(kp_outfile_begin(&of, dir, &e), KP_OK);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s", of.tmp_path);
    write_file(tmp, "data");
    kp_error_clear(&e);
    assert_int_equal(kp_outfile_commit(&of, &e), KP_ERR_IO);
    assert_int_equal(e.code, KP_ERR_IO);
    assert_false(exists(tmp));
    assert_null(of.tmp_path);
    assert_string_equal(read_file(inner), "keep");

    /* Commit without the temporary ever written. */
    snprintf(path, sizeof path, "%s/never.pdf", root);
    assert_int_equal(kp_outfile_begin(&of, path, &e), KP_OK);
    assert_int_equal(kp_outfile_commit(&of, &e), KP_ERR_IO);
    assert_false(exists(path));

    /* A path naming no file. */
    snprintf(path, sizeof path, "%s/dir/", root);
    assert_int_equal(kp_outfile_begin(&of, path, &e), KP_ERR_IO);
}

static void test_mkdirs(void **state)
{
    (void)state;
    char path[256];
    kp_error e;
    snprintf(path, sizeof path, "%s/a/b//c/d/", root);
    assert_int_equal(kp_mkdirs(path, &e), KP_OK);
    assert_int_equal(kp_mkdirs(path, &e), KP_OK); /* exists already */
    snprintf(path, sizeof path, "%s/a/b/c/d", root);
    assert_true(exists(path));
    assert_int_equal(kp_mkdirs("", &e), KP_OK);
}

static void test_bare_name(void **state)
{
    (void)state;
    kp_outfile of;
    kp_error e;
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".summary.json.tmp-%ld-", (long)getpid());
    assert_int_equal(kp_outfile_begin(&of, "summary.json", &e), KP_OK);
    assert_memory_equal(of.tmp_path, prefix, strlen(prefix));
    kp_outfile_abort(&of);
}

static void test_manifest(void **state)
{
    (void)state;
    char dir[128], p[4][300], outside[256], cmd[1024];
    kp_error e;
    snprintf(dir, sizeof dir, "%s/run", root);
    snprintf(p[0], sizeof p[0], "%s/scorecards/a.pdf", dir);
    snprintf(p[1], sizeof p[1], "%s/scorecards/S\xc3\xb8ren \xc3\x98.pdf", dir);
    snprintf(p[2], sizeof p[2], "%s/board-pack.xlsx", dir);
    snprintf(outside, sizeof outside, "%s/outside.txt", root);
    assert_int_equal(kp_mkdirs(dir, &e), KP_OK);
    snprintf(cmd, sizeof cmd, "%s/scorecards", dir);
    assert_int_equal(kp_mkdirs(cmd, &e), KP_OK);
    write_file(p[0], "%PDF-1.4 first");
    write_file(p[1], "%PDF-1.4 second, longer");
    write_file(p[2], "");
    write_file(outside, "input file\n");

    kp_manifest *m = kp_manifest_new();
    assert_non_null(m);
    /* Added in completion order, not sorted order. */
    assert_int_equal(kp_manifest_add(m, "scorecards", "r001", p[0], "mueller@example.com",
                                     "Ihr Bericht \xe2\x80\x93 M\xc3\xbcller", &e),
                     KP_OK);
    assert_int_equal(kp_manifest_add(m, "scorecards", "r002", p[1],
                                     "S\xc3\xb8ren <soren@example.com>", "Scorecard, \"Q4\"\n2026",
                                     &e),
                     KP_OK);
    assert_int_equal(kp_manifest_add(m, "board-pack", NULL, p[2], NULL, NULL, &e), KP_OK);
    assert_int_equal(kp_manifest_add(m, "audit", "tab\tbell\a", outside, NULL, NULL, &e), KP_OK);
    kp_error_clear(&e);
    snprintf(cmd, sizeof cmd, "%s/missing.pdf", dir);
    assert_int_equal(kp_manifest_add(m, "x", NULL, cmd, NULL, NULL, &e), KP_ERR_IO);
    assert_string_equal(e.file, cmd);

    assert_int_equal(kp_manifest_write(m, dir, &e), KP_OK);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/check_deliver.py '%s' '%s'", dir,
             outside);
    assert_int_equal(system(cmd), 0);

    /* Writing again (dir given with a trailing slash) gives the same bytes. */
    char first[4096], path[300];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(first, sizeof first, "%s", read_file(path));
    snprintf(cmd, sizeof cmd, "%s/", dir);
    assert_int_equal(kp_manifest_write(m, cmd, &e), KP_OK);
    assert_string_equal(read_file(path), first);
    kp_manifest_free(m);
    kp_manifest_free(NULL);
}

static void test_manifest_empty_and_unwritable(void **state)
{
    (void)state;
    char dir[128], path[300];
    kp_error e;
    kp_manifest *m = kp_manifest_new();
    snprintf(dir, sizeof dir, "%s/empty", root);
    assert_int_equal(kp_manifest_write(m, dir, &e), KP_OK);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    assert_string_equal(read_file(path), "[]\n");
    snprintf(path, sizeof path, "%s/manifest.csv", dir);
    assert_string_equal(read_file(path), "report,key,path,bytes,sha256,recipient,subject\n");

    snprintf(path, sizeof path, "%s/manifest.csv/sub", dir); /* parent is a file */
    kp_error_clear(&e);
    assert_int_equal(kp_manifest_write(m, path, &e), KP_ERR_IO);
    assert_true(e.msg[0] != '\0');
    kp_manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_renames),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_mkdirs),
        cmocka_unit_test(test_bare_name),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_manifest_empty_and_unwritable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
