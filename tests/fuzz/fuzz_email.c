/* libFuzzer target: the e-mail writer's header encoding (RFC 2047 words, folding,
 * address checks) with arbitrary display names, subject, body and attachment name. The
 * input is split at NUL bytes into those fields. A written message must hold no bare LF
 * and no header line over 998 bytes (RFC 5322 2.1.1). */
#include "fuzz.h"
#include "kpipress/email.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *field[6] = {"", "", "", "", "a@example.com", "report.pdf"};
    size_t k = 0;
    for (char *p = buf; k < 6 && p <= buf + size; p += strlen(p) + 1)
        field[k++] = p;
    kp_email m = {.from_name = field[0],
                  .from_addr = "ops@example.com",
                  .to_name = field[1],
                  .to_addr = field[4],
                  .subject = field[2],
                  .body = field[3],
                  .attachment_path = NULL,
                  .attachment_name = field[5],
                  .report = "r",
                  .key = field[1],
                  .as_of = 0};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    kp_error e = {0};
    if (f) {
        kp_err rc = kp_email_write(f, &m, &e);
        fclose(f);
        if (rc == KP_OK) {
            size_t line = 0;
            int in_headers = 1;
            for (size_t i = 0; i < len; i++) {
                if (out[i] == '\n') {
                    if (i == 0 || out[i - 1] != '\r')
                        abort(); /* bare LF */
                    if (line == 1)
                        in_headers = 0;
                    line = 0;
                } else if (++line > 998 && in_headers) {
                    abort(); /* header line too long */
                }
            }
        }
    }
    free(out);
    free(buf);
    return 0;
}
