# kpipress build. `make` builds ./kpipress; `make demo` and `make test` are the README's
# two commands and install missing Debian packages first (make deps / make test-deps).

VERSION   := 0.1.0
CC        ?= cc
PREFIX    ?= /usr/local
PKGS      := xlsxwriter sqlite3 inih
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
              libsqlite3-dev zlib1g-dev fonts-dejavu-core
TEST_PKGS  := $(BUILD_PKGS) libcmocka-dev python3 python3-openpyxl poppler-utils qpdf \
              sqlite3 valgrind libreoffice-calc-nogui

.PHONY: all deps test-deps demo test asan valgrind install clean format unit functional

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

# valgrind on the sample job: no leaks, no errors.
valgrind: all
	rm -rf $(BUILD)/vg && mkdir -p $(BUILD)/vg
	valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
	  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 \
	  ./$(BIN) run sample-data/job.ini --quiet --output-dir $(BUILD)/vg --database :memory:

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/kpipress/templates \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/kpipress
	install -m 644 templates/*.ini $(DESTDIR)$(PREFIX)/share/kpipress/templates/
	install -m 644 src/kpipress.1 $(DESTDIR)$(PREFIX)/share/man/man1/kpipress.1

format:
	clang-format -i src/*.c include/kpipress/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build build-asan $(BIN) sample-data/out

-include $(LIB_OBJ:.o=.d) $(BUILD)/main.d
