/* libFuzzer target: the report-template parser on an arbitrary template file. */
#include "fuzz.h"
#include "kpipress/log.h"
#include "kpipress/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kp_log_set_level(2);
    const char *path = fuzz_file("t.ini", data, size);
    kp_template *t = NULL;
    kp_error e = {0};
    if (path)
        kp_template_load(path, &t, &e);
    kp_template_free(t);
    return 0;
}
