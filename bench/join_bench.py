#!/usr/bin/env python3
"""Marts benchmark (issue 10): `hubaudit join` and `hubaudit report` against DuckDB, side by side.

    join_bench.py --hubaudit BIN [--sizes 1000,3000,10000] [--rounds 3] [--work DIR]
                  [--findings-per-image 300] [--seed 10] [--ingest [--ingest-mb 200]]

For each size N, a world from bench/gen_marts_world.py (cached in WORK/world-N while its
parameters match): staged repositories, tags, scans and findings for two snapshots
(2021-08-10 and 2021-08-24, ~300 findings per image) and 365 daily pull_counts partitions.
Setup, once per size and not timed: `hubaudit join --snapshot 2021-08-10` (the previous
snapshot's marts, which the joins read). Then in each round, the contenders interleaved and
their order turned each round (machine noise hits them alike):

- hubaudit join:   `hubaudit join --snapshot 2021-08-24` (the steady state: the snapshot and
                   the previous one, latest scans and findings, the day's pull counts, the
                   previous images mart; it replaces the partitions the last round wrote);
- duckdb join:     bench/run_marts_sql.py join (bench/marts.sql) on the same input files,
                   writing to WORK/duckdb-N;
- hubaudit report: `hubaudit report --date 2021-08-24 --window 2021-08-10..2021-08-24`;
- duckdb report:   bench/run_marts_sql.py report on the same marts files (hubaudit's).

Each contender is a fresh child process; wall time from its start to its exit, peak RSS from
os.wait4 (ru_maxrss of that child alone; the DuckDB child is a Python interpreter with the
duckdb module, about 60 MB of it before any work). The DuckDB runner checks inputs against
their manifests (size, sha256) and writes manifests with sha256 and fsync like hubaudit; the
time it spent on that is printed as well. Medians of the rounds. Printed: a table per size,
then growth (seconds per 1,000 images and the exponent between sizes: 1.0 = linear).
`--ingest`: Trivy JSON → Parquet throughput of `hubaudit scan --from-reports` on generated
reports (bench/gen_trivy_reports.py, ~MB megabytes), MB/s of JSON, medians of the rounds.
Results also go to WORK/results.json.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
S1, S2 = "2021-08-10", "2021-08-24"
WINDOW = f"{S1}..{S2}"


def measure(cmd, cwd=None) -> dict:
    """Runs cmd as a fresh child; wall seconds, peak RSS (MB) and CPU of that child alone (its
    rusage from wait4), exit code, stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if code not in (0, 1):
        sys.stderr.write(stderr)
        raise SystemExit(f"failed ({code}): {' '.join(map(str, cmd))}")
    return {"wall": wall, "rss_mb": ru.ru_maxrss / 1024, "cpu": ru.ru_utime + ru.ru_stime,
            "code": code, "stdout": stdout, "stderr": stderr}


def cached(folder: Path, params: dict) -> bool:
    try:
        return json.loads((folder / ".gen-params").read_text())["params"] == params
    except (OSError, ValueError, KeyError):
        return False


def world(work: Path, py: str, n: int, fpi: int, seed: int) -> Path:
    folder = work / f"world-{n}"
    params = {"generator": "1", "images": n, "findings_per_image": fpi, "seed": seed,
              "snapshots": f"{S1},{S2}", "days": 365, "source": "bench"}
    if not cached(folder, params):
        print(f"generating {folder} ({n} images) ...", flush=True)
        r = measure([py, str(HERE / "gen_marts_world.py"), "--images", str(n), "--out",
                     str(folder), "--findings-per-image", str(fpi), "--seed", str(seed)])
        print(r["stdout"].strip(), f"({r['wall']:.1f} s)", flush=True)
    return folder


def findings_rows(folder: Path) -> int:
    m = folder / "2_staged" / "findings" / f"snapshot={S2}" / "_manifest.json"
    return json.loads(m.read_text())["rows"]


def bench_size(args, py: str, n: int) -> dict:
    folder = world(args.work, py, n, args.findings_per_image, args.seed)
    duck = args.work / f"duckdb-{n}"
    shutil.rmtree(duck, ignore_errors=True)
    for stale in ["3_marts", "4_report", ".tmp"]:
        shutil.rmtree(folder / stale, ignore_errors=True)
    hub = [args.hubaudit]
    setup = measure(hub + ["join", "--datasets", str(folder), "--snapshot", S1], cwd=REPO)
    print(f"  setup: hubaudit join {S1} {setup['wall']:.2f} s, {setup['rss_mb']:.0f} MB", flush=True)
    contenders = {
        "hub_join": hub + ["join", "--datasets", str(folder), "--snapshot", S2],
        "duck_join": [py, str(HERE / "run_marts_sql.py"), "join", "--datasets", str(folder),
                      "--snapshot", S2, "--out", str(duck)],
        "hub_report": hub + ["report", "--datasets", str(folder), "--date", S2, "--window",
                             WINDOW, "--tolerance", "2", "--threshold", "50"],
        "duck_report": [py, str(HERE / "run_marts_sql.py"), "report", "--datasets",
                        str(folder), "--date", S2, "--window", WINDOW, "--tolerance", "2",
                        "--threshold", "50", "--out", str(duck)],
    }
    runs = {k: [] for k in contenders}
    for rnd in range(args.rounds):
        # joins first (the report reads the images mart of S2), each pair's order turned
        for pair in (["hub_join", "duck_join"], ["hub_report", "duck_report"]):
            for k in (pair if rnd % 2 == 0 else pair[::-1]):
                r = measure(contenders[k], cwd=REPO)
                if k.startswith("duck"):
                    r["detail"] = json.loads(r["stdout"].strip().splitlines()[-1])
                runs[k].append(r)
        line = ", ".join(f"{k} {runs[k][-1]['wall']:.2f} s/{runs[k][-1]['rss_mb']:.0f} MB"
                         for k in contenders)
        print(f"  round {rnd + 1}: {line}", flush=True)
    med = {k: {"wall": statistics.median(r["wall"] for r in v),
               "rss_mb": statistics.median(r["rss_mb"] for r in v),
               "cpu": statistics.median(r["cpu"] for r in v)} for k, v in runs.items()}
    for k in ("duck_join", "duck_report"):
        med[k]["integrity"] = statistics.median(r["detail"]["integrity_seconds"] for r in runs[k])
    html = folder / "4_report" / S2 / "index.html"
    return {
        "images": n,
        "findings": findings_rows(folder),
        "setup_join_s1": {"wall": setup["wall"], "rss_mb": setup["rss_mb"]},
        "median": med,
        "rounds": {k: [{"wall": r["wall"], "rss_mb": r["rss_mb"], "cpu": r["cpu"]} for r in v]
                   for k, v in runs.items()},
        "index_html_bytes": html.stat().st_size if html.exists() else None,
        "join_summary": runs["hub_join"][-1]["stdout"].strip(),
        "report_summary": runs["hub_report"][-1]["stdout"].strip(),
    }


def print_table(results: list, rounds: int):
    print(f"\nmarts benchmark, medians of {rounds} round(s); join = `join --snapshot {S2}` after "
          f"{S1}; report = `report --date {S2} --window {WINDOW}`")
    head = (f"{'images':>7} {'findings':>9} | {'hub join':>14} {'duckdb join':>14} {'ratio':>5} | "
            f"{'hub report':>14} {'duckdb report':>14} {'ratio':>5} | {'index.html':>10}")
    print(head)
    print("-" * len(head))
    fmt = lambda m: f"{m['wall']:6.2f} s {m['rss_mb']:4.0f} MB"
    for r in results:
        m = r["median"]
        jr = m["hub_join"]["wall"] / m["duck_join"]["wall"]
        rr = m["hub_report"]["wall"] / m["duck_report"]["wall"]
        html = f"{r['index_html_bytes'] / 1024:.0f} KB" if r["index_html_bytes"] else "-"
        print(f"{r['images']:>7} {r['findings']:>9} | {fmt(m['hub_join']):>14} "
              f"{fmt(m['duck_join']):>14} {jr:5.2f} | {fmt(m['hub_report']):>14} "
              f"{fmt(m['duck_report']):>14} {rr:5.2f} | {html:>10}")
    print("(duckdb: a Python child running bench/marts.sql; of its time, manifest checks and "
          "writes: " + ", ".join(f"join {r['median']['duck_join']['integrity']:.2f} s / report "
                                 f"{r['median']['duck_report']['integrity']:.2f} s at {r['images']}"
                                 for r in results) + ")")
    print("cpu seconds (user+sys) of the median rounds: " + "; ".join(
        f"{r['images']}: hub join {r['median']['hub_join']['cpu']:.2f}, duckdb join "
        f"{r['median']['duck_join']['cpu']:.2f}, hub report {r['median']['hub_report']['cpu']:.2f}, "
        f"duckdb report {r['median']['duck_report']['cpu']:.2f}" for r in results))
    print("\ngrowth: seconds per 1,000 images (exponent from the previous size; 1.00 = linear)")
    for k in ("hub_join", "duck_join", "hub_report", "duck_report"):
        cells, prev = [], None
        for r in results:
            t = r["median"][k]["wall"]
            cell = f"{r['images']}: {t / r['images'] * 1000:.3f}"
            if prev:
                e = math.log(t / prev[1]) / math.log(r["images"] / prev[0])
                cell += f" (^{e:.2f})"
            cells.append(cell)
            prev = (r["images"], t)
        print(f"  {k:<12} " + ", ".join(cells))


def ingest(args, py: str) -> dict:
    folder = args.work / f"trivy-reports-{args.ingest_mb:g}mb"
    params = {"generator": "1", "mb": args.ingest_mb, "findings_per_image": args.findings_per_image,
              "seed": args.seed}
    if not cached(folder, params):
        print(f"generating {folder} ...", flush=True)
        r = measure([py, str(HERE / "gen_trivy_reports.py"), "--out", str(folder), "--mb",
                     str(args.ingest_mb), "--findings-per-image", str(args.findings_per_image),
                     "--seed", str(args.seed)])
        print(r["stdout"].strip(), flush=True)
    stats = json.loads((folder / ".gen-params").read_text())["stats"]
    runs = []
    for rnd in range(args.rounds):
        ds = args.work / "ingest-datasets"
        shutil.rmtree(ds, ignore_errors=True)
        r = measure([args.hubaudit, "scan", "--from-reports", str(folder), "--snapshot", S2,
                     "--datasets", str(ds)], cwd=REPO)
        runs.append(r)
        print(f"  ingest round {rnd + 1}: {r['wall']:.2f} s ({stats['bytes'] / 1e6 / r['wall']:.1f} MB/s), "
              f"cpu {r['cpu']:.2f} s, {r['rss_mb']:.0f} MB", flush=True)
    wall = statistics.median(r["wall"] for r in runs)
    out = {"files": stats["files"], "bytes": stats["bytes"], "findings": stats["findings"],
           "wall": wall, "mb_per_s": stats["bytes"] / 1e6 / wall,
           "rss_mb": statistics.median(r["rss_mb"] for r in runs),
           "cpu": statistics.median(r["cpu"] for r in runs),
           "summary": runs[-1]["stdout"].strip()}
    print(f"\ningest (`hubaudit scan --from-reports`), medians of {args.rounds}: {out['files']} "
          f"reports, {out['bytes'] / 1e6:.1f} MB of JSON, {out['findings']} findings in "
          f"{wall:.2f} s = {out['mb_per_s']:.1f} MB/s (target >= 150), cpu {out['cpu']:.2f} s, "
          f"peak RSS {out['rss_mb']:.0f} MB")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hubaudit", required=True, type=Path)
    p.add_argument("--sizes", default="1000,3000,10000")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=REPO / "target" / "bench" / "marts")
    p.add_argument("--findings-per-image", type=int, default=300)
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--ingest", action="store_true", help="also measure Trivy JSON ingest")
    p.add_argument("--ingest-only", action="store_true", help="only the ingest measurement")
    p.add_argument("--ingest-mb", type=float, default=200)
    args = p.parse_args()
    args.hubaudit = args.hubaudit.resolve()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    version = measure([str(args.hubaudit), "--version"])["stdout"].strip()
    import duckdb  # noqa: F401  (the runner needs it; fail here, before generating anything)
    print(f"{version} ({args.hubaudit}); duckdb {duckdb.__version__}; {os.cpu_count()} cores; "
          f"work {args.work}", flush=True)
    results = {"hubaudit": version, "duckdb": duckdb.__version__, "cores": os.cpu_count(),
               "sizes": [], "ingest": None}
    if not args.ingest_only:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            print(f"size {n}:", flush=True)
            results["sizes"].append(bench_size(args, py, n))
            (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print_table(results["sizes"], args.rounds)
    if args.ingest or args.ingest_only:
        results["ingest"] = ingest(args, py)
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
