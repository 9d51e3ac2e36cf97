# Fingerprint headers: p0fshim-milter (libmilter, Debian's libmilter-dev) and the
# header tests. Included from the Makefile after its `all` rule; uses its CC, CFLAGS, B and
# LDLIBS_CORE. The milter links the p0f client the tool links too (src/client: the p0f query,
# the header lookup and sanitiser, the configuration), built by the Makefile.

MILTER_SRC := $(wildcard src/milter/*.c)
MILTER_OBJ := $(patsubst src/milter/%.c,$(B)/obj/milter_%.o,$(MILTER_SRC))

.PHONY: milter check-headers check-headers-tool check-headers-e2e check-headers-exim

milter: $(B)/p0fshim-milter

$(B)/obj/milter_%.o: src/milter/%.c $(wildcard src/*.h src/client/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Isrc -c -o $@ $<

$(B)/p0fshim-milter: $(MILTER_OBJ) $(B)/libp0fshim-client.a $(B)/libp0fshim-core.a
	$(CC) $(LDFLAGS) -o $@ $(MILTER_OBJ) $(B)/libp0fshim-client.a $(B)/libp0fshim-core.a -lmilter $(LDLIBS_CORE)

check-headers-tool: all $(B)/p0fshim-milter
	bash tests/tool/headers.sh

check-headers-e2e: all $(B)/p0fshim-milter
	bash tests/e2e/headers.sh

# Fetches Debian's Exim with apt-get download (cached in /var/cache/p0fshim-test/exim) and
# unpacks it with dpkg -x; fails when the packages cannot be fetched.
check-headers-exim: all
	bash tests/e2e/exim.sh

check-headers: check-headers-tool check-headers-e2e check-headers-exim
