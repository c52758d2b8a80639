# infini — build, test, benchmark.
CARGO ?= cargo
PREFIX ?= $(HOME)/.local
BIN := target/release/infini

.PHONY: build install test test-deps demo bench fmt lint docs check-docs clean stress

build:
	$(CARGO) build --release

# The binary, its man pages and shell completions (bash, zsh, fish) under $(PREFIX).
install: build
	install -Dm755 $(BIN) $(PREFIX)/bin/infini
	install -Dm644 man/*.1 -t $(PREFIX)/share/man/man1/
	install -Dm644 completions/infini.bash $(PREFIX)/share/bash-completion/completions/infini
	install -Dm644 completions/_infini $(PREFIX)/share/zsh/site-functions/_infini
	install -Dm644 completions/infini.fish $(PREFIX)/share/fish/vendor_completions.d/infini.fish

# Everything CI runs: formatting, lints, unit/property/integration tests (including S3 against a local server).
test: test-deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) check --no-default-features
	$(CARGO) check --no-default-features --features s3
	$(CARGO) clippy --no-default-features --lib -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --no-default-features
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	cd target && rm -rf test_data && $(CARGO) run --profile test --quiet --example seed
	$(CARGO) run --profile test --quiet --example app_state
	$(CARGO) run --profile test --quiet --example writers
	$(CARGO) run --profile test --quiet --example big_blob -- 64
	$(CARGO) run --profile test --quiet --example custom_field
	$(CARGO) run --profile test --quiet --example custom_backend

# Tools the tests need that are not Rust crates (a local S3 server).
test-deps:
	@if [ -x scripts/install-s3-server.sh ]; then scripts/install-s3-server.sh; fi

# A scripted init/put/commit/log/get round in a fresh local repository.
demo: build
	@scripts/demo.sh $(abspath $(BIN))

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Regenerate shell completions and man pages from the clap definitions.
docs:
	$(CARGO) run --quiet -- gen-docs .

clean:
	$(CARGO) clean
	rm -rf bench-work

-include scripts/bench.mk

# Long trials not run by `make test` (which runs a reduced form): 100 SIGKILLed put/commit/gc runs each, on a
# directory repository and on S3; 100 commits racing gc on a slow store, on a directory and on S3; 5000 seeded
# interleavings of a commit and two gc runs.
stress: test-deps
	INFINI_KILL_TRIALS=100 $(CARGO) test --test cli -- killed_at_random fault_storm --nocapture --test-threads 1
	INFINI_RACE_TRIALS=100 $(CARGO) test --test cli -- commit_racing_two_gc_runs --nocapture --test-threads 1
	INFINI_SCHED_TRIALS=5000 $(CARGO) test --test engine -- no_interleaving_of_a_commit_and_two_gc_runs --nocapture
