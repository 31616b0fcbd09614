#!/usr/bin/env python3
"""Generates Trivy JSON reports (SchemaVersion 2) for the ingest benchmark (issue 10).

    gen_trivy_reports.py --out DIR [--mb 200] [--findings-per-image 300] [--seed S]

Writes DIR/img-NNNNN.json until the files total at least MB megabytes (10^6 bytes), each one
image's report as `trivy image --format json` prints it (indented by two spaces): Metadata with
OS, ImageID, DiffIDs, RepoTags/RepoDigests and an ImageConfig; an `os-pkgs` result and, for
one image in eight, a `lang-pkgs` result (a jar); each vulnerability with every field Trivy
0.5x+ writes (VendorIDs, PkgID, PkgIdentifier, Layer, DataSource, Fingerprint, Title,
Description, CweIDs, VendorSeverity, CVSS, References, dates), modelled on the golden reports
in /work/shared/data/trivy-reports/main-2026-08-21. Findings per image are gamma-distributed
around the mean; 60% have a FixedVersion. `hubaudit scan --from-reports DIR` takes the image
name from the file name. DIR/.gen-params records the arguments and the total size.
"""

import argparse
import json
import random
import shutil
import time
from pathlib import Path

WORDS = ("buffer overflow heap use-after-free integer out-of-bounds read write denial of "
         "service null pointer dereference crafted input remote attacker memory leak "
         "certificate validation bypass race condition privilege escalation infinite loop "
         "in parsing of malformed packets via a long string function handler allows "
         "attackers to cause an application crash or possibly execute arbitrary code").split()
OSES = [("debian", "10.10", "Debian Security Tracker", "debian"),
        ("alpine", "3.14.1", "Alpine Secdb", "alpine"),
        ("ubuntu", "20.04", "Ubuntu CVE Tracker", "ubuntu"),
        ("centos", "7.9.2009", "Red Hat OVAL v2", "redhat")]
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]


def h(r: random.Random, n: int = 64) -> str:
    return "%0*x" % (n, r.getrandbits(4 * n))


def vuln(r: random.Random, fam: str, ver: str, ds_name: str, ds_id: str, layer: dict,
         lang: bool) -> dict:
    year = r.randint(2005, 2021)
    vid = f"CVE-{year}-{r.randint(1000, 45000)}"
    pkg = ("lib" if r.random() < 0.5 else "") + r.choice(WORDS) + str(r.randint(0, 300))
    inst = f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 20)}-{r.randint(1, 9)}"
    fixed = r.random() < 0.6
    sev = r.choices(SEVERITIES, weights=[5, 20, 40, 30, 5])[0]
    v = {
        "VulnerabilityID": vid,
        "VendorIDs": [f"DSA-{r.randint(1000, 5000)}-1"] if r.random() < 0.4 else None,
        "PkgID": f"{pkg}@{inst}",
        "PkgName": pkg,
        "PkgIdentifier": {
            "PURL": (f"pkg:maven/org.example/{pkg}@{inst}" if lang else
                     f"pkg:deb/{fam}/{pkg}@{inst}?arch=amd64&distro={fam}-{ver}"),
            "UID": h(r, 16),
        },
        "InstalledVersion": inst,
        "FixedVersion": (inst + "+deb10u1") if fixed else None,
        "Status": "fixed" if fixed else r.choice(["affected", "will_not_fix", "fix_deferred"]),
        "Layer": layer,
        "SeveritySource": r.choice(["nvd", ds_id]),
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "DataSource": {"ID": ds_id, "Name": ds_name,
                       "URL": f"https://security-tracker.example.org/{ds_id}"},
        "Fingerprint": "sha256:" + h(r),
        "Title": f"{pkg}: " + " ".join(r.choices(WORDS, k=r.randint(5, 14))),
        "Description": " ".join(r.choices(WORDS, k=r.randint(15, 120))) + ".",
        "Severity": sev,
        "CweIDs": [f"CWE-{r.randint(20, 900)}"],
        "VendorSeverity": {k: r.randint(1, 4) for k in r.sample(
            ["amazon", "nvd", "redhat", "ubuntu", "debian", "photon"], k=r.randint(1, 5))},
        "CVSS": {
            "nvd": {"V2Vector": "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                    "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "V2Score": round(r.uniform(1, 10), 1), "V3Score": round(r.uniform(1, 10), 1)},
            "redhat": {"V3Vector": "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:L",
                       "V3Score": round(r.uniform(1, 10), 1)},
        },
        "References": [f"https://{r.choice(['lists.example.org', 'access.redhat.com/security/cve', 'github.com/example/' + pkg + '/commit', 'ubuntu.com/security/notices'])}/{h(r, r.randint(8, 40))}"
                       for _ in range(r.randint(2, 18))],
        "PublishedDate": f"{year}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T17:15:00Z",
        "LastModifiedDate": f"{year + 1}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T19:15:00Z",
    }
    return {k: x for k, x in v.items() if x is not None}


def report(r: random.Random, name: str, n: int) -> dict:
    fam, ver, ds_name, ds_id = r.choice(OSES)
    diff_ids = ["sha256:" + h(r) for _ in range(r.randint(1, 6))]
    layers = [{"Size": r.randint(1_000_000, 90_000_000), "Digest": "sha256:" + h(r), "DiffID": d}
              for d in diff_ids]
    lang = r.random() < 0.125
    n_lang = n // 5 if lang else 0
    os_vulns = [vuln(r, fam, ver, ds_name, ds_id, {k: l[k] for k in ("Digest", "DiffID")}, False)
                for l in r.choices(layers, k=n - n_lang)]
    results = [{"Target": f"docker.io/library/{name}:latest ({fam} {ver})", "Class": "os-pkgs",
                "Type": fam, "Vulnerabilities": os_vulns}]
    if lang:
        results.append({"Target": f"opt/app/lib/{name}-server.jar", "Class": "lang-pkgs",
                        "Type": "jar",
                        "Vulnerabilities": [vuln(r, fam, ver, "GitHub Security Advisory Maven",
                                                 "ghsa", {"DiffID": diff_ids[-1]}, True)
                                            for _ in range(n_lang)]})
    image_id = "sha256:" + h(r)
    return {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "ReportID": f"017b7d41-e09f-7000-80ea-{h(r, 12)}",
        "CreatedAt": "2021-08-24T05:20:30.000000005Z",
        "ArtifactID": image_id,
        "ArtifactName": f"docker.io/library/{name}@sha256:{h(r)}",
        "ArtifactType": "container_image",
        "Metadata": {
            "Size": sum(l["Size"] for l in layers),
            "OS": {"Family": fam, "Name": ver},
            "ImageID": image_id,
            "DiffIDs": diff_ids,
            "RepoTags": [f"{name}:latest"],
            "RepoDigests": [f"{name}@sha256:{h(r)}"],
            "Reference": f"docker.io/library/{name}:latest",
            "ImageConfig": {
                "architecture": "amd64",
                "created": "2021-08-17T23:21:51.562946709Z",
                "history": [{"created": "2021-08-17T23:21:51.123609274Z",
                             "created_by": f"/bin/sh -c #(nop) ADD file:{h(r)} in / "}
                            for _ in diff_ids],
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "config": {"Cmd": ["bash"], "Env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            },
            "Layers": layers,
        },
        "Results": results,
    }


GEN_VERSION = "1"


def params_of(mb: float, fpi: int, seed: int) -> dict:
    """What DIR/.gen-params records: equal parameters give equal files."""
    return {"generator": GEN_VERSION, "mb": mb, "findings_per_image": fpi, "seed": seed}


def generate(out: Path, mb: float, fpi: int, seed: int) -> dict:
    params = params_of(mb, fpi, seed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    r = random.Random(seed)
    total, files, findings = 0, 0, 0
    t0 = time.perf_counter()
    while total < mb * 1e6:
        files += 1
        name = f"img-{files:05d}"
        n = max(1, min(int(r.gammavariate(1.5, fpi / 1.5)), 5 * fpi))
        text = json.dumps(report(r, name, n), indent=2, ensure_ascii=False) + "\n"
        data = text.encode()
        (out / f"{name}.json").write_bytes(data)
        total += len(data)
        findings += n
    stats = {"files": files, "bytes": total, "findings": findings,
             "seconds": round(time.perf_counter() - t0, 2)}
    (out / ".gen-params").write_text(json.dumps({"params": params, "stats": stats}) + "\n")
    return {"params": params, "stats": stats}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--mb", type=float, default=200)
    p.add_argument("--findings-per-image", type=int, default=300)
    p.add_argument("--seed", type=int, default=10)
    a = p.parse_args()
    s = generate(Path(a.out), a.mb, a.findings_per_image, a.seed)["stats"]
    print(f"wrote {a.out}: {s['files']} reports, {s['findings']} findings, "
          f"{s['bytes'] / 1e6:.1f} MB in {s['seconds']} s")


if __name__ == "__main__":
    main()
