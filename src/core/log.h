/*
 * log — leveled diagnostics on stderr.
 *
 * The level comes from DRUX_LOG (error, warn, info, debug; default warn), read
 * once. Thread-safe: each call writes one whole line.
 *
 *     log_info("loaded %s in %.1f ms", path, ms);
 */
#ifndef DX_LOG_H
#define DX_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_msg(enum log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
