/* Bulk insert for the load stage. SQLite spends most of a naive load executing one
 * INSERT per row; binding many rows into one multi-row INSERT (the caller says how many)
 * cuts that overhead by more than half, binding only the parameters whose value changed
 * since the previous statement cuts the binding, and a second thread that runs the
 * inserts while the caller parses the next batch hides most of what remains. Three
 * fixed-size batches circulate between the two threads, so memory does not grow with
 * the number of rows. */
#include "kpipress/bulk.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_ROWS 2048
#define NBATCH 3

/* A queued value in 8 bytes, its type (KP_BV_*) apart in a byte: the batches are written
 * by one thread and read by the other, so the fewer bytes the less memory and traffic
 * between the cores (40-byte values made 2 MB a batch). */
typedef union val {
    int64_t i;
    double d;
    struct {
        uint32_t off, n; /* text in the batch arena */
    } t;
} val;

#define ARENA_MAX UINT32_MAX /* offsets and lengths of text are 32-bit */

/* A queued value's type byte: the public KP_BV_* types, and interned text (v->i: its
 * handle), which lives as long as the kp_bulk. */
#define BV_REF (KP_BV_TEXT + 1)

typedef struct ref {
    char *s;
    size_t n;
} ref;

typedef struct batch {
    size_t nrows, nvals;
    int kind[BATCH_ROWS];
    long line[BATCH_ROWS];
    val vals[BATCH_ROWS * KP_BULK_MAX_COLS];
    unsigned char type[BATCH_ROWS * KP_BULK_MAX_COLS];
    char *arena;
    size_t used, cap;
    int nomem; /* an arena allocation failed while queueing */
} batch;

/* What a parameter is bound to now: its type byte and, for an integer, a real (its bits)
 * or interned text (its handle), the value. */
typedef struct bound {
    unsigned char type;
    uint64_t bits;
} bound;

/* A statement whose bindings stay from one step to the next (kp_stmt_reset_keep), so
 * that a parameter holding the value it held in the previous statement is not bound
 * again: NULL (a column empty in most rows), the same integer or real (closed and won
 * flags, probabilities), the same interned text (stages, categories, the currency); a
 * bind was a third of the insert thread. Text queued in a batch is bound every time: it
 * points into the batch (SQLITE_STATIC), which is reused after the step. */
typedef struct insert_stmt {
    kp_stmt *st;
    bound *bound; /* by parameter index (from 1) */
} insert_stmt;

struct kp_bulk {
    kp_store *s;
    kp_bulk_kind kinds[KP_BULK_MAX_KINDS];
    size_t nkinds;
    insert_stmt one[KP_BULK_MAX_KINDS], multi[KP_BULK_MAX_KINDS];
    void *user;
    long inserted[KP_BULK_MAX_KINDS];

    batch *bufs[NBATCH];
    batch *cur;

    /* Interned text: written by the queueing side before the rows that use it are handed
     * over (under the mutex), never moved, read by the inserting side. */
    ref refs[KP_BULK_MAX_REFS];
    int nrefs;

    int threaded, started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch *full[NBATCH];
    size_t nfull;
    batch *idle[NBATCH];
    size_t nidle;
    int done;
    kp_err err;     /* first error of the inserting side */
    kp_error cerr;  /* its message */
};

/* ---- the inserting side --------------------------------------------------------------- */

/* Values a row of kind kd queues (its shared first column is not queued). */
static int queued(const kp_bulk_kind *kd)
{
    return kd->ncols - (kd->shared_first != NULL);
}

static void to_public(const batch *b, const ref *refs, size_t first, const kp_bulk_kind *kd,
                      kp_bulk_value *out)
{
    if (kd->shared_first) {
        *out++ = (kp_bulk_value){KP_BV_TEXT, 0, 0, kd->shared_first, strlen(kd->shared_first)};
    }
    for (int c = 0; c < queued(kd); c++) {
        const val *v = &b->vals[first + (size_t)c];
        int type = b->type[first + (size_t)c];
        out[c].type = type == BV_REF ? KP_BV_TEXT : type;
        out[c].i = type == KP_BV_INT ? v->i : 0;
        out[c].d = type == KP_BV_REAL ? v->d : 0;
        out[c].s = type == KP_BV_TEXT ? b->arena + v->t.off : type == BV_REF ? refs[v->i].s : NULL;
        out[c].n = type == KP_BV_TEXT ? v->t.n : type == BV_REF ? refs[v->i].n : 0;
    }
}

/* Bind the queued values of the row at first as parameters base + 1.. of is, those that
 * changed since the previous statement. */
static void bind_row(insert_stmt *is, int base, const batch *b, const ref *refs, size_t first,
                     int nvals)
{
    kp_stmt *st = is->st;
    for (int c = 0; c < nvals; c++) {
        const val *v = &b->vals[first + (size_t)c];
        int idx = base + c + 1, type = b->type[first + (size_t)c];
        bound *now = &is->bound[idx];
        uint64_t bits = 0;
        if (type == KP_BV_INT || type == BV_REF)
            bits = (uint64_t)v->i;
        else if (type == KP_BV_REAL)
            memcpy(&bits, &v->d, sizeof bits);
        if (type != KP_BV_TEXT && now->type == type && now->bits == bits)
            continue;
        now->type = (unsigned char)type;
        now->bits = bits;
        switch (type) {
        case KP_BV_NULL: kp_stmt_bind_null(st, idx); break;
        case KP_BV_INT: kp_stmt_bind_int64(st, idx, v->i); break;
        case KP_BV_REAL: kp_stmt_bind_double(st, idx, v->d); break;
        /* Not copied: interned text lives as long as the statement ... */
        case BV_REF: kp_stmt_bind_text_static(st, idx, refs[v->i].s, refs[v->i].n); break;
        /* ... and the batch outlives the statement's step and reset. */
        default: kp_stmt_bind_text_static(st, idx, b->arena + v->t.off, v->t.n); break;
        }
    }
}

/* One row alone; a constraint failure goes to the kind's duplicate handler. */
static kp_err insert_one(kp_bulk *k, const batch *b, size_t row, size_t first, kp_error *e)
{
    int kind = b->kind[row];
    const kp_bulk_kind *kd = &k->kinds[kind];
    insert_stmt *is = &k->one[kind];
    bind_row(is, kd->shared_first != NULL, b, k->refs, first, queued(kd));
    int r = kp_stmt_step(is->st, e);
    kp_stmt_reset_keep(is->st);
    if (r >= 0) {
        k->inserted[kind]++;
        return KP_OK;
    }
    if (e->code != KP_ERR_DATA || !kd->on_dup)
        return e->code;
    kp_bulk_value vals[KP_BULK_MAX_COLS];
    to_public(b, k->refs, first, kd, vals);
    return kd->on_dup(k->user, kind, b->line[row], vals, e);
}

static kp_err process(kp_bulk *k, batch *b, kp_error *e)
{
    kp_err rc;
    size_t row = 0, first = 0;
    if (b->nomem)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    while (row < b->nrows) {
        int kind = b->kind[row];
        const kp_bulk_kind *kd = &k->kinds[kind];
        size_t per = kd->rows_per_stmt, run = 1;
        int nq = queued(kd), shared = kd->shared_first != NULL;
        while (row + run < b->nrows && b->kind[row + run] == kind && run < per)
            run++;
        if (per > 1 && run == per) {
            insert_stmt *is = &k->multi[kind];
            for (size_t r = 0; r < per; r++)
                bind_row(is, shared + (int)r * nq, b, k->refs, first + r * (size_t)nq, nq);
            int ok = kp_stmt_step(is->st, e) >= 0;
            kp_stmt_reset_keep(is->st);
            if (ok) {
                k->inserted[kind] += (long)per;
                row += per;
                first += per * (size_t)nq;
                continue;
            }
            if (e->code != KP_ERR_DATA || !kd->on_dup)
                return e->code;
            /* A constraint failed somewhere in the statement, which inserted nothing:
             * redo its rows one by one to find the duplicate(s). */
        }
        for (size_t r = 0; r < run; r++) {
            if ((rc = insert_one(k, b, row, first, e)))
                return rc;
            row++;
            first += (size_t)nq;
        }
    }
    return KP_OK;
}

static void batch_reset(batch *b)
{
    b->nrows = b->nvals = b->used = 0;
    b->nomem = 0;
}

static void *inserter(void *arg)
{
    kp_bulk *k = arg;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->nfull && !k->done)
            pthread_cond_wait(&k->cv, &k->mu);
        if (!k->nfull)
            break;
        batch *b = k->full[0];
        memmove(k->full, k->full + 1, --k->nfull * sizeof *k->full);
        int failed = k->err != KP_OK;
        pthread_mutex_unlock(&k->mu);
        kp_error e = {0};
        kp_err rc = failed ? KP_OK : process(k, b, &e);
        batch_reset(b);
        pthread_mutex_lock(&k->mu);
        if (rc && !k->err) {
            k->err = rc;
            k->cerr = e;
        }
        k->idle[k->nidle++] = b;
        pthread_cond_broadcast(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* ---- the queueing side ---------------------------------------------------------------- */

static kp_err copy_error(kp_bulk *k, kp_error *e)
{
    if (e)
        *e = k->cerr;
    return k->err;
}

/* Hand the current batch over and take an idle one. */
static kp_err hand_over(kp_bulk *k, kp_error *e)
{
    if (!k->threaded) {
        kp_err rc = process(k, k->cur, e);
        batch_reset(k->cur);
        return rc;
    }
    pthread_mutex_lock(&k->mu);
    k->full[k->nfull++] = k->cur;
    pthread_cond_broadcast(&k->cv);
    while (!k->nidle)
        pthread_cond_wait(&k->cv, &k->mu);
    k->cur = k->idle[--k->nidle];
    kp_err rc = k->err;
    pthread_mutex_unlock(&k->mu);
    return rc ? copy_error(k, e) : KP_OK;
}

static char *multi_sql(const kp_bulk_kind *kd, size_t rows)
{
    size_t one = (size_t)kd->ncols * 2 + 4, n = strlen(kd->insert) + 8 + rows * one;
    char *sql = malloc(n);
    if (!sql)
        return NULL;
    size_t o = (size_t)snprintf(sql, n, "%s VALUES", kd->insert);
    for (size_t r = 0; r < rows; r++) {
        sql[o++] = r ? ',' : ' ';
        sql[o++] = '(';
        for (int c = 0; c < kd->ncols; c++) {
            if (c)
                sql[o++] = ',';
            sql[o++] = '?';
            if (!c && kd->shared_first) /* ?1 in every row; a plain ? numbers on after it */
                sql[o++] = '1';
        }
        sql[o++] = ')';
    }
    sql[o] = '\0';
    return sql;
}

/* Prepare the INSERT of rows rows of kind kd: its parameters are NULL until bound, but
 * ?1, bound here for good when the kind has a shared first column. */
static kp_err insert_prepare(kp_store *s, const kp_bulk_kind *kd, size_t rows, insert_stmt *is,
                             kp_error *e)
{
    char *sql = multi_sql(kd, rows);
    size_t nparams = rows * (size_t)queued(kd) + (kd->shared_first != NULL);
    kp_err rc = KP_ERR_NOMEM;
    /* calloc: every parameter NULL, as a new statement's are */
    if (!sql || !(is->bound = calloc(nparams + 1, sizeof *is->bound))) {
        free(sql);
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    rc = kp_store_prepare(s, sql, NULL, 0, &is->st, e);
    free(sql);
    if (!rc && kd->shared_first) {
        is->bound[1].type = KP_BV_TEXT; /* never compared: ?1 is no row's */
        if (kp_stmt_bind_text(is->st, 1, kd->shared_first, strlen(kd->shared_first)))
            rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    }
    return rc;
}

static void insert_free(insert_stmt *is)
{
    kp_stmt_finalize(is->st);
    free(is->bound);
}

kp_err kp_bulk_open(kp_store *s, const kp_bulk_kind *kinds, size_t nkinds, int threaded,
                    void *user, kp_bulk **out, kp_error *e)
{
    kp_err rc = KP_ERR_NOMEM;
    *out = NULL;
    kp_bulk *k = calloc(1, sizeof *k);
    if (!k)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    k->s = s;
    k->user = user;
    k->nkinds = nkinds;
    memcpy(k->kinds, kinds, nkinds * sizeof *kinds);
    for (size_t i = 0; i < nkinds; i++) {
        rc = insert_prepare(s, &kinds[i], 1, &k->one[i], e);
        if (!rc && kinds[i].rows_per_stmt > 1)
            rc = insert_prepare(s, &kinds[i], kinds[i].rows_per_stmt, &k->multi[i], e);
        if (rc)
            goto fail;
    }
    rc = KP_ERR_NOMEM;
    for (size_t i = 0; i < (threaded ? NBATCH : 1); i++) {
        if (!(k->bufs[i] = calloc(1, sizeof *k->bufs[i])))
            goto fail;
        if (i)
            k->idle[k->nidle++] = k->bufs[i];
    }
    k->cur = k->bufs[0];
    if (threaded) {
        pthread_mutex_init(&k->mu, NULL);
        pthread_cond_init(&k->cv, NULL);
        k->threaded = 1;
        if (pthread_create(&k->thread, NULL, inserter, k) != 0) {
            rc = kp_error_set(e, KP_ERR_IO, NULL, 0, 0, "cannot start the insert thread");
            goto fail;
        }
        k->started = 1;
    }
    *out = k;
    return KP_OK;
fail:
    if (rc == KP_ERR_NOMEM)
        kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    kp_bulk_free(k);
    return rc;
}

void kp_bulk_row(kp_bulk *b, int kind, long line)
{
    batch *t = b->cur;
    t->kind[t->nrows] = kind;
    t->line[t->nrows] = line;
}

/* The next value of the current row, typed type. */
static val *next_val(kp_bulk *b, int type)
{
    batch *t = b->cur;
    t->type[t->nvals] = (unsigned char)type;
    return &t->vals[t->nvals++];
}

void kp_bulk_null(kp_bulk *b)
{
    next_val(b, KP_BV_NULL);
}

void kp_bulk_int(kp_bulk *b, int64_t i)
{
    next_val(b, KP_BV_INT)->i = i;
}

void kp_bulk_real(kp_bulk *b, double d)
{
    next_val(b, KP_BV_REAL)->d = d;
}

void kp_bulk_text(kp_bulk *b, const char *s, size_t n)
{
    batch *t = b->cur;
    if (t->used + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1 << 16;
        while (cap < t->used + n + 1)
            cap *= 2;
        char *p = cap <= ARENA_MAX ? realloc(t->arena, cap) : NULL;
        if (!p) {
            t->nomem = 1;
            next_val(b, KP_BV_NULL);
            return;
        }
        t->arena = p;
        t->cap = cap;
    }
    memcpy(t->arena + t->used, s, n);
    t->arena[t->used + n] = '\0';
    val *v = next_val(b, KP_BV_TEXT);
    v->t.off = (uint32_t)t->used;
    v->t.n = (uint32_t)n;
    t->used += n + 1;
}

int kp_bulk_intern(kp_bulk *b, const char *s, size_t n)
{
    if (b->nrefs == KP_BULK_MAX_REFS)
        return -1;
    ref *r = &b->refs[b->nrefs];
    if (!(r->s = malloc(n + 1)))
        return -1;
    memcpy(r->s, s, n);
    r->s[n] = '\0';
    r->n = n;
    return b->nrefs++;
}

const char *kp_bulk_interned(const kp_bulk *b, int handle, size_t *n)
{
    assert(handle >= 0 && handle < b->nrefs);
    *n = b->refs[handle].n;
    return b->refs[handle].s;
}

void kp_bulk_ref(kp_bulk *b, int handle)
{
    assert(handle >= 0 && handle < b->nrefs);
    next_val(b, BV_REF)->i = handle;
}

kp_err kp_bulk_end(kp_bulk *b, kp_error *e)
{
    batch *t = b->cur;
    if (++t->nrows < BATCH_ROWS &&
        t->nvals + KP_BULK_MAX_COLS <= sizeof t->vals / sizeof t->vals[0])
        return KP_OK;
    return hand_over(b, e);
}

static kp_err stop(kp_bulk *b)
{
    if (!b->started)
        return KP_OK;
    pthread_mutex_lock(&b->mu);
    b->done = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->started = 0;
    return b->err;
}

kp_err kp_bulk_flush(kp_bulk *b, kp_error *e)
{
    return b->cur->nrows ? hand_over(b, e) : KP_OK;
}

kp_err kp_bulk_finish(kp_bulk *b, kp_error *e)
{
    kp_err rc = KP_OK;
    if (b->cur->nrows)
        rc = hand_over(b, e);
    if (b->threaded && stop(b) && !rc)
        rc = copy_error(b, e);
    return rc;
}

long kp_bulk_inserted(const kp_bulk *b, int kind)
{
    return b->inserted[kind];
}

void kp_bulk_free(kp_bulk *b)
{
    if (!b)
        return;
    stop(b);
    if (b->threaded) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
    }
    for (size_t i = 0; i < b->nkinds; i++) {
        insert_free(&b->one[i]);
        insert_free(&b->multi[i]);
    }
    for (size_t i = 0; i < NBATCH; i++)
        if (b->bufs[i]) {
            free(b->bufs[i]->arena);
            free(b->bufs[i]);
        }
    for (int i = 0; i < b->nrefs; i++)
        free(b->refs[i].s);
    free(b);
}
