#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[DX_STATUS_COUNT] = {
    [DX_OK] = "ok",
    [DX_ENOMEM] = "out of memory",
    [DX_EIO] = "I/O error",
    [DX_EFORMAT] = "format error",
    [DX_EARG] = "bad argument",
    [DX_EUNSUPPORTED] = "unsupported",
    [DX_ELIMIT] = "limit exceeded",
    [DX_ENOTFOUND] = "not found",
    [DX_ENET] = "network error",
    [DX_ETIMEOUT] = "timed out",
    [DX_ECANCELLED] = "cancelled",
    [DX_EINTERNAL] = "internal error",
    [DX_EBUSY] = "busy",
};

static _Thread_local char errbuf[512];

const char *dx_status_str(dx_status st)
{
    if ((unsigned)st >= DX_STATUS_COUNT)
        return "unknown status";
    return names[st];
}

dx_status dx_fail(dx_status st, const char *fmt, ...)
{
    if (st == DX_OK) {
        errbuf[0] = '\0';
        return st;
    }
    if (!fmt) {
        snprintf(errbuf, sizeof errbuf, "%s", dx_status_str(st));
        return st;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return st;
}

dx_status dx_oom(const char *where)
{
    return where ? dx_fail(DX_ENOMEM, "%s: out of memory", where)
                 : dx_fail(DX_ENOMEM, "out of memory");
}

dx_status dx_wrap(dx_status st, const char *fmt, ...)
{
    char prefix[256], old[sizeof errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    if (!old[0])
        snprintf(old, sizeof old, "%s", dx_status_str(st));
    char joined[sizeof prefix + sizeof old + 2];
    snprintf(joined, sizeof joined, "%s: %s", prefix, old);
    snprintf(errbuf, sizeof errbuf, "%.*s", (int)(sizeof errbuf - 1), joined);
    return st;
}

const char *dx_errmsg(void)
{
    return errbuf;
}
