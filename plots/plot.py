"""Turns the experiment CSVs under results/ into PNG figures beside them.

Usage: python plots/plot.py [results-dir]. Each figure is drawn only when its CSV
exists: speedup (accuracy vs simulated time, time-to-target bars), attacks (final
accuracy heatmap), scaling (decode/aggregate time vs P), tradeoff (r_min vs m).
"""
import csv
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def label(row):
    if row["scheme"] in ("plain", "detox"):
        name = f'{row["scheme"]}+{row["aggregator"]}'
    else:
        name = row["scheme"]
    if row["scheme"].startswith("solon"):
        name += f' m={row["compression"]}'
    return name


def grid(panels, ncols):
    """A figure of `panels` axes, `ncols` to a row, as a flat list."""
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 4.2 * nrows), squeeze=False)
    return fig, [ax for row in axes for ax in row]


def speedup(d):
    runs = read(os.path.join(d, "runs.csv"))
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        groups[(r["attack"], r["bandwidth_gbps"])][label(r)].append(r)
    panels = sorted(groups, key=lambda k: (k[0], num(k[1])))
    attacks = sorted({k[0] for k in panels})
    ncols = max(1, len(panels) // len(attacks))
    fig, axes = grid(len(panels), ncols)
    for ax, key in zip(axes, panels):
        for name, rows in sorted(groups[key].items()):
            ax.plot([num(r["sim_time_s"]) for r in rows], [100 * num(r["test_acc"]) for r in rows], marker=".", label=name)
        ax.set_xscale("log")
        ax.set_title(f"attack {key[0]}, {key[1]} Gbps")
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    for ax in axes[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "accuracy_vs_time.png"), dpi=120)
    plt.close(fig)

    summary = read(os.path.join(d, "summary.csv"))
    fig, axes = grid(len(panels), ncols)
    for ax in axes[len(panels):]:
        ax.axis("off")
    for ax, key in zip(axes, panels):
        rows = [r for r in summary if (r["attack"], r["bandwidth_gbps"]) == key]
        names = [label(r) for r in rows]
        times = [num(r["sim_time_to_target_s"]) for r in rows]
        bars = ax.barh(names, [t if not math.isnan(t) else 0 for t in times])
        for b, t in zip(bars, times):
            ax.text(b.get_width(), b.get_y() + b.get_height() / 2, " never" if math.isnan(t) else f" {t:.2f}s", va="center", fontsize=7)
        ax.set_title(f"time to {100 * num(rows[0]['target_acc']):.0f}%: {key[0]}, {key[1]} Gbps")
        ax.set_xlabel("simulated seconds")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "time_to_target.png"), dpi=120)
    plt.close(fig)


def attacks(d):
    summary = read(os.path.join(d, "summary.csv"))
    schemes = sorted({label(r) for r in summary})
    attack_names = []
    for r in summary:
        if r["attack"] not in attack_names:
            attack_names.append(r["attack"])
    grid = [[math.nan] * len(attack_names) for _ in schemes]
    for r in summary:
        grid[schemes.index(label(r))][attack_names.index(r["attack"])] = 100 * num(r["final_acc"])
    fig, ax = plt.subplots(figsize=(1 + 0.8 * len(attack_names), 1 + 0.5 * len(schemes)))
    im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(attack_names)), attack_names, rotation=45, ha="right")
    ax.set_yticks(range(len(schemes)), schemes)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, "-" if math.isnan(v) else f"{v:.0f}", ha="center", va="center", fontsize=7, color="w" if not v > 60 else "k")
    fig.colorbar(im, label="final test accuracy (%)")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "attack_heatmap.png"), dpi=120)
    plt.close(fig)


def scaling(d):
    rows = read(os.path.join(d, "scaling.csv"))
    dims = sorted({int(r["d"]) for r in rows})
    fig, axes = plt.subplots(1, len(dims), figsize=(6 * len(dims), 4.5), squeeze=False)
    for ax, dim in zip(axes[0], dims):
        by = defaultdict(list)
        for r in rows:
            if int(r["d"]) == dim:
                by[r["method"]].append((int(r["workers"]), num(r["seconds"])))
        for name, pts in sorted(by.items()):
            pts.sort()
            ax.plot([p for p, _ in pts], [t for _, t in pts], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"PS time per iteration, d = {dim:,}")
        ax.set_xlabel("workers P")
        ax.set_ylabel("seconds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "scaling.png"), dpi=120)
    plt.close(fig)


def tradeoff(d):
    rows = read(os.path.join(d, "tradeoff.csv"))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    by = defaultdict(list)
    for r in rows:
        by[(r["offsets"], r["P"], r["s"])].append((int(r["m"]), num(r["r_min_found"])))
    for (offsets, p, s), pts in sorted(by.items()):
        pts.sort()
        ax.plot([m for m, _ in pts], [r for _, r in pts], marker="o", ls="-" if offsets == "spread" else ":", label=f"P={p} s={s} {offsets}")
    ax.set_xlabel("compression m")
    ax.set_ylabel("smallest r that decodes exactly")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "tradeoff.png"), dpi=120)
    plt.close(fig)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "results"
    jobs = {"speedup": ("runs.csv", speedup), "attacks": ("summary.csv", attacks), "scaling": ("scaling.csv", scaling), "tradeoff": ("tradeoff.csv", tradeoff)}
    for name, (needed, draw) in jobs.items():
        d = os.path.join(root, name)
        if os.path.exists(os.path.join(d, needed)):
            draw(d)
            print(f"plots: wrote figures in {d}")
    demo = os.path.join(root, "demo")
    if os.path.exists(os.path.join(demo, "runs.csv")):
        speedup(demo)
        print(f"plots: wrote figures in {demo}")


if __name__ == "__main__":
    main()
