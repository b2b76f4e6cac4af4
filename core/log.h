/* Messages on stderr, written with one write(2) each and no allocation. */
#ifndef UM_LOG_H
#define UM_LOG_H

#include <stdatomic.h>

enum um_log_level { UM_LOG_QUIET = 0, UM_LOG_WARN = 1, UM_LOG_DEBUG = 2 };

void um_log_set_level(enum um_log_level level);
/* Note where stderr is at start (notices never go to a data file put at descriptor 2 later). */
void um_log_init(void);
enum um_log_level um_log_level(void);

/* Configuration errors: always printed, whatever UFFDMAP_LOG says. */
void um_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Notices (fallbacks, dropped features): silenced by UFFDMAP_LOG=quiet. */
void um_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void um_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a notice only the first time this call site is reached. */
#define um_warn_once(...)                                                  \
    do {                                                                   \
        static atomic_flag um_once_ = ATOMIC_FLAG_INIT;                    \
        if (!atomic_flag_test_and_set_explicit(&um_once_, memory_order_relaxed)) \
            um_warn(__VA_ARGS__);                                          \
    } while (0)

#endif
