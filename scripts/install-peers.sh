#!/bin/sh
# Installs the peer schedulers the bench compares mus with (`cargo xtask bench`):
# scx_bpfland and scx_layered from crates.io, at the scx version mus builds against, into a
# cache outside the clone: $MUS_PEERS_DIR, default ~/.cache/mus/peers (binaries in bin/).
# Idempotent: a peer already there at this version is not rebuilt. The first install
# builds both from source: about 25 minutes on a busy 2-core machine.
set -eu

VERSION=1.1.4
ROOT=${MUS_PEERS_DIR:-$HOME/.cache/mus/peers}
command -v cargo >/dev/null || { echo "install-peers: cargo is missing: install Rust with rustup" >&2; exit 1; }

# scx_cargo (their build dependency) runs `clang --version`: Debian ships clang-19 under
# that name only, so put a `clang` link first on PATH when there is none.
if ! command -v clang >/dev/null; then
	real=$(command -v clang-19 || command -v clang-18 || true)
	[ -n "$real" ] || { echo "install-peers: no clang: run scripts/setup-debian.sh" >&2; exit 1; }
	mkdir -p "$ROOT/clang-bin"
	ln -sf "$real" "$ROOT/clang-bin/clang"
	PATH="$ROOT/clang-bin:$PATH"
	export PATH
fi

for peer in scx_bpfland scx_layered; do
	if [ -x "$ROOT/bin/$peer" ] && "$ROOT/bin/$peer" --version 2>/dev/null | grep -q "$VERSION"; then
		echo "install-peers: $peer $VERSION already in $ROOT/bin"
		continue
	fi
	echo "install-peers: building $peer $VERSION into $ROOT (takes a while)"
	cargo install --locked --root "$ROOT" "$peer@$VERSION"
done
echo "install-peers: ready: $(ls "$ROOT/bin" | tr '\n' ' ')"
