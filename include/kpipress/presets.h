/* Presets: how the exports of one CRM (Salesforce, HubSpot, Pipedrive) or a plain
 * "generic" file map onto the canonical tables. Per source kind, the canonical fields
 * with the export header names that feed each, their value types and which are required;
 * per preset, the percent style and the default stage rules. Static data, nothing to free. */
#ifndef KPIPRESS_PRESETS_H
#define KPIPRESS_PRESETS_H

#include "kpipress/job.h"
#include "kpipress/value.h"
#include <stddef.h>

typedef enum {
    KP_VT_TEXT = 0,
    KP_VT_DATE,
    KP_VT_MONEY,
    KP_VT_PERCENT,
    KP_VT_BOOL,
    KP_VT_INT,    /* whole number, e.g. minutes */
    KP_VT_MONTH,  /* "2024-03", "2024-03-01", "3/2024" or any date: stored as its month's 1st */
    KP_VT_NUMBER  /* positive decimal, e.g. an exchange rate */
} kp_value_type;

typedef struct kp_field_def {
    const char *field;            /* canonical name, as used in `map.FIELD = Header` */
    kp_value_type type;
    int required;                 /* the column must exist (values checked by the loader) */
    const char *const *headers;   /* aliases in priority order, NULL-terminated */
    const char *column;           /* table column when not the field name (optional sources) */
} kp_field_def;

typedef struct kp_stage_rule {
    const char *stage;        /* matched case-insensitively, surrounding spaces ignored */
    int order;                /* position in the pipeline, 1-based */
    double probability;       /* fraction 0..1, or -1 when the CRM sets none */
    int is_closed, is_won;
    const char *forecast_category; /* NULL when the CRM sets none */
} kp_stage_rule;

typedef struct kp_preset {
    const char *name;
    kp_pct_style pct_style;       /* how the probability column is written */
    const kp_field_def *fields[KP_SRC_KIND_COUNT];
    size_t nfields[KP_SRC_KIND_COUNT];
    const kp_stage_rule *stages;
    size_t nstages;
    /* 1 when the CRM's pipelines are user-defined (generic, Pipedrive): a stage that is in
     * no rule is an open deal, not a data error. */
    int open_unknown_stages;
} kp_preset;

/* Preset by name (case-insensitive), or NULL. NULL or "" gives "generic". */
const kp_preset *kp_presets_find(const char *name);

/* Comma-separated preset names, for error messages. */
const char *kp_presets_names(void);

/* Field definition of kind by canonical name ("owner_id" and "manager_id" are accepted
 * for "owner" and "manager"), or NULL. */
const kp_field_def *kp_presets_field(const kp_preset *p, kp_source_kind kind,
                                     const char *field);

/* Table of an optional source kind ("accounts"...), NULL for opportunities/reps/quotas. */
const char *kp_presets_table(kp_source_kind kind);

/* Stage rule for stage text (len bytes), or NULL. */
const kp_stage_rule *kp_presets_stage(const kp_preset *p, const char *stage, size_t len);

/* 1 if an export header equals name, ignoring ASCII case and spaces around either. */
int kp_presets_header_eq(const char *header, size_t len, const char *name);

#endif
