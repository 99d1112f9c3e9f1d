/* fuzz_sse — an upstream OpenAI-compatible event stream through the chunk
 * decoder, as remote members read it, and the whole input as one reply (a
 * server that ignores stream=true sends that); the body is fuzz_provider.h. */
#define DECODE(ev, d, n, c) ((void)(ev), remote_chunk_parse(d, n, false, c))
#define WHOLE(d, n, c) remote_chunk_parse(d, n, true, c)

#include "fuzz/fuzz_provider.h"
