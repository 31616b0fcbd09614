"""Loopback servers for the Python tests and benchmarks: a free port, waiting for an HTTP
server to answer, moto's S3 server with a bucket, and stopping what was started."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, what):
    """Waits until `url` answers (any HTTP status); exits naming `what` if `proc` dies first."""
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{what} did not answer at {url}")


def start_moto(bucket, key="testing", secret="testing", region="us-east-1"):
    """moto's S3 server (from this interpreter's venv) on a free loopback port, with `bucket`
    created; returns (process, endpoint URL, the AWS environment for hubaudit)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(endpoint, proc, "moto_server")
    import boto3
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                 region_name=region).create_bucket(Bucket=bucket)
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": region,
           "AWS_ENDPOINT_URL": endpoint}
    return proc, endpoint, env


def stop(procs):
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def clean_env():
    """This process's environment without AWS settings or a dataset root of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "HUBAUDIT_DATASETS"}
