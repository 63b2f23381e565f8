/* as_tls: TLS for the API (OpenSSL under libevent's bufferevent_openssl).
 *
 * One as_tls holds the server's SSL_CTX built from PEM files: the
 * certificate chain (--tls-cert), its key (--tls-key, refused if other users
 * may read it) and optionally a CA whose client certificates are verified
 * (--tls-client-ca; asked for, or required with --tls-client-cert=require).
 * Protocol floor TLS 1.2 (or 1.3), AEAD ECDHE ciphers for TLS 1.2 in the
 * server's order, no compression, no renegotiation.
 *
 * Lifecycle: as_tls_new() -> as_tls_new_ssl() per accepted connection,
 * as_tls_reload() at any time (SIGHUP) -> as_tls_free(). Connections already
 * open keep the context they started with; it is freed with the last of
 * them, so as_tls_free() and as_tls_reload() never cut a connection.
 *
 * A client certificate's subject names the caller: its CN is the user, each
 * OU a group (as Kubernetes' O). as_tls_peer_get() reads them for a request;
 * they are set only when the certificate verified against the client CA. */
#ifndef AS_TLS_H
#define AS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct evhttp_request;
struct ssl_st;
typedef struct as_tls as_tls;

typedef enum {
    AS_TLS_CLIENT_DEFAULT = 0, /* OPTIONAL with a client CA, else NONE */
    AS_TLS_CLIENT_NONE,        /* no client certificate asked for */
    AS_TLS_CLIENT_OPTIONAL,    /* asked for; one presented must verify */
    AS_TLS_CLIENT_REQUIRE,     /* the handshake fails without a valid one */
} as_tls_client_mode;

typedef enum { AS_TLS_1_2 = 0, AS_TLS_1_3 } as_tls_version;

typedef struct as_tls_config {
    const char *cert_file;      /* PEM: the certificate, then its chain */
    const char *key_file;       /* PEM private key; mode must not give others read */
    const char *client_ca_file; /* PEM CA bundle for client certificates; NULL: none */
    as_tls_client_mode client_mode;
    as_tls_version min_version; /* protocol floor; default TLS 1.2 */
} as_tls_config;

/* Loads the files and builds the context. Returns the handle (caller owns)
 * or NULL with err set (CR_EINVAL naming the setting and the file: a file
 * that cannot be read, a key readable by others, a key that does not match
 * the certificate, a client mode without a client CA). cfg's strings are
 * copied. */
as_tls *as_tls_new(const as_tls_config *cfg, cr_err *err);
void as_tls_free(as_tls *t);

/* Re-reads the files named at as_tls_new(). On success new connections use
 * the new context; on failure (err set, as as_tls_new) the old one stays. */
int as_tls_reload(as_tls *t, cr_err *err);

/* One line for logs about the certificate in use: "CN=..., serial 0A..,
 * not after Jun  1 12:00:00 2026 GMT". Borrowed until the next reload. */
const char *as_tls_describe(const as_tls *t);

/* A new server-side SSL for an accepted connection, on the current context.
 * The caller owns it (bufferevent_openssl frees it with BEV_OPT_CLOSE_ON_FREE). */
struct ssl_st *as_tls_new_ssl(as_tls *t);

/* "optional" / "require" (NULL or "": AS_TLS_CLIENT_DEFAULT). Returns 0, or
 * -1 with err naming the setting. */
int as_tls_client_mode_parse(const char *s, as_tls_client_mode *out, cr_err *err);
/* "1.2" / "1.3" (NULL or "": 1.2). Returns 0, or -1 with err set. */
int as_tls_version_parse(const char *s, as_tls_version *out, cr_err *err);

/* Who is at the other end of a connection, as far as TLS can tell. */
typedef struct as_tls_peer {
    bool tls;            /* the connection is TLS */
    bool verified;       /* a client certificate was presented and verified */
    char *user;          /* its subject's CN (the last if several); NULL unless verified */
    char **groups;       /* its subject's OU values, in order; NULL unless verified */
    size_t ngroups;      /* count of groups */
    long long not_after; /* the certificate's notAfter, epoch ms; 0 unless verified */
} as_tls_peer;

/* Fills *out (zeroed first; the caller releases it) for an SSL whose
 * handshake finished. A CN or OU that is not valid text (embedded NUL) makes
 * the peer unverified. ssl may be NULL (a plain connection). */
void as_tls_peer_of_ssl(struct ssl_st *ssl, as_tls_peer *out);
/* The same for the connection of an evhttp request (plain HTTP: tls false). */
void as_tls_peer_get(struct evhttp_request *req, as_tls_peer *out);
/* Frees the strings and zeroes *p; NULL and a zeroed peer are fine. */
void as_tls_peer_release(as_tls_peer *p);

#endif
