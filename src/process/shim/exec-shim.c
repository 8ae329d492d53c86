/*
 * berth's exec shim (CVE-2019-5736). The container's init and every `exec`ed process are
 * clones of the runtime, so while the kernel resolves their program (or a script's
 * `#!/proc/self/exe`), /proc/self/exe would be the runtime's binary on the host. They
 * execute this shim from a sealed memfd instead, and the shim executes the program: during
 * that execve /proc/self/exe is the sealed memfd, which nothing can write to.
 *
 * argv[0]  descriptors to make close-on-exec first, comma-separated; the first one is
 *          where a failure is reported: the runtime's sync socket, or (after a `+`, for
 *          `start`) exec.fifo, into which the shim first writes `+` once only the program's
 *          execve is left to do
 * argv[1]  the program's path
 * argv[2…] the program's argv; envp is passed on as is
 *
 * On failure the shim sends one packet to the socket (or one write to the fifo): the errno
 * (4 bytes, native order), the failed call's name, a NUL, its target. A seccomp profile may
 * refuse fcntl: a descriptor it cannot mark close-on-exec is closed instead. When nobody
 * listens, it writes the line the runtime would have written to stderr (runc's:
 * `exec <path>: <error>`). Exit status 127 for ENOENT, 126 otherwise.
 * Freestanding: no libc, raw system calls, for x86_64 and aarch64.
 */

#if defined(__x86_64__)
#define NR_WRITE 1
#define NR_CLOSE 3
#define NR_WRITEV 20
#define NR_SENDMSG 46
#define NR_EXECVE 59
#define NR_FCNTL 72
#define NR_EXIT_GROUP 231

static long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The kernel enters with argc at the stack pointer; hand that pointer to shim_main. */
__asm__(".text\n.global _start\n_start:\n"
	"xor %ebp, %ebp\n"
	"mov %rsp, %rdi\n"
	"and $-16, %rsp\n"
	"call shim_main\n"
	"hlt\n");

#elif defined(__aarch64__)
#define NR_FCNTL 25
#define NR_CLOSE 57
#define NR_WRITE 64
#define NR_WRITEV 66
#define NR_EXIT_GROUP 94
#define NR_SENDMSG 211
#define NR_EXECVE 221

static long syscall3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}

/* sp is 16-byte aligned at entry and points at argc. */
__asm__(".text\n.global _start\n_start:\n"
	"mov x29, #0\n"
	"mov x30, #0\n"
	"mov x0, sp\n"
	"bl shim_main\n"
	"brk #0\n");

#else
#error "the exec shim supports x86_64 and aarch64"
#endif

#define F_SETFD 2
#define FD_CLOEXEC 1
#define MSG_NOSIGNAL 0x4000
#define ENOENT 2
#define ENOTSOCK 88

struct iovec {
	const void *base;
	unsigned long len;
};

struct msghdr {
	void *name;
	unsigned int namelen;
	struct iovec *iov;
	unsigned long iovlen;
	void *control;
	unsigned long controllen;
	int flags;
};

/*
 * The texts the runtime prints for execve's errors, in runc's words (strerror in lower case:
 * dockerd and podman choose exit codes 127/126 by "no such file or directory" and
 * "permission denied"); a unit test (src/process/shim.rs) checks every line against it.
 */
#define ERRNO(num, text) { num, text },
static const struct {
	int num;
	const char *text;
} errno_texts[] = {
	ERRNO(1, "operation not permitted")
	ERRNO(2, "no such file or directory")
	ERRNO(5, "i/o error")
	ERRNO(7, "argument list too long")
	ERRNO(8, "exec format error")
	ERRNO(9, "bad file number")
	ERRNO(11, "try again")
	ERRNO(12, "out of memory")
	ERRNO(13, "permission denied")
	ERRNO(14, "bad address")
	ERRNO(20, "not a directory")
	ERRNO(21, "is a directory")
	ERRNO(22, "invalid argument")
	ERRNO(23, "file table overflow")
	ERRNO(24, "too many open files")
	ERRNO(26, "text file busy")
	ERRNO(36, "file name too long")
	ERRNO(38, "function not implemented")
	ERRNO(40, "too many symbolic links encountered")
	ERRNO(80, "accessing a corrupted shared library")
};

static unsigned long length(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

static void put(const char *s)
{
	syscall3(NR_WRITE, 2, (long)s, (long)length(s));
}

static const char *errno_text(int num)
{
	for (unsigned long i = 0; i < sizeof(errno_texts) / sizeof(errno_texts[0]); i++)
		if (errno_texts[i].num == num)
			return errno_texts[i].text;
	return "unknown error";
}

/* The program's execve, reported by this name on the socket. */
static const char EXECVE[] = "execve";

static void __attribute__((noreturn)) fail(int sync_fd, int num, const char *call, const char *target)
{
	struct iovec parts[3] = {
		{ &num, sizeof(num) },
		{ call, length(call) + 1 },
		{ target, length(target) },
	};
	struct msghdr msg = { 0, 0, parts, 3, 0, 0, 0 };
	long sent = sync_fd < 0 ? -1 : syscall3(NR_SENDMSG, sync_fd, (long)&msg, MSG_NOSIGNAL);
	if (sent == -ENOTSOCK)
		sent = syscall3(NR_WRITEV, sync_fd, (long)parts, 3);
	if (sent < 0) {
		put("berth: executing the process: ");
		/* runc's wording for the program's execve: "exec /path: exec format error" */
		put(call == EXECVE ? "exec" : call);
		put(" ");
		put(target);
		put(": ");
		put(errno_text(num));
		put("\n");
	}
	syscall3(NR_EXIT_GROUP, num == ENOENT ? 127 : 126, 0, 0);
	__builtin_unreachable();
}

void __attribute__((noreturn, used)) shim_main(long *stack)
{
	long argc = stack[0];
	char **argv = (char **)(stack + 1);
	char **envp = argv + argc + 1;
	int sync_fd = -1;
	if (argc < 3)
		fail(sync_fd, 22, "exec shim", "arguments");
	const char *p = argv[0];
	int announce = *p == '+';
	if (announce)
		p++;
	for (int first = 1; *p; first = 0) {
		int fd = 0;
		while (*p >= '0' && *p <= '9')
			fd = fd * 10 + (*p++ - '0');
		if (*p == ',')
			p++;
		else if (*p)
			fail(sync_fd, 22, "exec shim", "descriptor list");
		if (first)
			sync_fd = fd;
		if (syscall3(NR_FCNTL, fd, F_SETFD, FD_CLOEXEC) < 0) {
			/* Refused (a seccomp profile): it must not reach the program either way. */
			long ret = syscall3(NR_CLOSE, fd, 0, 0);
			if (fd == sync_fd)
				sync_fd = -1;
			if (ret < 0)
				fail(sync_fd, (int)-ret, "close", "inherited descriptor");
		}
	}
	if (announce && sync_fd >= 0)
		syscall3(NR_WRITE, sync_fd, (long)"+", 1);
	long ret = syscall3(NR_EXECVE, (long)argv[1], (long)(argv + 2), (long)envp);
	fail(sync_fd, (int)-ret, EXECVE, argv[1]);
}
