# kavach: set-up, build and test entry points. See README.md.
#
#   make demo            install packages, build, run a command under the strict policy
#   make test            install packages, build (release, build/), run every test
#   make test-sanitize   the same under ASan+UBSan (build-asan/)
#   make bench           build and run the benchmarks, print the ratios
#
# Every target that builds runs scripts/bootstrap first (fast when all is there).

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
CMAKE ?= cmake
CTEST ?= ctest

.PHONY: all bootstrap configure build demo test test-sanitize test-tsan debug bench \
        install format tidy clean

all: build

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@$(CMAKE) --preset release >/dev/null

build: configure
	@$(CMAKE) --build --preset release -j $(JOBS)

demo: build
	@scripts/demo build/bin/kavach

test: build
	@$(CTEST) --preset release

test-sanitize: bootstrap
	@$(CMAKE) --preset asan >/dev/null
	@$(CMAKE) --build --preset asan -j $(JOBS)
	@$(CTEST) --preset asan

test-tsan: bootstrap
	@$(CMAKE) --preset tsan >/dev/null
	@$(CMAKE) --build --preset tsan -j $(JOBS)
	@$(CTEST) --preset tsan

debug: bootstrap
	@$(CMAKE) --preset debug >/dev/null
	@$(CMAKE) --build --preset debug -j $(JOBS)

bench: bootstrap
	@$(CMAKE) --preset bench >/dev/null
	@$(CMAKE) --build --preset bench -j $(JOBS)
	@bench/run_all.sh build

install: build
	$(CMAKE) --install build --prefix $(PREFIX)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

tidy: configure
	@git ls-files 'src/*.cc' | xargs clang-tidy -p build --quiet

clean:
	rm -rf build build-debug build-asan build-tsan
