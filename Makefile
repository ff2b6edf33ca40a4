# gatehouse — the two commands: `make run` and `make test`. Both install what is missing first.
#
#   make run        install deps, build Release, serve with conf/gatehouse.toml
#   make test       install deps, build with tests, run every suite (ctest)
#   make test-asan  the same suite under ASan + UBSan
#   make bench      build Release and run the micro benchmarks (policy, request parser, ClientHello,
#                   limiter)
#   make bench-peers  gatehouse against Squid, tinyproxy and direct (bench/run; root, ~25 min;
#                   BENCH_ARGS=--quick for a < 3 min smoke run)
#   make fuzz       build the libFuzzer targets (clang, ASan+UBSan) and run each for FUZZ_SECONDS
#                   (default 60) on its corpus; new inputs stay in build/fuzz/new-corpus
#   make soak       mixed traffic with faults for SOAK_MINUTES (default 30), sampling RSS and fds
#                   (bench/soak; loopback only)
#   make format     clang-format every source file
#   make tidy       clang-tidy the sources (uses the test build's compile_commands.json)

JOBS      ?= $(shell nproc)
CONFIG    ?= conf/gatehouse.toml
# CI builds with warnings as errors.
WERROR    ?= $(if $(CI),ON,OFF)
CTEST_ARGS ?=
BENCH_ARGS ?=
FUZZ_SECONDS ?= 60
SOAK_MINUTES ?= 30
MICRO_BENCHES = policy_bench request_parser_bench client_hello_bench limiter_bench

SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null)

.PHONY: deps run build test test-asan bench bench-peers fuzz soak format tidy clean

deps:
	@scripts/install-deps

build/release/gatehouse: deps FORCE
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
	  -DGATEHOUSE_BUILD_TESTS=OFF -DGATEHOUSE_BUILD_BENCH=OFF -DGATEHOUSE_WERROR=$(WERROR)
	cmake --build build/release -j $(JOBS) --target gatehouse

build: build/release/gatehouse

run: build/release/gatehouse
	build/release/gatehouse serve --config $(CONFIG)

test: deps
	cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DGATEHOUSE_BUILD_TESTS=ON -DGATEHOUSE_BUILD_BENCH=ON -DGATEHOUSE_WERROR=$(WERROR)
	cmake --build build/test -j $(JOBS)
	ctest --test-dir build/test --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan: deps
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DGATEHOUSE_SANITIZE=ON \
	  -DGATEHOUSE_BUILD_TESTS=ON -DGATEHOUSE_BUILD_BENCH=OFF -DGATEHOUSE_WERROR=$(WERROR)
	cmake --build build/asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: deps
	cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release \
	  -DGATEHOUSE_BUILD_TESTS=OFF -DGATEHOUSE_BUILD_BENCH=ON
	cmake --build build/bench -j $(JOBS) --target $(MICRO_BENCHES)
	for b in $(MICRO_BENCHES); do \
	  build/bench/bench/$$b --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
	    || exit 1; \
	done

# bench/run builds gatehouse and gatehouse-load in build/bench itself.
bench-peers:
	scripts/install-deps --peers
	bench/run $(BENCH_ARGS)

fuzz: deps
	tests/fuzz/run --seconds $(FUZZ_SECONDS)

soak:
	scripts/install-deps --peers
	bench/soak --minutes $(SOAK_MINUTES)

format:
	clang-format -i $(SOURCES)

tidy: test
	clang-tidy -p build/test $(filter %.cc,$(SOURCES))

clean:
	rm -rf build

FORCE:
