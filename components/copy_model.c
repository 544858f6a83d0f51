/*
 * copy-model: the init container of a model image. It copies the artifact directory the image holds (/model) into
 * the pod's emptyDir (/var/lib/model/model), where the model server reads it from a read-only mount.
 *
 *     /copy-model [SOURCE [TARGET]]
 *
 * The model image is FROM scratch: no shell, no cp, no libc. So this program is freestanding (-nostdlib, raw
 * system calls, x86-64 and arm64): a few kilobytes, compiled by components/model_package.py. It runs as UID 10001
 * on a read-only root with every capability dropped. Files are copied byte for byte (the server checks each
 * sha256 against manifest.json before it reports ready). They stay writable by their owner so that an init
 * container restarted halfway copies again over what it wrote (truncating, never failing on EEXIST); the server
 * mounts the volume read-only, which is what keeps the model unchanged.
 */

typedef unsigned long size_t;
typedef long ssize_t;

#define AT_FDCWD -100
#define O_RDONLY 00
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_CLOEXEC 02000000
#define EEXIST 17
#define EINTR 4
#define DT_DIR 4
#define DT_REG 8
#define PATH_MAX 4096

#if defined(__x86_64__)
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_getdents64 217
#define SYS_exit_group 231
#define SYS_openat 257
#define SYS_mkdirat 258
/* asm-generic's values; arm64 has its own (below). */
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000

static long syscall3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static long syscall4(long n, long a, long b, long c, long d) {
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}

__asm__(".text\n.globl _start\n_start:\n xor %rbp, %rbp\n mov %rsp, %rdi\n and $-16, %rsp\n call start\n hlt\n");
#elif defined(__aarch64__)
#define SYS_read 63
#define SYS_write 64
#define SYS_close 57
#define SYS_getdents64 61
#define SYS_exit_group 94
#define SYS_openat 56
#define SYS_mkdirat 34
/* arch/arm64/include/uapi/asm/fcntl.h: not asm-generic's. */
#define O_DIRECTORY 040000
#define O_NOFOLLOW 0100000

static long syscall4(long n, long a, long b, long c, long d) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}

static long syscall3(long n, long a, long b, long c) { return syscall4(n, a, b, c, 0); }

__asm__(".text\n.globl _start\n_start:\n mov x29, #0\n mov x0, sp\n bl start\n");
#else
#error "copy-model supports x86-64 and arm64"
#endif

/* In .bss: it costs no bytes in the binary. */
static char buffer[1 << 20];

static size_t length(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static void say(const char *s) { syscall3(SYS_write, 2, (long)s, (long)length(s)); }

static __attribute__((noreturn)) void fail(const char *what, const char *path, long error) {
    char digits[8];
    int i = 7;
    digits[i] = 0;
    error = -error;
    do {
        digits[--i] = (char)('0' + error % 10);
        error /= 10;
    } while (error && i > 0);
    say("copy-model: ");
    say(what);
    say(" ");
    say(path);
    say(": errno ");
    say(digits + i);
    say("\n");
    syscall3(SYS_exit_group, 1, 0, 0);
    for (;;) {
    }
}

/* `dir/name` into out (PATH_MAX); fails on overflow rather than truncating. */
static void join(char *out, const char *dir, const char *name) {
    size_t a = length(dir), b = length(name), i;
    if (a + 1 + b + 1 > PATH_MAX) fail("path too long:", dir, -36);
    for (i = 0; i < a; i++) out[i] = dir[i];
    out[a] = '/';
    for (i = 0; i <= b; i++) out[a + 1 + i] = name[i];
}

static void copy_file(const char *source, const char *target) {
    long in = syscall4(SYS_openat, AT_FDCWD, (long)source, O_RDONLY | O_CLOEXEC, 0);
    if (in < 0) fail("cannot open", source, in);
    /* O_NOFOLLOW: a symlink already at the target is refused, never written through. */
    long out = syscall4(SYS_openat, AT_FDCWD, (long)target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) fail("cannot create", target, out);
    for (;;) {
        long got = syscall3(SYS_read, in, (long)buffer, sizeof buffer);
        if (got == -EINTR) continue;
        if (got < 0) fail("cannot read", source, got);
        if (got == 0) break;
        for (long done = 0; done < got;) {
            long put = syscall3(SYS_write, out, (long)(buffer + done), got - done);
            if (put == -EINTR) continue;
            if (put < 0) fail("cannot write", target, put);
            done += put;
        }
    }
    syscall3(SYS_close, in, 0, 0);
    /* close reports a delayed write error (ENOSPC, EDQUOT on a full emptyDir): its own errno, not a generic one. */
    long closed = syscall3(SYS_close, out, 0, 0);
    if (closed < 0) fail("cannot close", target, closed);
}

struct dirent64 {
    unsigned long d_ino;
    long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static void copy_tree(const char *source, const char *target) {
    long made = syscall3(SYS_mkdirat, AT_FDCWD, (long)target, 0755);
    if (made < 0 && made != -EEXIST) fail("cannot create directory", target, made);
    long dir = syscall4(SYS_openat, AT_FDCWD, (long)source, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0) fail("cannot open directory", source, dir);
    char entries[8192];
    char from[PATH_MAX], to[PATH_MAX];
    for (;;) {
        long got = syscall3(SYS_getdents64, dir, (long)entries, sizeof entries);
        if (got < 0) fail("cannot list", source, got);
        if (got == 0) break;
        for (long at = 0; at < got;) {
            struct dirent64 *entry = (struct dirent64 *)(entries + at);
            at += entry->d_reclen;
            const char *name = entry->d_name;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
            join(from, source, name);
            join(to, target, name);
            if (entry->d_type == DT_DIR)
                copy_tree(from, to);
            else if (entry->d_type == DT_REG)
                copy_file(from, to);
            else
                fail("not a file or directory:", from, -22);
        }
    }
    syscall3(SYS_close, dir, 0, 0);
}

__attribute__((used)) void start(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    const char *source = argc > 1 ? argv[1] : "/model";
    const char *target = argc > 2 ? argv[2] : "/var/lib/model/model";
    copy_tree(source, target);
    syscall3(SYS_exit_group, 0, 0, 0);
}
