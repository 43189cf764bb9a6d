# nodewatch — the two commands a new machine needs are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/nodewatch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
TREE_STATE ?= $(shell git rev-parse HEAD >/dev/null 2>&1 && { test -z "$$(git status --porcelain --untracked-files=no)" && echo clean || echo dirty; })
LDFLAGS := -X github.com/nodewatch/nodewatch/internal/cli.Version=$(VERSION) \
	-X github.com/nodewatch/nodewatch/internal/cli.Commit=$(COMMIT) \
	-X github.com/nodewatch/nodewatch/internal/cli.TreeState=$(TREE_STATE)
FUZZTIME ?= 15s

.PHONY: all build simcluster peers browser demo test unit e2e fuzz bench vet lint clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/nodewatch

# The real Kubernetes components for the simulated cluster, built once from
# the Go module proxy into ~/.cache/nodewatch (about 12 minutes cold).
simcluster:
	bash hack/build-simcluster.sh >/dev/null

# Real peers for contract tests (Alertmanager v0.31.1, Prometheus v0.316.0),
# built once from the Go module proxy into ~/.cache/nodewatch (a few minutes).
peers:
	bash hack/build-peers.sh >/dev/null

# Headless Chromium for the dashboard's browser tests (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (apt-get)"; $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The story on a simulated cluster: nodes, workloads, a node that fails, and
# what nodewatch reports.
demo: build simcluster
	$(GO) run ./hack/demo --nodewatch $(BIN)

# Every test: unit tests with the race detector, fuzz targets briefly, the
# Helm chart rendered and checked, the image built twice and run, and the
# end-to-end tests on the simulated cluster, which may not skip here.
# Phase by phase, the quick checks first, each phase's time printed.
TEST_PHASES := vet lint chart-test simcluster peers browser unit fuzz image-test e2e
test:
	@start=$$SECONDS; for p in $(TEST_PHASES); do \
		t=$$SECONDS; echo "== $$p"; \
		$(MAKE) --no-print-directory $$p || { echo "== $$p failed after $$((SECONDS - t)) s"; exit 1; }; \
		echo "== $$p: $$((SECONDS - t)) s (total $$((SECONDS - start)) s)"; \
	done

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# golangci-lint v2 with .golangci.yml (govet, errcheck, staticcheck,
# ineffassign, unused, gosec, errorlint, sloglint; gofmt), built once from the
# Go module proxy into ~/.cache/nodewatch/tools (about 5 minutes cold). At the
# lowest priority, so a benchmark beside it keeps the cores; GOMAXPROCS=1
# make lint uses one.
lint:
	@bin=$$(bash hack/build-tools.sh) && nice -n 19 $$bin/golangci-lint run --timeout 5m ./...

unit: peers browser
	NODEWATCH_REQUIRE_PEERS=1 NODEWATCH_REQUIRE_BROWSER=1 $(GO) test -race -count=1 ./internal/... ./cmd/...

# Each decoder of outside input is fuzzed briefly: kubectl dumps, kubelet
# metrics, kubelet log answers, receivers' Retry-After, the config file. The
# corpora under testdata/fuzz run as regression tests in `unit` too. A new
# input is minimized for at most 5 s (the default, 60 s, can spend all of a
# short run minimizing one large dump).
FUZZ_TARGETS := dump:FuzzRead collect:FuzzParse kube:FuzzLastLines notify:FuzzRetryAfter config:FuzzLoad
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz ./internal/$${t%%:*} $${t#*:}"; \
		$(GO) test ./internal/$${t%%:*} -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s; \
	done

# The end-to-end tests may not skip (testenv fails them instead); as a second
# guard the run fails if any test reports a skip all the same.
e2e: simcluster peers browser helm
	@set -eo pipefail; mkdir -p test/e2e/artifacts; \
	NODEWATCH_REQUIRE_SIMCLUSTER=1 NODEWATCH_REQUIRE_PEERS=1 NODEWATCH_REQUIRE_HELM=1 $(GO) test -count=1 -timeout 60m -v ./test/e2e/... 2>&1 | tee test/e2e/artifacts/e2e.log; \
	if grep -- '--- SKIP' test/e2e/artifacts/e2e.log; then echo "e2e: a test skipped; none may"; exit 1; fi

bench:
	bash bench/check-dump.sh

clean:
	rm -rf bin

# Replay synthetic usage traces through nodewatch's recommender, VPA's and
# KRR's, and print waste and risk (docs/recommend-eval.md).
.PHONY: eval-recommend
eval-recommend:
	$(GO) run ./bench/eval-recommend -seeds 10 -held-out 40

# The container image of HEAD, built without a container engine (hack/image):
# an OCI layout in bin/image/oci and the same as one tar,
# bin/image/nodewatch.oci.tar (podman pull oci-archive:TAR:VERSION, skopeo
# copy oci-archive:), for linux/amd64 and linux/arm64, with an SPDX SBOM per
# platform; the same commit gives the same digest.
.PHONY: image image-test podman
image:
	$(GO) run ./hack/image -out bin/image

# Builds the image twice and checks it: digests equal, layout, platforms,
# config, files, SBOMs, the amd64 binary run, and run by podman.
image-test: podman
	NODEWATCH_REQUIRE_PODMAN=1 $(GO) test -count=1 -timeout 40m -v ./hack/image

# Debian's podman, and runc: crun 1.8 refuses cgroup v1 hybrid mounts.
podman:
	@command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 || { echo "installing podman and runc (apt-get)"; $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null; }

# helm v4, built once from the Go module proxy into ~/.cache/nodewatch/tools.
.PHONY: helm chart-test
helm:
	bash hack/build-helm.sh >/dev/null

# charts/nodewatch: helm lint --strict, helm template with the default values
# and charts/nodewatch/ci/*-values.yaml, every pod checked against Pod
# Security "restricted" and every flag against nodewatch run --help.
chart-test: helm build
	NODEWATCH_REQUIRE_HELM=1 NODEWATCH_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v ./hack/chart
