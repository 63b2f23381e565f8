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
PKGS      := libcurl libnghttp2 jansson yaml-0.1 libevent libevent_openssl openssl zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
             -Wshadow -Wformat=2 -Wstrict-prototypes
CFLAGS    ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) -I. -MMD -MP
LDLIBS    += $(PKG_LIBS) -lm -pthread
# corrald's allocator: jemalloc (README, Dependencies; docs/architecture.md).
# MALLOC_LIBS= links libc's malloc instead (the sanitized builds do).
MALLOC_LIBS ?= -ljemalloc

# Module -> the modules it depends on (link order: dependents first).
MODULES := base apis store controllers mesosbridge apiserver cli executor nodeagent mesoslite
DEPS_base        :=
DEPS_apis        := base
DEPS_store       := apis base
DEPS_mesosbridge := controllers store apis base
DEPS_controllers := store apis base
DEPS_apiserver   := mesosbridge controllers store apis base
DEPS_cli         := apis base
DEPS_executor    := base
DEPS_nodeagent   := base
DEPS_mesoslite   := base

# Binary -> the modules it links.
BINARIES := corrald corralctl corral-executor corral-nodeagent mesoslite
LIBS_corrald          := apiserver mesosbridge controllers store apis base
LIBS_corralctl        := cli apis base
LIBS_corral-executor  := executor base
LIBS_corral-nodeagent := nodeagent base
LIBS_mesoslite        := mesoslite base
# Binary -> libraries it links beyond LDLIBS.
XLIBS_corrald          = $(MALLOC_LIBS)

lib_srcs = $(wildcard $(1)/*.c)
lib_objs = $(patsubst %.c,$(BUILD)/%.o,$(call lib_srcs,$(1)))
lib_file = $(BUILD)/lib/lib$(1).a

.PHONY: all help pkgs test unit itest e2e e2e-asan e2e-asan-full asan asan-itest valgrind fmt lint install deb fuzz fuzz-long bench chaos chaos-regress clean run deps
all: $(addprefix $(BIN)/,$(BINARIES))

# The pkg-config packages every binary links (hack/fuzz.sh reads them here).
pkgs:
	@echo $(PKGS)

help:
	@echo "make            build bin/{$(BINARIES)}"
	@echo "make test       install deps, build, run every test (unit, valgrind, asan, integration, e2e, fuzz)"
	@echo "make unit [M=module] [TEST_FILTER=glob]   unit tests only"
	@echo "make asan       build and run unit tests under ASan+UBSan (asan-itest: integration tests)"
	@echo "make e2e-asan   core e2e files against ASan+UBSan binaries, any report (leaks too) fails (e2e-asan-full: all)"
	@echo "make bench      run benchmarks and print figures"
	@echo "make chaos [SEED=n] [MINUTES=60] [CHAOS_ARGS=...]   randomized operations and faults against a real cluster, checking the invariants (docs/reliability.md)"
	@echo "make chaos-regress   replay every sequence the chaos tester once failed on (e2e/chaos/regressions, ~6 min)"
	@echo "make fuzz       build the fuzz targets (clang, libFuzzer)"
	@echo "make fuzz-long  run every fuzz target to 10 million executions (FUZZ_RUNS=n, FUZZ_TARGETS='api docs')"
	@echo "make fmt|lint   clang-format the tree | cppcheck"
	@echo "make install PREFIX=/usr/local [DESTDIR=dir]   binaries, man pages, docs, units, settings"
	@echo "make deb        Debian packages into build/deb (dpkg-buildpackage, lintian)"
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
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) $$(XLIBS_$(1))
endef
$(foreach b,$(BINARIES),$(eval $(call BIN_RULE,$(b))))

# --- the web UI, compiled into corrald (docs/ui.md) ---------------------------
# hack/embed-ui.py turns every file under ui/ into a C table (apiserver/as_ui.h)
# that joins the apiserver library. The folders are prerequisites too, so
# adding or removing a file rebuilds the table.
UI_ASSETS_C := $(BUILD)/gen/apiserver/as_ui_assets.c
UI_SRCS := $(shell find ui -type f -o -type d 2>/dev/null)
$(UI_ASSETS_C): $(UI_SRCS) hack/embed-ui.py
	@mkdir -p $(dir $@)
	python3 hack/embed-ui.py ui $@
$(UI_ASSETS_C:.c=.o): $(UI_ASSETS_C)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(call lib_file,apiserver): $(UI_ASSETS_C:.c=.o)

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
# One at a time: each starts its own etcd members.
itest: all $(ITEST_BINS)
	@JOBS=1 hack/run-unit.sh $(ITEST_BINS)

e2e: all
	@python3 e2e/run.py

test:
	@hack/test.sh

# The ASan+UBSan variant in $(ASAN_BUILD) (build/asan; binaries in its bin/);
# ASAN_BUILD=dir keeps one engineer's sanitized objects apart. asan,
# asan-itest and e2e-asan share its objects, so its flags are said once.
ASAN_BUILD ?= build/asan
ASAN_MAKE = $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) BIN=$(ASAN_BUILD)/bin \
  CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
  LDFLAGS="-fsanitize=address,undefined" MALLOC_LIBS=

asan:
	@$(ASAN_MAKE) unit

# Integration tests built with the sanitizers (they start real etcd and
# bin/mesoslite; the test binaries themselves are sanitized).
asan-itest:
	@$(ASAN_MAKE) itest-bins
	@JOBS=1 hack/run-unit.sh $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(ITEST_BINS))

# e2e against the sanitized binaries (CORRAL_BIN). Each process writes any
# report to $(E2E_ASAN_LOGS)/<test file>/sanitizer.<pid> (ASan and UBSan
# share log_path; an executor whose environment mesoslite replaced writes to
# its sandbox's stderr), leaks at exit included: the harness stops every
# process with SIGTERM and waits E2E_STOP_GRACE seconds before SIGKILL. A test
# that leaves a report fails.
# e2e-asan (make test) runs the files that drive corrald's API, controllers
# and bridge, mesoslite and the executor; test_mesoslite_simulate.py is left
# out until its kill loop stops counting re-sent TASK_RUNNING updates as ends
# (they come when acks lag, as under ASan). e2e-asan-full runs every file but
# test_local_up.py, which builds and runs its own unsanitized copy.
# E2E_ASAN_TESTS='e2e/test_x.py ...' picks files.
E2E_ASAN_LOGS := $(ASAN_BUILD)/e2e-logs
# Task port band of the sanitized run: apart from the plain e2e run (20000-25000)
# that make test runs beside it.
E2E_ASAN_PORTS ?= 25000-30000
E2E_ASAN_TESTS ?= $(filter-out e2e/test_mesoslite_simulate.py,$(sort $(wildcard \
  e2e/test_api.py e2e/test_bridge.py e2e/test_controllers*.py e2e/test_executor*.py \
  e2e/test_jobs.py e2e/test_mesoslite*.py e2e/test_seed_scenario.py)))
E2E_ASAN_RUN = @$(ASAN_MAKE) all && rm -rf $(E2E_ASAN_LOGS) && \
  CORRAL_BIN=$(abspath $(ASAN_BUILD)/bin) E2E_STOP_GRACE=15 CORRAL_E2E_PORTS=$(E2E_ASAN_PORTS) \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66:log_path=$(abspath $(E2E_ASAN_LOGS))/sanitizer \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(abspath $(E2E_ASAN_LOGS))/sanitizer \
  python3 e2e/run.py
e2e-asan:
	$(E2E_ASAN_RUN) $(E2E_ASAN_TESTS)

e2e-asan-full:
	$(E2E_ASAN_RUN) $(filter-out e2e/test_local_up.py,$(sort $(wildcard e2e/test_*.py)))

# The sanitized binaries alone (make test builds them before it runs the
# plain and the sanitized e2e suites side by side).
asan-bins:
	@$(ASAN_MAKE) all

# Unit tests under valgrind, built without sanitizers in $(VG_BUILD)
# (VG_BUILD=dir keeps one engineer's build apart).
VG_BUILD ?= build/vg
valgrind:
	@$(MAKE) --no-print-directory BUILD=$(VG_BUILD) BIN=$(VG_BUILD)/bin unit-bins
	@RUNNER=valgrind hack/run-unit.sh $(patsubst $(BUILD)/%,$(VG_BUILD)/%,$(UNIT_BINS))

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

# `make install` puts under $(DESTDIR) what the Debian packages hold
# (debian/*.install; docs/operations.md): binaries, man pages, corralctl's
# bash completion, the docs, the systemd units and the default settings,
# their /usr/bin, /usr/share/doc/corral and /etc/corral paths rewritten to
# the dirs below. Settings already there are kept (the new defaults go
# beside them as *.new). The corral user is the operator's to create.
SYSCONFDIR     ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
BINDIR         ?= $(PREFIX)/bin
MANDIR         ?= $(PREFIX)/share/man
DOCDIR         ?= $(PREFIX)/share/doc/corral
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL_UNITS  := corrald.service corral-nodeagent.service mesoslite.service
INSTALL_CONFIG := corrald.yaml corral-nodeagent.conf corral-nodeagent.env mesoslite.yaml
INSTALL_SED     = sed -e 's|/usr/bin/|$(BINDIR)/|g' -e 's|/usr/share/doc/corral|$(DOCDIR)|g' \
                      -e 's|/etc/corral|$(SYSCONFDIR)/corral|g'
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/corral
	install -m 0755 $(addprefix $(BIN)/,$(BINARIES)) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(patsubst %,dist/man/%.1,$(BINARIES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 dist/bash-completion/corralctl $(DESTDIR)$(BASHCOMPDIR)/corralctl
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/
	@set -e; for f in $(INSTALL_UNITS); do \
	  echo "install manifests/deploy/$$f -> $(DESTDIR)$(SYSTEMDUNITDIR)/$$f"; \
	  $(INSTALL_SED) manifests/deploy/$$f > $(DESTDIR)$(SYSTEMDUNITDIR)/$$f; \
	  chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$f; done
	@set -e; for f in $(INSTALL_CONFIG); do t=$(DESTDIR)$(SYSCONFDIR)/corral/$$f; \
	  if [ -e $$t ]; then t=$$t.new; echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/corral/$$f"; fi; \
	  case $$f in corral-nodeagent.env) m=0600;; *) m=0644;; esac; \
	  echo "install manifests/deploy/$$f -> $$t ($$m)"; \
	  (umask 077; $(INSTALL_SED) manifests/deploy/$$f > $$t); chmod $$m $$t; done

# Debian packages (corral, corral-agent, mesoslite) into build/deb/, built by
# dpkg-buildpackage from a copy of the tree, then checked by lintian.
deb:
	@hack/build-deb.sh build/deb

fuzz:
	@hack/fuzz.sh build

# Hours on 2 cores; prints each target's executions and exec/s.
fuzz-long:
	@hack/fuzz.sh long

bench: all
	@hack/bench.sh $(B)

# Randomized sequence tester (e2e/chaos/chaos.py --help); long runs for
# nights. SEED defaults to the clock, MINUTES to 60.
chaos: all
	@python3 e2e/chaos/chaos.py --seed $(or $(SEED),$$(date +%s)) --minutes $(or $(MINUTES),60) $(CHAOS_ARGS)

# The sequences the tester once broke an invariant with, replayed (each on
# a fresh cluster, about a minute each): too slow for `make test`, whose
# plan fixtures (test/controllers/fixtures/service_failover.json) pin the
# rules they found.
chaos-regress: all
	@python3 e2e/run.py e2e/chaos/regressions/regress_*.py


run:
	@hack/local-up.sh

deps:
	@hack/deps.sh

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
