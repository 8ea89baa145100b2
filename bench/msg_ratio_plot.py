#!/usr/bin/python3
"""Scatter of offload speedup against the memory-to-communication ratio, one point per app.

usage: bench/msg_ratio_plot.py RESULTS.csv OUT.png
Reads the CSV written by bench/msg_ratio.sh (columns app, ratio, inline_s, offload_s, speedup,
...). Without offload figures (speedup empty) it plots the app-rank CPU time per message of the
inline runs instead, and says so in the title.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print("msg_ratio_plot.py: usage: msg_ratio_plot.py RESULTS.csv OUT.png", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        print(f"msg_ratio_plot.py: {e}", file=sys.stderr)
        return 2
    if not rows:
        print("msg_ratio_plot.py: no results in " + sys.argv[1], file=sys.stderr)
        return 2
    offload = all(r.get("speedup") for r in rows)
    key = "speedup" if offload else "inline_cpu_us_per_msg"
    x = [max(float(r["ratio"]), 1e-3) for r in rows]
    y = [float(r[key]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(x, y, s=40)
    for i, (r, xi, yi) in enumerate(zip(rows, x, y)):  # labels alternate above and below
        ax.annotate(r["app"], (xi, yi), textcoords="offset points",
                    xytext=(5, 6 if i % 2 == 0 else -12), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("app memory bytes per message byte (mem_bytes_per_msg_byte)")
    if offload:
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_ylabel("speedup of offload over inline (elapsed)")
        ax.set_title("buddy::msg apps: offload speedup vs memory/communication ratio", fontsize=10)
    else:
        ax.set_yscale("log")
        ax.set_ylabel("app-rank CPU per message, inline (us)")
        ax.set_title("buddy::msg apps (offload not available): CPU per message vs ratio",
                     fontsize=10)
    ranks = rows[0].get("ranks", "?")
    ax.text(0.01, 0.01, f"{ranks} ranks on this machine", transform=ax.transAxes, fontsize=8,
            color="grey")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
