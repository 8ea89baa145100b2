"""The experiments of ./buddy reproduce: each a list of runs of the project's own binaries.

A run starts buddykv-server (--json) and buddykv-bench (--verify --json), or buddy-run with one
of the apps (--json, the app verifies its result), and returns one CSV row with a `verified`
column. The plan (which runs, how long each) depends on --quick; the runner prints a progress
line per run and appends each row to DIR/<experiment>.csv as soon as it is measured.
"""
import json
import os
import subprocess
import tempfile
import time

APPS = ["index-gather", "histogram", "transpose", "cc", "particles"]
DESIGNS = ["cpu-only", "engine-only", "lat", "sav", "dual", "shrd"]

# Problem sizes per app: bench/msg_ratio.sh's full sizes (~0.1-0.6 s per run at 2 ranks here),
# in --quick too: smaller problems last tens of ms, and mpirun's noise swamps the comparison.
APP_ARGS = {
    "histogram": ["--updates", "4000000"],
    "index-gather": ["--updates", "2000000"],
    "transpose": ["--rows", "262144", "--nnz-per-row", "16"],
    "cc": ["--scale", "18", "--edge-factor", "16"],
    "particles": ["--cells", "32", "--particles", "200000", "--cycles", "3", "--lookups", "16"],
}

KV_COLUMNS = ["design", "workload", "dist", "engine_threads", "spare_threads", "burst", "mops",
              "p50_us", "p99_us", "host_cpu_per_mreq", "engine_cpu_per_mreq",
              "host_busy_per_mreq", "engine_busy_per_mreq", "verified", "note"]
STAGES = ["receive", "parse", "process", "respond", "idle"]
STAGE_COLUMNS = ["design", "workload", "dist", "side"] + [s + "_us_per_req" for s in STAGES] + [
    "other_us_per_req", "verified"]
MSG_COLUMNS = ["app", "mode", "ranks", "engine_buffer_kb", "engine_max_sends", "engine_threads",
               "elapsed_s", "host_cpu_s", "handler_s", "compute_s", "msgs", "msg_bytes",
               "mem_bytes", "ratio", "verified", "note"]
RATIO_COLUMNS = ["app", "ranks", "ratio", "inline_s", "offload_s", "speedup", "inline_cpu_s",
                 "offload_cpu_s", "verified", "note"]
ADVISE_COLUMNS = ["app", "ratio", "predicted_speedup", "advice", "confidence",
                  "measured_speedup", "measured_best", "agrees", "verified", "note"]

COLUMNS = {"kv_designs": KV_COLUMNS, "kv_stages": STAGE_COLUMNS, "kv_scaling": KV_COLUMNS,
           "kv_batch": KV_COLUMNS, "kv_spare": KV_COLUMNS, "msg_runs": MSG_COLUMNS,
           "msg_ratio": RATIO_COLUMNS, "msg_buffer": MSG_COLUMNS, "msg_sends": MSG_COLUMNS,
           "msg_threads": MSG_COLUMNS, "advise": ADVISE_COLUMNS}


class Env:
    def __init__(self, bindir, quick, ncpu):
        self.bin = bindir
        self.quick = quick
        self.ncpu = ncpu
        self.keys = 20000 if quick else 1000000
        self.duration = 0.5 if quick else 3.0
        self.ranks = 2
        self.mpi_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
                            OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


# ---------------------------------------------------------------- kv
def kv_run(env, design, workload="b", dist="zipf", engine_threads=1, spare_threads=None,
           burst=None):
    """One verified buddykv run: (kv row, [stage rows])."""
    host_cpus = "0"
    engine_cpus = ",".join(str(c % env.ncpu) for c in range(1, 1 + engine_threads))
    client_cpus = str(1 % env.ncpu)
    row = {"design": design, "workload": workload, "dist": dist, "engine_threads": engine_threads,
           "spare_threads": "" if spare_threads is None else spare_threads,
           "burst": "" if burst is None else burst, "verified": "false", "note": ""}
    with tempfile.TemporaryDirectory(prefix="reproduce-kv-") as tmp:
        port_file = os.path.join(tmp, "port")
        cmd = [os.path.join(env.bin, "buddykv-server"), "--design", design, "--port", "0",
               "--port-file", port_file, "--memory", "1G", "--expected-items", str(env.keys),
               "--cpus", host_cpus, "--json"]
        if design != "cpu-only":
            cmd += ["--engine-threads", str(engine_threads), "--engine-cpus", engine_cpus]
        if spare_threads is not None:
            cmd += ["--spare-threads", str(spare_threads)]
        if burst is not None:
            cmd += ["--burst", str(burst)]
        with open(os.path.join(tmp, "server.err"), "w") as err:
            srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            t0 = time.time()
            while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
                if srv.poll() is not None or time.time() - t0 > 20:
                    row["note"] = "server did not start: " + _tail(tmp, "server.err")
                    return row, []
                time.sleep(0.05)
            with open(port_file) as f:
                port = f.read().strip()
            bench = subprocess.run(
                [os.path.join(env.bin, "buddykv-bench"), "--target", f"buddykv://127.0.0.1:{port}",
                 "--workload", workload, "--dist", dist, "--keys", str(env.keys), "--duration",
                 str(env.duration), "--verify", "--cpus", client_cpus, "--json", "--quiet"],
                capture_output=True, text=True, timeout=120 + 4 * env.duration)
        finally:
            if srv.poll() is None:
                srv.send_signal(2)
            try:
                out, _ = srv.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                srv.kill()
                out, _ = srv.communicate()
    b = _last_json(bench.stdout)
    s = _last_json(out)
    if bench.returncode != 0 or b is None:
        row["note"] = f"buddykv-bench exit {bench.returncode}: {bench.stderr.strip()[-200:]}"
        return row, []
    if s is None:
        row["note"] = "no server statistics"
        return row, []
    row.update({"mops": b["mops"], "p50_us": b["p50_us"], "p99_us": b["p99_us"],
                "host_cpu_per_mreq": s.get("host_cpu_s_per_mreq") or 0,
                "engine_cpu_per_mreq": s.get("engine_cpu_s_per_mreq") or 0,
                "host_busy_per_mreq": s.get("host_busy_cpu_s_per_mreq") or 0,
                "engine_busy_per_mreq": s.get("engine_busy_cpu_s_per_mreq") or 0})
    engine_ok = s.get("engine", {}).get("state", "ok") == "ok"
    ok = bool(b.get("verified")) and b.get("errors", 1) == 0 and engine_ok
    row["verified"] = "true" if ok else "false"
    if not ok:
        row["note"] = f"errors={b.get('errors')} engine={s.get('engine', {}).get('state', '-')}"
    return row, stage_rows(s, row)


def stage_rows(stats, row):
    """Per side: CPU microseconds per request of each stage, and 'other' (the rest of the
    side's thread CPU: loop, queues, system time not inside a stage)."""
    reqs = stats.get("requests") or 0
    out = []
    for side in ("host", "engine"):
        ws = [w for w in stats.get("workers", []) if w.get("side") == side]
        if not ws or reqs == 0:
            continue
        r = {"design": row["design"], "workload": row["workload"], "dist": row["dist"],
             "side": side, "verified": row["verified"]}
        staged_ms = 0.0
        for st in STAGES:
            ms = sum(w.get("stage_cpu_ms", {}).get(st, 0) for w in ws)
            staged_ms += ms
            r[st + "_us_per_req"] = round(ms * 1e3 / reqs, 4)
        cpu_ms = sum(w.get("cpu_s", 0) for w in ws) * 1e3
        r["other_us_per_req"] = round(max(cpu_ms - staged_ms, 0.0) * 1e3 / reqs, 4)
        out.append(r)
    return out


# ---------------------------------------------------------------- msg
def msg_run(env, app, mode, buffer_kb=None, max_sends=None, threads=None):
    """One buddy-run of APP (verified by the app itself): a msg row."""
    cmd = [os.path.join(env.bin, "buddy-run"), "-n", str(env.ranks), "--routing", "none"]
    if mode == "offload":
        cmd += ["--mode", "offload"]
        if buffer_kb:
            cmd += ["--engine-buffer-kb", str(buffer_kb)]
        if max_sends:
            cmd += ["--engine-max-sends", str(max_sends)]
        if threads:
            cmd += ["--engine-threads", str(threads)]
    cmd += ["--", os.path.join(env.bin, "buddy-" + app), "--json"] + APP_ARGS[app]
    row = {"app": app, "mode": mode, "ranks": env.ranks, "engine_buffer_kb": buffer_kb or "",
           "engine_max_sends": max_sends or "", "engine_threads": threads or "",
           "verified": "false", "note": ""}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env.mpi_env, timeout=600)
    r = _last_json(p.stdout)
    if r is None:
        row["note"] = f"exit {p.returncode}, no JSON line: {(p.stderr or p.stdout).strip()[-200:]}"
        return row
    for k in ("elapsed_s", "host_cpu_s", "handler_s", "compute_s", "msgs", "msg_bytes",
              "mem_bytes"):
        row[k] = r.get(k, "")
    row["ratio"] = r.get("mem_bytes_per_msg_byte", "")
    ok = p.returncode == 0 and r.get("verified") is True
    row["verified"] = "true" if ok else "false"
    if not ok:
        row["note"] = f"exit {p.returncode}, verified={r.get('verified')}"
    return row


def ratio_row(app, ranks, inline_rows, offload_rows):
    """The app's msg_ratio row: the fastest verified run of each mode."""
    def best(rows):
        good = [r for r in rows if r["verified"] == "true"]
        return min(good, key=lambda r: float(r["elapsed_s"])) if good else None
    i, o = best(inline_rows), best(offload_rows)
    row = {"app": app, "ranks": ranks, "verified": "true", "note": ""}
    if i is None or o is None or len([r for r in inline_rows + offload_rows
                                      if r["verified"] != "true"]):
        row["verified"] = "false"
        row["note"] = "a run failed verification"
    if i:
        row.update(ratio=i["ratio"], inline_s=i["elapsed_s"], inline_cpu_s=i["host_cpu_s"])
    if o:
        row.update(offload_s=o["elapsed_s"], offload_cpu_s=o["host_cpu_s"])
    if i and o and float(o["elapsed_s"]) > 0:
        row["speedup"] = round(float(i["elapsed_s"]) / float(o["elapsed_s"]), 4)
    return row


# ---------------------------------------------------------------- helpers
def _last_json(text):
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _tail(tmp, name):
    try:
        with open(os.path.join(tmp, name)) as f:
            return f.read().strip()[-200:]
    except OSError:
        return ""
