# p0fshim: see README.md.  `make` builds the library; `make check` runs every test;
# `make demo` runs the main job in a throw-away network lab.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
LIBDIR   ?= $(PREFIX)/lib
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -pthread
# CPPFLAGS and LDFLAGS are the caller's (the Debian package passes dpkg-buildflags' hardening).
# Test builds only: MUTANT=-DP0FSHIM_MUTANT_X=1 removes one protection (src/mutant.h).
MUTANT   ?=
CFLAGS   += $(MUTANT)
# LMDB and hiredis are loaded when a store is opened (src/lmdb_load.h, src/hiredis_load.h),
# never linked: their headers are needed to build, their libraries only where a store is configured.
LDLIBS_CORE := -lpcre2-8 -ldl -pthread

B := build
CORE_SRC := $(wildcard src/*.c)
CORE_OBJ := $(patsubst src/%.c,$(B)/obj/%.o,$(CORE_SRC))
SHIM_SRC := $(wildcard shim/*.c)
SHIM_OBJ := $(patsubst shim/%.c,$(B)/obj/shim_%.o,$(SHIM_SRC))
CLIENT_SRC := $(wildcard src/client/*.c)
CLIENT_OBJ := $(patsubst src/client/%.c,$(B)/obj/client_%.o,$(CLIENT_SRC))
TOOL_MAIN_SRC := $(wildcard src/tool/*.c)
TOOL_MAIN_OBJ := $(patsubst src/tool/%.c,$(B)/obj/tool_%.o,$(TOOL_MAIN_SRC))
UNIT_SRC := $(wildcard tests/unit/*.c)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPERS  := $(patsubst tests/helpers/%.c,$(B)/tests/%,$(HELPER_SRC))
PRELOAD_HELPERS := $(patsubst tests/preload/%.c,$(B)/tests/%.so,$(wildcard tests/preload/*.c))

.PHONY: all check check-unit check-integration check-tool check-e2e deps build-deps demo install uninstall clean bench-report

all: $(B)/libp0fshim.so $(if $(TOOL_MAIN_SRC),$(B)/p0fshim) $(HELPERS) $(PRELOAD_HELPERS) \
     $(if $(wildcard /usr/include/libmilter/mfapi.h),$(B)/p0fshim-milter)

# The Debian packages the build needs, each as package=a file it installs, so that `make` on a
# machine without them stops with one line naming them instead of a compiler error. Every
# compile rule waits for this check (an order-only prerequisite: it never forces a rebuild);
# `make build-deps` installs them (scripts/install-deps.sh --build; `make deps` installs those and
# everything `make check` needs, Postfix included). The compiler is named by its command
# (make's default `cc` comes with gcc).
BUILD_DEP_FILES := libc6-dev=/usr/include/stdio.h libpcre2-dev=/usr/include/pcre2.h liblmdb-dev=/usr/include/lmdb.h \
    libhiredis-dev=/usr/include/hiredis/hiredis.h
missing_build_deps = $(strip $(if $(shell command -v $(firstword $(CC))),,$(patsubst cc,gcc,$(firstword $(CC)))) \
    $(foreach d,$(BUILD_DEP_FILES),$(if $(shell test -e $(lastword $(subst =, ,$d)) && echo y),,$(firstword $(subst =, ,$d)))))

.PHONY: build-deps-present
build-deps-present:
	$(if $(missing_build_deps),$(error missing build dependencies: $(missing_build_deps); run `make build-deps` (as root) first))

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) | build-deps-present
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/obj/shim_%.o: shim/%.c $(wildcard src/*.h) | build-deps-present
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc -c -o $@ $<

$(B)/obj/client_%.o: src/client/%.c $(wildcard src/*.h src/client/*.h) | build-deps-present
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc -c -o $@ $<

$(B)/obj/tool_%.o: src/tool/%.c $(wildcard src/*.h src/client/*.h src/tool/*.h) | build-deps-present
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc -c -o $@ $<

# The p0f client of the programs beside the library (the tool, the milter): p0f queries,
# the fingerprint-header lookup, Postfix's policy protocol, the configuration they read.
$(B)/libp0fshim-client.a: $(CLIENT_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# The operator's tool: the same core (codec, policy, config) as the library.
$(B)/p0fshim: $(TOOL_MAIN_OBJ) $(B)/libp0fshim-client.a $(B)/libp0fshim-core.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_MAIN_OBJ) $(B)/libp0fshim-client.a $(B)/libp0fshim-core.a $(LDLIBS_CORE)

$(B)/libp0fshim-core.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# Its SONAME is its file name: installed in the multiarch directory (the Debian package), a
# shared object there is expected to carry one; preloads name the file, never a version.
$(B)/libp0fshim.so: $(SHIM_OBJ) $(B)/libp0fshim-core.a shim/p0fshim.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libp0fshim.so -o $@ $(SHIM_OBJ) $(B)/libp0fshim-core.a \
	    -Wl,--version-script=shim/p0fshim.map -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined $(LDLIBS_CORE)

# Test helpers: each is one .c file plus tests/helpers/helper.h, and none shares code with the
# library on purpose: the fake p0f must not share the codec it tests.
$(B)/tests/%: tests/helpers/%.c $(wildcard tests/helpers/*.h) | build-deps-present
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -pthread

# Test libraries preloaded next to the shim (tests/preload/): one .c file each, never instrumented
# (an ASan build's hosts bring the runtime; a probe's own interceptors must not depend on it).
$(B)/tests/%.so: tests/preload/%.c | build-deps-present
	@mkdir -p $(@D)
	$(filter-out -fsanitize=% -fno-sanitize-recover=%,$(CC)) $(CFLAGS) -fvisibility=default -shared -o $@ $< -ldl -pthread

# The report's code without its command line (report.c) and the tool's other commands: what
# the unit tests of the report's counting, timeline and escaping link.
REPORT_LIB_OBJ := $(filter $(B)/obj/tool_report_%.o $(B)/obj/tool_output.o,$(TOOL_MAIN_OBJ))

$(B)/libp0fshim-report.a: $(REPORT_LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/tests/unit: $(UNIT_SRC) $(B)/libp0fshim-report.a $(B)/libp0fshim-core.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -Isrc/tool -fvisibility=default -o $@ $(UNIT_SRC) $(B)/libp0fshim-report.a \
	    $(B)/libp0fshim-core.a -lcriterion $(LDLIBS_CORE) -llmdb

deps:
	bash scripts/install-deps.sh

build-deps:
	bash scripts/install-deps.sh --build

check: deps all $(B)/tests/unit
	$(MAKE) --no-print-directory check-unit check-integration check-faults check-tool check-e2e check-headers check-deb

check-unit: $(B)/tests/unit
	$(B)/tests/unit --jobs 2

check-integration: all
	bash tests/integration/run.sh
	bash tests/integration/mta.sh
	bash tests/integration/v2.sh
	bash tests/integration/hold.sh
	bash tests/integration/greylist-trust.sh

check-tool: all
	bash tests/tool/run.sh
	bash tests/tool/report_cutoff.sh
	bash tests/tool/report_golden.sh
	bash tests/tool/report_html.sh
	bash tests/tool/conformance.sh

# `p0fshim fingerprint` against the real p0f 3.09b: one SYN per p0f.fp signature and N random
# ones (default 10000), e.g. `make conformance N=100000`.
.PHONY: conformance
conformance: all
	CONFORMANCE_N=$(or $(N),10000) bash tests/tool/conformance.sh

bench-report: $(B)/p0fshim
	bash tests/tool/bench_report.sh

check-e2e: all
	bash tests/e2e/run.sh
	bash tests/e2e/postfix.sh
	bash tests/e2e/postfix-hold.sh
	bash tests/e2e/syn.sh
	bash tests/e2e/fleet.sh
	bash tests/e2e/system-wide.sh
	bash tests/e2e/opensmtpd.sh
	bash tests/e2e/sendmail.sh

demo: deps all
	bash scripts/demo.sh

install: $(B)/libp0fshim.so $(B)/p0fshim
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SYSCONFDIR)/p0fshim $(DESTDIR)$(BINDIR)
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(B)/libp0fshim.so $(DESTDIR)$(LIBDIR)/libp0fshim.so
	ln -sf libp0fshim.so $(DESTDIR)$(LIBDIR)/libp0fshim-system.so
	install -m 0755 $(B)/p0fshim $(DESTDIR)$(BINDIR)/p0fshim
	test ! -e $(B)/p0fshim-milter || install -m 0755 $(B)/p0fshim-milter $(DESTDIR)$(BINDIR)/p0fshim-milter
	install -m 0644 man/p0fshim.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/blocked_operating_systems.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/p0fshim.8 man/p0fshim-milter.8 $(DESTDIR)$(MANDIR)/man8/
	test -e $(DESTDIR)$(SYSCONFDIR)/p0fshim/p0fshim.conf || \
	    install -m 0644 policy/p0fshim.conf $(DESTDIR)$(SYSCONFDIR)/p0fshim/p0fshim.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/p0fshim/blocked_operating_systems || \
	    install -m 0644 policy/blocked_operating_systems $(DESTDIR)$(SYSCONFDIR)/p0fshim/blocked_operating_systems

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libp0fshim.so $(DESTDIR)$(LIBDIR)/libp0fshim-system.so $(DESTDIR)$(BINDIR)/p0fshim $(DESTDIR)$(BINDIR)/p0fshim-milter
	rm -f $(DESTDIR)$(MANDIR)/man1/p0fshim.1 $(DESTDIR)$(MANDIR)/man5/blocked_operating_systems.5 $(DESTDIR)$(MANDIR)/man8/p0fshim.8 $(DESTDIR)$(MANDIR)/man8/p0fshim-milter.8

# The Debian package (debian/, docs/packaging.md): dpkg-buildpackage in a copy of the tree
# (without .git and build directories), so that the packaging's leftovers (debian/tmp,
# debian/files) never land in the tree; the .deb is left in $(B)/deb/. check-deb installs it
# into a throw-away root and tests it.
DEB_DIR := $(B)/deb

.PHONY: deb check-deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -c --exclude-vcs --exclude='./build*' --exclude='./$(B)' . | tar -x -C $(DEB_DIR)/src
	@# MAKEFLAGS would hand this make's command-line variables (B=...) to debian/rules' make.
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage --build=binary --no-sign -Jauto
	@ls $(DEB_DIR)/*.deb

check-deb: all
	bash tests/package/deb.sh

clean:
	rm -rf $(B)

-include mk/bench.mk
-include mk/hardening.mk
-include mk/headers.mk
