/*
 * first-calls: which functions of a program a run executes, in the order first executed.
 * Used by scripts/hot-functions.sh to find berth's hot functions.
 *
 *   first-calls ENTRIES OUT -- PROGRAM [ARG...]
 *
 * ENTRIES holds the hex offsets (from the program's load address) of its function entries, one
 * a line. first-calls runs PROGRAM under ptrace, puts a one-shot breakpoint (int3) on every
 * entry, and appends each entry's offset to OUT the first time any process of the run reaches
 * it. Forks and clones are followed; a process stops being traced when it executes another
 * program. It ends when every traced process has ended or executed another program, and exits
 * with PROGRAM's status. x86_64 only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define INT3 0xcc

static unsigned long *entries;
static unsigned char *saved; /* the byte each breakpoint replaced */
static char *reached;
static size_t count;

static void die(const char *what)
{
	perror(what);
	exit(125);
}

static int by_offset(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

static void read_entries(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die(path);
	size_t cap = 4096;
	unsigned long offset;
	entries = malloc(cap * sizeof *entries);
	while (entries && fscanf(f, "%lx", &offset) == 1) {
		if (count == cap)
			entries = realloc(entries, (cap *= 2) * sizeof *entries);
		if (entries)
			entries[count++] = offset;
	}
	if (!entries)
		die("malloc");
	fclose(f);
	qsort(entries, count, sizeof *entries, by_offset);
	saved = malloc(count);
	reached = calloc(count, 1);
	if (!saved || !reached)
		die("malloc");
}

static long find_entry(unsigned long offset)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entries[mid] == offset)
			return (long)mid;
		if (entries[mid] < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The address of the first mapping, where a PIE's offset 0 lies. */
static unsigned long load_address(pid_t pid)
{
	char path[64];
	unsigned long start;
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	if (!f || fscanf(f, "%lx", &start) != 1)
		die(path);
	fclose(f);
	return start;
}

static unsigned long peek(pid_t pid, unsigned long address)
{
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, pid, address, 0);
	if (errno)
		die("PTRACE_PEEKTEXT");
	return (unsigned long)word;
}

static void poke_byte(pid_t pid, unsigned long address, unsigned char byte)
{
	unsigned long word = (peek(pid, address) & ~0xffUL) | byte;
	if (ptrace(PTRACE_POKETEXT, pid, address, word) < 0)
		die("PTRACE_POKETEXT");
}

static void set_breakpoints(pid_t pid, unsigned long base)
{
	for (size_t i = 0; i < count; i++) {
		saved[i] = peek(pid, base + entries[i]) & 0xff;
		poke_byte(pid, base + entries[i], INT3);
	}
}

/*
 * A SIGTRAP stop: when it is one of the breakpoints, records the entry, puts the original
 * byte back in this process (a clone of the same program may still hold the int3) and resumes
 * at the entry. Returns 0 then, or the signal to deliver.
 */
static int on_trap(pid_t pid, unsigned long base, FILE *out)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
		die("PTRACE_GETREGS");
	long i = find_entry(regs.rip - 1 - base);
	if (i < 0)
		return SIGTRAP;
	unsigned long address = base + entries[i];
	if ((peek(pid, address) & 0xff) == INT3)
		poke_byte(pid, address, saved[i]);
	regs.rip = address;
	if (ptrace(PTRACE_SETREGS, pid, 0, &regs) < 0)
		die("PTRACE_SETREGS");
	if (!reached[i]) {
		reached[i] = 1;
		fprintf(out, "%lx\n", entries[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: %s ENTRIES OUT -- PROGRAM [ARG...]\n", argv[0]);
		return 125;
	}
	read_entries(argv[1]);
	FILE *out = fopen(argv[2], "a");
	if (!out)
		die(argv[2]);
	setvbuf(out, NULL, _IOLBF, 0);

	pid_t program = fork();
	if (program < 0)
		die("fork");
	if (program == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
			die("PTRACE_TRACEME");
		execv(argv[4], argv + 4);
		die(argv[4]);
	}
	int status;
	if (waitpid(program, &status, 0) < 0 || !WIFSTOPPED(status))
		die("waiting for the program's exec");
	unsigned long base = load_address(program);
	set_breakpoints(program, base);
	long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
		       PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SETOPTIONS, program, 0, options) < 0)
		die("PTRACE_SETOPTIONS");
	if (ptrace(PTRACE_CONT, program, 0, 0) < 0)
		die("PTRACE_CONT");

	int traced = 1, exit_status = 0;
	while (traced > 0) {
		pid_t pid = waitpid(-1, &status, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			die("waitpid");
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			traced--;
			if (pid == program)
				exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			continue;
		}
		int signal = WSTOPSIG(status), event = status >> 16, deliver = 0;
		switch (event) {
		case PTRACE_EVENT_CLONE:
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
			traced++; /* the new process arrives with a SIGSTOP, not delivered */
			break;
		case PTRACE_EVENT_EXEC:
			ptrace(PTRACE_DETACH, pid, 0, 0);
			traced--;
			continue;
		case 0:
			if (signal == SIGTRAP)
				deliver = on_trap(pid, base, out);
			else if (signal != SIGSTOP)
				deliver = signal;
			break;
		}
		ptrace(PTRACE_CONT, pid, 0, deliver);
	}
	return exit_status;
}
