/*
 * chat — chat-template families and prompt formatting. See chat.h and
 * docs/chat.md.
 */
#include "tok/chat.h"

#include <ctype.h>
#include <string.h>

#include "core/limits.h"

static const char *const family_names[CHAT_FAMILY_COUNT] = {
    [CHAT_NONE] = "none",           [CHAT_UNKNOWN] = "unknown", [CHAT_CHATML] = "chatml",
    [CHAT_LLAMA3] = "llama3",       [CHAT_GEMMA] = "gemma",     [CHAT_PHI3] = "phi3",
    [CHAT_ZEPHYR] = "zephyr",       [CHAT_LLAMA2] = "llama2",   [CHAT_MISTRAL] = "mistral",
    [CHAT_MISTRAL7] = "mistral-v7",
};

const char *chat_family_name(enum chat_family f)
{
    return (unsigned)f < CHAT_FAMILY_COUNT ? family_names[f] : "unknown";
}

enum chat_family chat_family_from_name(const char *name)
{
    for (int f = 0; name && f < CHAT_FAMILY_COUNT; f++)
        if (!strcmp(family_names[f], name))
            return (enum chat_family)f;
    return CHAT_UNKNOWN;
}

chat_tmpl chat_tmpl_of(enum chat_family f)
{
    chat_tmpl ct;
    memset(&ct, 0, sizeof ct);
    ct.family = (unsigned)f < CHAT_FAMILY_COUNT ? f : CHAT_UNKNOWN;
    return ct;
}

static bool has(dx_str s, const char *needle)
{
    return s.len && memmem(s.ptr, s.len, needle, strlen(needle)) != NULL;
}

/* A literal system prompt written into a ChatML template for conversations
 * that bring none: the text after "<|im_start|>system\n" up to <|im_end|>,
 * when it contains no template code. Handles a real newline or "\n" escape. */
static void find_default_system(dx_str t, char *out, size_t cap)
{
    static const char *const heads[] = {"<|im_start|>system\n", "<|im_start|>system\\n"};
    out[0] = 0;
    for (size_t h = 0; h < 2; h++) {
        size_t hl = strlen(heads[h]);
        const char *from = t.ptr, *end_all = t.ptr + t.len;
        /* every occurrence: Qwen's templates write the header first for tools */
        for (const char *p; (p = memmem(from, (size_t)(end_all - from), heads[h], hl)); from = p) {
            p += hl;
            const char *end = memmem(p, (size_t)(end_all - p), "<|im_end|>", 10);
            if (!end)
                break;
            size_t o = 0;
            bool ok = end > p;
            for (const char *q = p; ok && q < end; q++) {
                if (strchr("{}'\"+%", *q)) {
                    ok = false; /* template code, not a literal */
                } else if (*q == '\\' && q + 1 < end && q[1] == 'n') {
                    if (o + 1 < cap)
                        out[o++] = '\n';
                    q++;
                } else if (o + 1 < cap) {
                    out[o++] = *q;
                } else {
                    ok = false; /* too long to be a default prompt */
                }
            }
            out[ok ? o : 0] = 0;
            if (ok)
                return;
        }
    }
}

void chat_tmpl_detect(dx_str t, chat_tmpl *ct)
{
    memset(ct, 0, sizeof *ct);
    if (!t.ptr || t.len == 0) {
        ct->family = CHAT_NONE;
        return;
    }
    /* the order follows llama.cpp's detection, so the same template gets the
     * same family there and here */
    if (has(t, "<|im_start|>")) {
        ct->family = CHAT_CHATML;
        if (has(t, "<|im_sep|>") || has(t, "<end_of_utterance>"))
            ct->family = CHAT_UNKNOWN; /* Phi-4, SmolVLM: not ChatML */
        else
            find_default_system(t, ct->default_system, sizeof ct->default_system);
    } else if ((t.len >= 7 && memcmp(t.ptr, "mistral", 7) == 0) || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) {
            ct->family = CHAT_MISTRAL7;
        } else if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            ct->family = CHAT_MISTRAL;
            ct->mistral_v1 = has(t, " [INST]");
            ct->mistral_tekken = !ct->mistral_v1 && has(t, "\"[INST]\"");
            ct->mistral_trim = !ct->mistral_v1 && !ct->mistral_tekken;
        } else {
            ct->family = CHAT_LLAMA2;
            ct->llama2_strip = has(t, "content.strip()");
            ct->llama2_bos_inside = !ct->llama2_strip && has(t, "bos_token + '[INST]");
            ct->llama2_sys = ct->llama2_strip || ct->llama2_bos_inside || has(t, "<<SYS>>");
        }
    } else if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
        ct->family = CHAT_PHI3;
    } else if (has(t, "<|user|>") && has(t, "<|endoftext|>")) {
        ct->family = CHAT_ZEPHYR;
    } else if (has(t, "<start_of_turn>")) {
        ct->family = CHAT_GEMMA;
    } else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) {
        ct->family = CHAT_LLAMA3;
    } else {
        ct->family = CHAT_UNKNOWN;
    }
}

/* ---- formatting ---- */

static const char *role_name(enum chat_role r)
{
    return r == CHAT_SYSTEM ? "system" : r == CHAT_USER ? "user" : "assistant";
}

/* content with ASCII white space trimmed at both ends */
static dx_str trimmed(const char *s)
{
    size_t a = 0, b = strlen(s);
    while (a < b && isspace((unsigned char)s[a]))
        a++;
    while (b > a && isspace((unsigned char)s[b - 1]))
        b--;
    return (dx_str){s + a, b - a};
}

/* One function per template family: each appends the whole prompt to out and
 * returns the first failed append (chat_format then drops what was written). */
#define PUT(s)                                                                                     \
    do {                                                                                           \
        dx_status st_ = dx_buf_puts(out, (s));                                                     \
        if (st_)                                                                                   \
            return st_;                                                                            \
    } while (0)
#define PUTS(str)                                                                                  \
    do {                                                                                           \
        dx_str s_ = (str);                                                                         \
        dx_status st_ = dx_buf_append(out, s_.ptr, s_.len);                                        \
        if (st_)                                                                                   \
            return st_;                                                                            \
    } while (0)

static dx_status fmt_chatml(const chat_tmpl *ct, const chat_msg *m, size_t n, bool add_gen,
                            dx_buf *out)
{
    if (ct->default_system[0] && n && m[0].role != CHAT_SYSTEM) {
        PUT("<|im_start|>system\n");
        PUT(ct->default_system);
        PUT("<|im_end|>\n");
    }
    for (size_t i = 0; i < n; i++) {
        PUT("<|im_start|>");
        PUT(role_name(m[i].role));
        PUT("\n");
        PUT(m[i].content);
        PUT("<|im_end|>\n");
    }
    if (add_gen)
        PUT("<|im_start|>assistant\n");
    return DX_OK;
}

static dx_status fmt_llama3(const chat_msg *m, size_t n, bool add_gen, dx_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        PUT("<|start_header_id|>");
        PUT(role_name(m[i].role));
        PUT("<|end_header_id|>\n\n");
        PUTS(trimmed(m[i].content));
        PUT("<|eot_id|>");
    }
    if (add_gen)
        PUT("<|start_header_id|>assistant<|end_header_id|>\n\n");
    return DX_OK;
}

/* No system role: system text goes at the top of the next user turn. */
static dx_status fmt_gemma(const chat_msg *m, size_t n, bool add_gen, dx_buf *out)
{
    size_t sys_from = 0, sys_to = 0; /* message range of pending system text */
    bool pending = false;
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_SYSTEM) {
            if (!pending)
                sys_from = i;
            sys_to = i + 1;
            pending = true;
            continue;
        }
        bool model = m[i].role == CHAT_ASSISTANT;
        PUT(model ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
        if (pending && !model) {
            size_t len_before = out->len;
            for (size_t k = sys_from; k < sys_to; k++)
                if (m[k].role == CHAT_SYSTEM)
                    PUTS(trimmed(m[k].content));
            if (out->len > len_before)
                PUT("\n\n");
            pending = false;
        }
        PUTS(trimmed(m[i].content));
        PUT("<end_of_turn>\n");
    }
    if (add_gen)
        PUT("<start_of_turn>model\n");
    return DX_OK;
}

/* phi3 and zephyr differ only in the end-of-turn token. */
static dx_status fmt_phi3(const chat_tmpl *ct, const chat_msg *m, size_t n, bool add_gen,
                          dx_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        PUT("<|");
        PUT(role_name(m[i].role));
        PUT("|>\n");
        PUT(m[i].content);
        PUT(ct->family == CHAT_PHI3 ? "<|end|>\n" : "<|endoftext|>\n");
    }
    if (add_gen)
        PUT("<|assistant|>\n");
    return DX_OK;
}

/* The prompt ends inside a turn; add_generation_prompt changes nothing. */
static dx_status fmt_llama2(const chat_tmpl *ct, const chat_msg *m, size_t n, dx_buf *out)
{
    bool inside = true;
    PUT("[INST] ");
    for (size_t i = 0; i < n; i++) {
        dx_str c = ct->llama2_strip ? trimmed(m[i].content) : dx_str_c(m[i].content);
        if (!inside) {
            inside = true;
            PUT(ct->llama2_bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (m[i].role == CHAT_SYSTEM) {
            if (ct->llama2_sys) {
                PUT("<<SYS>>\n");
                PUTS(c);
                PUT("\n<</SYS>>\n\n");
            } else {
                PUTS(c);
                PUT("\n");
            }
        } else if (m[i].role == CHAT_USER) {
            PUTS(c);
            PUT(" [/INST]");
        } else {
            PUTS(c);
            PUT("</s>");
            inside = false;
        }
    }
    return DX_OK;
}

static dx_status fmt_mistral(const chat_tmpl *ct, const chat_msg *m, size_t n, dx_buf *out)
{
    const char *lead = ct->mistral_v1 ? " " : "", *trail = ct->mistral_tekken ? "" : " ";
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            PUT(lead);
            PUT("[INST]");
            PUT(trail);
            inside = true;
        }
        if (m[i].role == CHAT_SYSTEM) {
            PUT(m[i].content);
            PUT("\n\n");
        } else if (m[i].role == CHAT_USER) {
            PUT(m[i].content);
            PUT(lead);
            PUT("[/INST]");
        } else {
            PUT(trail);
            PUTS(ct->mistral_trim ? trimmed(m[i].content) : dx_str_c(m[i].content));
            PUT("</s>");
            inside = false;
        }
    }
    return DX_OK;
}

static dx_status fmt_mistral7(const chat_tmpl *ct, const chat_msg *m, size_t n, dx_buf *out)
{
    const char *sp = ct->mistral_tekken ? "" : " ";
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_SYSTEM) {
            PUT("[SYSTEM_PROMPT]");
            PUT(sp);
            PUT(m[i].content);
            PUT("[/SYSTEM_PROMPT]");
        } else if (m[i].role == CHAT_USER) {
            PUT("[INST]");
            PUT(sp);
            PUT(m[i].content);
            PUT("[/INST]");
        } else {
            PUT(sp);
            PUT(m[i].content);
            PUT("</s>");
        }
    }
    return DX_OK;
}

/* A base model: a document of questions and answers (docs/chat.md). */
static dx_status fmt_none(const chat_msg *m, size_t n, dx_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_SYSTEM) {
            PUTS(trimmed(m[i].content));
            PUT("\n\n");
        } else if (m[i].role == CHAT_USER) {
            PUT("Question: ");
            PUTS(trimmed(m[i].content));
            PUT("\nAnswer:");
        } else {
            PUT(" ");
            PUTS(trimmed(m[i].content));
            PUT("\n\n");
        }
    }
    return DX_OK;
}

#undef PUT
#undef PUTS

dx_status chat_format(const chat_tmpl *ct, const chat_msg *m, size_t n, bool add_gen, dx_buf *out)
{
    if (n > DX_MAX_CHAT_MESSAGES)
        return dx_fail(DX_ELIMIT, "chat: %zu messages exceed the limit of %u", n,
                       DX_MAX_CHAT_MESSAGES);
    for (size_t i = 0; i < n; i++) {
        if (!m[i].content)
            return dx_fail(DX_EARG, "chat: message %zu has no content", i);
        if (m[i].role != CHAT_SYSTEM && m[i].role != CHAT_USER && m[i].role != CHAT_ASSISTANT)
            return dx_fail(DX_EARG, "chat: message %zu has an unknown role %d", i, (int)m[i].role);
    }
    const size_t start = out->len;
    dx_status st;
    switch (ct->family) {
    case CHAT_CHATML:
        st = fmt_chatml(ct, m, n, add_gen, out);
        break;
    case CHAT_LLAMA3:
        st = fmt_llama3(m, n, add_gen, out);
        break;
    case CHAT_GEMMA:
        st = fmt_gemma(m, n, add_gen, out);
        break;
    case CHAT_PHI3:
    case CHAT_ZEPHYR:
        st = fmt_phi3(ct, m, n, add_gen, out);
        break;
    case CHAT_LLAMA2:
        st = fmt_llama2(ct, m, n, out);
        break;
    case CHAT_MISTRAL:
        st = fmt_mistral(ct, m, n, out);
        break;
    case CHAT_MISTRAL7:
        st = fmt_mistral7(ct, m, n, out);
        break;
    case CHAT_NONE:
        st = fmt_none(m, n, out);
        break;
    default:
        return dx_fail(DX_EUNSUPPORTED,
                       "chat: the model's chat template is not one drux knows (chatml, llama3, "
                       "gemma, phi3, zephyr, llama2, mistral); choose a family explicitly");
    }
    if (st) {
        out->len = start; /* leave no half-written prompt */
        if (out->data)
            out->data[start] = 0;
    }
    return st;
}

const char *const *chat_stops(const chat_tmpl *ct)
{
    static const char *const none[] = {"\n\n", "\nQuestion:", NULL};
    static const char *const chatml[] = {"<|im_end|>", NULL};
    static const char *const llama3[] = {"<|eot_id|>", NULL};
    static const char *const gemma[] = {"<end_of_turn>", NULL};
    static const char *const phi3[] = {"<|end|>", "<|endoftext|>", NULL};
    static const char *const zephyr[] = {"<|endoftext|>", "</s>", NULL};
    static const char *const inst[] = {"</s>", "[INST]", NULL};
    static const char *const empty[] = {NULL};
    switch (ct->family) {
    case CHAT_NONE:
        return none;
    case CHAT_CHATML:
        return chatml;
    case CHAT_LLAMA3:
        return llama3;
    case CHAT_GEMMA:
        return gemma;
    case CHAT_PHI3:
        return phi3;
    case CHAT_ZEPHYR:
        return zephyr;
    case CHAT_LLAMA2:
    case CHAT_MISTRAL:
    case CHAT_MISTRAL7:
        return inst;
    default:
        return empty;
    }
}
