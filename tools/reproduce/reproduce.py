#!/usr/bin/python3
"""./buddy reproduce: the DPU-KV and Buddy papers' studies on this machine, one report.

usage: reproduce.py run [kv|msg|all] [--quick] [--out DIR] [--bin DIR]
       reproduce.py report DIR

`run` measures (every run verified, a progress line per run, a CSV per experiment, meta.json,
model.json for buddy-advise) and then writes the report; `report` writes DIR/report.md and the
figures from the CSVs already in DIR (no run). Exit status: 0 when every run was verified, 1 when
a run failed verification or could not run, 2 for bad arguments.
"""
import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import experiments as ex  # noqa: E402
import offload_model  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def machine_info():
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"cores": os.cpu_count() or 1, "cpu_model": model, "memory_gib": round(mem_gib, 1),
            "load_at_start": load, "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def plan(env, which):
    """[(experiment, label, estimated seconds, fn)]: fn() returns {experiment: [rows]}."""
    steps = []
    q = env.quick
    kv_s = env.duration + (1.2 if q else 3.0)  # server start, preload, stop
    if which in ("kv", "all"):
        workloads = ["a", "b", "c"]
        dists = ["zipf", "uniform"]
        for d in ex.DESIGNS:
            for w in workloads:
                for t in dists:
                    steps.append(("kv_designs", f"{d} YCSB-{w.upper()} {t}", kv_s,
                                  _kv(env, "kv_designs", d, w, t)))
        max_threads = max(2, env.ncpu) if q else max(3, env.ncpu)
        for d in ("lat", "sav"):
            for n in range(1, max_threads + 1):
                steps.append(("kv_scaling", f"{d} {n} engine thread(s)", kv_s,
                              _kv(env, "kv_scaling", d, engine_threads=n)))
        for burst in ([1, 8, 64] if q else [1, 4, 16, 64, 256]):
            steps.append(("kv_batch", f"sav burst {burst}", kv_s,
                          _kv(env, "kv_batch", "sav", burst=burst)))
        for spare in ([0, 1] if q else [0, 1, 2]):
            steps.append(("kv_spare", f"dual {spare} spare thread(s)", kv_s,
                          _kv(env, "kv_spare", "dual", spare_threads=spare)))
    if which in ("msg", "all"):
        msg_s = 2.0
        repeat = 2 if q else 5  # the fastest of REPEAT per app and mode
        for app in ex.APPS:
            for mode in ("inline", "offload"):
                for i in range(repeat):
                    steps.append(("msg_runs", f"{app} {mode} {i + 1}/{repeat}", msg_s,
                                  _msg(env, "msg_runs", app, mode)))
        for kb in ([16, 64, 1024] if q else [4, 16, 64, 256, 1024]):
            steps.append(("msg_buffer", f"histogram offload buffer {kb} KiB", msg_s,
                          _msg(env, "msg_buffer", "histogram", "offload", buffer_kb=kb)))
        for s in ([1, 8, 32] if q else [1, 2, 4, 8, 16, 32]):
            steps.append(("msg_sends", f"histogram offload {s} sends in flight", msg_s,
                          _msg(env, "msg_sends", "histogram", "offload", max_sends=s)))
        for n in range(1, max(2, env.ncpu) + 1):
            steps.append(("msg_threads", f"histogram offload {n} engine thread(s)", msg_s,
                          _msg(env, "msg_threads", "histogram", "offload", threads=n)))
        for app in ex.APPS:
            steps.append(("advise", f"buddy-advise {app}", msg_s, _advise(env, app)))
    return steps


def _kv(env, experiment, design, workload="b", dist="zipf", **kw):
    def run():
        row, stages = ex.kv_run(env, design, workload, dist, **kw)
        out = {experiment: [row]}
        if experiment == "kv_designs":
            out["kv_stages"] = stages
        return out
    return run


def _msg(env, experiment, app, mode, **kw):
    return lambda: {experiment: [ex.msg_run(env, app, mode, **kw)]}


def _advise(env, app):
    def run():
        model = os.path.join(env.out, "model.json")
        cmd = [os.path.join(env.bin, "buddy-advise"), "--model", model, "--ranks",
               str(env.ranks), "--json", "--", os.path.join(env.bin, "buddy-" + app)]
        cmd += ex.APP_ARGS[app]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env.mpi_env, timeout=600)
        row = {"app": app, "verified": "false", "note": ""}
        a = ex._last_json(p.stdout)
        if p.returncode != 0 or a is None:
            row["note"] = f"buddy-advise exit {p.returncode}: {p.stderr.strip()[-200:]}"
            return {"advise": [row]}
        row.update(ratio=a["ratio"], predicted_speedup=a["predicted_speedup"],
                   advice=a["mode"], confidence=a["confidence"], verified="true")
        for r in env.ratio_rows:
            if r["app"] == app and r.get("speedup"):
                row["measured_speedup"] = r["speedup"]
                best = "offload" if float(r["speedup"]) > 1.0 else "inline"
                row["measured_best"] = best
                row["agrees"] = "yes" if best == a["mode"] else "no"
        return {"advise": [row]}
    return run


def fmt_s(s):
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def write_rows(out, experiment, rows):
    path = os.path.join(out, experiment + ".csv")
    cols = ex.COLUMNS[experiment]
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        if new:
            w.writeheader()
        for r in rows:
            w.writerow(r)


def fit_model(out, machine):
    """model.json from msg_ratio.csv (and the knobs of the sweeps); None without two points."""
    rows = report.read_csv(out, "msg_ratio")
    pts = [(r["app"], float(r["ratio"]), float(r["speedup"])) for r in rows
           if r.get("verified") == "true" and r.get("speedup") and r.get("ratio")]
    if len(pts) < 2:
        return None
    coeffs = offload_model.fit([(r, s) for _, r, s in pts])
    return offload_model.write(os.path.join(out, "model.json"), coeffs, pts,
                               report.best_knobs(out), machine)


def cmd_run(args):
    bindir = os.path.abspath(args.bin)
    need = ["buddykv-server", "buddykv-engine", "buddykv-bench", "buddy-run", "buddy-engine",
            "buddy-advise"] + ["buddy-" + a for a in ex.APPS]
    missing = [b for b in need if not os.access(os.path.join(bindir, b), os.X_OK)]
    if missing:
        print(f"reproduce: missing in {bindir}: {' '.join(missing)} (./buddy build)",
              file=sys.stderr)
        return 2
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    # A new run replaces the last one's results (only the files it writes).
    mine = [e + ".csv" for e in ex.COLUMNS] + report.FIGURES + ["report.md", "meta.json",
                                                                "model.json"]
    for f in mine:
        if os.path.exists(os.path.join(out, f)):
            os.remove(os.path.join(out, f))
    machine = machine_info()
    env = ex.Env(bindir, args.quick, machine["cores"])
    env.out = out
    env.ratio_rows = []
    steps = plan(env, args.which)
    total_est = sum(s[2] for s in steps)
    print(f"reproduce: {args.which}{' --quick' if args.quick else ''}: {len(steps)} runs, "
          f"expected about {fmt_s(total_est)} on this machine ({machine['cores']} cores, "
          f"load {machine['load_at_start']}); results in {out}", flush=True)
    meta = {"which": args.which, "quick": args.quick, "machine": machine,
            "kv": {"keys": env.keys, "duration_s": env.duration},
            "msg": {"ranks": env.ranks, "app_args": ex.APP_ARGS},
            "expected_s": round(total_est)}
    t0 = time.time()
    done_est = 0.0
    failed = 0
    for i, (experiment, label, est, fn) in enumerate(steps, 1):
        if experiment == "advise" and not env.ratio_rows:
            env.ratio_rows = _ratio_rows(env, out)
            write_rows(out, "msg_ratio", env.ratio_rows)
            if fit_model(out, machine) is None:
                print("reproduce: no model (fewer than two verified apps): no advise runs",
                      file=sys.stderr)
                failed += 1
                break
        t_run = time.time()
        try:
            results = fn()
        except (subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
            results = {experiment: [{"verified": "false",
                                     "note": f"{label}: {type(e).__name__}: {e}"}]}
        for exp, rows in results.items():
            write_rows(out, exp, rows)
            bad = [r for r in rows if r.get("verified") != "true"]
            failed += len(bad)
        done_est += est
        elapsed = time.time() - t0
        eta = elapsed / done_est * (total_est - done_est) if done_est else 0
        row = results[experiment][0]
        mark = "ok" if row.get("verified") == "true" else "FAILED " + row.get("note", "")
        print(f"[{experiment}] {i}/{len(steps)} {label}: {time.time() - t_run:.1f}s {mark} "
              f"| elapsed {fmt_s(elapsed)}, ETA {fmt_s(eta)}", flush=True)
    if args.which in ("msg", "all") and not env.ratio_rows:
        env.ratio_rows = _ratio_rows(env, out)
        write_rows(out, "msg_ratio", env.ratio_rows)
        fit_model(out, machine)
    meta["elapsed_s"] = round(time.time() - t0)
    with open("/proc/loadavg") as f:
        meta["machine"]["load_at_end"] = " ".join(f.read().split()[:3])
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    rc = report.generate(out)
    if failed:
        print(f"reproduce: {failed} run(s) failed verification (marked in report.md)",
              file=sys.stderr)
    return 1 if failed or rc else 0


def _ratio_rows(env, out):
    runs = report.read_csv(out, "msg_runs")
    rows = []
    for app in ex.APPS:
        mine = [r for r in runs if r["app"] == app]
        rows.append(ex.ratio_row(app, env.ranks, [r for r in mine if r["mode"] == "inline"],
                                 [r for r in mine if r["mode"] == "offload"]))
    return rows


def main(argv):
    p = argparse.ArgumentParser(prog="reproduce", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("which", nargs="?", default="all", choices=["kv", "msg", "all"])
    r.add_argument("--quick", action="store_true")
    r.add_argument("--out", default=os.path.join(ROOT, "build", "reproduce"))
    r.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    g = sub.add_parser("report")
    g.add_argument("dir")
    args = p.parse_args(argv)
    if args.cmd == "report":
        if not os.path.isdir(args.dir):
            print(f"reproduce: no such directory {args.dir}", file=sys.stderr)
            return 2
        return report.generate(os.path.abspath(args.dir))
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
