/* The scan expression evaluator (see include/kpipress/expr.h). The semantics follow the
 * SQLite this links (3.40: vdbe.c's OP_Add/OP_Eq/OP_And..., date.c's computeJD); where
 * they would need more than the few lines here (affinity conversions, mixed integer and
 * real comparison, integer overflow to real, lenient date forms) the row is refused. */
#include "kpipress/expr.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    X_COL,
    X_INT,
    X_TEXT,
    X_NULL,
    X_NOT,
    X_AND,
    X_OR,
    X_ISNULL,
    X_NOTNULL,
    X_EQ,
    X_NE,
    X_LT,
    X_LE,
    X_GT,
    X_GE,
    X_ADD,
    X_SUB,
    X_MUL,
    X_COALESCE,
    X_JULIANDAY
} xop;

typedef struct {
    xop op;
    int a, b;  /* operands (node indices); coalesce: args[a .. a + b) of x->args */
    int64_t i; /* X_INT */
    int col;   /* X_COL */
    char *s;   /* X_TEXT */
    size_t n;
} xnode;

struct kp_expr {
    xnode *node;
    int n, cap, root;
    int *args, nargs, capargs;
};

/* ---- parsing --------------------------------------------------------------------------- */

typedef enum { T_END, T_ID, T_INT, T_STR, T_OP, T_BAD } ttype;

typedef struct {
    const char *p;
    ttype t;
    const char *s; /* token text */
    size_t n;
    kp_expr *x;
    kp_expr_column_fn column;
    void *ctx;
    int oom;
} parser;

static void next(parser *ps)
{
    const char *p = ps->p;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    ps->s = p;
    if (!*p) {
        ps->t = T_END;
    } else if (isalpha((unsigned char)*p) || *p == '_') {
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        ps->t = T_ID;
    } else if (isdigit((unsigned char)*p)) {
        while (isdigit((unsigned char)*p))
            p++;
        /* reals, hex and 1e5 are not integers: not compiled */
        ps->t = isalnum((unsigned char)*p) || *p == '.' || *p == '_' ? T_BAD : T_INT;
    } else if (*p == '\'') {
        for (p++;; p++) {
            if (!*p) {
                ps->t = T_BAD;
                break;
            }
            if (*p == '\'' && p[1] == '\'') {
                p++;
                continue;
            }
            if (*p == '\'') {
                p++;
                ps->t = T_STR;
                break;
            }
        }
    } else {
        static const char *const ops[] = {"==", "!=", "<>", "<=", ">=", "=", "<", ">",
                                          "+",  "-",  "*",  "(",  ")",  ",", NULL};
        ps->t = T_BAD;
        for (int k = 0; ops[k]; k++)
            if (!strncmp(p, ops[k], strlen(ops[k]))) {
                p += strlen(ops[k]);
                ps->t = T_OP;
                break;
            }
        /* "--" comments, "/", "%", "||" and the rest: not compiled */
        if (ps->t == T_OP && ps->s[0] == '-' && p[0] == '-')
            ps->t = T_BAD;
    }
    ps->n = (size_t)(p - ps->s);
    ps->p = p;
}

static int is_op(const parser *ps, const char *op)
{
    return ps->t == T_OP && ps->n == strlen(op) && !strncmp(ps->s, op, ps->n);
}

static int is_kw(const parser *ps, const char *kw)
{
    return ps->t == T_ID && ps->n == strlen(kw) && !strncasecmp(ps->s, kw, ps->n);
}

static int add_node(parser *ps, xnode nd)
{
    kp_expr *x = ps->x;
    if (x->n == x->cap) {
        int cap = x->cap ? 2 * x->cap : 16;
        xnode *n = realloc(x->node, (size_t)cap * sizeof *n);
        if (!n) {
            ps->oom = 1;
            free(nd.s);
            return -1;
        }
        x->node = n;
        x->cap = cap;
    }
    x->node[x->n] = nd;
    return x->n++;
}

static int binary(parser *ps, xop op, int a, int b)
{
    if (a < 0 || b < 0)
        return -1;
    return add_node(ps, (xnode){op, a, b, 0, 0, NULL, 0});
}

static int parse_or(parser *ps);

static int parse_call(parser *ps, const char *name, size_t len)
{
    int args[64], n = 0;
    next(ps); /* ( */
    if (!is_op(ps, ")"))
        for (;;) {
            if (n == 64)
                return -1;
            if ((args[n++] = parse_or(ps)) < 0)
                return -1;
            if (is_op(ps, ")"))
                break;
            if (!is_op(ps, ","))
                return -1;
            next(ps);
        }
    next(ps); /* ) */
    if (len == 8 && !strncasecmp(name, "coalesce", len) && n >= 2) {
        kp_expr *x = ps->x;
        if (x->nargs + n > x->capargs) {
            int cap = 2 * (x->nargs + n) + 16;
            int *a = realloc(x->args, (size_t)cap * sizeof *a);
            if (!a) {
                ps->oom = 1;
                return -1;
            }
            x->args = a;
            x->capargs = cap;
        }
        memcpy(x->args + x->nargs, args, (size_t)n * sizeof *args);
        x->nargs += n;
        return add_node(ps, (xnode){X_COALESCE, x->nargs - n, n, 0, 0, NULL, 0});
    }
    if (len == 9 && !strncasecmp(name, "julianday", len) && n == 1)
        return add_node(ps, (xnode){X_JULIANDAY, args[0], -1, 0, 0, NULL, 0});
    return -1;
}

static int parse_primary(parser *ps)
{
    if (is_op(ps, "(")) {
        next(ps);
        int a = parse_or(ps);
        if (a < 0 || !is_op(ps, ")"))
            return -1;
        next(ps);
        return a;
    }
    if (ps->t == T_INT) {
        int64_t v = 0;
        for (size_t k = 0; k < ps->n; k++) {
            int d = ps->s[k] - '0';
            if (v > (INT64_MAX - d) / 10)
                return -1; /* SQLite reads it as a real */
            v = 10 * v + d;
        }
        next(ps);
        return add_node(ps, (xnode){X_INT, -1, -1, v, 0, NULL, 0});
    }
    if (ps->t == T_STR) {
        char *s = malloc(ps->n);
        if (!s) {
            ps->oom = 1;
            return -1;
        }
        size_t n = 0;
        for (size_t k = 1; k + 1 < ps->n; k++) {
            s[n++] = ps->s[k];
            if (ps->s[k] == '\'')
                k++; /* '' */
        }
        next(ps);
        return add_node(ps, (xnode){X_TEXT, -1, -1, 0, 0, s, n});
    }
    if (ps->t == T_ID) {
        const char *name = ps->s;
        size_t len = ps->n;
        next(ps);
        if (is_op(ps, "("))
            return parse_call(ps, name, len);
        if (len == 4 && !strncasecmp(name, "null", 4))
            return add_node(ps, (xnode){X_NULL, -1, -1, 0, 0, NULL, 0});
        static const char *const words[] = {"and",  "or",      "not",    "is",   "case",    "when",
                                            "then", "else",    "end",    "in",   "between", "like",
                                            "glob", "collate", "exists", "cast", "select",  NULL};
        for (int k = 0; words[k]; k++)
            if (len == strlen(words[k]) && !strncasecmp(name, words[k], len))
                return -1;
        int col = ps->column(ps->ctx, name, len);
        if (col < 0)
            return -1; /* not a column (TRUE, FALSE, rowid, a typo...) */
        return add_node(ps, (xnode){X_COL, -1, -1, 0, col, NULL, 0});
    }
    return -1;
}

static int parse_unary(parser *ps)
{
    if (is_op(ps, "-")) { /* SQLite: 0 - x (a literal folded to its negative, the same) */
        next(ps);
        int a = parse_unary(ps);
        int zero = a < 0 ? -1 : add_node(ps, (xnode){X_INT, -1, -1, 0, 0, NULL, 0});
        return binary(ps, X_SUB, zero, a);
    }
    if (is_op(ps, "+")) {
        next(ps);
        return parse_unary(ps);
    }
    return parse_primary(ps);
}

/* The binary operators of one precedence level, left-associative. */
typedef struct {
    const char *tok; /* an operator, or a keyword */
    int kw;
    xop op;
} binop;

static int parse_left(parser *ps, int (*operand)(parser *), const binop *ops)
{
    int a = operand(ps);
    for (size_t k = 0; a >= 0 && ops[k].tok;) {
        if (!(ops[k].kw ? is_kw(ps, ops[k].tok) : is_op(ps, ops[k].tok))) {
            k++;
            continue;
        }
        next(ps);
        a = binary(ps, ops[k].op, a, operand(ps));
        k = 0;
    }
    return a;
}

static int parse_mul(parser *ps)
{
    static const binop ops[] = {{"*", 0, X_MUL}, {NULL, 0, X_MUL}};
    return parse_left(ps, parse_unary, ops);
}

static int parse_add(parser *ps)
{
    static const binop ops[] = {{"+", 0, X_ADD}, {"-", 0, X_SUB}, {NULL, 0, X_ADD}};
    return parse_left(ps, parse_mul, ops);
}

static int parse_rel(parser *ps)
{
    static const binop ops[] = {
        {"<", 0, X_LT}, {"<=", 0, X_LE}, {">", 0, X_GT}, {">=", 0, X_GE}, {NULL, 0, X_LT}};
    return parse_left(ps, parse_add, ops);
}

static int parse_eq(parser *ps)
{
    int a = parse_rel(ps);
    for (;;) {
        if (a < 0)
            return a;
        if (is_op(ps, "=") || is_op(ps, "==") || is_op(ps, "!=") || is_op(ps, "<>")) {
            xop op = is_op(ps, "=") || is_op(ps, "==") ? X_EQ : X_NE;
            next(ps);
            a = binary(ps, op, a, parse_rel(ps));
        } else if (is_kw(ps, "is")) { /* only IS [NOT] NULL */
            next(ps);
            int neg = is_kw(ps, "not");
            if (neg)
                next(ps);
            int b = parse_rel(ps);
            if (b < 0 || ps->x->node[b].op != X_NULL)
                return -1;
            a = binary(ps, neg ? X_NOTNULL : X_ISNULL, a, b);
        } else {
            return a;
        }
    }
}

static int parse_not(parser *ps)
{
    if (is_kw(ps, "not")) {
        next(ps);
        int a = parse_not(ps);
        return a < 0 ? -1 : add_node(ps, (xnode){X_NOT, a, -1, 0, 0, NULL, 0});
    }
    return parse_eq(ps);
}

static int parse_and(parser *ps)
{
    static const binop ops[] = {{"and", 1, X_AND}, {NULL, 0, X_AND}};
    return parse_left(ps, parse_not, ops);
}

static int parse_or(parser *ps)
{
    static const binop ops[] = {{"or", 1, X_OR}, {NULL, 0, X_OR}};
    return parse_left(ps, parse_and, ops);
}

void kp_expr_free(kp_expr *x)
{
    if (!x)
        return;
    for (int k = 0; k < x->n; k++)
        free(x->node[k].s);
    free(x->node);
    free(x->args);
    free(x);
}

kp_expr *kp_expr_compile(const char *sql, kp_expr_column_fn column, void *ctx, int *oom)
{
    kp_expr *x = calloc(1, sizeof *x);
    if (!x) {
        *oom = 1;
        return NULL;
    }
    parser ps = {sql, T_END, sql, 0, x, column, ctx, 0};
    next(&ps);
    x->root = parse_or(&ps);
    if (x->root < 0 || ps.t != T_END) {
        if (ps.oom)
            *oom = 1;
        kp_expr_free(x);
        return NULL;
    }
    return x;
}

/* ---- evaluation ------------------------------------------------------------------------ */

static const kp_xval xnull = {KP_COL_NULL, 0, 0, NULL, 0};

static kp_xval xint(int64_t i)
{
    kp_xval v = {KP_COL_INTEGER, i, 0, NULL, 0};
    return v;
}

/* A value's truth as AND, OR, NOT and CASE WHEN read it: 1, 0, 2 for NULL, -1 for text
 * (which SQLite would read as a number first). */
static int truth(const kp_xval *v)
{
    switch (v->t) {
    case KP_COL_NULL: return 2;
    case KP_COL_INTEGER: return v->i != 0;
    case KP_COL_REAL: return v->d != 0.0;
    default: return -1;
    }
}

/* Is text v a well-formed number (spaces, sign, digits, fraction, exponent, spaces), one
 * that numeric affinity would turn into a number? Then a comparison with it might not
 * be a comparison of text: refused. */
static int numeric_text(const kp_xval *v)
{
    const char *p = v->s, *end = v->s + v->n;
    size_t digits = 0;
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (p < end && (*p == '+' || *p == '-'))
        p++;
    for (; p < end && isdigit((unsigned char)*p); p++)
        digits++;
    if (p < end && *p == '.')
        for (p++; p < end && isdigit((unsigned char)*p); p++)
            digits++;
    if (!digits)
        return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !isdigit((unsigned char)*p))
            return 0;
        while (p < end && isdigit((unsigned char)*p))
            p++;
    }
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p == end;
}

/* SQLite's comparison of two values of the same kind: <0, 0, >0; -2 when refused. */
static int compare(const kp_xval *a, const kp_xval *b)
{
    if (a->t == KP_COL_INTEGER && b->t == KP_COL_INTEGER)
        return (a->i > b->i) - (a->i < b->i);
    if (a->t == KP_COL_REAL && b->t == KP_COL_REAL)
        return (a->d > b->d) - (a->d < b->d);
    if (a->t == KP_COL_TEXT && b->t == KP_COL_TEXT && !numeric_text(a) && !numeric_text(b)) {
        int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n); /* BINARY */
        if (c)
            return c < 0 ? -1 : 1;
        return (a->n > b->n) - (a->n < b->n);
    }
    return -2;
}

/* julianday() of strict 'YYYY-MM-DD' text with a valid day (SQLite 3.40 computeJD: the
 * day's noon-offset count in milliseconds, then divided), else -1. */
static int julianday(const kp_xval *v, double *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *s = v->s;
    if (v->n != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int k = 0; k < 10; k++)
        if (k != 4 && k != 7 && !isdigit((unsigned char)s[k]))
            return -1;
    int Y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int M = (s[5] - '0') * 10 + (s[6] - '0'), D = (s[8] - '0') * 10 + (s[9] - '0');
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap))
        return -1;
    if (M <= 2) {
        Y--;
        M += 12;
    }
    int A = Y / 100, B = 2 - A + (A / 4), X1 = 36525 * (Y + 4716) / 100;
    int X2 = 306001 * (M + 1) / 10000;
    int64_t ijd = (int64_t)((X1 + X2 + D + B - 1524.5) * 86400000);
    *out = (double)ijd / 86400000.0;
    return 0;
}

static int eval(const kp_expr *x, int k, const kp_xval *row, kp_xval *out);

/* Truth of node k (1, 0, 2 for NULL), or -1 when refused. */
static int holds(const kp_expr *x, int k, const kp_xval *row)
{
    kp_xval v;
    return eval(x, k, row, &v) ? -1 : truth(&v);
}

static int arith(xop op, const kp_xval *a, const kp_xval *b, kp_xval *out)
{
    if (a->t == KP_COL_INTEGER && b->t == KP_COL_INTEGER) {
        int64_t r;
        int over = op == X_ADD   ? __builtin_add_overflow(a->i, b->i, &r)
                   : op == X_SUB ? __builtin_sub_overflow(a->i, b->i, &r)
                                 : __builtin_mul_overflow(a->i, b->i, &r);
        if (over)
            return -1; /* SQLite goes on in reals */
        *out = xint(r);
        return 0;
    }
    if (a->t == KP_COL_NULL || b->t == KP_COL_NULL) {
        *out = xnull;
        return 0;
    }
    if ((a->t != KP_COL_INTEGER && a->t != KP_COL_REAL) ||
        (b->t != KP_COL_INTEGER && b->t != KP_COL_REAL))
        return -1;
    double l = a->t == KP_COL_INTEGER ? (double)a->i : a->d;
    double r = b->t == KP_COL_INTEGER ? (double)b->i : b->d;
    double v = op == X_ADD ? l + r : op == X_SUB ? l - r : l * r;
    if (isnan(v)) {
        *out = xnull;
        return 0;
    }
    *out = (kp_xval){KP_COL_REAL, 0, v, NULL, 0};
    return 0;
}

static int eval(const kp_expr *x, int k, const kp_xval *row, kp_xval *out)
{
    const xnode *nd = &x->node[k];
    kp_xval a, b;
    int ta, tb;
    switch (nd->op) {
    case X_COL: *out = row[nd->col]; return 0;
    case X_INT: *out = xint(nd->i); return 0;
    case X_TEXT: *out = (kp_xval){KP_COL_TEXT, 0, 0, nd->s, nd->n}; return 0;
    case X_NULL: *out = xnull; return 0;
    case X_NOT:
        if ((ta = holds(x, nd->a, row)) < 0)
            return -1;
        *out = ta == 2 ? xnull : xint(!ta);
        return 0;
    case X_AND:
    case X_OR: {
        int stop = nd->op == X_OR; /* the value that decides: false for AND, true for OR */
        if ((ta = holds(x, nd->a, row)) < 0)
            return -1;
        if (ta == stop) {
            *out = xint(stop);
            return 0;
        }
        if ((tb = holds(x, nd->b, row)) < 0)
            return -1;
        *out = tb == stop ? xint(stop) : ta == 2 || tb == 2 ? xnull : xint(!stop);
        return 0;
    }
    case X_ISNULL:
    case X_NOTNULL:
        if (eval(x, nd->a, row, &a))
            return -1;
        *out = xint((a.t == KP_COL_NULL) == (nd->op == X_ISNULL));
        return 0;
    case X_EQ:
    case X_NE:
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE: {
        if (eval(x, nd->a, row, &a) || eval(x, nd->b, row, &b))
            return -1;
        if (a.t == KP_COL_NULL || b.t == KP_COL_NULL) {
            *out = xnull;
            return 0;
        }
        int c = compare(&a, &b);
        if (c == -2)
            return -1;
        int r = nd->op == X_EQ   ? c == 0
                : nd->op == X_NE ? c != 0
                : nd->op == X_LT ? c < 0
                : nd->op == X_LE ? c <= 0
                : nd->op == X_GT ? c > 0
                                 : c >= 0;
        *out = xint(r);
        return 0;
    }
    case X_ADD:
    case X_SUB:
    case X_MUL:
        if (eval(x, nd->a, row, &a) || eval(x, nd->b, row, &b))
            return -1;
        return arith(nd->op, &a, &b, out);
    case X_COALESCE:
        for (int j = 0; j < nd->b; j++) {
            if (eval(x, x->args[nd->a + j], row, out))
                return -1;
            if (out->t != KP_COL_NULL)
                return 0;
        }
        return 0;
    case X_JULIANDAY:
        if (eval(x, nd->a, row, &a))
            return -1;
        if (a.t == KP_COL_NULL) {
            *out = xnull;
            return 0;
        }
        if (a.t != KP_COL_TEXT || julianday(&a, &out->d))
            return -1;
        out->t = KP_COL_REAL;
        out->i = 0;
        out->s = NULL;
        out->n = 0;
        return 0;
    }
    return -1;
}

int kp_expr_eval(const kp_expr *x, const kp_xval *row, kp_xval *out)
{
    return eval(x, x->root, row, out);
}

int kp_expr_holds(const kp_expr *x, const kp_xval *row)
{
    int t = holds(x, x->root, row);
    return t < 0 ? -1 : t == 1;
}
