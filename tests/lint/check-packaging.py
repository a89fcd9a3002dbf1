#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lint: the YAML of packaging/ parses, and the Kubernetes manifests hold together.

There is no kubectl here, so this checks what a cluster would refuse or what would quietly not
work: every file under packaging/ parses (python3-yaml); every manifest has apiVersion, kind and
metadata.name, and namespaced objects are in the agent's namespace; in the DaemonSet, the
selector matches the pod's labels, the containers have an image, every option given to
iscsi-ifaced is one of server/options.c, every volumeMount has a volume and every volume is
mounted, every Secret and ConfigMap a volume names is one of the manifests, no Secret reaches an
environment variable, the TLS files the daemon is given are keys of the kubernetes.io/tls
Secret's mount, each probe's path is in openapi.yaml, each container has requests and limits, the
host port is the container port and the scrape annotation names it; the ConfigMap's
register-tokens.sh is packaging/kubernetes/register-tokens.sh. Prints each problem and exits 1.

usage: tests/lint/check-packaging.py SOURCE_ROOT
"""
import os
import re
import sys
from urllib.parse import urlsplit

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is missing (dev.sh installs it)")
    sys.exit(77)

root = sys.argv[1] if len(sys.argv) > 1 else "."
pkg = os.path.join(root, "packaging")
k8s = os.path.join(pkg, "kubernetes")
NAMESPACE = "iscsi-ifaced"
CLUSTER_KINDS = {"Namespace"}
problems = []


def problem(where, what):
    problems.append(f"{os.path.relpath(where, root)}: {what}")


# 1. Every YAML file under packaging/ parses.
docs = {}  # path -> [documents]
for d, _, files in os.walk(pkg):
    for f in sorted(files):
        if f.endswith((".yaml", ".yml")):
            p = os.path.join(d, f)
            try:
                with open(p) as fh:
                    docs[p] = [x for x in yaml.safe_load_all(fh) if x is not None]
            except yaml.YAMLError as e:
                problem(p, f"does not parse: {e}")
if not any(p.startswith(k8s) for p in docs):
    problem(k8s, "no manifest")

# 2. Every manifest: apiVersion, kind, name, namespace.
objects = []  # (path, doc)
for p, ds in docs.items():
    if not p.startswith(k8s + os.sep):
        continue
    for doc in ds:
        if not isinstance(doc, dict):
            problem(p, "a document that is not a mapping")
            continue
        for key in ("apiVersion", "kind"):
            if not doc.get(key):
                problem(p, f"a document without {key}")
        meta = doc.get("metadata") or {}
        if not meta.get("name"):
            problem(p, f"a {doc.get('kind')} without metadata.name")
        if doc.get("kind") not in CLUSTER_KINDS and meta.get("namespace") != NAMESPACE:
            problem(p, f"{doc.get('kind')} {meta.get('name')}: namespace is not {NAMESPACE}")
        objects.append((p, doc))


def named(kind):
    return {d["metadata"]["name"]: (p, d) for p, d in objects
            if d.get("kind") == kind and d.get("metadata", {}).get("name")}


secrets = named("Secret")
configmaps = named("ConfigMap")
daemonsets = named("DaemonSet")
if not daemonsets:
    problem(k8s, "no DaemonSet")

# The daemon's long options, from its table (server/options.c).
with open(os.path.join(root, "server", "options.c")) as fh:
    OPTIONS = set(re.findall(r'^\s*\{ "([a-z-]+)", (?:required|no)_argument', fh.read(), re.M))

# The API's paths (openapi.yaml), as the probes name them.
with open(os.path.join(root, "openapi.yaml")) as fh:
    API_PATHS = set((yaml.safe_load(fh).get("paths") or {}).keys())


def probe_path(probe):
    """The path a probe asks for: httpGet.path, or the URL in an exec command."""
    if "httpGet" in probe:
        return probe["httpGet"].get("path", "/")
    for arg in (probe.get("exec") or {}).get("command", []):
        if re.match(r"https?://", str(arg)):
            return urlsplit(str(arg)).path
    return None


for name, (p, ds) in daemonsets.items():
    where = f"DaemonSet {name}"
    spec = ds.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problem(p, f"{where}: selector {selector} does not match the pod's labels {labels}")
    if pod.get("hostNetwork") is not True:
        problem(p, f"{where}: hostNetwork must be true (iscsid's abstract socket)")

    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    mounted = set()
    containers = pod.get("containers") or []
    all_containers = containers + (pod.get("initContainers") or [])
    if not containers:
        problem(p, f"{where}: no container")
    for c in all_containers:
        cw = f"{where} container {c.get('name')}"
        if not c.get("image"):
            problem(p, f"{cw}: no image")
        res = c.get("resources") or {}
        for k in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(k) or {}):
                problem(p, f"{cw}: resources.{k} needs cpu and memory")
        mounts = {}
        for m in c.get("volumeMounts") or []:
            mounted.add(m.get("name"))
            mounts[m.get("mountPath")] = m.get("name")
            if m.get("name") not in volumes:
                problem(p, f"{cw}: volumeMount {m.get('name')} has no volume")
        # Secrets as files only.
        for e in c.get("env") or []:
            if "secretKeyRef" in (e.get("valueFrom") or {}):
                problem(p, f"{cw}: env {e.get('name')} comes from a Secret (mount it as a file)")
        for e in c.get("envFrom") or []:
            if "secretRef" in e:
                problem(p, f"{cw}: envFrom a Secret (mount it as a file)")
        for probe_kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe_kind not in c:
                continue
            path = probe_path(c[probe_kind])
            if path not in API_PATHS:
                problem(p, f"{cw}: {probe_kind} asks for {path}, not a path of openapi.yaml")

        argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        if not argv or os.path.basename(argv[0]) != "iscsi-ifaced":
            continue
        # The daemon's container.
        for probe_kind in ("readinessProbe", "livenessProbe"):
            if probe_kind not in c:
                problem(p, f"{cw}: no {probe_kind}")
        opts = {}
        for a in argv[1:]:
            m = re.match(r"--([a-z-]+)(?:=(.*))?$", a)
            if not m or m.group(1) not in OPTIONS:
                problem(p, f"{cw}: '{a}' is not an option of server/options.c (use --opt=value)")
                continue
            opts.setdefault(m.group(1), []).append(m.group(2))
        tcp = [v for v in opts.get("listen", []) if v and not v.startswith("unix:")]
        loopback = all(v.startswith(("127.", "[::1]", "localhost")) for v in tcp)
        if not loopback:
            if "insecure" in opts:
                problem(p, f"{cw}: --insecure on a network listener")
            if (opts.get("auth") or ["on"])[-1] != "on":
                problem(p, f"{cw}: a network listener needs --auth=on")
            for key, file in (("tls-cert", "tls.crt"), ("tls-key", "tls.key")):
                v = (opts.get(key) or [None])[-1]
                if not v:
                    problem(p, f"{cw}: a network listener needs --{key}")
                    continue
                vol = volumes.get(mounts.get(os.path.dirname(v)), {})
                sname = (vol.get("secret") or {}).get("secretName")
                if os.path.basename(v) != file or sname not in secrets or \
                        secrets[sname][1].get("type") != "kubernetes.io/tls":
                    problem(p, f"{cw}: --{key}={v} is not {file} of a kubernetes.io/tls Secret")
        ports = {str(pt.get("containerPort")) for pt in c.get("ports") or []}
        for pt in c.get("ports") or []:
            if pt.get("hostPort") not in (None, pt.get("containerPort")):
                problem(p, f"{cw}: hostPort {pt.get('hostPort')} is not the containerPort")
        for v in tcp:
            if v.rsplit(":", 1)[-1] not in ports:
                problem(p, f"{cw}: --listen={v}: its port is not a containerPort")
        if annotations.get("prometheus.io/port") not in ports:
            problem(p, f"{where}: prometheus.io/port is not a containerPort of the daemon")
    for vname, v in volumes.items():
        if vname not in mounted:
            problem(p, f"{where}: volume {vname} is mounted by no container")
        sname = (v.get("secret") or {}).get("secretName")
        if sname is not None and sname not in secrets:
            problem(p, f"{where}: volume {vname}: no Secret {sname} among the manifests")
        cname = (v.get("configMap") or {}).get("name")
        if cname is not None and cname not in configmaps:
            problem(p, f"{where}: volume {vname}: no ConfigMap {cname} among the manifests")

# The ConfigMap's script is the tested one.
script = os.path.join(k8s, "register-tokens.sh")
cm = configmaps.get("iscsi-ifaced-scripts")
with open(script) as fh:
    if not cm or (cm[1].get("data") or {}).get("register-tokens.sh") != fh.read():
        problem(script, "differs from data.register-tokens.sh of configmap-scripts.yaml")

for line in problems:
    print(line)
print(f"check-packaging: {len(docs)} YAML files, {len(objects)} manifests, "
      f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
