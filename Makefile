# The two commands a newcomer needs: `make run` and `make test`.

GO      ?= go
BIN     := bin/ksplugins
# Native plugins load only into a host built with -trimpath (see docs/architecture.md).
BUILD_FLAGS := -trimpath
TEST_FLAGS  := -race -trimpath -count=1 -timeout 45m

.PHONY: all build run test unit fuzz bench test-deps vet lint fmt clean

all: build

## build: build the server binary into bin/
build:
	$(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/ksplugins

## run: start the server on :4000 with the default directories under ./
run: build
	./$(BIN) serve

## test-deps: install what the tests need (idempotent)
test-deps:
	./scripts/test-deps.sh

# The end-to-end tests are a module of their own, so that what only they
# need (a browser driver, envtest, the OCM client) stays out of the module
# every native plugin is built in.
TEST_MODULES := test/e2e

# Plugins with a go.mod of their own: their tests run in their folder.
PLUGIN_MODULES := plugins/examples/hello plugins/examples/primes-chart plugins/cluster-manager

## vet: gofmt and go vet over the host module and the test modules
vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@set -e; for m in $(TEST_MODULES); do \
		echo "vet $$m"; (cd $$m && $(GO) vet ./...); \
	done

## lint: no tracked file is over 1 MB, go.mod and go.sum of every module
## are tidy, and staticcheck
## (scripts/staticcheck.sh, a fixed version cached outside the checkout)
## finds nothing in the host module, the test module or the plugin modules
lint:
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "lint: needs a git checkout, to see which files are tracked"; exit 1; }; \
	big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' | awk '$$1 > 1048576 {print $$2}'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MB (build outputs belong in .gitignore): $$big"; exit 1; fi
	@set -e; for m in . $(TEST_MODULES) $(PLUGIN_MODULES); do \
		echo "tidy $$m"; (cd $$m && $(GO) mod tidy -diff) || { echo "go mod tidy would change $$m (diff above)"; exit 1; }; \
	done
	@set -e; staticcheck="$$(./scripts/staticcheck.sh)"; \
	for m in . $(TEST_MODULES) $(PLUGIN_MODULES); do \
		echo "staticcheck $$m"; (cd $$m && "$$staticcheck" ./...); \
	done

## test: install test dependencies, vet and lint, then run every test with the race detector, then the fuzzers briefly
test: test-deps vet lint unit fuzz

## unit: every package's tests under the race detector, the host module's
## and then the test modules'; the end-to-end tests of the cluster manager get
## a real etcd and kube-apiserver from scripts/kube-binaries.sh (built once,
## then cached outside the checkout); the PostgreSQL store's tests a real
## server (internal/pgtest), required here so that they cannot pass by skipping
unit:
	@set -e; assets="$$(./scripts/kube-binaries.sh)"; \
	echo "KSPLUGINS_KUBE_ASSETS=$$assets"; \
	export KSPLUGINS_REQUIRE_POSTGRES=1 KSPLUGINS_REQUIRE_NODE_TOOLS=1; \
	KSPLUGINS_KUBE_ASSETS="$$assets" $(GO) test $(TEST_FLAGS) ./...; \
	for m in $(TEST_MODULES); do \
		echo "test $$m"; (cd $$m && KSPLUGINS_KUBE_ASSETS="$$assets" $(GO) test $(TEST_FLAGS) ./...); \
	done
	@set -e; for m in $(PLUGIN_MODULES); do \
		echo "test $$m"; (cd $$m && $(GO) vet ./... && $(GO) test $(TEST_FLAGS) ./...); \
	done

# Each fuzz target runs a fixed number of executions beyond its checked-in
# seed corpus, about 8 s each on two cores. A count, not a duration: with a
# duration, Go 1.26's fuzzing coordinator can report "context deadline
# exceeded" as a failure when the time runs out mid-execution (fixed in Go
# 1.27, go.dev/issue/75804). FUZZ_TIME (say 30s or 1000x) overrides every
# target's budget.
FUZZ_TIME ?=
FUZZ_TARGETS := \
	internal/manifest:FuzzParse:15000x \
	internal/source/archive:FuzzExtractZip:10000x \
	internal/host:FuzzRouter:4000x \
	internal/auth/jwt:FuzzVerify:120000x \
	sdk/kubeconfig:FuzzParse:40000x \
	sdk/wasmguest/abi:FuzzDecodeRequest:600000x \
	internal/runtime/wasm/interrupt:FuzzInstrument:100000x

## fuzz: run every fuzz target for its budget (or FUZZ_TIME)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		budget=$(or $(FUZZ_TIME),$$budget); \
		echo "fuzz $$name ($$pkg, $$budget)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$budget ./$$pkg; \
	done

## bench: the benchmarks whose figures docs/performance.md reports
bench:
	$(GO) test -trimpath -run='^$$' -bench=. -benchtime=2s ./internal/runtime/wasm ./internal/runtime/httpwasm ./test/bench

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
