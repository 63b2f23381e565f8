/* Shared copies of repeated ids; see intern.h. */
#include "apis/intern.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* Open addressing, linear probing, at most half full. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **slots;
static size_t nslots, count;

/* What this thread found lately, by hash: the table's copies never move
 * nor go, so most lookups take no lock (a cold start packs 100,000
 * records on two threads at once). A miss remembered is only a string not
 * shared: the table may have it since. */
#define LOCAL_SLOTS 1024
static _Thread_local const char *local_hit[LOCAL_SLOTS];
static _Thread_local uint64_t local_miss[LOCAL_SLOTS];

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The slot of s, or the empty one where it would go. */
static size_t probe(char **v, size_t n, const char *s, uint64_t h)
{
    size_t i = (size_t)h & (n - 1);
    while (v[i] && strcmp(v[i], s))
        i = (i + 1) & (n - 1);
    return i;
}

static void grow(void)
{
    size_t n = nslots ? 2 * nslots : 1024;
    char **v = xcalloc(n, sizeof(*v));

    for (size_t i = 0; i < nslots; i++)
        if (slots[i])
            v[probe(v, n, slots[i], hash(slots[i], strlen(slots[i])))] = slots[i];
    free(slots);
    slots = v;
    nslots = n;
}

static const char *lookup(const char *s, int add)
{
    size_t len;
    uint64_t h;
    size_t i;
    const char *r = NULL;

    if (!s || (len = strnlen(s, API_INTERN_MAX_LEN + 1)) > API_INTERN_MAX_LEN)
        return NULL;
    h = hash(s, len);
    i = (size_t)h & (LOCAL_SLOTS - 1);
    if (local_hit[i] && !strcmp(local_hit[i], s))
        return local_hit[i];
    if (!add && local_miss[i] == h)
        return NULL;
    pthread_mutex_lock(&lock);
    if (nslots) {
        i = probe(slots, nslots, s, h);
        r = slots[i];
    }
    if (!r && add && count < API_INTERN_MAX) {
        if (2 * (count + 1) > nslots)
            grow();
        i = probe(slots, nslots, s, h);
        r = slots[i] = xstrndup(s, len);
        count++;
    }
    pthread_mutex_unlock(&lock);
    i = (size_t)h & (LOCAL_SLOTS - 1);
    if (r)
        local_hit[i] = r;
    else if (!add)
        local_miss[i] = h;
    return r;
}

const char *api_intern(const char *s)
{
    return lookup(s, 1);
}

const char *api_intern_find(const char *s)
{
    return lookup(s, 0);
}

size_t api_intern_count(void)
{
    size_t n;

    pthread_mutex_lock(&lock);
    n = count;
    pthread_mutex_unlock(&lock);
    return n;
}
