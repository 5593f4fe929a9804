# mqttsim - one GNU Makefile for every build, test, bench and install.
#
#   make demo       run the scenario library in simulation (the main job)
#   make mutants    show that named defects of the client fail scenarios
#   make            library (static and shared) and every program
#   make test       install build dependencies, build, check the layers, run CUnit and pytest
#   make san        the same tests on an ASan+UBSan build
#   make tsan       the threaded tests on a TSan build
#   make fuzz       libFuzzer targets, FUZZ_SECONDS (default 60) each
#   make bench      benchmarks
#   make compare    the scenario library against other clients and brokers: docs/compare.md
#   make install    PREFIX=/usr/local (DESTDIR honoured); guides in PREFIX/share/doc/mqttsim
#   make deps       Debian packages the build, tests and benchmarks need
#   make clean
#
# Build output goes to $(BUILD) (default build/); sanitizer builds use
# their own folders, so they never mix with the normal one.

# `make` alone builds everything: rules for test programs come before `all`.
.DEFAULT_GOAL := all

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc
CXX      ?= g++
PYTHON   ?= /usr/bin/python3
FUZZ_SECONDS ?= 60
PYTEST_ARGS ?=

CFLAGS   ?= -O3 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wcast-qual -Wpointer-arith
override CFLAGS += -std=c11 $(WARNINGS) -fPIC -fvisibility=hidden -pthread
# gcc on x86-64 clears and copies a packet's struct (about 140 bytes) with
# `rep stos`/`rep movs`, whose start-up cost was more than the rest of
# decoding it (8% of a simulated run): plain stores up to 256 bytes, where
# the compiler knows the option (clang never asks for it).
STRINGOPS := -mmemset-strategy=unrolled_loop:256:noalign,libcall:-1:noalign \
             -mmemcpy-strategy=unrolled_loop:256:noalign,libcall:-1:noalign
override CFLAGS += $(shell $(CC) $(STRINGOPS) -c -x c -o /dev/null /dev/null 2>/dev/null && \
                     echo '$(STRINGOPS)')
# Includes name their part: "mqttsim/x.h" (public), "part/x.h" (another
# part's interface, from the root), "x.h" (the same folder).
override CPPFLAGS += -D_POSIX_C_SOURCE=200809L -Iinclude -I.
LDLIBS   ?=

VERSION  := 0.1.0
SOMAJOR  := 0

# What libmqttsim itself links against (also in mqttsim.pc's Libs.private).
LIB_DEPS := -pthread -lssl -lcrypto -lpcap -lm
LIB_SRC  := $(sort $(wildcard codec/*.c client/*.c capture/*.c fakebroker/*.c faults/*.c))
FAKEBROKER_SRC := $(wildcard fakebroker/program/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
HEADERS  := $(wildcard include/mqttsim/*.h)

# A simulated run goes through every part of the library (codec, client
# and broker cores, fault links) several times a packet, in calls across
# files: mqttsim is compiled with the library's sources as one program
# under link-time optimization (8% more runs a second than linked against
# libmqttsim.a; issue 18). MQTTSIM_LTO= links the static library instead,
# as the sanitizer builds do (faster to build, same code). "auto": gcc
# compiles the partitions in parallel, and does not warn that it does not.
# One partition, where the compiler knows the option: with several, which
# calls are inlined across files changed with unrelated edits (a new
# oracle file once cost 10% of the simulated runs a second; one
# partition gave them back, and is as fast as the best split).
LTO_ONE := $(shell $(CC) -flto-partition=one -c -x c -o /dev/null /dev/null 2>/dev/null && \
             echo -flto-partition=one)
MQTTSIM_LTO ?= -flto=auto $(LTO_ONE)

# Objects depend on the compiler and flags they were built with, so that
# `make CC=clang` after `make` really rebuilds with clang.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CXX) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(MQTTSIM_LTO)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = '$(FLAGS_NOW)' ] || echo '$(FLAGS_NOW)' > $@
FORCE:

STATIC   := $(BUILD)/lib/libmqttsim.a
SHARED   := $(BUILD)/lib/libmqttsim.so.$(VERSION)
SONAME   := libmqttsim.so.$(SOMAJOR)

# CUnit suites: one runner per part, from that part's tests/ folder,
# each with the runner every part shares (testing/).
CUNIT_MAIN      := testing/cunit_main.c
CODEC_TEST_SRC  := $(CUNIT_MAIN) $(sort $(wildcard codec/tests/*.c))
CODEC_TESTS     := $(BUILD)/tests/codec_tests
CLIENT_TEST_SRC := $(CUNIT_MAIN) $(filter-out client/tests/probe.c,$(sort $(wildcard client/tests/*.c)))
CLIENT_TESTS    := $(BUILD)/tests/client_tests
# The replay core is not in the library (only mqttsim runs it).
REPLAY_SRC      := $(sort $(wildcard capture/replay/*.c))
CAPTURE_TEST_SRC := $(CUNIT_MAIN) $(sort $(wildcard capture/tests/*.c)) capture/replay/replay.c
CAPTURE_TESTS   := $(BUILD)/tests/capture_tests
BROKER_TEST_SRC := $(CUNIT_MAIN) $(sort $(wildcard fakebroker/tests/*.c))
BROKER_TESTS    := $(BUILD)/tests/broker_tests
FAULTS_TEST_SRC := $(CUNIT_MAIN) $(sort $(wildcard faults/tests/*.c))
FAULTS_TESTS    := $(BUILD)/tests/faults_tests
# The scenario runner's parts (the simulated disk, ...) with their suites.
SCENARIO_TEST_SRC := $(CUNIT_MAIN) $(sort $(wildcard scenarios/tests/*.c) \
                     $(foreach r,lang sim oracle shrink explore report,$(wildcard scenarios/$(r)/*.c))) \
                     $(BUILD)/gen/statements.c
SCENARIO_TESTS  := $(BUILD)/tests/scenario_tests
# The worked example: a thermostat component tested with mqtttest's stubs.
EXAMPLE_SRC     := $(sort $(wildcard examples/thermostat/*.c))
EXAMPLE_TESTS   := $(BUILD)/examples/test_thermostat
# The same for C++ users: a C++ component tested with GoogleTest and
# mqtttest (the public headers are C++ too).
GTEST_EXAMPLE_SRC := $(sort $(wildcard examples/doorbell/*.cpp))
GTEST_EXAMPLE     := $(BUILD)/examples/test_doorbell
TEST_BINS       := $(CODEC_TESTS) $(CLIENT_TESTS) $(CAPTURE_TESTS) $(BROKER_TESTS) $(FAULTS_TESTS) \
                   $(SCENARIO_TESTS) $(EXAMPLE_TESTS) $(GTEST_EXAMPLE)
TEST_HEADERS    := testing/suites.h $(wildcard */tests/*.h)
# Test programs link the static library: they may use internals.
$(BUILD)/tests/%_tests: $(STATIC) $(TEST_HEADERS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(STATIC) $(LDFLAGS) -lcunit -ljansson $(LIB_DEPS) $(LDLIBS)
$(CODEC_TESTS): $(CODEC_TEST_SRC)
$(CLIENT_TESTS): $(CLIENT_TEST_SRC)
$(CAPTURE_TESTS): $(CAPTURE_TEST_SRC) $(wildcard capture/replay/*.h)
$(BROKER_TESTS): $(BROKER_TEST_SRC)
$(FAULTS_TESTS): $(FAULTS_TEST_SRC)
$(SCENARIO_TESTS): $(SCENARIO_TEST_SRC) $(wildcard scenarios/*/*.h)
$(EXAMPLE_TESTS): $(EXAMPLE_SRC) $(wildcard examples/thermostat/*.h) $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(EXAMPLE_SRC) $(STATIC) $(LDFLAGS) -lcunit $(LIB_DEPS) $(LDLIBS)
# C++ takes the C build's flags (optimisation, sanitizers) but its own
# standard and the warnings that C++ knows.
CXX_FLAGS = -std=c++17 $(filter-out -std=c11 -Wstrict-prototypes -Wmissing-prototypes -Wvla,$(CFLAGS))
$(GTEST_EXAMPLE): $(GTEST_EXAMPLE_SRC) $(wildcard examples/doorbell/*.hpp) $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXX_FLAGS) -o $@ $(GTEST_EXAMPLE_SRC) $(STATIC) $(LDFLAGS) -lgtest -lgtest_main \
	  $(LIB_DEPS) $(LDLIBS)

# A scriptable client for the pytest interop suites.
PROBE           := $(BUILD)/tests/probe

BENCH_BINS := $(BUILD)/bench/make_capture $(BUILD)/bench/bench_codec $(BUILD)/bench/bench_codec_mosq $(BUILD)/bench/peer_mosq $(BUILD)/bench/peer_paho
PROGRAMS   := $(BUILD)/bin/mqttbench $(BUILD)/bin/fakebroker $(BUILD)/bin/faultproxy $(BUILD)/bin/mqttsim \
              $(BUILD)/bin/mqttc
DRIVERS    := $(BUILD)/drivers/mqttsim_client $(BUILD)/drivers/mosquitto_client $(BUILD)/drivers/paho_c_client
MAN_PAGES  := $(wildcard docs/man/*.3 docs/man/*.1)
# The guides (docs/*.md), installed beside README.md.
GUIDES     := $(wildcard docs/*.md)
DOCDIR     := $(PREFIX)/share/doc/mqttsim

.PHONY: FORCE all lib tests deps test check-layers check-unit check-py san tsan fuzz bench install uninstall clean demo mutants compare

all: lib tests $(BENCH_BINS) $(PROGRAMS) $(DRIVERS)

lib: $(STATIC) $(SHARED)

tests: $(TEST_BINS) $(PROBE) $(BUILD)/bin/fakebroker $(BUILD)/bin/faultproxy $(BUILD)/bin/mqttsim $(BUILD)/bin/mqttc \
       $(DRIVERS)


$(BUILD)/obj/%.o: %.c $(HEADERS) $(wildcard codec/*.h client/*.h capture/*.h fakebroker/*.h faults/*.h) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LIB_DEPS) $(LDLIBS)
	ln -sf libmqttsim.so.$(VERSION) $(BUILD)/lib/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/lib/libmqttsim.so

# Bench programs link the static library too.
$(PROBE): client/tests/probe.c $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LIB_DEPS) $(LDLIBS)

$(BUILD)/bench/make_capture: bench/make_capture.c $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LIB_DEPS) $(LDLIBS)
# Allocation counting: the malloc family wrapped at this program's link
# only (bench/alloc_count.h), so no object of the library sees it.
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
$(BUILD)/bench/bench_codec: bench/bench_codec.c bench/alloc_count.c bench/alloc_count.h $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ bench/bench_codec.c bench/alloc_count.c $(STATIC) $(LDFLAGS) \
	  $(ALLOC_WRAP) $(LIB_DEPS) $(LDLIBS)

$(BUILD)/bin/fakebroker: $(FAKEBROKER_SRC) $(wildcard fakebroker/program/*.h) $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(FAKEBROKER_SRC) $(STATIC) $(LDFLAGS) -ljansson $(LIB_DEPS) $(LDLIBS)

$(BUILD)/bin/faultproxy: faults/program/faultproxy.c $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LIB_DEPS) $(LDLIBS)

# mqttc: the seed's command-line client.
MQTTC_SRC := $(sort $(wildcard client/program/*.c))
$(BUILD)/bin/mqttc: $(MQTTC_SRC) $(wildcard client/program/*.h) $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(MQTTC_SRC) $(STATIC) $(LDFLAGS) $(LIB_DEPS) $(LDLIBS)

# The statements of MQTT 3.1.1 (scenarios/conformance/mqtt-3.1.1.tsv) and
# the places of the library tagged with MQTT_CONFORMS, as C strings for
# mqttsim coverage (scenarios/report/coverage.c).
STATEMENTS_TSV := scenarios/conformance/mqtt-3.1.1.tsv
CONFORMS_SRC   := $(sort $(wildcard codec/*.c client/*.c fakebroker/*.c))
STATEMENTS_C   := $(BUILD)/gen/statements.c
$(STATEMENTS_C): $(STATEMENTS_TSV) $(CONFORMS_SRC) scripts/statements.sh
	@mkdir -p $(dir $@)
	sh scripts/statements.sh $(STATEMENTS_TSV) $(CONFORMS_SRC) > $@.tmp && mv $@.tmp $@

# mqttsim: the scenario runner's rooms (language, simulator, oracle, real
# time, shrinker, the command) and the capture commands.
SCENARIO_ROOMS := lang sim oracle real shrink explore report program
MQTTSIM_SRC := $(sort $(foreach r,$(SCENARIO_ROOMS),$(wildcard scenarios/$(r)/*.c)) \
                 $(REPLAY_SRC) $(wildcard capture/program/*.c)) $(STATEMENTS_C)
MQTTSIM_HDR := $(foreach r,$(SCENARIO_ROOMS),$(wildcard scenarios/$(r)/*.h)) \
               $(wildcard capture/replay/*.h capture/program/*.h)
MQTTSIM_LIB := $(if $(strip $(MQTTSIM_LTO)),$(LIB_SRC),$(STATIC))
$(BUILD)/bin/mqttsim: $(MQTTSIM_SRC) $(MQTTSIM_HDR) $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(MQTTSIM_LTO) -o $@ $(MQTTSIM_SRC) $(MQTTSIM_LIB) $(LDFLAGS) \
	  $(MQTTSIM_LTO) -ljansson $(LIB_DEPS) $(LDLIBS)

# Drivers of client libraries under test (docs/drivers.md): ours, and
# the Debian packages' libmosquitto and Paho C.
$(BUILD)/drivers/mqttsim_client: drivers/mqttsim_client.c drivers/jsonl.c drivers/jsonl.h $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< drivers/jsonl.c $(STATIC) $(LDFLAGS) -ljansson $(LIB_DEPS) $(LDLIBS)
$(BUILD)/drivers/mosquitto_client: drivers/mosquitto_client.c drivers/jsonl.c drivers/jsonl.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< drivers/jsonl.c $(LDFLAGS) -lmosquitto -ljansson -pthread $(LDLIBS)
$(BUILD)/drivers/paho_c_client: drivers/paho_c_client.c drivers/jsonl.c drivers/jsonl.h $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< drivers/jsonl.c $(LDFLAGS) -lpaho-mqtt3as -ljansson -pthread $(LDLIBS)

$(BUILD)/bin/mqttbench: bench/mqttbench.c $(STATIC) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(LIB_DEPS) $(LDLIBS)

# The peers: libmosquitto (a Debian package, installed by make deps).
$(BUILD)/bench/bench_codec_mosq: bench/bench_codec_mosq.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lmosquitto $(LDLIBS)

$(BUILD)/bench/peer_paho: bench/peer_paho.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lpaho-mqtt3a -pthread $(LDLIBS)

$(BUILD)/bench/peer_mosq: bench/peer_mosq.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lmosquitto -pthread $(LDLIBS)

deps:
	@sh scripts/deps.sh

# Named defects (client, fake broker, persistence): does the scenario
# library catch each, and after how many explore seeds does exploration?
# Prints the table (slow: one build per defect; outside make test).
MUTANT_SEEDS ?= 1..20
MUTANT_EXPLORE_SEEDS ?= 1..100000
mutants: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqttsim
	BUILD=$(BUILD) sh scripts/mutants.sh $(MUTANT_SEEDS) $(MUTANT_EXPLORE_SEEDS)

# The main job: the whole scenario library in simulation, with a table of
# verdicts and the guarantees each scenario proved. DEMO_SEEDS to change.
DEMO_SEEDS ?= 1..100
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/bin/mqttsim
	$(BUILD)/bin/mqttsim run --quiet --table --jobs $$(nproc) --seeds $(DEMO_SEEDS) scenarios/*.scn

# The README's test command. Runs every suite even when one fails, then
# reports: a red suite must not hide the others.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) -k --no-print-directory check-layers check-unit check-py

# The arrows between the parts point one way (docs/architecture.md).
check-layers:
	$(PYTHON) scripts/check_layers.py

check-unit: $(TEST_BINS)
	@status=0; for t in $(TEST_BINS); do echo "== $$t"; $$t || status=1; done; exit $$status

check-py:
	MQTTSIM_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q pytests/ $(PYTEST_ARGS)

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
san: deps
	@$(MAKE) --no-print-directory BUILD=build/san CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" MQTTSIM_LTO= tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:suppressions=$(abspath scripts/asan.supp) UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) --no-print-directory BUILD=build/san CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" MQTTSIM_LTO= \
	  check-unit check-py PYTEST_ARGS='-m "not slow and not unsanitized"'

# The threaded code: the client's driver and the broker's serving thread,
# exercised by the CUnit suites (client, and broker "server").
TSAN_FLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS := $(TEST_BINS:$(BUILD)/%=build/tsan/%)
tsan: deps
	@$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CXX=clang++ CFLAGS="$(TSAN_FLAGS)" LDFLAGS="$(TSAN_FLAGS)" \
	  MQTTSIM_LTO= tests
	@status=0; for t in $(TSAN_TESTS); do echo "== $$t"; TSAN_OPTIONS=halt_on_error=1 $$t || status=1; done; exit $$status

FUZZ_TARGETS := fuzz_decode fuzz_framer fuzz_session fuzz_broker fuzz_faults fuzz_scenario fuzz_capture \
                fuzz_replay
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -Iinclude -I.
FUZZ_EXTRA_SRC := codec/tests/codec_testutil.c scenarios/lang/lang.c scenarios/lang/script.c capture/replay/replay.c
fuzz: deps
	@mkdir -p build/fuzz
	clang $(FUZZ_CPPFLAGS) -std=c11 $(WARNINGS) -O1 -g -o build/fuzz/make_seeds fuzz/make_seeds.c $(LIB_SRC) $(LIB_DEPS)
	rm -rf build/fuzz/seeds && build/fuzz/make_seeds build/fuzz/seeds
	@for t in $(FUZZ_TARGETS); do \
	  clang $(FUZZ_CPPFLAGS) -std=c11 $(WARNINGS) $(FUZZ_FLAGS) -o build/fuzz/$$t fuzz/$$t.c $(FUZZ_EXTRA_SRC) $(LIB_SRC) $(LIB_DEPS) || exit 1; \
	done
	@for t in $(FUZZ_TARGETS); do \
	  if [ -d fuzz/regressions/$$t ]; then \
	    echo "== $$t: inputs that once failed"; \
	    build/fuzz/$$t fuzz/regressions/$$t/* || exit 1; \
	  fi; \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "== $$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/$$t- build/fuzz/corpus/$$t build/fuzz/seeds \
	    $$([ -d fuzz/seeds/$$t ] && echo fuzz/seeds/$$t) || exit 1; \
	done

# Ours and the peer's in one go, same machine, same run.
BENCH_N ?= 5000000
BENCH_REPS ?= 1
# The simulator before its speed-up (issue 18), built from git history by
# bench/baseline.sh and measured beside the current one.
BENCH_BASELINE_REV ?= a9e739dbb19b9575e5c9e7f9d3bca80f2097b791
bench: $(BENCH_BINS) $(PROGRAMS)
	$(BUILD)/bench/bench_codec $(BENCH_N)
	$(BUILD)/bench/bench_codec_mosq $(BENCH_N)
	sh bench/run_clients.sh $(BUILD) $(BENCH_REPS) | tee $(BUILD)/bench/clients.txt
	$(PYTHON) bench/summarize.py $(BUILD)/bench/clients.txt
	sh bench/run_brokers.sh $(BUILD) $(BENCH_REPS) | tee $(BUILD)/bench/brokers.txt
	$(PYTHON) bench/summarize.py $(BUILD)/bench/brokers.txt
	sh bench/run_proxy.sh $(BUILD) $(BENCH_REPS) | tee $(BUILD)/bench/proxy.txt
	$(PYTHON) bench/summarize.py $(BUILD)/bench/proxy.txt
	@old=$$(sh bench/baseline.sh $(BUILD) $(BENCH_BASELINE_REV)) || \
	  echo "run_sim: no baseline simulator (not a git checkout with $(BENCH_BASELINE_REV)): new rate only"; \
	  BENCH_SIM_BASELINE="$$old" sh bench/run_sim.sh $(BUILD) $(BENCH_REPS)
	sh bench/run_decode.sh $(BUILD) $(BENCH_REPS)
	sh bench/run_targets.sh $(BUILD) $(BENCH_REPS)

# The scenario library against every shipped client driver and a private
# mosquitto: docs/compare.md (COMPARE_SEEDS, default 1).
COMPARE_SEEDS ?= 1
compare: $(BUILD)/bin/mqttsim $(DRIVERS)
	$(PYTHON) scripts/compare.py $(BUILD) --seeds $(COMPARE_SEEDS)

# The pytest plugin (python/mqttsim), where Debian's /usr/bin/python3 looks
# for PREFIX=/usr/local (dist-packages); other prefixes: PYTHONPATH.
PYTHON_PKG  := $(wildcard python/mqttsim/*.py)
PYTHON_VER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHON_SITE ?= $(PREFIX)/lib/python$(PYTHON_VER)/dist-packages

install: lib $(PROGRAMS) $(DRIVERS)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/mqttsim \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libmqttsim.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libmqttsim.so
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/mqttsim/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' mqttsim.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqttsim.pc
	# The pages name where the guides are: this prefix's doc folder.
	for m in $(MAN_PAGES); do \
	  sed 's|/usr/local/share/doc/mqttsim|$(DOCDIR)|g' $$m > $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$${m##*/} \
	    && chmod 644 $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$${m##*/} || exit 1; done
	$(if $(PROGRAMS),install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/)
	install -d $(DESTDIR)$(PYTHON_SITE)/mqttsim
	install -m 644 $(PYTHON_PKG) $(DESTDIR)$(PYTHON_SITE)/mqttsim/
	install -d $(DESTDIR)$(DOCDIR)
	install -m 644 README.md $(GUIDES) $(DESTDIR)$(DOCDIR)/
	# Targets (docs/targets.md, docs/drivers.md): the drivers and a private mosquitto.
	install -d $(DESTDIR)$(PREFIX)/lib/mqttsim/drivers
	install -m 755 $(DRIVERS) drivers/paho_python.py $(DESTDIR)$(PREFIX)/lib/mqttsim/drivers/
	install -m 755 scripts/mosquitto-target $(DESTDIR)$(PREFIX)/lib/mqttsim/

uninstall:
	rm -rf $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(PREFIX)/lib/libmqttsim.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/mqttsim.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/mqttsim
	for m in $(MAN_PAGES); do rm -f $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$${m##*/}; done
	for p in $(notdir $(PROGRAMS)); do rm -f $(DESTDIR)$(PREFIX)/bin/$$p; done
	rm -rf $(DESTDIR)$(PYTHON_SITE)/mqttsim
	rm -rf $(DESTDIR)$(PREFIX)/lib/mqttsim

clean:
	rm -rf build
