"""Datasets on a real S3 API: a loopback moto server, the real binary, pyarrow's S3 filesystem.

Runs extract-hub -> scan (2 shards as separate processes, one re-run while the other runs)
-> pull-counts -> join -> report against s3://hubaudit-test/run, and the same stages
unsharded into a local folder; then reads every Parquet dataset of the bucket back with
pyarrow's S3 filesystem as hive partitions and compares it with the local run's tables, checks
every manifest against the object it names, checks that join refuses the snapshot while a
shard is missing (naming it), that an orphan object (a crashed writer's) is ignored and listed
by verify, and that a missing bucket is an upstream error naming it.

Usage: .tools/s3venv/bin/python tests/python/test_s3.py --hubaudit target/debug/hubaudit
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow.dataset as pads
import pyarrow.fs as pafs

from loopback import clean_env, free_port, start_moto, stop, wait_http

SNAPSHOT = "2021-08-24"
BUCKET = "hubaudit-test"
PREFIX = "run"
VOLATILE = {"duration_ms", "layers_analysed"}
PARQUET = [
    "2_staged/repositories", "2_staged/tags", "2_staged/scans", "2_staged/findings",
    "2_staged/pull_counts", "3_marts/images", "3_marts/findings", "3_marts/pulls",
    "3_marts/rejects",
]
RAW = ["1_raw/hub", "1_raw/scan", "1_raw/pull_counts"]


def run(cmd, env, expect=0):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if expect is not None and p.returncode != expect:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}, wanted {expect}\n{p.stdout}\n{p.stderr}")
    return p


def table(dataset):
    t = dataset.to_table()
    keep = [c for c in t.column_names if c not in VOLATILE]
    rows = t.select(keep).to_pylist()
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubaudit", required=True)
    ap.add_argument("--trivy", default=".tools/venv/bin/trivy")
    args = ap.parse_args()
    hubaudit = os.path.abspath(args.hubaudit)
    work = tempfile.mkdtemp(prefix="hubaudit-s3-test-")
    procs = []
    try:
        moto, endpoint, aws = start_moto(BUCKET)
        procs.append(moto)
        env = dict(clean_env(), **aws)

        capture = os.path.join(work, "capture")
        run([hubaudit, "sample", "build", "--out", capture], env)
        hub_port = free_port()
        hub = subprocess.Popen([hubaudit, "sample", "serve", "--capture", capture, "--port", str(hub_port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(hub)
        hub_url = f"http://127.0.0.1:{hub_port}/{SNAPSHOT}"
        wait_http(f"http://127.0.0.1:{hub_port}/", hub, "replay Hub")

        s3 = f"s3://{BUCKET}/{PREFIX}"
        local = os.path.join(work, "local")
        snap = ["--snapshot", SNAPSHOT]
        scan = ["scan", *snap, "--archive-dir", os.path.join(capture, SNAPSHOT, "images"),
                "--trivy-cache", os.path.join(capture, "trivy-cache"), "--trivy", os.path.abspath(args.trivy),
                "--parallel", "1"]

        def stages(root, scan_steps):
            d = ["--datasets", root]
            run([hubaudit, "extract-hub", *d, *snap, "--hub-url", hub_url], env)
            scan_steps(d)
            run([hubaudit, "pull-counts", *d, *snap, "--hub-url", hub_url], env)
            run([hubaudit, "join", *d, *snap], env)
            run([hubaudit, "report", *d, "--date", SNAPSHOT], env)

        def sharded(d):
            t0 = time.time()
            run([hubaudit, *scan, *d, "--shard", "0/2"], env)
            refused = run([hubaudit, "join", *d, *snap], env, expect=3)
            assert "missing shard 1/2" in refused.stderr, refused.stderr
            # shard 1 and a re-run of shard 0, at the same time, as two processes (--full: the
            # re-run analyses its images again instead of rescanning their stored inventories,
            # so its rows say `image` as the unsharded run's do)
            both = [subprocess.Popen([hubaudit, *scan, *d, "--shard", f"{i}/2", "--full"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for i in (1, 0)]
            for p in both:
                out, err = p.communicate()
                assert p.returncode == 0, f"shard exit {p.returncode}\n{out}\n{err}"
            print(f"sharded scans on the bucket: {time.time() - t0:.1f} s")

        stages(s3, sharded)
        stages(local, lambda d: run([hubaudit, *scan, *d], env))

        fs = pafs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1",
                               endpoint_override=endpoint, scheme="http")
        compared = 0
        for ds in PARQUET:
            remote = pads.dataset(f"{BUCKET}/{PREFIX}/{ds}", filesystem=fs, format="parquet",
                                  partitioning="hive")
            mine = pads.dataset(os.path.join(local, ds), format="parquet", partitioning="hive")
            a, b = table(remote), table(mine)
            if a != b:
                only_a = sorted(set(a) - set(b))[:1]
                only_b = sorted(set(b) - set(a))[:1]
                for x, y in zip(only_a, only_b):
                    dx, dy = json.loads(x), json.loads(y)
                    print("bucket vs local:", {k: (dx.get(k), dy.get(k)) for k in dx if dx.get(k) != dy.get(k)})
            assert a == b, f"{ds}: the bucket's rows differ from the local run's ({len(a)} vs {len(b)})"
            assert a or ds.endswith("rejects"), f"{ds}: no rows"
            compared += len(a)
        parts = [i.path for i in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{PREFIX}/2_staged/scans", recursive=True))]
        assert sum("_manifest.part-" in p for p in parts) == 2, parts

        # every manifest names an object with its size and sha256; raw captures count their rows
        manifests = 0
        for info in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{PREFIX}", recursive=True)):
            name = info.path.rsplit("/", 1)[-1]
            if not (name.startswith("_manifest") and name.endswith(".json")):
                continue
            with fs.open_input_stream(info.path) as f:
                m = json.loads(f.read())
            data = info.path.rsplit("/", 1)[0] + "/" + m["file"]
            with fs.open_input_stream(data, compression=None) as f:
                body = f.read()
            assert len(body) == m["bytes"], data
            assert hashlib.sha256(body).hexdigest() == m["sha256"], data
            manifests += 1
        for ds in RAW:
            def rows(root_info):
                return sum(json.loads(open(p).read())["rows"] for p in root_info)
            local_rows = rows([os.path.join(dp, f) for dp, _, fs_ in os.walk(os.path.join(local, ds))
                               for f in fs_ if f.startswith("_manifest")])
            remote_rows = 0
            for info in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{PREFIX}/{ds}", recursive=True)):
                if info.path.rsplit("/", 1)[-1].startswith("_manifest"):
                    with fs.open_input_stream(info.path) as f:
                        remote_rows += json.loads(f.read())["rows"]
            assert local_rows == remote_rows and local_rows > 0, (ds, local_rows, remote_rows)
        # the report's tables
        for csv in ["deprecated.csv", "vulnerable.csv"]:
            with fs.open_input_stream(f"{BUCKET}/{PREFIX}/4_report/{SNAPSHOT}/{csv}") as f:
                assert f.read() == open(os.path.join(local, "4_report", SNAPSHOT, csv), "rb").read(), csv

        # a crashed writer's object (no manifest names it) changes nothing and verify lists it
        orphan = f"{BUCKET}/{PREFIX}/3_marts/images/snapshot={SNAPSHOT}/part-0.0000000000000000.parquet"
        with fs.open_output_stream(orphan) as f:
            f.write(b"not parquet: a writer died here")
        again = run([hubaudit, "join", "--datasets", s3, *snap], env)
        v = run([hubaudit, "verify", "--datasets", s3], env)
        assert "all intact" in v.stdout and "orphan object" in v.stdout and "part-0.0000000000000000" in v.stdout, v.stdout
        assert "wrote" in again.stderr, again.stderr
        run([hubaudit, "report", "--datasets", s3, "--date", SNAPSHOT], env)

        # `run` whose scan fails (no registry answers): what extract-hub finished is in the bucket
        cfg = os.path.join(work, "dead-registry.toml")
        with open(cfg, "w") as f:
            f.write('[scan]\nregistry = "127.0.0.1:9"\ndb_repository = "127.0.0.1:9/aquasec/trivy-db:2"\n'
                    'retries = 0\nretry_budget_secs = 1\nbackoff_base_ms = 10\n')
        failed = run([hubaudit, "--config", cfg, "run", "--datasets", f"s3://{BUCKET}/failed-run",
                      "--snapshot", "2021-08-10", "--hub-url", hub_url.replace(SNAPSHOT, "2021-08-10")], env, expect=2)
        kept = fs.get_file_info(f"{BUCKET}/failed-run/2_staged/repositories/snapshot=2021-08-10/_manifest.json")
        assert kept.type == pafs.FileType.File, failed.stderr
        assert "127.0.0.1:9" in failed.stderr, failed.stderr

        # a bucket that does not exist: upstream error (exit 2) naming it
        gone = run([hubaudit, "snapshots", "--datasets", "s3://no-such-bucket/x"], env, expect=2)
        assert "no-such-bucket" in gone.stderr, gone.stderr
        # an endpoint that answers garbage (the replay Hub is no S3 API): exit 2 naming the bucket
        garbage = run([hubaudit, "snapshots", "--datasets", s3], dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{hub_port}"), expect=2)
        assert f"s3://{BUCKET}/{PREFIX}" in garbage.stderr, garbage.stderr
        # plain HTTP to a host that is not loopback would send credentials in clear: refused, exit 3
        clear = run([hubaudit, "snapshots", "--datasets", s3], dict(env, AWS_ENDPOINT_URL="http://s3.example.com"), expect=3)
        assert "loopback" in clear.stderr, clear.stderr
        # a data object changed after its manifest was written: the reader names it, exit 3
        images = f"{BUCKET}/{PREFIX}/3_marts/images/snapshot={SNAPSHOT}"
        with fs.open_input_stream(f"{images}/_manifest.json") as f:
            named = json.loads(f.read())["file"]
        with fs.open_output_stream(f"{images}/{named}") as f:
            f.write(b"truncated")
        bad = run([hubaudit, "report", "--datasets", s3, "--date", SNAPSHOT], env, expect=3)
        assert named in bad.stderr and "damaged" in bad.stderr, bad.stderr

        print(f"s3 round trip: {compared} rows in {len(PARQUET)} datasets equal the local unsharded run's "
              f"(pyarrow S3 hive read), {manifests} manifests checked against their objects, incomplete "
              f"shard refused, orphan ignored and listed, missing bucket, garbage endpoint, clear-text endpoint and damaged object refused, a failed run kept what it finished")
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
