# kpipress build. `make` builds ./kpipress; `make demo` and `make test` are the README's
# two commands and install missing Debian packages first (make deps / make test-deps).

VERSION   := 0.1.0
CC        ?= cc
PREFIX    ?= /usr/local
PKGS      := xlsxwriter sqlite3 inih harfbuzz harfbuzz-subset
WARN      := -Wall -Wextra -Wpedantic -Wshadow -Werror
CSTD      := -std=c11 -D_POSIX_C_SOURCE=200809L -DKP_VERSION='"$(VERSION)"' \
             -DKP_TEMPLATE_DIR='"$(PREFIX)/share/kpipress/templates"'
OPT       ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS    += $(CSTD) $(WARN) $(OPT) -Iinclude $(PKG_CFLAGS) -MMD -MP
LDLIBS    += $(PKG_LIBS) -lhpdf -lcsv -lz -lm

BUILD     ?= build
SRC       := $(wildcard src/*.c)
LIB_SRC   := $(filter-out src/main.c,$(SRC))
LIB_OBJ   := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BIN       ?= kpipress

BUILD_PKGS := make gcc pkg-config libxlsxwriter-dev libhpdf-dev libcsv-dev libinih-dev \
              libsqlite3-dev zlib1g-dev libharfbuzz-dev fonts-dejavu-core tzdata
TEST_PKGS  := $(BUILD_PKGS) libcmocka-dev python3 python3-openpyxl poppler-utils qpdf \
              sqlite3 valgrind libreoffice-calc-nogui python3-statsmodels
# make bench only (not needed to build or test): baselines and the measuring tool.
BENCH_PKGS := $(BUILD_PKGS) time sqlite3 python3 python3-pandas python3-xlsxwriter \
              python3-openpyxl python3-reportlab python3-renderpm python3-statsmodels

.PHONY: all deps test-deps demo test asan valgrind install clean format unit functional \
        bench bench-deps

all: $(BIN)

$(BIN): $(BUILD)/main.o $(BUILD)/libkp.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libkp.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkp.a | $(BUILD)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libkp.a $(LDLIBS) -lcmocka

$(BUILD):
	@mkdir -p $(BUILD)

# Install what is missing from Debian's archive; does nothing when all is present.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_PKGS))

test-deps:
	$(call install_missing,$(TEST_PKGS))

demo: deps
	$(MAKE) all
	rm -rf sample-data/out
	./$(BIN) run sample-data/job.ini
	@echo
	@echo "Documents written under sample-data/out/ :"
	@find sample-data/out -type f | sort | sed 's/^/  /'

unit: $(UNIT_BIN)

test: test-deps
	$(MAKE) all unit
	KP_BIN=$(CURDIR)/$(BIN) KP_BUILD=$(CURDIR)/$(BUILD) tests/run

# The whole suite again, built with AddressSanitizer + UndefinedBehaviorSanitizer.
asan: test-deps
	$(MAKE) BUILD=build-asan BIN=build-asan/kpipress \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" all unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  KP_BIN=$(CURDIR)/build-asan/kpipress KP_BUILD=$(CURDIR)/build-asan tests/run

# Benchmarks against sqlite3 .import, bare C loops and pandas/ReportLab (tests/bench/run);
# writes $(BUILD)/bench/results.md. Knobs: BENCH_RUNS, BENCH_SIZES, BENCH_SCORECARDS.
bench-deps:
	$(call install_missing,$(BENCH_PKGS))

bench: bench-deps all
	BENCH_DIR=$(CURDIR)/$(BUILD)/bench KP_BIN=$(CURDIR)/$(BIN) tests/bench/run

# valgrind on the sample job: no leaks, no errors.
valgrind: all
	rm -rf $(BUILD)/vg && mkdir -p $(BUILD)/vg
	valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
	  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 \
	  ./$(BIN) run sample-data/job.ini --quiet --output-dir $(BUILD)/vg --database :memory:

# libFuzzer targets (tests/fuzz/fuzz_*.c) under ASan+UBSan, built with clang into
# build-fuzz/: each first replays its crash regressions, then fuzzes FUZZ_SECONDS from
# its seed corpus. A crash leaves build-fuzz/crash-TARGET-* and fails the target.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

FUZZ_PKGS := $(BUILD_PKGS) clang libclang-rt-14-dev

.PHONY: fuzz fuzz-build fuzz-deps
fuzz-deps:
	$(call install_missing,$(FUZZ_PKGS))

fuzz-build: fuzz-deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	  $(FUZZ_BUILD)/libkp.a
	@for t in $(FUZZ_NAMES); do \
	  echo "clang ... -o $(FUZZ_BUILD)/$$t tests/fuzz/$$t.c"; \
	  clang $(CSTD) $(WARN) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -Iinclude $(PKG_CFLAGS) \
	    -o $(FUZZ_BUILD)/$$t tests/fuzz/$$t.c $(FUZZ_BUILD)/libkp.a $(LDLIBS) || exit 1; \
	done

fuzz: fuzz-build
	@for t in $(FUZZ_NAMES); do \
	  n=$${t#fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  if ls tests/fuzz/regressions/$$n/* >/dev/null 2>&1; then \
	    echo "== $$t: regressions"; \
	    $(FUZZ_BUILD)/$$t tests/fuzz/regressions/$$n/* >$(FUZZ_BUILD)/$$n-regress.log 2>&1 || \
	      { tail -40 $(FUZZ_BUILD)/$$n-regress.log; exit 1; }; \
	  fi; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$n- \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n >$(FUZZ_BUILD)/$$n.log 2>&1; \
	  rc=$$?; grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' \
	    $(FUZZ_BUILD)/$$n.log; test $$rc = 0 || { tail -40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	done

# install-files copies an already built $(BIN) (the install test uses it on the build under
# test, which may be the sanitizer build); install builds first.
.PHONY: install-files
install: all
	$(MAKE) install-files
install-files:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/kpipress/templates \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/kpipress
	install -m 644 templates/*.ini $(DESTDIR)$(PREFIX)/share/kpipress/templates/
	install -m 644 src/kpipress.1 $(DESTDIR)$(PREFIX)/share/man/man1/kpipress.1

format:
	clang-format -i src/*.c include/kpipress/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build build-asan build-fuzz $(BIN) sample-data/out sample-data/var

-include $(LIB_OBJ:.o=.d) $(BUILD)/main.d
