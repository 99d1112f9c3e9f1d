/* Fuzz target: QA-set parsing (JSONL and RFC 4180 CSV) and grading. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eval_set s;
    if (eval_parse((const char *)data, size, "fuzz", &s) != DX_OK)
        return 0;
    for (size_t i = 0; i < s.n && i < 8; i++)
        eval_grade(s.kind, &s.items[i], s.items[i].question);
    eval_set_free(&s);
    return 0;
}
