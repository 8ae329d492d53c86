# berth — build, demo and test entry points. Run `make demo` and `make test` as root.

CARGO ?= cargo
BERTH := target/release/berth
# Integration tests mostly wait on container processes, so more threads than cores pays off.
TEST_THREADS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) * 2 )))

.PHONY: all build deps bench-deps demo test vm-test bench conformance clean

all: build

deps:
	@scripts/deps.sh

build:
	$(CARGO) build --release

demo: deps build
	@scripts/demo-bundle.sh target/demo-bundle
	@echo "--- berth run berth-demo (hostname, pid and id seen inside the container) ---"
	$(BERTH) --root target/demo-state run -b target/demo-bundle berth-demo-$$$$

# Side by side with crun and runc (benches/compare.rs; not part of `make test`). Pass options
# through BENCH_ARGS, e.g. `make bench BENCH_ARGS="--json"` or `BENCH_ARGS="--quick"`.
BENCH_ARGS ?=
bench-deps: deps
	@scripts/bench-deps.sh

bench: bench-deps build
	$(CARGO) bench --bench compare -- $(BENCH_ARGS)

test: build
	$(CARGO) test --release -- --test-threads=$(TEST_THREADS); rc=$$?; \
	rmdir /sys/fs/cgroup/*/berth-test 2>/dev/null; exit $$rc

# berth's OCI conformance suite (tests/oci-conformance) against berth, runc and crun side by
# side: TAP per runtime, then a table of the checks some runtime failed. `make test` runs it
# against berth alone (tests/integration/conformance.rs).
CONFORMANCE_RUNTIMES ?= $(abspath $(BERTH)) $(foreach r,runc crun,$(shell command -v $(r)))
conformance: build
	tests/oci-conformance/run.sh --report --todo tests/oci-conformance/berth-todo.txt \
		$(foreach r,$(CONFORMANCE_RUNTIMES),--runtime $(r))

# Only the tests that boot a pure cgroup v2 kernel under qemu (tests/vm/README.md).
vm-test: build
	$(CARGO) test --release --test integration vm:: -- --nocapture

clean:
	$(CARGO) clean
	rm -rf target/demo-bundle target/demo-state
