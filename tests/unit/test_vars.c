/* Placeholders and file-name sanitising. */
#include "test.h"

#include "kpipress/vars.h"

#include <stdlib.h>
#include <string.h>

static void test_expand(void **state)
{
    (void)state;
    kp_vars v = {0};
    kp_error e = {0};
    char *out = NULL;
    assert_int_equal(kp_vars_set(&v, "name", "Søren"), KP_OK);
    assert_int_equal(kp_vars_set(&v, "period", "2026-10"), KP_OK);
    assert_int_equal(kp_vars_set(&v, "empty", NULL), KP_OK);
    assert_int_equal(kp_vars_expand(&v, "{name} - {period}{empty}", &out, &e), KP_OK);
    assert_string_equal(out, "Søren - 2026-10");
    free(out);
    assert_int_equal(kp_vars_expand(&v, "{{literal}} }", &out, &e), KP_OK);
    assert_string_equal(out, "{literal} }");
    free(out);
    assert_int_equal(kp_vars_expand(&v, "x {nope} y", &out, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "unknown placeholder {nope}");
    assert_null(out);
    assert_int_equal(kp_vars_expand(&v, "x {name", &out, &e), KP_ERR_CONFIG);
    assert_string_equal(e.msg, "unclosed '{' in \"x {name\" (write {{ for a literal brace)");
    assert_int_equal(kp_vars_set(&v, "name", "Zoë"), KP_OK); /* replace */
    assert_string_equal(kp_vars_get(&v, "name"), "Zoë");
    assert_int_equal(v.count, 3);
    kp_vars_clear(&v);
    kp_vars_clear(&v); /* twice is safe */
}

static void test_sanitize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"005Dn000001", "005Dn000001"},
        {"../../etc/x", "_.._etc_x"},
        {"..", "_"},
        {"", "_"},
        {"a/b\\c", "a_b_c"},
        {"CON", "_CON"},
        {"con.pdf", "_con.pdf"},
        {"COM1", "_COM1"},
        {"LPT9.txt", "_LPT9.txt"},
        {"CONSOLE", "CONSOLE"},
        {"Łukasz Żółć", "Łukasz Żółć"},
        {"tab\there\nnl", "tab_here_nl"},
        {".hidden", "hidden"},
        {"trailing. ", "trailing"},
        {"a:b*c?d\"e<f>g|h", "a_b_c_d_e_f_g_h"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kp_vars_sanitize_component(cases[i].in, buf, sizeof buf);
        if (strcmp(buf, cases[i].out)) {
            print_error("case %zu: \"%s\" -> \"%s\", want \"%s\"\n", i, cases[i].in, buf,
                        cases[i].out);
            fail();
        }
    }
    /* truncation never splits a UTF-8 sequence */
    kp_vars_sanitize_component("ééééééééééé", buf, 8);
    assert_string_equal(buf, "ééé");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_expand),
                                       cmocka_unit_test(test_sanitize)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
