/* fuzz_anthropic — an upstream Anthropic stream through the Anthropic
 * decoder, as remote members read it (the body is fuzz_provider.h). */
#define DECODE(ev, d, n, c) remote_anthropic_parse(ev, d, n, false, c)
#define WHOLE(d, n, c) remote_anthropic_parse(NULL, d, n, true, c)

#include "fuzz/fuzz_provider.h"
