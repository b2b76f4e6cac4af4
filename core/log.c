#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "os.h"

static _Atomic int log_level = UM_LOG_WARN;

void um_log_set_level(enum um_log_level level) { atomic_store(&log_level, (int)level); }
enum um_log_level um_log_level(void) { return (enum um_log_level)atomic_load(&log_level); }

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
    ssize_t ignored = um_os_write(STDERR_FILENO, line, len);
    (void)ignored;
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
