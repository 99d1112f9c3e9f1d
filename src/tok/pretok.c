/*
 * pretok — hand-written pre-tokenizers for byte-level BPE. See pretok.h.
 *
 * Each regular expression llama.cpp uses is a matcher: given a position in a
 * piece [pos, end) it returns the length of the match that starts there, or 0.
 * The driver reproduces a regex iterator: it looks for the leftmost match,
 * emits the unmatched gap before it (if any) as a piece of its own, then the
 * match, and carries on after it. `end` is the end of the piece being split,
 * so lookaheads and `$` see it as the end of the text, as they do in
 * llama.cpp where each expression runs over each earlier piece separately.
 */
#include "tok/pretok.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/arena.h"
#include "core/limits.h"

/* ---- Unicode helpers ---- */

static bool is_white_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

unsigned ucp_flags(uint32_t cp)
{
    unsigned f = 0;
    if (cp > 0x10FFFF)
        return UCP_U;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        f = UCP_L;
        break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        f = UCP_M;
        break;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        f = UCP_N;
        break;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        f = UCP_P;
        break;
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
        f = UCP_S;
        break;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        f = UCP_Z;
        break;
    case UTF8PROC_CATEGORY_CN:
        f = UCP_U;
        break;
    default:
        f = UCP_C;
        break;
    }
    if (is_white_space(cp))
        f |= UCP_WS;
    return f;
}

uint32_t ucp_tolower(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return cp;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

size_t ucp_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need = 0;
    uint32_t v = 0;
    if ((b & 0x40) == 0) {
        need = 0; /* stray continuation byte */
    } else if ((b & 0x20) == 0) {
        need = 2;
        v = b & 0x1F;
    } else if ((b & 0x10) == 0) {
        need = 3;
        v = b & 0x0F;
    } else if ((b & 0x08) == 0) {
        need = 4;
        v = b & 0x07;
    }
    if (need == 0 || need > n)
        goto bad;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF)
        goto bad;
    *cp = v;
    return need;
bad:
    *cp = 0xFFFD;
    return 1;
}

size_t ucp_encode(uint32_t c, char *o)
{
    if (c <= 0x7F) {
        o[0] = (char)c;
        return 1;
    }
    if (c <= 0x7FF) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c <= 0xFFFF) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- matchers ---- */

typedef size_t (*matcher)(const pretok_text *t, size_t pos, size_t end);

#define CP(i) (t->cp[i])
#define FL(i) (t->fl[i])
#define ASCII_LOWER(c) ((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))

static bool is_rn(uint32_t c)
{
    return c == '\r' || c == '\n';
}

/* 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive. Returns 0, 2 or 3. */
static size_t contraction(const pretok_text *t, size_t pos, size_t end, bool icase)
{
    if (CP(pos) != '\'' || pos + 1 >= end)
        return 0;
    uint32_t a = CP(pos + 1);
    if (icase)
        a = ASCII_LOWER(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 >= end)
        return 0;
    uint32_t b = CP(pos + 2);
    if (icase)
        b = ASCII_LOWER(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* Whitespace tail shared by the GPT-2 and Llama-3 expressions:
 * \s+(?!\S) then \s+ ; a lone unmatched character is one piece. */
static size_t ws_tail(const pretok_text *t, size_t pos, size_t end)
{
    size_t n = 0;
    while (pos + n < end && (FL(pos + n) & UCP_WS))
        n++;
    if (n > 1 && pos + n < end)
        return n - 1;
    return n ? n : 1;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t m_gpt2(const pretok_text *t, size_t pos, size_t end)
{
    size_t n = contraction(t, pos, end, false);
    if (n)
        return n;
    uint32_t c = CP(pos);
    unsigned f2 = c == ' ' ? (pos + 1 < end ? FL(pos + 1) : 0) : FL(pos);
    size_t p = pos + (c == ' ');
    if (f2 & UCP_L) {
        while (p < end && (FL(p) & UCP_L))
            p++;
        return p - pos;
    }
    if (f2 & UCP_N) {
        while (p < end && (FL(p) & UCP_N))
            p++;
        return p - pos;
    }
    if (f2 && !(f2 & (UCP_WS | UCP_L | UCP_N))) {
        while (p < end && !(FL(p) & (UCP_WS | UCP_L | UCP_N)))
            p++;
        return p - pos;
    }
    return ws_tail(t, pos, end);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,k}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (k = 3: Llama-3, 1: Qwen2) */
static size_t llama3_like(const pretok_text *t, size_t pos, size_t end, size_t max_digits)
{
    size_t n = contraction(t, pos, end, true);
    if (n)
        return n;
    uint32_t c = CP(pos);
    unsigned f = FL(pos);
    if (!is_rn(c) && !(f & UCP_N)) {
        if ((f & UCP_L) || (pos + 1 < end && (FL(pos + 1) & UCP_L))) {
            size_t p = pos + 1;
            while (p < end && (FL(p) & UCP_L))
                p++;
            return p - pos;
        }
    }
    if (f & UCP_N) {
        size_t p = pos;
        while (p < end && (FL(p) & UCP_N) && p - pos < max_digits)
            p++;
        return p - pos;
    }
    unsigned f2 = c == ' ' ? (pos + 1 < end ? FL(pos + 1) : 0) : f;
    if (!(f2 & (UCP_WS | UCP_L | UCP_N))) {
        size_t p = pos + (c == ' ');
        while (p < end && !(FL(p) & (UCP_WS | UCP_L | UCP_N)))
            p++;
        while (p < end && is_rn(CP(p)))
            p++;
        return p - pos;
    }
    size_t nws = 0, last_rn = 0;
    while (pos + nws < end && (FL(pos + nws) & UCP_WS)) {
        if (is_rn(CP(pos + nws)))
            last_rn = pos + nws + 1;
        nws++;
    }
    if (last_rn)
        return last_rn - pos;
    return ws_tail(t, pos, end);
}

static size_t m_llama3(const pretok_text *t, size_t pos, size_t end)
{
    return llama3_like(t, pos, end, 3);
}

static size_t m_qwen2(const pretok_text *t, size_t pos, size_t end)
{
    return llama3_like(t, pos, end, 1);
}

static size_t run_of(const pretok_text *t, size_t pos, size_t end, unsigned mask)
{
    size_t p = pos;
    while (p < end && (FL(p) & mask))
        p++;
    return p - pos;
}

/* \p{N} */
static size_t m_num1(const pretok_text *t, size_t pos, size_t end)
{
    (void)end;
    return (FL(pos) & UCP_N) ? 1 : 0;
}

/* \p{N}+ */
static size_t m_nums(const pretok_text *t, size_t pos, size_t end)
{
    return run_of(t, pos, end, UCP_N);
}

/* [0-9][0-9][0-9] */
static size_t m_digits3(const pretok_text *t, size_t pos, size_t end)
{
    if (pos + 3 > end)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (CP(pos + i) < '0' || CP(pos + i) > '9')
            return 0;
    return 3;
}

static size_t punct_run(const pretok_text *t, size_t pos, size_t end, const char *extra)
{
    size_t p = pos;
    while (p < end) {
        uint32_t c = CP(p);
        if (!(FL(p) & UCP_P) && !(c < 0x80 && c && strchr(extra, (int)c)))
            break;
        p++;
    }
    return p - pos;
}

/* [\p{P}\$\+<=>\^~\|]+ */
static size_t m_punct(const pretok_text *t, size_t pos, size_t end)
{
    return punct_run(t, pos, end, "$+<=>^~|");
}

/* [\p{P}\$\+<=>\^~\|`]+ */
static size_t m_punct_falcon(const pretok_text *t, size_t pos, size_t end)
{
    return punct_run(t, pos, end, "$+<=>^~|`");
}

/* [\r\n] */
static size_t m_rn(const pretok_text *t, size_t pos, size_t end)
{
    (void)end;
    return is_rn(CP(pos)) ? 1 : 0;
}

/* \s?X+ where X is a category mask */
static size_t ws_opt_run(const pretok_text *t, size_t pos, size_t end, unsigned mask)
{
    if (FL(pos) & UCP_WS) {
        if (pos + 1 < end && (FL(pos + 1) & mask))
            return 1 + run_of(t, pos + 1, end, mask);
        return 0;
    }
    return run_of(t, pos, end, mask);
}

static size_t m_ws_letters(const pretok_text *t, size_t pos, size_t end)
{
    return ws_opt_run(t, pos, end, UCP_L);
}

static size_t m_ws_punct(const pretok_text *t, size_t pos, size_t end)
{
    return ws_opt_run(t, pos, end, UCP_P);
}

/* Expressions without a \p{..} class run in llama.cpp over code points in
 * which non-ASCII white space was replaced by U+000B; mirror that. */
static uint32_t wide_cp(const pretok_text *t, size_t i)
{
    uint32_t c = CP(i);
    return (c > 0x7F && (FL(i) & UCP_WS)) ? 0x0B : c;
}

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

static bool in_ranges(uint32_t c, const cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return true;
    return false;
}

#define NRANGES(a) (sizeof(a) / sizeof((a)[0]))

/* [一-龥ࠀ-一가-퟿]+ (DeepSeek) */
static const cp_range cjk_ranges[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

static size_t class_run(const pretok_text *t, size_t pos, size_t end, const cp_range *r, size_t nr)
{
    size_t p = pos;
    while (p < end && in_ranges(wide_cp(t, p), r, nr))
        p++;
    return p - pos;
}

static size_t m_cjk(const pretok_text *t, size_t pos, size_t end)
{
    return class_run(t, pos, end, cjk_ranges, NRANGES(cjk_ranges));
}

/* The letter class of DeepSeek-LLM's second expression, as code point ranges. */
static const cp_range dsl_letters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},
    {0xD8, 0xF6},       {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},
    {0x295, 0x2AF},     {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},     {0x38C, 0x38C},
    {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range dsl_punct[] = {
    {0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
    {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

/* \s?[class]+ over the wide code points */
static size_t ws_opt_class(const pretok_text *t, size_t pos, size_t end, const cp_range *r,
                           size_t nr)
{
    if (FL(pos) & UCP_WS) {
        if (pos + 1 < end && in_ranges(wide_cp(t, pos + 1), r, nr))
            return 1 + class_run(t, pos + 1, end, r, nr);
        return 0;
    }
    return class_run(t, pos, end, r, nr);
}

static size_t m_dsl_letters(const pretok_text *t, size_t pos, size_t end)
{
    return ws_opt_class(t, pos, end, dsl_letters, NRANGES(dsl_letters));
}

static size_t m_dsl_punct(const pretok_text *t, size_t pos, size_t end)
{
    return ws_opt_class(t, pos, end, dsl_punct, NRANGES(dsl_punct));
}

/* \s+$ */
static size_t m_ws_at_end(const pretok_text *t, size_t pos, size_t end)
{
    size_t p = pos;
    while (p < end && (FL(p) & UCP_WS))
        p++;
    return (p == end && p > pos) ? p - pos : 0;
}

/*  ?[^(\s|.,!?…。，、।۔،)]+  (BLOOM, Poro, GPT-3 Finnish, Viking) */
static bool bloom_word_char(const pretok_text *t, size_t i)
{
    uint32_t c = wide_cp(t, i);
    if (c < 0x80)
        return !strchr("(|.,!?) \t\n\v\f\r", (int)c) && c != 0;
    return c != 0x2026 && c != 0x3002 && c != 0xFF0C && c != 0x3001 && c != 0x0964 && c != 0x06D4 &&
           c != 0x060C;
}

static size_t m_bloom(const pretok_text *t, size_t pos, size_t end)
{
    size_t p = pos;
    if (CP(p) == ' ') {
        if (p + 1 >= end || !bloom_word_char(t, p + 1))
            return 0;
        p++;
    }
    while (p < end && bloom_word_char(t, p))
        p++;
    return p - pos;
}

/* ---- kinds ---- */

#define MAX_STEPS 6

struct pretok_kind {
    const char *names; /* '|'-separated */
    matcher steps[MAX_STEPS];
    bool ignore_merges, default_bos;
};

static const pretok_kind kinds[] = {
    {"default", {m_punct, m_gpt2, m_nums, m_digits3}, false, false},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2", {m_llama3}, true, true},
    {"dbrx|smaug-bpe|glm4|chatglm-bpe", {m_llama3}, false, false},
    {"gpt-2|gpt2|phi-2|mpt|olmo|jais|trillion|jina-es|jina-de|jina-v2-es|jina-v2-de|gigachat|"
     "a.x-4.0|mellum|modern-bert|roberta-bpe|jina-v1-en|jina-v2-code|exaone4|granite-docling",
     {m_gpt2},
     false,
     false},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|mellum2",
     {m_num1, m_gpt2},
     false,
     false},
    {"falcon", {m_punct_falcon, m_gpt2, m_digits3}, false, false},
    {"qwen2|deepseek-r1-qwen|stablelm2|megrez|hunyuan|kormo|solar-open", {m_qwen2}, false, false},
    {"deepseek-coder", {m_rn, m_ws_letters, m_ws_punct, m_cjk, m_num1}, false, false},
    {"deepseek-llm", {m_rn, m_dsl_letters, m_dsl_punct, m_ws_at_end, m_cjk, m_nums}, false, false},
    {"bloom|poro-chat|gpt3-finnish", {m_bloom}, false, false},
    {"viking", {m_bloom, m_num1}, false, false},
};

static bool name_in(const char *names, const char *name)
{
    size_t n = strlen(name);
    const char *p = names;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

const pretok_kind *pretok_find(const char *name)
{
    if (!name || !*name)
        name = "default";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (name_in(kinds[i].names, name))
            return &kinds[i];
    return NULL;
}

bool pretok_ignore_merges(const pretok_kind *k)
{
    return k->ignore_merges;
}
bool pretok_default_bos(const pretok_kind *k)
{
    return k->default_bos;
}

const char *pretok_names(void)
{
    return "default, llama-bpe (llama3), dbrx, smaug-bpe, gpt-2, mpt, olmo, starcoder, refact, "
           "command-r, smollm, falcon, qwen2, deepseek-r1-qwen, stablelm2, deepseek-coder, "
           "deepseek-llm, bloom, poro-chat, viking and aliases";
}

/* ---- text and driver ---- */

dx_status pretok_text_init(pretok_text *t, const char *s, size_t len)
{
    memset(t, 0, sizeof *t);
    if (len > DX_MAX_PROMPT_BYTES)
        return dx_fail(DX_ELIMIT, "tok: text of %zu bytes exceeds the limit of %u", len,
                       DX_MAX_PROMPT_BYTES);
    t->cp = malloc((len ? len : 1) * sizeof *t->cp);
    t->fl = malloc((len ? len : 1) * sizeof *t->fl);
    if (!t->cp || !t->fl) {
        pretok_text_free(t);
        return dx_fail(DX_ENOMEM, "tok: out of memory decoding %zu bytes", len);
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        i += ucp_decode(u + i, len - i, &c);
        t->cp[t->n] = c;
        t->fl[t->n] = (uint16_t)ucp_flags(c);
        t->n++;
    }
    return DX_OK;
}

void pretok_text_free(pretok_text *t)
{
    free(t->cp);
    free(t->fl);
    free(t->seg);
    memset(t, 0, sizeof *t);
}

static dx_status push_seg(pretok_seg **v, size_t *n, size_t *cap, size_t a, size_t b)
{
    if (a == b)
        return DX_OK;
    if (arena_grow(NULL, v, *n, cap, sizeof **v, 64))
        return dx_oom("tok: splitting text");
    (*v)[(*n)++] = (pretok_seg){a, b};
    return DX_OK;
}

dx_status pretok_split(const pretok_kind *k, pretok_text *t)
{
    dx_status st = DX_OK;
    t->n_seg = 0;
    if ((st = push_seg(&t->seg, &t->n_seg, &t->cap_seg, 0, t->n)))
        return st;
    for (int s = 0; s < MAX_STEPS && k->steps[s]; s++) {
        pretok_seg *out = NULL;
        size_t n_out = 0, cap_out = 0;
        for (size_t i = 0; i < t->n_seg && !st; i++) {
            size_t end = t->seg[i].end, gap = t->seg[i].start, pos = gap;
            while (pos < end && !st) {
                size_t m = k->steps[s](t, pos, end);
                if (m == 0) {
                    pos++;
                    continue;
                }
                st = push_seg(&out, &n_out, &cap_out, gap, pos);
                if (!st)
                    st = push_seg(&out, &n_out, &cap_out, pos, pos + m);
                pos += m;
                gap = pos;
            }
            if (!st)
                st = push_seg(&out, &n_out, &cap_out, gap, end);
        }
        if (st) {
            free(out);
            return st;
        }
        free(t->seg);
        t->seg = out;
        t->n_seg = n_out;
        t->cap_seg = cap_out;
    }
    return DX_OK;
}
