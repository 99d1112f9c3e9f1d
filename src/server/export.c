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
static void put_line(dx_buf *b, const char *s)
{
    for (size_t i = 0; s && s[i] && !b->err; i++)
        dx_buf_addn(b, s[i] == '\n' || s[i] == '\r' ? " " : &s[i], 1);
}

static void put_names(dx_buf *b, json_t *names)
{
    size_t i, n = json_array_size(names);
    json_t *s;
    json_array_foreach(names, i, s)
    {
        if (i)
            dx_buf_add(b, i + 1 == n ? " and " : ", ");
        put_line(b, json_string_value(s));
    }
}

/* "- TEXT (WHO)\n": an agreed point with its members, a unique one with its member. */
static void point_line(dx_buf *b, json_t *p, json_t *names, const char *member)
{
    dx_buf_add(b, "- ");
    put_line(b, js(p, "text"));
    dx_buf_add(b, " (");
    if (names)
        put_names(b, names);
    else
        put_line(b, member);
    dx_buf_add(b, ")\n");
}

static void points_md(dx_buf *b, json_t *an)
{
    size_t i, k;
    json_t *p, *s;
    json_t *agreed = json_object_get(an, "agreed"), *disputed = json_object_get(an, "disputed"),
           *unique = json_object_get(an, "unique");
    if (json_array_size(agreed))
        dx_buf_add(b, "### Agreed points\n\n");
    json_array_foreach(agreed, i, p)
    {
        point_line(b, p, json_object_get(p, "members"), NULL);
    }
    if (json_array_size(agreed))
        dx_buf_add(b, "\n");
    if (json_array_size(disputed))
        dx_buf_add(b, "### Disputed points\n\n");
    json_array_foreach(disputed, i, p)
    {
        dx_buf_add(b, "- ");
        put_line(b, js(p, "text"));
        dx_buf_add(b, "\n");
        json_array_foreach(json_object_get(p, "stances"), k, s)
        {
            json_int_t pos = json_integer_value(json_object_get(s, "position"));
            dx_buf_addf(b, "  - side %c, ", (char)('A' + (pos >= 0 && pos < 26 ? pos : 25)));
            put_line(b, js(s, "member"));
            dx_buf_add(b, ": ");
            put_line(b, js(s, "text"));
            dx_buf_add(b, "\n");
        }
    }
    if (json_array_size(disputed))
        dx_buf_add(b, "\n");
    if (json_array_size(unique))
        dx_buf_add(b, "### Said by one model only\n\n");
    json_array_foreach(unique, i, p)
    {
        point_line(b, p, NULL, js(p, "member"));
    }
    if (json_array_size(unique))
        dx_buf_add(b, "\n");
}

/* Each member's answer, with what it was given of the thread. The live
 * members carry the context counts; a result's members do not, so they are
 * read from the stored question's members by position. */
static void members_md(dx_buf *b, json_t *q, json_t *r)
{
    json_t *members = r ? json_object_get(r, "members") : json_object_get(q, "members");
    json_t *live = json_object_get(q, "members");
    if (json_array_size(members))
        dx_buf_add(b, "### Each model's answer\n\n");
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        json_t *lm = json_array_get(live, i);
        dx_buf_add(b, "#### ");
        put_line(b, js(m, "name") ? js(m, "name") : js(m, "model"));
        if (js(m, "model") && js(m, "name") && strcmp(js(m, "model"), js(m, "name"))) {
            dx_buf_add(b, " (");
            put_line(b, js(m, "model"));
            dx_buf_add(b, ")");
        }
        dx_buf_add(b, ": ");
        put_line(b, js(m, "status") ? js(m, "status") : "unknown");
        dx_buf_add(b, "\n\n");
        json_int_t used = json_integer_value(json_object_get(lm, "context_turns")),
                   dropped = json_integer_value(json_object_get(lm, "context_dropped"));
        if (dropped > 0)
            dx_buf_addf(b,
                        "_Answered after %lld earlier turn%s of the thread; %lld older "
                        "left out to fit its context._\n\n",
                        (long long)used, used == 1 ? "" : "s", (long long)dropped);
        if (js(m, "error") && *js(m, "error")) {
            dx_buf_add(b, "_Error: ");
            put_line(b, js(m, "error"));
            dx_buf_add(b, "_\n\n");
        }
        const char *text = js(m, "text");
        if (text && *text) {
            dx_buf_add(b, text);
            dx_buf_add(b, "\n\n");
        }
    }
}

static void turn_md(dx_buf *b, json_t *q, size_t n)
{
    json_t *r = json_object_get(q, "result");
    if (!json_is_object(r))
        r = NULL;
    json_t *an = json_object_get(r, "analysis");
    dx_buf_addf(b, "## %zu. ", n);
    put_line(b, js(q, "question"));
    dx_buf_add(b, "\n\n");
    const char *label = page_label_title(js(an, "label"));
    json_t *cons = json_object_get(an, "consensus");
    if (label && json_is_integer(cons))
        dx_buf_addf(b, "**%s, %lld%%**", label, (long long)json_integer_value(cons));
    else
        dx_buf_addf(b, "**%s**",
                    label             ? label
                    : js(q, "status") ? js(q, "status")
                                      : "not answered");
    if (js(q, "created_at")) {
        dx_buf_add(b, " (asked ");
        put_line(b, js(q, "created_at"));
        dx_buf_add(b, ")");
    }
    dx_buf_add(b, "\n\n");
    const char *answer = js(r, "answer");
    if (answer) {
        dx_buf_add(b, "### Answer\n\n");
        dx_buf_add(b, answer);
        dx_buf_add(b, "\n\n");
    }
    if (an)
        points_md(b, an);
    members_md(b, q, r);
}

dx_status export_thread_md(dx_buf *out, json_t *thread)
{
    json_t *turns = json_object_get(thread, "questions");
    json_t *first = json_array_get(turns, 0);
    dx_buf_add(out, "# ");
    put_line(out, first ? js(first, "question") : "(empty thread)");
    dx_buf_addf(out,
                "\n\nA drux thread of %zu turn%s: each question went to the whole "
                "council, with the earlier turns as the conversation before it.\n\n",
                json_array_size(turns), json_array_size(turns) == 1 ? "" : "s");
    size_t i;
    json_t *q;
    json_array_foreach(turns, i, q)
    {
        if (out->err)
            break;
        turn_md(out, q, i + 1);
    }
    return out->err;
}
