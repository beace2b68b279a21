# The two commands a newcomer needs: `make run` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

PROFILE  ?= embedded
# Instances of each service (not the provider fake) the suites start.
REPLICAS ?= 1
DATA_DIR ?= .data
# The Dapr CLI's run keeps its files here (components/cli names it).
CLI_DATA_DIR := .data/cli
GO       ?= go

DAPR_VERSION   := 1.18.3
DAPRD          := .bin/daprd
STATICCHECK_VERSION := v0.8.2
EXHAUSTIVE_VERSION := v0.17.1
# The Compose CLI (docker compose v2 syntax) make test-compose and make
# compose-up drive, built from the Go module proxy (tools/compose).
COMPOSE_VERSION := v5.6.0
COMPOSE        := .bin/docker-compose-$(COMPOSE_VERSION)
# Kubernetes' control plane, a node and etcd for make test-k8s (tools/k8s),
# CoreDNS (tools/coredns), and
# Dapr's (sentry, operator, injector) from the dapr module daprd is built
# from.
K8S_VERSION    := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2; exit}' tools/k8s/go.mod)
K8S_TOOLS      := $(addprefix .bin/k8s/,kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd)
COREDNS        := .bin/k8s/coredns
DAPR_CONTROL_PLANE := $(addprefix .bin/dapr/,sentry operator injector)
STATICCHECK    := .bin/staticcheck-$(STATICCHECK_VERSION)
EXHAUSTIVE     := .bin/exhaustive-$(EXHAUSTIVE_VERSION)
SERVICES       := voucher-provider voucher-int voucher sms gateway
BINARIES       := $(addprefix bin/,$(SERVICES) runner)
# Every module of go.work; e2e holds the end-to-end suite only.
UNIT_MODULES   := api kit tools/runner tools/bench deploy $(addprefix services/,$(SERVICES))

.PHONY: help run build daprd chromium vet lint test test-unit test-daprd test-e2e test-cli test-faults test-profiles test-replicas test-compose bench-compose test-k8s k8s-tools k8s-node dapr-control-plane bench bench-sustain soak compose-secrets compose-tool compose-images compose-test-images compose-up compose-down docker-engine cli cli-profile clean FORCE

help:
	@echo "make run     start every app and sidecar on the $(PROFILE) profile (Ctrl-C stops all)"
	@echo "make test    go vet, staticcheck, exhaustive, unit tests with -race, and the end-to-end suite through real sidecars"
	@echo "make test-faults  the fault-injection suite: crashes, outages and duplicates under 100 concurrent purchases"
	@echo "make test-profiles  both suites on every profile (embedded, kafka, redis, postgres-rabbitmq) whose servers answer"
	@echo "make test-replicas  both suites with two instances of every service, on every profile whose servers answer"
	@echo "make run PROFILE=kafka|redis|postgres-rabbitmq  the same system on Kafka (a broker in the runner), on Redis, or on PostgreSQL and RabbitMQ"
	@echo "make cli     what \`dapr run -f .\` (the Dapr CLI, after dapr init) needs first: the binaries and .data/cli/secrets.json"
	@echo "make cli-profile  rewrite components/cli (the CLI's profile) from components/redis, components/local and components/config.yaml"
	@echo "make compose-up  the whole system in Docker containers, every image built here (no registry); make compose-down stops it"
	@echo "make test-compose  docker-compose.yml for real: the customer's journey, forged calls, a crash, a restart, the teardown"
	@echo "make test-k8s  deploy/kubernetes on a real API server with Dapr's control plane: 0 errors, daprd injected as asked, mistakes caught; then the pods run on a node and a customer buys through gateway's Service"
	@echo "make compose-secrets  the secrets file and per-app token files docker-compose.yml reads (random, git-ignored)"
	@echo "make bench-compose  the Compose stack under load: purchase-to-webhook times and every container's RSS"
	@echo "make bench   the benchmark (docs/performance.md): accept path, end to end, CPU and memory, baselines"
	@echo "make daprd   build daprd $(DAPR_VERSION) into $(DAPRD) (once)"
	@echo "make build   build the services and the runner into bin/"
	@echo "make chromium  make sure a Chromium is there for the browser test (apt-get as root; else the test is skipped)"

## daprd: built once from github.com/dapr/dapr, with the component
## registrations of tools/daprd/components.txt only; its module (tools/daprd)
## is outside go.work (dapr's replace directives). tools/daprd/build.sh.
daprd: $(DAPRD)

$(DAPRD): tools/daprd/go.mod tools/daprd/go.sum tools/daprd/components.txt tools/daprd/build.sh
	@DAPR_VERSION=$(DAPR_VERSION) GO=$(GO) tools/daprd/build.sh $(CURDIR)/$(DAPRD)

## build: go build is incremental, so it always runs and is quick when
## nothing changed.
build: $(BINARIES)

bin/runner: FORCE
	@echo ">> building $@"
	@$(GO) build -o $@ ./tools/runner/cmd/runner

bin/%: FORCE
	@echo ">> building $@"
	@$(GO) build -o $@ ./services/$*

FORCE:

run: daprd build
	@echo ">> starting the system on the $(PROFILE) profile (data in $(DATA_DIR))"
	@bin/runner -f dapr.yaml -profile $(PROFILE) -data-dir $(DATA_DIR) -daprd $(DAPRD)

## cli: what `dapr run -f .` needs that the Dapr CLI does not make: the
## apps' binaries (bin/) and this checkout's local secrets
## (.data/cli/secrets.json, random, kept when there). The CLI's profile is
## components/cli; the tokens come from the shell (README).
cli: build
	@bin/runner -make-secrets $(CLI_DATA_DIR)/secrets.json
	@echo "bin/ and $(CLI_DATA_DIR)/secrets.json are ready. With Redis on localhost:6379 (dapr init):"
	@echo '  export APP_API_TOKEN=$$(openssl rand -hex 32) DAPR_API_TOKEN=$$(openssl rand -hex 32)'
	@echo '  dapr run -f .'

## cli-profile: components/cli is written, not edited: the Dapr CLI fills
## in no placeholder, so the runner writes the redis profile, components/
## local and components/config.yaml out with every value in place
## (tools/runner/cliprofile.go; a unit test fails when it is stale).
cli-profile: bin/runner
	@bin/runner -f dapr.yaml -write-cli-profile components/cli

## lint: staticcheck (from the Go module proxy, pinned, installed into
## .bin once) on every module, the fault suite's build tag included, and
## exhaustive on the services.
lint: $(STATICCHECK) $(EXHAUSTIVE)
	@for m in $(UNIT_MODULES) e2e; do echo ">> staticcheck $$m"; (cd $$m && $(CURDIR)/$(STATICCHECK) ./...); done
	@echo ">> staticcheck e2e -tags faults"; cd e2e && $(CURDIR)/$(STATICCHECK) -tags faults ./...
	@# A switch over a service's typed state names every value: a default
	@# does not count, so a new state breaks the build where it is ignored.
	@for s in $(SERVICES); do echo ">> exhaustive services/$$s"; (cd services/$$s && $(CURDIR)/$(EXHAUSTIVE) ./...); done

$(EXHAUSTIVE):
	@echo ">> installing exhaustive $(EXHAUSTIVE_VERSION) into .bin"
	@mkdir -p .bin && GOBIN=$(CURDIR)/.bin/tmp-exhaustive $(GO) install github.com/nishanths/exhaustive/cmd/exhaustive@$(EXHAUSTIVE_VERSION) \
		&& mv .bin/tmp-exhaustive/exhaustive $@ && rmdir .bin/tmp-exhaustive

$(STATICCHECK):
	@echo ">> installing staticcheck $(STATICCHECK_VERSION) into .bin"
	@mkdir -p .bin && GOBIN=$(CURDIR)/.bin/tmp-staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) \
		&& mv .bin/tmp-staticcheck/staticcheck $@ && rmdir .bin/tmp-staticcheck

vet:
	@for m in $(UNIT_MODULES) e2e; do echo ">> go vet $$m"; (cd $$m && $(GO) vet ./...); done
	@echo ">> services' use cases and rules free of Dapr (tools/scripts/check-layers)"; GO=$(GO) tools/scripts/check-layers
	@# Each module of go.work (go list -m names them all) declares what it needs: it builds without go.work too.
	@dirs=$$($(GO) list -m -f '{{.Dir}}'); for d in $$dirs; do m=$${d#$(CURDIR)/}; echo ">> GOWORK=off go vet $$m"; (cd $$d && GOWORK=off $(GO) vet ./...); done
	@echo ">> GOWORK=off go vet e2e -tags faults"; cd e2e && GOWORK=off $(GO) vet -tags faults ./...

test-unit:
	@for m in $(UNIT_MODULES); do echo ">> go test -race $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

## test-daprd: the JetStream fix our daprd carries (tools/daprd/patches),
## tested as daprd compiles it: in parallel mode a message is acknowledged
## only after its handler answered. (The RabbitMQ patch is covered by the
## fault suite on postgres-rabbitmq.)
test-daprd: daprd
	@echo ">> go test -race tools/daprd (components-contrib as our daprd builds it)"
	@cd tools/daprd && GOWORK=off $(GO) test -race -count=1 .

## chromium: the browser test of the suite (e2e/browser_test.go) drives a
## headless Chromium. Found (CHROMIUM, or on PATH): nothing to do. Root with
## apt-get (a fresh Debian): install it. Otherwise that test is skipped.
chromium:
	@if [ -n "$${CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo ">> installing Chromium for the browser test: apt-get update && apt-get install -y chromium"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo ">> could not install Chromium: the browser test will be skipped"; \
	else \
		echo ">> no Chromium found: the browser test will be skipped (apt-get install chromium, or set CHROMIUM=/path/to/chrome)"; \
	fi

## The end-to-end suite starts the whole system through the runner, with
## real daprd sidecars, on the embedded profile.
test-e2e: daprd build chromium
	@echo ">> end-to-end suite (profile $(PROFILE), $(REPLICAS) instance(s) of each service)"
	cd e2e && E2E_PROFILE=$(PROFILE) E2E_REPLICAS=$(REPLICAS) GO=$(GO) ../tools/scripts/go-test -count=1 -timeout 30m -v .

## test-cli: the run file under the real Dapr CLI (e2e/cli): every sidecar
## healthy, a purchase through it, the CLI stopped cleanly. It needs the
## CLI (DAPR_CLI, dapr on PATH, or shared/tools/dapr beside an ancestor
## folder) and Redis on 127.0.0.1:6379, as after dapr init; without either
## it is skipped, saying which.
test-cli: daprd build
	@echo ">> the run file under the Dapr CLI (e2e/cli)"
	cd e2e && GO=$(GO) ../tools/scripts/go-test -count=1 -timeout 10m -v ./cli

## Each fault case starts its own system, runs 100 purchases at once while
## the fault strikes, and checks that nothing is lost, bought twice, left
## undelivered or stuck. It prints a table and keeps it in bench/results/.
test-faults: daprd build
	@echo ">> fault-injection suite (profile $(PROFILE), $(REPLICAS) instance(s) of each service)"
	cd e2e && E2E_PROFILE=$(PROFILE) E2E_REPLICAS=$(REPLICAS) FAULTS_REPORT_DIR=$(CURDIR)/bench/results GO=$(GO) ../tools/scripts/go-test -tags faults -run '^TestFault' -count=1 -timeout 40m -v .

test: vet lint test-unit test-daprd test-e2e test-cli

## Both suites, unchanged, on every profile whose servers answer here; the
## profiles whose servers do not are skipped with the reason. PROFILES=…
## narrows the list.
test-profiles: daprd build
	@tools/scripts/test-profiles

## test-replicas: the end-to-end and fault suites with two instances of
## every service (each beside its own daprd; gateway's public port behind
## the runner's round-robin balancer) on every profile whose servers
## answer; the fault suite's replica cases (one instance killed, a rolling
## restart) run only here. SUITES=e2e narrows it.
test-replicas: daprd build
	@REPLICAS=2 SUITES="$${SUITES:-e2e faults}" tools/scripts/test-profiles

## The benchmark of docs/performance.md, on PROFILE; BENCH_FLAGS=… passes
## flags (-rates, -step, -e2e-rate, -e2e-for, -users). It writes
## bench/results/<date>-<profile>.json and prints the table.
bench: daprd build
	$(GO) run ./tools/bench -profile $(PROFILE) $(BENCH_FLAGS)

## bench-sustain: the sustained table of docs/performance.md: the end-to-end
## phase alone for 60 s (after 10 s of warm-up) on each profile at its
## target rate (SUSTAIN_RATES: profile=rate,…), every purchase with a
## webhook; each run writes bench/results/<date>-<profile>-sustain-<rate>.json.
SUSTAIN_RATES ?= embedded=200 redis=200 postgres-rabbitmq=150
bench-sustain: daprd build
	@for pr in $(SUSTAIN_RATES); do \
		echo ">> sustained: $${pr%%=*} at $${pr##*=}/s for 60 s"; \
		$(GO) run ./tools/bench -sustain -profile $${pr%%=*} -e2e-rate $${pr##*=} -e2e-for 60s -e2e-warmup 10s || exit 1; \
	done

## soak: SOAK_RATE purchases/s (100) for SOAK_FOR (10m) on the embedded
## profile; it prints each process's RSS at the start, half-way and the end, the
## data directory's growth per 1,000 purchases and the purchases lost, and
## writes bench/results/<date>-embedded-soak-<rate>.json.
SOAK_RATE ?= 100
SOAK_FOR ?= 10m
soak: daprd build
	$(GO) run ./tools/bench -soak -profile embedded -e2e-rate $(SOAK_RATE) -e2e-for $(SOAK_FOR) -e2e-warmup 30s

## compose-secrets: the secrets file and, per app, the token pair its
## container and its daprd share (kept when they exist).
COMPOSE_TOKEN_APPS := gateway voucher-int voucher sms voucher-provider

compose-secrets: build
	@bin/runner -make-secrets deploy/compose/secrets.json
	@# gateway's daprd reads it as the user daprd's images run as (65532):
	@# that user's, mode 0600, as root; otherwise an ACL for that user, and
	@# only without setfacl readable by all, said out loud.
	@f=deploy/compose/secrets.json; chmod 0600 $$f; \
	if [ "$$(id -u)" = 0 ]; then chown 65532:65532 $$f; \
	elif [ "$$(stat -c %u $$f)" != 65532 ] && ! setfacl -m u:65532:r $$f 2>/dev/null; then \
		echo ">> not root and no setfacl: $$f is made readable by all (0644) for daprd's user 65532; chown 65532 it as root instead"; \
		chmod 0644 $$f; fi
	@for app in $(COMPOSE_TOKEN_APPS); do \
		f=deploy/compose/tokens/$$app.env; \
		[ -s $$f ] || ( umask 077; printf 'APP_API_TOKEN=%s\nDAPR_API_TOKEN=%s\n' \
			"$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
			"$$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > $$f ); \
	done
	@echo "deploy/compose/secrets.json and deploy/compose/tokens/*.env are ready (git-ignored); docker compose up --build"

## compose-tool: the Compose CLI, once (tools/compose; Debian's
## docker-compose 1.29 does not read a Compose file with a top-level name).
compose-tool: $(COMPOSE)

$(COMPOSE): tools/compose/go.mod tools/compose/go.sum
	@echo ">> building docker compose $(COMPOSE_VERSION) into $@ (once, a minute or two)"
	@cd tools/compose && GOWORK=off CGO_ENABLED=0 $(GO) build -trimpath \
		-ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)" \
		-o $(CURDIR)/$@ github.com/docker/compose/v5/cmd

## docker-engine: an engine that answers (as root on Debian: docker.io
## installed and dockerd started when missing; tools/scripts/docker-engine).
docker-engine:
	@tools/scripts/docker-engine

## compose-images: every image docker-compose.yml runs, built here with no
## registry (deploy/compose/images/build.sh).
compose-images: daprd docker-engine
	@DAPR_VERSION=$(DAPR_VERSION) DAPRD=$(DAPRD) GO=$(GO) deploy/compose/images/build.sh

## compose-test-images: the images and the test's peer (e2e/compose/peer).
compose-test-images: daprd docker-engine
	@DAPR_VERSION=$(DAPR_VERSION) DAPRD=$(DAPRD) GO=$(GO) deploy/compose/images/build.sh --with-peer

compose-up: compose-tool compose-images compose-secrets
	@COMPOSE=$(COMPOSE) tools/scripts/compose up

compose-down: compose-tool
	@COMPOSE=$(COMPOSE) tools/scripts/compose down

## test-compose: the Compose test (e2e/compose) on its own project
## (vouchers-test), with the peer image it needs; a stack of yours
## (project vouchers) is left alone.
test-compose: compose-tool compose-test-images compose-secrets
	@echo ">> the Compose test (e2e/compose)"
	cd e2e && COMPOSE=$(CURDIR)/$(COMPOSE) COMPOSE_TEST_REQUIRED=1 GO=$(GO) ../tools/scripts/go-test -count=1 -timeout 25m -v ./compose

## bench-compose: the Compose stack under load, e2e/compose's steady load
## alone: COMPOSE_LOAD_RATE purchases/s (50) for COMPOSE_LOAD_FOR (30s),
## each with a webhook to a receiver on the Compose network; it prints the
## time from purchase to webhook and every container's RSS.
bench-compose: compose-tool compose-test-images compose-secrets
	cd e2e && COMPOSE=$(CURDIR)/$(COMPOSE) COMPOSE_TEST_REQUIRED=1 COMPOSE_LOAD_RATE=$${COMPOSE_LOAD_RATE:-50} \
		COMPOSE_LOAD_FOR=$${COMPOSE_LOAD_FOR:-30s} $(GO) test -count=1 -timeout 25m -v -run '^TestCompose$$/^steady_load$$' ./compose

## k8s-tools: the control plane (kube-apiserver, kube-controller-manager,
## kube-scheduler), a node's kubelet and kube-proxy, and kubectl at
## K8S_VERSION, with etcd and CoreDNS, into .bin/k8s (once; tools/k8s,
## tools/coredns).
k8s-tools: $(K8S_TOOLS) $(COREDNS)

$(K8S_TOOLS) &: tools/k8s/go.mod tools/k8s/go.sum tools/k8s/cmd/etcd/main.go
	@echo ">> building Kubernetes $(K8S_VERSION) (control plane, kubelet, kube-proxy, kubectl) and etcd into .bin/k8s (once: about 10 minutes on two cores)"
	@cd tools/k8s && GOWORK=off CGO_ENABLED=0 $(GO) build -trimpath \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION)" \
		-o $(CURDIR)/.bin/k8s/ k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
		k8s.io/kubernetes/cmd/kubectl ./cmd/etcd

## The node's cluster DNS: CoreDNS with the kubernetes plugin (tools/coredns).
$(COREDNS): tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	@echo ">> building CoreDNS into $@ (once)"
	@cd tools/coredns && GOWORK=off CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(CURDIR)/$@ .

## dapr-control-plane: Dapr's sentry, operator and sidecar injector at
## DAPR_VERSION, from the copy of the dapr module make daprd made.
dapr-control-plane: $(DAPR_CONTROL_PLANE)

$(DAPR_CONTROL_PLANE) &: $(DAPRD)
	@echo ">> building Dapr $(DAPR_VERSION)'s sentry, operator and injector into .bin/dapr"
	@cd tools/daprd && GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local $(GO) build -trimpath \
		-ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$(DAPR_VERSION)" \
		-o $(CURDIR)/.bin/dapr/ github.com/dapr/dapr/cmd/sentry github.com/dapr/dapr/cmd/operator github.com/dapr/dapr/cmd/injector

## k8s-node: Debian's containerd, runc and CNI plugins for test-k8s's
## node, installed as root when missing (tools/scripts/k8s-node).
k8s-node:
	@tools/scripts/k8s-node

## test-k8s: deploy/kubernetes on etcd, kube-apiserver and
## kube-controller-manager with Dapr's sentry, operator and injector
## (e2e/k8s); then a node of that cluster (kubelet, kube-proxy, the
## scheduler, containerd, CoreDNS) runs the local overlay's pods from the
## images compose-images built, and a customer uses them through
## gateway's Service. As root: each Dapr process runs as the user 65532
## with its Sentry token in a mount namespace of its own.
test-k8s: k8s-tools dapr-control-plane compose-images k8s-node
	@echo ">> Kubernetes with Dapr injection (e2e/k8s)"
	cd e2e && K8S_TEST_REQUIRED=1 DAPR_VERSION=$(DAPR_VERSION) GO=$(GO) ../tools/scripts/go-test -count=1 -timeout 25m -v ./k8s

clean:
	rm -rf bin $(DATA_DIR)
