#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"

static _Atomic int log_level = UM_LOG_WARN;

void um_log_set_level(enum um_log_level level) { atomic_store(&log_level, (int)level); }
enum um_log_level um_log_level(void) { return (enum um_log_level)atomic_load(&log_level); }

static struct stat stderr_at_start; /* st_nlink 0: no usable stderr then */

void um_log_init(void)
{
    if (syscall(SYS_fstat, STDERR_FILENO, &stderr_at_start))
        stderr_at_start.st_nlink = 0;
}

/* Whether descriptor 2 is still where our notices may go: a daemon that closed it may have
 * opened a data file there since, which a notice would overwrite. A regular file other than
 * the one stderr was at start is written to only if it is open for appending (a log). */
static bool stderr_usable(void)
{
    struct stat now;
    if (syscall(SYS_fstat, STDERR_FILENO, &now))
        return false;
    if (!S_ISREG(now.st_mode))
        return true;
    if (stderr_at_start.st_nlink && now.st_dev == stderr_at_start.st_dev &&
        now.st_ino == stderr_at_start.st_ino)
        return true;
    long flags = syscall(SYS_fcntl, STDERR_FILENO, F_GETFL);
    return flags >= 0 && (flags & O_APPEND);
}

static void emit(const char *fmt, va_list ap)
{
    char line[1024];
    int saved = errno;
    int n = snprintf(line, sizeof line, "uffdmap: ");
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    if (stderr_usable()) {
        ssize_t ignored = um_os_write(STDERR_FILENO, line, len);
        (void)ignored;
    }
    errno = saved;
}

void um_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

void um_warn(const char *fmt, ...)
{
    if (um_log_level() < UM_LOG_WARN)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

void um_debug(const char *fmt, ...)
{
    if (um_log_level() < UM_LOG_DEBUG)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}
