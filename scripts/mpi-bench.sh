#!/usr/bin/env bash
# Per-iteration time breakdown measured on MPI (mpirun -np 9 on this machine) beside
# the simulator's modeled breakdown of the same configuration: plain, draco-cyclic and
# solon-cyclic (m = 2, 3) at P = 8 with the mlp (d = 1,033,510). Writes results/mpi-bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
solon=${SOLON_BIN:-target/mpi/release/solon}
out=results/mpi-bench
iterations=${ITERATIONS:-12}
mkdir -p "$out"
common=(train --dataset synthetic --model mlp --device cpu --workers 8 --batch-size 64
        --iterations "$iterations" --eval-every 1 --test-samples 100 --lr 0.01 --threads 1 --seed 1)
runs=(
    "plain|--scheme plain"
    "draco-cyclic|--scheme draco-cyclic --adversaries 1 --attack reverse"
    "solon-cyclic-m2|--scheme solon-cyclic --adversaries 1 --attack reverse --compression 2"
    "solon-cyclic-m3|--scheme solon-cyclic --adversaries 1 --attack reverse --compression 3"
)
for run in "${runs[@]}"; do
    name=${run%%|*}
    read -r -a flags <<<"${run#*|}"
    echo "== $name"
    "$solon" "${common[@]}" "${flags[@]}" --out "$out/$name-sim.csv" >/dev/null
    mpirun --oversubscribe -np 9 "$solon" "${common[@]}" "${flags[@]}" --backend mpi \
        --out "$out/$name-mpi.csv" >/dev/null
done
python3 - "$out" "${runs[@]%%|*}" <<'PY'
import csv, sys
out, names = sys.argv[1], sys.argv[2:]
parts = ["compute_s", "encode_s", "comm_s", "decode_s"]
def per_iteration(path):
    rows = list(csv.DictReader(open(path)))
    first, last = rows[0], rows[-1]  # drop the first iteration (warm-up)
    n = int(last["iteration"]) - int(first["iteration"])
    value = {k: (float(last[k]) - float(first[k])) / n * 1e3 for k in parts + ["sim_time_s"]}
    return value, int(last["redundancy"]), int(last["compression"])
lines = ["| scheme | r | m | backend | compute ms | encode ms | comm ms | decode ms | total ms |",
         "|---|---|---|---|---|---|---|---|---|"]
ratios = []
for name in names:
    mpi, r, m = per_iteration(f"{out}/{name}-mpi.csv")
    sim, _, _ = per_iteration(f"{out}/{name}-sim.csv")
    for label, v in (("mpi (measured)", mpi), ("sim (modeled)", sim)):
        lines.append(f"| {name} | {r} | {m} | {label} | " + " | ".join(f"{v[k]:.1f}" for k in parts + ["sim_time_s"]) + " |")
    ratios.append(f"| {name} | " + " | ".join(f"{mpi[k] / sim[k]:.2f}" if sim[k] > 0 else "-" for k in parts + ["sim_time_s"]) + " |")
lines += ["", "| measured / modeled | compute | encode | comm | decode | total |", "|---|---|---|---|---|---|"] + ratios
text = "\n".join(lines)
print(text)
open(f"{out}/table.md", "w").write(text + "\n")
PY
