/* Runs a command as confined as mus-runner.service starts the runner, for the QEMU
 * guest, which has no systemd: the capability bounding set cut to $CAPS (capability
 * numbers, comma-separated), no_new_privs, and with $MDWE set, memory that is never
 * writable and executable (PR_SET_MDWE, Linux 6.3+; systemd's MemoryDenyWriteExecute=
 * does the same with seccomp). Build: gcc -static -o confine confine.c */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
int main(int argc, char **argv) {
	const char *caps = getenv("CAPS");
	int keep[64] = {0};
	if (caps) {
		char *s = strdup(caps), *t;
		for (t = strtok(s, ","); t; t = strtok(NULL, ",")) keep[atoi(t)] = 1;
	}
	for (int c = 0; c < 64; c++) {
		if (keep[c]) continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL) { perror("PR_CAPBSET_DROP"); return 1; }
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) { perror("no_new_privs"); return 1; }
	if (getenv("MDWE") && prctl(65, 1, 0, 0, 0)) { perror("PR_SET_MDWE"); return 1; }
	execvp(argv[1], argv + 1);
	perror("exec");
	return 127;
}
