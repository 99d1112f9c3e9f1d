/* A bounded byte stream with one writer and many followers (question events, streamed replies). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/stream.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/str.h"

struct jobs_stream {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int refs;
    bool closed;
    unsigned wakes;
    dx_buf buf;
};

jobs_stream *jobs_stream_new(size_t max)
{
    jobs_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->refs = 1;
    s->buf = dx_buf_make(max);
    return s;
}

void jobs_stream_ref(jobs_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void jobs_stream_unref(jobs_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left)
        return;
    dx_buf_free(&s->buf);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

dx_status jobs_stream_write(jobs_stream *s, const void *p, size_t n)
{
    pthread_mutex_lock(&s->mu);
    dx_status st = s->closed ? dx_fail(DX_EARG, "stream closed") : dx_buf_append(&s->buf, p, n);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return st;
}

dx_status jobs_stream_event(jobs_stream *s, const char *name, json_t *data)
{
    char *js = json_dumps(data, JSON_COMPACT);
    if (!js)
        return dx_fail(DX_ENOMEM, "out of memory");
    /* compact JSON has no raw newline, so one data line carries it */
    size_t nl = strlen(name), nj = strlen(js);
    char *ev = malloc(nl + nj + 24);
    if (!ev) {
        free(js);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    int n = sprintf(ev, "event: %s\ndata: %s\n\n", name, js);
    dx_status st = jobs_stream_write(s, ev, (size_t)n);
    free(ev);
    free(js);
    return st;
}

size_t jobs_stream_len(jobs_stream *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->buf.len;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void jobs_stream_close(jobs_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void jobs_stream_wake(jobs_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->wakes++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

long jobs_stream_read(jobs_stream *s, size_t *off, char *buf, size_t max, int wait_ms,
                      const atomic_int *stop)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += wait_ms / 1000;
    dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    long got = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (*off < s->buf.len) {
            size_t n = s->buf.len - *off;
            if (n > max)
                n = max;
            memcpy(buf, s->buf.data + *off, n);
            *off += n;
            got = (long)n;
            break;
        }
        if (s->closed || (stop && atomic_load(stop))) {
            got = -1;
            break;
        }
        if (pthread_cond_timedwait(&s->cond, &s->mu, &dl) == ETIMEDOUT) {
            got = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}
