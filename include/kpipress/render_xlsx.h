/* Excel renderer (libxlsxwriter adapter): the one module that includes <xlsxwriter.h>. */
#ifndef KPIPRESS_RENDER_XLSX_H
#define KPIPRESS_RENDER_XLSX_H

#include "kpipress/doc.h"
#include "kpipress/err.h"

/* Write doc as a workbook at path. The caller (deliver.c) passes a temporary path in the
 * target directory and renames it on success; on failure the file may exist and the
 * caller removes it. Byte-identical output for an identical doc. */
kp_err kp_render_xlsx(const kp_doc *doc, const char *path, kp_error *e);

#endif
