#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int level = -1;

static enum log_level level_from_env(void)
{
    const char *e = getenv("DRUX_LOG");
    if (!e)
        return LOG_WARN;
    if (!strcmp(e, "error"))
        return LOG_ERROR;
    if (!strcmp(e, "info"))
        return LOG_INFO;
    if (!strcmp(e, "debug"))
        return LOG_DEBUG;
    return LOG_WARN;
}

static enum log_level log_get_level(void)
{
    if (level < 0)
        level = (int)level_from_env();
    return (enum log_level)level;
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    if (lv > log_get_level())
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "drux: %s: ", tag[lv]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
