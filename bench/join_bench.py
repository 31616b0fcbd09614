#!/usr/bin/env python3
"""Marts benchmark (issue 10): `hubaudit join` and `hubaudit report` against DuckDB, side by side.

    join_bench.py --hubaudit BIN [--sizes 1000,3000,10000] [--rounds 3] [--work DIR]
                  [--findings-per-image 300] [--seed 10] [--ingest [--ingest-mb 200]]

For each size N, a world from bench/gen_marts_world.py (cached in WORK/world-N while its
parameters match): staged repositories, tags, scans and findings for two snapshots
(2021-08-10 and 2021-08-24, ~300 findings per image) and 365 daily pull_counts partitions.
Setup, once per size and not timed: `hubaudit join --snapshot 2021-08-10` (the previous
snapshot's marts, which the joins read). Then in each round, the contenders interleaved and
their order turned each round (machine noise hits them alike); after the first round
bench/check_marts_sql.py checks (untimed) that DuckDB's outputs equal hubaudit's:

- hubaudit join:   `hubaudit join --snapshot 2021-08-24` (the steady state: the snapshot and
                   the previous one, latest scans and findings, the day's pull counts, the
                   previous images mart; it replaces the partitions the last round wrote);
- duckdb join:     bench/run_marts_sql.py join (bench/marts.sql) on the same input files,
                   writing to WORK/duckdb-N;
- hubaudit report: `hubaudit report --date 2021-08-24 --window 2021-07-29..2021-08-10` (the
                   study's window, read from the daily pull counts: each join carries the
                   captures since the previous join into its pulls mart, and the report reads
                   every pulls-mart partition in one plan);
- duckdb report:   bench/run_marts_sql.py report on the same marts files (hubaudit's).

Each contender is a fresh child process; wall time from its start to its exit, peak RSS from
os.wait4 (ru_maxrss of that child alone; the DuckDB child is a Python interpreter with the
duckdb module: 65 MB and 0.15 s of it before any work). A contender whose resident set
passes --rss-limit-mb (12,000) is killed and its size stops there. The DuckDB runner checks inputs against
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
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_marts_world  # noqa: E402
import gen_trivy_reports  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
S1, S2 = "2021-08-10", "2021-08-24"
WINDOW = "2021-07-29..2021-08-10"  # the study's download window


def measure(cmd, cwd=None, rss_limit_mb=None) -> dict:
    """Runs cmd as a fresh child; wall seconds, peak RSS (MB) and CPU of that child alone (its
    rusage from wait4), exit code, stdout. A child whose resident set grows past rss_limit_mb
    is killed (through a pidfd, so never another process) and reported as such."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        done, killed = threading.Event(), []
        if rss_limit_mb:
            pidfd = os.pidfd_open(proc.pid)
            threading.Thread(target=watch, args=(proc.pid, pidfd, rss_limit_mb, done, killed),
                             daemon=True).start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        code = proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    result = {"wall": wall, "rss_mb": ru.ru_maxrss / 1024, "cpu": ru.ru_utime + ru.ru_stime,
              "code": code, "stdout": stdout, "stderr": stderr, "killed": bool(killed)}
    if killed:
        print(f"    killed: resident set over {rss_limit_mb} MB: {' '.join(map(str, cmd))}",
              flush=True)
    elif code not in (0, 1):
        sys.stderr.write(stderr)
        raise SystemExit(f"failed ({code}): {' '.join(map(str, cmd))}")
    return result


def watch(pid: int, pidfd: int, limit_mb: int, done: threading.Event, killed: list):
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        while not done.wait(0.05):
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    rss = int(fh.read().split()[1]) * page / 2**20
            except (OSError, ValueError, IndexError):
                continue
            if rss > limit_mb and not done.is_set():
                killed.append(rss)
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                return
    finally:
        os.close(pidfd)


def cached(folder: Path, params: dict) -> bool:
    try:
        return json.loads((folder / ".gen-params").read_text())["params"] == params
    except (OSError, ValueError, KeyError):
        return False


def world(work: Path, py: str, n: int, fpi: int, seed: int) -> Path:
    folder = work / f"world-{n}"
    params = gen_marts_world.params_of(gen_marts_world.parser().parse_args(
        ["--images", str(n), "--out", str(folder), "--findings-per-image", str(fpi),
         "--seed", str(seed)]))
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
    result = {"images": n, "findings": findings_rows(folder), "killed": None, "median": {},
              "rounds": {}, "index_html_bytes": None}
    setup = measure(hub + ["join", "--datasets", str(folder), "--snapshot", S1], cwd=REPO,
                    rss_limit_mb=args.rss_limit_mb)
    result["setup_join_s1"] = {"wall": setup["wall"], "rss_mb": setup["rss_mb"]}
    print(f"  setup: hubaudit join {S1} {setup['wall']:.2f} s, {setup['rss_mb']:.0f} MB", flush=True)
    if setup["killed"]:
        result["killed"] = f"setup join {S1}"
        return result
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
                r = measure(contenders[k], cwd=REPO, rss_limit_mb=args.rss_limit_mb)
                if r["killed"]:
                    result["killed"] = k
                    break
                if k.startswith("duck"):
                    r["detail"] = json.loads(r["stdout"].strip().splitlines()[-1])
                runs[k].append(r)
            if result["killed"]:
                break
        line = ", ".join(f"{k} {v[-1]['wall']:.2f} s/{v[-1]['rss_mb']:.0f} MB"
                         for k, v in runs.items() if v)
        print(f"  round {rnd + 1}: {line}", flush=True)
        if result["killed"]:
            break
        if rnd == 0 and not args.no_check:
            # not timed: the DuckDB outputs must equal hubaudit's for the times to compare
            c = subprocess.run([py, str(HERE / "check_marts_sql.py"), str(folder), str(duck), S2],
                               capture_output=True, text=True)
            result["check"] = "equal" if c.returncode == 0 else "DIFFERENT"
            print(f"  check: DuckDB's marts and CSVs {'equal' if c.returncode == 0 else 'DIFFER FROM'} "
                  f"hubaudit's (bench/check_marts_sql.py)", flush=True)
            if c.returncode:
                print(c.stdout + c.stderr, flush=True)
    for k, v in runs.items():
        if not v:
            result["median"][k] = None
            continue
        result["median"][k] = {"wall": statistics.median(r["wall"] for r in v),
                               "rss_mb": statistics.median(r["rss_mb"] for r in v),
                               "cpu": statistics.median(r["cpu"] for r in v)}
        if k.startswith("duck"):
            result["median"][k]["integrity"] = statistics.median(
                r["detail"]["integrity_seconds"] for r in v)
        result["rounds"][k] = [{"wall": r["wall"], "rss_mb": r["rss_mb"], "cpu": r["cpu"]}
                               for r in v]
    html = folder / "4_report" / S2 / "index.html"
    if runs["hub_report"] and html.exists():
        result["index_html_bytes"] = html.stat().st_size
    for k, key in (("hub_join", "join_summary"), ("hub_report", "report_summary")):
        if runs[k]:
            result[key] = runs[k][-1]["stdout"].strip()
    return result


def print_table(results: list, rounds: int, limit_mb: int):
    print(f"\nmarts benchmark, medians of {rounds} round(s); join = `join --snapshot {S2}` after "
          f"{S1}; report = `report --date {S2} --window {WINDOW}`")
    head = (f"{'images':>7} {'findings':>9} | {'hub join':>14} {'duckdb join':>14} {'ratio':>5} | "
            f"{'hub report':>14} {'duckdb report':>14} {'ratio':>5} | {'index.html':>10}")
    print(head)
    print("-" * len(head))
    fmt = lambda m: f"{m['wall']:6.2f} s {m['rss_mb']:4.0f} MB" if m else "-"
    ratio = lambda a, b: f"{a['wall'] / b['wall']:5.2f}" if a and b else "-"
    for r in results:
        m = r["median"]
        get = lambda k: m.get(k)
        html = f"{r['index_html_bytes'] / 1024:.0f} KB" if r["index_html_bytes"] else "-"
        print(f"{r['images']:>7} {r['findings']:>9} | {fmt(get('hub_join')):>14} "
              f"{fmt(get('duck_join')):>14} {ratio(get('hub_join'), get('duck_join')):>5} | "
              f"{fmt(get('hub_report')):>14} {fmt(get('duck_report')):>14} "
              f"{ratio(get('hub_report'), get('duck_report')):>5} | {html:>10}")
        if r["killed"]:
            print(f"{'':>17} ^ {r['killed']} killed: resident set over {limit_mb} MB "
                  "(--rss-limit-mb); the rest of this size was not run")
    done = [r for r in results if r["median"].get("duck_join") and r["median"].get("duck_report")]
    if done:
        print("(duckdb: a Python child running bench/marts.sql; of its time, manifest checks and "
              "writes: " + ", ".join(f"join {r['median']['duck_join']['integrity']:.2f} s / report "
                                     f"{r['median']['duck_report']['integrity']:.2f} s at {r['images']}"
                                     for r in done) + ")")
    print("cpu seconds (user+sys), medians: " + "; ".join(
        f"{r['images']}: " + (", ".join(f"{k} {m['cpu']:.2f}" for k, m in r["median"].items() if m)
                              or "-")
        for r in results))
    print("\ngrowth: seconds per 1,000 images (exponent from the previous size; 1.00 = linear)")
    for k in ("hub_join", "duck_join", "hub_report", "duck_report"):
        cells, prev = [], None
        for r in results:
            m = r["median"].get(k)
            if not m:
                cells.append(f"{r['images']}: -")
                prev = None
                continue
            t = m["wall"]
            cell = f"{r['images']}: {t / r['images'] * 1000:.3f}"
            if prev:
                e = math.log(t / prev[1]) / math.log(r["images"] / prev[0])
                cell += f" (^{e:.2f})"
            cells.append(cell)
            prev = (r["images"], t)
        print(f"  {k:<12} " + ", ".join(cells))


def ingest(args, py: str) -> dict:
    folder = args.work / f"trivy-reports-{args.ingest_mb:g}mb"
    params = gen_trivy_reports.params_of(args.ingest_mb, args.findings_per_image, args.seed)
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
                     "--datasets", str(ds)], cwd=REPO,
                    rss_limit_mb=args.rss_limit_mb)
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
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing DuckDB's outputs with hubaudit's after the first round")
    p.add_argument("--rss-limit-mb", type=int, default=12000,
                   help="kill a contender whose resident set grows past this (the machine has "
                        "to stay usable); that size stops there")
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
        print_table(results["sizes"], args.rounds, args.rss_limit_mb)
    if args.ingest or args.ingest_only:
        results["ingest"] = ingest(args, py)
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
