#include <string.h>

#include "cli/term_md.h"
#include "test.h"

static char out[8192];

static const char *render(const char *md, bool color)
{
    dx_buf b = dx_buf_make(1 << 20);
    out[0] = '\0';
    if (term_md_render(md, color, &b) == DX_OK && b.data)
        snprintf(out, sizeof out, "%s", b.data);
    dx_buf_free(&b);
    return out;
}

TEST(lists_headings_and_code)
{
    const char *s =
        render("# Title\n\nSome *text* and `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n"
               "```\nint x;\n```\n",
               false);
    CHECK_MSG(strstr(s, "Title\n\nSome text and code.\n") != NULL, "%s", s);
    CHECK(strstr(s, "• one\n• two\n") != NULL);
    CHECK(strstr(s, "1. first\n2. second\n") != NULL);
    CHECK(strstr(s, "    int x;\n") != NULL);
    CHECK(strchr(s, '\033') == NULL); /* no styles without color */
}

TEST(tables_align_by_display_width)
{
    const char *s = render("| Name | City |\n|---|---|\n| Zoë | Paris |\n| 東京 | x |\n", false);
    /* "Zoë" is 3 columns, "東京" 4: both padded to the width of "Name" (4) */
    CHECK_MSG(strstr(s, "Name │ City") != NULL, "%s", s);
    CHECK_MSG(strstr(s, "Zoë  │ Paris") != NULL, "%s", s);
    CHECK_MSG(strstr(s, "東京 │ x") != NULL, "%s", s);
    CHECK(strstr(s, "─┼─") != NULL);
}

TEST(model_output_cannot_drive_the_terminal)
{
    const char *s = render("Hi \033[2J\033]0;owned\007 there <script>x</script> \xc2\x9b"
                           "31m",
                           true);
    CHECK(strstr(s, "\033[2J") == NULL);
    CHECK(strstr(s, "\033]0;") == NULL);
    CHECK(strchr(s, '\007') == NULL);
    CHECK(strstr(s, "\xc2\x9b") == NULL);
    CHECK(strstr(s, "<script>x</script>") != NULL); /* shown as text, not run */
}

TEST(links_show_their_target)
{
    const char *s = render("See [the docs](https://example.org/x) and **bold**.", true);
    CHECK_MSG(strstr(s, "the docs (https://example.org/x)") != NULL, "%s", s);
    CHECK(strstr(s, "\033[1mbold\033[22m") != NULL);
}

int main(void)
{
    RUN(lists_headings_and_code);
    RUN(tables_align_by_display_width);
    RUN(model_output_cannot_drive_the_terminal);
    RUN(links_show_their_target);
    return test_summary();
}
