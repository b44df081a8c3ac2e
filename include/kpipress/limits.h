/* Every hard limit of kpipress in one place: the sizes a hostile or broken input can
 * reach before it is refused with a message, and the limits of the output formats. */
#ifndef KPIPRESS_LIMITS_H
#define KPIPRESS_LIMITS_H

#define KP_INI_MAX_LINE 4096         /* longest job/template line (inih default is 200) */
#define KP_INI_MAX_VALUE 65536       /* longest value after joining continuation lines */
#define KP_INI_MAX_SECTIONS 1000     /* sections per job or template file */
#define KP_CSV_MAX_FIELD 65536       /* longest CSV field in bytes */
#define KP_CSV_MAX_COLUMNS 1024      /* widest CSV row */
#define KP_CSV_BLOCK 65536           /* bytes fed to libcsv per call */
#define KP_MAX_SOURCES 32
#define KP_MAX_REPORTS 64
#define KP_XLSX_MAX_ROWS 1048576     /* Excel's row limit, header included */
#define KP_XLSX_MAX_COLS 16384
#define KP_XLSX_MAX_STRING 32767     /* Excel's cell string limit in characters */
#define KP_XLSX_MAX_SHEETNAME 31
#define KP_XLSX_MAX_COL_WIDTH 60     /* widest column sized from content, characters */
#define KP_XLSX_MAX_DEFINED_NAME 255 /* Excel defined-name length */
#define KP_COMMISSION_MAX_TIERS 16   /* tiers of a [commission] plan (one formula term each) */
#define KP_NAME_MAX 256              /* names: sources, reports, metrics, columns */
#define KP_PATH_MAX 4096
#define KP_FILE_NAME_MAX 200         /* one output file name; its ".NAME.tmp-PID-N" must fit 255 */
#define KP_BURST_NAME_MAX 100        /* bytes of one burst value inside a file name */
#define KP_PDF_CHART_MAX_CATEGORIES 60 /* categories drawn in one PDF chart; more are cut */
#define KP_FORECAST_MAX_THREADS 8      /* worker threads of the forecast stage */

#define KP_SAMPLE_MAX_REPS 5000        /* kpipress sample: quota-carrying reps */
#define KP_SAMPLE_MAX_MONTHS 120       /* kpipress sample: months of history */
#define KP_SAMPLE_MAX_OPPS 100000000L  /* kpipress sample: opportunities */
#define KP_EMAIL_LINE 78             /* header line length before folding (RFC 5322 2.1.1) */
#define KP_EMAIL_MAX_ADDRESS 254     /* longest e-mail address accepted (RFC 5321 path limit) */

#define KP_FORECAST_PERIOD 12          /* months in a season (monthly series) */
#define KP_FORECAST_MIN_POINTS 4       /* shorter series get a labelled fallback */
#define KP_FORECAST_SEASONAL_MIN 24    /* two full seasons before a seasonal model is tried */
#define KP_FORECAST_MAX_POINTS 1200    /* longest series forecast (100 years of months) */
#define KP_FORECAST_MAX_HORIZON 120    /* months ahead */
#define KP_FORECAST_BECAUSE_MAX 160    /* chosen_because text */
#define KP_FORECAST_MC_RUNS 10000      /* default Monte Carlo runs */
#define KP_FORECAST_MC_MAX_RUNS 10000000

#endif
