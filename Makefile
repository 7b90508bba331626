# Makefile - builds, tests and demonstrates pyusdt.  `make help` lists targets.
#
# Overridable: PYTHON (a CPython >= 3.12; found automatically otherwise),
# CC, BPFTRACE, EXTRA_CFLAGS, V=1 for the full commands.

CC ?= cc
BPFTRACE ?= bpftrace
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell scripts/find-python)
endif

SRCS := $(wildcard src/*.c)
HDRS := $(wildcard src/*.h)

# Facts about $(PYTHON), asked once.  PYTAG names its builds: the cache tag
# and the ABI flags, as SOABI begins (cpython-314, and cpython-314t for the
# free-threaded 3.14, whose cache tag is the same but whose object layout is
# not); pyusdt/_loader.py's build_name() is the same.  PYVER carries the
# flags too (3.14.7t).
ifneq ($(PYTHON),)
PYINFO := $(shell $(PYTHON) -c 'import sys, sysconfig; print(sys.implementation.cache_tag + sys.abiflags, sysconfig.get_paths()["include"], "%d.%d.%d" % sys.version_info[:3] + sys.abiflags)' 2>/dev/null)
endif
PYTAG := $(word 1,$(PYINFO))
PYINC := $(word 2,$(PYINFO))
PYVER := $(word 3,$(PYINFO))
BUILD := build/$(PYTAG)
LIB := $(BUILD)/libpyusdt.so
OBJS := $(patsubst src/%.c,$(BUILD)/%.o,$(SRCS))

CFLAGS_BASE := -std=gnu11 -fPIC -fvisibility=hidden -g -Wall -Wextra -Werror \
	-Wno-missing-field-initializers -I$(PYINC)
OPTFLAGS ?= -O2 -DNDEBUG
LDFLAGS_LIB := -shared -pthread

.PHONY: all help check-python lib test demo clean asan valgrind FORCE
.PHONY: install uninstall dist

all: libpyusdt.so ## build ./libpyusdt.so for $(PYTHON)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

check-python:
	@if [ -z "$(PYTHON)" ]; then exit 1; fi
	@if [ -z "$(PYTAG)" ] || [ -z "$(PYINC)" ]; then \
		echo "make: PYTHON=$(PYTHON) does not run, or is not a CPython >= 3.12" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
		echo "make: PYTHON=$(PYTHON) is Python $(PYVER); pyusdt needs 3.12 or newer" >&2; exit 1; }
	@[ -f /usr/include/sys/sdt.h ] || [ -f /usr/include/x86_64-linux-gnu/sys/sdt.h ] || \
		echo '#include <sys/sdt.h>' | $(CC) -E -x c - >/dev/null 2>&1 || { \
		echo "make: <sys/sdt.h> not found; install it: apt-get install systemtap-sdt-dev" >&2; exit 1; }
	@echo "pyusdt: using Python $(PYVER) at $(PYTHON)"

lib: $(LIB) ## build build/<tag>/libpyusdt.so only, <tag> e.g. cpython-314t (no ./libpyusdt.so link)

# ./libpyusdt.so is a hard link to the build for $(PYTHON): the same inode,
# so bpftrace attached by either path sees the same probes.  Always relinked:
# which build it names depends on PYTHON, not on timestamps.
libpyusdt.so: $(LIB) FORCE
	$(Q)ln -f $(LIB) $@
	@echo "built ./libpyusdt.so for Python $(PYVER)"

FORCE:

$(LIB): $(OBJS) | check-python
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_LIB) $(EXTRA_LDFLAGS) -o $@ $(OBJS)

$(BUILD)/%.o: src/%.c $(HDRS) Makefile | check-python
	@mkdir -p $(BUILD)
	@[ "$(V)" = 1 ] || echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS_BASE) $(OPTFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

# Sanitizer builds: the same sources built again into their own files, one
# directory per ABI like the normal build: build/asan-<tag>/ (AddressSanitizer
# and UndefinedBehaviorSanitizer) and build/valgrind-<tag>/ (unoptimised
# enough for exact stacks).  A tracer attached to the normal build by path
# never reaches them.  tests/sanitizers/run.py runs the tests against one of
# them and fails on any report.  SAN_ARGS adds arguments (-k PATTERN,
# --suite NAME).
# ASAN_CC is clang when there is one: its shared runtime holds both
# sanitizers, so UBSan's reports go to ASan's log files too (gcc's separate
# libubsan writes to stderr whatever it is told).
ASAN_BUILD := build/asan-$(PYTAG)
ASAN_CC ?= $(if $(shell command -v clang 2>/dev/null),clang,$(CC))
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
ASAN_LDFLAGS := $(ASAN_FLAGS) $(if $(findstring clang,$(notdir $(ASAN_CC))),-shared-libsan)
VG_BUILD := build/valgrind-$(PYTAG)
SAN_ARGS ?=

asan: $(ASAN_BUILD)/libpyusdt.so ## AddressSanitizer+UBSan build; unit, integration and e2e tests on it
	$(Q)$(PYTHON) tests/sanitizers/run.py asan $(ASAN_BUILD)/libpyusdt.so \
		--cc $(ASAN_CC) $(SAN_ARGS)

valgrind: $(VG_BUILD)/libpyusdt.so ## unit, integration and e2e tests with their Pythons under valgrind
	$(Q)$(PYTHON) tests/sanitizers/run.py valgrind $(VG_BUILD)/libpyusdt.so $(SAN_ARGS)

$(ASAN_BUILD)/libpyusdt.so: $(patsubst src/%.c,$(ASAN_BUILD)/%.o,$(SRCS)) | check-python
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(ASAN_CC) $(LDFLAGS_LIB) $(ASAN_LDFLAGS) -o $@ $^

$(ASAN_BUILD)/%.o: src/%.c $(HDRS) Makefile | check-python
	@mkdir -p $(ASAN_BUILD)
	@[ "$(V)" = 1 ] || echo "  CC      $@"
	$(Q)$(ASAN_CC) $(CFLAGS_BASE) -O1 $(ASAN_FLAGS) $(EXTRA_CFLAGS) -c $< -o $@

$(VG_BUILD)/libpyusdt.so: $(patsubst src/%.c,$(VG_BUILD)/%.o,$(SRCS)) | check-python
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_LIB) -o $@ $^

$(VG_BUILD)/%.o: src/%.c $(HDRS) Makefile | check-python
	@mkdir -p $(VG_BUILD)
	@[ "$(V)" = 1 ] || echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS_BASE) -O1 $(EXTRA_CFLAGS) -c $< -o $@

# STRESS_ARGS adds arguments to tests/stress/run.py (-k PATTERN, --quick).
STRESS_ARGS ?=

.PHONY: stress
stress: lib ## minutes-long: 500 exits and 200 attach/detach cycles traced, stdlib tests with every probe
	$(Q)$(PYTHON) tests/stress/run.py $(STRESS_ARGS)

test: ## build for every Python >= 3.12 found, then run all tests on each
	$(Q)$(PYTHON) tests/run_all.py $(if $(filter command line environment,$(origin PYTHON)),--python $(PYTHON))

# The browser tests (tests/e2e/test_timeline_browser.py) load traces in
# speedscope, driven by playwright-core: npm installs the versions
# tests/browser/package-lock.json pins into build/node/ (not the checkout).
.PHONY: browser-deps
browser-deps: ## npm packages of the browser tests into build/node/ (needs npm)
	$(Q)mkdir -p build/node
	$(Q)cp tests/browser/package.json tests/browser/package-lock.json build/node/
	$(Q)cd build/node && npm ci --no-audit --no-fund --loglevel=error

demo: ## live trace of examples/sleep.py under sample.bt (installs bpftrace if root)
	$(Q)scripts/demo

# bench/run.py --help lists what BENCH_ARGS may add (e.g. --only traced,attach).
.PHONY: bench
bench: ## measure cost untraced/forced/traced, attach latency, memory (QUICK=1: shorter)
	$(Q)$(PYTHON) bench/run.py $(if $(filter 1,$(QUICK)),--quick) --cc '$(CC)' \
		--bpftrace '$(BPFTRACE)' \
		$(if $(filter command line environment,$(origin PYTHON)),--python $(PYTHON)) \
		$(BENCH_ARGS)

# install, uninstall and dist use pip and setuptools in $(PYTHON)'s own
# environment; scripts/build-deps first installs the setuptools and wheel
# CPython bundles when that environment lacks them (offline).
PIPFLAGS ?=

install: check-python ## pip install pyusdt into $(PYTHON)'s environment (PIPFLAGS=...)
	$(Q)$(PYTHON) scripts/build-deps
	$(Q)$(PYTHON) -m pip install --disable-pip-version-check --no-build-isolation \
		--no-deps $(PIPFLAGS) .

uninstall: check-python ## pip uninstall pyusdt from $(PYTHON)'s environment
	$(Q)$(PYTHON) -m pip uninstall --disable-pip-version-check -y pyusdt

dist: check-python ## build dist/pyusdt-VERSION.tar.gz and a wheel for $(PYTHON)
	$(Q)$(PYTHON) scripts/build-deps
	$(Q)$(PYTHON) -c 'from setuptools import build_meta; build_meta.build_sdist("dist")' \
		$(if $(filter 1,$(V)),,>/dev/null)
	$(Q)$(PYTHON) -m pip wheel --disable-pip-version-check --no-build-isolation \
		--no-deps -w dist .

clean: ## remove build products
	$(Q)rm -rf build libpyusdt.so dist pyusdt.egg-info pyusdt/libpyusdt.*.so
	$(Q)find . -name __pycache__ -type d -prune -exec rm -rf {} +
