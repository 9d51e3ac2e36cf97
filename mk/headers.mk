# Fingerprint headers: p0fshim-milter (libmilter, Debian's libmilter-dev) and the
# header tests. Included from the Makefile after its `all` rule; uses its CC, CFLAGS, B and
# LDLIBS_CORE. The milter shares src/tool's p0f client, header lookup and sanitiser (not
# main.c: the milter has its own main).

MILTER_SRC := $(wildcard src/milter/*.c)
MILTER_OBJ := $(patsubst src/milter/%.c,$(B)/obj/milter_%.o,$(MILTER_SRC))
MILTER_TOOL_OBJ := $(B)/obj/tool_fphdr.o $(B)/obj/tool_p0fq.o $(B)/obj/tool_policy_proto.o

.PHONY: milter check-headers check-headers-tool check-headers-e2e check-headers-exim

milter: $(B)/p0fshim-milter

$(B)/obj/milter_%.o: src/milter/%.c $(wildcard src/*.h src/tool/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

$(B)/p0fshim-milter: $(MILTER_OBJ) $(MILTER_TOOL_OBJ) $(B)/libp0fshim-core.a
	$(CC) -o $@ $(MILTER_OBJ) $(MILTER_TOOL_OBJ) $(B)/libp0fshim-core.a -lmilter $(LDLIBS_CORE)

check-headers-tool: all $(B)/p0fshim-milter
	bash tests/tool/headers.sh

check-headers-e2e: all $(B)/p0fshim-milter
	bash tests/e2e/headers.sh

# Fetches Debian's Exim with apt-get download (cached in /var/cache/p0fshim-test/exim) and
# unpacks it with dpkg -x; fails when the packages cannot be fetched.
check-headers-exim: all
	bash tests/e2e/exim.sh

check-headers: check-headers-tool check-headers-e2e check-headers-exim
