/*
 * term_md — markdown rendered for a terminal.
 *
 * Headings, emphasis, code, lists, quotes, links and GFM tables (columns
 * aligned by display width) become plain text, with ANSI styles when
 * `color` is set. Control characters from the text are dropped, so model
 * output can't move the cursor or change the terminal.
 *
 *     dx_buf b = dx_buf_make(1 << 20);
 *     term_md_render(answer, isatty(1) && !getenv("NO_COLOR"), &b);
 */
#ifndef DX_TERM_MD_H
#define DX_TERM_MD_H

#include <stdbool.h>

#include "core/str.h"

dx_status term_md_render(const char *md, bool color, dx_buf *out);

/* Append text with control characters (except newline and tab) removed. */
dx_status term_md_clean(dx_buf *out, const char *s, size_t n);

#endif
