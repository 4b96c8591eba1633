#!/bin/sh
# Installs what building and testing SCX_MUS needs on Debian 12 (bookworm) or newer:
# clang 18+ for the BPF side, libbpf's build deps, protoc for containerd-client, and what the QEMU test bed puts in
# its guest (qemu, busybox, bpftool, stress-ng, and containerd + runc for mus-agent's end-to-end
# test). Idempotent.
set -eu

packages="clang-19 libelf-dev zlib1g-dev pkg-config make protobuf-compiler
qemu-system-x86 busybox-static bpftool stress-ng cpio containerd runc ca-certificates
rt-tests redis-server redis-tools fonts-dejavu-core"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	sudo_cmd=""
	[ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
fi
command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
echo "setup: ready"
