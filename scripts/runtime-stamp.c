/*
 * runtime-stamp: stands in for an OCI runtime under containerd's runc shim (its BinaryName)
 * to show which part of a CRI call the runtime itself takes. Built by the benchmark
 * (benches/compare/cri.rs) once per runtime, with RUNTIME (the real binary) and STAMP_LOG
 * (where to write) defined on the command line. It runs RUNTIME with its own arguments and
 * stdio, waits for it, appends one line "<start ns> <end ns> <wait status> <arg>..." (times on
 * CLOCK_MONOTONIC) to STAMP_LOG in one write, and exits as the runtime did.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RUNTIME
#error "define RUNTIME (the runtime binary)"
#endif
#ifndef STAMP_LOG
#error "define STAMP_LOG (the log file)"
#endif

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	(void)argc;
	long long start = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("runtime-stamp: fork");
		return 1;
	}
	if (pid == 0) {
		argv[0] = RUNTIME;
		execv(RUNTIME, argv);
		perror("runtime-stamp: exec " RUNTIME);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			break;
	long long end = now_ns();
	char line[8192];
	int n = snprintf(line, sizeof line, "%lld %lld %d", start, end, status);
	for (char **a = argv + 1; *a && n < (int)sizeof line - 2; a++)
		n += snprintf(line + n, sizeof line - n, " %s", *a);
	if (n > (int)sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	int fd = open(STAMP_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) < 0)
			perror("runtime-stamp: write");
		close(fd);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
