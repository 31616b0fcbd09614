#!/usr/bin/env python3
"""Scan-stage benchmark (`just bench`): hubaudit scan against plain Trivy loops, side by side.

On the sample images of one capture date (2021-07-29, the 167 tarballs the scan chooses), in
rounds that interleave the contenders (so machine noise hits them alike), medians of N:

- seq:    a sequential shell-style loop of `trivy image --input TAR --format json`, one
          process per image, with the offline flags a user would add;
- xargs:  the same command under `xargs -P <cores>`;
- first:  `hubaudit scan` of the date with no stored inventories (every image analysed);
- next:   `hubaudit scan` of the next date whose digests are all unchanged (rescans only).

`ideal` is the sequential loop's CPU time divided by the cores. Printed: each wall time, the
ratios first/seq (target <= 0.55), first/xargs (<= 0.9), first/ideal (<= 1.25), next/first
(<= 0.3), and the layer analyses per image hubaudit reported.
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATE, NEXT = "2021-07-29", "2021-07-30"


def run(cmd, **kw):
    """Runs cmd; returns (wall seconds, CPU seconds of it and its children, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def chosen_tarballs(capture: Path) -> list:
    """The tarball of the tag hubaudit's scan chooses for each image: `latest`, else the most
    recently updated tag (ties: the smallest name), as `scan::choose_tag` does."""
    out = []
    for f in sorted((capture / DATE / "tags").glob("*.json")):
        name = f.stem
        tags = json.loads(f.read_text())
        names = [t["name"] for t in tags]
        if "latest" in names:
            tag = "latest"
        else:
            newest = max(t["last_updated"] for t in tags)
            tag = min(t["name"] for t in tags if t["last_updated"] == newest)
        out.append(str(capture / DATE / "images" / name / f"{tag}.tar"))
    return out


def start_replay(hubaudit, capture):
    p = subprocess.Popen([hubaudit, "sample", "serve", "--capture", str(capture)],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    url = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)
    return p, url


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hubaudit", default="./target/debug/hubaudit")
    ap.add_argument("--trivy", default=".tools/venv/bin/trivy")
    ap.add_argument("--capture", default="datasets/sample-capture")
    ap.add_argument("--work", default="target/bench/scan")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    capture, work = Path(a.capture), Path(a.work)
    cores = os.cpu_count() or 2
    cache = capture / "trivy-cache"
    shutil.rmtree(work, ignore_errors=True)
    datasets = work / "datasets"

    # one catalog snapshot of the date, and the next date from the same capture (same digests)
    replay, url = start_replay(a.hubaudit, capture)
    try:
        for snap in (DATE, NEXT):
            run([a.hubaudit, "extract-hub", "--datasets", str(datasets), "--snapshot", snap,
                 "--hub-url", f"{url}/{DATE}"])
    finally:
        replay.terminate()
        replay.wait()

    tars = chosen_tarballs(capture)
    flags = ["--cache-dir", str(cache), "--skip-db-update", "--skip-java-db-update", "--offline-scan",
             "--skip-version-check", "--disable-telemetry", "--scanners", "vuln",
             "--cache-backend", "memory", "--quiet", "--format", "json"]
    seq_script = "for t in \"$@\"; do \"$T\" image --input \"$t\" $F > /dev/null; done"
    env = dict(os.environ, T=a.trivy, F=" ".join(flags))
    scan = [a.hubaudit, "scan", "--datasets", str(datasets), "--archive-dir", str(capture / DATE / "images"),
            "--trivy-cache", str(cache), "--trivy", a.trivy]

    res = {k: [] for k in ("seq", "seq_cpu", "xargs", "first", "next")}
    layers = images = None
    def loop_seq():
        w, c, _ = run(["bash", "-c", seq_script, "seq"] + tars, env=env)
        res["seq"].append(w)
        res["seq_cpu"].append(c)

    def loop_xargs():
        xargs = f"printf '%s\\n' \"$@\" | xargs -P {cores} -I{{}} \"$T\" image --input {{}} $F > /dev/null"
        w, _, _ = run(["bash", "-c", xargs, "xargs"] + tars, env=env)
        res["xargs"].append(w)

    def stage():
        nonlocal layers, images
        # first date: no stored inventories, every image analysed
        shutil.rmtree(datasets / "1_raw" / "sbom", ignore_errors=True)
        w, _, out = run(scan + ["--snapshot", DATE])
        res["first"].append(w)
        m = re.search(r"(\d+) images:.*?(\d+) image analyses", out)
        images, analyses = int(m.group(1)), int(m.group(2))
        layers = int(re.search(r"(\d+) layer analyses", out).group(1))
        assert analyses == images, out
        # next date: every digest unchanged, every image rescanned from its inventory
        w, _, out = run(scan + ["--snapshot", NEXT])
        res["next"].append(w)
        assert re.search(r" 0 image analyses", out), out

    # the order turns each round, so a machine that speeds up or slows down during the run
    # favours no contender
    order = [loop_seq, loop_xargs, stage]
    for r in range(a.rounds):
        for f in order[r % 3:] + order[: r % 3]:
            f()
        print(f"round {r + 1}: seq {res['seq'][-1]:.1f} s (cpu {res['seq_cpu'][-1]:.1f} s), "
              f"xargs -P {cores} {res['xargs'][-1]:.1f} s, hubaudit first {res['first'][-1]:.1f} s, "
              f"next {res['next'][-1]:.2f} s", flush=True)

    med = {k: statistics.median(v) for k, v in res.items()}
    ideal = med["seq_cpu"] / cores
    print(f"scan of {len(tars)} sample images of {DATE} on {cores} cores, medians of {a.rounds}:")
    print(f"  trivy loop, sequential     {med['seq']:6.2f} s   (CPU {med['seq_cpu']:.2f} s; ideal = CPU/cores = {ideal:.2f} s)")
    print(f"  trivy loop, xargs -P {cores}     {med['xargs']:6.2f} s")
    print(f"  hubaudit scan, first date  {med['first']:6.2f} s   {layers} layer analyses for {images} images "
          f"({layers / images:.2f} per image)")
    print(f"  hubaudit scan, next date   {med['next']:6.2f} s   (digests unchanged: 0 image analyses)")
    print(f"  ratio first/sequential = {med['first'] / med['seq']:.2f}  (target <= 0.55)")
    print(f"  ratio first/xargs      = {med['first'] / med['xargs']:.2f}  (target <= 0.9)")
    print(f"  ratio first/ideal      = {med['first'] / ideal:.2f}  (target <= 1.25)")
    print(f"  ratio next/first       = {med['next'] / med['first']:.2f}  (target <= 0.3)")


if __name__ == "__main__":
    sys.exit(main())
