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

# Whole pipeline on the embedded sample world, offline: replay Hub, every capture date, report
run: build
    {{bin}} sample run

# Everything CI runs: formatting, lints, unit and integration tests
test: build
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

# Live run for today against the real Docker Hub (release build; token from HUBAUDIT_HUB_TOKEN)
live:
    cargo build --release
    ./target/release/hubaudit run
