#!/usr/bin/env bash
# Fetches Fashion-MNIST from Debian's dataset-fashion-mnist package into
# ${SOLON_DATA:-data}/fashion-mnist without installing anything system-wide
# (apt-get download + dpkg-deb -x). Idempotent: returns at once when present.
set -euo pipefail
root=${SOLON_DATA:-data}
dest=$root/fashion-mnist
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
have=1; for f in $files; do [ -s "$dest/$f" ] || have=0; done
[ $have = 1 ] && exit 0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download dataset-fashion-mnist >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download dataset-fashion-mnist >/dev/null 2>&1 || {
    echo "could not download Debian's dataset-fashion-mnist (apt-get download dataset-fashion-mnist); place the four IDX .gz files in $dest by hand" >&2; exit 2; }
fi
dpkg-deb -x dataset-fashion-mnist_*.deb unpacked
cd - >/dev/null
mkdir -p "$dest"
for f in $files; do cp "$tmp/unpacked/usr/share/datasets/fashion-mnist/$f" "$dest/$f.part" && mv "$dest/$f.part" "$dest/$f"; done
echo "Fashion-MNIST in $dest" >&2
