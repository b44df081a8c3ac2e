/* libFuzzer target: the job-file parser and resolver (inih adapter, keys, values,
 * periods, placeholders) on an arbitrary job.ini. Source files named in.csv exist in the
 * scratch directory so that inputs get past the file checks. */
#include "fuzz.h"
#include "kpipress/job.h"
#include "kpipress/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kp_log_set_level(2);
    static int ready;
    if (!ready) {
        const char *csv = "Id,Name\n1,x\n";
        fuzz_file("in.csv", (const uint8_t *)csv, strlen(csv));
        ready = 1;
    }
    const char *path = fuzz_file("job.ini", data, size);
    kp_job *j = NULL;
    kp_error e = {0};
    if (path && kp_job_load(path, &j, &e) == KP_OK)
        kp_job_resolve(j, (size && data[0] & 1) ? "2026-02-28" : NULL, &e);
    kp_job_free(j);
    return 0;
}
