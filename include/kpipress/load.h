/* The load stage: every source of a job, through its preset's column mapping and the
 * value parsers, into the canonical STRICT tables, in one transaction. Rows that cannot
 * be loaded go to <output_dir>/rejects/<source>.csv and dq_issues. */
#ifndef KPIPRESS_LOAD_H
#define KPIPRESS_LOAD_H

#include "kpipress/date.h"
#include "kpipress/err.h"
#include "kpipress/job.h"
#include "kpipress/store.h"

#include <stdint.h>

typedef struct kp_load_stats {
    long rows_read[KP_MAX_SOURCES];
    long rows_loaded[KP_MAX_SOURCES];
    long rows_rejected[KP_MAX_SOURCES];
    long rows_warned[KP_MAX_SOURCES];
    long rows_skipped[KP_MAX_SOURCES]; /* recognised footer rows */
    /* Opportunities: rows the duplicate filter flagged (false candidates included), and
     * 1 when they were checked by a scan of the snapshot rather than by the key spill. */
    long dup_candidates[KP_MAX_SOURCES];
    int dup_scan[KP_MAX_SOURCES];
} kp_load_stats;

/* Create the canonical schema if missing (idempotent); fills the snapshot catalogue of a
 * database made before it. */
kp_err kp_load_schema(kp_store *s, kp_error *e);

/* Load all sources of a resolved job. One transaction: on any error nothing is changed.
 * Rejects over job->max_reject_pct: KP_ERR_DATA, nothing loaded. */
kp_err kp_load_run(const kp_job *job, kp_store *s, kp_load_stats *stats, kp_error *e);

/* The snapshot a run as of a date reads, the latest at or before it, as the load's
 * catalogue table `snapshots` has it: its as-of date and rowid range, so that queries
 * read its rows only, in table order, without an index. */
typedef struct kp_snapshot {
    int in_catalogue;                  /* 0: no catalogue, or an empty one (see below) */
    char as_of[KP_DATE_ISO_LEN + 1];   /* "" when none is at or before the date */
    int64_t first_rowid, last_rowid;   /* first > last when none */
} kp_snapshot;

/* Fill *out for as_of (ISO). A database without a catalogue, or with an empty one (opened
 * before any load by this version, or filled other than by the load), gives
 * in_catalogue = 0: the caller then finds the snapshot by max(as_of) over the table. */
kp_err kp_load_find_snapshot(kp_store *s, const char *as_of, kp_snapshot *out, kp_error *e);

/* The bytes of the duplicate-deal filter for an opportunities file of file_bytes bytes
 * (-1 when its size is unknown, e.g. a pipe): a power of two from 64 KiB to 8 MiB, about
 * 64 bits a row for rows of 128 bytes or more. Public for its test. */
size_t kp_load_bloom_bytes(long long file_bytes);

/* The snapshot indexes, built here when missing (a load leaves them out: each costs a
 * sort of the table, about half a second at 1M deals, and only queries need them):
 * KP_LOAD_INDEX_KEY (as_of, opp_id) for the history joins of a database with two or more
 * snapshots (which snapshot a query reads, and its rowid range, are in the load's
 * catalogue table `snapshots`); KP_LOAD_INDEX_OWNER (owner_id, as_of) for the
 * per-rep queries of burst reports. Changes temp_store while it builds, which drops TEMP
 * objects: call it before creating any. */
enum { KP_LOAD_INDEX_KEY = 1, KP_LOAD_INDEX_OWNER = 2 };
kp_err kp_load_ensure_indexes(kp_store *s, unsigned which, kp_error *e);

#endif
