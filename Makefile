# p0fshim: see README.md.  `make` builds the library; `make check` runs every test;
# `make demo` runs the main job in a throw-away network lab.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
LIBDIR   ?= $(PREFIX)/lib
SYSCONFDIR ?= /etc

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -pthread
LDLIBS_CORE := -lpcre2-8 -ldl -pthread

B := build
CORE_SRC := $(wildcard src/*.c)
CORE_OBJ := $(patsubst src/%.c,$(B)/obj/%.o,$(CORE_SRC))
SHIM_SRC := $(wildcard shim/*.c)
SHIM_OBJ := $(patsubst shim/%.c,$(B)/obj/shim_%.o,$(SHIM_SRC))
TOOL_MAIN_SRC := $(wildcard src/tool/*.c)
TOOL_MAIN_OBJ := $(patsubst src/tool/%.c,$(B)/obj/tool_%.o,$(TOOL_MAIN_SRC))
UNIT_SRC := $(wildcard tests/unit/*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOLS    := $(patsubst tests/tools/%.c,$(B)/tests/%,$(TOOL_SRC))

.PHONY: all check check-unit check-integration check-e2e deps demo install uninstall clean

all: $(B)/libp0fshim.so $(if $(TOOL_MAIN_SRC),$(B)/p0fshim) $(TOOLS)

$(B)/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/obj/shim_%.o: shim/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

$(B)/obj/tool_%.o: src/tool/%.c $(wildcard src/*.h src/tool/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

# The operator's tool: the same core (codec, policy, config) as the library.
$(B)/p0fshim: $(TOOL_MAIN_OBJ) $(B)/libp0fshim-core.a
	$(CC) -o $@ $(TOOL_MAIN_OBJ) $(B)/libp0fshim-core.a $(LDLIBS_CORE)

$(B)/libp0fshim-core.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/libp0fshim.so: $(SHIM_OBJ) $(B)/libp0fshim-core.a shim/p0fshim.map
	$(CC) -shared -o $@ $(SHIM_OBJ) $(B)/libp0fshim-core.a \
	    -Wl,--version-script=shim/p0fshim.map -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined $(LDLIBS_CORE)

# Test programs are standalone on purpose: the fake p0f must not share the codec it tests.
$(B)/tests/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -pthread

$(B)/tests/unit: $(UNIT_SRC) $(B)/libp0fshim-core.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -fvisibility=default -o $@ $(UNIT_SRC) $(B)/libp0fshim-core.a -lcriterion $(LDLIBS_CORE)

deps:
	bash scripts/install-deps.sh

check: deps all $(B)/tests/unit
	$(MAKE) --no-print-directory check-unit check-integration check-e2e

check-unit: $(B)/tests/unit
	$(B)/tests/unit --jobs 2

check-integration: all
	bash tests/integration/run.sh
	bash tests/integration/mta.sh

check-e2e: all
	bash tests/e2e/run.sh
	bash tests/e2e/postfix.sh

demo: deps all
	bash scripts/demo.sh

install: $(B)/libp0fshim.so
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SYSCONFDIR)/p0fshim
	install -m 0644 $(B)/libp0fshim.so $(DESTDIR)$(LIBDIR)/libp0fshim.so
	test -e $(DESTDIR)$(SYSCONFDIR)/p0fshim/p0fshim.conf || \
	    install -m 0644 policy/p0fshim.conf $(DESTDIR)$(SYSCONFDIR)/p0fshim/p0fshim.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/p0fshim/blocked_operating_systems || \
	    install -m 0644 policy/blocked_operating_systems $(DESTDIR)$(SYSCONFDIR)/p0fshim/blocked_operating_systems

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libp0fshim.so

clean:
	rm -rf $(B)
