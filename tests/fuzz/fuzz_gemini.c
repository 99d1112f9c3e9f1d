/* fuzz_gemini — an upstream Gemini stream through the Gemini decoder, as
 * remote members read it (the body is fuzz_provider.h). */
#define DECODE(ev, d, n, c) ((void)(ev), remote_gemini_parse(d, n, c))
#define WHOLE(d, n, c) remote_gemini_parse(d, n, c)

#include "fuzz/fuzz_provider.h"
