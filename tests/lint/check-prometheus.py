#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lint: packaging/prometheus/ holds for promtool, on the daemon's real metric names.

- `promtool check rules alerts.yaml`, and `promtool test rules alerts_test.yaml`: each alert
  fires on its input series and stays quiet on the others;
- every metric an alert asks for is one GET /metrics writes (a # TYPE line of api/metrics.c or
  api/counters.c, or a name given whole to a family writer there), or Prometheus' own `up`;
- `promtool check config prometheus.yml`, on a copy whose /etc/prometheus/ files are stand-ins
  in a temp directory (promtool opens them). Debian's promtool is built without Kubernetes
  service discovery, so where it refuses kubernetes_sd_configs, those jobs are left out of the
  check and the script says so.

usage: tests/lint/check-prometheus.py SOURCE_ROOT
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is missing (dev.sh installs it)")
    sys.exit(77)

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
prom = os.path.join(root, "packaging", "prometheus")
promtool = shutil.which("promtool")
if not promtool:
    print("SKIP: promtool is missing (Debian package prometheus; dev.sh installs it)")
    sys.exit(77)
problems = []


def run(*args, cwd=prom):
    r = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    print(f"$ promtool {' '.join(args)}\n{out}")
    return r.returncode, out


for args in (("check", "rules", "alerts.yaml"), ("test", "rules", "alerts_test.yaml")):
    rc, _ = run(*args)
    if rc != 0:
        problems.append(f"promtool {' '.join(args)}: exit {rc}")

# The metric names the daemon writes.
exposed = {"up"}
for f in ("metrics.c", "counters.c"):
    with open(os.path.join(root, "api", f)) as fh:
        text = fh.read()
    # "# TYPE name" lines, and the names given to a family writer (lun_counter()).
    exposed |= set(re.findall(r"# TYPE (\w+) ", text)) | set(re.findall(r'"(ifd_\w+)"', text))
with open(os.path.join(prom, "alerts.yaml")) as fh:
    rules = [r for g in yaml.safe_load(fh)["groups"] for r in g["rules"]]
for r in rules:
    # Identifiers that are not PromQL functions, keywords, label names or durations.
    expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', "", r["expr"])
    for name in re.findall(r"[A-Za-z_:][\w:]*", expr):
        if re.match(r"(ifd|process)_", name) or name == "up":
            if name not in exposed:
                problems.append(f"alert {r['alert']}: {name} is not a metric of GET /metrics")
    if not re.search(r"\b(ifd_\w+|process_\w+|up)\b", expr):
        problems.append(f"alert {r['alert']}: asks for no metric of the daemon")

# The example configuration, with stand-ins for the files it names.
with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(prom, "prometheus.yml")) as fh:
        text = fh.read().replace("/etc/prometheus/", tmp + "/etc/")
    conf = yaml.safe_load(text)
    for job in conf.get("scrape_configs", []):
        for key in ("credentials_file",):
            p = (job.get("authorization") or {}).get(key)
            if p:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as fh:
                    fh.write("ifd_000000000000_" + "A" * 43 + "\n")
        ca = (job.get("tls_config") or {}).get("ca_file")
        if ca:
            os.makedirs(os.path.dirname(ca), exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca + ".key",
                            "-out", ca, "-days", "1", "-subj", "/CN=test-ca"],
                           check=True, capture_output=True)
    conf["rule_files"] = [os.path.join(prom, f) for f in conf.get("rule_files", [])]
    path = os.path.join(tmp, "prometheus.yml")
    with open(path, "w") as fh:
        yaml.safe_dump(conf, fh)
    rc, out = run("check", "config", path, cwd=tmp)
    if rc != 0 and "kubernetes_sd_configs not found" in out:
        print("this promtool has no Kubernetes service discovery (Debian's build): checking "
              "the configuration without the kubernetes_sd_configs jobs")
        conf["scrape_configs"] = [j for j in conf["scrape_configs"]
                                  if "kubernetes_sd_configs" not in j]
        with open(path, "w") as fh:
            yaml.safe_dump(conf, fh)
        rc, out = run("check", "config", path, cwd=tmp)
    if rc != 0:
        problems.append(f"promtool check config prometheus.yml: exit {rc}")

for p in problems:
    print(p)
print(f"check-prometheus: {len(rules)} alerts, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
