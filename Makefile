# drux — one Makefile.
#
#   make            release build: build/release/drux
#   make debug      ASan+UBSan build: build/debug/drux
#   make test       install what is missing, build both, run the whole suite
#   make run        install what is missing, pull the default models, run drux's main job
#   make bench      benchmarks (never part of the test suite)
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#                   (seeded from tests/data/corpus/<x>/ and tests/data/<x>/ when present)
#
# Sources are found by wildcard: a new src/<module>/<file>.c joins the build,
# a new tests/unit/test_<x>.c becomes a test binary, tests/fuzz/fuzz_<x>.c a
# fuzz target (and a corpus replayer run by the suite).

MODE ?= release
BUILD := build/$(MODE)

CC ?= cc
CPPFLAGS += -Isrc -Itests -I/usr/include/postgresql -D_GNU_SOURCE -MMD -MP
WARN := -std=c11 -Wall -Wextra -Wvla -Wformat=2
# Loops start on 64-byte lines: streaming decode loops otherwise run fast or slow with where the
# link happens to place them (F32 decode, 2 threads: 23.9 or 33.9 tok/s between builds).
CFLAGS_release := -O2 -g -falign-loops=64
CFLAGS_debug := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS += $(WARN) $(CFLAGS_$(MODE)) -pthread
LDFLAGS += $(filter -fsanitize=%,$(CFLAGS_$(MODE))) -pthread
LDLIBS := -lcurl -lmicrohttpd -ljansson -lsqlite3 -lpq -lcmark-gfm-extensions -lcmark-gfm \
          -lcrypto -lsodium -lutf8proc -linih -lzip -lm

SRCS := $(sort $(wildcard src/*/*.c src/*/*/*.c))
MAIN_SRC := src/cli/main.c
LIB_SRCS := $(filter-out $(MAIN_SRC),$(SRCS))
OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
# The web app's files (web/*) are compiled in: one generated C file per build.
WEB_FILES := $(sort $(wildcard web/*.css web/*.js web/*.svg web/*.html))
WEB_C := $(BUILD)/gen/web_assets.c
OBJS += $(BUILD)/obj/gen/web_assets.o
LIB := $(BUILD)/libdrux.a
BIN := $(BUILD)/drux

TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/replay/%)
BENCH_SRCS := $(sort $(wildcard bench/bench_*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

# SIMD kernels: each instruction set in its own file, chosen at run time.
$(BUILD)/obj/src/engine/arch/%_avx2.o: ARCH_FLAGS := -mavx2 -mfma -mf16c
$(BUILD)/obj/src/engine/arch/%_avx512.o: ARCH_FLAGS := -mavx512f -mavx512bw -mavx512vl \
    -mavx512dq -mavx512vnni -mavx512bf16 -mavx2 -mfma -mf16c

.PHONY: all debug test check tests run bench fuzz clean setup install
.DEFAULT_GOAL := all

all: $(BIN)

debug:
	@$(MAKE) --no-print-directory MODE=debug all tests

tests: $(BIN) $(TEST_BINS) $(REPLAY_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ARCH_FLAGS) -c $< -o $@

$(WEB_C): $(WEB_FILES) $(wildcard web) scripts/embed-web
	@mkdir -p $(dir $@)
	scripts/embed-web $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/web_assets.o: $(WEB_C)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(BUILD)/obj/$(MAIN_SRC:.c=.o) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< tests/fuzz/replay_main.c $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

# Installs what is missing (quiet when nothing is): packages, and the default models the
# end-to-end tests run; builds both modes, runs all suites.
test check:
	@scripts/setup --deps --models
	@$(MAKE) --no-print-directory -s MODE=release tests
	@$(MAKE) --no-print-directory -s MODE=debug tests
	@tests/run

run:
	@scripts/setup --deps --models
	@$(MAKE) --no-print-directory -s MODE=release all
	@scripts/main-job

setup:
	@scripts/setup --deps --models

bench: $(BIN) $(BENCH_BINS)
	@bench/run

FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
fuzz:
	@mkdir -p $(FUZZ_BUILD)
	@$(MAKE) --no-print-directory MODE=fuzz CC=clang \
	    CFLAGS_fuzz="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    $(FUZZ_BUILD)/libdrux.a
	@for f in $(FUZZ_SRCS); do \
	    t=$$(basename $$f .c); x=$${t#fuzz_}; \
	    clang $(CPPFLAGS) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined \
	        -fno-sanitize-recover=undefined $$f \
	        $(FUZZ_BUILD)/libdrux.a $(LDLIBS) -pthread -o $(FUZZ_BUILD)/$$t || exit 1; \
	    mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	    seeds=""; for d in tests/data/corpus/$$x tests/data/$$x; do \
	        [ -d $$d ] && seeds="$$seeds $$d"; done; \
	    echo "fuzzing $$t for $(FUZZ_SECONDS)s (seeds:$${seeds:- none})"; \
	    $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $(FUZZ_BUILD)/corpus-$$t $$seeds || exit 1; \
	done

PREFIX ?= /usr/local
install: $(BIN)
	install -D -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/drux

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(BUILD)/obj/$(MAIN_SRC:.c=.d) $(TEST_BINS:=.d) $(BENCH_BINS:=.d)
