/* Helpers for the UFFDMAP_GROUP tests: unrelated processes (this program re-executed with a role
 * argument, never a plain fork child) that join one shared cache by naming the same group.
 *
 * The orchestrator is started as `PROG DATA_DIR [LIBUFFDMAP_SO]`. Its role processes get:
 *   LD_PRELOAD      LIBUFFDMAP_SO when given; none when it is given empty or when
 *                   E2E_NO_PRELOAD=1 (the kernel's mmap: every test must pass that way too);
 *                   otherwise whatever the environment has
 *   UFFDMAP_GROUP   NAME_PID, unique to this run, so tests running at once never share a cache
 *   UFFDMAP_PATHS   the canonical DATA_DIR, every file in it, so nothing else is managed
 *   UFFDMAP_BUFSIZE 4M unless set (the files are larger)
 * The orchestrator itself maps nothing. */
#ifndef E2E_GROUP_COMMON_H
#define E2E_GROUP_COMMON_H

#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

#define GROUP_MAX_KIDS 8

static pid_t group_kids[GROUP_MAX_KIDS];
static unsigned group_nkids;

static void group_timeout(int sig)
{
    (void)sig;
    static const char msg[] = "group test: timed out; killing the role processes\n";
    (void)!write(2, msg, sizeof msg - 1);
    for (unsigned i = 0; i < group_nkids; i++)
        if (group_kids[i] > 0)
            kill(group_kids[i], SIGKILL);
    _exit(1);
}

/* Ends the calling process with a message after `seconds` (role processes and orchestrator). */
static inline void group_alarm(unsigned seconds)
{
    signal(SIGALRM, group_timeout);
    alarm(seconds);
}

/* True when the role processes run under the preload. */
static inline bool group_preloaded(void)
{
    const char *p = getenv("LD_PRELOAD");
    const char *no = getenv("E2E_NO_PRELOAD");
    return p && *p && !(no && !strcmp(no, "1"));
}

/* Sets the environment described above; returns the canonical data directory. */
static inline const char *group_setup(int argc, char **argv, const char *name)
{
    const char *dir = data_dir(argc, argv);
    static char real[PATH_MAX];
    CHECK(realpath(dir, real), "realpath %s: %s", dir, strerror(errno));
    const char *no = getenv("E2E_NO_PRELOAD");
    if ((no && !strcmp(no, "1")) || (argc >= 3 && !argv[2][0]))
        unsetenv("LD_PRELOAD");
    else if (argc >= 3)
        setenv("LD_PRELOAD", argv[2], 1);
    if (!getenv("LD_PRELOAD"))
        setenv("E2E_NO_PRELOAD", "1", 1);
    char group[128];
    snprintf(group, sizeof group, "%s_%d", name, (int)getpid());
    setenv("UFFDMAP_GROUP", group, 1);
    char paths[PATH_MAX + 8];
    snprintf(paths, sizeof paths, "%s/*", real);
    setenv("UFFDMAP_PATHS", paths, 1);
    setenv("UFFDMAP_BUFSIZE", "4M", 0);
    fprintf(stderr, "%s: group %s, %s, budget %s\n", name, group,
            group_preloaded() ? getenv("LD_PRELOAD") : "no preload (kernel mmap)",
            getenv("UFFDMAP_BUFSIZE"));
    return real;
}

/* Starts this program again as a separate image: /proc/self/exe ARGS... (NULL-terminated),
 * keeping descriptors keep[0] and keep[1] open in it (-1: none); make every other descriptor
 * close-on-exec (pipe2 with O_CLOEXEC) so that a pipe reads end-of-file when its writer dies. */
static inline pid_t group_spawn(char *const args[], int keep0, int keep1)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "readlink /proc/self/exe");
    self[n] = '\0';
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (keep0 >= 0)
            fcntl(keep0, F_SETFD, 0);
        if (keep1 >= 0)
            fcntl(keep1, F_SETFD, 0);
        char *argv[16] = {self};
        for (unsigned i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(self, argv);
        _exit(127);
    }
    CHECK(group_nkids < GROUP_MAX_KIDS, "too many role processes");
    group_kids[group_nkids++] = pid;
    return pid;
}

/* Waits for a role process; true when it exited with status 0 (reported otherwise). */
static inline bool group_wait(pid_t pid, const char *role)
{
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    for (unsigned i = 0; i < group_nkids; i++)
        if (group_kids[i] == pid)
            group_kids[i] = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s (pid %d) was killed by signal %d (%s)\n", role, (int)pid,
                WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        fprintf(stderr, "%s (pid %d) exited with status %d\n", role, (int)pid,
                WEXITSTATUS(status));
    return false;
}

/* One byte through a pipe, in a role process: fails (not hangs: see group_alarm) when the
 * other side went away or sent something else. */
static inline void group_send(int fd, char c)
{
    CHECK(write(fd, &c, 1) == 1, "pipe write: %s", strerror(errno));
}

static inline void group_expect(int fd, char want, const char *what)
{
    char c = 0;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    CHECK(n == 1, "waiting for %s: the other process went away", what);
    CHECK(c == want, "waiting for %s: got '%c', want '%c'", what, c, want);
}

static void group_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    char msg[128];
    int n = snprintf(msg, sizeof msg, "SIGBUS at %p (code %d) in pid %d\n", si->si_addr,
                     si->si_code, (int)getpid());
    (void)!write(2, msg, (size_t)n);
    _exit(3);
}

/* A SIGBUS (a mapping that does not know the file grew) ends the role with a message. */
static inline void group_catch_sigbus(void)
{
    struct sigaction sa = {.sa_sigaction = group_sigbus, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);
}

#endif
