/* libFuzzer target: the loader (libcsv adapter, preset mapping, value parsing, the
 * canonical tables) on an arbitrary export. The first byte picks the preset and the
 * source type and the delimiter/date/decimal/encoding options; the rest is the file.
 * It is loaded through a real job into an in-memory database, as kpipress load would. */
#include "fuzz.h"
#include "kpipress/job.h"
#include "kpipress/load.h"
#include "kpipress/log.h"
#include "kpipress/store.h"

static const char *const presets[] = {"salesforce", "hubspot", "pipedrive", "generic"};
static const char *const types[] = {"opportunities", "reps", "quotas"};
static const char *const options[] = {"", "delimiter = semicolon\ndates = dmy\ndecimal = comma\n",
                                      "encoding = cp1252\n", "delimiter = tab\n"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    kp_log_set_level(2);
    unsigned sel = data[0];
    if (!fuzz_file("in.csv", data + 1, size - 1))
        return 0;
    char job[1024];
    int n = snprintf(job, sizeof job,
                     "[job]\nname = fuzz\nperiod = previous_month\nas_of = 2026-11-01\n"
                     "database = :memory:\noutput_dir = out\nmax_reject_pct = 100\n"
                     "[source s]\ntype = %s\nfile = in.csv\npreset = %s\n%s",
                     types[sel % 3], presets[(sel / 3) % 4], options[(sel / 12) % 4]);
    const char *path = fuzz_file("job.ini", (const uint8_t *)job, (size_t)n);
    kp_job *j = NULL;
    kp_store *s = NULL;
    kp_error e = {0};
    kp_load_stats st;
    memset(&st, 0, sizeof st);
    if (path && kp_job_load(path, &j, &e) == KP_OK && kp_job_resolve(j, NULL, &e) == KP_OK &&
        kp_store_open(":memory:", KP_STORE_MEMORY, &s, &e) == KP_OK &&
        kp_load_schema(s, &e) == KP_OK)
        kp_load_run(j, s, &st, &e);
    kp_store_close(s);
    kp_job_free(j);
    return 0;
}
