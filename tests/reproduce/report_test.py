#!/usr/bin/python3
"""The report step of ./buddy reproduce on canned CSVs written here (no run): report.md opens
with the machine, has a table per experiment and at least eight PNG figures, each a real PNG
that the report links; a row that failed verification is marked FAILED and makes the exit
status 1; with every row verified the exit status is 0 and nothing is marked. The offload
model's fit recovers known coefficients. A missing directory, or a run without the
binaries: exit 2.

usage: report_test.py TOOLS_REPRODUCE_DIR
"""
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile

tools = sys.argv[1]
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, tools)
import experiments as ex  # noqa: E402
import offload_model  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def write(d, name, rows):
    with open(os.path.join(d, name + ".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ex.COLUMNS[name], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def kv(design, **kw):
    r = {"design": design, "workload": "b", "dist": "zipf", "engine_threads": 1, "mops": 1.5,
         "p50_us": 40, "p99_us": 300, "host_cpu_per_mreq": 0.2 if design == "cpu-only" else 0.1,
         "engine_cpu_per_mreq": 0 if design == "cpu-only" else 0.3, "host_busy_per_mreq": 0.1,
         "engine_busy_per_mreq": 0.1, "verified": "true"}
    r.update(kw)
    return r


def canned(d, fail):
    json.dump({"which": "all", "quick": True, "elapsed_s": 1, "expected_s": 1,
               "machine": {"cores": 2, "cpu_model": "Test CPU 9000", "memory_gib": 24,
                           "load_at_start": "0.50 0.40 0.30", "kernel": "test"}},
              open(os.path.join(d, "meta.json"), "w"))
    write(d, "kv_designs", [kv("cpu-only"), kv("sav", verified="false" if fail else "true",
                                               note="errors=3" if fail else ""),
                            kv("lat", workload="a")])
    write(d, "kv_stages", [{"design": "sav", "workload": "b", "dist": "zipf", "side": s,
                            "receive_us_per_req": 0.1, "parse_us_per_req": 0.1,
                            "process_us_per_req": 0.2, "respond_us_per_req": 0.1,
                            "idle_us_per_req": 1, "other_us_per_req": 0.05, "verified": "true"}
                           for s in ("host", "engine")])
    write(d, "kv_scaling", [kv(x, engine_threads=n) for x in ("lat", "sav") for n in (1, 2)])
    write(d, "kv_batch", [kv("sav", burst=b, mops=0.1 * b) for b in (1, 8, 64)])
    write(d, "kv_spare", [kv("dual", spare_threads=n) for n in (0, 1)])
    apps = [("index-gather", 0.25, 0.35), ("histogram", 0.67, 0.4), ("transpose", 1.0, 0.55),
            ("cc", 9.8, 0.9), ("particles", 500, 1.05)]
    write(d, "msg_ratio", [{"app": a, "ranks": 2, "ratio": r, "inline_s": 0.1,
                            "offload_s": 0.1 / s, "speedup": s, "verified": "true"}
                           for a, r, s in apps])
    sweep = lambda col, vals: [{"app": "histogram", "mode": "offload", col: v,  # noqa: E731
                                "elapsed_s": 0.2 + 0.01 * i, "host_cpu_s": 0.3, "msgs": 1000,
                                "verified": "true"} for i, v in enumerate(vals)]
    write(d, "msg_buffer", sweep("engine_buffer_kb", [16, 64, 1024]))
    write(d, "msg_sends", sweep("engine_max_sends", [1, 8, 32]))
    write(d, "msg_threads", sweep("engine_threads", [1, 2]))
    write(d, "advise", [{"app": a, "ratio": r, "predicted_speedup": s, "advice": "inline",
                         "confidence": "high", "measured_speedup": s, "measured_best": "inline",
                         "agrees": "yes", "verified": "true"} for a, r, s in apps])
    coeffs = offload_model.fit([(r, s) for _, r, s in apps])
    offload_model.write(os.path.join(d, "model.json"), coeffs, apps, {"engine_threads": 1}, {})


def generate(d):
    return subprocess.run([sys.executable, os.path.join(tools, "reproduce.py"), "report", d],
                          capture_output=True, text=True, timeout=120)


with tempfile.TemporaryDirectory(prefix="report-test-") as d:
    canned(d, fail=True)
    p = generate(d)
    check(p.returncode == 1, f"a failed verification: exit 1 (got {p.returncode} {p.stderr})")
    md = open(os.path.join(d, "report.md")).read()
    check(md.startswith("# ") and md.split("\n## ")[1].startswith("The machine"),
          "report opens with the machine")
    check("Test CPU 9000" in md and "0.50 0.40 0.30" in md, "CPU model and load average shown")
    check("cannot" in md and "1.55x" in md, "says what cannot be shown, with the paper's figure")
    check(re.search(r"\| sav \| b \| zipf \|[^\n]*\*\*FAILED\*\* errors=3", md) is not None,
          "the failed row is marked FAILED in its table")
    check("1 run(s) FAILED verification" in md, "the verdict counts the failed run")
    pngs = sorted(f for f in os.listdir(d) if f.endswith(".png"))
    check(len(pngs) >= 8, f"at least eight figures ({len(pngs)}: {pngs})")
    for f in pngs:
        with open(os.path.join(d, f), "rb") as fh:
            check(fh.read(8) == b"\x89PNG\r\n\x1a\n", f"{f} is a PNG")
        check(f"]({f})" in md, f"{f} is linked from report.md")
    for t in ("kv_designs", "kv_stages", "kv_scaling", "kv_batch", "kv_spare", "msg_ratio",
              "msg_buffer", "msg_sends", "msg_threads", "advise"):
        check(f"[{t}.csv]({t}.csv)" in md, f"{t}.csv linked")
    check("Validation: buddy-advise" in md and "5 of 5 apps" in md, "validation section")
    canned(d, fail=False)
    p = generate(d)
    md = open(os.path.join(d, "report.md")).read()
    check(p.returncode == 0 and "FAILED" not in md and "every run verified" in md,
          f"all verified: exit 0, nothing marked (got {p.returncode})")

pts = [(r, math.exp(0.1) * r ** 0.2) for r in (0.25, 1, 10, 500)]
m = offload_model.fit(pts)
check(abs(m["a"] - 0.1) < 1e-9 and abs(m["b"] - 0.2) < 1e-9 and abs(m["r2"] - 1) < 1e-9,
      f"the fit recovers a=0.1 b=0.2 R^2=1 ({m})")
mm = dict(m, residual_sd=0.1)
check(offload_model.recommend(mm, 0.3)[0] == "inline" and
      offload_model.recommend(dict(mm, a=-1.0), 0.3)[0] == "inline" and
      offload_model.recommend(mm, 500)[0] == "offload", "recommend follows the prediction")
p = subprocess.run([sys.executable, os.path.join(tools, "reproduce.py"), "report",
                    "/nonexistent/dir"], capture_output=True, text=True)
check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, "missing dir: exit 2")
with tempfile.TemporaryDirectory(prefix="report-test-") as d:
    p = subprocess.run([sys.executable, os.path.join(tools, "reproduce.py"), "run", "--quick",
                        "--bin", os.path.join(d, "no-bin"), "--out", d],
                       capture_output=True, text=True)
    check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
          and "missing in" in p.stderr and not os.listdir(d),
          f"run without the binaries: exit 2, one line, nothing written ({p.stderr.strip()})")
print(f"report_test: {len(failures)} check(s) failed" if failures else
      "report_test: all checks passed")
sys.exit(1 if failures else 0)
