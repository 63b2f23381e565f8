/* A real etcd for integration tests: members on free loopback ports, data
 * and logs in a fresh temporary directory, each member in its own process
 * group (and killed if the test process dies). Blocking by design: call it
 * from test bodies, never from an event loop callback.
 *
 * Lifecycle: cr_etcd_start(n) -> kill/restart members -> cr_etcd_free()
 * (kills every member and removes the directory). */
#ifndef CR_ETCD_HARNESS_H
#define CR_ETCD_HARNESS_H

#include <stdbool.h>

typedef struct cr_etcd cr_etcd;

typedef struct cr_etcd_opts {
    int members;                   /* 1 (default) or 3 */
    const char *progress_notify;   /* watch progress interval, default "1s" */
    const char *const *extra_args; /* NULL-terminated, appended to every member */
    /* TLS on the client port (https URLs) when cert_file is set; with
     * client_ca_file, clients must present a certificate signed by it. The
     * harness's health probe uses probe_cert/probe_key if given. */
    const char *cert_file;
    const char *key_file;
    const char *client_ca_file;
    const char *probe_ca_file;
    const char *probe_cert;
    const char *probe_key;
    /* For the harness's own test: the first try gives member 0 this client
     * port (one the test holds), as if another process took it first. */
    int first_client_port;
} cr_etcd_opts;

/* Writes a test PKI into dir with the openssl CLI: ca.pem, server.pem and
 * server-key.pem (for 127.0.0.1), client.pem and client-key.pem. Returns 0
 * or -1. Blocking. */
int cr_etcd_make_certs(const char *dir);

/* Starts the members and waits (up to 30 s) until every one reports
 * healthy. A member that exits because a port it was given got taken
 * meanwhile is started again on new ports (up to 3 tries). Returns NULL (reason on stderr, everything cleaned up) on failure.
 * Caller owns the result. */
cr_etcd *cr_etcd_start(const cr_etcd_opts *opts);

/* "http://127.0.0.1:p1,http://127.0.0.1:p2,..." (borrowed). */
const char *cr_etcd_endpoints(const cr_etcd *e);
/* Member i's client URL (borrowed). */
const char *cr_etcd_endpoint(const cr_etcd *e, int i);
int cr_etcd_members(const cr_etcd *e);
/* The temporary directory (logs are <dir>/m<i>.log). */
const char *cr_etcd_dir(const cr_etcd *e);

/* SIGKILLs member i and reaps it. Returns 0, or -1 if it was not running. */
int cr_etcd_kill(cr_etcd *e, int i);
/* Starts member i again on the same ports and data; waits until healthy.
 * Returns 0 or -1. */
int cr_etcd_restart(cr_etcd *e, int i);
/* Whether member i answers /health with true (one blocking probe). */
bool cr_etcd_healthy(const cr_etcd *e, int i);

/* Kills every member and removes the directory. NULL is a no-op. */
void cr_etcd_free(cr_etcd *e);

/* A port that was free on 127.0.0.1 a moment ago. */
int cr_etcd_free_port(void);

#endif
