/*
 * peak-rss PROGRAM [ARG...]: runs PROGRAM (stdin and stdout /dev/null, stderr inherited) and
 * prints "<peak RSS in KiB> <wait status>" of it and what it reaped, from wait4.
 *
 * The benchmark cannot take that number from its own wait4: std's Command spawns with
 * posix_spawn (a vfork), and at execve the kernel records the high-water RSS of the address
 * space the child leaves, the benchmark's own (a few MiB), as the child's peak. This program
 * is small, so the runtimes it forks start from a small peak.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("peak-rss: fork");
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
			perror("peak-rss: /dev/null");
			_exit(127);
		}
		close(null);
		execv(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	int status;
	struct rusage usage;
	if (wait4(pid, &status, 0, &usage) < 0) {
		perror("peak-rss: wait4");
		return 1;
	}
	printf("%ld %d\n", usage.ru_maxrss, status);
	return 0;
}
