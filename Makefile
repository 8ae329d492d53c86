# berth — build, demo and test entry points. Run `make demo` and `make test` as root.

CARGO ?= cargo
# .cargo/config.toml builds for the host triple by name (for the static link), so the
# binary sits under target/<host triple>/.
HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
BERTH := target/$(HOST_TRIPLE)/release/berth
# Writes the man pages and shell completions (src/bin/berth-docs.rs), built beside berth.
BERTH_DOCS := target/$(HOST_TRIPLE)/release/berth-docs
# Integration tests mostly wait on container processes, so more threads than cores pays off.
TEST_THREADS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) * 2 )))

.PHONY: all build install deb deps bench-deps demo test vm-test vm-bench bench conformance soak fuzz hot-functions hot-functions-check shim-test clean

all: build

deps:
	@scripts/deps.sh

# `make install` (PREFIX and DESTDIR as usual): the binary, man pages berth(8) and
# berth-<command>(8), and completions for bash, zsh and fish where those shells look.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
DOCS_DIR ?= target/docs
install: build
	rm -rf $(DOCS_DIR)
	$(BERTH_DOCS) $(DOCS_DIR)
	install -D -m 0755 $(BERTH) $(DESTDIR)$(BINDIR)/berth
	install -d $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(DOCS_DIR)/man8/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -D -m 0644 $(DOCS_DIR)/completions/berth.bash \
		$(DESTDIR)$(DATADIR)/bash-completion/completions/berth
	install -D -m 0644 $(DOCS_DIR)/completions/_berth $(DESTDIR)$(DATADIR)/zsh/site-functions/_berth
	install -D -m 0644 $(DOCS_DIR)/completions/berth.fish \
		$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/berth.fish

# `make deb`: target/deb/berth_<version>-1_<arch>.deb with the files of `make install
# PREFIX=/usr` (scripts/deb.sh: dpkg-deb alone; the control file's fields are explained there).
DEB_DIR ?= target/deb
deb: build
	scripts/deb.sh $(BERTH) $(BERTH_DOCS) $(DEB_DIR)

build:
	$(CARGO) build --release

demo: deps build
	@scripts/demo-bundle.sh target/demo-bundle
	@echo "--- berth run berth-demo (hostname, pid and id seen inside the container) ---"
	$(BERTH) --root target/demo-state run -b target/demo-bundle berth-demo-$$$$; rc=$$?; \
	rmdir /sys/fs/cgroup/*/berth-test 2>/dev/null; exit $$rc

# Side by side with crun and runc (benches/compare/; not part of `make test`). Pass options
# through BENCH_ARGS, e.g. `make bench BENCH_ARGS="--json"` or `BENCH_ARGS="--quick"`.
BENCH_ARGS ?=
bench-deps: deps
	@scripts/bench-deps.sh

# The benchmark measures the release build (`make build`, what gets installed). Its harness
# builds in a target dir of its own: `cargo bench` would otherwise replace the release binary
# with one built under the bench profile, whose symbol names (hashed with the profile) the code
# layout of src/hot-functions.txt does not match.
bench: bench-deps build
	$(CARGO) bench --bench compare --target-dir target/bench -- --berth $(abspath $(BERTH)) $(BENCH_ARGS)

# After the tests, scripts/leftovers.sh removes the empty berth-test cgroup parents and fails
# the run, naming them, on any berth-test cgroup or test temp dir mount still there.
# tests/integration/faults.rs drives a second berth built with the fault-injection feature.
FAULT_TARGET := target/faults

test: build
	$(CARGO) build --release --features fault-injection --target-dir $(FAULT_TARGET)
	BERTH_FAULT_BIN=$(CURDIR)/$(FAULT_TARGET)/$(HOST_TRIPLE)/release/berth \
	$(CARGO) test --release -- --test-threads=$(TEST_THREADS); rc=$$?; \
	scripts/leftovers.sh || rc=1; \
	scripts/hot-functions.sh --check-names $(HOT_FUNCTIONS_MIN) || rc=1; \
	scripts/shim-test.sh || rc=1; exit $$rc

# 1,000 create/start/delete cycles and 300 foreground runs, reporting what grew (open files,
# mounts, cgroups, state entries) and berth's peak RSS; docs/reliability.md has the last.
soak: build
	$(CARGO) test --release --test integration soak::long_soak -- --ignored --nocapture; rc=$$?; \
	rmdir /sys/fs/cgroup/*/berth-test 2>/dev/null; exit $$rc

# The fuzz harness (tests/fuzz.rs; make test runs it short) for longer: FUZZ_ITERATIONS of
# the cheap targets (signals, ids, sync messages), a tenth of it for config.json and process
# JSON. FUZZ_SEED picks another sequence. docs/reliability.md has the last result.
FUZZ_ITERATIONS ?= 1000000
fuzz:
	FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(CARGO) test --release --test fuzz -- --nocapture

# berth's OCI conformance suite (tests/oci-conformance) against berth, runc and crun side by
# side: TAP per runtime, then a table of the checks some runtime failed. `make test` runs it
# against berth alone (tests/integration/conformance.rs).
CONFORMANCE_RUNTIMES ?= $(abspath $(BERTH)) $(foreach r,runc crun,$(shell command -v $(r)))
conformance: build
	tests/oci-conformance/run.sh --report --todo tests/oci-conformance/berth-todo.txt \
		$(foreach r,$(CONFORMANCE_RUNTIMES),--runtime $(r))

# Only the tests that boot a kernel under qemu (tests/vm/README.md): the pure cgroup v2 guest
# and the systemd guest.
vm-test: build
	$(CARGO) test --release --test integration -- --nocapture vm:: vm_systemd:: vm_criu::

# benches/compare in the two qemu guests (tests/vm/bench.sh; not part of `make test`): the core
# rows on the pure cgroup v2 guest, the systemd rows (--systemd-cgroup) under systemd 252.
# TCG is slow: few iterations (VM_BENCH_ITERATIONS, default 5), read the ratios only.
# VM_BENCH_GUESTS="v2 systemd", VM_BENCH_ROWS_V2 and VM_BENCH_ROWS_SYSTEMD choose what runs.
vm-bench: build
	compare=$$($(CARGO) bench --no-run --bench compare --target-dir target/bench 2>&1 | \
		tee /dev/stderr | sed -n 's/^ *Executable benches\/compare\/main.rs (\(.*\))$$/\1/p') && \
	tests/vm/bench.sh target/$(HOST_TRIPLE)/vm $(abspath $(BERTH)) "$$(cd "$$(dirname "$$compare")" && pwd)/$$(basename "$$compare")"

# Regenerates src/hot-functions.txt, the code layout build.rs gives the linker (see the
# script), after a change to what the runtime's commands execute, its dependencies or rustc;
# `make hot-functions-check` says when (commit the regenerated file).
hot-functions:
	scripts/hot-functions.sh

# Reports how much of what the runtime's commands execute src/hot-functions.txt still lists,
# and fails under HOT_FUNCTIONS_MIN percent. Why 90: a freshly made list covers 100%, and
# the ordered code is what a start maps (peak RSS 3.4 → 1.8 MiB); each function left out sits
# in its own 64 KiB or larger fault-around block elsewhere in 3 MiB of .text, so a tenth of
# them missing can map as many blocks as the whole hot list takes (about 30).
# `make test` runs the deterministic half (--check-names: the share of listed names still in
# the binary, which drops when code moves or a dependency, feature or rustc changes the
# symbol hashes); this target also traces the commands (coverage), which needs ptrace and is
# retried: the tracer fails now and then.
HOT_FUNCTIONS_MIN ?= 90
hot-functions-check: build
	scripts/hot-functions.sh --check $(HOT_FUNCTIONS_MIN)

# The exec shim's contract, tested on x86_64 and (cross-built, under qemu-aarch64-static)
# aarch64: scripts/shim-test.sh. Also run at the end of `make test`.
shim-test:
	scripts/shim-test.sh

clean:
	$(CARGO) clean
	rm -rf target/demo-bundle target/demo-state
