# Hardening: fault injection, sanitizers, valgrind, fuzzing. Included from the Makefile
# after its `all` rule; uses its CC, B, CORE_SRC and the test scripts' P0FSHIM_BUILD override
# (tests/lib.sh). Every target installs what it needs (scripts/install-deps.sh EXTRA...).
#
#   make check-faults     tests/integration/faults.sh against build/ (part of `make check`)
#   make check-asan       library, core, tool, test helpers and unit tests built with ASan+UBSan in build-asan/;
#                         unit tests, run.sh and faults.sh against them; any sanitizer report fails
#   make check-valgrind   the integration servers under valgrind memcheck (build-valgrind/ holds
#                         wrappers): no error, no definite leak
#   make fuzz             each libFuzzer target for FUZZ_SECONDS (default 60) from its seed corpus
#   make fuzz-smoke       the same, 10 s each (what CI runs)

HARDENING_DEPS := strace valgrind clang libclang-rt-14-dev

.PHONY: check-faults check-asan check-valgrind fuzz fuzz-smoke fuzz-build deps-hardening

deps-hardening:
	bash scripts/install-deps.sh $(HARDENING_DEPS)

check-faults: all
	bash tests/integration/faults.sh

# ---- ASan + UBSan -----------------------------------------------------------------------------
# A recursive make with B=build-asan and the sanitizers in CC (so that compiling and linking both
# get them; the Makefile's CFLAGS += stays in force). The test helpers are instrumented too, so the
# ASan runtime is a dependency of every host that loads the library: verify_asan_link_order=0 lets
# LD_PRELOAD name the library alone, as run.sh does. Reports go to files (the scripts send the
# hosts' stderr to scratch files they delete); a report or a "runtime error" fails the target.
ASAN_B      := build-asan
ASAN_CC     := $(CC) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_REPORTS = $(CURDIR)/$(ASAN_B)/reports
ASAN_ENV     = ASAN_OPTIONS=verify_asan_link_order=0:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:log_path=$(ASAN_REPORTS)/asan:suppressions=$(CURDIR)/$(ASAN_B)/asan.supp \
               LSAN_OPTIONS=suppressions=$(CURDIR)/$(ASAN_B)/lsan.supp:print_suppressions=0 \
               UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(ASAN_REPORTS)/ubsan
# No report file may exist, and none may say "runtime error" or name a sanitizer.
ASAN_VERDICT = @if ls $(ASAN_REPORTS)/* >/dev/null 2>&1; then \
	    echo "sanitizer reports in $(ASAN_REPORTS):"; head -n 40 $(ASAN_REPORTS)/*; exit 1; fi

check-asan: deps-hardening
	$(MAKE) --no-print-directory B=$(ASAN_B) CC="$(ASAN_CC)" all $(ASAN_B)/tests/unit
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	@# libcriterion's own; liblmdb: a greylist test leaves an environment whose descriptors were taken away unclosed on purpose
	@printf '%s\n' 'leak:libcriterion.so' 'leak:liblmdb.so' >$(ASAN_B)/lsan.supp
	@: >$(ASAN_B)/asan.supp
	$(ASAN_ENV) $(ASAN_B)/tests/unit --jobs 2
	$(ASAN_VERDICT)
	$(ASAN_ENV) P0FSHIM_BUILD=$(CURDIR)/$(ASAN_B) bash tests/integration/run.sh
	$(ASAN_VERDICT)
	$(ASAN_ENV) P0FSHIM_BUILD=$(CURDIR)/$(ASAN_B) bash tests/integration/faults.sh
	$(ASAN_VERDICT)
	@echo "check-asan: no sanitizer report"

# ---- valgrind -----------------------------------------------------------------------------------
# build-valgrind/ mirrors build/ (links), except that the servers the scripts start under the shim
# (testsrv, faultsrv, accept_semantics) are static wrappers (tests/helpers/vgwrap.c) running the real
# ones under memcheck, with the shim preloaded into the real server alone. Every
# error and every definite leak is an error (exit 99, which the scripts see as an unclean exit),
# and each process writes its log to build-valgrind/reports/; a log with an error fails the target.
VG_B       := build-valgrind
VG_REPORTS  = $(CURDIR)/$(VG_B)/reports
VALGRIND    = valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
              --errors-for-leak-kinds=definite --child-silent-after-fork=yes --vgdb=no --num-callers=30 \
              --suppressions=$(CURDIR)/$(VG_B)/glibc.supp --log-file=$(VG_REPORTS)/vg.%p.log
VG_HOSTS   := testsrv faultsrv accept_semantics
# Scenarios of faults.sh that mean something under valgrind (not emfile: valgrind keeps descriptors
# of its own and fakes RLIMIT_NOFILE; not burst-10k: its rates and RSS; not strace; not trust: the
# config error line comes twice, see below).
VG_FAULTS  := fd-reuse signals threads peercred host-close select2 cancel

$(VG_B)/ready: all tests/helpers/vgwrap.c
	@rm -rf $(VG_B) && mkdir -p $(VG_B)/tests $(VG_B)/reports
	ln -s $(CURDIR)/$(B)/libp0fshim.so $(VG_B)/libp0fshim.so
	for t in $(CURDIR)/$(B)/tests/*; do ln -s $$t $(VG_B)/tests/; done
	$(CC) -O2 -static -o $(VG_B)/vgwrap tests/helpers/vgwrap.c
	for h in $(VG_HOSTS); do rm -f $(VG_B)/tests/$$h && cp $(VG_B)/vgwrap $(VG_B)/tests/$$h; done
	printf '#!/bin/sh\n# $$1: the real server; the shim goes to it alone (see tests/helpers/vgwrap.c)\nexec %s --trace-children=yes env LD_PRELOAD="$$P0FSHIM_VG_PRELOAD" "$$@"\n' '$(VALGRIND)' >$(VG_B)/run-valgrind
	printf '%s\n' '{' '   glibc-dl-init-tls' '   Memcheck:Leak' '   match-leak-kinds: possible' '   ...' '   fun:_dl_allocate_tls' '}' >$(VG_B)/glibc.supp
	touch $@

# The scripts' own checks are printed but do not decide: under valgrind a few cannot hold (the
# dynamic valgrind launcher is started with the shim preloaded, so a refused config is logged twice;
# valgrind's descriptors show in a forked child's fd census). What decides is memcheck's logs.
check-valgrind: deps-hardening $(VG_B)/ready
	@rm -f $(VG_REPORTS)/*
	@# The scripts only drive the servers here: two of their checks cannot hold under valgrind
	@# (its launcher loads the shim too; its own fds), so their output goes to a file and the
	@# verdict is memcheck's, below.
	-P0FSHIM_BUILD=$(CURDIR)/$(VG_B) P0FSHIM_VG_REAL_DIR=$(CURDIR)/$(B)/tests P0FSHIM_VG_RUN=$(CURDIR)/$(VG_B)/run-valgrind \
	    bash tests/integration/run.sh >$(VG_B)/run.out 2>&1
	-P0FSHIM_FAULTS_ONLY="$(VG_FAULTS)" P0FSHIM_SRV_WRAPPER="$(VALGRIND) --trace-children=yes" \
	    bash tests/integration/faults.sh >$(VG_B)/faults.out 2>&1
	@n=$$(ls $(VG_REPORTS) | wc -l); [ "$$n" -gt 0 ] || { echo "check-valgrind: no valgrind log at all"; exit 1; }; \
	    bad=$$(grep -l -E 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write|free)|uninitialised' $(VG_REPORTS)/* 2>/dev/null); \
	    if [ -n "$$bad" ]; then echo "valgrind errors:"; for f in $$bad; do echo "== $$f"; head -n 60 $$f; done; exit 1; fi; \
	    echo "check-valgrind: $$n valgrind logs, no error, no definite leak"

# ---- libFuzzer ------------------------------------------------------------------------------------
# Each tests/fuzz/fuzz_NAME.c is a target, linked with the core built by clang with the fuzzer's
# coverage and ASan+UBSan; its seed corpus is tests/fuzz/corpus/NAME/ (read only: new inputs go to
# build-fuzz/corpus/NAME/). A crash leaves its input in build-fuzz/crashes/NAME/ and fails the target.
FUZZ_B       := build-fuzz
FUZZ_CC      := clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -D_GNU_SOURCE -pthread -Wall -Wextra -Wno-unused-parameter $(FUZZ_SAN)
FUZZ_SECONDS ?= 60
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
# The report, pcap and postfix_delegation targets need parsers outside the core: the tool's
# src/tool/report_*.c, output.c and pcap.c are linked; src/client/postfix_delegation.c is
# included by its target. The report and postfix_delegation targets are left out when their
# parser is absent.
FUZZ_SRC     := $(if $(wildcard src/tool/report_parse.c),$(FUZZ_SRC),$(filter-out tests/fuzz/fuzz_report.c tests/fuzz/fuzz_report_html.c,$(FUZZ_SRC)))
FUZZ_SRC     := $(if $(wildcard src/client/postfix_delegation.c),$(FUZZ_SRC),$(filter-out tests/fuzz/fuzz_postfix_delegation.c,$(FUZZ_SRC)))
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BINS    := $(patsubst %,$(FUZZ_B)/fuzz_%,$(FUZZ_TARGETS))
FUZZ_CORE_OBJ := $(patsubst src/%.c,$(FUZZ_B)/obj/%.o,$(CORE_SRC))
FUZZ_TOOL_OBJ := $(if $(wildcard src/tool/report_parse.c),$(patsubst src/tool/%.c,$(FUZZ_B)/obj/tool_%.o,\
                     $(wildcard src/tool/report_*.c) src/tool/output.c src/tool/pcap.c))

$(FUZZ_B)/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_B)/obj/tool_%.o: src/tool/%.c $(wildcard src/*.h src/tool/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Isrc -c -o $@ $<

$(FUZZ_B)/libcore.a: $(FUZZ_CORE_OBJ) $(FUZZ_TOOL_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_B)/libcore.a $(wildcard src/*.h src/tool/*.h)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Isrc -Isrc/tool -o $@ $< $(FUZZ_B)/libcore.a $(LDLIBS_CORE)

$(FUZZ_B)/fuzz_postfix_delegation: src/client/postfix_delegation.c src/client/postfix_delegation.h

fuzz-build: deps-hardening $(FUZZ_BINS)

# fuzz-run-NAME: one target for FUZZ_T seconds (the corpus it finds is kept in build-fuzz/corpus/).
FUZZ_T ?= $(FUZZ_SECONDS)
fuzz-run-%: $(FUZZ_B)/fuzz_%
	@mkdir -p $(FUZZ_B)/corpus/$* $(FUZZ_B)/crashes/$*
	@echo "fuzz $*: $(FUZZ_T) s"
	@cd $(FUZZ_B) && ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    ./fuzz_$* -max_total_time=$(FUZZ_T) -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix=crashes/$*/ $(if $(wildcard tests/fuzz/$*.dict),-dict=$(CURDIR)/tests/fuzz/$*.dict) \
	    corpus/$* $(CURDIR)/tests/fuzz/corpus/$* >fuzz-$*.log 2>&1 \
	    || { tail -n 60 fuzz-$*.log; echo "fuzz $*: FAILED, the input is in $(FUZZ_B)/crashes/$*/"; exit 1; }
	@sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/  executions: \1/p; s/^stat::peak_rss_mb: *\([0-9]*\)/  peak RSS: \1 MB/p' $(FUZZ_B)/fuzz-$*.log
	@grep -E '^#[0-9]+ +DONE' $(FUZZ_B)/fuzz-$*.log | sed 's/^/  /' | tail -n 1

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-run-$$t FUZZ_T=$(FUZZ_SECONDS) || exit 1; done

fuzz-smoke: fuzz-build
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-run-$$t FUZZ_T=10 || exit 1; done
