# Corral build. `make` builds every binary into bin/; `make help` lists targets.
#
# Layout: each module folder (base, apis, store, ...) becomes one static
# library; binaries are cmd/<name>/*.c linked against the libraries they need;
# unit tests are test/<module>/test_*.c, one executable per file.
# BUILD=dir puts objects elsewhere (parallel builds of different variants).

PREFIX    ?= /usr/local
BUILD     ?= build
BIN       ?= bin
CC        ?= cc
PKGS      := libcurl jansson yaml-0.1 libevent libevent_openssl openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
             -Wshadow -Wformat=2 -Wstrict-prototypes
CFLAGS    ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) -I. -MMD -MP
LDLIBS    += $(PKG_LIBS) -lm

# Module -> the modules it depends on (link order: dependents first).
MODULES := base apis store mesosbridge controllers apiserver cli executor nodeagent mesoslite
DEPS_base        :=
DEPS_apis        := base
DEPS_store       := apis base
DEPS_mesosbridge := store apis base
DEPS_controllers := mesosbridge store apis base
DEPS_apiserver   := controllers mesosbridge store apis base
DEPS_cli         := apis base
DEPS_executor    := base
DEPS_nodeagent   := base
DEPS_mesoslite   := base

# Binary -> the modules it links.
BINARIES := corrald corralctl corral-executor corral-nodeagent mesoslite
LIBS_corrald          := apiserver controllers mesosbridge store apis base
LIBS_corralctl        := cli apis base
LIBS_corral-executor  := executor base
LIBS_corral-nodeagent := nodeagent base
LIBS_mesoslite        := mesoslite base

lib_srcs = $(wildcard $(1)/*.c)
lib_objs = $(patsubst %.c,$(BUILD)/%.o,$(call lib_srcs,$(1)))
lib_file = $(BUILD)/lib/lib$(1).a

.PHONY: all help test unit itest e2e asan asan-itest valgrind fmt lint install fuzz bench clean run deps
all: $(addprefix $(BIN)/,$(BINARIES))

help:
	@echo "make            build bin/{$(BINARIES)}"
	@echo "make test       install deps, build, run every test (unit, valgrind, asan, integration, e2e, fuzz)"
	@echo "make unit [M=module] [TEST_FILTER=glob]   unit tests only"
	@echo "make asan       build and run unit tests under ASan+UBSan (asan-itest: integration tests)"
	@echo "make bench      run benchmarks and print figures"
	@echo "make fuzz       build the fuzz targets (clang, libFuzzer)"
	@echo "make fmt|lint   clang-format the tree | cppcheck"
	@echo "make install PREFIX=/usr/local"
	@echo "make run        start a local Corral (hack/local-up.sh)"

# --- libraries --------------------------------------------------------------
define LIB_RULE
$(call lib_file,$(1)): $(call lib_objs,$(1))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call LIB_RULE,$(m))))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# --- binaries ---------------------------------------------------------------
define BIN_RULE
$(BIN)/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard cmd/$(1)/*.c)) $(foreach l,$(LIBS_$(1)),$(call lib_file,$(l)))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach b,$(BINARIES),$(eval $(call BIN_RULE,$(b))))

# --- unit tests -------------------------------------------------------------
# test/<module>/test_<x>.c -> $(BUILD)/test/<module>/test_<x>, linked with
# test/lib/*.c, the module and its dependencies.
TEST_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard test/lib/*.c))
define TEST_RULE
$(patsubst %.c,$(BUILD)/%,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(1)) $(TEST_LIB_OBJS) $(call lib_file,$(2)) $(foreach l,$(DEPS_$(2)),$(call lib_file,$(l)))
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(CMOCKA_LIBS) $$(LDLIBS)
endef
UNIT_SRCS := $(foreach m,$(MODULES),$(wildcard test/$(m)/test_*.c))
ITEST_SRCS := $(foreach m,$(MODULES),$(wildcard test/$(m)/itest_*.c))
$(foreach m,$(MODULES),$(foreach t,$(wildcard test/$(m)/test_*.c test/$(m)/itest_*.c),$(eval $(call TEST_RULE,$(t),$(m)))))
UNIT_BINS  = $(patsubst %.c,$(BUILD)/%,$(if $(M),$(wildcard test/$(M)/test_*.c),$(UNIT_SRCS)))
ITEST_BINS = $(patsubst %.c,$(BUILD)/%,$(if $(M),$(wildcard test/$(M)/itest_*.c),$(ITEST_SRCS)))

unit-bins: $(UNIT_BINS)
itest-bins: $(ITEST_BINS)

# Runs unit tests; RUNNER=valgrind or similar wraps each one.
unit: $(UNIT_BINS)
	@hack/run-unit.sh $(UNIT_BINS)

# Integration tests (real etcd, real processes); binaries must be built.
itest: all $(ITEST_BINS)
	@hack/run-unit.sh $(ITEST_BINS)

e2e: all
	@python3 e2e/run.py

test:
	@hack/test.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin \
	  CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" unit

# Integration tests built with the sanitizers (they start real etcd and
# bin/mesoslite; the test binaries themselves are sanitized).
asan-itest:
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin \
	  CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" itest-bins
	@hack/run-unit.sh $(patsubst $(BUILD)/%,build/asan/%,$(ITEST_BINS))

valgrind:
	@$(MAKE) --no-print-directory BUILD=build/vg unit-bins
	@RUNNER=valgrind hack/run-unit.sh $(patsubst $(BUILD)/%,build/vg/%,$(UNIT_BINS))

# --- tooling ----------------------------------------------------------------
SRC_ALL = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(SRC_ALL)

lint:
	# unknownMacro: cppcheck does not read system headers, so it cannot see
	# jansson's json_*_foreach macros.
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem --suppress=unknownMacro -j2 -I. $(SRC_ALL)
	# apis/keys.c is the only place that knows the etcd key layout.
	@hack/check-keys.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(addprefix $(BIN)/,$(BINARIES)) $(DESTDIR)$(PREFIX)/bin/

fuzz:
	@hack/fuzz.sh build

bench: all
	@hack/bench.sh $(B)

run:
	@hack/local-up.sh

deps:
	@hack/deps.sh

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
