# graft's entry points. Each target installs missing Debian packages first (quick when all are present).
#   make demo    build and run the main example
#   make test    build and run the whole test suite: Release, Doxygen (no warnings), ASan+UBSan, the installed-package consumer, MPI
#   make fuzz    build the libFuzzer targets (clang, ASan+UBSan) and run each for FUZZ_RUNS executions (not in make test)
#   make bench   build and run the benchmarks (JSON lines)
#   make bench-zero  ZeRO's overlap_comm over MPI ranks: how much of the gradient reduction it hides (JSON lines)
#   make bench-zero-model  the ZeRO step-time model calibrated here against real steps: W = 2, 3, 4, both MPI transports
JOBS        ?= 2
BUILD       ?= build
ASAN_BUILD  ?= build-asan
FUZZ_BUILD  ?= build-fuzz
FUZZ_RUNS   ?= 100000
CMAKE_FLAGS ?=
# The sanitizer build is the slowest step of make test: -O1 and line tables only (-g1, enough for the
# sanitizers' stack traces) compile a third faster than RelWithDebInfo's -O2 -g.
ASAN_OPT_FLAGS ?= -O1 -g1 -DNDEBUG

.PHONY: all deps configure build demo test test-release test-asan test-consumer test-docs docs fuzz bench bench-zero bench-zero-model clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# The demo builds only what it runs: the library and two examples.
demo: configure
	cmake --build $(BUILD) -j$(JOBS) --target quickstart mlp_fashion_mnist
	scripts/run-demo.sh $(BUILD)

test: test-release test-docs test-asan test-consumer

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRAFT_SANITIZE=ON \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(ASAN_OPT_FLAGS)" \
	  -DGRAFT_BUILD_EXAMPLES=OFF -DGRAFT_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS) -LE no-sanitizer

# libFuzzer needs clang, installed here only. The library carries the fuzzer's coverage instrumentation;
# only the four fuzz programs are built (no tests, examples or benchmarks).
fuzz: deps
	@scripts/install-deps.sh clang
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(ASAN_OPT_FLAGS)" \
	  -DGRAFT_SANITIZE=ON -DGRAFT_FUZZ=ON -DGRAFT_FUZZ_RUNS=$(FUZZ_RUNS) -DGRAFT_BUILD_TESTS=OFF \
	  -DGRAFT_BUILD_EXAMPLES=OFF -DGRAFT_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_targets
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

test-consumer: build
	scripts/test-consumer.sh $(BUILD)

# The API reference (Doxygen) of the public headers, in $(BUILD)/docs/html; test-docs fails on any warning.
docs: deps
	mkdir -p $(BUILD)/docs
	GRAFT_DOCS_OUT=$(BUILD)/docs GRAFT_DOCS_WARN_AS_ERROR=NO doxygen docs/Doxyfile
	@echo "API reference: $(BUILD)/docs/html/index.html"

test-docs: deps
	mkdir -p $(BUILD)/docs
	GRAFT_DOCS_OUT=$(BUILD)/docs GRAFT_DOCS_WARN_AS_ERROR=FAIL_ON_WARNINGS doxygen docs/Doxyfile

bench: build
	$(BUILD)/bench/graft_bench

# As root mpirun needs --allow-run-as-root; --oversubscribe runs more ranks than cores.
bench-zero: build
	for np in 2 4; do mpirun --allow-run-as-root --oversubscribe -np $$np $(BUILD)/bench/zero_overlap || exit 1; done

# Shared memory (vader) and TCP loopback, each W and model: one calibration line and four stage lines per run.
bench-zero-model: build
	for transport in vader:shm tcp:tcp; do for np in 2 3 4; do for model in mlp gpt; do \
	  mpirun --allow-run-as-root --oversubscribe --mca btl $${transport%%:*},self -np $$np \
	    $(BUILD)/bench/zero_step_time --model $$model --transport $${transport##*:} || exit 1; \
	done; done; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
