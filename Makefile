# solon: every target sets up what it needs (libtorch from PyPI's torch wheel in a
# per-user cache, Fashion-MNIST from Debian's package) idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
TORCH := eval "$$(scripts/libtorch.sh)"
CARGO := $(TORCH) && cargo
SOLON := target/release/solon
QUICK ?=
comma := ,

.PHONY: all build run test data libtorch fmt lint bench experiments plots plot-deps clean mpi-deps mpi-build mpi-test mpi-bench

all: build

libtorch:
	@$(TORCH) && python -W ignore -c 'import torch; print("torch", torch.__version__, "at", torch.__path__[0])'

data:
	@scripts/data.sh

build: libtorch
	@$(CARGO) build --release

# The default job, the Solon demo: solon-cyclic vs draco-cyclic vs plain+median under
# ALIE on Fashion-MNIST; prints the comparison table, plots results/demo/*.png.
run: build data plot-deps
	$(SOLON) sweep experiments/demo.json $(if $(QUICK),--quick)
	@$(TORCH) && python plots/plot.py results

plot-deps: libtorch
	@$(TORCH) && (python -c 'import matplotlib' 2>/dev/null || python -m pip install -q matplotlib)

# The paper's tables (QUICK=1: a smoke version of minutes). Finished runs are kept:
# rerunning resumes; delete results/NAME to start over.
experiments: build data plot-deps
	$(SOLON) tradeoff --spec experiments/tradeoff.json $(if $(QUICK),--trials 10 --out results/quick/tradeoff/tradeoff.csv)
	$(SOLON) sweep experiments/speedup.json $(if $(QUICK),--quick --results results/quick)
	$(SOLON) sweep experiments/attacks.json $(if $(QUICK),--quick --results results/quick)
	$(SOLON) scaling --spec experiments/scaling.json $(if $(QUICK),--repeats 1 --workers 8$(comma)16 --out results/quick/scaling/scaling.csv)
	@$(TORCH) && python plots/plot.py results $(if $(QUICK),&& python plots/plot.py results/quick)

plots: plot-deps
	@$(TORCH) && python plots/plot.py results

test: libtorch
	@$(CARGO) test --release --no-fail-fast
	@if command -v mpirun >/dev/null && dpkg -s libopenmpi-dev libclang-dev >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory mpi-test; \
	else echo "Open MPI is not installed: skipping mpi-test (make mpi-deps installs it)"; fi

fmt:
	@$(CARGO) fmt --all

lint:
	@$(CARGO) clippy --release --all-targets -- -D warnings
	@if command -v mpirun >/dev/null && dpkg -s libopenmpi-dev libclang-dev >/dev/null 2>&1; then \
		$(CARGO) clippy --release --all-targets --features mpi --target-dir $(MPI_TARGET) -- -D warnings; fi

bench: libtorch
	@$(CARGO) bench

clean:
	cargo clean

# The MPI backend (feature mpi): Open MPI and libclang from Debian, installed when missing.
# mpirun refuses root unless told; --oversubscribe lets P+1 ranks share fewer cores.
MPI_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi-deps:
	@scripts/mpi-deps.sh

# Its own target directory, so that switching features never rebuilds the default build.
MPI_TARGET := target/mpi
mpi-build: libtorch mpi-deps
	@$(CARGO) build --release --features mpi --target-dir $(MPI_TARGET)

# mpirun -np 5 on loopback: plain, draco-cyclic and solon-cyclic against the simulator.
mpi-test: mpi-build
	@$(TORCH) && $(MPI_ENV) cargo test --release --features mpi --target-dir $(MPI_TARGET) --test mpi --test mpi_flags -- --test-threads 1

# The README's table: measured MPI breakdown vs the simulator's model, P = 8, mlp (d = 1.03e6).
mpi-bench: mpi-build
	@$(TORCH) && $(MPI_ENV) SOLON_BIN=$(MPI_TARGET)/release/solon scripts/mpi-bench.sh

