#include "apiserver/as_config.h"

#include "base/log.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "apiserver/as_tls.h"
#include "base/buf.h"
#include "base/xalloc.h"

typedef enum { T_STR, T_BOOL, T_SIZE, T_LONG, T_COUNT /* long, 0 allowed */ } type;

typedef struct setting {
    const char *name;
    type t;
    size_t off;
} setting;

#define S(name, t, field)                   \
    {                                       \
        name, t, offsetof(as_config, field) \
    }
static const setting settings[] = {
    S("listen", T_STR, listen),
    S("etcd-endpoints", T_STR, etcd_endpoints),
    S("mesos-master", T_STR, mesos_master),
    S("prefix", T_STR, prefix),
    S("replica-id", T_STR, replica_id),
    S("log-level", T_STR, log_level),
    S("log-format", T_STR, log_format),
    S("max-body-bytes", T_SIZE, max_body_bytes),
    S("max-list-streams", T_SIZE, max_list_streams),
    S("etcd-ca-file", T_STR, etcd_ca_file),
    S("etcd-cert-file", T_STR, etcd_cert_file),
    S("etcd-key-file", T_STR, etcd_key_file),
    S("etcd-insecure", T_BOOL, etcd_insecure),
    S("etcd-username", T_STR, etcd_username),
    S("etcd-password", T_STR, etcd_password),
    S("etcd-timeout-ms", T_LONG, etcd_timeout_ms),
    S("etcd-json", T_BOOL, etcd_json),
    S("tls-cert", T_STR, tls_cert),
    S("tls-key", T_STR, tls_key),
    S("tls-client-ca", T_STR, tls_client_ca),
    S("tls-client-cert", T_STR, tls_client_cert),
    S("tls-min-version", T_STR, tls_min_version),
    S("executor-path", T_STR, executor_path),
    S("framework-name", T_STR, framework_name),
    S("data-dir", T_STR, data_dir),
    S("allow-deploy-of-paused-requests", T_BOOL, allow_deploy_of_paused),
    S("leader-lease-ttl", T_LONG, lease_ttl_s),
    S("api-only", T_BOOL, api_only),
    S("no-controllers", T_BOOL, no_controllers),
    S("max-decommissioning-agents", T_LONG, max_decommissioning_agents),
    S("unreachable-timeout", T_LONG, unreachable_timeout_s),
    S("offer-cache-size", T_COUNT, offer_cache_size),
    S("offer-cache-ms", T_LONG, offer_cache_ms),
    S("no-mesos-drain", T_BOOL, no_mesos_drain),
    S("lb-provider", T_STR, lb_provider),
    S("lb-nginx-dir", T_STR, lb_nginx_dir),
    S("lb-nginx-conf", T_STR, lb_nginx_conf),
    S("lb-nginx-bin", T_STR, lb_nginx_bin),
    S("lb-baragon-url", T_STR, lb_baragon_url),
    S("lb-drain-ms", T_LONG, lb_drain_ms),
    S("shell-commands", T_STR, shell_commands),
    S("auth", T_BOOL, auth),
    S("auth-token-file", T_STR, auth_token_file),
    S("admin-groups", T_STR, admin_groups),
    S("required-groups", T_STR, required_groups),
    S("default-read-only-groups", T_STR, default_read_only_groups),
    S("global-read-only-groups", T_STR, global_read_only_groups),
    S("jita-groups", T_STR, jita_groups),
    S("auth-user-header", T_STR, auth_user_header),
    S("auth-groups-header", T_STR, auth_groups_header),
    S("open-metrics", T_BOOL, open_metrics),
    S("context-path", T_STR, context_path),
    S("insecure", T_BOOL, insecure),
    S("routes", T_BOOL, routes),
    S("print-config", T_BOOL, print_config),
    S("help", T_BOOL, help),
};
#undef S

const char *as_config_usage(void)
{
    return "usage: corrald [options]\n"
           "\n"
           "Serves Corral's Singularity-compatible API from etcd; the elected leader also\n"
           "runs the controllers and the Mesos bridge.\n"
           "\n"
           "  --listen HOST:PORT            API address (127.0.0.1:7099)\n"
           "  --etcd-endpoints URLS         comma-separated etcd client URLs\n"
           "                                (http://127.0.0.1:2379)\n"
           "  --mesos-master URLS           comma-separated Mesos master URLs; without it\n"
           "                                this replica serves the API only\n"
           "  --prefix PATH                 etcd key prefix (/corral)\n"
           "  --config FILE                 read settings from FILE (name: value lines;\n"
           "                                flags given on the command line win)\n"
           "  --replica-id ID               name of this replica (hostname:port)\n"
           "  --log-level LEVEL             debug, info, warn or error (info)\n"
           "  --log-format FORMAT           text, logfmt or json: one line per message,\n"
           "                                with request, deploy and task ids as fields (text)\n"
           "  --max-body-bytes N            larger request bodies get a 413 (1048576)\n"
           "  --max-list-streams N          list answers written at once; more get a 503\n"
           "                                with Retry-After (128)\n"
           "  --etcd-ca-file FILE           TLS: CA bundle for etcd\n"
           "  --etcd-cert-file FILE         TLS: client certificate for etcd\n"
           "  --etcd-key-file FILE          TLS: client key for etcd\n"
           "  --etcd-insecure               TLS: do not verify etcd's certificate\n"
           "  --etcd-username USER          etcd authentication\n"
           "  --etcd-password PASS          etcd authentication\n"
           "  --etcd-timeout-ms N           per-call etcd deadline (5000)\n"
           "  --etcd-json                   txns and watches through etcd's JSON gateway,\n"
           "                                not its gRPC service (for a proxy in front of\n"
           "                                etcd that speaks only HTTP/1.1)\n"
           "  --tls-cert FILE               serve the API over TLS with this PEM certificate\n"
           "                                (and its chain); needs --tls-key\n"
           "  --tls-key FILE                PEM private key of --tls-cert; refused if every\n"
           "                                user may read it\n"
           "  --tls-client-ca FILE          verify client certificates against this PEM CA\n"
           "                                (subject CN = user, OU = groups)\n"
           "  --tls-client-cert MODE        optional (default with --tls-client-ca) or\n"
           "                                require: refuse connections without one\n"
           "  --tls-min-version V           lowest TLS version accepted: 1.2 or 1.3 (1.2)\n"
           "                                (SIGHUP re-reads the TLS files)\n"
           "  --executor-path PATH          corral-executor path given to the bridge\n"
           "  --framework-name NAME         Mesos framework name (corral)\n"
           "  --data-dir DIR                local state of this replica: GitOps Sources'\n"
           "                                Git caches in DIR/gitops (/var/lib/corral)\n"
           "  --allow-deploy-of-paused-requests\n"
           "                                accept deploys of paused requests\n"
           "  --leader-lease-ttl SECONDS    leader lease TTL (10)\n"
           "  --api-only                    serve the API only: never become the leader\n"
           "                                (no controllers, no Mesos bridge)\n"
           "  --no-controllers              the leader runs the Mesos bridge only (for\n"
           "                                tests and debugging of the bridge)\n"
           "  --max-decommissioning-agents N\n"
           "                                agents moving their tasks away at once (2);\n"
           "                                more wait in STARTING_DECOMMISSION\n"
           "  --unreachable-timeout SECONDS\n"
           "                                a task Mesos reports TASK_UNREACHABLE or\n"
           "                                TASK_UNKNOWN is held this long (it may come\n"
           "                                back) before it is given up; a request's\n"
           "                                unreachableTimeoutSeconds wins (600)\n"
           "  --offer-cache-size N          offers held while no task waits, so a task\n"
           "                                that becomes due launches at once (125; 0:\n"
           "                                none: offers are suppressed while idle)\n"
           "  --offer-cache-ms N            how long one offer is held unused (60000)\n"
           "  --no-mesos-drain              never put a decommissioned agent in Mesos\n"
           "                                maintenance (DRAIN_AGENT)\n"
           "  --lb-provider NAME            load balancer of loadBalanced requests: none\n"
           "                                (default), nginx or baragon\n"
           "                                (docs/loadbalancing.md)\n"
           "  --lb-nginx-dir DIR            nginx: where upstream and location files are\n"
           "                                written (DIR/upstreams, DIR/locations/<group>)\n"
           "  --lb-nginx-conf FILE          nginx: the nginx.conf that includes them, for\n"
           "                                nginx -t and nginx -s reload\n"
           "  --lb-nginx-bin PATH           nginx: the binary (/usr/sbin/nginx)\n"
           "  --lb-baragon-url URL          baragon: BaragonService's API root\n"
           "                                (http://host:8080/baragon/v2)\n"
           "  --lb-drain-ms N               kill a task this long after the load balancer\n"
           "                                stopped sending it traffic (5000)\n"
           "  --shell-commands FILE         task shell commands people may run (JSON:\n"
           "                                [{name, description, options: [{name}]}],\n"
           "                                Singularity's ui.shellCommands; docs/api.md)\n"
           "  --auth                        require an identity for every call but\n"
           "                                /healthz and /readyz, and enforce groups\n"
           "                                (docs/security.md)\n"
           "  --auth-token-file FILE        bootstrap tokens, lines '<token> <user>\n"
           "                                [group,...]'; must be mode 600\n"
           "  --admin-groups G,...          groups that may do everything (admins)\n"
           "  --required-groups G,...       callers outside these may do nothing\n"
           "  --default-read-only-groups G,...\n"
           "                                readers of requests naming no readOnlyGroups\n"
           "  --global-read-only-groups G,...\n"
           "                                may read every request, agent and rack\n"
           "  --jita-groups G,...           may read and change everything (logged)\n"
           "  --auth-user-header NAME       trust this header (set by an authenticating\n"
           "                                proxy) to name the user; off by default\n"
           "  --auth-groups-header NAME     ... and this one to list its groups\n"
           "  --open-metrics                serve /metrics without authentication\n"
           "  --context-path PATH           also serve the API under PATH, as Singularity's\n"
           "                                clients expect (/singularity/api); /api always\n"
           "  --insecure                    allow a non-loopback --listen without --auth\n"
           "  --routes                      print the API's routes and what each needs\n"
           "                                (JSON lines), and exit\n"
           "  --print-config                print the effective settings (defaults, then\n"
           "                                --config FILE, then flags) as a config file,\n"
           "                                and exit\n"
           "  --help                        print this help\n";
}

void as_config_init(as_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = xstrdup("127.0.0.1:7099");
    c->etcd_endpoints = xstrdup("http://127.0.0.1:2379");
    c->prefix = xstrdup("/corral");
    c->log_level = xstrdup("info");
    c->log_format = xstrdup("text");
    c->framework_name = xstrdup("corral");
    c->data_dir = xstrdup("/var/lib/corral");
    c->max_body_bytes = 1024 * 1024;
    c->max_list_streams = 128;
    c->etcd_timeout_ms = 5000;
    c->lease_ttl_s = 10;
    c->max_decommissioning_agents = 2;
    c->lb_drain_ms = 5000;
    c->unreachable_timeout_s = 600;
    c->offer_cache_size = 125;
    c->offer_cache_ms = 60000;
    c->context_path = xstrdup("/singularity/api");
}

void as_config_release(as_config *c)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (settings[i].t == T_STR)
            free(*(char **)((char *)c + settings[i].off));
    memset(c, 0, sizeof(*c));
}

int as_config_set(as_config *c, const char *name, const char *value, const char *where, cr_err *err)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const setting *s = &settings[i];
        void *p = (char *)c + s->off;
        char *end;
        long long v;

        if (strcmp(s->name, name) != 0)
            continue;
        switch (s->t) {
        case T_STR:
            if (!value || !*value)
                return cr_error(err, CR_EINVAL, "%s: %s needs a value", where, name);
            free(*(char **)p);
            *(char **)p = xstrdup(value);
            return 0;
        case T_BOOL:
            if (!value || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
                strcmp(value, "1") == 0)
                *(bool *)p = true;
            else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                     strcmp(value, "0") == 0)
                *(bool *)p = false;
            else
                return cr_error(err, CR_EINVAL, "%s: %s must be true or false, not '%s'", where,
                                name, value);
            return 0;
        case T_SIZE:
        case T_LONG:
        case T_COUNT:
            if (!value || !*value)
                return cr_error(err, CR_EINVAL, "%s: %s needs a value", where, name);
            errno = 0;
            v = strtoll(value, &end, 10);
            if (errno || *end || v < 0 || (v == 0 && s->t != T_COUNT))
                return cr_error(err, CR_EINVAL, "%s: %s must be a %s integer, not '%s'", where,
                                name, s->t == T_COUNT ? "non-negative" : "positive", value);
            if (s->t == T_SIZE)
                *(size_t *)p = (size_t)v;
            else
                *(long *)p = (long)v;
            return 0;
        }
    }
    return cr_error(err, CR_EINVAL, "%s: unknown setting '%s'", where, name);
}

/* Actions rather than settings: not part of --print-config's output. */
static bool is_action(const char *name)
{
    return strcmp(name, "help") == 0 || strcmp(name, "routes") == 0 ||
           strcmp(name, "print-config") == 0;
}

/* A value the file parser reads back as it is: quoted when it has edge
 * blanks or edge quotes. (A " #" inside a value cannot be written in the
 * file format at all: it starts a comment, quoted or not.) */
static void format_value(cr_buf *b, const char *v)
{
    size_t n = strlen(v);
    bool quote = isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]) || v[0] == '"' ||
                 v[0] == '\'' || v[n - 1] == '"' || v[n - 1] == '\'';
    char q = strchr(v, '"') ? '\'' : '"';

    if (quote)
        cr_buf_addf(b, "%c%s%c", q, v, q);
    else
        cr_buf_adds(b, v);
}

char *as_config_format(const as_config *c)
{
    cr_buf b = CR_BUF_INIT;

    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const setting *s = &settings[i];
        const void *p = (const char *)c + s->off;
        const char *str;

        if (is_action(s->name))
            continue;
        switch (s->t) {
        case T_STR:
            str = *(char *const *)p;
            if (!str && strcmp(s->name, "replica-id") == 0)
                cr_buf_addf(&b, "# %s: (not set: this host's name and the listen port)\n", s->name);
            else if (!str)
                cr_buf_addf(&b, "# %s: (not set)\n", s->name);
            else if (strcmp(s->name, "etcd-password") == 0)
                cr_buf_addf(&b, "# %s: (set, not shown)\n", s->name);
            else {
                cr_buf_addf(&b, "%s: ", s->name);
                format_value(&b, str);
                cr_buf_addch(&b, '\n');
            }
            break;
        case T_BOOL:
            cr_buf_addf(&b, "%s: %s\n", s->name, *(const bool *)p ? "true" : "false");
            break;
        case T_SIZE:
            cr_buf_addf(&b, "%s: %zu\n", s->name, *(const size_t *)p);
            break;
        case T_LONG:
        case T_COUNT:
            cr_buf_addf(&b, "%s: %ld\n", s->name, *(const long *)p);
            break;
        }
    }
    return cr_buf_detach(&b, NULL);
}

static bool is_bool(const char *name)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (strcmp(settings[i].name, name) == 0)
            return settings[i].t == T_BOOL;
    return false;
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (e - s >= 2 && (*s == '"' || *s == '\'') && e[-1] == *s) {
        e[-1] = '\0';
        s++;
    }
    return s;
}

int as_config_parse_file(as_config *c, const char *text, const char *file, cr_err *err)
{
    char *copy = xstrdup(text), *line = copy, *next;
    int lineno = 0, rc = 0;

    for (; line; line = next) {
        char *sep, where[512];
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash && (hash == line || isspace((unsigned char)hash[-1])))
            *hash = '\0';
        line = trim(line);
        if (!*line || strcmp(line, "---") == 0)
            continue;
        snprintf(where, sizeof(where), "%s:%d", file, lineno);
        sep = strpbrk(line, ":=");
        /* "listen: host:port": the first ':' or '=' separates. */
        if (!sep) {
            rc = cr_error(err, CR_EINVAL, "%s: expected 'name: value'", where);
            break;
        }
        *sep = '\0';
        if (as_config_set(c, trim(line), trim(sep + 1), where, err) < 0) {
            rc = -1;
            break;
        }
    }
    free(copy);
    return rc;
}

int as_config_parse_args(as_config *c, int argc, char **argv, const char **config_file, cr_err *err)
{
    if (config_file)
        *config_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        char name[128];
        const char *eq;

        if (strcmp(a, "-h") == 0)
            a = "--help";
        if (strncmp(a, "--", 2) != 0)
            return cr_error(err, CR_EINVAL, "unexpected argument '%s' (try --help)", a);
        a += 2;
        eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
            value = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a);
            if (!is_bool(name)) {
                if (i + 1 >= argc)
                    return cr_error(err, CR_EINVAL, "--%s needs a value", name);
                value = argv[++i];
            }
        }
        if (strcmp(name, "config") == 0) {
            if (!value || !*value)
                return cr_error(err, CR_EINVAL, "--config needs a file name");
            if (config_file)
                *config_file = value;
            continue;
        }
        char where[160];
        snprintf(where, sizeof(where), "--%s", name);
        if (as_config_set(c, name, value, where, err) < 0)
            return -1;
    }
    return 0;
}

/* The TLS settings make sense together; the files are read by as_tls_new. */
static int validate_tls(const as_config *c, cr_err *err)
{
    as_tls_client_mode mode;
    as_tls_version v;

    if (!c->tls_cert != !c->tls_key)
        return cr_error(err, CR_EINVAL, "%s: needs %s too", c->tls_cert ? "tls-cert" : "tls-key",
                        c->tls_cert ? "tls-key" : "tls-cert");
    if (c->tls_client_ca && !c->tls_cert)
        return cr_error(err, CR_EINVAL, "tls-client-ca: needs tls-cert and tls-key");
    if (as_tls_client_mode_parse(c->tls_client_cert, &mode, err) < 0 ||
        as_tls_version_parse(c->tls_min_version, &v, err) < 0)
        return -1;
    if (c->tls_client_cert && !c->tls_client_ca)
        return cr_error(err, CR_EINVAL,
                        "tls-client-cert: needs tls-client-ca (the CA to verify with)");
    if (c->tls_min_version && !c->tls_cert)
        return cr_error(err, CR_EINVAL, "tls-min-version: needs tls-cert and tls-key");
    return 0;
}

bool as_config_loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    char host[256];

    if (n == 0 || n >= sizeof(host))
        return false; /* ":7099" is every address */
    memcpy(host, listen, n);
    host[n] = '\0';
    /* an address, not a name that starts like one ("127.example.com"
     * resolves to wherever its owner likes) */
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "::1") == 0;
}

/* An API reachable from the network needs authentication, or an explicit
 * --insecure. */
static int validate_auth(const as_config *c, cr_err *err)
{
    if (!c->auth && !c->insecure && !as_config_loopback(c->listen))
        return cr_error(err, CR_EINVAL,
                        "listen: %s is reachable from the network; turn on --auth (with "
                        "--auth-token-file or tokens in etcd), or pass --insecure to serve "
                        "anyone who can connect",
                        c->listen);
    if (!c->auth && (c->auth_token_file || c->auth_user_header || c->required_groups ||
                     c->admin_groups || c->jita_groups || c->global_read_only_groups ||
                     c->default_read_only_groups))
        return cr_error(err, CR_EINVAL, "auth settings given without --auth");
    if (c->auth_groups_header && !c->auth_user_header)
        return cr_error(err, CR_EINVAL, "auth-groups-header: needs auth-user-header");
    return 0;
}

int as_config_validate(const as_config *c, cr_err *err)
{
    const char *colon = strrchr(c->listen, ':');

    if (!colon || colon == c->listen || !colon[1])
        return cr_error(err, CR_EINVAL, "listen: '%s' is not host:port", c->listen);
    if (c->prefix[0] != '/' || (strlen(c->prefix) > 1 && c->prefix[strlen(c->prefix) - 1] == '/'))
        return cr_error(err, CR_EINVAL, "prefix: '%s' must start with '/' and not end with one",
                        c->prefix);
    if (strncmp(c->etcd_endpoints, "http://", 7) != 0 &&
        strncmp(c->etcd_endpoints, "https://", 8) != 0)
        return cr_error(err, CR_EINVAL, "etcd-endpoints: '%s' must be http(s) URLs",
                        c->etcd_endpoints);
    if (c->mesos_master && strncmp(c->mesos_master, "http://", 7) != 0 &&
        strncmp(c->mesos_master, "https://", 8) != 0)
        return cr_error(err, CR_EINVAL, "mesos-master: '%s' must be http(s) URLs", c->mesos_master);
    cr_log_format lf;
    if (cr_log_format_parse(c->log_format, &lf) < 0)
        return cr_error(err, CR_EINVAL, "log-format: '%s' is not text, logfmt or json",
                        c->log_format);
    if (strcmp(c->log_level, "debug") != 0 && strcmp(c->log_level, "info") != 0 &&
        strcmp(c->log_level, "warn") != 0 && strcmp(c->log_level, "error") != 0)
        return cr_error(err, CR_EINVAL, "log-level: '%s' is not debug, info, warn or error",
                        c->log_level);
    if (c->unreachable_timeout_s < 1 || c->unreachable_timeout_s > 30L * 24 * 3600)
        return cr_error(err, CR_EINVAL,
                        "unreachable-timeout: %ld is not between 1 and 2592000 seconds",
                        c->unreachable_timeout_s);
    if (c->offer_cache_size < 0 || c->offer_cache_size > 100000)
        return cr_error(err, CR_EINVAL, "offer-cache-size: %ld is not between 0 and 100000",
                        c->offer_cache_size);
    if (c->offer_cache_ms < 1000 || c->offer_cache_ms > 3600L * 1000)
        return cr_error(err, CR_EINVAL, "offer-cache-ms: %ld is not between 1000 and 3600000",
                        c->offer_cache_ms);
    if (c->max_decommissioning_agents < 1 || c->max_decommissioning_agents > 100000)
        return cr_error(err, CR_EINVAL, "max-decommissioning-agents: %ld is not between 1 and 100000",
                        c->max_decommissioning_agents);
    if (c->context_path[0] != '/' || strlen(c->context_path) < 2 ||
        c->context_path[strlen(c->context_path) - 1] == '/' || strstr(c->context_path, "//") ||
        strcmp(c->context_path, "/api") == 0 || strncmp(c->context_path, "/api/", 5) == 0 ||
        strncmp(c->context_path, "/ui", 3) == 0)
        return cr_error(err, CR_EINVAL,
                        "context-path: '%s' must start with '/', not end with one, and not be "
                        "/api or lie under /api or /ui",
                        c->context_path);
    if (c->lb_provider && strcmp(c->lb_provider, "none") != 0 &&
        strcmp(c->lb_provider, "nginx") != 0 && strcmp(c->lb_provider, "baragon") != 0)
        return cr_error(err, CR_EINVAL, "lb-provider: '%s' is not none, nginx or baragon",
                        c->lb_provider);
    if (c->lb_provider && strcmp(c->lb_provider, "nginx") == 0 && !c->lb_nginx_dir)
        return cr_error(err, CR_EINVAL, "lb-provider nginx needs lb-nginx-dir");
    if (c->lb_provider && strcmp(c->lb_provider, "baragon") == 0 &&
        (!c->lb_baragon_url || strncmp(c->lb_baragon_url, "http", 4) != 0))
        return cr_error(err, CR_EINVAL, "lb-provider baragon needs lb-baragon-url (http://...)");
    if (c->lb_drain_ms < 0 || c->lb_drain_ms > 3600L * 1000)
        return cr_error(err, CR_EINVAL, "lb-drain-ms: %ld is not between 0 and 3600000",
                        c->lb_drain_ms);
    if (validate_tls(c, err) < 0)
        return -1;
    return validate_auth(c, err);
}
