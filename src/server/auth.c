#include "server/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(AUTH_HASH_MAX >= crypto_pwhash_STRBYTES, "hash buffer");
_Static_assert(AUTH_SECRET_KEY_BYTES == crypto_secretbox_KEYBYTES, "secretbox key");

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

static void init(void)
{
    init_rc = sodium_init();
}

dx_status auth_init(void)
{
    pthread_once(&once, init);
    if (init_rc < 0)
        return dx_fail(DX_EINTERNAL, "libsodium could not start");
    return DX_OK;
}

dx_status auth_password_hash(const char *password, char out[AUTH_HASH_MAX])
{
    size_t n = strlen(password);
    if (n < AUTH_MIN_PASSWORD)
        return dx_fail(DX_EARG, "the password is shorter than %d characters", AUTH_MIN_PASSWORD);
    if (n > AUTH_MAX_PASSWORD)
        return dx_fail(DX_EARG, "the password is longer than %d bytes", AUTH_MAX_PASSWORD);
    if (crypto_pwhash_str_alg(out, password, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13))
        return dx_fail(DX_ENOMEM, "not enough memory to hash a password");
    return DX_OK;
}

bool auth_password_verify(const char *hash, const char *password)
{
    size_t n = strlen(password);
    if (!hash || n > AUTH_MAX_PASSWORD || !memchr(hash, 0, AUTH_HASH_MAX))
        return false;
    return crypto_pwhash_str_verify(hash, password, n) == 0;
}

bool auth_password_needs_rehash(const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
}

void auth_token_new(char out[AUTH_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void auth_token_digest(const char *token, char out[AUTH_DIGEST_LEN + 1])
{
    unsigned char d[32];
    crypto_generichash(d, sizeof d, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, AUTH_DIGEST_LEN + 1, d, sizeof d);
}

bool auth_token_valid(const char *token)
{
    size_t n = 0;
    for (; token && token[n] && n <= AUTH_TOKEN_LEN; n++)
        if (!isalnum((unsigned char)token[n]) && token[n] != '-' && token[n] != '_')
            return false;
    return token && n == AUTH_TOKEN_LEN && !token[n];
}

dx_status auth_name_canonical(const char *name, char out[AUTH_MAX_NAME])
{
    size_t n = strlen(name);
    if (n < 3 || n >= AUTH_MAX_NAME)
        return dx_fail(DX_EARG, "an account name has 3 to %d characters", AUTH_MAX_NAME - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tolower((unsigned char)name[i]);
        if (!(isalnum(c) || strchr("._-@+", c)) || c >= 0x80)
            return dx_fail(DX_EARG, "an account name is letters, digits and . _ - @ + (an e-mail "
                                    "address works)");
        out[i] = (char)c;
    }
    out[n] = 0;
    return DX_OK;
}

/* ---- throttling ---- */

#define THROTTLE_MAX_KEEP 32 /* failure times kept per key */

typedef struct slot {
    char key[AUTH_MAX_NAME + 48];
    double fails[THROTTLE_MAX_KEEP]; /* ring of failure times */
    int n, head;
    double last;
} slot;

struct auth_throttle {
    pthread_mutex_t mu;
    int max;
    double window;
    slot *slots;
    size_t n;
};

auth_throttle *auth_throttle_new(int max_failures, double window_s)
{
    auth_throttle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->slots = calloc(AUTH_THROTTLE_SLOTS, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->max = max_failures < 1                   ? 1
             : max_failures > THROTTLE_MAX_KEEP ? THROTTLE_MAX_KEEP
                                                : max_failures;
    t->window = window_s;
    return t;
}

void auth_throttle_free(auth_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->slots);
    free(t);
}

static slot *find(auth_throttle *t, const char *key, bool create)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->slots[i].key, key))
            return &t->slots[i];
    if (!create)
        return NULL;
    slot *s;
    if (t->n < AUTH_THROTTLE_SLOTS) {
        s = &t->slots[t->n++];
    } else { /* forget the stalest */
        s = &t->slots[0];
        for (size_t i = 1; i < t->n; i++)
            if (t->slots[i].last < s->last)
                s = &t->slots[i];
    }
    memset(s, 0, sizeof *s);
    snprintf(s->key, sizeof s->key, "%s", key);
    return s;
}

/* Drops failures older than the window. */
static void expire(auth_throttle *t, slot *s, double now)
{
    while (s->n) {
        int oldest = (s->head - s->n + THROTTLE_MAX_KEEP) % THROTTLE_MAX_KEEP;
        if (now - s->fails[oldest] < t->window)
            break;
        s->n--;
    }
}

bool auth_throttle_allowed(auth_throttle *t, const char *key, double now_s, double *retry_s)
{
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, key, false);
    bool ok = true;
    if (s) {
        expire(t, s, now_s);
        if (s->n >= t->max) {
            int oldest = (s->head - s->n + THROTTLE_MAX_KEEP) % THROTTLE_MAX_KEEP;
            if (retry_s)
                *retry_s = t->window - (now_s - s->fails[oldest]);
            ok = false;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

void auth_throttle_failure(auth_throttle *t, const char *key, double now_s)
{
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, key, true);
    expire(t, s, now_s);
    s->fails[s->head] = now_s;
    s->head = (s->head + 1) % THROTTLE_MAX_KEEP;
    if (s->n < THROTTLE_MAX_KEEP)
        s->n++;
    s->last = now_s;
    pthread_mutex_unlock(&t->mu);
}

void auth_throttle_success(auth_throttle *t, const char *key)
{
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, key, false);
    if (s)
        s->n = 0;
    pthread_mutex_unlock(&t->mu);
}

/* ---- per-user secrets ---- */

dx_status auth_server_key_load(const char *path, uint8_t key[AUTH_SECRET_KEY_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        crypto_secretbox_keygen(key);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return dx_fail(DX_EIO, "server key %s: %s", path, strerror(errno));
        ssize_t w = write(fd, key, AUTH_SECRET_KEY_BYTES);
        int rc = fsync(fd);
        close(fd);
        if (w != AUTH_SECRET_KEY_BYTES || rc)
            return dx_fail(DX_EIO, "server key %s: can't write it", path);
        return DX_OK;
    }
    if (fd < 0)
        return dx_fail(DX_EIO, "server key %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
        close(fd);
        return dx_fail(DX_EARG, "server key %s is readable by others (chmod 600 it)", path);
    }
    uint8_t buf[AUTH_SECRET_KEY_BYTES + 1];
    ssize_t r = read(fd, buf, sizeof buf);
    close(fd);
    if (r != AUTH_SECRET_KEY_BYTES) {
        sodium_memzero(buf, sizeof buf);
        return dx_fail(DX_EFORMAT, "server key %s: expected %d bytes", path, AUTH_SECRET_KEY_BYTES);
    }
    memcpy(key, buf, AUTH_SECRET_KEY_BYTES);
    sodium_memzero(buf, sizeof buf);
    return DX_OK;
}

dx_status auth_secret_seal(const uint8_t key[AUTH_SECRET_KEY_BYTES], const char *plain, char **out)
{
    *out = NULL;
    size_t n = strlen(plain);
    if (n > AUTH_MAX_SECRET)
        return dx_fail(DX_ELIMIT, "a secret is at most %d bytes", AUTH_MAX_SECRET);
    size_t boxed = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
    unsigned char *buf = malloc(boxed);
    size_t b64 = sodium_base64_ENCODED_LEN(boxed, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(b64);
    if (!buf || !s) {
        free(buf);
        free(s);
        return dx_fail(DX_ENOMEM, "out of memory");
    }
    randombytes_buf(buf, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(buf + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, n, buf,
                          key);
    sodium_bin2base64(s, b64, buf, boxed, sodium_base64_VARIANT_ORIGINAL);
    free(buf);
    *out = s;
    return DX_OK;
}

dx_status auth_secret_open(const uint8_t key[AUTH_SECRET_KEY_BYTES], const char *sealed, char **out)
{
    *out = NULL;
    size_t len = strlen(sealed), n = 0;
    if (len > 2 * AUTH_MAX_SECRET + 256)
        return dx_fail(DX_EFORMAT, "sealed secret too long");
    unsigned char *buf = malloc(len + 1);
    if (!buf)
        return dx_fail(DX_ENOMEM, "out of memory");
    dx_status st = DX_OK;
    char *plain = NULL;
    if (sodium_base642bin(buf, len + 1, sealed, len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) ||
        n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        st = dx_fail(DX_EFORMAT, "sealed secret is not base64 of a box");
        goto out;
    }
    size_t m = n - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    if (!(plain = malloc(m + 1))) {
        st = dx_fail(DX_ENOMEM, "out of memory");
        goto out;
    }
    if (crypto_secretbox_open_easy((unsigned char *)plain, buf + crypto_secretbox_NONCEBYTES,
                                   n - crypto_secretbox_NONCEBYTES, buf, key)) {
        st = dx_fail(DX_EFORMAT, "sealed secret does not open with the server key");
        free(plain);
        plain = NULL;
        goto out;
    }
    plain[m] = 0;
    *out = plain;
out:
    free(buf);
    return st;
}

void auth_secret_free(char *plain)
{
    if (!plain)
        return;
    sodium_memzero(plain, strlen(plain));
    free(plain);
}
