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

.PHONY: all deps configure build test run bench format clean test-sanitize

all: build

deps:
	@bash deploy/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout 900

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

test-sanitize: deps
	@cmake -S . -B $(BUILD)-asan -G Ninja -DSAC_SANITIZE=address $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	@ctest --test-dir $(BUILD)-asan --output-on-failure -j $(JOBS) -LE nosan

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD)-asan
