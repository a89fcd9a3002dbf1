#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The web UI's serving (docs/ui.md) by the real daemon over a temp --web-root: index at /, the
security headers on every UI answer, ETag and 304, gzip when accepted (and the same bytes once
unzipped), HEAD, what is not served (dotfiles, symlinks, unknown types, paths under /api/), a
--web-root that cannot be loaded, and GET /api/v1/whoami with tokens of each role.
Prints PASS:/FAIL: lines. Exit 0, 1 on a failure."""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = []
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def check(ok, what):
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        FAILS.append(what)


def ui_headers_ok(h):
    return (h.get("content-security-policy") == CSP and
            h.get("x-content-type-options") == "nosniff" and
            h.get("referrer-policy") == "no-referrer" and h.get("x-frame-options") == "DENY" and
            h.get("cache-control") == "no-cache" and h.get("etag", "").startswith('"'))


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ifd-web.")
    d = None
    try:
        web = os.path.join(work, "web")
        os.makedirs(os.path.join(web, "js"))
        index = b"<!doctype html><title>t</title><script type=module src=js/app.js></script>\n"
        app = b"export const x = 1;\n" + b"// padding that compresses well\n" * 200
        open(os.path.join(web, "index.html"), "wb").write(index)
        open(os.path.join(web, "js", "app.js"), "wb").write(app)
        open(os.path.join(web, "app.css"), "wb").write(b"body{margin:0}\n")
        open(os.path.join(web, ".hidden.js"), "wb").write(b"secret\n")
        open(os.path.join(web, "notes.md"), "wb").write(b"# not a served type\n")
        outside = os.path.join(work, "outside.js")
        open(outside, "wb").write(b"outside\n")
        os.symlink(outside, os.path.join(web, "link.js"))

        d = ifd.Daemon(binary, os.path.join(work, "d"), "--web-root", web)
        st, h, body = d.raw("GET", "/")
        check(st == 200 and body == index and h.get("content-type") == "text/html; charset=utf-8"
              and ui_headers_ok(h), "GET /: index.html with CSP, nosniff, no-referrer, DENY, "
              "no-cache and an ETag (%s %s)" % (st, h.get("content-security-policy")))
        st2, h2, body2 = d.raw("GET", "/", headers={"If-None-Match": h.get("etag", "")})
        check(st2 == 304 and not body2 and ui_headers_ok(h2),
              "the same ETag again: 304, no body, the headers still there (%s)" % st2)
        st, h, body = d.raw("GET", "/js/app.js", headers={"Accept-Encoding": "gzip, br"})
        check(st == 200 and h.get("content-encoding") == "gzip" and
              h.get("vary") == "Accept-Encoding" and len(body) < len(app) and
              gzip.decompress(body) == app and h.get("content-type") ==
              "text/javascript; charset=utf-8",
              "a module with Accept-Encoding gzip: gzipped (%d of %d bytes), the same bytes "
              "unzipped" % (len(body), len(app)))
        st3, h3, body3 = d.raw("GET", "/js/app.js")
        check(st3 == 200 and body3 == app and "content-encoding" not in h3 and
              h3.get("etag") != h.get("etag"), "without gzip: the plain bytes, another ETag")
        st4, h4, _ = d.raw("GET", "/js/app.js", headers={"Accept-Encoding": "gzip;q=0"})
        st5, h5, body5 = d.raw("HEAD", "/app.css")
        check(st4 == 200 and "content-encoding" not in h4 and st5 == 200 and not body5 and
              ui_headers_ok(h5),
              "gzip;q=0 is refused gzip; HEAD: the headers without a body")
        for path in ("/.hidden.js", "/notes.md", "/link.js", "/js", "/nothing.js", "/../outside.js"):
            st, h, body = d.raw("GET", path)
            check(st == 404 and h.get("content-type") == "application/problem+json" and
                  b"outside" not in body and b"secret" not in body,
                  "GET %s: 404 problem, not served" % path)
        st, h, body = d.raw("GET", "/api/v1/health")
        check(st == 200 and "content-security-policy" not in h,
              "the API's answers are the API's (no UI headers)")
        st, _, _ = d.raw("POST", "/", b"{}")
        check(st in (404, 405), "POST / is not served (%s)" % st)
        d.stop()
        d = None

        # A --web-root that cannot be loaded stops the start; an unserved name is named.
        open(os.path.join(web, "bad name.js"), "wb").write(b"x")
        proc = subprocess.run([binary, "--listen", "127.0.0.1:0", "--iscsi-root",
                               os.path.join(work, "d", "iscsi"), "--db",
                               os.path.join(work, "d", "db"), "--lock-dir",
                               os.path.join(work, "d", "lock"), "--auth", "off",
                               "--web-root", web], capture_output=True, timeout=20)
        check(proc.returncode == 1 and b"bad name.js" in proc.stderr,
              "a file name that cannot be served: the start fails naming it (%s)" %
              proc.stderr.decode(errors="replace").strip()[-160:])
        os.unlink(os.path.join(web, "bad name.js"))
        proc = subprocess.run([binary, "--listen", "127.0.0.1:0", "--iscsi-root",
                               os.path.join(work, "d", "iscsi"), "--db",
                               os.path.join(work, "d", "db"), "--lock-dir",
                               os.path.join(work, "d", "lock"), "--auth", "off",
                               "--web-root", os.path.join(work, "none")],
                              capture_output=True, timeout=20)
        check(proc.returncode == 1 and b"--web-root" in proc.stderr,
              "a --web-root that does not exist: the start fails")

        # whoami, with auth on and a token of each role.
        d = ifd.Daemon(binary, os.path.join(work, "d"), "--web-root", web, auth_off=False)
        for role in ("viewer", "operator", "admin"):
            out = subprocess.run([binary, "token", "create", "--role", role, "--name", "t-" + role,
                                  "--db", d.db], capture_output=True, text=True, check=True)
            token = out.stdout.strip().split()[-1]
            st, _, res = d.call("GET", "/api/v1/whoami",
                                headers={"Authorization": "Bearer " + token})
            check(st == 200 and isinstance(res, dict) and res.get("role") == role and
                  res.get("actor", "").startswith("token:"),
                  "whoami with a %s token: role %s (%s %s)" % (role, role, st, res))
        st, _, _ = d.call("GET", "/api/v1/whoami")
        st_ui, h, _ = d.raw("GET", "/")
        check(st == 401 and st_ui == 200 and ui_headers_ok(h),
              "without a token: whoami 401, the UI's files still served (they are public)")
    finally:
        if d:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
