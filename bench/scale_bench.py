"""Scale-out benchmark (issue 11): sharded scans and object storage, side by side in one run.

1. Shards: the scan of one sample date (every image analysed, --full) by one process against
   two shard processes at once (--shard 0/2 and 1/2) on the same machine, over the same
   images and DB. Measured twice: with one Trivy worker per process (the shape of a fleet of
   small pods, where sharding is the only parallelism) and with each process's default
   workers (cores + 1). Rounds alternate the variants; medians are reported.
2. Object storage: the whole sample run (`hubaudit sample run`, every capture date) into a
   local folder against into s3://bench/run-N on a loopback S3 server (moto), alternating.

Usage: python bench/scale_bench.py --hubaudit target/release/hubaudit --rounds 3
(run with .tools/s3venv/bin/python: it needs moto and boto3).
"""

import argparse
import resource
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from loopback import clean_env, free_port, start_moto, stop, wait_http  # noqa: E402

SNAPSHOT = "2021-08-24"


def check(p):
    if p.returncode != 0:
        sys.exit(f"{' '.join(p.args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


CPU = {}


def timed(cmds, env, label=None):
    """Runs the commands at once; wall seconds until all have ended. The CPU seconds of the
    processes and everything they ran (Trivy's servers and clients) go to CPU[label]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        out, err = p.communicate()
        p.stdout, p.stderr = out, err
        check(p)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        CPU.setdefault(label, []).append(cpu)
    return wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubaudit", required=True)
    ap.add_argument("--trivy", default=".tools/venv/bin/trivy")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-s3", action="store_true")
    a = ap.parse_args()
    hub = os.path.abspath(a.hubaudit)
    trivy = os.path.abspath(a.trivy)
    work = tempfile.mkdtemp(prefix="hubaudit-scale-bench-")
    env = clean_env()
    servers = []
    try:
        capture = os.path.join(work, "capture")
        check(subprocess.run([hub, "sample", "build", "--out", capture], env=env, capture_output=True, text=True))
        port = free_port()
        replay = subprocess.Popen([hub, "sample", "serve", "--capture", capture, "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(replay)
        wait_http(f"http://127.0.0.1:{port}/", replay, "replay Hub")
        base = os.path.join(work, "base")
        check(subprocess.run([hub, "extract-hub", "--datasets", base, "--snapshot", SNAPSHOT,
                              "--hub-url", f"http://127.0.0.1:{port}/{SNAPSHOT}"], env=env, capture_output=True, text=True))
        scan = ["scan", "--snapshot", SNAPSHOT, "--full", "--trivy", trivy,
                "--archive-dir", os.path.join(capture, SNAPSHOT, "images"),
                "--trivy-cache", os.path.join(capture, "trivy-cache")]

        def fresh(name):
            d = os.path.join(work, name)
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(base, d)
            return d

        variants = {
            "1 process, 1 worker": lambda: [[hub, *scan, "--datasets", fresh("one"), "--parallel", "1"]],
            "2 shards, 1 worker each": lambda: [
                [hub, *scan, "--datasets", d, "--parallel", "1", "--shard", f"{i}/2"]
                for d in [fresh("two")] for i in (0, 1)],
            "1 process, default workers": lambda: [[hub, *scan, "--datasets", fresh("one")]],
            "2 shards, default workers each": lambda: [
                [hub, *scan, "--datasets", d, "--shard", f"{i}/2"] for d in [fresh("two")] for i in (0, 1)],
        }
        times = {k: [] for k in variants}
        for r in range(a.rounds):
            for k, cmds in variants.items():
                times[k].append(timed(cmds(), env, k))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"scan of {SNAPSHOT} (168 sample images, all analysed), medians of {a.rounds}:")
        for k, v in med.items():
            cpu = statistics.median(CPU[k])
            print(f"  {k}: {v:.1f} s wall, {cpu:.1f} CPU-s (cores busy: {cpu / v:.2f} of {os.cpu_count()})")
        print(f"  2 shards / 1 process, 1 worker each: {med['2 shards, 1 worker each'] / med['1 process, 1 worker']:.2f}x wall")
        print(f"  2 shards / 1 process, default workers: {med['2 shards, default workers each'] / med['1 process, default workers']:.2f}x wall")

        if a.skip_s3:
            return
        moto, _, aws = start_moto("bench")
        servers.append(moto)
        s3env = dict(env, **aws)
        local, remote = [], []
        for r in range(a.rounds):
            d = os.path.join(work, "sample-local")
            shutil.rmtree(d, ignore_errors=True)
            local.append(timed([[hub, "sample", "run", "--datasets", d]], s3env))
            remote.append(timed([[hub, "sample", "run", "--datasets", f"s3://bench/run-{r}"]], s3env))
            print(f"round {r + 1}: sample run local {local[-1]:.1f} s, s3 {remote[-1]:.1f} s", flush=True)
        ml, mr = statistics.median(local), statistics.median(remote)
        print(f"whole sample run (every capture date), medians of {a.rounds}: local folder {ml:.1f} s, "
              f"s3:// on loopback moto {mr:.1f} s: {mr / ml:.2f}x")
    finally:
        stop(servers)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
