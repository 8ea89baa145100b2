"""Plots bench/kv_designs.sh's CSV: throughput and host/engine CPU per million requests per design."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
designs = list(dict.fromkeys(r["design"] for r in rows))
cases = list(dict.fromkeys((r["workload"], r["dist"]) for r in rows))
fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8))
width = 0.8 / max(len(cases), 1)
for i, (w, t) in enumerate(cases):
    xs = [j + i * width for j in range(len(designs))]
    get = {r["design"]: r for r in rows if (r["workload"], r["dist"]) == (w, t)}
    top.bar(xs, [float(get[d]["mops"]) if d in get else 0 for d in designs], width,
            label="YCSB-%s %s" % (w.upper(), t))
    bottom.bar(xs, [float(get[d]["host_cpu_per_mreq"]) if d in get else 0 for d in designs], width,
               label="host, YCSB-%s %s" % (w.upper(), t))
    bottom.bar(xs, [float(get[d]["engine_cpu_per_mreq"]) if d in get else 0 for d in designs],
               width, bottom=[float(get[d]["host_cpu_per_mreq"]) if d in get else 0
                              for d in designs], alpha=0.35, hatch="//", color="grey")
mid = [j + 0.4 - width / 2 for j in range(len(designs))]
for ax in (top, bottom):
    ax.set_xticks(mid)
    ax.set_xticklabels(designs)
top.set_ylabel("Mops (verified)")
top.set_title("buddykv designs (2-core machine: engine, host and client share cores)")
top.legend(fontsize=7, ncol=3)
bottom.set_ylabel("CPU s per million requests\n(colour: host, grey: engine)")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
print("plot:", sys.argv[2])
