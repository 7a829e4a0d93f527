# Kafka Microservice Kit — every command a user needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

MODULE  := github.com/kafkakit/kit
BROKER  ?= embedded
# `make up` only: where orders-api, stock-service and orders-processor keep state, instances of every service, of single services.
DB        ?= sqlite
SCALE     ?= 1
INSTANCES ?=
# `make up` only: sasl_ssl locks the broker down (TLS, SCRAM, ACLs); empty is plaintext.
SECURITY  ?=
# `make up` only: 1 puts a proxy on every service's links, for `kit faults` (real Kafka and PostgreSQL links only).
FAULTS    ?=
# Go packages with unit tests: everything but the features, which `make features` runs per broker.
# The longest first (real Kafka, the lessons' stacks, the harness, the load runner end to end): go
# test starts packages in the order given, and one of them starting last was the stage's tail.
UNIT_FIRST := docs harness/broker/kafka harness loadtest
empty :=
space := $(empty) $(empty)
UNIT    = $(addprefix $(MODULE)/,$(UNIT_FIRST)) \
	$$(go list $(MODULE)/... | grep -vE '^$(MODULE)/(features|$(subst $(space),|,$(UNIT_FIRST)))$$')
# `make check`'s packages: UNIT without those whose tests start a process beside them — real Kafka
# (a JVM), Docker, PostgreSQL, the services (harness.Start, the docs' lessons, the load runner end to
# end). The embedded broker (kfake) runs in-process and stays in. In the packages kept, a test that
# starts processes skips under -short, saying so.
CHECK_SKIP := features|docs|harness|harness/broker/kafka|harness/broker/testcontainers|harness/postgres|loadtest
CHECK   = $$(go list $(MODULE)/... | grep -vE '^$(MODULE)/($(CHECK_SKIP))$$')
# Drop the per-test noise of -v but keep every skip reason, failure and package result.
QUIET_V := sed -E '/^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)/d'
# What CI reads: JUnit XML and Cucumber JSON, rewritten by every run (git-ignored).
REPORTS := $(CURDIR)/features/reports
# Pinned tools, built from the Go module proxy on first use.
GOTESTSUM  := go run gotest.tools/gotestsum@v1.13.0
ACTIONLINT := go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# What a features run writes for CI, named $(1): JUnit XML and Cucumber JSON from godog's own
# formatters (the console keeps the pretty output), and a failed scenario's whole service logs.
FEATURES_REPORTS = FEATURES_LOG_DIR=$(REPORTS)/logs/$(1) \
	GODOG_FORMAT=pretty,junit:$(REPORTS)/$(1).junit.xml,cucumber:$(REPORTS)/$(1).cucumber.json
# The stages of `make test`, in order; each gets a line in the summary that ends it. a+b,c runs b
# then c while a runs (scripts/stages.sh). Beside unit (about 2/3 of both cores, real Kafka of its
# own): only stages with no broker process and no fixed port. After it, the cluster stage (three
# brokers) beside the single-broker stages one at a time, and e2e (kit up's fixed ports, which no
# other stage uses): two real-Kafka stacks at once take about 1.3 of the 2 cores.
TEST_STAGES := setup unit+vet,workflow,web-test,features-embedded features-cluster+features-kafka,features-security,features-network,e2e
# A load run of about a minute (floor, 200 orders/s, a ramp to 1000/s) for CI's artifact.
# Latency thresholds are off (a shared runner's numbers are noise); every order must still end.
LOADTEST_SHORT := -warmup 2s -duration 10s -ramp 500,1000 -step-duration 10s \
	-floor-producers client -idle 0 -broker-warmup 0 \
	-max-ratio-p50 0 -max-ratio-p99 0 -min-sustained-rate 0

.PHONY: help setup setup-prometheus up build web test check vet workflow unit schemas features features-embedded features-kafka features-cluster features-security features-network \
	web-test e2e scenarios loadtest loadtest-short clean

help: ## list the commands
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## install what this machine lacks (Debian packages as root, npm and Go modules); quiet when all is there
	@scripts/setup.sh

setup-prometheus: ## setup, plus the Prometheus server and promtool (or PROMETHEUS=1 make setup)
	@PROMETHEUS=1 scripts/setup.sh

# A built binary, not `go run`: go run exits 1 after any Ctrl-C, whatever kit returns.
up: setup web ## run everything here: BROKER=embedded|kafka|kafka-cluster, SECURITY=sasl_ssl (locked-down Kafka), FAULTS=1 (kit faults), DB=sqlite|postgres, SCALE=n (2nd instances on 8181-8184), INSTANCES=orders-processor=3, PROMETHEUS=1 (Prometheus on 9090); page on 5173
	go build -o bin/kit ./harness/cmd/kit
	exec bin/kit up -broker $(BROKER) -db $(DB) -scale $(SCALE) -instances '$(INSTANCES)' -security '$(SECURITY)' -faults=$(if $(filter 1,$(FAULTS)),true,false)

build: web ## build the four services into bin/ and the page into web/dist
	CGO_ENABLED=0 go build -o bin/ $(MODULE)/services/orders-api $(MODULE)/services/orders-processor \
		$(MODULE)/services/notifications-api $(MODULE)/services/stock-service $(MODULE)/harness/cmd/kit

web: setup ## build the page (web/dist)
	cd web && npm run build

test: ## everything CI runs: setup, vet, workflow lint, unit tests (-race), features on embedded and real Kafka, scaling and failover on the cluster, web unit and browser tests; some beside unit (TEST_STAGES); a summary per stage
	@MAKE='$(MAKE)' scripts/stages.sh $(TEST_STAGES)

check: ## the inner loop, about a minute warm: go vet, then the unit tests that need no broker, database or service process (-race -short)
	go vet $(MODULE)/...
	go test -race -short -count=1 $(CHECK) 2>&1 | grep -v 'no test files'

vet: ## go vet every module
	go vet $(MODULE)/...

workflow: ## check the GitHub Actions workflow with actionlint
	$(ACTIONLINT) .github/workflows/ci.yml

# Under with-postgres: one PostgreSQL server for the stores' PostgreSQL tests (a database each).
unit: ## unit tests of every Go module, with the race detector, beside a PostgreSQL server; JUnit in features/reports/unit.junit.xml
	@mkdir -p $(REPORTS)
	go run ./harness/cmd/with-postgres -- $(GOTESTSUM) --format standard-verbose --hide-summary skipped --junitfile $(REPORTS)/unit.junit.xml \
		-- -race -count=1 -timeout 25m $(UNIT) 2>&1 | $(QUIET_V)
# stream_memory_test.go is built without -race only (the race detector inflates the stacks and heap its tests
# measure), so the line above skips it: its tests run again here without -race, their names read from the file.
	go test -count=1 -run "^($$(sed -nE 's/^func (Test[A-Za-z0-9_]+)\(.*/\1/p' services/notifications-api/stream_memory_test.go | paste -sd'|' -))\$$" \
		$(MODULE)/services/notifications-api

schemas: ## the compatibility gate alone: every contract's history registered in order in Apicurio Registry (started for the run; Java 17 + Maven)
	go run $(MODULE)/harness/cmd/kit schemas check

features: features-embedded features-kafka ## the Gherkin features on the embedded broker, then on real Kafka 3.9 + ZooKeeper

# The pretty console, plus JUnit XML and Cucumber JSON per broker from godog's own formatters.
# Neither proxies the services' links: the @network scenarios run in features-network.
features-embedded features-kafka: features-%:
	@mkdir -p $(REPORTS)
	BROKER=$* $(call FEATURES_REPORTS,features-$*) \
		go test -count=1 -v ./features 2>&1 | $(QUIET_V)

# Every service's links to real Kafka and to PostgreSQL through a proxy of its own (FAULTS=1): the
# embedded broker cannot give each service a proxied address. One pass on DB=postgres, so that the
# @postgres scenarios (orders-api cut from its database) run beside the others; the @cluster one
# runs in features-cluster.
features-network: ## network faults (@network): slow, reset and cut links between the services and real Kafka or PostgreSQL
	@mkdir -p $(REPORTS)
	BROKER=kafka DB=postgres FAULTS=1 GODOG_TAGS='@network' \
	$(call FEATURES_REPORTS,features-network) \
		go test -count=1 -v ./features 2>&1 | $(QUIET_V)

# Only the scaling and failover scenarios (@scaling, @cluster): the others ran on both brokers already.
# FAULTS=1 puts the proxies in (one stack for the stage): the @network @cluster scenario cuts one
# broker from the others; the other scenarios break no link and only pass through them.
CLUSTER_INSTANCES := orders-api=2,orders-processor=3,notifications-api=2,stock-service=2
features-cluster: ## the scaling and failover scenarios, and a broker cut from the others, on three Kafka brokers, PostgreSQL and several instances of each service
	@mkdir -p $(REPORTS)
	BROKER=kafka-cluster DB=postgres FAULTS=1 INSTANCES=$(CLUSTER_INSTANCES) GODOG_TAGS='@scaling,@cluster' \
	$(call FEATURES_REPORTS,features-cluster) \
		go test -count=1 -v ./features 2>&1 | $(QUIET_V)

# Only the @security scenarios, on real Kafka locked down: SASL_SSL with SCRAM-SHA-512, a CA of the
# stack's own, ACLs from services/events/principals.go. The other stages run in plaintext and skip them.
features-security: ## who may write where: the @security scenarios on real Kafka with SASL_SSL, SCRAM users and ACLs
	@mkdir -p $(REPORTS)
	BROKER=kafka SECURITY=sasl_ssl GODOG_TAGS='@security' \
	$(call FEATURES_REPORTS,features-security) \
		go test -count=1 -v ./features 2>&1 | $(QUIET_V)

web-test: setup ## the page's unit tests (vitest); JUnit in features/reports/web-test.junit.xml
	cd web && npm test -- --reporter=default --reporter=junit --outputFile.junit=$(REPORTS)/web-test.junit.xml

# node's test runner takes reporters from NODE_OPTIONS too: the console as before, plus JUnit.
e2e: web ## the browser test: a real stack, Debian's chromium driven by playwright-core
	@mkdir -p $(REPORTS)
	NODE_OPTIONS='--test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit --test-reporter-destination=$(REPORTS)/e2e.junit.xml' \
		web/e2e/with-stack.sh bash -c 'cd web && npm run test:e2e'

scenarios: ## the features against a running deployment (e.g. docker compose up)
	@mkdir -p $(REPORTS)
	ORDERS_API_URL=$${ORDERS_API_URL:-http://localhost:8081} \
	ORDERS_PROCESSOR_URL=$${ORDERS_PROCESSOR_URL:-http://localhost:8082} \
	NOTIFICATIONS_API_URL=$${NOTIFICATIONS_API_URL:-http://localhost:8083} \
	STOCK_SERVICE_URL=$${STOCK_SERVICE_URL:-http://localhost:8084} \
	KAFKA_BROKERS=$${KAFKA_BROKERS:-localhost:9093} \
	$(call FEATURES_REPORTS,features-external) \
	go test -count=1 -v ./features 2>&1 | $(QUIET_V)

# Built, not `go run`, so its exit status (99: thresholds missed, 1: tool error) reaches make.
loadtest: setup ## the load runner's standard profile (BROKER=embedded|kafka|kafka-cluster, DB=sqlite|postgres, SECURITY=sasl_ssl, INSTANCES=orders-processor=2,...); table on stdout, reports in loadtest/results
	go build -o bin/loadtest $(MODULE)/loadtest
	BROKER=$(BROKER) DB=$(DB) INSTANCES='$(INSTANCES)' SECURITY='$(SECURITY)' bin/loadtest -out loadtest/results $(LOADTEST_FLAGS)

loadtest-short: ## a one-minute load run (what CI uploads): no latency thresholds, every order must complete
	@$(MAKE) --no-print-directory loadtest LOADTEST_FLAGS='$(LOADTEST_SHORT)'

clean: ## remove build output and reports
	rm -rf bin web/dist $(REPORTS)
