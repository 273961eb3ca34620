# cleanrun: build, test, lint, install.
#
#   make            build build/cleanrun
#   make demo       set up, build, run the example specs (specs/)
#   make demo-real  the same with real servers (docs/examples/real/: PostgreSQL,
#                   redis, nginx) in an image made from Debian's packages
#   make test       install what is missing, then every test (unit, sanitizer,
#                   TOML conformance)
#   make lint       clang-format, clang-tidy, cppcheck, banned functions, layering, OS seam
#   make fuzz       libFuzzer over the TOML parser (FUZZ_TIME seconds, default 60)
#   make bench      benchmarks (bench/)
#   make install    the binary, man pages, completions: PREFIX=/usr/local DESTDIR=
#
# Variants never share objects: build/obj (release) and build/asan/obj.

VERSION    := 0.1.0
CC         ?= cc
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share/cleanrun
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
DESTDIR    ?=
SHARED     ?= ../shared
FUZZ_TIME  ?= 60
NPROC      := $(shell nproc 2>/dev/null || echo 2)

# The host OS: its half of the seam runtime/base/os.h is runtime/base/os-$(HOST_OS)*.c
# (docs/ARCHITECTURE.md "The host OS seam"); only Linux's exists today.
HOST_OS    := $(shell uname -s | tr A-Z a-z)
PKGS_linux := libseccomp libcrypto libcap
PKGS       := libcurl libcjson libarchive libpcre2-8 libxml-2.0 yaml-0.1 $(PKGS_$(HOST_OS))
TEST_PKGS  := criterion

CSTD       := -std=gnu11
WARN_BASE  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wmissing-declarations -Wpointer-arith -Wcast-align -Wwrite-strings \
              -Wformat=2 -Wundef -Wvla
WARN       := $(WARN_BASE)
ifeq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n1)),)
WARN       += -Wjump-misses-init
endif

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CPPFLAGS   += -I. -DCLN_VERSION='"$(VERSION)"' -D_GNU_SOURCE -DCLN_INSIDE_EXEC='"$(INSIDE)"'
CFLAGS_release := -O2 -g -D_FORTIFY_SOURCE=2
CFLAGS_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all
LDFLAGS_asan   := -fsanitize=address,undefined
LDLIBS     := -lm -lpthread

OS_SRC      := $(wildcard runtime/base/os-$(HOST_OS)*.c)
ifeq ($(OS_SRC),)
$(error no runtime/base/os-$(HOST_OS)*.c: cleanrun has no implementation of runtime/base/os.h for $(HOST_OS) yet)
endif
# runtime/native/ is a Linux backend: built on Linux only.
LINUX_ONLY  := $(if $(filter linux,$(HOST_OS)),,runtime/native/%)
RUNTIME_SRC := $(filter-out runtime/base/os-% $(LINUX_ONLY),$(wildcard runtime/base/*.c runtime/*.c runtime/*/*.c)) $(OS_SRC)
HARNESS_SRC := $(filter-out harness/cli/main.c harness/inside/%,$(wildcard harness/*.c harness/*/*.c))
# What runs inside containers (harness/inside/): static, with musl, embedded
# in the harness by harness/inside.c; one build for every variant.
INSIDE_SRC  := harness/inside/cleanrun-exec.c
INSIDE      := build/inside/cleanrun-exec
MUSL_CC     ?= musl-gcc
LIB_SRC     := $(sort $(RUNTIME_SRC) $(HARNESS_SRC))
MAIN_SRC    := harness/cli/main.c
UNIT_SRC    := $(wildcard tests/unit/*.c tests/fakes/*.c)
INTEG_SRC   := $(wildcard tests/integration/*.c)
FUZZ_SRC    := tests/fuzz/fuzz-toml.c

# $(call objs,VARIANT_DIR,SOURCES)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

REL := build
ASN := build/asan

.PHONY: all demo demo-real asan test check engines integration unit unit-asan conformance conformance-asan lint fuzz bench \
        install uninstall clean deps depcheck help

all: depcheck $(REL)/cleanrun

help:
	@sed -n '/^#/!q;p' Makefile

# ---- dependencies ----

deps:
	@bash .ci/setup deps

depcheck:
	@pkg-config --exists $(PKGS) 2>/dev/null || { \
	  echo "cleanrun: missing build dependencies ($(PKGS) via pkg-config)."; \
	  echo "  Run 'make deps' (Debian/Ubuntu, as root) or install libcurl4-openssl-dev,"; \
	  echo "  libcjson-dev, libarchive-dev, libssl-dev and pkg-config."; exit 2; }
	@command -v $(MUSL_CC) >/dev/null 2>&1 || { \
	  echo "cleanrun: missing $(MUSL_CC), which builds what runs inside containers."; \
	  echo "  Run 'make deps' (Debian/Ubuntu, as root) or install musl-tools."; exit 2; }

# ---- build variants ----

# $(call variant,DIR,NAME): the objects, library and binaries of one variant,
# built in DIR with CFLAGS_NAME and linked with LDFLAGS_NAME.  One compile
# rule for every object; files under tests/ add the test framework's flags.
define variant
$(1)/obj/tests/%.o: KIND_CFLAGS = $$(TEST_CFLAGS)

$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CSTD) $$(WARN) $$(CFLAGS_$(2)) $$(CPPFLAGS) $$(PKG_CFLAGS) $$(KIND_CFLAGS) $$(CFLAGS) -MMD -MP -c $$< -o $$@

$(1)/obj/harness/inside.o: $(INSIDE)

$(1)/libcleanrun.a: $$(call objs,$(1),$$(LIB_SRC))
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/cleanrun: $$(call objs,$(1),$$(MAIN_SRC)) $(1)/libcleanrun.a
	$$(CC) $$(LDFLAGS_$(2)) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(LDLIBS)

$(1)/test-unit: $$(call objs,$(1),$$(UNIT_SRC)) $(1)/libcleanrun.a
	$$(CC) $$(LDFLAGS_$(2)) $$(LDFLAGS) -o $$@ $$^ $$(TEST_LIBS) $$(PKG_LIBS) $$(LDLIBS)

$(1)/test-integration: $$(call objs,$(1),$$(INTEG_SRC)) $(1)/libcleanrun.a
	$$(CC) $$(LDFLAGS_$(2)) $$(LDFLAGS) -o $$@ $$^ $$(TEST_LIBS) $$(PKG_LIBS) $$(LDLIBS)
endef

$(INSIDE): $(INSIDE_SRC)
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(CSTD) $(WARN_BASE) -Os -static -s -o $@ $<

# One line a variant.
$(eval $(call variant,$(REL),release))
$(eval $(call variant,$(ASN),asan))

asan: depcheck $(ASN)/cleanrun $(ASN)/test-unit

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- demo ----

# The README's first command: set up (packages, an engine, the base image),
# build, and run the example specs end to end.
demo: deps
	@bash .ci/setup docker
	@bash .ci/setup images
	@$(MAKE) --no-print-directory -j$(NPROC) $(REL)/cleanrun
	$(REL)/cleanrun run specs
	$(REL)/cleanrun self-test

# Real services (docs/examples/real/: PostgreSQL, redis, nginx, a python3 app
# over PostgreSQL) in an image made from Debian's packages by .ci/real-image:
# a few minutes the first time, cached after.  On Docker.
demo-real: deps
	@bash .ci/setup docker
	@bash .ci/real-image $(DOCKER_EP)
	@$(MAKE) --no-print-directory -j$(NPROC) $(REL)/cleanrun
	$(REL)/cleanrun run --host $(DOCKER_EP) docs/examples/real

# ---- tests ----

# The README's test command: set up what is missing, then run everything.
test: deps
	@bash .ci/setup engines
	@bash .ci/setup images
	@$(MAKE) --no-print-directory -j$(NPROC) $(REL)/cleanrun $(REL)/test-unit \
	    $(REL)/test-integration $(ASN)/cleanrun $(ASN)/test-unit $(ASN)/test-integration
	@$(MAKE) --no-print-directory check

check: unit unit-asan conformance conformance-asan integration

engines:
	@bash .ci/setup engines

DOCKER_EP := unix:///var/run/docker.sock
PODMAN_EP := unix:///run/podman/podman.sock
NATIVE_EP := native:///var/lib/cleanrun

# Against the real engines, started by `.ci/setup engines`: Docker and Podman
# with the release build, Docker again under the sanitizers with leaks checked.
integration: $(REL)/test-integration $(ASN)/test-integration $(REL)/cleanrun $(ASN)/cleanrun
	@echo "== integration tests: Docker ($(DOCKER_EP))"
	CLEANRUN_TEST_ENDPOINT=$(DOCKER_EP) $(REL)/test-integration --jobs $(NPROC)
	@echo "== integration tests: Podman ($(PODMAN_EP))"
	CLEANRUN_TEST_ENDPOINT=$(PODMAN_EP) $(REL)/test-integration --jobs $(NPROC)
	@echo "== integration tests: Docker, ASan + UBSan, leaks checked"
	@rm -rf $(ASN)/san-integ && mkdir -p $(ASN)/san-integ
	CLEANRUN_TEST_ENDPOINT=$(DOCKER_EP) \
	ASAN_OPTIONS=detect_leaks=1:log_path=$(CURDIR)/$(ASN)/san-integ/asan \
	LSAN_OPTIONS=exitcode=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(ASN)/san-integ/ubsan \
	    $(ASN)/test-integration --jobs $(NPROC)
	@python3 tests/sanitizer-reports.py $(ASN)/san-integ
	@echo "== the native runtime (no engine): its base image imported, the same integration suite (release; ASan + UBSan, leaks checked), e2e, interrupt"
	bash .ci/setup native-images $(REL)/cleanrun
	CLEANRUN_TEST_ENDPOINT=$(NATIVE_EP) $(REL)/test-integration --jobs $(NPROC)
	@rm -rf $(ASN)/san-native && mkdir -p $(ASN)/san-native
	CLEANRUN_TEST_ENDPOINT=$(NATIVE_EP) \
	ASAN_OPTIONS=detect_leaks=1:log_path=$(CURDIR)/$(ASN)/san-native/asan \
	LSAN_OPTIONS=exitcode=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(ASN)/san-native/ubsan \
	    $(ASN)/test-integration --jobs $(NPROC)
	@python3 tests/sanitizer-reports.py $(ASN)/san-native
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/native.sh $(ASN)/cleanrun $(NATIVE_EP)
	bash tests/e2e/interrupt.sh $(REL)/cleanrun $(NATIVE_EP) 10
	@echo "== the native runtime rootless: as an ordinary user (made when missing), the same integration suite, e2e"
	bash tests/e2e/rootless.sh $(REL)
	@echo "== the emulator of Apple's container CLI (tests/emulator/): its self-test, both schemas, on Docker"
	bash tests/emulator/selftest.sh
	@echo "== Apple backend against the emulator, 1.x then 0.x: e2e, reports, self-test, interrupt; fault modes, macOS 15"
	@# the examples and self-test specs build with RUN and no outbound, which
	@# runtime apple refuses without this consent (docs/runtime.md "Apple")
	CLEANRUN_APPLE_BUILD_NETWORK=allow bash tests/e2e/run.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	CLEANRUN_APPLE_BUILD_NETWORK=allow SHARED=$(SHARED) bash tests/e2e/reports.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	CLEANRUN_APPLE_BUILD_NETWORK=allow bash tests/e2e/selftest.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	CLEANRUN_APPLE_BUILD_NETWORK=allow bash tests/e2e/interrupt.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container 3
	CLEANRUN_APPLE_BUILD_NETWORK=allow CONTAINER_EMU_SCHEMA=0 bash tests/e2e/run.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	CLEANRUN_APPLE_BUILD_NETWORK=allow CONTAINER_EMU_SCHEMA=0 SHARED=$(SHARED) bash tests/e2e/reports.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	CLEANRUN_APPLE_BUILD_NETWORK=allow CONTAINER_EMU_SCHEMA=0 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/selftest.sh $(ASN)/cleanrun $(CURDIR)/tests/emulator/container
	CLEANRUN_APPLE_BUILD_NETWORK=allow CONTAINER_EMU_SCHEMA=0 bash tests/e2e/interrupt.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container 2
	CLEANRUN_APPLE_BUILD_NETWORK=allow ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/apple.sh $(ASN)/cleanrun
	@echo "== end-to-end: cleanrun run/validate/list on Podman (release build)"
	bash tests/e2e/run.sh $(REL)/cleanrun $(PODMAN_EP)
	@echo "== end-to-end: on Docker, with the ASan + UBSan build (a leak fails it)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/run.sh $(ASN)/cleanrun $(DOCKER_EP)
	@echo "== cleanrun self-test: Docker (ASan + UBSan build), Podman; installed; with wrong expectations"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(ASN)/cleanrun self-test --host $(DOCKER_EP)
	$(REL)/cleanrun self-test --host $(PODMAN_EP)
	bash tests/e2e/selftest.sh $(REL)/cleanrun $(DOCKER_EP)
	@echo "== reports: JSON schema, xmllint + xml.etree, prove + TAP::Parser (Docker, ASan build; Podman)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    SHARED=$(SHARED) bash tests/e2e/reports.sh $(ASN)/cleanrun $(DOCKER_EP)
	SHARED=$(SHARED) bash tests/e2e/reports.sh $(REL)/cleanrun $(PODMAN_EP)
	@echo "== trust: never harm the host, never hang, never pass what did not run (Docker, ASan build; Podman)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/trust.sh $(ASN)/cleanrun $(DOCKER_EP)
	bash tests/e2e/trust.sh $(REL)/cleanrun $(PODMAN_EP)
	@echo "== results: right results, output a person can read (Docker, ASan build; Podman)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/results.sh $(ASN)/cleanrun $(DOCKER_EP)
	bash tests/e2e/results.sh $(REL)/cleanrun $(PODMAN_EP)
	@echo "== data: files on fresh steps, owners, user and workdir of services, volumes, tmpfs, regex/not_regex/json expectations, matrix include/exclude (Docker, ASan build; Podman; native; the Apple emulator)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    bash tests/e2e/data.sh $(ASN)/cleanrun $(DOCKER_EP)
	bash tests/e2e/data.sh $(REL)/cleanrun $(PODMAN_EP)
	bash tests/e2e/data.sh $(REL)/cleanrun $(NATIVE_EP)
	CLEANRUN_APPLE_BUILD_NETWORK=allow bash tests/e2e/data.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	@echo "== artifacts: --artifacts on Docker (ASan build), Podman, native, the Apple emulator"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    SHARED=$(SHARED) bash tests/e2e/artifacts.sh $(ASN)/cleanrun $(DOCKER_EP)
	SHARED=$(SHARED) bash tests/e2e/artifacts.sh $(REL)/cleanrun $(PODMAN_EP)
	SHARED=$(SHARED) bash tests/e2e/artifacts.sh $(REL)/cleanrun $(NATIVE_EP)
	CLEANRUN_APPLE_BUILD_NETWORK=allow SHARED=$(SHARED) bash tests/e2e/artifacts.sh $(REL)/cleanrun $(CURDIR)/tests/emulator/container
	@echo "== man pages and completions: against --help, docs/cli.md, docs/spec.md; groff -ww; bash, zsh, fish; make install"
	bash tests/e2e/man.sh $(REL)/cleanrun
	@echo "== import clnrm"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash tests/e2e/import.sh $(ASN)/cleanrun $(DOCKER_EP)
	@echo "== the spec's JSON Schema"
	bash tests/e2e/schema.sh $(REL)/cleanrun
	@echo "== real services (Debian image with PostgreSQL, redis, nginx): Docker, Podman"
	bash tests/e2e/real.sh $(REL)/cleanrun $(DOCKER_EP) $(PODMAN_EP)
	@echo "== watch mode"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash tests/e2e/watch.sh $(ASN)/cleanrun $(DOCKER_EP)
	@echo "== cleanrun init: the starter spec validates and passes"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 bash tests/e2e/init.sh $(ASN)/cleanrun $(DOCKER_EP)
	@echo "== crash-proof cleanup: SIGINT and SIGKILL at random moments, then gc (Docker: 20 each; Podman: 5 each)"
	bash tests/e2e/interrupt.sh $(REL)/cleanrun $(DOCKER_EP) 20
	bash tests/e2e/interrupt.sh $(REL)/cleanrun $(PODMAN_EP) 5

unit: $(REL)/test-unit
	@echo "== unit tests (release build)"
	$(REL)/test-unit --jobs $(NPROC)

# LeakSanitizer reports only when a Criterion worker exits, and Criterion
# does not fail the test for it: send every sanitizer report to files and
# fail when any file appears.
unit-asan: $(ASN)/test-unit
	@echo "== unit tests (ASan + UBSan, leaks checked)"
	@rm -rf $(ASN)/san && mkdir -p $(ASN)/san
	ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$(CURDIR)/$(ASN)/san/asan \
	LSAN_OPTIONS=exitcode=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(CURDIR)/$(ASN)/san/ubsan \
	    $(ASN)/test-unit --jobs $(NPROC)
	@python3 tests/sanitizer-reports.py $(ASN)/san

conformance: $(REL)/cleanrun
	@echo "== TOML 1.0 conformance (release build)"
	$(SHARED)/tools/toml-conformance -j $(NPROC) --dir $(SHARED)/toml-test $(REL)/cleanrun toml-decode

conformance-asan: $(ASN)/cleanrun
	@echo "== TOML 1.0 conformance (ASan + UBSan build)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(SHARED)/tools/toml-conformance -j $(NPROC) --dir $(SHARED)/toml-test $(ASN)/cleanrun toml-decode

# ---- fuzzing ----

FUZZ_DIR   := build/fuzz
# Our own seeds, inputs libFuzzer found: each named by the SHA-1 of its bytes,
# so copying over a file of the same name changes nothing.
FUZZ_SEEDS := tests/fuzz/corpus

$(FUZZ_DIR)/fuzz-toml: $(FUZZ_SRC) $(filter harness/toml/% runtime/base/%,$(LIB_SRC))
	@mkdir -p $(FUZZ_DIR)
	clang $(CSTD) $(WARN_BASE) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm

fuzz: depcheck $(FUZZ_DIR)/fuzz-toml
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	@find $(SHARED)/toml-test -name '*.toml' -exec cp -n {} $(FUZZ_DIR)/corpus/ \; 2>/dev/null || true
	@cp $(FUZZ_SEEDS)/* $(FUZZ_DIR)/corpus/
	$(FUZZ_DIR)/fuzz-toml -max_total_time=$(FUZZ_TIME) -timeout=5 -rss_limit_mb=2048 \
	    -dict=tests/fuzz/toml.dict -artifact_prefix=$(FUZZ_DIR)/artifacts/ \
	    -print_final_stats=1 $(FUZZ_DIR)/corpus

# ---- benchmarks ----

$(REL)/bench-toml: bench/bench-toml.c $(REL)/libcleanrun.a
	$(CC) $(CSTD) $(WARN) $(CFLAGS_release) $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(REL)/bench-runtime: bench/bench-runtime.c $(REL)/libcleanrun.a
	$(CC) $(CSTD) $(WARN) $(CFLAGS_release) $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(REL)/floor-client: bench/floor-client.c
	$(CC) $(CSTD) $(WARN) $(CFLAGS_release) $(CPPFLAGS) -o $@ $^

$(REL)/measure: bench/measure.c
	$(CC) $(CSTD) $(WARN) $(CFLAGS_release) $(CPPFLAGS) -o $@ $^

BENCH_RUNS ?= 5

bench: deps
	@bash .ci/setup docker
	@$(MAKE) --no-print-directory -j$(NPROC) $(REL)/bench-toml $(REL)/bench-runtime $(REL)/floor-client $(REL)/measure $(REL)/cleanrun
	@bash .ci/setup native-images $(REL)/cleanrun
	@bash bench/toml-speed.sh $(REL)/bench-toml
	@python3 bench/runtime-bench.py $(REL) $(BENCH_RUNS)

# ---- lint ----

LINT_SRC := $(shell find runtime harness tests bench -name '*.[ch]' 2>/dev/null | sort)

lint:
	@echo "== clang-format"
	clang-format --dry-run -Werror $(LINT_SRC)
	@echo "== banned functions"
	@! grep -nE '\b(strcpy|sprintf|vsprintf|atoi|atol|strtok|gets|strcat)\s*\(' $(LINT_SRC) \
	    || { echo "banned function used (see above)"; exit 1; }
	@echo "== layering (tests/layering.sh: docs/ARCHITECTURE.md's rules)"
	@bash tests/layering.sh
	@echo "== the host OS seam (tests/portability.sh: runtime/base/os.h alone is Linux's)"
	@bash tests/portability.sh
	@echo "== clang-tidy"
	clang-tidy --quiet $(filter %.c,$(LINT_SRC)) -- $(CSTD) $(CPPFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS)
	@echo "== cppcheck"
	cppcheck --quiet --std=c11 --enable=warning,style,performance,portability --inline-suppr \
	    --error-exitcode=1 --suppress=missingIncludeSystem --suppress=unknownMacro:tests/* -I. -D__GNUC__ $(filter %.c,$(LINT_SRC))
	@echo "lint: clean"

# ---- install ----

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(REL)/cleanrun $(DESTDIR)$(BINDIR)/cleanrun
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0644 docs/man/cleanrun.1 $(DESTDIR)$(MANDIR)/man1/cleanrun.1
	install -m 0644 docs/man/cleanrun.toml.5 $(DESTDIR)$(MANDIR)/man5/cleanrun.toml.5
	install -m 0644 completions/cleanrun.bash $(DESTDIR)$(BASHCOMPDIR)/cleanrun
	install -m 0644 completions/_cleanrun $(DESTDIR)$(ZSHCOMPDIR)/_cleanrun
	install -m 0644 completions/cleanrun.fish $(DESTDIR)$(FISHCOMPDIR)/cleanrun.fish
	install -m 0644 docs/spec.schema.json $(DESTDIR)$(DATADIR)/spec.schema.json
	@if [ -d selftest ] && ls selftest/* >/dev/null 2>&1; then \
	    install -d $(DESTDIR)$(DATADIR)/selftest && cp -R selftest/. $(DESTDIR)$(DATADIR)/selftest/; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/cleanrun
	rm -f $(DESTDIR)$(MANDIR)/man1/cleanrun.1 $(DESTDIR)$(MANDIR)/man5/cleanrun.toml.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/cleanrun $(DESTDIR)$(ZSHCOMPDIR)/_cleanrun $(DESTDIR)$(FISHCOMPDIR)/cleanrun.fish
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build
