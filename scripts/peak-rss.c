/*
 * peak-rss REPORT PROGRAM [ARG...]: runs PROGRAM (same stdio) and writes
 * "<peak RSS in KiB> <wait status>\n" of it and what it reaped (wait4's ru_maxrss) to REPORT.
 * Used by the benchmark (benches/compare.rs) and the soak test (tests/integration/soak.rs).
 *
 * They cannot take that number from their own wait4: std's Command spawns with posix_spawn
 * (a vfork), and at execve the kernel records the high-water RSS of the address space the
 * child leaves, the caller's own (several MiB), as the child's peak. This program is small,
 * so what it forks starts from a small peak.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s REPORT PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	FILE *report = fopen(argv[1], "w");
	if (!report) {
		perror(argv[1]);
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("peak-rss: fork");
		return 1;
	}
	if (pid == 0) {
		execv(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	int status;
	struct rusage usage;
	if (wait4(pid, &status, 0, &usage) < 0) {
		perror("peak-rss: wait4");
		return 1;
	}
	fprintf(report, "%ld %d\n", usage.ru_maxrss, status);
	return fclose(report) == 0 ? 0 : 1;
}
