/* fuzz_dburl — a --db target (SQLite path, postgres:// URL or libpq
 * key=value string) through the checks that run before anything connects:
 * whether it names PostgreSQL, and the redaction that keeps its password out
 * of messages. The result must be terminated, within the buffer, and never
 * contain a password given as user:password@ or password=. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    t[size] = '\0';
    (void)sql_target_is_postgres(t);
    char out[64], big[4096];
    sql_target_redact(t, out, sizeof out);
    if (strlen(out) >= sizeof out)
        __builtin_trap();
    sql_target_redact(t, big, sizeof big);
    if (strlen(big) >= sizeof big)
        __builtin_trap();
    /* a marker password must not survive */
    if (size < 2000 && !strchr(t, 'Z')) {
        char probe[4200];
        snprintf(probe, sizeof probe, "postgres://u:ZZSECRETZZ@h/%s password=ZZSECRETZZ", t);
        sql_target_redact(probe, big, sizeof big);
        if (strstr(big, "ZZSECRETZZ"))
            __builtin_trap();
    }
    sql_target_redact(t, out, 1);
    if (out[0])
        __builtin_trap();
    free(t);
    return 0;
}
