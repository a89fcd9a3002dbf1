#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""GET /metrics (README "Metrics") against the real daemon with auth on: scrape, make requests of
known outcomes (a 201, 404s on a route and on no route, a 401 with an unknown token, a 403 with a
viewer token on an admin route, 429s of a token over its burst, delayed 401s of the tarpit),
scrape again: every counter moved by exactly what was done, per route template, method and code;
the ifaces gauge follows the create; no label carries a token, a raw path or an iface name; and
`promtool check metrics` accepts the scrape.

usage: metrics.py path/to/iscsi-ifaced
"""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = ifd.FAILS
check = ifd.check
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BURST = 20
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} of the samples; comment lines skipped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def family(samples, name):
    """{dict of labels as a sorted tuple: value} of one metric name."""
    return {tuple(sorted(k[1])): v for k, v in samples.items() if k[0] == name}


def delta(before, after, name):
    """The series of name that moved between two scrapes, with how much."""
    a, b = family(before, name), family(after, name)
    return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b) if b.get(k, 0) != a.get(k, 0)}


def req(route, method, code):
    return tuple(sorted({"route": route, "method": method, "code": str(code)}.items()))


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ifd-metrics-")
    d = None
    n401 = 0  # every 401 this client (127.0.0.1) got: the tarpit counts them all
    try:
        d = ifd.Daemon(binary, os.path.join(work, "d"), "--rate-burst", str(BURST),
                       "--rate-limit", "1", "--lock-timeout-ms", "300",
                       "--metrics-listen", "unix:" + os.path.join(work, "m.sock"), auth_off=False)
        tokens = {}
        for role in ("viewer", "operator", "admin"):
            out = subprocess.run([binary, "token", "create", "--role", role, "--name", "m-" + role,
                                  "--db", d.db], capture_output=True, text=True, check=True)
            tokens[role] = out.stdout.strip().split()[-1]
        viewer = {"Authorization": "Bearer " + tokens["viewer"]}
        operator = {"Authorization": "Bearer " + tokens["operator"]}
        admin = {"Authorization": "Bearer " + tokens["admin"]}
        # Well formed, unknown: ifd_<12 hex>_<43 base64url>.
        bogus = {"Authorization": "Bearer ifd_0123456789ab_" + "A" * 43}

        def scrape(headers=viewer):
            st, h, body = d.raw("GET", "/metrics", headers=headers)
            return st, h, body.decode()

        st, h, text = scrape()
        check(st == 200 and h.get("content-type") == CONTENT_TYPE,
              "a viewer scrapes: 200, %s (%s %s)" % (CONTENT_TYPE, st, h.get("content-type")))
        before = parse(text)

        st1, _, _ = d.call("POST", "/api/v1/ifaces", {"name": "mtr0"}, headers=operator)
        st2, _, _ = d.call("GET", "/api/v1/ifaces/nosuchiface", headers=viewer)
        st3, _, _ = d.call("GET", "/api/v1/ifaces", headers=bogus)
        n401 += 1
        st4, _, _ = d.call("GET", "/api/v1/audit", headers=viewer)
        st5, _, _ = d.call("GET", "/no/such/secretpath", headers=viewer)
        st6, _, _ = d.call("PUT", "/api/v1/health", headers=viewer)
        check((st1, st2, st3, st4, st5, st6) == (201, 404, 401, 403, 404, 405),
              "the requests: 201 404 401 403 404 405 (%s)" % [st1, st2, st3, st4, st5, st6])

        st, _, text = scrape()
        after = parse(text)
        want = {
            req("/metrics", "GET", 200): 1,  # the first scrape, counted when it was answered
            req("/api/v1/ifaces", "POST", 201): 1,
            req("/api/v1/ifaces/{name}", "GET", 404): 1,
            req("/api/v1/ifaces", "GET", 401): 1,
            req("/api/v1/audit", "GET", 403): 1,
            req("other", "GET", 404): 1,
            req("/api/v1/health", "PUT", 405): 1,
        }
        got = delta(before, after, "ifd_http_requests_total")
        check(got == want, "ifd_http_requests_total moved by exactly the requests made (%s)" %
              sorted(got.items()))
        hist = delta(before, after, "ifd_http_request_duration_seconds_count")
        want_hist = {}
        for k, v in want.items():
            rm = tuple(x for x in k if x[0] != "code")
            want_hist[rm] = want_hist.get(rm, 0) + v
        check(hist == want_hist,
              "ifd_http_request_duration_seconds_count moved by the same, per route and method "
              "(%s)" % sorted(hist.items()))
        inf = delta(before, after, "ifd_http_request_duration_seconds_bucket")
        inf = {tuple(x for x in k if x[0] != "le"): v for k, v in inf.items()
               if ("le", "+Inf") in k}
        check(inf == want_hist, "the +Inf buckets equal the counts")
        check(delta(before, after, "ifd_auth_failures_total") ==
              {(("reason", "unknown_token"),): 1},
              "ifd_auth_failures_total: one unknown_token (%s)" %
              delta(before, after, "ifd_auth_failures_total"))
        check(family(after, "ifd_http_requests_in_flight") == {(): 1},
              "ifd_http_requests_in_flight is 1 (the scrape itself)")
        check(delta(before, after, "ifd_ifaces") == {(("origin", "api"),): 1},
              "ifd_ifaces{origin=\"api\"} follows the create (%s)" %
              delta(before, after, "ifd_ifaces"))
        check(family(after, "ifd_ifaces").get((("origin", "builtin"),)) == 2,
              "ifd_ifaces{origin=\"builtin\"} is 2 (default, iser)")
        check(family(after, "ifd_build_info") and
              all(v == 1 for v in family(after, "ifd_build_info").values()), "ifd_build_info 1")
        for name in ("process_start_time_seconds", "process_resident_memory_bytes",
                     "process_open_fds", "ifd_threads"):
            v = family(after, name).get(())
            check(v is not None and v > 0, "%s present and > 0 (%s)" % (name, v))

        # Each thread is named for its job (top -H, perf): the 32 writers, the group commit's
        # 16 syncers and spare maker once a write ran, the logger, the drift watcher, and
        # libmicrohttpd's own pool threads; ifd_threads counts them all.
        names = collections.Counter(
            open("/proc/%d/task/%s/comm" % (d.proc.pid, t)).read().strip()
            for t in os.listdir("/proc/%d/task" % d.proc.pid))
        check(names["ifd-writer"] == 32 and names["ifd-sync"] == 16 and names["ifd-spare"] == 1
              and names["ifd-log"] == 1 and names["ifd-drift"] == 1 and names["MHD-worker"] >= 1,
              "the threads carry their names (%s)" % dict(names))

        # The write's time, and its parts: each histogram counted the one create, and the whole
        # is at least the sum of its parts (each part measured apart: 1 us of rounding each).
        counts = {n: delta(before, after, n + "_count").get((), 0)
                  for n in ("ifd_write_duration_seconds", "ifd_write_lock_wait_seconds",
                            "ifd_write_fsync_seconds", "ifd_write_db_commit_seconds")}
        check(set(counts.values()) == {1}, "the write histograms counted one write (%s)" % counts)
        sums = {n: delta(before, after, n + "_sum").get((), 0.0)
                for n in ("ifd_write_duration_seconds", "ifd_write_lock_wait_seconds",
                          "ifd_write_fsync_seconds", "ifd_write_db_commit_seconds")}
        parts = sum(v for k, v in sums.items() if k != "ifd_write_duration_seconds")
        check(sums["ifd_write_duration_seconds"] > 0 and
              sums["ifd_write_duration_seconds"] + 3e-6 >= parts and
              sums["ifd_write_db_commit_seconds"] > 0,
              "the write took time, at least its parts, with its sqlite commits (%s)" % sums)

        # A lock timeout: iscsiadm's lock.write held by another process (taken as iscsiadm
        # takes it: a hard link of lock), and a create refused after --lock-timeout-ms.
        before = after
        lock = os.path.join(d.work, "lock")
        with open(os.path.join(lock, "lock"), "w"):
            pass
        os.link(os.path.join(lock, "lock"), os.path.join(lock, "lock.write"))
        try:
            st, _, body = d.call("POST", "/api/v1/ifaces", {"name": "mtr1"}, headers=operator)
        finally:
            os.unlink(os.path.join(lock, "lock.write"))
        st_, _, text = scrape()
        after = parse(text)
        check(st == 503 and "held by" in json.dumps(body),
              "a write while lock.write is held: 503 naming the holder (%s %s)" % (st, body))
        check(delta(before, after, "ifd_lock_timeouts_total") == {(("lock", "iscsiadm"),): 1},
              "ifd_lock_timeouts_total{lock=\"iscsiadm\"} moved by 1 (%s)" %
              delta(before, after, "ifd_lock_timeouts_total"))

        # A check of a closed port on loopback: failed, reason refused, counted with its time.
        before = after
        st, _, body = d.call("POST", "/api/v1/ifaces/default/checks",
                             {"portal": "127.0.0.1:1", "steps": ["tcp"], "timeout_ms": 2000},
                             headers=operator)
        after = parse(scrape()[2])
        check(st == 200 and body.get("status") == "failed" and body.get("reason") == "refused",
              "a check of 127.0.0.1:1: failed, refused (%s %s)" % (st, body))
        check(delta(before, after, "ifd_checks_total") ==
              {(("reason", "refused"), ("result", "failed")): 1},
              "ifd_checks_total{result=\"failed\",reason=\"refused\"} moved by 1 (%s)" %
              delta(before, after, "ifd_checks_total"))
        check(delta(before, after, "ifd_check_duration_seconds_count") ==
              {(("result", "failed"),): 1}, "ifd_check_duration_seconds_count{result=\"failed\"}"
              " moved by 1")
        # A matrix job of that check: its final state and duration.
        st, _, body = d.call("POST", "/api/v1/checks",
                             {"ifaces": ["default"], "portals": ["127.0.0.1:1"],
                              "steps": ["tcp"], "timeout_ms": 2000}, headers=operator)
        job = body.get("id") if isinstance(body, dict) else None
        for _ in range(200):
            st2, _, jb = d.call("GET", "/api/v1/jobs/%s" % job, headers=viewer)
            if jb.get("state") != "running":
                break
            time.sleep(0.02)
        after2 = parse(scrape()[2])
        check(st == 202 and jb.get("state") == "done" and
              delta(after, after2, "ifd_job_duration_seconds_count") ==
              {(("state", "done"),): 1},
              "a job: 202, done, ifd_job_duration_seconds_count{state=\"done\"} moved by 1 "
              "(%s %s %s)" % (st, jb.get("state"),
                              delta(after, after2, "ifd_job_duration_seconds_count")))

        # --metrics-listen on a unix socket: GET /metrics without a credential, nothing else.
        msock = os.path.join(work, "m.sock")
        before = parse(scrape()[2])
        p = subprocess.run(["curl", "-sS", "--unix-socket", msock, "-o", "-", "-w",
                            "\\n%{http_code}", "http://localhost/metrics"],
                           capture_output=True, text=True, timeout=30)
        mbody, _, mcode = p.stdout.rpartition("\n")
        check(mcode == "200" and "# TYPE ifd_http_requests_total counter" in mbody,
              "--metrics-listen unix: GET /metrics without a token: 200 (%s)" % mcode)
        for method, path, want_code in (("GET", "/api/v1/ifaces", "404"),
                                        ("GET", "/api/v1/whoami", "404"),
                                        ("POST", "/metrics", "405")):
            p = subprocess.run(["curl", "-sS", "--unix-socket", msock, "-X", method, "-o",
                                "/dev/null", "-w", "%{http_code}", "http://localhost" + path],
                               capture_output=True, text=True, timeout=30)
            check(p.stdout == want_code, "--metrics-listen: %s %s: %s (%s)" %
                  (method, path, want_code, p.stdout))
        after = parse(scrape()[2])
        check(delta(before, after, "ifd_http_requests_total").get(req("/metrics", "GET", 200))
              == 2, "the metrics listener's scrape is counted with the others")
        # Not loopback, no TLS: refused at start, as any listener.
        p = subprocess.run([binary, "--listen", "unix:" + os.path.join(work, "x.sock"),
                            "--metrics-listen", "0.0.0.0:0", "--iscsi-root",
                            os.path.join(work, "d", "iscsi"), "--db", os.path.join(work, "x.db"),
                            "--lock-dir", os.path.join(work, "d", "lock")],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0 and "refusing to listen on '0.0.0.0:0'" in p.stderr,
              "--metrics-listen 0.0.0.0:0 without TLS: refused at start (%d %s)" %
              (p.returncode, p.stderr.strip()[-200:]))

        # Who may scrape: a viewer may (above); nobody without a token.
        st, _, _ = scrape(headers={})
        n401 += 1
        check(st == 401, "no token: 401 (%s)" % st)

        # 429: one token over its burst; each refusal counted once, on its route.
        before = parse(scrape(admin)[2])
        codes = [d.call("GET", "/api/v1/whoami", headers=operator)[0] for _ in range(BURST + 10)]
        n429 = codes.count(429)
        after = parse(scrape(admin)[2])
        check(n429 > 0 and codes.count(200) + n429 == len(codes),
              "a burst of %d: %d 429s" % (len(codes), n429))
        check(delta(before, after, "ifd_rate_limited_total") == {(): n429},
              "ifd_rate_limited_total moved by %d" % n429)
        got = delta(before, after, "ifd_http_requests_total")
        check(got.get(req("/api/v1/whoami", "GET", 429)) == n429,
              "requests_total{code=\"429\"} on /api/v1/whoami moved by %d (%s)" % (n429, got))

        # The tarpit: 401s past the first two of a client in its window are delayed.
        before = parse(scrape(admin)[2])
        for _ in range(3):
            st, _, _ = d.call("GET", "/api/v1/ifaces", headers=bogus)
            n401 += 1
        after = parse(scrape(admin)[2])
        check(family(after, "ifd_tarpit_delays_total") == {(): max(0, n401 - 2)},
              "ifd_tarpit_delays_total is %d after %d 401s (%s)" %
              (max(0, n401 - 2), n401, family(after, "ifd_tarpit_delays_total")))
        check(delta(before, after, "ifd_auth_failures_total") ==
              {(("reason", "unknown_token"),): 3}, "three more unknown_token failures")

        # Labels: templates of openapi.yaml only, never a token, a raw path or an iface name.
        st, _, spec = d.raw("GET", "/openapi.yaml", headers=viewer)
        paths = set(re.findall(r"^  (/\S*):$", spec.decode(), re.M))
        st, _, text = scrape(admin)
        samples = parse(text)
        routes = {dict(k[1]).get("route") for k in samples if dict(k[1]).get("route")}
        check(routes and all(r == "other" or r in paths for r in routes),
              "every route label is a path of openapi.yaml or 'other' (%s)" % sorted(routes))
        # "ifd_<12-character id>_<secret>": the secret may itself hold '_' (so no split).
        secrets = list(tokens.values())
        secrets += [t[17:] for t in tokens.values()] + [t[4:16] for t in tokens.values()]
        leaks = [w for w in secrets + ["mtr0", "nosuchiface", "secretpath", "0123456789ab"]
                 if w in text]
        check(not leaks, "no token, token id, raw path or iface name in the scrape (%s)" % leaks)
        families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        check(families == helps and len(families) >= 15,
              "every family has # HELP and # TYPE (%d)" % len(families))

        promtool = shutil.which("promtool")
        if not promtool:
            check(False, "promtool is missing: install prometheus (./dev.sh deps)")
        else:
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True)
            check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
                  "promtool check metrics: clean (%d %s%s)" % (p.returncode, p.stdout, p.stderr))

        # The log: a line a request at info level with its id, and each auth failure with the
        # client and the id, in the <N> form journald reads; never a token. The request's line is
        # written by the log's own thread within about 5 ms (common/log.h): given 2 s here.
        st, h, _ = d.raw("GET", "/api/v1/ifaces", headers=bogus)
        rid = h.get("x-request-id", "?")
        line = r"^<6>GET /api/v1/ifaces -> 401 \(\d+ us, id %s\)$" % rid
        deadline = time.monotonic() + 2
        while True:
            log = d.log_text().decode(errors="replace")
            if re.search(line, log, re.M) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        check(re.search(line, log, re.M),
              "the request is logged at info (<6>) with its status and id %s" % rid)
        check(re.search(r"^<6>auth failure from 127\.0\.0\.1 \(id %s\): unknown or revoked "
                        r"token" % rid, log, re.M),
              "the auth failure is logged at info with the client and the id")
        leaks = [t for t in list(tokens.values()) + ["A" * 43] if t in log]
        check(not leaks, "no token or presented secret in the log (%s)" % leaks)

        check(d.stop() == 0, "SIGTERM: exit 0")
        log = d.log_text()
        check(b"ERROR" not in log and b"Sanitizer" not in log and b"runtime error" not in log,
              "no error or sanitizer report in the log")
        d = None
    finally:
        if d:
            d.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
