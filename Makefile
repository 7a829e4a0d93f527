# Kafka Microservice Kit — every command a user needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

MODULE  := github.com/kafkakit/kit
BROKER  ?= embedded
# `make up` only: where orders-api and stock-service keep state, instances of every service, of single services.
DB        ?= sqlite
SCALE     ?= 1
INSTANCES ?=
# Go packages with unit tests: everything but the features, which `make features` runs per broker.
UNIT    = $$(go list $(MODULE)/... | grep -v '^$(MODULE)/features$$')
# Drop the per-test noise of -v but keep every skip reason, failure and package result.
QUIET_V := sed -E '/^(=== (RUN|PAUSE|CONT|NAME)|\s*--- PASS)/d'

.PHONY: help up build web test vet unit features features-embedded features-kafka web-test e2e scenarios loadtest clean

help: ## list the commands
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

up: web ## run everything here: BROKER=embedded|kafka|kafka-cluster, DB=sqlite|postgres, SCALE=n (2nd instances on 8181-8184), INSTANCES=orders-processor=3; page on 5173
	go run ./harness/cmd/kit up -broker $(BROKER) -db $(DB) -scale $(SCALE) -instances '$(INSTANCES)'

build: web ## build the four services into bin/ and the page into web/dist
	CGO_ENABLED=0 go build -o bin/ $(MODULE)/services/orders-api $(MODULE)/services/orders-processor \
		$(MODULE)/services/notifications-api $(MODULE)/services/stock-service $(MODULE)/harness/cmd/kit

web: web/node_modules/.package-lock.json ## build the page (web/dist)
	cd web && npm run build

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

test: vet unit features web-test e2e ## everything CI runs: vet, unit tests (-race), features on embedded and real Kafka, web unit and browser tests

vet: ## go vet every module
	go vet $(MODULE)/...

unit: ## unit tests of every Go module, with the race detector
	go test -race -count=1 -v $(UNIT) 2>&1 | $(QUIET_V)

features: features-embedded features-kafka ## the Gherkin features on the embedded broker, then on real Kafka 3.9 + ZooKeeper

features-embedded:
	BROKER=embedded go test -count=1 -v ./features 2>&1 | $(QUIET_V)

features-kafka:
	BROKER=kafka go test -count=1 -v ./features 2>&1 | $(QUIET_V)

web-test: web/node_modules/.package-lock.json ## the page's unit tests (vitest)
	cd web && npm test

e2e: web ## the browser test: a real stack, Debian's chromium driven by playwright-core
	web/e2e/with-stack.sh bash -c 'cd web && npm run test:e2e'

scenarios: ## the features against a running deployment (e.g. docker compose up)
	ORDERS_API_URL=$${ORDERS_API_URL:-http://localhost:8081} \
	ORDERS_PROCESSOR_URL=$${ORDERS_PROCESSOR_URL:-http://localhost:8082} \
	NOTIFICATIONS_API_URL=$${NOTIFICATIONS_API_URL:-http://localhost:8083} \
	STOCK_SERVICE_URL=$${STOCK_SERVICE_URL:-http://localhost:8084} \
	KAFKA_BROKERS=$${KAFKA_BROKERS:-localhost:9093} \
	go test -count=1 -v ./features 2>&1 | $(QUIET_V)

loadtest: ## the load runner's standard profile (BROKER=embedded|kafka); table on stdout, reports in loadtest/results
	BROKER=$(BROKER) go run $(MODULE)/loadtest -out loadtest/results

clean: ## remove build output
	rm -rf bin web/dist
