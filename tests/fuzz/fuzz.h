/* Shared helpers of the libFuzzer targets: a private scratch directory per process and
 * a way to put the fuzz input in a file there, for the parsers that read files. */
#ifndef KPIPRESS_FUZZ_H
#define KPIPRESS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir_path[64];

static void fuzz_dir_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fuzz_dir_path);
}

/* "/tmp/kpfuzz-PID", created on first use, removed at exit. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "/tmp/kpfuzz-%ld", (long)getpid());
        mkdir(fuzz_dir_path, 0700);
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Write data to fuzz_dir()/name; returns the path (static buffer) or NULL. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return NULL;
    }
    return fclose(f) == 0 ? path : NULL;
}

/* An exact-size heap copy, so that ASan sees any read past len. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (p && size)
        memcpy(p, data, size);
    return p;
}

#endif
