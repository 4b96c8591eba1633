#!/bin/sh
# Installs what building and testing SCX_MUS needs on Debian 12 (bookworm) or newer:
# clang 18+ for the BPF side, libbpf's build deps, protoc for containerd-client, and what the QEMU test bed puts in
# its guest (qemu, busybox, bpftool, stress-ng, and containerd + runc for mus-agent's end-to-end
# test), and what building the 6.12 LTS guest kernel from Debian's source takes. Idempotent.
set -eu

# linux-source-6.12 .. libssl-dev: the 6.12 LTS guest kernel (crates/mus-testbed/kernel/6.12.config);
# dwarves has pahole, which makes the BTF sched_ext needs. systemd: systemd-analyze, which
# checks the runner's unit offline (crates/mus-runner/tests/systemd_unit.rs).
packages="clang-19 libelf-dev zlib1g-dev pkg-config make protobuf-compiler
qemu-system-x86 busybox-static bpftool stress-ng cpio containerd runc ca-certificates
rt-tests redis-server redis-tools fonts-dejavu-core
linux-source-6.12 dwarves flex bison bc libssl-dev systemd"

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd=sudo

# QEMU: bookworm's 7.2 has shown rare "int3" oopses in guests at sched_ext attach/detach
# under multi-threaded TCG; bookworm-backports has QEMU 10. On bookworm, add backports
# (pinned low by apt, so nothing else comes from it) and take QEMU from there; elsewhere
# (trixie has 10.0) the release's own QEMU is recent enough.
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
	if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "setup: adding bookworm-backports to apt's sources (for QEMU 10)"
		printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
			$sudo_cmd tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
		$sudo_cmd apt-get update -qq
	fi
	if apt-cache policy qemu-system-x86 | grep -q "bookworm-backports" &&
		! dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null | grep -q "bpo12"; then
		echo "setup: installing qemu-system-x86 from bookworm-backports"
		DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
			-t bookworm-backports qemu-system-x86
	fi
fi

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	$sudo_cmd apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
fi
command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
echo "setup: ready"
