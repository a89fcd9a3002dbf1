#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The request lines of a crash are not lost (common/log.h log_crash_flush()): at info level the
daemon logs a line a request through the log's own thread, which gathers lines for about 5 ms
before it writes them. A fatal signal in those 5 ms used to take them with it.

  1. Five GETs in a row, each with its own X-Request-Id, then at once SIGABRT (what abort()
     raises after a failed assertion): the daemon ends by that signal, and its log has the
     line of each of the five requests.
  2. The same with SIGSEGV, unless the daemon is built with AddressSanitizer (which keeps that
     signal for its own report): the last request's line is there.

No core file is written (RLIMIT_CORE 0 for the daemon).

usage: crash-log.py path/to/iscsi-ifaced
"""
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ifd  # noqa: E402

FAILS = ifd.FAILS
check = ifd.check


def asan_build(binary):
    """Whether the binary has AddressSanitizer's runtime: linked statically (clang's default) or
    as libasan (gcc's)."""
    with open(binary, "rb") as f:
        if b"__asan_init" in f.read():
            return True
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return "libasan" in out


def crash(binary, work, sig, n):
    """n GETs with their own ids, then sig at once. Returns (exit code, the ids, the log)."""
    d = ifd.Daemon(binary, work, "--log-level", "info")
    try:
        st, _, _ = d.call("GET", "/api/v1/health")
        check(st == 200, "the daemon answers")
        time.sleep(0.2)  # the log's thread has written what there was and waits
        ids = []
        for i in range(n):
            rid = "crash-log-%s-%d" % (signal.Signals(sig).name, i)
            st, _, _ = d.call("GET", "/api/v1/ifaces", headers={"X-Request-Id": rid})
            check(st == 200, "GET %s" % rid)
            ids.append(rid)
        d.proc.send_signal(sig)
        code = d.proc.wait(timeout=15)
        return code, ids, d.log_text().decode(errors="replace")
    finally:
        d.kill()


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ifd-crash-log-")
    # No core file from the daemons (they inherit it).
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        sigs = [signal.SIGABRT]
        if asan_build(binary):
            print("skip: SIGSEGV (AddressSanitizer keeps it for its report)")
        else:
            sigs.append(signal.SIGSEGV)
        for sig in sigs:
            code, ids, log = crash(binary, os.path.join(work, signal.Signals(sig).name), sig,
                                   5)
            check(code == -sig, "the daemon ended by %s (exit %s)" %
                  (signal.Signals(sig).name, code))
            missing = [rid for rid in ids if not re.search(
                r"^<6>GET /api/v1/ifaces -> 200 \(\d+ us, id %s\)$" % re.escape(rid), log,
                re.M)]
            check(not missing, "after %s the log has the line of each request (missing: %s)" %
                  (signal.Signals(sig).name, missing))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
