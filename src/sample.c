/* `kpipress sample`: a deterministic, realistic CRM data set in the shape of Salesforce
 * exports. Each deal is simulated through the standard stages (advance or die, rep skill,
 * size-dependent dwell times, quarter-end pull-ins) and streamed out as soon as it is made,
 * so a million rows need no more memory than forty; quotas are calibrated afterwards. */
#include "kpipress/sample.h"

#include "kpipress/rng.h"
#include "kpipress/limits.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SAMPLE_WARMUP_MONTHS 6 /* deals created before the history, so it opens in steady state */
#define SAMPLE_TEAM_SIZE 7     /* reps per manager */
#define SAMPLE_FISCAL_START 2  /* fiscal year starts in February: keep in step with job.ini */
#define SAMPLE_OPPS_PER_REP_MONTH 3.5
#define SAMPLE_MAX_AHEAD 600     /* no close date later than as-of plus this many days */
#define SAMPLE_OUT_BUF (1 << 20) /* bytes buffered per output file */
#define SAMPLE_TARGET_ATTAINMENT 0.92
#define SAMPLE_NEVER INT32_MAX /* leave date of someone still employed */

/* ---- arithmetic that gives the same bits on every C library ----------------------- */

/* libm's log and exp may differ in the last bit between C libraries, and one flipped
 * rounding changes a day or a cent. These use only IEEE-exact operations (+ - * /,
 * frexp, ldexp), so a seed gives the same bytes everywhere. */
#define SAMPLE_LN2 0.69314718055994530942

static double det_log(double x)
{
    int ex;
    double m = frexp(x, &ex);
    assert(x > 0);
    if (m < 0.70710678118654752440) {
        m *= 2;
        ex--;
    }
    const double z = (m - 1) / (m + 1), z2 = z * z;
    double term = z, sum = 0;
    for (int k = 1; k < 26; k += 2) { /* |z| < 0.172: the 13th term is below 1e-20 */
        sum += term / k;
        term *= z2;
    }
    return 2 * sum + ex * SAMPLE_LN2;
}

static double det_exp(double x)
{
    if (x < -700)
        return 0;
    if (x > 700)
        x = 700;
    const double k = floor(x / SAMPLE_LN2 + 0.5);
    const double r = x - k * SAMPLE_LN2;
    double term = 1, sum = 1;
    for (int i = 1; i < 16; i++) { /* |r| < 0.35: the 15th term is below 1e-18 */
        term *= r / i;
        sum += term;
    }
    return ldexp(sum, (int)k);
}

static double det_pow(double a, double b)
{
    return det_exp(b * det_log(a));
}

/* ---- random numbers (src/rng.c) ------------------------------------------------------ */

typedef kp_rng rng;

/* Independent streams per purpose, so that asking for more deals leaves the people alone. */
static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    kp_rng_seed(r, seed, stream);
}

static double rng_unit(rng *r)
{
    return kp_rng_unit(r);
}

static long rng_below(rng *r, long n)
{
    assert(n > 0);
    return (long)(rng_unit(r) * (double)n);
}

/* Standard normal by Marsaglia's polar method (no trigonometry, see det_log). */
static double rng_normal(rng *r)
{
    for (;;) {
        const double u = 2 * rng_unit(r) - 1, v = 2 * rng_unit(r) - 1, s = u * u + v * v;
        if (s > 0 && s < 1)
            return u * sqrt(-2 * det_log(s) / s);
    }
}

/* Sum of two exponentials: a dwell time that is rarely near zero and has a long tail. */
static double rng_erlang2(rng *r, double mean)
{
    return -0.5 * mean * det_log((1 - rng_unit(r)) * (1 - rng_unit(r)));
}

static int rng_pick(rng *r, const double *w, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    double u = rng_unit(r) * total;
    for (int i = 0; i < n - 1; i++) {
        if (u < w[i])
            return i;
        u -= w[i];
    }
    return n - 1;
}

/* ---- the company: regions, teams, products, stages, sources ------------------------- */

enum { SEG_ENT, SEG_MM, SEG_SMB, N_SEG };
enum { REG_NA, REG_EMEA, REG_APAC, REG_LATAM, N_REG };

static const char *const region_names[N_REG] = {"North America", "EMEA", "APAC", "LATAM"};

/* Interleaved so that a small company still spans all four regions. */
static const struct {
    const char *name;
    int region, segment;
} team_templates[] = {
    {"Enterprise East", REG_NA, SEG_ENT},      {"Enterprise DACH", REG_EMEA, SEG_ENT},
    {"Mid-Market West", REG_NA, SEG_MM},       {"Mid-Market ANZ", REG_APAC, SEG_MM},
    {"Mid-Market Nordics", REG_EMEA, SEG_MM},  {"Mid-Market LATAM", REG_LATAM, SEG_MM},
    {"SMB Inside", REG_NA, SEG_SMB},           {"Enterprise UK&I", REG_EMEA, SEG_ENT},
    {"Enterprise Japan", REG_APAC, SEG_ENT},   {"Enterprise West", REG_NA, SEG_ENT},
    {"SMB EMEA", REG_EMEA, SEG_SMB},           {"Mid-Market Central", REG_NA, SEG_MM},
    {"Enterprise Brazil", REG_LATAM, SEG_ENT}, {"SMB APAC", REG_APAC, SEG_SMB},
    {"Enterprise France", REG_EMEA, SEG_ENT},  {"Mid-Market South", REG_NA, SEG_MM},
};
#define N_TEAM_TEMPLATES ((int)(sizeof team_templates / sizeof team_templates[0]))

/* Deal size, cycle length and deal count relative to mid-market. */
static const struct {
    double amount, cycle, volume;
} segments[N_SEG] = {{2.2, 1.4, 0.75}, {1.0, 1.0, 1.0}, {0.35, 0.55, 1.6}};

static const struct {
    const char *name;
    double median; /* mid-market median deal, dollars */
    double weight[N_SEG];
    double existing; /* weight multiplier on existing customers (add-ons sell there) */
} products[] = {
    {"Core Platform", 30000, {30, 35, 40}, 0.4},
    {"Enterprise Suite", 90000, {25, 4, 0}, 0.3},
    {"Analytics Cloud", 22000, {15, 18, 15}, 1.5},
    {"Data Connectors", 8000, {8, 12, 15}, 1.6},
    {"Premium Support", 12000, {10, 10, 8}, 2.0},
    {"Professional Services", 18000, {8, 10, 5}, 1.2},
    {"Mobile Add-on", 5000, {4, 7, 17}, 1.5},
};
#define N_PRODUCTS ((int)(sizeof products / sizeof products[0]))

/* Salesforce's standard lead sources; fail multiplies every stage's drop-out chance. */
static const struct {
    const char *name;
    double weight_new, weight_existing, fail;
} sources[] = {
    {"Web", 30, 10, 1.0},
    {"Partner Referral", 12, 8, 0.8},
    {"Phone Inquiry", 10, 6, 1.0},
    {"Trade Show", 9, 3, 1.1},
    {"Employee Referral", 6, 2, 0.85},
    {"External Referral", 6, 3, 0.9},
    {"Seminar - Partner", 5, 4, 1.0},
    {"Seminar - Internal", 4, 5, 1.0},
    {"Advertisement", 7, 1, 1.25},
    {"Purchased List", 6, 0, 1.35},
    {"Word of mouth", 3, 10, 0.9},
    {"Public Relations", 2, 1, 1.1},
    {"Other", 3, 4, 1.0},
};
#define N_SOURCES ((int)(sizeof sources / sizeof sources[0]))

/* Salesforce's standard open stages in order, with the probability the CRM shows, the
 * mean days a mid-market deal of $25k spends there, and the chance it dies there. */
static const struct {
    const char *name;
    int probability;
    double mean_days, fail;
} stages[] = {
    {"Prospecting", 10, 6, 0.30},           {"Qualification", 10, 8, 0.25},
    {"Needs Analysis", 20, 10, 0.20},       {"Value Proposition", 50, 12, 0.15},
    {"Id. Decision Makers", 60, 9, 0.12},   {"Perception Analysis", 70, 8, 0.10},
    {"Proposal/Price Quote", 75, 12, 0.15}, {"Negotiation/Review", 90, 10, 0.15},
};
#define N_STAGES ((int)(sizeof stages / sizeof stages[0]))
#define SAMPLE_STALL_PER_STAGE 0.004 /* zombie deals nobody closes out */
#define SAMPLE_LOST_LINGER 1.4       /* a dying deal lingers before someone marks it lost */

/* ---- people ---------------------------------------------------------------------------- */

typedef struct person {
    const char *name;  /* as the CRM shows it, UTF-8 */
    const char *local; /* e-mail local part, ASCII-folded */
} person;

/* Featured names first: the default company uses them, so a reader of the sample sees
 * at once whether accents, Greek and Cyrillic survive every stage. */
static const person names_emea[] = {
    {"Anna Müller", "anna.muller"},
    {"Søren Jørgensen", "soren.jorgensen"},
    {"Łukasz Wiśniewski", "lukasz.wisniewski"},
    {"Ζωή Παπαδοπούλου", "zoe.papadopoulou"},
    {"Дмитрий Соколов", "dmitrii.sokolov"},
    {"François Lefèvre", "francois.lefevre"},
    {"Ayşe Yılmaz", "ayse.yilmaz"},
    {"Đorđe Petrović", "dorde.petrovic"},
    {"Zoë Fairchild", "zoe.fairchild"},
    {"Björn Lindqvist", "bjorn.lindqvist"},
    {"Chloé Dubois", "chloe.dubois"},
    {"Jürgen Schröder", "jurgen.schroder"},
    {"Siobhán O'Connor", "siobhan.oconnor"},
    {"Νίκος Αντωνίου", "nikos.antoniou"},
    {"Анна Смирнова", "anna.smirnova"},
    {"Mehmet Öztürk", "mehmet.ozturk"},
    {"Agnieszka Kowalczyk", "agnieszka.kowalczyk"},
    {"Giulia Rossi", "giulia.rossi"},
    {"Sanne de Vries", "sanne.devries"},
    {"Åsa Nordström", "asa.nordstrom"},
    {"Hélène Girard", "helene.girard"},
    {"Marek Dvořák", "marek.dvorak"},
    {"Ólafur Sigurðsson", "olafur.sigurdsson"},
    {"Matthias Weiß", "matthias.weiss"},
    {"Inês Carvalho", "ines.carvalho"},
    {"Оксана Коваленко", "oksana.kovalenko"},
    {"Thabo Nkosi", "thabo.nkosi"},
    {"Eszter Horváth", "eszter.horvath"},
    {"Javier Martínez", "javier.martinez"},
    {"Noor Haddad", "noor.haddad"},
    {"Pieter Janssens", "pieter.janssens"},
    {"Élodie Marchand", "elodie.marchand"},
    {"Radu Popescu", "radu.popescu"},
    {"Katarzyna Zielińska", "katarzyna.zielinska"},
};

static const person names_na[] = {
    {"Emily Carter", "emily.carter"},
    {"Marcus Johnson", "marcus.johnson"},
    {"Priya Patel", "priya.patel"},
    {"Wei Chen", "wei.chen"},
    {"Thảo Nguyễn", "thao.nguyen"},
    {"Diego Hernández", "diego.hernandez"},
    {"Sarah O'Neill", "sarah.oneill"},
    {"Jamal Washington", "jamal.washington"},
    {"André Tremblay", "andre.tremblay"},
    {"Rachel Goldberg", "rachel.goldberg"},
    {"Kevin Park", "kevin.park"},
    {"Aisha Mohammed", "aisha.mohammed"},
    {"Brian Kowalski", "brian.kowalski"},
    {"Megan Sullivan", "megan.sullivan"},
    {"Carlos Mendoza", "carlos.mendoza"},
    {"Jennifer Wu", "jennifer.wu"},
    {"Ana Sofía Rodríguez", "anasofia.rodriguez"},
    {"Tyler Brooks", "tyler.brooks"},
    {"Daniel Kim", "daniel.kim"},
    {"Lauren Mitchell", "lauren.mitchell"},
    {"Raj Malhotra", "raj.malhotra"},
    {"Olivia Bennett", "olivia.bennett"},
    {"Grace Liu", "grace.liu"},
    {"Michael O'Brien", "michael.obrien"},
    {"Noah Peterson", "noah.peterson"},
    {"Jordan Reyes", "jordan.reyes"},
    {"Samantha Lee", "samantha.lee"},
    {"Gabriel Silva", "gabriel.silva"},
    {"Madison Clark", "madison.clark"},
    {"Omar Farouk", "omar.farouk"},
    {"Natalie Foster", "natalie.foster"},
    {"Ryan Murphy", "ryan.murphy"},
};

static const person names_apac[] = {
    {"Haruto Sato", "haruto.sato"},       {"Yui Takahashi", "yui.takahashi"},
    {"Arjun Sharma", "arjun.sharma"},     {"Mei Lin Tan", "meilin.tan"},
    {"Jack Wilson", "jack.wilson"},       {"Aroha Ngata", "aroha.ngata"},
    {"Ji-woo Kim", "jiwoo.kim"},          {"Siddharth Iyer", "siddharth.iyer"},
    {"Minh Trần", "minh.tran"},           {"Rizal Santoso", "rizal.santoso"},
    {"Maria Santos", "maria.santos"},     {"Kenji Watanabe", "kenji.watanabe"},
    {"Ananya Reddy", "ananya.reddy"},     {"Lachlan Brown", "lachlan.brown"},
    {"Nurul Aisyah", "nurul.aisyah"},     {"Hiroshi Yamamoto", "hiroshi.yamamoto"},
    {"Chloe Zhang", "chloe.zhang"},       {"Vikram Nair", "vikram.nair"},
    {"Sakura Ito", "sakura.ito"},         {"Tanvir Rahman", "tanvir.rahman"},
    {"Emma Walsh", "emma.walsh"},         {"Daniel Lim", "daniel.lim"},
    {"Aiko Kobayashi", "aiko.kobayashi"}, {"Rohan Gupta", "rohan.gupta"},
    {"Hemi Walker", "hemi.walker"},       {"Kavya Menon", "kavya.menon"},
};

static const person names_latam[] = {
    {"José Núñez", "jose.nunez"},
    {"João Gonçalves", "joao.goncalves"},
    {"María Fernanda López", "mariafernanda.lopez"},
    {"Sebastián Muñoz", "sebastian.munoz"},
    {"Valentina Rojas", "valentina.rojas"},
    {"Camila Araújo", "camila.araujo"},
    {"Andrés Gutiérrez", "andres.gutierrez"},
    {"Lucía Fernández", "lucia.fernandez"},
    {"Mateo Castillo", "mateo.castillo"},
    {"Gabriela Peña", "gabriela.pena"},
    {"Rafael Oliveira", "rafael.oliveira"},
    {"Fernanda Souza", "fernanda.souza"},
    {"Diego Ramírez", "diego.ramirez"},
    {"Isabela Costa", "isabela.costa"},
    {"Santiago Vargas", "santiago.vargas"},
    {"Ximena Cruz", "ximena.cruz"},
    {"Thiago Almeida", "thiago.almeida"},
    {"Paula Jiménez", "paula.jimenez"},
    {"Joaquín Herrera", "joaquin.herrera"},
    {"Beatriz Lima", "beatriz.lima"},
};

/* Once a region's list is used up, names are combined from these (20 x 20 pairs, each
 * visited once by the walk in assign_name). */
static const person first_names[20] = {
    {"Lukas", "lukas"},   {"Emma", "emma"},   {"Jonas", "jonas"}, {"Clara", "clara"},
    {"Matteo", "matteo"}, {"Sofia", "sofia"}, {"Felix", "felix"}, {"Lena", "lena"},
    {"Hugo", "hugo"},     {"Ida", "ida"},     {"Elias", "elias"}, {"Maja", "maja"},
    {"Louis", "louis"},   {"Nora", "nora"},   {"Finn", "finn"},   {"Léa", "lea"},
    {"Tomás", "tomas"},   {"Julia", "julia"}, {"Oskar", "oskar"}, {"Amelia", "amelia"},
};
static const person last_names[20] = {
    {"Becker", "becker"},   {"Moreau", "moreau"},     {"Bianchi", "bianchi"},
    {"Novak", "novak"},     {"Larsen", "larsen"},     {"Jansen", "jansen"},
    {"Fischer", "fischer"}, {"Lambert", "lambert"},   {"Costa", "costa"},
    {"Hansen", "hansen"},   {"Keller", "keller"},     {"Bauer", "bauer"},
    {"Okafor", "okafor"},   {"Blanc", "blanc"},       {"Svensson", "svensson"},
    {"Meyer", "meyer"},     {"Rinaldi", "rinaldi"},   {"Horvat", "horvat"},
    {"Nilsen", "nilsen"},   {"Ferreira", "ferreira"},
};

static const struct {
    const person *list;
    int n;
} region_people[N_REG] = {
    {names_na, (int)(sizeof names_na / sizeof names_na[0])},
    {names_emea, (int)(sizeof names_emea / sizeof names_emea[0])},
    {names_apac, (int)(sizeof names_apac / sizeof names_apac[0])},
    {names_latam, (int)(sizeof names_latam / sizeof names_latam[0])},
};

/* ---- accounts ---------------------------------------------------------------------------- */

static const char *const account_words1[40] = {
    "Northwind",   "Bluefin",    "Summit",   "Redwood",   "Ironbridge", "Silverline",  "Crescent",
    "Granite",     "Harborview", "Lakeside", "Pinnacle",  "Evergreen",  "Brightwater", "Cobalt",
    "Falcon",      "Keystone",   "Meridian", "Oakridge",  "Riverstone", "Sterling",    "Vantage",
    "Westbrook",   "Aurora",     "Beacon",   "Cedar",     "Delta",      "Everest",     "Frontier",
    "Golden Gate", "Highland",   "Lumière",  "Nordlicht", "Øresund",    "Sakura",      "Zenith",
    "Atlas",       "Horizon",    "Pacific",  "Alpine",    "Coral",
};
static const char *const account_words2[30] = {
    "Logistics", "Foods",      "Systems",  "Health",   "Energy",    "Manufacturing",
    "Retail",    "Capital",    "Pharma",   "Telecom",  "Analytics", "Motors",
    "Textiles",  "Insurance",  "Media",    "Robotics", "Hotels",    "Construction",
    "Biotech",   "Chemicals",  "Software", "Holdings", "Agritech",  "Shipping",
    "Labs",      "Outfitters", "Mining",   "Water",    "Devices",   "Aerospace",
};
static const char *const account_suffix_na[] = {"Inc.", "LLC", "Corp.", "Co.", "Group"};
static const char *const account_suffix_emea[] = {"GmbH", "AG",     "S.A.", "Ltd", "AB",
                                                  "B.V.", "S.p.A.", "Oy",   "A/S", "SAS"};
static const char *const account_suffix_apac[] = {"Pty Ltd", "K.K.", "Pte. Ltd.", "Ltd.",
                                                  "Sdn Bhd"};
static const char *const account_suffix_latam[] = {"S.A. de C.V.", "Ltda.", "S.A.", "S.R.L."};
static const struct {
    const char *const *list;
    int n;
} account_suffixes[N_REG] = {{account_suffix_na, 5},
                             {account_suffix_emea, 10},
                             {account_suffix_apac, 5},
                             {account_suffix_latam, 4}};
#define ACCOUNT_BASE_NAMES (40 * 30)

static char *append(char *q, const char *s)
{
    const size_t n = strlen(s);
    memcpy(q, s, n);
    return q + n;
}

/* Account idx's name into buf (at least 64 bytes); returns the end. Unique for the
 * first 1200 x (suffixes) accounts of a region. */
static char *account_name(char *buf, long idx, int region)
{
    const long j = (idx % ACCOUNT_BASE_NAMES * 37 + 11) % ACCOUNT_BASE_NAMES;
    const int ns = account_suffixes[region].n;
    char *q = append(buf, account_words1[j % 40]);
    *q++ = ' ';
    q = append(q, account_words2[j / 40]);
    *q++ = ' ';
    q = append(q, account_suffixes[region].list[(idx / ACCOUNT_BASE_NAMES + j) % ns]);
    *q = '\0';
    return q;
}

/* ---- output: one buffered pass per file ------------------------------------------------ */

typedef struct outbuf {
    FILE *f;
    char *buf;
    size_t len;
    int err; /* errno of the first failed write, 0 if none */
} outbuf;

static void ob_flush(outbuf *o)
{
    if (o->len && !o->err && fwrite(o->buf, 1, o->len, o->f) != o->len)
        o->err = errno ? errno : EIO;
    o->len = 0;
}

static char *ob_room(outbuf *o, size_t n)
{
    assert(n <= SAMPLE_OUT_BUF);
    if (o->len + n > SAMPLE_OUT_BUF)
        ob_flush(o);
    return o->buf + o->len;
}

static void ob_put(outbuf *o, const char *s, size_t n)
{
    memcpy(ob_room(o, n), s, n);
    o->len += n;
}

static void ob_str(outbuf *o, const char *s)
{
    ob_put(o, s, strlen(s));
}

/* One field as Salesforce writes it: always quoted, quotes doubled, comma before all
 * but the first. */
static void ob_field_n(outbuf *o, const char *s, size_t n, int first)
{
    char *const p = ob_room(o, 2 * n + 3);
    char *q = p;
    if (!first)
        *q++ = ',';
    *q++ = '"';
    if (!memchr(s, '"', n)) {
        memcpy(q, s, n);
        q += n;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"')
                *q++ = '"';
            *q++ = s[i];
        }
    }
    *q++ = '"';
    o->len += (size_t)(q - p);
}

static void ob_field(outbuf *o, const char *s, int first)
{
    ob_field_n(o, s, strlen(s), first);
}

static void ob_crlf(outbuf *o)
{
    ob_put(o, "\r\n", 2);
}

/* "$1,234.56" */
static size_t fmt_money(char *out, int64_t cents)
{
    char digits[24];
    int nd = 0;
    assert(cents >= 0);
    int64_t whole = cents / 100;
    const int frac = (int)(cents % 100);
    do {
        digits[nd++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    char *q = out;
    *q++ = '$';
    for (int i = nd - 1; i >= 0; i--) {
        *q++ = digits[i];
        if (i && i % 3 == 0)
            *q++ = ',';
    }
    *q++ = '.';
    *q++ = (char)('0' + frac / 10);
    *q++ = (char)('0' + frac % 10);
    return (size_t)(q - out);
}

/* "M/D/YYYY", as a US-locale Salesforce report writes dates. */
static size_t fmt_mdy(char *out, kp_date date)
{
    int y, m, d;
    kp_date_to_ymd(date, &y, &m, &d);
    return (size_t)snprintf(out, 12, "%d/%d/%04d", m, d, y);
}

/* Salesforce record ids: key prefix, pod, a reserved 0, nine base-62 digits, and the
 * three-letter suffix that encodes the case of the first fifteen characters. */
static void sf_id(char out[19], const char *prefix, uint64_t record)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static const char sfx[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    memcpy(out, prefix, 3);
    memcpy(out + 3, "Dn0", 3);
    for (int i = 14; i >= 6; i--) {
        out[i] = b62[record % 62];
        record /= 62;
    }
    for (int chunk = 0; chunk < 3; chunk++) {
        int flags = 0;
        for (int k = 0; k < 5; k++) {
            const char c = out[chunk * 5 + k];
            if (c >= 'A' && c <= 'Z')
                flags |= 1 << k;
        }
        out[15 + chunk] = sfx[flags];
    }
    out[18] = '\0';
}

/* ---- the model ------------------------------------------------------------------------- */

enum { KIND_CRO, KIND_VP, KIND_MANAGER, KIND_REP };

typedef struct user {
    char id[19];
    char name[96];
    char email[128];
    char role[96];
    int kind, region, team, manager; /* manager: index into users, -1 for none */
    kp_date start, leave;            /* leave: first day gone, SAMPLE_NEVER if employed */
    double skill, activity;          /* reps only */
    int successor;                   /* reps who left: who inherited their open deals */
} user;

typedef struct team {
    char name[64];
    int region, segment;
    int manager;          /* index into users */
    int first_rep, nreps; /* rep indices (0-based among reps) */
} team;

typedef struct model {
    kp_sample_options o;
    kp_date as_of, last; /* last = as_of - 1, the last day covered */
    kp_date window;      /* first day of the first month of history */
    int quota_months;    /* history months plus the rest of the current fiscal year */
    int create_months;   /* warm-up plus history months */
    long opps;
    user *users;
    int nusers, first_rep_user; /* reps are users[first_rep_user ..] */
    team *teams;
    int nteams;
    long accounts_per_team;
    kp_date *first_win; /* per account: first close of a won deal, SAMPLE_NEVER if none */
    double *capacity;   /* create_months x reps, cumulative within a month */
    int64_t *won;       /* reps x quota_months, cents booked per close month */
} model;

static void model_free(model *m)
{
    free(m->users);
    free(m->teams);
    free(m->first_win);
    free(m->capacity);
    free(m->won);
}

static user *rep_user(model *m, int rep)
{
    return &m->users[m->first_rep_user + rep];
}

static int months_between(kp_date from, kp_date to)
{
    int y0, m0, y1, m1;
    kp_date_to_ymd(from, &y0, &m0, NULL);
    kp_date_to_ymd(to, &y1, &m1, NULL);
    return (y1 - y0) * 12 + (m1 - m0);
}

static kp_date next_weekday(kp_date d)
{
    while (kp_date_weekday(d) >= 5)
        d++;
    return d;
}

static int fiscal_year(kp_date d)
{
    int y, m;
    kp_date_to_ymd(d, &y, &m, NULL);
    return m >= SAMPLE_FISCAL_START ? y : y - 1;
}

/* The next name for someone in a region: the region's own list first, then combined
 * names drawn from one company-wide counter (*combined), with a middle initial once the
 * 400 pairs are used. Full names stay unique: a report export names the owner, not the id. */
static void assign_name(user *u, int region, int k, int *combined)
{
    if (k < region_people[region].n) {
        snprintf(u->name, sizeof u->name, "%s", region_people[region].list[k].name);
        snprintf(u->email, sizeof u->email, "%s", region_people[region].list[k].local);
        return;
    }
    const int c = (*combined)++, pair = c % 400, round = c / 400;
    const person *f = &first_names[pair % 20], *l = &last_names[(pair / 20 + pair % 20) % 20];
    assert(round <= 26); /* KP_SAMPLE_MAX_REPS plus managers stay below 27 x 400 */
    if (round)
        snprintf(u->name, sizeof u->name, "%s %c. %s", f->name, 'A' + round - 1, l->name);
    else
        snprintf(u->name, sizeof u->name, "%s %s", f->name, l->name);
    snprintf(u->email, sizeof u->email, "%s.%s", f->local, l->local);
}

/* Gives every e-mail its domain, numbering repeats (emma.becker2@...) as a mail server
 * would insist. Quadratic, but over a few thousand people at most. */
static void finish_emails(model *m)
{
    for (int i = 0; i < m->nusers; i++) {
        char local[sizeof m->users[i].email];
        snprintf(local, sizeof local, "%s", m->users[i].email);
        for (int n = 1;; n++) {
            char cand[sizeof m->users[i].email];
            if (n == 1)
                snprintf(cand, sizeof cand, "%.100s@example.com", local);
            else
                snprintf(cand, sizeof cand, "%.100s%d@example.com", local, n);
            int taken = 0;
            for (int j = 0; j < i && !taken; j++)
                taken = !strcmp(m->users[j].email, cand);
            if (!taken) {
                snprintf(m->users[i].email, sizeof m->users[i].email, "%s", cand);
                break;
            }
        }
    }
}

/* Teams of about seven reps under a manager, managers under a VP per region, VPs under
 * the CRO. Some reps joined during the history (ramping), a few have left. */
static kp_err build_company(model *m, kp_error *e)
{
    const int reps = m->o.reps;
    rng r;
    rng_seed(&r, m->o.seed, 1);

    m->nteams = (reps + SAMPLE_TEAM_SIZE - 1) / SAMPLE_TEAM_SIZE;
    m->teams = calloc((size_t)m->nteams, sizeof *m->teams);
    int used[N_REG] = {0}, vp_of[N_REG], nvps = 0;
    if (!m->teams)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    for (int t = 0, rep = 0; t < m->nteams; t++) {
        team *tm = &m->teams[t];
        const int tpl = t % N_TEAM_TEMPLATES, round = t / N_TEAM_TEMPLATES;
        if (round)
            snprintf(tm->name, sizeof tm->name, "%s %d", team_templates[tpl].name, round + 1);
        else
            snprintf(tm->name, sizeof tm->name, "%s", team_templates[tpl].name);
        tm->region = team_templates[tpl].region;
        tm->segment = team_templates[tpl].segment;
        tm->first_rep = rep;
        tm->nreps = reps / m->nteams + (t < reps % m->nteams);
        rep += tm->nreps;
        used[tm->region] = 1;
    }
    for (int g = 0; g < N_REG; g++)
        vp_of[g] = used[g] ? 1 + nvps++ : -1;

    /* users: CRO, VPs, managers, reps (the order their ids were issued) */
    m->nusers = 1 + nvps + m->nteams + reps;
    m->first_rep_user = 1 + nvps + m->nteams;
    m->users = calloc((size_t)m->nusers, sizeof *m->users);
    if (!m->users)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    const kp_date ws = m->window;
    user *cro = &m->users[0];
    cro->kind = KIND_CRO;
    cro->region = -1;
    cro->team = -1;
    cro->manager = -1;
    snprintf(cro->role, sizeof cro->role, "Chief Revenue Officer");
    cro->start = next_weekday(ws - 1500 - (kp_date)rng_below(&r, 800));
    for (int g = 0; g < N_REG; g++) {
        if (vp_of[g] < 0)
            continue;
        user *u = &m->users[vp_of[g]];
        u->kind = KIND_VP;
        u->region = g;
        u->team = -1;
        u->manager = 0;
        snprintf(u->role, sizeof u->role, "VP Sales - %s", region_names[g]);
        u->start = next_weekday(ws - 700 - (kp_date)rng_below(&r, 1500));
    }
    for (int t = 0; t < m->nteams; t++) {
        team *tm = &m->teams[t];
        user *u = &m->users[1 + nvps + t];
        tm->manager = 1 + nvps + t;
        u->kind = KIND_MANAGER;
        u->region = tm->region;
        u->team = t;
        u->manager = vp_of[tm->region];
        snprintf(u->role, sizeof u->role, "Sales Manager - %s", tm->name);
        u->start = next_weekday(ws - 300 - (kp_date)rng_below(&r, 2000));
        for (int k = 0; k < tm->nreps; k++) {
            user *p = rep_user(m, tm->first_rep + k);
            p->kind = KIND_REP;
            p->region = tm->region;
            p->team = t;
            p->manager = tm->manager;
            snprintf(p->role, sizeof p->role, "AE - %s", tm->name);
        }
    }
    for (int i = 0; i < m->nusers; i++)
        m->users[i].leave = SAMPLE_NEVER;

    /* tenure: most reps predate the history; a sixth are hired during it (on the first
     * weekday of a month, as onboarding cohorts are) and a twelfth leave */
    for (int k = 0; k < reps; k++)
        rep_user(m, k)->start = next_weekday(ws - 30 - (kp_date)rng_below(&r, 2600));
    const int hires = m->o.months >= 4 ? reps / 6 : 0;
    for (int h = 0; h < hires;) { /* rejection terminates: five sixths are not hired */
        user *p = rep_user(m, (int)rng_below(&r, reps));
        const int month = 1 + (int)rng_below(&r, m->o.months - 2);
        if (p->start >= ws)
            continue;
        p->start = next_weekday(kp_date_month_start(ws, month));
        h++;
    }
    const kp_date leave_lo = ws + 120, leave_hi = m->as_of - 45;
    const int leavers = leave_hi > leave_lo ? reps / 12 : 0;
    for (int h = 0; h < leavers;) { /* every veteran can leave in that span */
        user *p = rep_user(m, (int)rng_below(&r, reps));
        const kp_date leave = leave_lo + (kp_date)rng_below(&r, leave_hi - leave_lo);
        if (p->leave != SAMPLE_NEVER ||
            kp_date_month_start(leave, 0) <= kp_date_month_start(p->start, 2))
            continue;
        p->leave = leave;
        h++;
    }
    for (int k = 0; k < reps; k++) {
        user *p = rep_user(m, k);
        const team *tm = &m->teams[p->team];
        /* better reps win more; the newly hired a little less, veterans a little more */
        double skill = det_exp(0.10 * rng_normal(&r));
        if (p->start >= ws)
            skill *= 0.92;
        else if (ws - p->start > 3 * 365)
            skill *= 1.06;
        p->skill = skill;
        p->activity = det_exp(0.12 * rng_normal(&r)) * segments[tm->segment].volume;
        p->successor = -1;
        if (p->leave == SAMPLE_NEVER)
            continue;
        for (int j = 0; j < tm->nreps && p->successor < 0; j++) /* a teammate inherits */
            if (rep_user(m, tm->first_rep + j)->leave == SAMPLE_NEVER)
                p->successor = tm->first_rep + j;
        for (int j = 0; j < reps && p->successor < 0; j++)
            if (rep_user(m, j)->leave == SAMPLE_NEVER)
                p->successor = j;
        assert(p->successor >= 0); /* at most a twelfth leave */
    }

    /* names: reps first so that the featured names land on quota carriers */
    int next_name[N_REG] = {0}, combined = 0;
    for (int k = 0; k < reps; k++) {
        user *p = rep_user(m, k);
        assign_name(p, p->region, next_name[p->region]++, &combined);
    }
    for (int i = m->first_rep_user - 1; i >= 1; i--) {
        user *u = &m->users[i];
        assign_name(u, u->region, next_name[u->region]++, &combined);
    }
    snprintf(cro->name, sizeof cro->name, "Margaret Adeyemi");
    snprintf(cro->email, sizeof cro->email, "margaret.adeyemi");
    finish_emails(m);

    uint64_t record = 62u * 62u * 62u * 62u * (3 + (uint64_t)rng_below(&r, 40));
    for (int i = 0; i < m->nusers; i++) {
        record += 1 + (uint64_t)rng_below(&r, 5);
        sf_id(m->users[i].id, "005", record);
    }
    return KP_OK;
}

/* Share of a full month's deals a rep opens k months after the month they started. */
static double ramp_capacity(int k)
{
    return k <= 0 ? 0 : k == 1 ? 0.4 : k == 2 ? 0.7 : k == 3 ? 0.9 : 1;
}

/* Share of a full quota in the k-th month after the start month: none while the first
 * deals are still in their cycle, then a ramp. */
static double ramp_quota(int k)
{
    return k <= 2 ? 0 : k == 3 ? 0.25 : k == 4 ? 0.5 : k == 5 ? 0.75 : 1;
}

/* Seniority k months after the start month: veterans get bigger territories, so both
 * their deal flow and their quota are larger. */
static double seniority(int k)
{
    return k < 12 ? 0.8 : k < 36 ? 1.0 : 1.15;
}

/* A rep carries a number only in months wholly between their start and leave months. */
static int employed_in(const user *p, kp_date month)
{
    return month > kp_date_month_start(p->start, 0) &&
           (p->leave == SAMPLE_NEVER || month < kp_date_month_start(p->leave, 0));
}

static kp_err build_capacity(model *m, kp_error *e)
{
    const int reps = m->o.reps;
    m->capacity = calloc((size_t)m->create_months * (size_t)reps, sizeof *m->capacity);
    if (!m->capacity)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    for (int c = 0; c < m->create_months; c++) {
        const kp_date month = kp_date_month_start(m->window, c - SAMPLE_WARMUP_MONTHS);
        double *row = m->capacity + (size_t)c * (size_t)reps, cum = 0;
        for (int k = 0; k < reps; k++) {
            const user *p = rep_user(m, k);
            if (employed_in(p, month))
                cum += p->activity * seniority(months_between(p->start, month)) *
                       ramp_capacity(months_between(p->start, month));
            row[k] = cum;
        }
        if (cum == 0) /* nobody on board yet: spread over those who will stay */
            for (int k = 0; k < reps; k++)
                row[k] = (k ? row[k - 1] : 0) + (rep_user(m, k)->leave == SAMPLE_NEVER);
    }
    return KP_OK;
}

static int pick_rep(const model *m, rng *r, int create_month)
{
    const double *row = m->capacity + (size_t)create_month * (size_t)m->o.reps;
    const double u = rng_unit(r) * row[m->o.reps - 1];
    int lo = 0, hi = m->o.reps - 1;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (row[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- opportunities ------------------------------------------------------------------------ */

enum { OUT_WON, OUT_LOST, OUT_STALLED };

/* Dates as text, precomputed: formatting them is most of the cost of a row otherwise. */
typedef struct date_text {
    kp_date lo;
    long n;
    char (*text)[12];
    unsigned char *len;
} date_text;

static void ob_date(outbuf *o, const date_text *dt, kp_date d)
{
    assert(d >= dt->lo && d - dt->lo < dt->n);
    ob_field_n(o, dt->text[d - dt->lo], dt->len[d - dt->lo], 0);
}

/* Reps pull deals that would close early next quarter into the last days of this one:
 * the quarter-end spike every sales leader knows. */
static kp_date pull_in(kp_date end, kp_date created, rng *r)
{
    int y, mo, d;
    kp_date_to_ymd(end, &y, &mo, &d);
    const int quarter_start = (mo - SAMPLE_FISCAL_START + 12) % 3 == 0;
    if (!quarter_start || d > 18 || rng_unit(r) >= 0.45)
        return end;
    const kp_date moved = kp_date_month_start(end, 0) - 1 - (kp_date)rng_below(r, 4);
    return moved > created ? moved : end;
}

/* Deals are signed on working days. */
static kp_date weekday_close(kp_date end, kp_date created)
{
    const int wd = kp_date_weekday(end);
    const kp_date moved = wd == 5 ? end - 1 : wd == 6 ? end - 2 : end;
    return moved > created ? moved : end;
}

static const char *open_category(int stage, int stalled, rng *r)
{
    const double u = rng_unit(r);
    if (stalled && u < 0.4)
        return "Omitted";
    if (stage == N_STAGES - 1)
        return u < 0.08 ? "Best Case" : "Commit";
    if (stage >= 5)
        return u < 0.08 ? "Commit" : "Best Case";
    if (stage >= 3 && u < 0.05)
        return "Best Case";
    return "Pipeline";
}

typedef struct opp_writer {
    model *m;
    rng r;
    outbuf *o;
    date_text dates;
    uint64_t record;
    double stage_days; /* sum of mean stage days: a rep's idea of a full cycle */
    double price;      /* list prices rise 5% a year: the factor on the current day */
} opp_writer;

/* One deal, from its creation on `day` to its state on the as-of date, written as a row. */
static void write_deal(opp_writer *w, kp_date day, int create_month)
{
    model *m = w->m;
    rng *r = &w->r;
    outbuf *o = w->o;
    const int rep = pick_rep(m, r, create_month);
    const user *p = rep_user(m, rep);
    const team *tm = &m->teams[p->team];
    const int seg = tm->segment;

    const double ua = rng_unit(r); /* a few key accounts get many deals */
    const long acct =
        p->team * m->accounts_per_team + (long)(ua * ua * (double)m->accounts_per_team);
    const int existing = m->first_win[acct] < day && rng_unit(r) < 0.7;
    double wt[N_PRODUCTS > N_SOURCES ? N_PRODUCTS : N_SOURCES];
    for (int i = 0; i < N_PRODUCTS; i++)
        wt[i] = products[i].weight[seg] * (existing ? products[i].existing : 1);
    const int prod = rng_pick(r, wt, N_PRODUCTS);
    for (int i = 0; i < N_SOURCES; i++)
        wt[i] = existing ? sources[i].weight_existing : sources[i].weight_new;
    const int src = rng_pick(r, wt, N_SOURCES);

    /* size: lognormal around the product's median, bigger in bigger segments, prices
     * rising 5% a year, expansions smaller than new logos */
    double amount = products[prod].median * segments[seg].amount * w->price * (existing ? 0.6 : 1) *
                    det_exp(0.4 * rng_normal(r));
    amount = amount < 300 ? 300 : amount > 8e6 ? 8e6 : amount;
    const double ru = rng_unit(r);
    int64_t cents;
    if (ru < 0.55) { /* list-price style round numbers */
        const double step = amount >= 10000 ? 500 : 100;
        cents = (int64_t)(floor(amount / step + 0.5) * step) * 100;
    } else if (ru < 0.9) {
        cents = (int64_t)floor(amount + 0.5) * 100;
    } else {
        cents = (int64_t)floor(amount * 100 + 0.5);
    }

    /* life: stage by stage, advance or die; bigger deals move slower */
    double sf = det_pow(amount / 25000, 0.25);
    sf = (sf < 0.6 ? 0.6 : sf > 2.2 ? 2.2 : sf) * segments[seg].cycle;
    const double fmul = sources[src].fail * (existing ? 0.7 : 1) / p->skill;
    double t = 0, enter[N_STAGES];
    int s, outcome = OUT_WON;
    for (s = 0; s < N_STAGES; s++) {
        enter[s] = t;
        const double dwell = rng_erlang2(r, stages[s].mean_days * sf);
        if (rng_unit(r) < SAMPLE_STALL_PER_STAGE) {
            outcome = OUT_STALLED;
            break;
        }
        const double fail = stages[s].fail * fmul;
        if (rng_unit(r) < (fail > 0.95 ? 0.95 : fail)) {
            t += dwell * SAMPLE_LOST_LINGER;
            outcome = OUT_LOST;
            break;
        }
        t += dwell;
    }
    kp_date end = day + (t < 1 ? 1 : (kp_date)ceil(t));
    if (outcome == OUT_WON)
        end = pull_in(end, day, r);
    if (outcome != OUT_STALLED)
        end = weekday_close(end, day);
    const int closed = outcome != OUT_STALLED && end < m->as_of;

    const char *stage, *category;
    int probability;
    kp_date close;
    if (closed) {
        const int won = outcome == OUT_WON;
        stage = won ? "Closed Won" : "Closed Lost";
        probability = won ? 100 : 0;
        category = won ? "Closed" : "Omitted";
        close = end;
    } else {
        int now = s < N_STAGES ? s : N_STAGES - 1;
        while (now > 0 && day + (kp_date)enter[now] >= m->as_of)
            now--;
        stage = stages[now].name;
        probability = stages[now].probability;
        category = open_category(now, outcome == OUT_STALLED, r);
        /* the close date the rep typed in: optimistic, and not always kept up to date */
        close = day + 1 + (kp_date)(w->stage_days * sf * (0.6 + 0.6 * rng_unit(r)));
        if (close < m->as_of && rng_unit(r) < (outcome == OUT_STALLED ? 0.35 : 0.7)) {
            close = m->as_of + 5 + (kp_date)rng_below(r, 80);
            if (rng_unit(r) < 0.4) /* "end of the month" */
                close = kp_date_month_start(close, 1) - 1;
        }
        if (close >= m->as_of + SAMPLE_MAX_AHEAD)
            close = m->as_of + SAMPLE_MAX_AHEAD - 1;
    }

    /* a rep who left hands over what was still open on their last day */
    int owner = rep;
    if (p->leave != SAMPLE_NEVER && (!closed || end >= p->leave))
        owner = p->successor;
    if (closed && outcome == OUT_WON) {
        if (end < m->first_win[acct])
            m->first_win[acct] = end;
        const int j = months_between(m->window, end);
        if (j >= 0 && j < m->quota_months)
            m->won[(size_t)owner * (size_t)m->quota_months + (size_t)j] += cents;
    }

    char id[19], account[128], name[256], money[32];
    w->record += 1 + (uint64_t)rng_below(r, 3);
    sf_id(id, "006", w->record);
    const char *const account_end = account_name(account, acct, tm->region);
    char *q = append(name, account);
    q = append(q, " - ");
    q = append(q, products[prod].name);
    if (existing) {
        const double un = rng_unit(r);
        q = append(q, un < 0.5 ? " Expansion" : un < 0.8 ? " Renewal" : " Upsell");
    }
    *q = '\0';
    ob_field(o, id, 1);
    ob_field_n(o, name, (size_t)(q - name), 0);
    ob_field_n(o, account, (size_t)(account_end - account), 0);
    ob_field(o, rep_user(m, owner)->name, 0);
    ob_field(o, stage, 0);
    ob_field_n(o, money, fmt_money(money, cents), 0);
    char pct[4];
    int np = 0;
    if (probability >= 100)
        pct[np++] = '1';
    if (probability >= 10)
        pct[np++] = (char)('0' + probability / 10 % 10);
    pct[np++] = (char)('0' + probability % 10);
    ob_field_n(o, pct, (size_t)np, 0);
    ob_date(o, &w->dates, close);
    ob_date(o, &w->dates, day);
    ob_field(o, category, 0);
    ob_field(o, existing ? "Existing Business" : "New Business", 0);
    ob_field(o, sources[src].name, 0);
    ob_field(o, products[prod].name, 0);
    ob_crlf(o);
}

/* Deals opened per day: growing about 2.2% a month, quiet at weekends and over the
 * year-end holidays, with some month-to-month noise. */
static double *day_weights(model *m, kp_date first, long ndays, rng *r, double *total)
{
    double *wt = malloc((size_t)ndays * sizeof *wt);
    double *noise = malloc((size_t)m->create_months * sizeof *noise);
    static const double weekday[7] = {1.0, 1.1, 1.1, 1.0, 0.9, 0.06, 0.04};
    *total = 0;
    if (!wt || !noise) {
        free(wt);
        free(noise);
        return NULL;
    }
    for (int c = 0; c < m->create_months; c++)
        noise[c] = det_exp(0.07 * rng_normal(r));
    const double growth = det_log(1.022) / 30.4375;
    for (long i = 0; i < ndays; i++) {
        const kp_date d = first + (kp_date)i;
        int y, mo, dd;
        kp_date_to_ymd(d, &y, &mo, &dd);
        const int c = months_between(first, d);
        double v = det_exp(growth * (double)i) * weekday[kp_date_weekday(d)] * noise[c];
        if ((mo == 12 && dd >= 24) || (mo == 1 && dd == 1))
            v *= 0.25;
        wt[i] = v;
        *total += v;
    }
    free(noise);
    return wt;
}

static kp_err write_opportunities(model *m, outbuf *o, kp_error *e)
{
    static const char *const header[] = {"Opportunity ID",
                                         "Opportunity Name",
                                         "Account Name",
                                         "Opportunity Owner",
                                         "Stage",
                                         "Amount",
                                         "Probability (%)",
                                         "Close Date",
                                         "Created Date",
                                         "Forecast Category",
                                         "Type",
                                         "Lead Source",
                                         "Product"};
    kp_err rc = KP_OK;
    opp_writer w = {.m = m, .o = o};
    double *wt = NULL, total;
    rng_seed(&w.r, m->o.seed, 2);
    const kp_date first = kp_date_month_start(m->window, -SAMPLE_WARMUP_MONTHS);
    const long ndays = m->last - first + 1;

    w.dates.lo = first;
    w.dates.n = m->as_of + SAMPLE_MAX_AHEAD - first;
    w.dates.text = malloc((size_t)w.dates.n * sizeof *w.dates.text);
    w.dates.len = malloc((size_t)w.dates.n);
    wt = day_weights(m, first, ndays, &w.r, &total);
    if (!w.dates.text || !w.dates.len || !wt) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto fail;
    }
    for (long i = 0; i < w.dates.n; i++)
        w.dates.len[i] = (unsigned char)fmt_mdy(w.dates.text[i], first + (kp_date)i);
    for (int s = 0; s < N_STAGES; s++)
        w.stage_days += stages[s].mean_days;
    w.record = 62u * 62u * 62u * 62u * 62u * (5 + (uint64_t)rng_below(&w.r, 30));

    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++)
        ob_field(o, header[i], i == 0);
    ob_crlf(o);
    double cum = 0;
    long emitted = 0;
    for (long i = 0; i < ndays; i++) {
        cum += wt[i];
        const long target = i == ndays - 1 ? m->opps : (long)((double)m->opps * (cum / total));
        const kp_date day = first + (kp_date)i;
        const int c = months_between(first, day);
        w.price = det_pow(1.05, (double)(day - m->window) / 365.25);
        for (; emitted < target; emitted++)
            write_deal(&w, day, c);
    }
    assert(emitted == m->opps);

    int y;
    char line[96];
    kp_date_to_ymd(m->as_of, &y, NULL, NULL);
    ob_crlf(o);
    snprintf(line, sizeof line, "Grand Totals (%ld records)", m->opps);
    ob_field(o, line, 1);
    ob_crlf(o);
    ob_crlf(o);
    ob_field(o, "Confidential Information - Do Not Distribute", 1);
    ob_crlf(o);
    snprintf(line, sizeof line, "Copyright (c) 2000-%d salesforce.com, inc. All rights reserved.",
             y);
    ob_field(o, line, 1);
    ob_crlf(o);
fail:
    free(wt);
    free(w.dates.text);
    free(w.dates.len);
    return rc;
}

/* ---- users, quotas, job ----------------------------------------------------------------- */

static kp_err write_users(model *m, outbuf *o, kp_error *e)
{
    static const char *const header[] = {"User ID",  "Full Name",  "Email",  "Role",
                                         "Division", "Manager ID", "Active", "Start Date"};
    (void)e;
    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++)
        ob_field(o, header[i], i == 0);
    ob_crlf(o);
    for (int i = 0; i < m->nusers; i++) {
        const user *u = &m->users[i];
        char date[16];
        ob_field(o, u->id, 1);
        ob_field(o, u->name, 0);
        ob_field(o, u->email, 0);
        ob_field(o, u->role, 0);
        ob_field(o, u->region < 0 ? "Global" : region_names[u->region], 0);
        ob_field(o, u->manager < 0 ? "" : m->users[u->manager].id, 0);
        ob_field(o, u->leave == SAMPLE_NEVER ? "1" : "0", 0);
        ob_field_n(o, date, fmt_mdy(date, u->start), 0);
        ob_crlf(o);
    }
    return KP_OK;
}

/* Relative size of a rep's quota in quota month j: ramping after the start, rising with
 * seniority, raised at each fiscal year; 0 when not employed for the whole month. */
static double quota_shape(const model *m, const user *p, int j)
{
    const kp_date month = kp_date_month_start(m->window, j);
    if (!employed_in(p, month))
        return 0;
    const int k = months_between(p->start, month);
    return seniority(k) * ramp_quota(k) *
           det_pow(1.25, fiscal_year(month) - fiscal_year(m->window));
}

/* Quotas are set so that the company as a whole lands near 92% of plan per segment;
 * individual reps then spread around that with their skill and luck. */
static kp_err write_quotas(model *m, outbuf *o, kp_error *e)
{
    double won[N_SEG] = {0}, shape[N_SEG] = {0}, base[N_SEG];
    (void)e;
    for (int k = 0; k < m->o.reps; k++) {
        const user *p = rep_user(m, k);
        const int seg = m->teams[p->team].segment;
        for (int j = 0; j < m->o.months; j++) {
            shape[seg] += quota_shape(m, p, j);
            won[seg] += (double)m->won[(size_t)k * (size_t)m->quota_months + (size_t)j] / 100;
        }
    }
    for (int s = 0; s < N_SEG; s++)
        base[s] = won[s] > 0 && shape[s] > 0 ? won[s] / shape[s] / SAMPLE_TARGET_ATTAINMENT
                                             : 40000 * segments[s].amount;

    ob_field(o, "Quota Owner ID", 1);
    ob_field(o, "Start Date", 0);
    ob_field(o, "Quota Amount", 0);
    ob_crlf(o);
    for (int k = 0; k < m->o.reps; k++) {
        const user *p = rep_user(m, k);
        for (int j = 0; j < m->quota_months; j++) {
            const double sh = quota_shape(m, p, j);
            if (sh <= 0)
                continue;
            double dollars = floor(base[m->teams[p->team].segment] * sh / 500 + 0.5) * 500;
            if (dollars < 500)
                dollars = 500;
            char date[16], money[32];
            ob_field(o, p->id, 1);
            ob_field_n(o, date, fmt_mdy(date, kp_date_month_start(m->window, j)), 0);
            ob_field_n(o, money, fmt_money(money, (int64_t)dollars * 100), 0);
            ob_crlf(o);
        }
    }
    return KP_OK;
}

static kp_err write_job(model *m, outbuf *o, kp_error *e)
{
    char buf[256], iso[KP_DATE_ISO_LEN + 1];
    (void)e;
    snprintf(buf, sizeof buf, "; generated by kpipress sample (seed %llu, %d reps, %d months)\n",
             (unsigned long long)m->o.seed, m->o.reps, m->o.months);
    ob_str(o, buf);
    ob_str(o, "[job]\n"
              "name = Sample Co monthly board pack\n"
              "database = var/sales.db\n");
    snprintf(buf, sizeof buf, "as_of = %s            ; the day after the last month covered\n",
             kp_date_format_iso(m->as_of, iso));
    ob_str(o, buf);
    ob_str(o, "period = previous_month\n"
              "fiscal_year_start = 2\n"
              "currency = USD\n"
              "output_dir = out/{period}\n"
              "max_reject_pct = 1\n"
              "\n"
              "[source opportunities]\n"
              "file = opportunities.csv\n"
              "preset = salesforce\n"
              "\n"
              "[source reps]\n"
              "file = users.csv\n"
              "preset = salesforce\n"
              "\n"
              "[source quotas]\n"
              "file = quotas.csv\n"
              "preset = salesforce\n"
              "\n"
              "[commission]\n"
              "target_incentive = 5000\n"
              "method = marginal\n"
              "floor = 50%\n"
              "cap = 250%\n"
              "tier.1 = 0% 0.5\n"
              "tier.2 = 50% 1.0\n"
              "tier.3 = 100% 1.5\n"
              "tier.4 = 150% 2.0\n"
              "\n"
              "[report board-pack]\n"
              "template = board-pack.ini\n"
              "output = board-pack-{period}.xlsx\n"
              "\n"
              "[report board-pack-pdf]\n"
              "template = board-pack-pdf.ini\n"
              "output = board-pack-{period}.pdf\n"
              "\n"
              "[report quota-attainment]\n"
              "template = quota-attainment.ini\n"
              "output = quota-attainment-{period}.xlsx\n"
              "\n"
              "[report raw-data]\n"
              "template = raw-data.ini\n"
              "output = raw-data-{period}.xlsx\n"
              "\n"
              "[report team-scorecards]\n"
              "template = team-scorecard.ini\n"
              "burst = SELECT rep_id AS manager_id, name, email FROM reps\n"
              "  WHERE rep_id IN (SELECT manager_id FROM reps) ORDER BY rep_id\n"
              "output = teams/{manager_id}.pdf\n"
              "\n"
              "[report scorecards]\n"
              "template = rep-scorecard.ini\n"
              "burst = SELECT rep_id, name, email FROM reps WHERE active = 1 AND rep_id IN\n"
              "  (SELECT rep_id FROM quotas WHERE period_start BETWEEN :period_start AND "
              ":period_end)\n"
              "  ORDER BY rep_id\n"
              "output = scorecards/{rep_id}.pdf\n"
              "email = {email}\n"
              "email_name = {name}\n"
              "from = sales-ops@example.com\n"
              "from_name = Sales Operations\n"
              "subject = Your scorecard for {period_label}\n"
              "body = Hello {name},\n"
              "  your sales scorecard for {period_label} is attached.\n"
              "  Figures as of {as_of}. Questions: sales-ops@example.com\n");
    return KP_OK;
}

/* ---- files ---------------------------------------------------------------------------- */

/* mkdir -p. */
static kp_err make_dirs(const char *dir, kp_error *e)
{
    char path[KP_PATH_MAX];
    struct stat st;
    if (!*dir)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "empty directory name");
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return kp_error_set(e, KP_ERR_IO, dir, 0, 0, "path too long");
    for (char *p = path + 1;; p++) {
        const int end = *p == '\0';
        if (*p != '/' && !end)
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot create directory: %s",
                                strerror(errno));
        if (end)
            break;
        *p = '/';
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return kp_error_set(e, KP_ERR_IO, path, 0, 0, "not a directory");
    return KP_OK;
}

typedef kp_err (*file_writer)(model *m, outbuf *o, kp_error *e);

/* Writes dir/name through a temporary file renamed into place, so a reader never sees
 * half a file and a failed run leaves the previous one. */
static kp_err write_file(model *m, const char *dir, const char *name, file_writer fn, kp_error *e)
{
    char path[KP_PATH_MAX], tmp[KP_PATH_MAX + 8];
    outbuf o = {0};
    kp_err rc = KP_OK;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return kp_error_set(e, KP_ERR_IO, dir, 0, 0, "path too long");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    o.buf = malloc(SAMPLE_OUT_BUF);
    if (!o.buf)
        return kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
    o.f = fopen(tmp, "wb");
    if (!o.f) {
        rc = kp_error_set(e, KP_ERR_IO, tmp, 0, 0, "cannot create: %s", strerror(errno));
        goto done;
    }
    if ((rc = fn(m, &o, e)) != KP_OK)
        goto fail;
    ob_flush(&o);
    if (o.err) {
        rc = kp_error_set(e, KP_ERR_IO, tmp, 0, 0, "write failed: %s", strerror(o.err));
        goto fail;
    }
    const int closed = fclose(o.f);
    o.f = NULL;
    if (closed != 0) {
        rc = kp_error_set(e, KP_ERR_IO, tmp, 0, 0, "write failed: %s", strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc =
            kp_error_set(e, KP_ERR_IO, path, 0, 0, "cannot rename into place: %s", strerror(errno));
        goto fail;
    }
    goto done;
fail:
    if (o.f)
        fclose(o.f);
    remove(tmp);
done:
    free(o.buf);
    return rc;
}

/* ---- public API -------------------------------------------------------------------------- */

void kp_sample_defaults(kp_sample_options *o)
{
    memset(o, 0, sizeof *o);
    o->reps = 40;
    o->opps = 0;
    o->months = 24;
    o->seed = 42;
    o->as_of = kp_date_from_ymd(2026, 11, 1);
    o->end = o->as_of - 1;
}

static kp_err check_options(const kp_sample_options *o, kp_error *e)
{
    int y;
    if (o->reps < 1 || o->reps > KP_SAMPLE_MAX_REPS)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "--reps must be 1..%d",
                            KP_SAMPLE_MAX_REPS);
    if (o->months < 1 || o->months > KP_SAMPLE_MAX_MONTHS)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "--months must be 1..%d",
                            KP_SAMPLE_MAX_MONTHS);
    if (o->opps < 0 || o->opps > KP_SAMPLE_MAX_OPPS)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "--opps must be 0..%ld",
                            KP_SAMPLE_MAX_OPPS);
    kp_date_to_ymd(o->as_of ? o->as_of : o->end + 1, &y, NULL, NULL);
    if (y < 1900 || y > 9000)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "--as-of must be in the years 1900..9000");
    return KP_OK;
}

kp_err kp_sample_write(const char *dir, const kp_sample_options *opts, kp_error *e)
{
    model m;
    kp_err rc;
    memset(&m, 0, sizeof m);
    if ((rc = check_options(opts, e)) != KP_OK)
        return rc;
    m.o = *opts;
    m.as_of = opts->as_of ? opts->as_of : opts->end + 1;
    m.last = m.as_of - 1;
    m.window = kp_date_month_start(m.last, -(m.o.months - 1));
    int y, mo;
    kp_date_to_ymd(kp_date_month_start(m.last, 1), &y, &mo, NULL);
    m.quota_months = m.o.months + 12 - (mo - SAMPLE_FISCAL_START + 12) % 12;
    m.create_months = m.o.months + SAMPLE_WARMUP_MONTHS;
    m.opps =
        opts->opps ? opts->opps : (long)(m.o.reps * m.o.months * SAMPLE_OPPS_PER_REP_MONTH + 0.5);
    if ((rc = make_dirs(dir, e)) != KP_OK || (rc = build_company(&m, e)) != KP_OK ||
        (rc = build_capacity(&m, e)) != KP_OK)
        goto done;
    const long per_team = m.opps / m.nteams / 5;
    m.accounts_per_team = per_team < 25 ? 25 : per_team > 2000 ? 2000 : per_team;
    const size_t accounts = (size_t)m.nteams * (size_t)m.accounts_per_team;
    m.first_win = malloc(accounts * sizeof *m.first_win);
    m.won = calloc((size_t)m.o.reps * (size_t)m.quota_months, sizeof *m.won);
    if (!m.first_win || !m.won) {
        rc = kp_error_set(e, KP_ERR_NOMEM, NULL, 0, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < accounts; i++)
        m.first_win[i] = SAMPLE_NEVER;
    if ((rc = write_file(&m, dir, "users.csv", write_users, e)) != KP_OK ||
        (rc = write_file(&m, dir, "opportunities.csv", write_opportunities, e)) != KP_OK ||
        (rc = write_file(&m, dir, "quotas.csv", write_quotas, e)) != KP_OK ||
        (rc = write_file(&m, dir, "job.ini", write_job, e)) != KP_OK)
        goto done;
done:
    model_free(&m);
    return rc;
}

/* ---- command line -------------------------------------------------------------------- */

static const char sample_usage[] =
    "usage: kpipress sample DIR [--reps N] [--opps N] [--months N] [--seed S] [--as-of DATE]\n"
    "\n"
    "Writes a realistic, deterministic CRM data set into DIR (created if missing):\n"
    "opportunities.csv (a Salesforce opportunity report export), users.csv, quotas.csv\n"
    "and job.ini, a job that runs on them.\n"
    "\n"
    "  --reps N      quota-carrying reps (default 40; managers come on top)\n"
    "  --opps N      opportunities in total (default 3.5 per rep per month)\n"
    "  --months N    months of history (default 24)\n"
    "  --seed S      random seed (default 42); the same options give the same bytes\n"
    "  --as-of DATE  the job's as-of date, YYYY-MM-DD: the day after the last day covered\n"
    "                (default 2026-11-01)\n";

static int parse_number(const char *s, unsigned long long lo, unsigned long long hi,
                        unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

kp_err kp_sample_main(int argc, char **argv, kp_error *e)
{
    kp_sample_options o;
    const char *dir = NULL;
    kp_sample_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        char opt[32];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(sample_usage, stdout);
            return KP_OK;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (dir)
                return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0,
                                    "sample: one directory expected, got '%s' and '%s'", dir, arg);
            dir = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        const size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        snprintf(opt, sizeof opt, "%.*s", (int)(n < sizeof opt ? n : sizeof opt - 1), arg);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        unsigned long long v = 0;
        int bad = !val;
        if (!strcmp(opt, "--reps")) {
            bad = bad || parse_number(val, 1, KP_SAMPLE_MAX_REPS, &v);
            o.reps = (int)v;
        } else if (!strcmp(opt, "--opps")) {
            bad = bad || parse_number(val, 1, KP_SAMPLE_MAX_OPPS, &v);
            o.opps = (long)v;
        } else if (!strcmp(opt, "--months")) {
            bad = bad || parse_number(val, 1, KP_SAMPLE_MAX_MONTHS, &v);
            o.months = (int)v;
        } else if (!strcmp(opt, "--seed")) {
            bad = bad || parse_number(val, 0, UINT64_MAX, &v);
            o.seed = (uint64_t)v;
        } else if (!strcmp(opt, "--as-of")) {
            bad = bad || kp_date_parse_iso(val, strlen(val), &o.as_of) != 0;
            o.end = o.as_of - 1;
        } else {
            return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "sample: unknown option '%s'", opt);
        }
        if (bad)
            return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "sample: %s needs %s, got '%s'", opt,
                                strcmp(opt, "--as-of") ? "a whole number in range"
                                                       : "a date YYYY-MM-DD",
                                val ? val : "nothing");
    }
    if (!dir)
        return kp_error_set(e, KP_ERR_USAGE, NULL, 0, 0, "sample: no directory given (try --help)");
    return kp_sample_write(dir, &o, e);
}
