#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub.h"

dx_status hub_resolve_model(const char *name, char **path)
{
    *path = NULL;
    if (access(name, R_OK) == 0) {
        *path = strdup(name);
        return *path ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
    }
    /* a path (cached names never hold a '/'): say why the file can't be read */
    if (strchr(name, '/'))
        return dx_fail(errno == ENOENT ? DX_ENOTFOUND : DX_EIO, "%s: %s", name, strerror(errno));
    hub_model m;
    dx_status st = hub_find(name, &m);
    if (st == DX_ENOTFOUND)
        return dx_fail(DX_ENOTFOUND,
                       "'%s' is neither a file nor a cached model ('drux models' lists them, "
                       "'drux pull' adds one)",
                       name);
    if (st)
        return st;
    *path = strdup(m.path);
    return *path ? DX_OK : dx_fail(DX_ENOMEM, "out of memory");
}
