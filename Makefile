# Woolly: the README's commands. Each target installs what it needs first.
# Build outputs go to a cache outside the clone so fresh clones (and CI) reuse them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/woolly/target
MODEL ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
WOOLLY := $(CARGO_TARGET_DIR)/release/woolly

.PHONY: setup build test run bench fmt clippy

setup:
	@./scripts/setup.sh

build: setup
	cargo build --release --workspace

test: setup
	cargo test --release --workspace

run: build
	$(WOOLLY) info -m $(MODEL)


fmt:
	cargo fmt --all

clippy:
	cargo clippy --release --workspace --all-targets
