/* as_tls: the server context built from files made by the openssl command
 * in a temporary directory (a CA, a server certificate for 127.0.0.1, a
 * client certificate CN=alice OU=team-a OU=admins, an unrelated CA and its
 * client): what is refused and why, reload keeping the old context on a
 * bad file, and handshakes in memory (BIO pairs) against a client SSL:
 * protocol floor, client certificates required or optional, and the user
 * and groups read from a verified certificate. Also corrald's --tls-*
 * settings (as_config). */
#include "test/lib/cr_test.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "apiserver/as_config.h"
#include "apiserver/as_tls.h"
#include "base/xalloc.h"

/* Blocking, for test setup only. */
static const char pki_script[] =
    "set -e; cd '%s'; exec >openssl.log 2>&1\n"
    "key='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
    "ca() { openssl req -x509 $key -days 2 -subj \"$2\" -keyout $1-key.pem -out $1.pem; }\n"
    "csr() { openssl req -new $key -subj \"$2\" -keyout $1-key.pem -out $1.csr; }\n"
    "sign() { openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2-key.pem -set_serial $3 "
    "-days 2 -extfile $4 -out $1.pem; }\n"
    "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext\n"
    "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
    "ca ca /CN=corral-test-ca\n"
    "ca other-ca /CN=other-ca\n"
    "csr server /CN=127.0.0.1; sign server ca 0x1001 server.ext\n"
    "csr server2 /CN=127.0.0.1; sign server2 ca 0x2002 server.ext\n"
    "csr alice /CN=alice/OU=team-a/OU=admins; sign alice ca 2001 client.ext\n"
    "csr mallory /CN=mallory/OU=admins; sign mallory other-ca 3001 client.ext\n"
    "openssl pkey -in server-key.pem -aes256 -passout pass:secret -out encrypted-key.pem\n"
    "echo 'not a certificate' > garbage.pem\n"
    "chmod 600 *-key.pem\n";

typedef struct fx {
    char *dir;
    char path[8][512]; /* scratch for p() */
    int next;
} fx;

/* dir/name in a scratch slot (valid for the next 7 calls). */
static const char *p(fx *f, const char *name)
{
    char *out = f->path[f->next++ % 8];
    snprintf(out, sizeof(f->path[0]), "%s/%s", f->dir, name);
    return out;
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof(*f));
    char *cmd;
    int rc;

    f->dir = cr_test_tmpdir();
    cmd = xasprintf(pki_script, f->dir);
    rc = system(cmd);
    free(cmd);
    if (rc != 0) {
        fprintf(stderr, "openssl failed; see %s/openssl.log\n", f->dir);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char *cmd = xasprintf("rm -rf '%s'", f->dir);
    int rc = system(cmd);

    free(cmd);
    free(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

static as_tls *server(fx *f, const char *ca, as_tls_client_mode mode, as_tls_version v, cr_err *err)
{
    as_tls_config c = {.cert_file = p(f, "server.pem"),
                       .key_file = p(f, "server-key.pem"),
                       .client_ca_file = ca ? p(f, ca) : NULL,
                       .client_mode = mode,
                       .min_version = v};
    return as_tls_new(&c, err);
}

/* A client context trusting ca.pem, with name's certificate if name. */
static SSL_CTX *client_ctx(fx *f, const char *name, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char cert[64], key[64];

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, p(f, "ca.pem"), NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (max_version) {
        /* Let the client offer old versions, so the server is what refuses. */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, max_version);
        SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
    }
    if (name) {
        snprintf(cert, sizeof(cert), "%s.pem", name);
        snprintf(key, sizeof(key), "%s-key.pem", name);
        assert_int_equal(SSL_CTX_use_certificate_file(ctx, p(f, cert), SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, p(f, key), SSL_FILETYPE_PEM), 1);
    }
    return ctx;
}

/* Which side failed and OpenSSL's reason ("server: unsupported protocol"). */
static void failure(char *why, size_t n, const char *side)
{
    const char *r = ERR_reason_error_string(ERR_peek_error());
    snprintf(why, n, "%s: %s", side, r ? r : "?");
}

/* Runs a handshake in memory between a new client on cctx and a server
 * SSL from t; returns whether both sides finished, else why it failed in
 * why. The server SSL is returned in *srv_out (caller frees) when asked
 * for. */
static bool handshake_why(as_tls *t, SSL_CTX *cctx, SSL **srv_out, char *why, size_t n)
{
    SSL *srv = as_tls_new_ssl(t), *cli = SSL_new(cctx);
    BIO *sb = NULL, *cb = NULL;
    bool cdone = false, sdone = false, failed = false;

    assert_non_null(cli);
    assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
    SSL_set_bio(srv, sb, sb);
    SSL_set_bio(cli, cb, cb);
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    for (int i = 0; i < 50 && !failed && !(cdone && sdone); i++) {
        int rc;
        if (!cdone) {
            rc = SSL_do_handshake(cli);
            if (rc == 1)
                cdone = true;
            else if (SSL_get_error(cli, rc) != SSL_ERROR_WANT_READ)
                failed = true, failure(why, n, "client");
        }
        if (!sdone && !failed) {
            rc = SSL_do_handshake(srv);
            if (rc == 1)
                sdone = true;
            else if (SSL_get_error(srv, rc) != SSL_ERROR_WANT_READ)
                failed = true, failure(why, n, "server");
        }
    }
    /* TLS 1.3: the server judges the client's certificate after the client
     * finished; a refusal shows on the client's first read. */
    if (!failed && cdone && sdone) {
        char byte;
        int rc = SSL_read(cli, &byte, 1);
        if (rc <= 0 && SSL_get_error(cli, rc) != SSL_ERROR_WANT_READ)
            failed = true, failure(why, n, "client");
    }
    ERR_clear_error();
    SSL_free(cli);
    if (srv_out && !failed)
        *srv_out = srv;
    else
        SSL_free(srv);
    return !failed && cdone && sdone;
}

static bool handshake(as_tls *t, SSL_CTX *cctx, SSL **srv_out)
{
    char why[256];
    return handshake_why(t, cctx, srv_out, why, sizeof(why));
}

/* The handshake fails, and for this reason. */
static void refused(as_tls *t, SSL_CTX *cctx, const char *want)
{
    char why[256] = "";
    assert_false(handshake_why(t, cctx, NULL, why, sizeof(why)));
    assert_string_equal(why, want);
}

static void test_new_and_describe(void **state)
{
    fx *f = *state;
    cr_err err;
    as_tls *t = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err);

    assert_non_null(t);
    assert_non_null(strstr(as_tls_describe(t), "CN=127.0.0.1"));
    assert_non_null(strstr(as_tls_describe(t), "serial 1001"));
    assert_non_null(strstr(as_tls_describe(t), "not after"));
    as_tls_free(t);
    as_tls_free(NULL);
}

static void test_key_mode_refused(void **state)
{
    fx *f = *state;
    cr_err err;
    as_tls *t;

    assert_int_equal(chmod(p(f, "server-key.pem"), 0644), 0);
    assert_null(t = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err));
    assert_int_equal(err.code, CR_EINVAL);
    assert_non_null(strstr(cr_err_msg(&err), "server-key.pem' is readable by every user "
                                             "(mode 0644): refusing to use it"));
    assert_int_equal(chmod(p(f, "server-key.pem"), 0602), 0);
    assert_null(t = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err));
    assert_non_null(strstr(cr_err_msg(&err), "is writable by every user (mode 0602)"));
    /* Group-readable is fine (a group such as ssl-cert). */
    assert_int_equal(chmod(p(f, "server-key.pem"), 0640), 0);
    assert_non_null(t = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err));
    as_tls_free(t);
}

static void test_bad_files(void **state)
{
    fx *f = *state;
    cr_err err;
    char msg[1200];
    as_tls_config c = {.cert_file = p(f, "missing.pem"), .key_file = p(f, "server-key.pem")};

    assert_null(as_tls_new(&c, &err));
    snprintf(msg, sizeof(msg), "tls-cert '%s/missing.pem': cannot open: No such file or directory",
             f->dir);
    assert_string_equal(cr_err_msg(&err), msg);

    c.cert_file = p(f, "garbage.pem");
    assert_null(as_tls_new(&c, &err));
    assert_non_null(strstr(cr_err_msg(&err), "garbage.pem': cannot load a PEM certificate chain"));

    c.cert_file = p(f, "server.pem");
    c.key_file = p(f, "alice-key.pem");
    assert_null(as_tls_new(&c, &err));
    assert_non_null(strstr(cr_err_msg(&err), "alice-key.pem' does not match the certificate of "
                                             "tls-cert"));

    c.key_file = p(f, "encrypted-key.pem");
    assert_null(as_tls_new(&c, &err));
    assert_non_null(strstr(cr_err_msg(&err), "the key is encrypted"));

    c.key_file = p(f, "server.pem"); /* a certificate where the key should be */
    assert_int_equal(chmod(c.key_file, 0600), 0);
    assert_null(as_tls_new(&c, &err));
    assert_non_null(strstr(cr_err_msg(&err), "server.pem': cannot read a PEM private key"));

    c.key_file = p(f, "server-key.pem");
    c.client_ca_file = p(f, "garbage.pem");
    assert_null(as_tls_new(&c, &err));
    assert_non_null(strstr(cr_err_msg(&err), "tls-client-ca '"));
    assert_non_null(strstr(cr_err_msg(&err), "garbage.pem': cannot load PEM CA certificates"));
}

static void test_settings_rules(void **state)
{
    cr_err err;
    as_tls_client_mode m;
    as_tls_version v;
    as_tls_config c = {.cert_file = "x.pem"};

    assert_null(as_tls_new(&c, &err));
    assert_string_equal(cr_err_msg(&err), "tls: tls-cert and tls-key are both needed");
    c.key_file = "k.pem";
    c.client_mode = AS_TLS_CLIENT_REQUIRE;
    assert_null(as_tls_new(&c, &err));
    assert_string_equal(cr_err_msg(&err),
                        "tls-client-cert=require needs tls-client-ca (the CA to verify with)");

    assert_int_equal(as_tls_client_mode_parse(NULL, &m, &err), 0);
    assert_int_equal(m, AS_TLS_CLIENT_DEFAULT);
    assert_int_equal(as_tls_client_mode_parse("require", &m, &err), 0);
    assert_int_equal(m, AS_TLS_CLIENT_REQUIRE);
    assert_int_equal(as_tls_client_mode_parse("optional", &m, &err), 0);
    assert_int_equal(m, AS_TLS_CLIENT_OPTIONAL);
    assert_int_equal(as_tls_client_mode_parse("always", &m, &err), -1);
    assert_string_equal(cr_err_msg(&err), "tls-client-cert: 'always' is not optional or require");
    assert_int_equal(as_tls_version_parse(NULL, &v, &err), 0);
    assert_int_equal(v, AS_TLS_1_2);
    assert_int_equal(as_tls_version_parse("1.3", &v, &err), 0);
    assert_int_equal(v, AS_TLS_1_3);
    assert_int_equal(as_tls_version_parse("1.1", &v, &err), -1);
    assert_string_equal(cr_err_msg(&err), "tls-min-version: '1.1' is not 1.2 or 1.3");
}

/* corrald's flags: both files or neither; the rest needs them. */
static void test_corrald_flags(void **state)
{
    static const struct {
        const char *args[4];
        const char *want; /* NULL: valid */
    } cases[] = {
        {{"--tls-cert=c.pem", "--tls-key=k.pem"}, NULL},
        {{"--tls-cert=c.pem", "--tls-key=k.pem", "--tls-client-ca=ca.pem",
          "--tls-client-cert=require"},
         NULL},
        {{"--tls-cert=c.pem", "--tls-key=k.pem", "--tls-min-version=1.3"}, NULL},
        {{"--tls-cert=c.pem"}, "tls-cert: needs tls-key too"},
        {{"--tls-key=k.pem"}, "tls-key: needs tls-cert too"},
        {{"--tls-client-ca=ca.pem"}, "tls-client-ca: needs tls-cert and tls-key"},
        {{"--tls-cert=c.pem", "--tls-key=k.pem", "--tls-client-cert=require"},
         "tls-client-cert: needs tls-client-ca (the CA to verify with)"},
        {{"--tls-cert=c.pem", "--tls-key=k.pem", "--tls-client-ca=ca.pem", "--tls-client-cert=yes"},
         "tls-client-cert: 'yes' is not optional or require"},
        {{"--tls-cert=c.pem", "--tls-key=k.pem", "--tls-min-version=1.0"},
         "tls-min-version: '1.0' is not 1.2 or 1.3"},
        {{"--tls-min-version=1.3"}, "tls-min-version: needs tls-cert and tls-key"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[5] = {"corrald"};
        int argc = 1;
        as_config c;
        cr_err err;

        for (int k = 0; k < 4 && cases[i].args[k]; k++)
            argv[argc++] = (char *)cases[i].args[k];
        as_config_init(&c);
        assert_int_equal(as_config_parse_args(&c, argc, argv, NULL, &err), 0);
        if (cases[i].want) {
            assert_int_equal(as_config_validate(&c, &err), -1);
            assert_string_equal(cr_err_msg(&err), cases[i].want);
        } else {
            assert_int_equal(as_config_validate(&c, &err), 0);
        }
        as_config_release(&c);
    }
}

static void test_reload(void **state)
{
    fx *f = *state;
    cr_err err;
    as_tls *t = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err);
    SSL_CTX *cctx = client_ctx(f, NULL, 0);
    char *cmd;

    assert_non_null(t);
    assert_non_null(strstr(as_tls_describe(t), "serial 1001"));
    cmd = xasprintf("cd '%s' && cp server2.pem server.pem && cp server2-key.pem server-key.pem",
                    f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(as_tls_reload(t, &err), 0);
    assert_non_null(strstr(as_tls_describe(t), "serial 2002"));
    assert_true(handshake(t, cctx, NULL));

    /* A bad file: the reload fails with the reason, the old context stays. */
    assert_int_equal(chmod(p(f, "server-key.pem"), 0644), 0);
    assert_int_equal(as_tls_reload(t, &err), -1);
    assert_non_null(strstr(cr_err_msg(&err), "readable by every user"));
    assert_non_null(strstr(as_tls_describe(t), "serial 2002"));
    assert_true(handshake(t, cctx, NULL));
    SSL_CTX_free(cctx);
    as_tls_free(t);
}

static void test_protocol_floor(void **state)
{
    fx *f = *state;
    cr_err err;
    as_tls *t12 = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err);
    as_tls *t13 = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_3, &err);
    SSL_CTX *c11 = client_ctx(f, NULL, TLS1_1_VERSION);
    SSL_CTX *c12 = client_ctx(f, NULL, TLS1_2_VERSION);
    SSL_CTX *c13 = client_ctx(f, NULL, TLS1_3_VERSION);
    SSL *s = NULL;

    assert_non_null(t12);
    assert_non_null(t13);
    refused(t12, c11, "server: unsupported protocol");
    assert_true(handshake(t12, c12, &s));
    assert_int_equal(SSL_version(s), TLS1_2_VERSION);
    assert_null(SSL_get_current_compression(s));
    /* Forward secret and AEAD only, whatever the client would take. */
    assert_non_null(strstr(SSL_get_cipher_name(s), "ECDHE-"));
    assert_non_null(strstr(SSL_get_cipher_name(s), "GCM"));
    SSL_free(s);
    refused(t13, c12, "server: unsupported protocol");
    assert_true(handshake(t13, c13, NULL));
    SSL_CTX_free(c11);
    SSL_CTX_free(c12);
    SSL_CTX_free(c13);
    as_tls_free(t12);
    as_tls_free(t13);
}

static void test_client_certificates(void **state)
{
    fx *f = *state;
    cr_err err;
    as_tls *req = server(f, "ca.pem", AS_TLS_CLIENT_REQUIRE, AS_TLS_1_2, &err);
    as_tls *opt = server(f, "ca.pem", AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err);
    as_tls *none = server(f, NULL, AS_TLS_CLIENT_DEFAULT, AS_TLS_1_2, &err);
    SSL_CTX *anon = client_ctx(f, NULL, 0), *alice = client_ctx(f, "alice", 0);
    SSL_CTX *mallory = client_ctx(f, "mallory", 0);
    SSL_CTX *alice12 = client_ctx(f, "alice", TLS1_2_VERSION);
    as_tls_peer peer;
    SSL *s = NULL;

    assert_non_null(req);
    assert_non_null(opt);
    assert_non_null(none);
    /* require: no certificate, or one of another CA, ends the handshake
     * (TLS 1.3 and 1.2 alike). */
    refused(req, anon, "server: peer did not return a certificate");
    refused(req, mallory, "server: certificate verify failed");
    assert_true(handshake(req, alice12, NULL));
    assert_true(handshake(req, alice, &s));
    as_tls_peer_of_ssl(s, &peer);
    assert_true(peer.tls);
    assert_true(peer.verified);
    assert_string_equal(peer.user, "alice");
    assert_int_equal(peer.ngroups, 2);
    assert_string_equal(peer.groups[0], "team-a");
    assert_string_equal(peer.groups[1], "admins");
    {
        /* its notAfter (made with -days 2): what tokens it makes expire by */
        long long now_ms = (long long)time(NULL) * 1000, day = 86400000LL;
        assert_true(peer.not_after > now_ms + day && peer.not_after <= now_ms + 2 * day + 60000);
    }
    as_tls_peer_release(&peer);
    assert_null(peer.user);
    as_tls_peer_release(&peer); /* twice is fine */
    SSL_free(s);

    /* optional (the default with a CA): anonymous is fine, a certificate of
     * another CA is not. */
    s = NULL;
    assert_true(handshake(opt, anon, &s));
    as_tls_peer_of_ssl(s, &peer);
    assert_true(peer.tls);
    assert_false(peer.verified);
    assert_null(peer.user);
    assert_int_equal(peer.ngroups, 0);
    SSL_free(s);
    refused(opt, mallory, "server: certificate verify failed");
    s = NULL;
    assert_true(handshake(opt, alice, &s));
    as_tls_peer_of_ssl(s, &peer);
    assert_true(peer.verified);
    assert_string_equal(peer.user, "alice");
    as_tls_peer_release(&peer);
    SSL_free(s);

    /* No client CA: nothing is asked, nobody is named. */
    s = NULL;
    assert_true(handshake(none, alice, &s));
    as_tls_peer_of_ssl(s, &peer);
    assert_true(peer.tls);
    assert_false(peer.verified);
    assert_null(peer.user);
    SSL_free(s);

    /* A plain connection. */
    as_tls_peer_of_ssl(NULL, &peer);
    assert_false(peer.tls);
    assert_false(peer.verified);
    as_tls_peer_get(NULL, &peer);
    assert_false(peer.tls);

    SSL_CTX_free(anon);
    SSL_CTX_free(alice);
    SSL_CTX_free(alice12);
    SSL_CTX_free(mallory);
    as_tls_free(req);
    as_tls_free(opt);
    as_tls_free(none);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_new_and_describe, setup, teardown),
    cmocka_unit_test_setup_teardown(test_key_mode_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
    cmocka_unit_test(test_settings_rules),
    cmocka_unit_test(test_corrald_flags),
    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
    cmocka_unit_test_setup_teardown(test_protocol_floor, setup, teardown),
    cmocka_unit_test_setup_teardown(test_client_certificates, setup, teardown),
};

CR_TEST_MAIN(tests)
