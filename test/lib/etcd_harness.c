/* Real etcd members for integration tests; see etcd_harness.h. */
#include "test/lib/etcd_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/xalloc.h"

#define MAX_MEMBERS 5

typedef struct member {
    pid_t pid;
    int client_port;
    int peer_port;
    char *client_url;
    char *peer_url;
} member;

struct cr_etcd {
    char *dir;
    int n;
    member m[MAX_MEMBERS];
    char *endpoints;
    char *initial_cluster;
    char *progress;
    char **extra;
    char *cert, *key, *client_ca;
    char *probe_ca, *probe_cert, *probe_key;
    int first_client_port; /* cr_etcd_opts.first_client_port, used once */
};

/* Ports this process handed out: the kernel may give the same free port to
 * two binds in a row, and a member whose client and peer port are one port
 * never starts. */
#define N_HANDED 512
static int handed[N_HANDED];
static size_t n_handed;

static bool was_handed(int port)
{
    size_t n = n_handed < N_HANDED ? n_handed : N_HANDED;

    for (size_t k = 0; k < n; k++)
        if (handed[k] == port)
            return true;
    return false;
}

int cr_etcd_free_port(void)
{
    for (int tries = 0; tries < 100; tries++) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t sl = sizeof(sa);
        int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
            port = ntohs(sa.sin_port);
        if (s >= 0)
            close(s);
        if (port < 0)
            return -1;
        if (!was_handed(port)) {
            handed[n_handed++ % N_HANDED] = port;
            return port;
        }
    }
    return -1;
}

static int spawn(cr_etcd *e, int i)
{
    member *m = &e->m[i];
    char *name = xasprintf("m%d", i);
    char *data = xasprintf("%s/m%d", e->dir, i);
    char *logp = xasprintf("%s/m%d.log", e->dir, i);
    char *progress = xasprintf("--experimental-watch-progress-notify-interval=%s", e->progress);
    const char *argv[64];
    int a = 0;
    pid_t pid;

    argv[a++] = "etcd";
    argv[a++] = "--name";
    argv[a++] = name;
    argv[a++] = "--data-dir";
    argv[a++] = data;
    argv[a++] = "--listen-client-urls";
    argv[a++] = m->client_url;
    argv[a++] = "--advertise-client-urls";
    argv[a++] = m->client_url;
    argv[a++] = "--listen-peer-urls";
    argv[a++] = m->peer_url;
    argv[a++] = "--initial-advertise-peer-urls";
    argv[a++] = m->peer_url;
    argv[a++] = "--initial-cluster";
    argv[a++] = e->initial_cluster;
    argv[a++] = "--initial-cluster-state";
    argv[a++] = "new";
    argv[a++] = "--initial-cluster-token";
    argv[a++] = "corral-test";
    argv[a++] = "--heartbeat-interval";
    argv[a++] = "50";
    argv[a++] = "--election-timeout";
    argv[a++] = "500";
    argv[a++] = "--logger";
    argv[a++] = "zap";
    argv[a++] = "--log-outputs";
    argv[a++] = "stderr";
    argv[a++] = progress;
    if (e->cert) {
        argv[a++] = "--cert-file";
        argv[a++] = e->cert;
        argv[a++] = "--key-file";
        argv[a++] = e->key;
        if (e->client_ca) {
            argv[a++] = "--trusted-ca-file";
            argv[a++] = e->client_ca;
            argv[a++] = "--client-cert-auth";
        }
    }
    for (int k = 0; e->extra && e->extra[k] && a < 62; k++)
        argv[a++] = e->extra[k];
    argv[a] = NULL;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp("etcd", (char *const *)argv);
        _exit(127);
    }
    free(name);
    free(data);
    free(logp);
    free(progress);
    if (pid < 0)
        return -1;
    m->pid = pid;
    return 0;
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    cr_buf_add(ud, p, s * n);
    return s * n;
}

bool cr_etcd_healthy(const cr_etcd *e, int i)
{
    CURL *c = curl_easy_init();
    cr_buf b = CR_BUF_INIT;
    char *url = xasprintf("%s/health", e->m[i].client_url);
    long status = 0;
    bool ok;

    cr_buf_init(&b);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (e->probe_ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, e->probe_ca);
    if (e->probe_cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, e->probe_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, e->probe_key);
    }
    ok = curl_easy_perform(c) == CURLE_OK;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ok = ok && status == 200 && strstr(b.data, "\"true\"");
    curl_easy_cleanup(c);
    cr_buf_release(&b);
    free(url);
    return ok;
}

static bool alive(cr_etcd *e, int i)
{
    int st;

    if (e->m[i].pid <= 0)
        return false;
    if (waitpid(e->m[i].pid, &st, WNOHANG) == e->m[i].pid) {
        e->m[i].pid = 0;
        return false;
    }
    return true;
}

static int wait_healthy(cr_etcd *e, int i, int64_t deadline)
{
    struct timespec ts = {0, 50 * 1000 * 1000};

    while (cr_mono_ms() < deadline) {
        if (!alive(e, i)) {
            fprintf(stderr, "etcd member %d exited; log: %s/m%d.log\n", i, e->dir, i);
            return -1;
        }
        if (cr_etcd_healthy(e, i))
            return 0;
        nanosleep(&ts, NULL); /* polling an external process */
    }
    fprintf(stderr, "etcd member %d not healthy in time; log: %s/m%d.log\n", i, e->dir, i);
    return -1;
}

static void rm_rf(const char *dir);

/* True when member i's log says a port it was given was in use. */
static bool port_clash(const cr_etcd *e, int i)
{
    char *logp = xasprintf("%s/m%d.log", e->dir, i);
    FILE *f = fopen(logp, "r");
    char line[4096];
    bool clash = false;

    while (f && !clash && fgets(line, sizeof(line), f))
        clash = strstr(line, "address already in use") != NULL;
    if (f)
        fclose(f);
    free(logp);
    return clash;
}

/* Kills every member and forgets its ports and data, so that the members can
 * be started again on new ports in the same directory. */
static void stop_members(cr_etcd *e)
{
    for (int i = 0; i < e->n; i++) {
        if (e->m[i].pid > 0)
            cr_etcd_kill(e, i);
        free(e->m[i].client_url);
        free(e->m[i].peer_url);
        e->m[i].client_url = e->m[i].peer_url = NULL;
    }
    free(e->endpoints);
    free(e->initial_cluster);
    e->endpoints = e->initial_cluster = NULL;
    for (int i = 0; i < e->n; i++) {
        char *data = xasprintf("%s/m%d", e->dir, i);
        char *logp = xasprintf("%s/m%d.log", e->dir, i);

        rm_rf(data);
        unlink(logp);
        free(data);
        free(logp);
    }
}

/* Picks ports, spawns every member and waits until each is healthy.
 * Returns 0, -2 when a member exited because a port was taken, else -1. */
static int start_members(cr_etcd *e)
{
    cr_buf eps = CR_BUF_INIT, ic = CR_BUF_INIT;
    int64_t deadline;

    cr_buf_init(&eps);
    cr_buf_init(&ic);
    for (int i = 0; i < e->n; i++) {
        member *m = &e->m[i];

        m->client_port = cr_etcd_free_port();
        if (i == 0 && e->first_client_port > 0) {
            m->client_port = e->first_client_port;
            e->first_client_port = 0;
        }
        m->peer_port = cr_etcd_free_port();
        m->client_url = xasprintf("%s://127.0.0.1:%d", e->cert ? "https" : "http", m->client_port);
        m->peer_url = xasprintf("http://127.0.0.1:%d", m->peer_port);
        cr_buf_addf(&eps, "%s%s", i ? "," : "", m->client_url);
        cr_buf_addf(&ic, "%sm%d=%s", i ? "," : "", i, m->peer_url);
    }
    e->endpoints = cr_buf_detach(&eps, NULL);
    e->initial_cluster = cr_buf_detach(&ic, NULL);
    for (int i = 0; i < e->n; i++) {
        if (spawn(e, i) < 0) {
            fprintf(stderr, "cannot start etcd\n");
            return -1;
        }
    }
    deadline = cr_mono_ms() + 30000;
    for (int i = 0; i < e->n; i++) {
        if (wait_healthy(e, i, deadline) < 0) {
            for (int j = 0; j < e->n; j++)
                if (!alive(e, j) && port_clash(e, j))
                    return -2;
            return -1;
        }
    }
    return 0;
}

cr_etcd *cr_etcd_start(const cr_etcd_opts *opts)
{
    cr_etcd *e = xcalloc(1, sizeof(*e));
    char tmpl[] = "/tmp/corral-etcd-XXXXXX";

    curl_global_init(CURL_GLOBAL_DEFAULT);
    e->n = opts && opts->members > 0 ? opts->members : 1;
    if (e->n > MAX_MEMBERS)
        e->n = MAX_MEMBERS;
    e->first_client_port = opts ? opts->first_client_port : 0;
    e->progress = xstrdup(opts && opts->progress_notify ? opts->progress_notify : "1s");
    if (opts && opts->extra_args) {
        size_t k = 0;
        while (opts->extra_args[k])
            k++;
        e->extra = xcalloc(k + 1, sizeof(char *));
        for (size_t j = 0; j < k; j++)
            e->extra[j] = xstrdup(opts->extra_args[j]);
    }
    if (opts && opts->cert_file) {
        e->cert = xstrdup(opts->cert_file);
        e->key = xstrdup(opts->key_file);
        e->client_ca = xstrdup(opts->client_ca_file);
        e->probe_ca = xstrdup(opts->probe_ca_file);
        e->probe_cert = xstrdup(opts->probe_cert);
        e->probe_key = xstrdup(opts->probe_key);
    }
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        cr_etcd_free(e);
        return NULL;
    }
    e->dir = xstrdup(tmpl);
    for (int attempt = 1;; attempt++) {
        int rc = start_members(e);

        if (rc == 0)
            return e;
        /* A port free a moment ago can be taken (another process's outgoing
         * connection) before etcd binds it: a clash is retried on new
         * ports, anything else is a failure. */
        if (rc == -2 && attempt < 3) {
            fprintf(stderr, "etcd: a port was taken before etcd bound it; new ports (attempt %d)\n",
                    attempt + 1);
            stop_members(e);
            continue;
        }
        cr_etcd_free(e);
        return NULL;
    }
}

const char *cr_etcd_endpoints(const cr_etcd *e)
{
    return e->endpoints;
}

const char *cr_etcd_endpoint(const cr_etcd *e, int i)
{
    return e->m[i].client_url;
}

int cr_etcd_members(const cr_etcd *e)
{
    return e->n;
}

const char *cr_etcd_dir(const cr_etcd *e)
{
    return e->dir;
}

int cr_etcd_kill(cr_etcd *e, int i)
{
    int st;

    if (i < 0 || i >= e->n || e->m[i].pid <= 0)
        return -1;
    kill(-e->m[i].pid, SIGKILL);
    kill(e->m[i].pid, SIGKILL);
    waitpid(e->m[i].pid, &st, 0);
    e->m[i].pid = 0;
    return 0;
}

int cr_etcd_restart(cr_etcd *e, int i)
{
    if (i < 0 || i >= e->n)
        return -1;
    if (e->m[i].pid > 0)
        cr_etcd_kill(e, i);
    if (spawn(e, i) < 0)
        return -1;
    return wait_healthy(e, i, cr_mono_ms() + 30000);
}

static void rm_rf(const char *dir)
{
    pid_t pid;
    int st;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, &st, 0);
}

void cr_etcd_free(cr_etcd *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++) {
        if (e->m[i].pid > 0)
            cr_etcd_kill(e, i);
        free(e->m[i].client_url);
        free(e->m[i].peer_url);
    }
    if (e->dir && !getenv("CR_KEEP_ETCD"))
        rm_rf(e->dir);
    for (size_t k = 0; e->extra && e->extra[k]; k++)
        free(e->extra[k]);
    free(e->extra);
    free(e->dir);
    free(e->endpoints);
    free(e->initial_cluster);
    free(e->progress);
    free(e->cert);
    free(e->key);
    free(e->client_ca);
    free(e->probe_ca);
    free(e->probe_cert);
    free(e->probe_key);
    free(e);
    curl_global_cleanup();
}

static int run_sh(const char *cmd)
{
    pid_t pid;
    int st;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int cr_etcd_make_certs(const char *dir)
{
    char *cmd = xasprintf(
        "set -e; cd '%s'; exec >openssl.log 2>&1;"
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=corral-test-ca "
        "  -keyout ca-key.pem -out ca.pem;"
        "printf "
        "'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "
        "ext.cnf;"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out "
        "server.csr;"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 "
        "  -extfile ext.cnf -out server.pem;"
        "openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout client-key.pem -out "
        "client.csr;"
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 "
        "  -extfile ext.cnf -out client.pem",
        dir);
    int rc = run_sh(cmd);

    free(cmd);
    return rc;
}
