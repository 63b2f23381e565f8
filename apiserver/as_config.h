/* as_config: corrald's settings, from a config file and the command line
 * (flags win). Pure: parsing only, unit tested.
 *
 * The file holds one setting per line, named like the long flags without
 * the dashes, as `name: value` or `name = value` (so a flat YAML file
 * works); `#` starts a comment; quotes around a value are removed:
 *
 *     listen: 127.0.0.1:7099
 *     etcd-endpoints: http://10.0.0.1:2379,http://10.0.0.2:2379
 *     mesos-master: http://10.0.0.5:5050
 *     prefix: /corral
 *
 * Errors name the place: "corrald.yaml:3: unknown setting 'lisen'". */
#ifndef AS_CONFIG_H
#define AS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef struct as_config {
    char *listen;            /* "127.0.0.1:7099" */
    char *etcd_endpoints;    /* "http://127.0.0.1:2379" */
    char *mesos_master;      /* NULL: no Mesos bridge (API-only replica) */
    char *prefix;            /* "/corral" */
    char *replica_id;        /* default: hostname:port */
    char *log_level;         /* "info" */
    char *log_format;        /* "text", "logfmt" or "json" */
    size_t max_body_bytes;   /* 1 MiB */
    size_t max_list_streams; /* list answers written at once (128) */
    char *etcd_ca_file, *etcd_cert_file, *etcd_key_file;
    bool etcd_insecure;
    bool etcd_json; /* txns and watches through the JSON gateway, not gRPC */
    char *etcd_username, *etcd_password;
    char *tls_cert, *tls_key; /* API over TLS when set (both or neither) */
    char *tls_client_ca;      /* verify client certificates against this CA */
    char *tls_client_cert;    /* "optional" (default with a client CA) or "require" */
    char *tls_min_version;    /* "1.2" (default) or "1.3" */
    char *executor_path;  /* passed to the bridge */
    char *framework_name; /* "corral" */
    char *data_dir;       /* "/var/lib/corral": Git caches of Sources in data_dir/gitops */
    bool allow_deploy_of_paused;
    long etcd_timeout_ms; /* 5000 */
    long lease_ttl_s;     /* leader lease TTL, 10 */
    bool api_only;        /* never campaign: no controllers, no bridge */
    bool no_controllers;  /* lead with the Mesos bridge only (tests, debugging) */
    long max_decommissioning_agents; /* agents DECOMMISSIONING at once (2) */
    long unreachable_timeout_s;      /* hold of UNREACHABLE/UNKNOWN tasks (600) */
    long offer_cache_size;           /* offers held while nothing waits (125; 0: none) */
    long offer_cache_ms;             /* how long the cache holds one (60000) */
    bool no_mesos_drain;  /* never DRAIN_AGENT a decommissioned agent */
    /* Load balancing (controllers/lb.h, docs/loadbalancing.md). */
    char *lb_provider;    /* NULL/"none", "nginx" */
    char *lb_nginx_dir;   /* include directory the nginx provider writes */
    char *lb_nginx_conf;  /* nginx.conf given to nginx -t / -s reload */
    char *lb_nginx_bin;   /* "/usr/sbin/nginx" */
    char *lb_baragon_url; /* BaragonService's API root, for lb-provider baragon */
    long lb_drain_ms;     /* kill a task this long after its LB removal (5000) */
    char *shell_commands; /* JSON file of the shell-command allow-list (as_shell.h) */
    /* Authentication and authorization (as_auth.h, docs/security.md). */
    bool auth;                      /* on: every call needs an identity */
    char *auth_token_file;          /* static tokens for bootstrapping */
    char *admin_groups;             /* comma-separated; "admins" with --auth */
    char *required_groups, *default_read_only_groups, *global_read_only_groups, *jita_groups;
    char *auth_user_header;         /* trusted proxy header naming the user */
    char *auth_groups_header;       /* ... and its groups */
    bool open_metrics;              /* /metrics needs no identity */
    /* Where the API is also served, as Singularity's applicationContextPath
     * puts it: "/singularity/api" (default) answers what "/api" does. */
    char *context_path;
    bool insecure;                  /* listen beyond loopback without auth */
    bool routes;                    /* print the route table and exit */
    bool print_config;              /* print the effective settings and exit */
    bool help;
} as_config;

/* Fills defaults. */
void as_config_init(as_config *c);
void as_config_release(as_config *c);

/* Sets one setting by name ("listen", "max-body-bytes", ...). where names
 * the source for errors ("--listen", "corrald.yaml:3"). */
int as_config_set(as_config *c, const char *name, const char *value, const char *where,
                  cr_err *err);

/* Parses a config file's text (file is its name, for messages). */
int as_config_parse_file(as_config *c, const char *text, const char *file, cr_err *err);

/* Parses argv (argv[0] skipped): "--name value" or "--name=value"; boolean
 * flags take no value. Returns 0, or -1 with err set. If --config FILE is
 * given its path is returned in *config_file (borrowed from argv) so the
 * caller can read it and then re-apply argv on top. */
int as_config_parse_args(as_config *c, int argc, char **argv, const char **config_file,
                         cr_err *err);

/* Whether listen ("host:port") is a loopback address only. */
bool as_config_loopback(const char *listen);

/* Checks required settings and values. */
int as_config_validate(const as_config *c, cr_err *err);

/* The effective settings in the config file's format, one `name: value`
 * a line in --help's order, so the output is itself a valid file (--print-config).
 * Unset settings and etcd-password (never shown) are comment lines; the
 * actions (help, routes, print-config) are left out. Caller frees. */
char *as_config_format(const as_config *c);

/* The --help text (static). */
const char *as_config_usage(void);

#endif
