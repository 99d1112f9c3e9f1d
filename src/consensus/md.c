#include "consensus/md.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <pthread.h>

static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void register_extensions(void)
{
    cmark_gfm_core_extensions_ensure_registered();
}

dx_status cns_md_parse(const char *md, size_t len, cmark_node **doc)
{
    *doc = NULL;
    pthread_once(&registered, register_extensions);
    cmark_parser *p = cmark_parser_new(CMARK_OPT_DEFAULT);
    if (!p)
        return dx_oom("parsing markdown");
    static const char *const ext[] = {"table", "strikethrough", "autolink", "tasklist"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        cmark_syntax_extension *e = cmark_find_syntax_extension(ext[i]);
        if (e)
            cmark_parser_attach_syntax_extension(p, e);
    }
    cmark_parser_feed(p, md, len);
    *doc = cmark_parser_finish(p);
    cmark_parser_free(p);
    return *doc ? DX_OK : dx_oom("parsing markdown");
}
