/* PDF renderer (libharu adapter): the one module that includes <hpdf.h>. */
#ifndef KPIPRESS_RENDER_PDF_H
#define KPIPRESS_RENDER_PDF_H

#include "kpipress/doc.h"
#include "kpipress/err.h"

#define KP_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define KP_DEFAULT_FONT_BOLD "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

/* Write doc as a PDF at path (same temporary-path contract as kp_render_xlsx). Text is
 * UTF-8 through an embedded TrueType font (doc->font_path or KP_DEFAULT_FONT). */
kp_err kp_render_pdf(const kp_doc *doc, const char *path, kp_error *e);

#endif
