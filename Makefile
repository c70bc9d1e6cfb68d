# idbroker — the two commands a newcomer needs:
#   make run    the demo broker + STS on 127.0.0.1:8080 (embedded config, no external server)
#   make test   the whole test suite (installs slapd, redis and the AWS CLI when missing and root)
GO      ?= go
LISTEN  ?= 127.0.0.1:8080
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run test test-deps unit clients build vet fmt-check bench docker clean

run:
	$(GO) run ./cmd/idbroker serve --listen $(LISTEN)

test: test-deps fmt-check vet unit clients

test-deps:
	@sh scripts/install-test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 15m ./...

# Real AWS clients (Debian's awscli and boto3) against a running server.
clients: build
	@bash scripts/clients-test.sh bin/idbroker

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/idbroker ./cmd/idbroker

# Load figures of every flow against its floor (BENCHMARKS.md), then the Go
# micro-benchmarks. BENCH_FLAGS=--duration=3s for a quicker look.
BENCH_FLAGS ?= --conns 64,256 --duration 10s --rss-conns 1000
bench: build
	$(GO) build -o bin/idbroker-bench ./cmd/idbroker-bench
	bin/idbroker-bench --server bin/idbroker $(BENCH_FLAGS) --json bin/bench.json
	$(GO) test -run '^$$' -bench . -benchmem ./sts/... ./mapping/... ./ldapauth/

docker:
	docker build --build-arg VERSION=$(VERSION) -t idbroker:$(VERSION) .

clean:
	rm -rf bin
