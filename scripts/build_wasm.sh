#!/usr/bin/env bash
# Builds core-wasm/ for wasm32-unknown-unknown with Debian's Rust toolchain,
# offline, reproducibly, and copies the module into the package.
#   scripts/build_wasm.sh           build and copy
#   scripts/build_wasm.sh --check   build and fail if the committed .wasm differs
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/arcguard/_core/arcguard_core.wasm"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
# Paths in panic messages would otherwise name the clone's location.
export RUSTFLAGS="--remap-path-prefix=$root=/arcguard --remap-path-prefix=/usr/share/cargo/registry=/registry -C debuginfo=0"
export CARGO_TARGET_DIR="$root/core-wasm/target"
cd "$root/core-wasm"
/usr/bin/cargo build --locked --release --target wasm32-unknown-unknown -p arcguard-wasm
built="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/arcguard_wasm.wasm"
if [[ "${1:-}" == "--check" ]]; then
  if ! cmp -s "$built" "$out"; then
    echo "arcguard/_core/arcguard_core.wasm differs from a fresh build of core-wasm/:" >&2
    sha256sum "$built" "$out" >&2
    echo "run scripts/build_wasm.sh and commit the result" >&2
    exit 1
  fi
  echo "arcguard_core.wasm matches a fresh build ($(sha256sum "$out" | cut -c1-16))"
else
  cp "$built" "$out"
  echo "wrote $out ($(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -c1-16))"
fi
