# Isolde's build.
#
#   make            build build/release/isolde (fetches and translates the engine once)
#   make test       run the test suite on the release build and on an
#                   AddressSanitizer + UBSan build
#   make format     clang-format every source file
#   make lint       cppcheck
#
# The engine (QuickJS-ng as WebAssembly, from npm) is fetched, verified,
# translated by wasm2c and compiled into build/engine/, with the flags
# generated code wants, and so is llhttp (the HTTP parser, C sources from
# Debian's node-llhttp); they are shared by every build of our own code,
# which gets -Wall -Wextra -Werror.

CC      ?= gcc
BUILD   ?= build
# Generated inputs (the engine, the JS prelude) are shared by every flavour
# and every BUILD folder, so a second checkout of objects costs no engine build.
ENGINE  := build/engine
GEN     := build/gen
PKG     := $(ENGINE)/package/dist
ESBUILD := node_modules/.bin/esbuild

# llhttp, the HTTP/1.1 parser of src/http: Debian's node-llhttp ships its
# generated C sources, not a library.
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp

WARN    := -Wall -Wextra -Werror
COMMON  := -std=c11 -D_GNU_SOURCE -g -Isrc -Itests -I$(ENGINE) -I$(GEN) -isystem $(LLHTTP_INC) -fstack-clash-protection
REL_CFLAGS  := $(COMMON) $(WARN) -O2
ASAN_CFLAGS := $(COMMON) $(WARN) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LIBS    := -luv -lcjson -lpthread -lm
# The tests' HTTP client (tests/http/http_client.c) parses responses with http-parser.
TEST_LIBS := $(LIBS) -lhttp_parser

# wasm2c output and Debian's wasm runtime build with their own flags.
ENGINE_CFLAGS := -std=gnu11 -O2 -g0 -fno-strict-aliasing -fstack-clash-protection -w -I$(ENGINE) -I/usr/include
RT_FLAGS := -DWASM_RT_SKIP_SIGNAL_RECOVERY=1 -DWASM_RT_TRAP_HANDLER=isl_sbx__trap -include src/isolate/trap_handler.h
# llhttp.c holds two generated parsers; LLHTTP_STRICT_MODE=1 picks the
# strict one, which wants CRLF after chunk data and LF after every CR (the
# loose one skips two bytes after a chunk, whatever they are).
LLHTTP_CFLAGS := -std=gnu11 -O2 -g0 -fstack-clash-protection -w -DLLHTTP_STRICT_MODE=1 -I$(LLHTTP_INC)

LIB_SRC  := $(wildcard src/common/*.c src/isolate/*.c src/http/*.c src/fetch/*.c src/runtime/*.c src/cache/*.c src/api/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
# The tests link everything but main() of the command-line tool.
CLI_LIB_SRC := $(filter-out src/cli/main.c,$(CLI_SRC))
# tests/fuzz holds libFuzzer targets (make fuzz), each with its own entry point.
TEST_SRC := $(filter-out tests/fuzz/%,$(wildcard tests/*.c tests/*/*.c))
ENGINE_OBJ := $(ENGINE)/qjs_w.o $(ENGINE)/wasm-rt-impl.o
LLHTTP_OBJ := $(ENGINE)/llhttp/llhttp.o $(ENGINE)/llhttp/api.o $(ENGINE)/llhttp/http.o
GEN_HDR  := $(ENGINE)/engine_names.h $(ENGINE)/qjs_w.h
PRELUDE_JS := $(wildcard src/runtime/js/*.js)

.PHONY: all release asan test test-release test-asan format lint clean bench-isolates
all: release
release: $(BUILD)/release/isolde
asan: $(BUILD)/asan/isolde

# ---- the engine ---------------------------------------------------------------
$(PKG)/emscripten-module.wasm $(PKG)/emscripten-module.cjs &: scripts/fetch-engine.sh
	scripts/fetch-engine.sh $(ENGINE)
	touch $(PKG)/emscripten-module.wasm $(PKG)/emscripten-module.cjs

$(ENGINE)/qjs_w.c $(ENGINE)/qjs_w.h &: $(PKG)/emscripten-module.wasm
	wasm2c -n qjs $< -o $(ENGINE)/qjs_w.c

$(ENGINE)/engine_names_tool: tools/engine_names.c
	@mkdir -p $(ENGINE)
	$(CC) -std=c11 $(WARN) -O1 -o $@ $<

$(ENGINE)/engine_names.h: $(ENGINE)/engine_names_tool $(PKG)/emscripten-module.cjs $(ENGINE)/qjs_w.h
	$(ENGINE)/engine_names_tool $(PKG)/emscripten-module.cjs $(ENGINE)/qjs_w.h $@.tmp
	pages=$$(wasm-objdump -x -j Import $(PKG)/emscripten-module.wasm | sed -n 's/.*memory\[0\] pages: initial=\([0-9]*\).*<- a\.a/\1/p'); \
	  test -n "$$pages" || { echo "engine: no memory import a.a in the wasm" >&2; exit 1; }; \
	  sed -i "s/^#endif$$/#define ISL_ENGINE_INITIAL_PAGES $${pages}u\n\n#endif/" $@.tmp
	mv $@.tmp $@

$(ENGINE)/qjs_w.o: $(ENGINE)/qjs_w.c
	$(CC) $(ENGINE_CFLAGS) -c $< -o $@

$(ENGINE)/wasm-rt-impl.o: /usr/src/wasm2c/wasm-rt-impl.c src/isolate/trap_handler.h
	@mkdir -p $(ENGINE)
	$(CC) $(ENGINE_CFLAGS) $(RT_FLAGS) -c $< -o $@

# ---- llhttp (node-llhttp: /usr/share/llhttp) --------------------------------------
$(ENGINE)/llhttp/%.o: $(LLHTTP_SRC)/%.c $(LLHTTP_INC)/llhttp.h
	@mkdir -p $(ENGINE)/llhttp
	$(CC) $(LLHTTP_CFLAGS) -c $< -o $@

# ---- the JavaScript prelude (src/runtime/js) -----------------------------------
# npm ci installs the pinned, integrity-checked build tools and libraries of
# package-lock.json; esbuild (driven by tools/bundle_prelude.mjs, which
# hooks url_fast.js into whatwg-url) bundles the prelude with them into one
# script, and tr46 into a chunk that the prelude loads on first use
# (url_idna.js); tools/embed.c turns the chunk into a C array that
# src/runtime/host_lazy.c includes.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(GEN)/prelude.js $(GEN)/lazy_tr46.chunk &: $(PRELUDE_JS) tools/bundle_prelude.mjs tools/tr46_compact.mjs node_modules/.package-lock.json
	@mkdir -p $(GEN)
	node tools/bundle_prelude.mjs src/runtime/js/index.js $(GEN)/prelude.js src/runtime/js/lazy_tr46.js $(GEN)/lazy_tr46.chunk

$(GEN)/embed_tool: tools/embed.c
	@mkdir -p $(GEN)
	$(CC) -std=c11 $(WARN) -O1 -o $@ $<

$(GEN)/lazy_tr46_chunk.h: $(GEN)/lazy_tr46.chunk $(GEN)/embed_tool
	$(GEN)/embed_tool isl_rt__lazy_tr46_chunk $< $@

# The build id: a hash of the engine, the prelude and its lazy chunk. The base snapshot
# (isolde.snap, made by isolde-mksnap) carries it, and a binary refuses a
# snapshot whose id is not its own. Rewritten only when it changes.
SNAP_FORMAT := 1
$(GEN)/build_id.h: $(PKG)/emscripten-module.wasm $(GEN)/prelude.js $(GEN)/lazy_tr46.chunk
	@mkdir -p $(GEN)
	id=$$( (echo "isolde snapshot format $(SNAP_FORMAT)"; cat $^) | sha256sum | cut -c1-64); \
	  echo "#define ISL_BUILD_ID \"$$id\"" > $@.tmp
	if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# ---- our code: one object folder per build flavour ------------------------------
# ASan must let our SIGSEGV handler turn guard-page faults into wasm traps;
# host faults are still passed on to ASan's handler, which reports them.
ASAN_ENV := ASAN_OPTIONS=allow_user_segv_handler=1:detect_leaks=1:use_sigaltstack=0 UBSAN_OPTIONS=print_stacktrace=1

# Each flavour: isolde, isolde-tests, and isolde.snap beside them, the
# base snapshot that isolde-mksnap makes from the prelude (no prelude JS
# runs when isolde starts). $(3) is the environment its binaries run in.
define flavour
$(BUILD)/$(1)/%.o: %.c $(GEN_HDR) $$(wildcard src/*/*.h tests/*.h tests/*/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) -c $$< -o $$@

$(BUILD)/$(1)/src/runtime/prelude.o: $(GEN)/build_id.h
$(BUILD)/$(1)/src/runtime/host_lazy.o: $(GEN)/lazy_tr46_chunk.h

$(BUILD)/$(1)/isolde: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(LIB_SRC) $(CLI_SRC)) $(ENGINE_OBJ) $(LLHTTP_OBJ) | $(BUILD)/$(1)/isolde.snap
	$$(CC) $(2) -o $$@ $$^ $(LIBS)

$(BUILD)/$(1)/isolde-mksnap: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(LIB_SRC) tools/mksnap.c) $(ENGINE_OBJ) $(LLHTTP_OBJ)
	$$(CC) $(2) -o $$@ $$^ $(LIBS)

$(BUILD)/$(1)/isolde.snap: $(BUILD)/$(1)/isolde-mksnap $(GEN)/prelude.js
	$(3) $(BUILD)/$(1)/isolde-mksnap $(GEN)/prelude.js $$@

$(BUILD)/$(1)/isolde-tests: $(patsubst %.c,$(BUILD)/$(1)/%.o,$(LIB_SRC) $(CLI_LIB_SRC) $(TEST_SRC)) $(ENGINE_OBJ) $(LLHTTP_OBJ) | $(BUILD)/$(1)/isolde.snap
	$$(CC) $(2) -o $$@ $$^ $(TEST_LIBS)
endef
$(eval $(call flavour,release,$(REL_CFLAGS),))
$(eval $(call flavour,asan,$(ASAN_CFLAGS),$(ASAN_ENV)))

# ---- tests ------------------------------------------------------------------------

test: test-release test-asan
test-release: $(BUILD)/release/isolde-tests $(BUILD)/release/isolde
	ISOLDE_BIN=$(BUILD)/release/isolde $(BUILD)/release/isolde-tests
test-asan: $(BUILD)/asan/isolde-tests $(BUILD)/asan/isolde
	$(ASAN_ENV) ISOLDE_BIN=$(BUILD)/asan/isolde ISOLDE_SANITIZER=1 $(BUILD)/asan/isolde-tests

bench-isolates: $(BUILD)/release/isolde
	$(BUILD)/release/isolde bench isolates --count 10000

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	  --suppress=missingIncludeSystem -I src src tools tests

clean:
	rm -rf $(BUILD)/release $(BUILD)/asan

# ---- fuzzing (tests/fuzz, docs/fuzzing.md) ---------------------------------------------
# libFuzzer targets, one per tests/fuzz/*.c, built by clang under ASan and
# UBSan into $(BUILD)/fuzz. Our code (src, tests/fuzz) and llhttp get the
# sanitizers and libFuzzer's coverage; the engine's gcc objects (generated
# code) are linked as they are. The isolate targets embed their JS harness
# (tests/fuzz/NAME.js) and clone the base snapshot of the release flavour.
#   make fuzz FUZZ_SECONDS=N   build every target, replay its corpus and fuzz it N s
#   make fuzz-build            only build them
# scripts/fuzz.sh runs them too (the test suite's short run).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_OUT     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := $(COMMON) $(WARN) -I$(FUZZ_OUT)/gen -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_NAMES   := $(basename $(notdir $(wildcard tests/fuzz/*.c)))
FUZZ_JS      := $(basename $(notdir $(wildcard tests/fuzz/*.js)))
FUZZ_BINS    := $(addprefix $(FUZZ_OUT)/,$(FUZZ_NAMES))
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(LIB_SRC) $(CLI_LIB_SRC) $(wildcard tests/fuzz/common/*.c))
FUZZ_LLHTTP_OBJ := $(patsubst $(ENGINE)/llhttp/%,$(FUZZ_OUT)/llhttp/%,$(LLHTTP_OBJ))

.PHONY: fuzz fuzz-build fuzz-clean
fuzz-build: $(FUZZ_BINS) $(BUILD)/release/isolde.snap

fuzz: fuzz-build
	scripts/fuzz.sh --no-build --keep --build-dir $(BUILD) --seconds $(FUZZ_SECONDS)

fuzz-clean:
	rm -rf $(FUZZ_OUT)

$(FUZZ_OUT)/obj/%.o: %.c $(GEN_HDR) $(wildcard src/*/*.h tests/fuzz/common/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_DEFS) -c $< -o $@

$(FUZZ_OUT)/obj/src/runtime/prelude.o: $(GEN)/build_id.h
$(FUZZ_OUT)/obj/src/runtime/host_lazy.o: $(GEN)/lazy_tr46_chunk.h
$(FUZZ_OUT)/obj/tests/fuzz/common/iso_drive.o: FUZZ_DEFS := -DFUZZ_SNAPSHOT='"$(abspath $(BUILD)/release/isolde.snap)"'
$(foreach n,$(FUZZ_JS),$(eval $(FUZZ_OUT)/obj/tests/fuzz/$(n).o: $(FUZZ_OUT)/gen/$(n)_js.h))

$(FUZZ_OUT)/gen/%_js.h: tests/fuzz/%.js $(GEN)/embed_tool
	@mkdir -p $(dir $@)
	$(GEN)/embed_tool fuzz_harness_js $< $@

$(FUZZ_OUT)/llhttp/%.o: $(LLHTTP_SRC)/%.c $(LLHTTP_INC)/llhttp.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(LLHTTP_CFLAGS) -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BINS): $(FUZZ_OUT)/%: $(FUZZ_OUT)/obj/tests/fuzz/%.o $(FUZZ_LIB_OBJ) $(FUZZ_LLHTTP_OBJ) $(ENGINE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)
