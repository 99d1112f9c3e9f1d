/* A thread as a Markdown document: each turn's question, the answer, the
 * agreed and disputed points with who made them, and every member's own
 * answer. Read from the stored questions alone (the analysis object under
 * "result"); missing or mistyped fields are left out, never a crash. */
#include <jansson.h>
#include <string.h>

#include "server/srv.h"

static const char *js(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One line of text for a heading or a list item: line breaks become spaces. */
static dx_status put_line(dx_buf *b, const char *s)
{
    dx_status st = DX_OK;
    for (size_t i = 0; s && s[i] && !st; i++)
        st = dx_buf_append(b, s[i] == '\n' || s[i] == '\r' ? " " : &s[i], 1);
    return st;
}

static dx_status put_names(dx_buf *b, json_t *names)
{
    dx_status st = DX_OK;
    size_t i, n = json_array_size(names);
    json_t *s;
    json_array_foreach(names, i, s)
    {
        if (i && !st)
            st = dx_buf_puts(b, i + 1 == n ? " and " : ", ");
        if (!st)
            st = put_line(b, json_string_value(s));
    }
    return st;
}

static const char *label_words(const char *label)
{
    static const struct {
        const char *k, *v;
    } words[] = {{"consensus", "Consensus"},       {"partial", "Partial agreement"},
                 {"disagree", "Disagreement"},     {"no_common_ground", "No common ground"},
                 {"single_voice", "Single voice"}, {"no_answer", "No answer"}};
    for (size_t i = 0; label && i < sizeof words / sizeof *words; i++)
        if (!strcmp(label, words[i].k))
            return words[i].v;
    return NULL;
}

static dx_status points_md(dx_buf *b, json_t *an)
{
    dx_status st = DX_OK;
    size_t i, k;
    json_t *p, *s;
    json_t *agreed = json_object_get(an, "agreed"), *disputed = json_object_get(an, "disputed"),
           *unique = json_object_get(an, "unique");
    if (json_array_size(agreed))
        st = dx_buf_puts(b, "### Agreed points\n\n");
    json_array_foreach(agreed, i, p)
    {
        if (!st)
            st = dx_buf_puts(b, "- ");
        if (!st)
            st = put_line(b, js(p, "text"));
        if (!st)
            st = dx_buf_puts(b, " (");
        if (!st)
            st = put_names(b, json_object_get(p, "members"));
        if (!st)
            st = dx_buf_puts(b, ")\n");
    }
    if (!st && json_array_size(agreed))
        st = dx_buf_puts(b, "\n");
    if (!st && json_array_size(disputed))
        st = dx_buf_puts(b, "### Disputed points\n\n");
    json_array_foreach(disputed, i, p)
    {
        if (!st)
            st = dx_buf_puts(b, "- ");
        if (!st)
            st = put_line(b, js(p, "text"));
        if (!st)
            st = dx_buf_puts(b, "\n");
        json_array_foreach(json_object_get(p, "stances"), k, s)
        {
            json_int_t pos = json_integer_value(json_object_get(s, "position"));
            if (!st)
                st = dx_buf_printf(b, "  - side %c, ",
                                   (char)('A' + (pos >= 0 && pos < 26 ? pos : 25)));
            if (!st)
                st = put_line(b, js(s, "member"));
            if (!st)
                st = dx_buf_puts(b, ": ");
            if (!st)
                st = put_line(b, js(s, "text"));
            if (!st)
                st = dx_buf_puts(b, "\n");
        }
    }
    if (!st && json_array_size(disputed))
        st = dx_buf_puts(b, "\n");
    if (!st && json_array_size(unique))
        st = dx_buf_puts(b, "### Said by one model only\n\n");
    json_array_foreach(unique, i, p)
    {
        if (!st)
            st = dx_buf_puts(b, "- ");
        if (!st)
            st = put_line(b, js(p, "text"));
        if (!st)
            st = dx_buf_puts(b, " (");
        if (!st)
            st = put_line(b, js(p, "member"));
        if (!st)
            st = dx_buf_puts(b, ")\n");
    }
    if (!st && json_array_size(unique))
        st = dx_buf_puts(b, "\n");
    return st;
}

/* Each member's answer, with what it was given of the thread. The live
 * members carry the context counts; a result's members do not, so they are
 * read from the stored question's members by position. */
static dx_status members_md(dx_buf *b, json_t *q, json_t *r)
{
    json_t *members = r ? json_object_get(r, "members") : json_object_get(q, "members");
    json_t *live = json_object_get(q, "members");
    dx_status st = json_array_size(members) ? dx_buf_puts(b, "### Each model's answer\n\n") : DX_OK;
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        json_t *lm = json_array_get(live, i);
        if (!st)
            st = dx_buf_puts(b, "#### ");
        if (!st)
            st = put_line(b, js(m, "name") ? js(m, "name") : js(m, "model"));
        if (!st && js(m, "model") && js(m, "name") && strcmp(js(m, "model"), js(m, "name"))) {
            st = dx_buf_puts(b, " (");
            if (!st)
                st = put_line(b, js(m, "model"));
            if (!st)
                st = dx_buf_puts(b, ")");
        }
        if (!st)
            st = dx_buf_puts(b, ": ");
        if (!st)
            st = put_line(b, js(m, "status") ? js(m, "status") : "unknown");
        if (!st)
            st = dx_buf_puts(b, "\n\n");
        json_int_t used = json_integer_value(json_object_get(lm, "context_turns")),
                   dropped = json_integer_value(json_object_get(lm, "context_dropped"));
        if (!st && dropped > 0)
            st = dx_buf_printf(b,
                               "_Answered after %lld earlier turn%s of the thread; %lld older "
                               "left out to fit its context._\n\n",
                               (long long)used, used == 1 ? "" : "s", (long long)dropped);
        if (!st && js(m, "error") && *js(m, "error")) {
            st = dx_buf_puts(b, "_Error: ");
            if (!st)
                st = put_line(b, js(m, "error"));
            if (!st)
                st = dx_buf_puts(b, "_\n\n");
        }
        const char *text = js(m, "text");
        if (!st && text && *text) {
            st = dx_buf_puts(b, text);
            if (!st)
                st = dx_buf_puts(b, "\n\n");
        }
    }
    return st;
}

static dx_status turn_md(dx_buf *b, json_t *q, size_t n)
{
    json_t *r = json_object_get(q, "result");
    if (!json_is_object(r))
        r = NULL;
    json_t *an = json_object_get(r, "analysis");
    dx_status st = dx_buf_printf(b, "## %zu. ", n);
    if (!st)
        st = put_line(b, js(q, "question"));
    if (!st)
        st = dx_buf_puts(b, "\n\n");
    const char *label = label_words(js(an, "label"));
    json_t *cons = json_object_get(an, "consensus");
    if (!st && label)
        st = json_is_integer(cons)
                 ? dx_buf_printf(b, "**%s, %lld%%**", label, (long long)json_integer_value(cons))
                 : dx_buf_printf(b, "**%s**", label);
    else if (!st)
        st = dx_buf_printf(b, "**%s**", js(q, "status") ? js(q, "status") : "not answered");
    if (!st && js(q, "created_at")) {
        st = dx_buf_puts(b, " (asked ");
        if (!st)
            st = put_line(b, js(q, "created_at"));
        if (!st)
            st = dx_buf_puts(b, ")");
    }
    if (!st)
        st = dx_buf_puts(b, "\n\n");
    const char *answer = js(r, "answer");
    if (!st && answer) {
        st = dx_buf_puts(b, "### Answer\n\n");
        if (!st)
            st = dx_buf_puts(b, answer);
        if (!st)
            st = dx_buf_puts(b, "\n\n");
    }
    if (!st && an)
        st = points_md(b, an);
    if (!st)
        st = members_md(b, q, r);
    return st;
}

dx_status export_thread_md(dx_buf *out, json_t *thread)
{
    json_t *turns = json_object_get(thread, "questions");
    json_t *first = json_array_get(turns, 0);
    dx_status st = dx_buf_puts(out, "# ");
    if (!st)
        st = put_line(out, first ? js(first, "question") : "(empty thread)");
    if (!st)
        st = dx_buf_printf(out,
                           "\n\nA drux thread of %zu turn%s: each question went to the whole "
                           "council, with the earlier turns as the conversation before it.\n\n",
                           json_array_size(turns), json_array_size(turns) == 1 ? "" : "s");
    size_t i;
    json_t *q;
    json_array_foreach(turns, i, q)
    {
        if (st)
            break;
        st = turn_md(out, q, i + 1);
    }
    return st;
}
