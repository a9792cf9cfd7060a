# solon: every target sets up what it needs (libtorch from PyPI's torch wheel in a
# per-user cache, Fashion-MNIST from Debian's package) idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
TORCH := eval "$$(scripts/libtorch.sh)"
CARGO := $(TORCH) && cargo
SOLON := target/release/solon
QUICK ?=
comma := ,

.PHONY: all build run test data libtorch fmt lint bench experiments plots plot-deps clean

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

fmt:
	@$(CARGO) fmt --all

lint:
	@$(CARGO) clippy --release --all-targets -- -D warnings

bench: libtorch
	@$(CARGO) bench

clean:
	cargo clean
