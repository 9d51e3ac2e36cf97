# `make bench`: one markdown table of side-by-side figures (bench/run.sh). Included from the Makefile
# after its `all` rule; uses its CC, CFLAGS and B. Needs root (network namespaces for the
# rows with the real p0f). Timing figures are printed, never asserted: `make check` has none.

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

.PHONY: bench bench-tools

# Standalone programs, like the test helpers: they share no code with the shim.
$(B)/bench/%: bench/%.c $(wildcard bench/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -pthread -lm

bench-tools: $(BENCH_BIN) $(B)/libp0fshim.so $(B)/p0fshim $(B)/tests/fake_p0f $(B)/tests/logsink $(B)/tests/syngen

bench: deps bench-tools
	bash bench/run.sh
