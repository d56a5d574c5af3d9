# sac-cluster: the two commands of the README, and the developer targets.
#   make run    install what is missing, build, train HalfCheetah-v5 on a local cluster
#   make test   install what is missing, build, run the whole test suite
SHELL := /bin/bash
BUILD ?= build
SAC_CACHE_DIR ?= /var/cache/sac-cluster
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
# ccache lives outside the clone (like the venv), so fresh clones reuse it; paths
# are hashed relative to the clone, so a clone in another folder hits too.
export CCACHE_DIR ?= $(SAC_CACHE_DIR)/ccache
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
export CCACHE_MAXSIZE ?= 5G
export SAC_CACHE_DIR
RUN_ARGS ?=

.PHONY: all deps configure build test run bench format lint clean test-sanitize test-asan test-tsan \
        fuzz-build test-fuzz fuzz test-compose

# Fuzzing (tests/fuzz, docs/reliability.md): a clang tree with libFuzzer + ASan +
# UBSan. `make test` runs every target for TEST_FUZZ_SECONDS; `make fuzz` for
# FUZZ_SECONDS each (two at a time on two cores). Warnings are not errors there:
# the gcc build is the one that enforces them, and a clang-only warning must not
# stop the fuzzers.
FUZZ_BUILD ?= $(BUILD)-fuzz
TEST_FUZZ_SECONDS ?= 20
FUZZ_SECONDS ?= 600
# Sanitizer trees (make test-sanitize): ASan + UBSan over the unit and
# integration tests, TSan over the tests that run threads of ours.
ASAN_BUILD ?= $(BUILD)-asan
TSAN_BUILD ?= $(BUILD)-tsan
# ctest labels left out under ASan: e2e (training runs with a wall-clock budget,
# 5-10x slower instrumented; the components they use are tested here) and
# deploy (checks of files and scripts, not of our code's memory). nosan: a test
# that cannot run instrumented (none at present; the label is kept for that).
ASAN_EXCLUDE ?= nosan|e2e|deploy
# The TSan set: test binaries whose code runs threads of ours and whose
# threads synchronize through our code, std and Abseil (annotated:
# tests/sanitizers/tsan_absl_sync.cc): the replay table, rate limiter, log and
# snapshot threads, the metrics registry, the HTTP server, the environments'
# worker pool (EnvBatch with threads), the TensorBoard event writer. Not in it: the gRPC
# service tests (gRPC hands its arenas and closures between its threads in code
# TSan cannot see: docs/reliability.md#sanitizers). Suppressions:
# tests/sanitizers/tsan.supp.
TSAN_TESTS ?= replay_table_test replay_rate_limiter_test replay_durability_test \
              metrics_test http_server_test envs_worker_pool_test envs_env_batch_test \
              learner_event_file_writer_test

all: build

deps:
	@bash deploy/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout 900
	@$(MAKE) --no-print-directory test-fuzz

run: build
	@if [ -x $(BUILD)/bin/sacctl ]; then \
	  exec $(BUILD)/bin/sacctl local $(RUN_ARGS); \
	else \
	  echo "make run: not available yet: sacctl, sac-learner and sac-actor (the running system) are not built yet."; \
	  echo "Built so far: $$(ls $(BUILD)/bin 2>/dev/null | tr '\n' ' ')"; \
	  exit 1; \
	fi

bench: build
	@$(BUILD)/bin/sacctl bench

fuzz-build: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DSAC_FUZZ=ON -DSAC_SANITIZE=address \
	  -DSAC_WERROR=ON -DSAC_WITH_CUDA=OFF "-DSAC_SKIP_DIRS=envs;actor;tools;bench" $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target sac_fuzzers

test-fuzz: fuzz-build
	@FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) ctest --test-dir $(FUZZ_BUILD) -L fuzz --output-on-failure -j $(JOBS)
	@cat $(FUZZ_BUILD)/fuzz/*/summary.txt

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --test-dir $(FUZZ_BUILD) -L fuzz --output-on-failure -j $(JOBS)
	@cat $(FUZZ_BUILD)/fuzz/*/summary.txt

# SAC_SANITIZE=address is ASan + UBSan (CMakeLists.txt); LibTorch's CUDA library
# is left out (no GPU kernels are tested here, and it only slows every start).
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DSAC_SANITIZE=address -DSAC_WITH_CUDA=OFF \
	  -DSAC_SKIP_DIRS=bench $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) --timeout 1800 -LE '$(ASAN_EXCLUDE)'

test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DSAC_SANITIZE=thread -DSAC_WITH_CUDA=OFF \
	  "-DSAC_SKIP_DIRS=tools;bench" $(CMAKE_ARGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS)
	@set -e; for t in $(TSAN_TESTS); do \
	  echo "== TSan: $$t"; \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/tests/sanitizers/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
	    $(TSAN_BUILD)/tests/$$t --gtest_brief=1; \
	done

test-sanitize: test-asan test-tsan

# The compose cluster as a user runs it (tests/compose/compose_test.py, docs/deploy.md):
# a Docker engine (started if none answers), base images (stand-ins where registries
# do not answer), `docker-compose build` from a clean checkout, up, scale, Prometheus,
# sacctl pull/eval from this host, stop/start with checkpoint and snapshot recovery,
# down -v. Root: it starts dockerd and runs debootstrap.
test-compose: build
	@bash deploy/install-deps.sh --containers
	@python3 tests/compose/compose_test.py $(CURDIR) $(BUILD)/bin/sacctl

# Formatting: `make format` applies .clang-format to every tracked C++ file;
# make test checks it (ctest's format_check, tools/check_format.sh).
format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

# clang-tidy with .clang-tidy over our translation units (tools/lint.sh); any
# finding fails. Not part of make test (10 minutes on an idle 2-core machine);
# CI runs it after make test and make test-compose (.ci/run).
lint: build
	@tools/lint.sh $(CURDIR) $(BUILD) $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
