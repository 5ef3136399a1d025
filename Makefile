# The two commands a newcomer needs: `make run` and `make test`.

GO      ?= go
BIN     := bin/ksplugins
# Native plugins load only into a host built with -trimpath (see docs/architecture.md).
BUILD_FLAGS := -trimpath
TEST_FLAGS  := -race -trimpath -count=1 -timeout 45m

.PHONY: all build run test test-deps vet fmt clean

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

## vet: static checks
vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

## test: install test dependencies, then run every test with the race detector
test: test-deps vet
	$(GO) test $(TEST_FLAGS) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
