#!/usr/bin/python3
"""buddy-advise on two apps of opposite ratio against a small committed model (model_small.json:
speedup 1 at ratio 54.6): histogram (ratio ~2 at this size, < 10) must get inline, particles (ratio in the
hundreds) offload, each prediction the model's own at the measured ratio; bad arguments and a
missing model: one line, exit 2; a calibration run that fails: one line, exit 1.

usage: advise_test.py BIN_DIR MODEL
"""
import json
import math
import os
import subprocess
import sys

bindir, model_path = sys.argv[1], sys.argv[2]
advise = os.path.join(bindir, "buddy-advise")
model = json.load(open(model_path))
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([advise, *args], capture_output=True, text=True, timeout=300)


cases = {
    "histogram": (["--updates", "100000"], "inline", lambda r: r < 10.0),
    "particles": (["--cells", "12", "--particles", "4000", "--cycles", "1", "--lookups", "16"],
                  "offload", lambda r: r > 100.0),
}
ratios = {}
for app, (args, want, ratio_ok) in cases.items():
    p = run("--model", model_path, "--json", "--", os.path.join(bindir, "buddy-" + app), *args)
    check(p.returncode == 0, f"{app}: exit 0 (got {p.returncode}: {p.stderr.strip()[-200:]})")
    if p.returncode != 0:
        continue
    a = json.loads(p.stdout.strip().splitlines()[-1])
    ratios[app] = a["ratio"]
    check(a["verified"] is True, f"{app}: calibration run verified")
    check(abs(a["ratio"] - a["mem_bytes"] / a["msg_bytes"]) < 1e-3 * a["ratio"],
          f"{app}: ratio {a['ratio']} = mem_bytes / msg_bytes")
    check(ratio_ok(a["ratio"]), f"{app}: ratio {a['ratio']} in the expected range")
    expect = math.exp(model["a"] + model["b"] * math.log(a["ratio"]))
    check(abs(a["predicted_speedup"] - expect) < 1e-3 * expect + 1e-4,
          f"{app}: predicted {a['predicted_speedup']} = model at the ratio ({expect:.4f})")
    check(a["predicted_low"] < a["predicted_speedup"] < a["predicted_high"],
          f"{app}: the band holds the prediction")
    check(a["mode"] == want, f"{app}: advice {a['mode']} (want {want})")
    check(a["knobs"] == model["knobs"], f"{app}: the model's knobs")
check(len(ratios) == 2 and ratios.get("particles", 0) > 20 * ratios.get("histogram", 1),
      "the two apps' ratios are of opposite kinds")

# Text output: the ratio, the prediction and the recommendation.
p = run("--model", model_path, "--", os.path.join(bindir, "buddy-histogram"), "--updates", "50000")
check(p.returncode == 0 and "recommended: inline" in p.stdout
      and "memory-to-communication ratio:" in p.stdout, "text output names ratio and advice")

# Errors: one line each.
missing = os.path.join(os.path.dirname(model_path), "no-such-model.json")
for args, code, what in (
        ([], 2, "no PROGRAM"),
        (["--model", model_path], 2, "no -- PROGRAM"),
        (["--bogus", "--", "x"], 2, "unknown argument"),
        (["--model", model_path, "--ranks", "zero", "--", "x"], 2, "--ranks not a number"),
        (["--model", missing, "--", os.path.join(bindir, "buddy-histogram")], 2, "missing model"),
        (["--model", os.path.join(bindir, "buddy-run"), "--", "x"], 2, "a model that is no JSON"),
        (["--model", model_path, "--", os.path.join(bindir, "buddy-histogram"), "--updates",
          "many"], 1, "a failing calibration run")):
    p = run(*args)
    lines = p.stderr.strip().splitlines()
    check(p.returncode == code and len(lines) == 1 and lines[0].startswith("buddy-advise: ")
          and p.stdout == "",
          f"{what}: exit {code} with one line (got {p.returncode}: {p.stderr.strip()[:200]})")

print(f"advise_test: {len(failures)} check(s) failed" if failures else "advise_test: all checks passed")
sys.exit(1 if failures else 0)
