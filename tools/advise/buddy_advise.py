#!/usr/bin/python3
"""buddy-advise: should this buddy::msg program run inline or offloaded, on this machine?

usage: buddy-advise [--model FILE] [--ranks N] [--json] -- PROGRAM [ARGS...]

Runs PROGRAM inline once (buddy-run -n N --routing none -- PROGRAM --json ARGS) as a short
calibration, reads mem_bytes, msg_bytes, handler_s and compute_s from its JSON line (the fields
every app in apps/ prints, docs/apps.md), and prints the memory-to-communication ratio, the
offload speedup predicted by the model that `./buddy reproduce` fitted on this machine
(DIR/model.json, default build/reproduce/model.json), the fit's confidence, and the recommended
mode and engine knobs. --json prints one JSON object instead. Exit status: 0, 1 when the
calibration run fails, 2 for bad arguments or a missing or unreadable model.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, "@BUDDY_REPRODUCE_DIR@")
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "reproduce"))
import offload_model  # noqa: E402

USAGE = "usage: buddy-advise [--model FILE] [--ranks N] [--json] -- PROGRAM [ARGS...]"


def fail(msg, code=2):
    print(f"buddy-advise: {msg}", file=sys.stderr)
    sys.exit(code)


def parse(argv):
    opts = {"model": os.environ.get("BUDDY_ADVISE_MODEL",
                                    os.path.join(HERE, "..", "reproduce", "model.json")),
            "ranks": 2, "json": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            prog = argv[i + 1:]
            if not prog:
                fail("no PROGRAM after -- (" + USAGE + ")")
            return opts, prog
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a == "--json":
            opts["json"] = True
        elif a in ("--model", "--ranks"):
            if i + 1 >= len(argv):
                fail(f"{a} needs a value")
            opts[a[2:]] = argv[i + 1]
            i += 1
        else:
            fail(f"unknown argument '{a}' ({USAGE})")
        i += 1
    fail("no PROGRAM: give it after -- (" + USAGE + ")")


def main(argv):
    opts, prog = parse(argv)
    try:
        ranks = int(opts["ranks"])
        if not 1 <= ranks <= 4096:
            raise ValueError
    except ValueError:
        fail(f"--ranks must be an integer in 1..4096, not '{opts['ranks']}'")
    if not os.path.exists(opts["model"]):
        fail(f"no model at {os.path.normpath(opts['model'])}: run ./buddy reproduce msg "
             "(it writes model.json) or give --model FILE")
    try:
        model = offload_model.load(opts["model"])
    except (OSError, ValueError) as e:
        fail(f"unreadable model: {str(e).splitlines()[0]}")
    run = os.path.join(HERE, "buddy-run")
    if not os.access(run, os.X_OK):
        fail(f"buddy-run not found beside buddy-advise ({run})")
    cmd = [run, "-n", str(ranks), "--routing", "none", "--mode", "inline", "--", prog[0]]
    cmd += ([] if "--json" in prog[1:] else ["--json"]) + prog[1:]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or not lines:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        fail(f"calibration run of {prog[0]} failed (exit {p.returncode}): {err}", 1)
    try:
        r = json.loads(lines[-1])
    except json.JSONDecodeError:
        fail(f"{prog[0]} printed a line that is not JSON: {lines[-1][:80]}", 1)
    for k in ("mem_bytes", "msg_bytes"):
        if not isinstance(r.get(k), (int, float)):
            fail(f"{prog[0]}'s JSON line has no '{k}' (a buddy::msg app of apps/ prints it)", 1)
    if r["msg_bytes"] <= 0 or r["mem_bytes"] <= 0:
        fail(f"{prog[0]} sent {r['msg_bytes']} message bytes and counted {r['mem_bytes']} "
             "memory bytes: no ratio to predict from", 1)
    ratio = r["mem_bytes"] / r["msg_bytes"]
    speedup, lo, hi = offload_model.predict(model, ratio)
    mode, confidence = offload_model.recommend(model, ratio)
    knobs = model.get("knobs", {})
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(knobs.items()))
    out = {"program": os.path.basename(prog[0]), "ranks": ranks, "ratio": round(ratio, 4),
           "mem_bytes": r["mem_bytes"], "msg_bytes": r["msg_bytes"],
           "handler_s": r.get("handler_s"), "compute_s": r.get("compute_s"),
           "elapsed_s": r.get("elapsed_s"), "verified": r.get("verified"),
           "predicted_speedup": round(speedup, 4), "predicted_low": round(lo, 4),
           "predicted_high": round(hi, 4), "r2": round(model["r2"], 4),
           "residual_sd": round(model["residual_sd"], 4), "model_apps": model.get("n"),
           "mode": mode, "confidence": confidence, "knobs": knobs,
           "model": os.path.normpath(opts["model"])}
    if opts["json"]:
        print(json.dumps(out))
        return 0
    print(f"program: {out['program']} (calibration: inline, {ranks} ranks, "
          f"{out['elapsed_s']} s, verified {str(out['verified']).lower()})")
    print(f"memory-to-communication ratio: {ratio:.3f} (mem {r['mem_bytes']} B, msg "
          f"{r['msg_bytes']} B; handler {out['handler_s']} s, compute {out['compute_s']} s)")
    print(f"predicted offload speedup: {speedup:.2f}x ({lo:.2f}-{hi:.2f}x; fit R^2 "
          f"{model['r2']:.2f} over {model.get('n', '?')} apps of this machine)")
    print(f"recommended: {mode} (confidence {confidence})")
    if mode == "offload":
        print(f"run it as: buddy-run -n {ranks} --mode offload {flags} -- {' '.join(prog)}")
    else:
        print(f"engine knobs if you offload anyway: {flags or '(defaults)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
