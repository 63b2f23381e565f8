/* TLS for the API; see as_tls.h. */
#include "apiserver/as_tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/xalloc.h"

/* TLS 1.2 suites: forward secret and AEAD only (Mozilla's "intermediate"
 * without DHE). TLS 1.3 keeps OpenSSL's default suites, all of them AEAD. */
#define TLS12_CIPHERS                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Client certificates verified here resume only in sessions of this server. */
#define SESSION_ID_CONTEXT "corral-api"

struct as_tls {
    char *cert_file, *key_file, *client_ca_file; /* owned copies of the config's */
    as_tls_client_mode client_mode;              /* never DEFAULT after as_tls_new */
    as_tls_version min_version;
    SSL_CTX *ctx;   /* new connections' context; open ones hold a reference to theirs */
    char *describe; /* as_tls_describe() */
};

/* The first (root-cause) error of OpenSSL's queue as "library: reason", or
 * fallback; the queue is emptied so later calls on the loop do not see it. */
static void ssl_reason(char *out, size_t n, const char *fallback)
{
    unsigned long e = ERR_get_error();
    const char *lib = e ? ERR_lib_error_string(e) : NULL;
    const char *why = e ? ERR_reason_error_string(e) : NULL;

    if (why)
        snprintf(out, n, "%s%s%s", lib ? lib : "", lib ? ": " : "", why);
    else if (e)
        ERR_error_string_n(e, out, n);
    else
        snprintf(out, n, "%s", fallback);
    ERR_clear_error();
}

/* fopen() for a clear message before OpenSSL reads the file ("No such file
 * or directory" rather than a library's error code). */
static FILE *open_pem(const char *setting, const char *path, cr_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        cr_error(err, CR_EINVAL, "%s '%s': cannot open: %s", setting, path, strerror(errno));
    return f;
}

/* Encrypted keys are not supported: corrald starts unattended. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    *(bool *)u = true;
    return -1;
}

/* Reads the private key, refusing a file other users may read: the mode is
 * checked on the file actually read (fstat), not on the name. Caller owns
 * the key. */
static EVP_PKEY *load_key(const char *path, cr_err *err)
{
    FILE *f = open_pem("tls-key", path, err);
    EVP_PKEY *key = NULL;
    struct stat st;
    bool asked = false;
    char why[256];

    if (!f)
        return NULL;
    if (fstat(fileno(f), &st) < 0) {
        cr_error(err, CR_EINVAL, "tls-key '%s': cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        cr_error(err, CR_EINVAL,
                 "tls-key '%s' is %s by every user (mode %04o): refusing to use it; "
                 "make it private (chmod 600 or 640)",
                 path, (st.st_mode & S_IROTH) ? "readable" : "writable",
                 (unsigned)(st.st_mode & 07777));
        goto out;
    }
    key = PEM_read_PrivateKey(f, NULL, no_passphrase, &asked);
    if (!key) {
        ssl_reason(why, sizeof(why), "no private key in the file");
        if (asked)
            cr_error(err, CR_EINVAL,
                     "tls-key '%s': the key is encrypted; corrald needs an unencrypted key "
                     "(keep the file private instead)",
                     path);
        else
            cr_error(err, CR_EINVAL, "tls-key '%s': cannot read a PEM private key: %s", path, why);
    }
out:
    fclose(f);
    return key;
}

/* "CN=127.0.0.1, serial 1F3A..., not after Jun  1 12:00:00 2026 GMT".
 * Caller owns. */
static char *describe_cert(const X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    BIGNUM *bn = NULL;
    char *hex = NULL, *data = NULL, *out;
    long len;

    if (!bio)
        abort();
    if (!cert) {
        BIO_free(bio);
        return xstrdup("(no certificate)");
    }
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    BIO_printf(bio, ", serial %s, not after ", hex ? hex : "?");
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    len = BIO_get_mem_data(bio, &data);
    out = xstrndup(data, len > 0 ? (size_t)len : 0);
    OPENSSL_free(hex);
    BN_free(bn);
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

/* Builds a context from t's files. On success *ctx and *describe are set
 * (caller owns both). */
static int build_ctx(const as_tls *t, SSL_CTX **ctx_out, char **describe, cr_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    EVP_PKEY *key = NULL;
    STACK_OF(X509_NAME) *names = NULL;
    FILE *f = NULL;
    char why[256];
    int rc = -1;

    if (!ctx)
        abort();
    SSL_CTX_set_min_proto_version(ctx,
                                  t->min_version == AS_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE
#ifdef SSL_OP_NO_RENEGOTIATION
                                 | SSL_OP_NO_RENEGOTIATION
#endif
    );
    /* The chain sent is --tls-cert's, never one OpenSSL completes from the
     * client CA; idle connections give their buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN | SSL_MODE_RELEASE_BUFFERS);
    if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS))
        abort(); /* a constant: cannot fail but for lack of memory */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT,
                                   sizeof(SESSION_ID_CONTEXT) - 1);

    if (!(f = open_pem("tls-cert", t->cert_file, err)))
        goto out;
    fclose(f);
    f = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        ssl_reason(why, sizeof(why), "no certificate in the file");
        cr_error(err, CR_EINVAL, "tls-cert '%s': cannot load a PEM certificate chain: %s",
                 t->cert_file, why);
        goto out;
    }
    if (!(key = load_key(t->key_file, err)))
        goto out;
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ssl_reason(why, sizeof(why), "mismatch");
        cr_error(err, CR_EINVAL, "tls-key '%s' does not match the certificate of tls-cert '%s': %s",
                 t->key_file, t->cert_file, why);
        goto out;
    }
    if (t->client_ca_file) {
        if (!(f = open_pem("tls-client-ca", t->client_ca_file, err)))
            goto out;
        fclose(f);
        f = NULL;
        names = SSL_load_client_CA_file(t->client_ca_file);
        if (!names || SSL_CTX_load_verify_locations(ctx, t->client_ca_file, NULL) != 1) {
            ssl_reason(why, sizeof(why), "no certificate in the file");
            cr_error(err, CR_EINVAL, "tls-client-ca '%s': cannot load PEM CA certificates: %s",
                     t->client_ca_file, why);
            goto out;
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* takes them */
        names = NULL;
    }
    if (t->client_mode == AS_TLS_CLIENT_REQUIRE)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (t->client_mode == AS_TLS_CLIENT_OPTIONAL)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    *describe = describe_cert(SSL_CTX_get0_certificate(ctx));
    *ctx_out = ctx;
    ctx = NULL;
    rc = 0;
out:
    if (names)
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int as_tls_client_mode_parse(const char *s, as_tls_client_mode *out, cr_err *err)
{
    if (!s || !*s)
        *out = AS_TLS_CLIENT_DEFAULT;
    else if (strcmp(s, "optional") == 0)
        *out = AS_TLS_CLIENT_OPTIONAL;
    else if (strcmp(s, "require") == 0)
        *out = AS_TLS_CLIENT_REQUIRE;
    else
        return cr_error(err, CR_EINVAL, "tls-client-cert: '%s' is not optional or require", s);
    return 0;
}

int as_tls_version_parse(const char *s, as_tls_version *out, cr_err *err)
{
    if (!s || !*s || strcmp(s, "1.2") == 0)
        *out = AS_TLS_1_2;
    else if (strcmp(s, "1.3") == 0)
        *out = AS_TLS_1_3;
    else
        return cr_error(err, CR_EINVAL, "tls-min-version: '%s' is not 1.2 or 1.3", s);
    return 0;
}

as_tls *as_tls_new(const as_tls_config *cfg, cr_err *err)
{
    as_tls *t = NULL;

    if (!cfg->cert_file || !*cfg->cert_file || !cfg->key_file || !*cfg->key_file) {
        cr_error(err, CR_EINVAL, "tls: tls-cert and tls-key are both needed");
        return NULL;
    }
    if (cfg->client_mode != AS_TLS_CLIENT_DEFAULT && cfg->client_mode != AS_TLS_CLIENT_NONE &&
        (!cfg->client_ca_file || !*cfg->client_ca_file)) {
        cr_error(err, CR_EINVAL, "tls-client-cert=%s needs tls-client-ca (the CA to verify with)",
                 cfg->client_mode == AS_TLS_CLIENT_REQUIRE ? "require" : "optional");
        return NULL;
    }
    if (cfg->min_version != AS_TLS_1_2 && cfg->min_version != AS_TLS_1_3) {
        cr_error(err, CR_EINVAL, "tls-min-version: unknown version %d", (int)cfg->min_version);
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    t->cert_file = xstrdup(cfg->cert_file);
    t->key_file = xstrdup(cfg->key_file);
    t->client_ca_file =
        cfg->client_ca_file && *cfg->client_ca_file ? xstrdup(cfg->client_ca_file) : NULL;
    t->client_mode = cfg->client_mode;
    if (t->client_mode == AS_TLS_CLIENT_DEFAULT)
        t->client_mode = t->client_ca_file ? AS_TLS_CLIENT_OPTIONAL : AS_TLS_CLIENT_NONE;
    t->min_version = cfg->min_version;
    if (build_ctx(t, &t->ctx, &t->describe, err) < 0) {
        as_tls_free(t);
        return NULL;
    }
    return t;
}

void as_tls_free(as_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx); /* open connections keep their reference */
    free(t->describe);
    free(t->cert_file);
    free(t->key_file);
    free(t->client_ca_file);
    free(t);
}

int as_tls_reload(as_tls *t, cr_err *err)
{
    SSL_CTX *ctx = NULL;
    char *describe = NULL;

    if (build_ctx(t, &ctx, &describe, err) < 0)
        return -1;
    SSL_CTX_free(t->ctx);
    free(t->describe);
    t->ctx = ctx;
    t->describe = describe;
    return 0;
}

const char *as_tls_describe(const as_tls *t)
{
    return t->describe;
}

struct ssl_st *as_tls_new_ssl(as_tls *t)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        abort(); /* only for lack of memory; never fall back to plain HTTP */
    return ssl;
}

/* The UTF-8 text of a name entry, or NULL if it is not clean text. Caller
 * frees. */
static char *entry_text(const X509_NAME_ENTRY *e)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    char *out = NULL;

    if (n >= 0 && memchr(utf8, '\0', (size_t)n) == NULL)
        out = xstrndup((const char *)utf8, (size_t)n);
    OPENSSL_free(utf8);
    return out;
}

void as_tls_peer_of_ssl(struct ssl_st *ssl, as_tls_peer *out)
{
    X509 *cert = NULL;
    const X509_NAME *name;
    int i = -1;
    bool bad = false;

    memset(out, 0, sizeof(*out));
    if (!ssl)
        return;
    out->tls = true;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    cert = SSL_get1_peer_certificate(ssl);
#else
    cert = SSL_get_peer_certificate(ssl);
#endif
    /* A certificate the handshake did not verify names nobody. */
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK ||
        SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
        goto out;
    name = X509_get_subject_name(cert);
    while ((i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0) {
        free(out->user);
        if (!(out->user = entry_text(X509_NAME_get_entry(name, i))))
            bad = true;
    }
    i = -1;
    while (!bad && (i = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, i)) >= 0) {
        char *g = entry_text(X509_NAME_get_entry(name, i));
        if (!g) {
            bad = true;
            break;
        }
        out->groups = xrealloc(out->groups, (out->ngroups + 1) * sizeof(*out->groups));
        out->groups[out->ngroups++] = g;
    }
    if (bad || !out->user || !*out->user) {
        as_tls_peer_release(out);
        out->tls = true;
        goto out;
    }
    out->verified = true;
    {
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
            out->not_after = (long long)timegm(&tm) * 1000;
    }
out:
    X509_free(cert);
}

void as_tls_peer_get(struct evhttp_request *req, as_tls_peer *out)
{
    struct evhttp_connection *conn = req ? evhttp_request_get_connection(req) : NULL;
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;

    as_tls_peer_of_ssl(bev ? bufferevent_openssl_get_ssl(bev) : NULL, out);
}

void as_tls_peer_release(as_tls_peer *p)
{
    if (!p)
        return;
    free(p->user);
    for (size_t i = 0; i < p->ngroups; i++)
        free(p->groups[i]);
    free(p->groups);
    memset(p, 0, sizeof(*p));
}
