"""Writes DIR/report.md and the PNG figures from the CSVs (and meta.json, model.json) in DIR.

Separate from the runs, so it can be run (and tested) on any set of CSVs: every CSV that is
there gets its table and figure; a row whose `verified` is not "true" is marked FAILED in the
report and makes generate() return 1.
"""
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import offload_model  # noqa: E402

# What the papers report, as far as this project's docs quote them (README.md, docs/apps.md,
# docs/kv-designs.md). Nothing else is claimed for the papers here.
PAPER = {
    "buddy": "offload speedups of up to 1.55x for the memory-bound apps on a host with spare "
             "cores or a DPU for the engine (the figure README.md quotes); the speedup grows "
             "with the memory-to-communication ratio",
    "dpukv": "the project's docs quote no DPU-KV (HPDC'25) throughput, latency or CPU figure: "
             "unknown here. Its claim as the docs describe it: offloading the communication "
             "engine (receive, parse, respond) to a DPU cuts the host CPU per request",
}


# Every figure generate() can write.
FIGURES = ["kv_throughput.png", "kv_p99.png", "kv_cpu_per_req.png", "kv_stages.png",
           "kv_scaling.png", "kv_batch.png", "kv_spare.png", "msg_ratio.png", "msg_buffer.png",
           "msg_sends.png", "msg_threads.png"]


def read_csv(out, name):
    path = os.path.join(out, name + ".csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def best_knobs(out):
    """The fastest verified setting of each engine knob sweep (histogram, offload)."""
    knobs = {}
    for exp, col in (("msg_buffer", "engine_buffer_kb"), ("msg_sends", "engine_max_sends"),
                     ("msg_threads", "engine_threads")):
        rows = [r for r in read_csv(out, exp) if r.get("verified") == "true" and r.get(col)]
        if rows:
            best = min(rows, key=lambda r: num(r["elapsed_s"], 1e9))
            knobs[col] = int(num(best[col]))
    return knobs


def _mark(r):
    return "yes" if r.get("verified") == "true" else "**FAILED** " + (r.get("note") or "")


def _fmt(f):
    return "%.0f" % f if abs(f) >= 100 else "%.3g" % f


def _table(rows, cols, heads):
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        cells = []
        for c in cols:
            if c == "verified":
                cells.append(_mark(r))
            else:
                v = r.get(c, "")
                f = num(v, None)
                cells.append(_fmt(f) if f is not None and v != "" else str(v or "–"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- figures
def _save(fig, out, name, figs):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=70)
    plt.close(fig)
    figs.append(name)


def _bars(rows, value, ylabel, title, out, name, figs, stack=None):
    designs = list(dict.fromkeys(r["design"] for r in rows))
    cases = list(dict.fromkeys((r["workload"], r["dist"]) for r in rows))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(cases), 1)
    for i, (w, t) in enumerate(cases):
        get = {r["design"]: r for r in rows if (r["workload"], r["dist"]) == (w, t)}
        xs = [j + i * width for j in range(len(designs))]
        ys = [num(get[d].get(value)) if d in get else 0 for d in designs]
        ax.bar(xs, ys, width, label=f"YCSB-{w.upper()} {t}")
        if stack:
            ax.bar(xs, [num(get[d].get(stack)) if d in get else 0 for d in designs], width,
                   bottom=ys, color="grey", alpha=0.4, hatch="//")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(designs))])
    ax.set_xticklabels(designs)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    _save(fig, out, name, figs)


def _lines(rows, xcol, series, ylabels, title, out, name, figs, group=None, logx=False):
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.6))
    axes = axes if len(series) > 1 else [axes]
    groups = list(dict.fromkeys(r[group] for r in rows)) if group else [None]
    for ax, col, yl in zip(axes, series, ylabels):
        for g in groups:
            rs = sorted([r for r in rows if group is None or r[group] == g],
                        key=lambda r: num(r[xcol]))
            ok = [r for r in rs if r.get("verified") == "true"]
            ax.plot([num(r[xcol]) for r in ok], [num(r.get(col)) for r in ok], "o-",
                    label=g or None)
            bad = [r for r in rs if r.get("verified") != "true"]
            if bad:
                ax.plot([num(r[xcol]) for r in bad], [0] * len(bad), "rx", label="FAILED")
        ax.set_xlabel(xcol)
        ax.set_ylabel(yl)
        if logx:
            ax.set_xscale("log", base=2)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if group or any(r.get("verified") != "true" for r in rows):
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    _save(fig, out, name, figs)


def _ratio_scatter(rows, model, out, figs):
    fig, ax = plt.subplots(figsize=(6, 4))
    ok = [r for r in rows if r.get("speedup")]
    xs, ys = [num(r["ratio"]) for r in ok], [num(r["speedup"]) for r in ok]
    ax.scatter(xs, ys)
    for r, x, y in zip(ok, xs, ys):
        ax.annotate(r["app"] + ("" if r.get("verified") == "true" else " FAILED"), (x, y),
                    fontsize=8, textcoords="offset points", xytext=(4, 4))
    if model and xs:
        lo, hi = min(xs) / 1.5, max(xs) * 1.5
        gx = [lo * (hi / lo) ** (i / 40) for i in range(41)]
        ax.plot(gx, [offload_model.predict(model, x)[0] for x in gx], "--",
                label=f"fit: R^2 {model['r2']:.2f}")
        ax.legend(fontsize=8)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("memory-to-communication ratio (mem B per msg B)")
    ax.set_ylabel("offload speedup (inline / offload time)")
    ax.set_title("buddy::msg apps: offload speedup vs ratio")
    _save(fig, out, "msg_ratio.png", figs)


def _stages(rows, out, figs):
    # One workload (YCSB-B Zipf when there) per design and side; the table has them all.
    cases = list(dict.fromkeys((r["workload"], r["dist"]) for r in rows))
    case = ("b", "zipf") if ("b", "zipf") in cases else cases[0]
    rows = [r for r in rows if (r["workload"], r["dist"]) == case]
    labels = [f"{r['design']}\n{r['side']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(7, 0.8 * len(rows)), 4.2))
    bottom = [0.0] * len(rows)
    for st in ("receive", "parse", "process", "respond", "other"):
        ys = [num(r.get(st + "_us_per_req")) for r in rows]
        ax.bar(range(len(rows)), ys, bottom=bottom, label=st)
        bottom = [b + y for b, y in zip(bottom, ys)]
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("CPU µs per request (idle polling left out)")
    ax.set_title(f"buddykv per-stage CPU per request, YCSB-{case[0].upper()} {case[1]}")
    ax.legend(fontsize=7)
    _save(fig, out, "kv_stages.png", figs)


# ---------------------------------------------------------------- report
def generate(out):
    meta = {}
    if os.path.exists(os.path.join(out, "meta.json")):
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
    model = None
    if os.path.exists(os.path.join(out, "model.json")):
        model = offload_model.load(os.path.join(out, "model.json"))
    data = {n: read_csv(out, n) for n in ("kv_designs", "kv_stages", "kv_scaling", "kv_batch",
                                          "kv_spare", "msg_ratio", "msg_buffer", "msg_sends",
                                          "msg_threads", "advise", "msg_runs")}
    failed = [(n, r) for n, rows in data.items() for r in rows if r.get("verified") != "true"]
    figs = []
    md = ["# Reproducing DPU-KV (HPDC'25) and Buddy (arXiv 2605.04842) on this machine", ""]
    m = meta.get("machine", {})
    md += ["## The machine", "",
           f"- cores: {m.get('cores', '?')}; CPU: {m.get('cpu_model', '?')}; memory: "
           f"{m.get('memory_gib', '?')} GiB; kernel {m.get('kernel', '?')}",
           f"- load average at start: {m.get('load_at_start', '?')}; at end: "
           f"{m.get('load_at_end', '?')}; date: {m.get('date', '?')}",
           f"- command: `./buddy reproduce {meta.get('which', '?')}"
           f"{' --quick' if meta.get('quick') else ''}`; took {meta.get('elapsed_s', '?')} s "
           f"(expected {meta.get('expected_s', '?')} s)",
           f"- kv runs: {meta.get('kv', {}).get('keys', '?')} keys, "
           f"{meta.get('kv', {}).get('duration_s', '?')} s each, buddykv-bench --verify; msg runs: "
           f"{meta.get('msg', {}).get('ranks', '?')} ranks, routing none, each app verifies its "
           "own result; app sizes: " + "; ".join(
               f"{app} `{' '.join(a)}`" for app, a in meta.get("msg", {}).get("app_args",
                                                                     {}).items()) +
           " (bench/msg_ratio.sh's sizes)", ""]
    verdict = ("every run verified" if not failed else
               f"**{len(failed)} run(s) FAILED verification** (marked FAILED below)")
    md += [f"**Verification: {verdict}.**", ""]
    cores = m.get("cores", 0)
    md += ["## What this machine can and cannot show", "",
           f"- It has {cores} cores. The client, the host threads and the engine (buddykv), and "
           "the app ranks and the buddy-engine (buddy::msg) all share them. Offloading moves "
           "work to another process without adding a core, so the papers' speedups, which "
           "come from the engine running on a DPU's or spare cores, **cannot** be shown here: "
           "offloaded kv designs are slower than cpu-only, and offload pays only for apps "
           "whose ranks spend little of their time on messaging.",
           "- It **can** show: that every design and mode is correct (every run verified); the "
           "host CPU each kv design spends per request (the figure the offloaded designs exist "
           "to cut) and where it goes, stage by stage; the ordering of the apps' offload "
           "speedups by their memory-to-communication ratio; and the direction of each engine "
           "knob.",
           "- The machine is shared with other jobs (load average above): absolute figures are "
           "noisy; quick runs are single, short runs.", "",
           "| paper | the paper's headline (as quoted by this project's docs) | this run |",
           "|---|---|---|"]
    md.append(f"| DPU-KV | {PAPER['dpukv']} | {_kv_headline(data['kv_designs'])} |")
    md.append(f"| Buddy | {PAPER['buddy']} | {_msg_headline(data['msg_ratio'])} |")
    md.append("")

    d = data["kv_designs"]
    if d:
        md += ["## DPU-KV: the six designs × YCSB A/B/C × uniform/Zipf 0.99", ""]
        _bars(d, "mops", "Mops (verified)", "throughput per design", out, "kv_throughput.png",
              figs)
        _bars(d, "p99_us", "p99 latency (µs)", "p99 latency per design", out, "kv_p99.png", figs)
        _bars(d, "host_cpu_per_mreq", "CPU s per M requests (colour host, grey engine)",
              "host + engine CPU per request", out, "kv_cpu_per_req.png", figs,
              stack="engine_cpu_per_mreq")
        md += ["![throughput](kv_throughput.png)", "![p99](kv_p99.png)",
               "![cpu per request](kv_cpu_per_req.png)", "",
               _table(d, ["design", "workload", "dist", "mops", "p50_us", "p99_us",
                          "host_cpu_per_mreq", "engine_cpu_per_mreq", "host_busy_per_mreq",
                          "verified"],
                      ["design", "YCSB", "dist", "Mops", "p50 µs", "p99 µs", "host CPU s/Mreq",
                       "engine CPU s/Mreq", "host busy s/Mreq", "verified"]), ""]
        md += [_host_vs_cpu_only(d), ""]
    s = data["kv_stages"]
    if s:
        _stages(s, out, figs)
        md += ["### Per-stage CPU per request (µs; the paper's receive / parse / process / "
               "respond / other)", "", "![stages](kv_stages.png)", "",
               _table(s, ["design", "workload", "dist", "side", "receive_us_per_req",
                          "parse_us_per_req", "process_us_per_req", "respond_us_per_req",
                          "other_us_per_req", "idle_us_per_req", "verified"],
                      ["design", "YCSB", "dist", "side", "receive", "parse", "process",
                       "respond", "other", "(idle polling)", "verified"]), ""]
    for name, xcol, title, fig, group, logx in (
            ("kv_scaling", "engine_threads", "Scalability: lat and sav vs engine threads "
             "(YCSB-B Zipf)", "kv_scaling.png", "design", False),
            ("kv_batch", "burst", "The DMA-size study: queue pair batch (CE burst, datagrams) "
             "vs throughput and latency (sav, YCSB-B Zipf)", "kv_batch.png", None, True),
            ("kv_spare", "spare_threads", "dual: spare host threads (YCSB-B Zipf)",
             "kv_spare.png", None, False)):
        rows = data[name]
        if not rows:
            continue
        _lines(rows, xcol, ["mops", "p50_us" if name == "kv_batch" else "host_cpu_per_mreq"],
               ["Mops", "p50 µs (a request waits for its batch)" if name == "kv_batch"
                else "host CPU s per M requests"], title, out, fig, figs, group, logx)
        md += [f"### {title}", "", f"![{name}]({fig})", "",
               _table(rows, ["design", xcol, "mops", "p50_us", "p99_us", "host_cpu_per_mreq",
                             "engine_cpu_per_mreq", "verified"],
                      ["design", xcol, "Mops", "p50 µs", "p99 µs", "host CPU s/Mreq",
                       "engine CPU s/Mreq", "verified"]), ""]

    r = data["msg_ratio"]
    if r:
        _ratio_scatter(r, model, out, figs)
        md += ["## Buddy: the five apps inline vs offload", "", "![ratio](msg_ratio.png)", "",
               _table(r, ["app", "ratio", "inline_s", "offload_s", "speedup", "inline_cpu_s",
                          "offload_cpu_s", "verified"],
                      ["app", "mem/msg ratio", "inline s", "offload s", "speedup",
                       "app CPU s inline", "app CPU s offload", "verified"]), ""]
        if model:
            md += [f"Offload model (model.json, read by buddy-advise): ln(speedup) = "
                   f"{model['a']:.3f} + {model['b']:.3f} ln(ratio), R^2 {model['r2']:.2f}, "
                   f"residual sd {model['residual_sd']:.3f} (ln), {model.get('n', '?')} apps; "
                   f"fastest engine knobs: {model.get('knobs', {})}.", ""]
    for name, xcol, title, fig in (
            ("msg_buffer", "engine_buffer_kb", "Granularity: engine buffer KiB (histogram, "
             "offload)", "msg_buffer.png"),
            ("msg_sends", "engine_max_sends", "Pipelining: engine sends in flight (histogram, "
             "offload)", "msg_sends.png"),
            ("msg_threads", "engine_threads", "Threading: engine threads (histogram, offload)",
             "msg_threads.png")):
        rows = data[name]
        if not rows:
            continue
        _lines(rows, xcol, ["elapsed_s", "host_cpu_s"], ["app time s", "app-rank CPU s"],
               title, out, fig, figs, logx=name != "msg_threads")
        md += [f"### {title}", "", f"![{name}]({fig})", "",
               _table(rows, [xcol, "elapsed_s", "host_cpu_s", "msgs", "verified"],
                      [xcol, "app time s", "app-rank CPU s", "messages", "verified"]), ""]
    a = data["advise"]
    if a:
        agree = sum(1 for x in a if x.get("agrees") == "yes")
        md += ["## Validation: buddy-advise against the measured outcome", "",
               "buddy-advise ran each app inline once (its own calibration run), read the "
               "ratio from the app's --json line and predicted the speedup with model.json; "
               "the measured column is the inline vs offload comparison above.", "",
               _table(a, ["app", "ratio", "predicted_speedup", "advice", "confidence",
                          "measured_speedup", "measured_best", "agrees", "verified"],
                      ["app", "ratio (calibration)", "predicted speedup", "advice",
                       "confidence", "measured speedup", "measured best", "agrees",
                       "verified"]), "",
               f"The advice matches the measured best mode for {agree} of {len(a)} apps. The "
               "model is fitted to these same five points, so this checks consistency, not "
               "prediction on unseen programs.", ""]
    if failed:
        md += ["## Failed verifications", ""]
        md += [f"- {n}: {', '.join(str(v) for k, v in x.items() if v and k != 'verified')}"
               for n, x in failed]
        md.append("")
    md += ["## Files", "", "CSVs: " + ", ".join(
        f"[{n}.csv]({n}.csv)" for n in data if data[n]) + "; figures: " + ", ".join(
        f"[{f}]({f})" for f in figs) + ".", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(f"report: {os.path.join(out, 'report.md')} ({len(figs)} figures, "
          f"{len(failed)} failed verification(s))")
    return 1 if failed else 0


def _vs_cpu_only(rows, design, col):
    base = {(r["workload"], r["dist"]): num(r[col]) for r in rows if r["design"] == "cpu-only"}
    return [num(r[col]) / base[(r["workload"], r["dist"])] for r in rows
            if r["design"] == design and base.get((r["workload"], r["dist"]))]


def _host_vs_cpu_only(rows):
    out = []
    for d in dict.fromkeys(r["design"] for r in rows):
        al = _vs_cpu_only(rows, d, "host_cpu_per_mreq")
        busy = _vs_cpu_only(rows, d, "host_busy_per_mreq")
        if d != "cpu-only" and al and busy:
            out.append(f"{d} {min(al):.2f}–{max(al):.2f}× (busy {min(busy):.2f}–{max(busy):.2f}×)")
    return ("Host CPU per request relative to cpu-only in the same workload (lower saves host "
            "cores; busy: without idle polling): " + "; ".join(out) + ".") if out else ""


def _kv_headline(rows):
    al = _vs_cpu_only(rows, "sav", "host_cpu_per_mreq")
    busy = _vs_cpu_only(rows, "sav", "host_busy_per_mreq")
    if not al or not busy:
        return "no kv data for sav and cpu-only"
    return (f"sav's host CPU per request is {min(busy):.2f}–{max(busy):.2f}× cpu-only's without "
            f"idle polling ({min(al):.2f}–{max(al):.2f}× with it): the host-core saving the "
            "designs exist for; its throughput is lower than cpu-only's (no spare core for the "
            "engine here)")


def _msg_headline(rows):
    ok = [r for r in rows if r.get("speedup")]
    if not ok:
        return "no msg data"
    ok.sort(key=lambda r: num(r["ratio"]))
    return ("speedups by ratio: " + ", ".join(f"{r['app']} {num(r['speedup']):.2f}×"
                                              for r in ok) +
            f"; best {max(num(r['speedup']) for r in ok):.2f}×")
