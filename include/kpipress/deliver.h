/* Delivery: atomic output files (temporary name in the target directory, fsync, rename),
 * SHA-256 of inputs and outputs, and the run's manifest (manifest.csv + manifest.json). */
#ifndef KPIPRESS_DELIVER_H
#define KPIPRESS_DELIVER_H

#include "kpipress/err.h"
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct kp_outfile {
    char *final_path; /* where the file lands */
    char *tmp_path;   /* ".<name>.tmp-<pid>-<n>" in the same directory */
} kp_outfile;

/* Create the parent directories of final_path (mode 0755) and choose a temporary path
 * beside it. Nothing is created at tmp_path yet: the caller writes it (a renderer). */
kp_err kp_outfile_begin(kp_outfile *of, const char *final_path, kp_error *e);
/* fsync tmp_path, rename it to final_path, fsync the directory; frees the paths. */
kp_err kp_outfile_commit(kp_outfile *of, kp_error *e);
/* Remove tmp_path if it exists; frees the paths. NULL-safe, safe after commit. */
void kp_outfile_abort(kp_outfile *of);
/* Remove temporaries left under dir (and its subdirectories) by processes of this host
 * that no longer exist (a killed run), and every scratch directory (KP_SCRATCH_DIR) with
 * what is in it: call it only while no other process writes there (the run's lock held,
 * no --shard). Returns how many files were removed. */
long kp_outfile_sweep(const char *dir);

/* Hidden directory beside a document where a library keeps its own temporary files
 * (libxlsxwriter's constant-memory sheets). Those files are unlinked while open, but a
 * process killed between creating and unlinking one leaves it behind under a name we do
 * not choose ("tmp.XXXXXXXX"); in here it is never mistaken for a document and the next
 * run's sweep removes it. */
#define KP_SCRATCH_DIR ".kpipress-scratch"

/* The scratch directory beside final_path, created (mode 0700) if missing, into buf. */
kp_err kp_scratch_dir(const char *final_path, char *buf, size_t size, kp_error *e);

/* Write final_path atomically through a stdio stream: fn writes the content to f and
 * returns KP_OK or an error (with e set). On any failure, including a short write or a
 * failed fclose (disk full), nothing appears at final_path. */
typedef kp_err (*kp_outfile_fn)(FILE *f, const void *ctx, kp_error *e);
kp_err kp_outfile_write(const char *final_path, kp_outfile_fn fn, const void *ctx, kp_error *e);

/* Create directory path and its parents (like mkdir -p). */
kp_err kp_mkdirs(const char *path, kp_error *e);

/* SHA-256 of a file as 64 lowercase hex digits plus NUL; *bytes gets the size if non-NULL. */
kp_err kp_sha256_file(const char *path, char hex[65], uint64_t *bytes, kp_error *e);

/* s as a JSON string literal ("null" for NULL); invalid UTF-8 bytes become U+FFFD. */
void kp_json_write_string(FILE *f, const char *s);

typedef struct kp_manifest kp_manifest;

kp_manifest *kp_manifest_new(void);
void kp_manifest_free(kp_manifest *m); /* NULL-safe */
/* Record a complete output file: its size and SHA-256 are read from path now. key,
 * recipient and subject may be NULL. path is stored relative to the manifest directory
 * when it lies under it. */
kp_err kp_manifest_add(kp_manifest *m, const char *report, const char *key, const char *path,
                       const char *recipient, const char *subject, kp_error *e);
/* Rows sorted by (report, path) so the manifest is deterministic whatever the order of
 * completion. Writes dir/manifest.csv and dir/manifest.json atomically. */
kp_err kp_manifest_write(kp_manifest *m, const char *dir, kp_error *e);

#endif
