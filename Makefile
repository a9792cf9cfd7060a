# solon: every target sets up what it needs (libtorch from PyPI's torch wheel in a
# per-user cache, Fashion-MNIST from Debian's package) idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
TORCH := eval "$$(scripts/libtorch.sh)"
CARGO := $(TORCH) && cargo
SOLON := target/release/solon
QUICK ?=

.PHONY: all build run test data libtorch fmt lint bench experiments plots clean

all: build

libtorch:
	@$(TORCH) && python -c 'import torch; print("torch", torch.__version__, "at", torch.__path__[0])'

data:
	@scripts/data.sh

build: libtorch
	@$(CARGO) build --release

# The default job: LeNet on Fashion-MNIST, a few hundred iterations, results/demo.csv.
run: build data
	$(SOLON) train --model lenet --dataset fashion-mnist --workers 8 --batch-size 128 \
	  --iterations 800 --eval-every 100 --seed 0 --out results/demo.csv

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
