#include "executor/exe_executor.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/httpc.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "executor/exe_art.h"
#include "executor/exe_data.h"
#include "executor/exe_env.h"
#include "executor/exe_log.h"
#include "executor/exe_proto.h"
#include "executor/exe_sm.h"

#define SENTINEL_POLL_MS 200
/* A partial line (a prompt, a progress bar) reaches its log file after at
 * most this long, not when its newline comes (issue 21's fifth invariant:
 * within a second). */
#define PARTIAL_FLUSH_MS 500
#define UPDATE_RETRY_MS  1000

/* --- configuration ----------------------------------------------------------- */

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? xstrdup(v) : NULL;
}

static int64_t env_duration(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    int64_t ms = v ? exe_parse_duration_ms(v) : -1;
    return ms >= 0 ? ms : dflt;
}

static void file_str(json_t *o, const char *key, char **dst)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v && !*dst)
        *dst = xstrdup(v);
}

int exe_config_from_env(exe_config *c, cr_err *err)
{
    const char *ep, *cfgpath;
    json_t *file = NULL;
    json_error_t jerr;
    char *v;

    memset(c, 0, sizeof(*c));
    ep = getenv("MESOS_AGENT_ENDPOINT");
    if (!ep || !*ep)
        return cr_error(err, CR_EINVAL,
                        "MESOS_AGENT_ENDPOINT: not set (run me from a Mesos agent)");
    if (strncmp(ep, "http://", 7) == 0 || strncmp(ep, "https://", 8) == 0)
        c->agent_url = xasprintf("%s/api/v1/executor", ep);
    else
        c->agent_url = xasprintf("http://%s/api/v1/executor", ep);
    c->framework_id = env_dup("MESOS_FRAMEWORK_ID");
    c->executor_id = env_dup("MESOS_EXECUTOR_ID");
    if (!c->framework_id || !c->executor_id) {
        exe_config_release(c);
        return cr_error(err, CR_EINVAL, "MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID: must be set");
    }
    c->sandbox = env_dup("MESOS_DIRECTORY");
    if (!c->sandbox)
        c->sandbox = env_dup("MESOS_SANDBOX");
    if (!c->sandbox) {
        char *cwd = getcwd(NULL, 0);
        c->sandbox = xstrdup(cwd ? cwd : ".");
        free(cwd);
    }
    c->auth_token = env_dup("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    unsetenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"); /* never leak it to the task */
    v = getenv("MESOS_CHECKPOINT");
    c->checkpoint = v && strcmp(v, "1") == 0;
    c->recovery_timeout_ms = env_duration("MESOS_RECOVERY_TIMEOUT", 15 * 60 * 1000);
    c->backoff_max_ms = env_duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", 2000);
    c->shutdown_grace_ms = env_duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", 5000);
    c->default_kill_ms = env_duration("CORRAL_EXECUTOR_HARD_KILL_AFTER", 3 * 60 * 1000);
    c->download_timeout_ms = env_duration("CORRAL_EXECUTOR_DOWNLOAD_TIMEOUT", 10 * 60 * 1000);
    c->ack_timeout_ms = env_duration("CORRAL_EXECUTOR_ACK_TIMEOUT", 60 * 1000);
    c->register_timeout_ms = env_duration("CORRAL_EXECUTOR_REGISTER_TIMEOUT", 60 * 1000);
    c->cache_dir = env_dup("CORRAL_EXECUTOR_CACHE_DIR");
    c->task_record_dir = env_dup("CORRAL_EXECUTOR_TASK_RECORD_DIR");
    c->rack_attr = env_dup("CORRAL_EXECUTOR_RACK_ATTRIBUTE");
    c->s3_endpoint = env_dup("CORRAL_S3_ENDPOINT");
    c->s3_region = env_dup("AWS_REGION");
    if (!c->s3_region)
        c->s3_region = env_dup("AWS_DEFAULT_REGION");
    c->s3_access_key = env_dup("AWS_ACCESS_KEY_ID");
    c->s3_secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
    c->s3_session_token = env_dup("AWS_SESSION_TOKEN");
    v = getenv("CORRAL_S3_PATH_STYLE");
    if (v)
        c->s3_path_style = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;

    /* The agent's configuration file fills what the environment left unset. */
    cfgpath = getenv("CORRAL_EXECUTOR_CONFIG");
    if (!cfgpath && access("/etc/corral/executor.json", R_OK) == 0)
        cfgpath = "/etc/corral/executor.json";
    if (cfgpath) {
        file = json_load_file(cfgpath, 0, &jerr);
        if (!file) {
            cr_error(err, CR_EPARSE, "%s:%d:%d: %s", cfgpath, jerr.line, jerr.column, jerr.text);
            exe_config_release(c);
            return -1;
        }
        file_str(file, "artifactCacheDirectory", &c->cache_dir);
        file_str(file, "taskRecordDirectory", &c->task_record_dir);
        file_str(file, "rackAttribute", &c->rack_attr);
        file_str(file, "s3Endpoint", &c->s3_endpoint);
        file_str(file, "s3Region", &c->s3_region);
        file_str(file, "s3AccessKey", &c->s3_access_key);
        file_str(file, "s3SecretKey", &c->s3_secret_key);
        file_str(file, "s3SessionToken", &c->s3_session_token);
        if (!v && json_is_true(json_object_get(file, "s3PathStyle")))
            c->s3_path_style = true;
        if (exe_shell_conf_parse(&c->shell, file, err) < 0) {
            cr_err_prefix(err, "%s", cfgpath);
            json_decref(file);
            exe_config_release(c);
            return -1;
        }
        if (json_is_integer(json_object_get(file, "hardKillAfterMillis")) &&
            !getenv("CORRAL_EXECUTOR_HARD_KILL_AFTER"))
            c->default_kill_ms = json_integer_value(json_object_get(file, "hardKillAfterMillis"));
        json_decref(file);
    }
    if (!c->s3_endpoint)
        c->s3_endpoint = xstrdup("https://s3.amazonaws.com");
    if (!c->rack_attr)
        c->rack_attr = xstrdup("rackid");
    return 0;
}

void exe_config_release(exe_config *c)
{
    free(c->agent_url);
    free(c->framework_id);
    free(c->executor_id);
    free(c->sandbox);
    free(c->auth_token);
    free(c->cache_dir);
    free(c->task_record_dir);
    free(c->rack_attr);
    free(c->s3_endpoint);
    free(c->s3_region);
    free(c->s3_access_key);
    free(c->s3_secret_key);
    free(c->s3_session_token);
    exe_shell_conf_release(&c->shell);
    memset(c, 0, sizeof(*c));
}

/* --- the executor ------------------------------------------------------------- */

typedef struct unacked {
    unsigned char uuid[16];
    json_t *status; /* owned */
    bool terminal;
    bool posted; /* the agent answered 202 to its UPDATE */
    struct unacked *next;
} unacked;

/* A shell command started for the framework (exe_shell.h). */
typedef struct shell_run {
    pid_t pid;
    exe_shell_req req;
    struct shell_run *next;
} shell_run;

typedef struct pipe_in {
    int fd;
    struct event *ev;
    exe_log *log; /* borrowed: stdout and stderr may share one */
} pipe_in;

struct exe_executor {
    struct event_base *base;
    const exe_config *cfg;
    const cr_log *log;
    cr_http *http;
    exe_sm sm;
    int exit_code;

    /* subscription */
    cr_http_req *stream;
    exe_recordio rio;
    bool subscribed_once;
    long stream_status;
    int64_t first_attempt_ms;
    struct event *resub_timer;
    struct event *recovery_timer;

    /* the task */
    json_t *taskinfo; /* owned; until an update is acknowledged */
    bool task_acked;
    exe_task *task;
    char *host, *rack;
    unacked *pending;  /* unacknowledged updates, oldest first */
    unacked *inflight; /* the UPDATE call on the wire: one at a time keeps order */
    cr_http_req *inflight_req;
    struct event *update_timer;

    /* preparing */
    char *app_dir;
    size_t art_idx;
    cr_http_req *download;
    int dl_fd;
    char *dl_part, *dl_dest;
    exe_md5 *dl_md5;
    int64_t dl_bytes;
    cr_err dl_err;
    bool dl_failed;
    pid_t helper_pid;
    int helper_errfd;

    /* running */
    pid_t pid;
    uid_t task_uid; /* what the task runs as (task_uid_of), for its kill note */
    int64_t started_ms;
    pipe_in out, err;
    exe_log *log_out, *log_err;
    struct event *sigchld;
    struct event *kill_timer, *ack_timer, *sentinel_timer, *flush_timer;
    int wait_status;
    bool exited;
    char final_state[32];
    char final_message[512];

    shell_run *shells; /* shell commands still running */
};

static void perform(exe_executor *e, const exe_sm_action *acts, int n);
static void subscribe(exe_executor *e);
static void prepare_next(exe_executor *e);

static void feed(exe_executor *e, const exe_sm_event *ev)
{
    exe_sm_action acts[EXE_SM_MAX_ACTIONS];
    exe_phase before = e->sm.phase;
    int n = exe_sm_step(&e->sm, ev, acts);

    if (e->sm.phase != before)
        cr_debug(e->log, "phase %s -> %s", exe_phase_name(before), exe_phase_name(e->sm.phase));
    perform(e, acts, n);
}

static void feed_simple(exe_executor *e, exe_event_type t, const char *msg)
{
    exe_sm_event ev = {.type = t, .message = msg, .grace_ms = -1};
    feed(e, &ev);
}

static void arm(struct event *ev, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(ev, &tv);
}

/* --- calls to the agent -------------------------------------------------------- */

static const char *const call_headers[] = {"Content-Type: application/json",
                                           "Accept: application/json", "Expect:", NULL};

static void post_next(exe_executor *e);

static void update_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    exe_executor *e = arg;
    unacked *u = e->inflight;

    if (r != e->inflight_req)
        return; /* a call from before a re-subscription or an ack: stale */
    e->inflight = NULL;
    e->inflight_req = NULL;
    if (err || resp->status != 202) {
        cr_warn(e->log, "update call failed: %s (status %ld); will retry",
                err ? cr_err_msg(err) : resp->body, resp->status);
        if (!evtimer_pending(e->update_timer, NULL))
            arm(e->update_timer, UPDATE_RETRY_MS);
        return;
    }
    for (unacked *p = e->pending; p; p = p->next)
        if (p == u)
            p->posted = true;
    post_next(e);
}

/* Posts the oldest update the agent has not taken yet. Updates go one at a
 * time, each after the previous call's 202, so the agent sees them in order. */
static void post_next(exe_executor *e)
{
    unacked *u = e->pending;
    json_t *call;
    char *body;
    cr_http_opts o = {.method = "POST",
                      .url = e->cfg->agent_url,
                      .headers = call_headers,
                      .timeout_ms = 30000,
                      .bearer = e->cfg->auth_token,
                      .on_done = update_done,
                      .arg = e};
    cr_err err;

    if (e->inflight_req || !e->sm.connected)
        return;
    while (u && u->posted)
        u = u->next;
    if (!u)
        return;
    call = exe_call_update(e->cfg->framework_id, e->cfg->executor_id, u->status);
    body = json_dumps(call, JSON_COMPACT);
    o.body = body;
    o.body_len = strlen(body);
    if ((e->inflight_req = cr_http_start(e->http, &o, &err)))
        e->inflight = u;
    else
        cr_warn(e->log, "update call: %s", cr_err_msg(&err));
    free(body);
    json_decref(call);
}

static void on_update_timer(evutil_socket_t fd, short what, void *arg)
{
    post_next(arg);
}

static bool is_terminal(const char *state)
{
    return strcmp(state, "TASK_FINISHED") == 0 || strcmp(state, "TASK_FAILED") == 0 ||
           strcmp(state, "TASK_KILLED") == 0 || strcmp(state, "TASK_ERROR") == 0 ||
           strcmp(state, "TASK_LOST") == 0 || strcmp(state, "TASK_DROPPED") == 0 ||
           strcmp(state, "TASK_GONE") == 0;
}

static void send_update(exe_executor *e, const char *task_id, const char *state, const char *reason,
                        const char *message)
{
    unacked *u = xcalloc(1, sizeof(*u)), **tail = &e->pending;

    exe_uuid4(u->uuid);
    u->status = exe_status_new(task_id, e->cfg->executor_id, state, reason, message, u->uuid);
    u->terminal = is_terminal(state);
    while (*tail)
        tail = &(*tail)->next;
    *tail = u;
    cr_info(e->log, "task %s: %s%s%s", task_id, state, message && *message ? ": " : "",
            message ? message : "");
    if (u->terminal) {
        snprintf(e->final_state, sizeof(e->final_state), "%s", state);
        snprintf(e->final_message, sizeof(e->final_message), "%s", message ? message : "");
    }
    /* When disconnected it goes with the next SUBSCRIBE instead. */
    post_next(e);
}

static void on_acknowledged(exe_executor *e, const char *uuid_b64)
{
    unacked **pp = &e->pending;
    size_t len = 0;
    unsigned char *raw = uuid_b64 ? exe_base64_decode(uuid_b64, &len) : NULL;

    if (!raw || len != 16) {
        free(raw);
        return;
    }
    while (*pp) {
        unacked *u = *pp;
        if (memcmp(u->uuid, raw, 16) == 0) {
            bool terminal = u->terminal;
            *pp = u->next;
            if (e->inflight == u) {
                e->inflight = NULL; /* its call's answer no longer matters */
                e->inflight_req = NULL;
            }
            json_decref(u->status);
            free(u);
            e->task_acked = true;
            post_next(e); /* the ack may beat the 202 of its own call */
            if (terminal)
                feed_simple(e, EXE_EV_TERMINAL_ACKED, NULL);
            break;
        }
        pp = &u->next;
    }
    free(raw);
}

/* --- subscription ------------------------------------------------------------- */

/* The rack: the configured attribute, else Mesos-lite's "rack" or
 * Singularity's "rackid". */
static const char *rack_from_agent(const exe_executor *e, const json_t *agent_info)
{
    const char *keys[] = {e->cfg->rack_attr, "rack", "rackid"};
    json_t *attrs = json_object_get(agent_info, "attributes"), *a;
    size_t i;

    for (size_t k = 0; k < 3; k++) {
        json_array_foreach(attrs, i, a)
        {
            const char *name = json_string_value(json_object_get(a, "name"));
            const char *text =
                json_string_value(json_object_get(json_object_get(a, "text"), "value"));
            if (name && text && keys[k] && strcmp(name, keys[k]) == 0)
                return text;
        }
    }
    return NULL;
}

static void handle_launch(exe_executor *e, json_t *task)
{
    const char *tid = json_string_value(json_object_get(json_object_get(task, "task_id"), "value"));
    cr_err err;
    exe_task *t;
    exe_sm_event ev = {.type = EXE_EV_LAUNCH, .grace_ms = -1};

    if (!tid)
        return;
    if (e->task && !e->taskinfo && strcmp(e->task->task_id, tid) == 0)
        return; /* killed before its LAUNCH arrived: already reported */
    if (e->task || e->taskinfo) {
        /* One task per executor (Singularity launches one executor per task). */
        send_update(e, tid, "TASK_ERROR", "REASON_TASK_INVALID",
                    "corral-executor runs one task per executor");
        return;
    }
    e->taskinfo = json_incref(task);
    t = exe_task_parse(task, &err);
    if (!t) {
        e->task = xcalloc(1, sizeof(exe_task));
        e->task->task_id = xstrdup(tid);
        ev.type = EXE_EV_LAUNCH_INVALID;
        ev.message = cr_err_msg(&err);
        feed(e, &ev);
        return;
    }
    e->task = t;
    ev.sentinel = t->data.running_sentinel != NULL;
    /* Kill grace: executorData wins over the task's kill policy (a KILL
     * event's own policy wins over both). */
    if (t->data.sigkill_after_ms >= 0)
        e->sm.cfg.kill_grace_ms = t->data.sigkill_after_ms;
    else if (t->kill_grace_ms >= 0)
        e->sm.cfg.kill_grace_ms = t->kill_grace_ms;
    feed(e, &ev);
}

/* --- shell commands (exe_shell.h) ------------------------------------------------ */

static void message_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    exe_executor *e = arg;
    if (err || resp->status != 202)
        cr_warn(e->log, "framework message call failed: %s (status %ld)",
                err ? cr_err_msg(err) : resp->body, resp->status);
}

/* Sends one SingularityTaskShellCommandUpdate to the framework. Framework
 * messages are best effort in Mesos (no retry, no ack). */
static void shell_update(exe_executor *e, const exe_shell_req *r, const char *type,
                         const char *message, const char *out_file)
{
    char *text = exe_shell_update(r, type, message, out_file, cr_wall_ms());
    json_t *call = exe_call_message(e->cfg->framework_id, e->cfg->executor_id, text, strlen(text));
    char *body = json_dumps(call, JSON_COMPACT);
    cr_http_opts o = {.method = "POST",
                      .url = e->cfg->agent_url,
                      .headers = call_headers,
                      .timeout_ms = 30000,
                      .bearer = e->cfg->auth_token,
                      .body = body,
                      .body_len = strlen(body),
                      .on_done = message_done,
                      .arg = e};
    cr_err err;

    cr_info(e->log, "shell command %s (%lld): %s%s%s", r->name, (long long)r->timestamp, type,
            message ? ": " : "", message ? message : "");
    if (!cr_http_start(e->http, &o, &err))
        cr_warn(e->log, "framework message call: %s", cr_err_msg(&err));
    free(body);
    json_decref(call);
    free(text);
}

/* A framework MESSAGE: a shell command request. Runs the configured
 * command with its output appended to the sandbox file; ACKED, then
 * FINISHED (with the exit code) or FAILED; INVALID when it cannot run. */
static void handle_shell(exe_executor *e, const char *data_b64)
{
    size_t len = 0;
    unsigned char *raw = data_b64 ? exe_base64_decode(data_b64, &len) : NULL;
    exe_shell_req req;
    cr_err err;
    char **argv = NULL, *out_file = NULL, *path = NULL, *line = NULL;
    int fd = -1;
    pid_t pid;

    if (!raw || exe_shell_req_parse(&req, (const char *)raw, len, &err) < 0) {
        cr_warn(e->log, "framework message ignored: %s",
                raw ? cr_err_msg(&err) : "data is not base64");
        free(raw);
        return;
    }
    free(raw);
    argv = exe_shell_build(&e->cfg->shell, &req, e->pid > 0 && !e->exited ? (int)e->pid : 0,
                           e->task ? e->task->data.user : NULL, &out_file, &err);
    if (!argv) {
        shell_update(e, &req, "INVALID", cr_err_msg(&err), NULL);
        goto out;
    }
    path = xasprintf("%s/%s", e->cfg->sandbox, out_file);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        char *m = xasprintf("cannot open %s: %s", out_file, strerror(errno));
        shell_update(e, &req, "FAILED", m, out_file);
        free(m);
        goto out;
    }
    {
        cr_buf b = CR_BUF_INIT;
        for (size_t i = 0; argv[i]; i++)
            cr_buf_addf(&b, "%s%s", i ? " " : "", argv[i]);
        line = cr_buf_detach(&b, NULL);
    }
    shell_update(e, &req, "ACKED", line, out_file);
    pid = fork();
    if (pid < 0) {
        char *m = xasprintf("Failed - fork: %s", strerror(errno));
        shell_update(e, &req, "FAILED", m, NULL);
        free(m);
        goto out;
    }
    if (pid == 0) {
        sigset_t none;
        int devnull = open("/dev/null", O_RDONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(e->cfg->sandbox) < 0)
            _exit(127);
        setenv("TASK_SANDBOX_DIR", e->cfg->sandbox, 1);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    shell_run *s = xcalloc(1, sizeof(*s));
    s->pid = pid;
    s->req = req; /* moved */
    memset(&req, 0, sizeof(req));
    s->next = e->shells;
    e->shells = s;
out:
    if (fd >= 0)
        close(fd);
    exe_shell_req_release(&req);
    exe_shell_argv_free(argv);
    free(out_file);
    free(path);
    free(line);
}

/* A shell command's process ended: true if pid was one. */
static bool shell_exited(exe_executor *e, pid_t pid, int status)
{
    for (shell_run **p = &e->shells; *p; p = &(*p)->next) {
        shell_run *s = *p;
        if (s->pid != pid)
            continue;
        char msg[128];
        if (WIFEXITED(status)) {
            snprintf(msg, sizeof(msg), "Finished with code %d", WEXITSTATUS(status));
            shell_update(e, &s->req, "FINISHED", msg, NULL);
        } else {
            snprintf(msg, sizeof(msg), "Failed - killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
            shell_update(e, &s->req, "FAILED", msg, NULL);
        }
        *p = s->next;
        exe_shell_req_release(&s->req);
        free(s);
        return true;
    }
    return false;
}

static void handle_event(exe_executor *e, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));

    if (!type)
        return;
    cr_debug(e->log, "event %s", type);
    if (strcmp(type, "SUBSCRIBED") == 0) {
        json_t *sub = json_object_get(ev, "subscribed");
        json_t *fw = json_object_get(sub, "framework_info"), *caps, *c;
        json_t *agent = json_object_get(sub, "agent_info");
        const char *host = json_string_value(json_object_get(agent, "hostname"));
        const char *rack = rack_from_agent(e, agent);
        exe_sm_event sev = {.type = EXE_EV_SUBSCRIBED, .grace_ms = -1};
        size_t i;

        caps = json_object_get(fw, "capabilities");
        json_array_foreach(caps, i, c)
        {
            const char *ct = json_string_value(json_object_get(c, "type"));
            if (ct && strcmp(ct, "TASK_KILLING_STATE") == 0)
                sev.task_killing_cap = true;
        }
        if (host && !e->host)
            e->host = xstrdup(host);
        if (rack && !e->rack)
            e->rack = xstrdup(rack);
        e->subscribed_once = true;
        cr_info(e->log, "subscribed to the agent at %s", e->cfg->agent_url);
        /* Pending updates went out inside SUBSCRIBE; the agent replays them. */
        feed(e, &sev);
        post_next(e);
    } else if (strcmp(type, "LAUNCH") == 0) {
        handle_launch(e, json_object_get(json_object_get(ev, "launch"), "task"));
    } else if (strcmp(type, "LAUNCH_GROUP") == 0) {
        json_t *tasks = json_object_get(
                   json_object_get(json_object_get(ev, "launch_group"), "task_group"), "tasks"),
               *t;
        size_t i;
        json_array_foreach(tasks, i, t)
        {
            const char *tid =
                json_string_value(json_object_get(json_object_get(t, "task_id"), "value"));
            if (tid)
                send_update(e, tid, "TASK_ERROR", "REASON_TASK_GROUP_INVALID",
                            "corral-executor does not run task groups");
        }
    } else if (strcmp(type, "KILL") == 0) {
        json_t *k = json_object_get(ev, "kill");
        json_t *ns = json_object_get(
            json_object_get(json_object_get(k, "kill_policy"), "grace_period"), "nanoseconds");
        const char *tid =
            json_string_value(json_object_get(json_object_get(k, "task_id"), "value"));
        exe_sm_event kev = {.type = EXE_EV_KILL, .grace_ms = -1};

        if (json_is_integer(ns))
            kev.grace_ms = json_integer_value(ns) / 1000000;
        else if (json_is_string(ns))
            kev.grace_ms = strtoll(json_string_value(ns), NULL, 10) / 1000000;
        if (!e->task && tid) {
            /* KILL before LAUNCH: report it killed and leave. */
            e->task = xcalloc(1, sizeof(exe_task));
            e->task->task_id = xstrdup(tid);
        } else if (tid && e->task && strcmp(tid, e->task->task_id) != 0) {
            return;
        }
        feed(e, &kev);
    } else if (strcmp(type, "ACKNOWLEDGED") == 0) {
        on_acknowledged(
            e, json_string_value(json_object_get(json_object_get(ev, "acknowledged"), "uuid")));
    } else if (strcmp(type, "SHUTDOWN") == 0) {
        exe_sm_event sev = {.type = EXE_EV_SHUTDOWN, .grace_ms = e->cfg->shutdown_grace_ms - 1000};
        if (sev.grace_ms < 0)
            sev.grace_ms = 0;
        feed(e, &sev);
    } else if (strcmp(type, "ERROR") == 0) {
        cr_warn(e->log, "agent error: %s",
                json_string_value(json_object_get(json_object_get(ev, "error"), "message")));
    } else if (strcmp(type, "MESSAGE") == 0) {
        const char *data =
            json_string_value(json_object_get(json_object_get(ev, "message"), "data"));
        cr_info(e->log, "framework message (%zu bytes of base64)", data ? strlen(data) : 0);
        handle_shell(e, data);
    }
}

static void stream_head(cr_http_req *r, const cr_http_resp *resp, void *arg)
{
    exe_executor *e = arg;
    e->stream_status = resp->status;
}

static void stream_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    exe_executor *e = arg;
    const char *rec;
    size_t n;
    cr_err err;
    int rc;

    if (e->stream_status != 200)
        return;
    exe_recordio_feed(&e->rio, data, len);
    while ((rc = exe_recordio_next(&e->rio, &rec, &n, &err)) == 1) {
        json_error_t jerr;
        json_t *ev = json_loadb(rec, n, 0, &jerr);
        if (!ev) {
            cr_warn(e->log, "bad event JSON: %s", jerr.text);
            continue;
        }
        handle_event(e, ev);
        json_decref(ev);
        if (e->stream != r)
            return; /* the stream was replaced or cancelled meanwhile */
    }
    if (rc < 0) {
        cr_warn(e->log, "subscription stream: %s", cr_err_msg(&err));
        cr_http_cancel(r);
        e->stream = NULL;
        feed_simple(e, EXE_EV_DISCONNECTED, NULL);
    }
}

static void stream_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    exe_executor *e = arg;

    if (e->stream != r)
        return;
    e->stream = NULL;
    if (err)
        cr_warn(e->log, "subscription ended: %s", cr_err_msg(err));
    else
        cr_warn(e->log, "subscription ended with status %ld%s%.200s", resp->status,
                resp->body_len ? ": " : "", resp->body);
    if (!e->subscribed_once) {
        /* The agent may not be ready yet: keep trying until the registration
         * deadline, whatever the checkpoint setting. */
        if (cr_mono_ms() - e->first_attempt_ms < e->cfg->register_timeout_ms) {
            arm(e->resub_timer, 250 + rand() % 500);
            return;
        }
        cr_errorlog(e->log, "could not subscribe to the agent at %s", e->cfg->agent_url);
        e->exit_code = 1;
        event_base_loopexit(e->base, NULL);
        return;
    }
    feed_simple(e, EXE_EV_DISCONNECTED, NULL);
}

static void subscribe(exe_executor *e)
{
    json_t *updates = json_array(), *tasks = json_array(), *call;
    char *body;
    cr_http_opts o = {.method = "POST",
                      .url = e->cfg->agent_url,
                      .headers = call_headers,
                      .timeout_ms = 0,
                      .connect_timeout_ms = 5000,
                      .bearer = e->cfg->auth_token,
                      .on_head = stream_head,
                      .on_data = stream_data,
                      .on_done = stream_done,
                      .arg = e};
    cr_err err;

    for (unacked *u = e->pending; u; u = u->next) {
        json_array_append_new(updates, json_pack("{s:O}", "status", u->status));
        u->posted = true; /* the agent replays these itself */
    }
    e->inflight = NULL;
    if (e->taskinfo && !e->task_acked)
        json_array_append(tasks, e->taskinfo);
    call = exe_call_subscribe(e->cfg->framework_id, e->cfg->executor_id, tasks, updates);
    body = json_dumps(call, JSON_COMPACT);
    o.body = body;
    o.body_len = strlen(body);
    exe_recordio_release(&e->rio);
    exe_recordio_init(&e->rio, 0);
    e->stream_status = 0;
    e->stream = cr_http_start(e->http, &o, &err);
    if (!e->stream) {
        cr_warn(e->log, "subscribe: %s", cr_err_msg(&err));
        arm(e->resub_timer, 1000);
    }
    free(body);
    json_decref(call);
    json_decref(updates);
    json_decref(tasks);
}

static void on_resub_timer(evutil_socket_t fd, short what, void *arg)
{
    subscribe(arg);
}

static void on_recovery_timer(evutil_socket_t fd, short what, void *arg)
{
    feed_simple(arg, EXE_EV_RECOVERY_TIMEOUT, NULL);
}

/* --- preparing the sandbox ------------------------------------------------------ */

static void prepare_failed(exe_executor *e, const char *msg)
{
    feed_simple(e, EXE_EV_PREPARE_FAILED, msg);
}

static void dl_cleanup(exe_executor *e, bool remove_part)
{
    if (e->dl_fd >= 0)
        close(e->dl_fd);
    e->dl_fd = -1;
    if (remove_part && e->dl_part)
        unlink(e->dl_part);
    free(e->dl_part);
    free(e->dl_dest);
    e->dl_part = e->dl_dest = NULL;
    exe_md5_free(e->dl_md5);
    e->dl_md5 = NULL;
}

static void dl_data(cr_http_req *r, const char *data, size_t len, void *arg)
{
    exe_executor *e = arg;
    const exe_artifact *a = &e->task->data.artifacts[e->art_idx];

    if (e->dl_failed)
        return;
    while (len > 0) {
        ssize_t w = write(e->dl_fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            cr_error(&e->dl_err, CR_EIO, "artifact '%s': writing '%s': %s", a->name, e->dl_part,
                     strerror(errno));
            e->dl_failed = true;
            cr_http_cancel(r);
            e->download = NULL;
            dl_cleanup(e, true);
            prepare_failed(e, e->dl_err.detail);
            return;
        }
        exe_md5_update(e->dl_md5, data, (size_t)w);
        e->dl_bytes += w;
        data += w;
        len -= (size_t)w;
    }
    if (a->filesize >= 0 && e->dl_bytes > a->filesize) {
        cr_error(&e->dl_err, CR_EINVAL,
                 "artifact '%s': size mismatch: more than the expected %lld bytes", a->name,
                 (long long)a->filesize);
        e->dl_failed = true;
        cr_http_cancel(r);
        e->download = NULL;
        dl_cleanup(e, true);
        prepare_failed(e, e->dl_err.detail);
    }
}

static void after_fetch(exe_executor *e);

static void dl_done(cr_http_req *r, const cr_http_resp *resp, const cr_err *err, void *arg)
{
    exe_executor *e = arg;
    const exe_artifact *a = &e->task->data.artifacts[e->art_idx];
    char md5[33];
    cr_err cerr;
    const char *what = a->kind == EXE_ART_S3 ? "s3 object" : "url";

    e->download = NULL;
    if (e->dl_failed)
        return;
    if (err) {
        cr_error(&cerr, err->code, "artifact '%s': download of %s %s failed: %s", a->name, what,
                 a->kind == EXE_ART_S3 ? a->s3_key : a->url, cr_err_msg(err));
        goto fail;
    }
    if (resp->status != 200) {
        cr_error(&cerr, resp->status == 404 ? CR_ENOTFOUND : CR_EIO,
                 "artifact '%s': download of %s %s failed: HTTP %ld", a->name, what,
                 a->kind == EXE_ART_S3 ? a->s3_key : a->url, resp->status);
        goto fail;
    }
    if (fsync(e->dl_fd) < 0 || close(e->dl_fd) < 0) {
        e->dl_fd = -1;
        cr_error(&cerr, CR_EIO, "artifact '%s': writing '%s': %s", a->name, e->dl_part,
                 strerror(errno));
        goto fail;
    }
    e->dl_fd = -1;
    exe_md5_final(e->dl_md5, md5);
    if (exe_artifact_check(a, md5, e->dl_bytes, &cerr) < 0)
        goto fail;
    if (rename(e->dl_part, e->dl_dest) < 0) {
        cr_error(&cerr, CR_EIO, "artifact '%s': rename '%s': %s", a->name, e->dl_dest,
                 strerror(errno));
        goto fail;
    }
    if (exe_cache_put(e->cfg->cache_dir, a, e->dl_dest, &cerr) < 0)
        cr_warn(e->log, "artifact cache: %s", cr_err_msg(&cerr));
    cr_info(e->log, "artifact '%s': downloaded %lld bytes", a->name, (long long)e->dl_bytes);
    dl_cleanup(e, false);
    after_fetch(e);
    return;
fail:
    dl_cleanup(e, true);
    prepare_failed(e, cerr.detail);
}

static void start_download(exe_executor *e, const exe_artifact *a, const char *dest)
{
    cr_http_opts o = {.method = "GET",
                      .timeout_ms = e->cfg->download_timeout_ms,
                      .connect_timeout_ms = 30000,
                      .follow_redirects = true,
                      .on_data = dl_data,
                      .on_done = dl_done,
                      .arg = e};
    char **hdrs = NULL, *url = NULL;
    cr_err err;

    e->dl_dest = xstrdup(dest);
    e->dl_part = xasprintf("%s.part", dest);
    e->dl_md5 = exe_md5_new();
    e->dl_bytes = 0;
    e->dl_failed = false;
    e->dl_fd = open(e->dl_part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (e->dl_fd < 0) {
        cr_error(&err, CR_EIO, "artifact '%s': create '%s': %s", a->name, e->dl_part,
                 strerror(errno));
        dl_cleanup(e, false);
        prepare_failed(e, err.detail);
        return;
    }
    if (a->kind == EXE_ART_S3) {
        exe_s3_cfg s3 = {.endpoint = e->cfg->s3_endpoint,
                         .region = e->cfg->s3_region,
                         .access_key = e->cfg->s3_access_key,
                         .secret_key = e->cfg->s3_secret_key,
                         .session_token = e->cfg->s3_session_token,
                         .path_style = e->cfg->s3_path_style};
        char amz_date[20];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
        hdrs = exe_s3_signed_get(&s3, a->s3_bucket, a->s3_key, amz_date, &url);
        if (!hdrs) {
            cr_error(&err, CR_EINVAL, "artifact '%s': bad S3 endpoint '%s'", a->name, s3.endpoint);
            dl_cleanup(e, true);
            prepare_failed(e, err.detail);
            return;
        }
        o.url = url;
        o.headers = (const char *const *)hdrs;
        o.follow_redirects = false; /* a redirect would break the signature */
    } else {
        o.url = a->url;
    }
    cr_info(e->log, "artifact '%s': fetching %s", a->name, o.url);
    e->download = cr_http_start(e->http, &o, &err);
    if (!e->download) {
        cr_err_prefix(&err, "artifact '%s'", a->name);
        dl_cleanup(e, true);
        prepare_failed(e, err.detail);
    }
    free(url);
    exe_strv_free(hdrs);
}

/* Extraction runs in a child process (tar/unzip block); its error message
 * comes back through a pipe. */
static void start_extract(exe_executor *e, const exe_artifact *a, const char *archive)
{
    int p[2];
    pid_t pid;
    char *dir = xstrdup(archive);
    cr_err err;

    *strrchr(dir, '/') = '\0';
    if (pipe2(p, O_CLOEXEC) < 0) {
        cr_error(&err, CR_EIO, "artifact '%s': pipe: %s", a->name, strerror(errno));
        free(dir);
        prepare_failed(e, err.detail);
        return;
    }
    pid = fork();
    if (pid < 0) {
        cr_error(&err, CR_EIO, "artifact '%s': fork: %s", a->name, strerror(errno));
        close(p[0]);
        close(p[1]);
        free(dir);
        prepare_failed(e, err.detail);
        return;
    }
    if (pid == 0) {
        cr_err cerr;
        close(p[0]);
        signal(SIGCHLD, SIG_DFL);
        if (exe_extract(a, archive, dir, &cerr) < 0) {
            size_t n = strlen(cerr.detail);
            if (write(p[1], cerr.detail, n) < 0)
                _exit(3);
            _exit(1);
        }
        _exit(0);
    }
    close(p[1]);
    free(dir);
    e->helper_pid = pid;
    e->helper_errfd = p[0];
}

static void helper_exited(exe_executor *e, int status)
{
    char msg[CR_ERR_DETAIL_MAX];
    ssize_t n = read(e->helper_errfd, msg, sizeof(msg) - 1);
    const exe_artifact *a = &e->task->data.artifacts[e->art_idx];

    close(e->helper_errfd);
    e->helper_errfd = -1;
    e->helper_pid = 0;
    if (e->sm.phase != EXE_PH_PREPARING)
        return;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (n <= 0)
            n = snprintf(msg, sizeof(msg), "artifact '%s': extraction failed", a->name);
        msg[n] = '\0';
        prepare_failed(e, msg);
        return;
    }
    cr_info(e->log, "artifact '%s': extracted", a->name);
    e->art_idx++;
    prepare_next(e);
}

static void after_fetch(exe_executor *e)
{
    const exe_artifact *a = &e->task->data.artifacts[e->art_idx];
    char *dest;

    if (e->sm.phase != EXE_PH_PREPARING)
        return;
    if (exe_artifact_wants_extract(a)) {
        dest = exe_artifact_dest(a, e->app_dir);
        start_extract(e, a, dest);
        free(dest);
        return;
    }
    e->art_idx++;
    prepare_next(e);
}

static int write_file(const char *path, const char *text, mode_t mode, cr_err *err)
{
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), rc = 0;
    size_t n = strlen(text);

    if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd) < 0 || rename(tmp, path) < 0) {
        rc = cr_error(err, CR_EIO, "write '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static void prepare_next(exe_executor *e)
{
    const exe_data *d = &e->task->data;
    cr_err err;

    if (e->sm.phase != EXE_PH_PREPARING)
        return;
    while (e->art_idx < d->n_artifacts) {
        const exe_artifact *a = &d->artifacts[e->art_idx];
        char *dest = exe_artifact_dest(a, e->app_dir), *dir = xstrdup(dest);
        int hit;

        *strrchr(dir, '/') = '\0';
        if (cr_mkdirs(dir, &err) < 0) {
            free(dir);
            free(dest);
            cr_err_prefix(&err, "artifact '%s'", a->name);
            prepare_failed(e, err.detail);
            return;
        }
        free(dir);
        if (a->kind == EXE_ART_EMBEDDED) {
            if (exe_artifact_write_embedded(a, dest, &err) < 0) {
                free(dest);
                prepare_failed(e, err.detail);
                return;
            }
            free(dest);
            if (exe_artifact_wants_extract(a)) {
                after_fetch(e);
                return;
            }
            e->art_idx++;
            continue;
        }
        hit = exe_cache_get(e->cfg->cache_dir, a, dest, &err);
        if (hit < 0) {
            free(dest);
            cr_err_prefix(&err, "artifact '%s'", a->name);
            prepare_failed(e, err.detail);
            return;
        }
        if (hit == 1) {
            cr_info(e->log, "artifact '%s': from the cache", a->name);
            free(dest);
            after_fetch(e);
            return;
        }
        start_download(e, a, dest);
        free(dest);
        return;
    }
    feed_simple(e, EXE_EV_PREPARED, NULL);
}

/* --- the task process ------------------------------------------------------------ */

/* Reads what the pipe holds, at most max_reads chunks so that a task that
 * never stops writing cannot starve the loop (the event fires again). */
static void drain(exe_executor *e, pipe_in *p, int max_reads)
{
    char buf[65536];
    cr_err err;

    if (p->fd < 0)
        return;
    while (max_reads-- > 0) {
        ssize_t n = read(p->fd, buf, sizeof(buf));
        if (n > 0) {
            if (exe_log_write(p->log, buf, (size_t)n, cr_wall_ms(), &err) < 0)
                cr_warn(e->log, "%s", cr_err_msg(&err));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EOF or error: this pipe is done. */
        event_free(p->ev);
        p->ev = NULL;
        close(p->fd);
        p->fd = -1;
        return;
    }
}

static void on_pipe(evutil_socket_t fd, short what, void *arg)
{
    exe_executor *e = arg;
    drain(e, e->out.fd == fd ? &e->out : &e->err, 16);
    if ((exe_log_has_partial(e->log_out) || exe_log_has_partial(e->log_err)) &&
        !evtimer_pending(e->flush_timer, NULL))
        arm(e->flush_timer, PARTIAL_FLUSH_MS);
}

/* Writes the partial lines that waited: the bytes are the same whether a
 * line is written in one piece or two, and the log keeps the rest of the
 * line in the same file. */
static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    exe_executor *e = arg;
    exe_log *logs[] = {e->log_out, e->log_err};
    cr_err err;

    for (size_t i = 0; i < 2; i++)
        if (exe_log_has_partial(logs[i]) && exe_log_flush(logs[i], cr_wall_ms(), &err) < 0)
            cr_warn(e->log, "%s", cr_err_msg(&err));
}

static void on_sentinel_timer(evutil_socket_t fd, short what, void *arg)
{
    exe_executor *e = arg;
    char *path;

    if (e->sm.phase != EXE_PH_STARTING)
        return;
    path = xasprintf("%s/%s", e->app_dir, e->task->data.running_sentinel);
    if (access(path, F_OK) == 0)
        feed_simple(e, EXE_EV_SENTINEL, NULL);
    else
        arm(e->sentinel_timer, SENTINEL_POLL_MS);
    free(path);
}

bool exe_kill_note_read(const char *sandbox, uid_t task_uid, uid_t exe_uid, const cr_log *log,
                        char *msg, size_t size, bool *memory)
{
    char *path = xasprintf("%s/%s", sandbox, EXE_KILL_NOTE), buf[4096];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    ssize_t n = -1;
    struct stat st;

    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (exe_kill_note_trusted(st.st_uid, st.st_nlink, task_uid, exe_uid))
            n = read(fd, buf, sizeof(buf));
        else if (log)
            cr_warn(log, "ignoring %s: %s", path,
                    st.st_nlink != 1 ? "not a single link: not the node agent's"
                                     : "owned by the task's user: not the node agent's");
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return n > 0 && exe_kill_note_parse(buf, (size_t)n, msg, size, memory);
}

/* The uid the task runs as: the deploy's user when the executor runs as
 * root (the runner script switches to it: exe_env.h), else the executor's
 * own. EXE_UID_UNKNOWN when that user cannot be resolved. */
static uid_t task_uid_of(const exe_data *d)
{
    const struct passwd *pw;
    char *end;
    unsigned long v;

    if (geteuid() != 0 || !d->user)
        return geteuid();
    if ((pw = getpwnam(d->user)))
        return pw->pw_uid;
    /* setpriv --reuid takes a number too */
    errno = 0;
    v = strtoul(d->user, &end, 10);
    if (!errno && *d->user >= '0' && *d->user <= '9' && !*end && v < (unsigned long)EXE_UID_UNKNOWN)
        return (uid_t)v;
    return EXE_UID_UNKNOWN;
}

static void start_task(exe_executor *e)
{
    const exe_task *t = e->task;
    exe_env_ctx ctx = {.task = t, .host = e->host, .rack = e->rack, .started_at_ms = cr_wall_ms()};
    size_t nenv = 0;
    exe_env_var *env = exe_env_build(&ctx, &nenv);
    char *script = exe_runner_script(&t->data, env, nenv, e->app_dir);
    char *runner = xasprintf("%s/runner.sh", e->cfg->sandbox);
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    cr_err err;
    char msg[128];
    pid_t pid, parent;
    exe_sm_event ev = {.type = EXE_EV_STARTED, .grace_ms = -1};

    exe_env_free(env, nenv);
    if (write_file(runner, script, 0755, &err) < 0)
        goto fail;
    e->log_out = exe_log_open(e->cfg->sandbox, t->data.service_log, t->task_id,
                              t->data.log_max_bytes, t->data.log_keep, &err);
    if (!e->log_out)
        goto fail;
    if (t->data.stderr_log) {
        e->log_err = exe_log_open(e->cfg->sandbox, t->data.stderr_log, t->task_id,
                                  t->data.log_max_bytes, t->data.log_keep, &err);
        if (!e->log_err)
            goto fail;
    }
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        cr_error(&err, CR_EIO, "pipe: %s", strerror(errno));
        goto fail;
    }
    parent = getpid();
    pid = fork();
    if (pid < 0) {
        cr_error(&err, CR_EIO, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        sigset_t none;
        int devnull = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        /* If the executor is killed outright, do not leave the task behind
         * (the agent's containerizer would; mesoslite and tests have none). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (chdir(e->app_dir) < 0)
            _exit(127);
        execl("/bin/sh", "sh", runner, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides set it: no race with an early kill */
    e->task_uid = task_uid_of(&t->data);
    close(po[1]);
    close(pe[1]);
    e->pid = pid;
    e->started_ms = cr_wall_ms();
    fcntl(po[0], F_SETFL, fcntl(po[0], F_GETFL) | O_NONBLOCK);
    fcntl(pe[0], F_SETFL, fcntl(pe[0], F_GETFL) | O_NONBLOCK);
    e->out.fd = po[0];
    e->out.log = e->log_out;
    e->out.ev = event_new(e->base, po[0], EV_READ | EV_PERSIST, on_pipe, e);
    event_add(e->out.ev, NULL);
    e->err.fd = pe[0];
    e->err.log = e->log_err ? e->log_err : e->log_out;
    e->err.ev = event_new(e->base, pe[0], EV_READ | EV_PERSIST, on_pipe, e);
    event_add(e->err.ev, NULL);
    snprintf(msg, sizeof(msg), "started pid %d", (int)pid);
    ev.message = msg;
    free(script);
    free(runner);
    feed(e, &ev);
    return;
fail:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    free(script);
    free(runner);
    feed_simple(e, EXE_EV_START_FAILED, err.detail);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    exe_executor *e = arg;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == e->helper_pid) {
            helper_exited(e, status);
        } else if (pid == e->pid) {
            exe_sm_event ev = {.type = EXE_EV_EXITED, .grace_ms = -1, .wait_status = status};
            char note[300];
            /* Take what is already in the pipes before reporting. */
            drain(e, &e->out, 1024);
            drain(e, &e->err, 1024);
            e->exited = true;
            e->wait_status = status;
            ev.exit_ok = WIFEXITED(status) && exe_data_exit_ok(&e->task->data, WEXITSTATUS(status));
            if (exe_kill_note_read(e->cfg->sandbox, e->task_uid, geteuid(), e->log, note,
                                   sizeof(note), &ev.killed_for_memory)) {
                cr_info(e->log, "the node agent killed the task: %s", note);
                ev.killed_by = note;
            }
            feed(e, &ev);
        } else {
            shell_exited(e, pid, status);
        }
    }
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
    feed_simple(arg, EXE_EV_KILL_TIMER, NULL);
}

static void on_ack_timer(evutil_socket_t fd, short what, void *arg)
{
    exe_executor *e = arg;
    cr_warn(e->log, "no acknowledgement of the terminal update; exiting anyway");
    feed_simple(e, EXE_EV_ACK_TIMEOUT, NULL);
}

/* --- cleanup -------------------------------------------------------------------- */

static void cleanup(exe_executor *e)
{
    const exe_task *t = e->task;
    json_t *rec, *removed = json_array();
    char *path, *text;
    cr_err err;
    int64_t now = cr_wall_ms();

    if (e->pid > 0 && !e->exited)
        kill(-e->pid, SIGKILL);
    drain(e, &e->out, 1024);
    drain(e, &e->err, 1024);
    if (e->log_out && exe_log_finish(e->log_out, now, &err) < 0)
        cr_warn(e->log, "%s", cr_err_msg(&err));
    if (e->log_err && exe_log_finish(e->log_err, now, &err) < 0)
        cr_warn(e->log, "%s", cr_err_msg(&err));
    if (t && t->data.cmd) {
        for (size_t i = 0; i < t->data.n_removable; i++) {
            path = xasprintf("%s/%s", e->cfg->sandbox, t->data.removable[i]);
            if (exe_remove_tree(path) == 0)
                json_array_append_new(removed, json_string(t->data.removable[i]));
            free(path);
        }
        if (!t->data.preserve_sandbox && e->app_dir && exe_remove_tree(e->app_dir) == 0)
            json_array_append_new(removed, json_string("app"));
    }
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "taskId", t ? t->task_id : "",
                    "executorId", e->cfg->executor_id, "frameworkId", e->cfg->framework_id,
                    "sandbox", e->cfg->sandbox, "state", e->final_state, "message",
                    e->final_message, "startedAt", (json_int_t)e->started_ms, "finishedAt",
                    (json_int_t)now, "removed", removed);
    if (e->exited) {
        if (WIFEXITED(e->wait_status))
            json_object_set_new(rec, "exitCode", json_integer(WEXITSTATUS(e->wait_status)));
        else if (WIFSIGNALED(e->wait_status))
            json_object_set_new(rec, "signal", json_integer(WTERMSIG(e->wait_status)));
    }
    if (t && t->data.service_log) {
        json_t *logs = json_array();
        json_array_append_new(logs, json_string(t->data.service_log));
        if (t->data.stderr_log)
            json_array_append_new(logs, json_string(t->data.stderr_log));
        json_object_set_new(rec, "logs", logs);
    }
    text = json_dumps(rec, JSON_INDENT(1) | JSON_SORT_KEYS);
    path = xasprintf("%s/corral-task.json", e->cfg->sandbox);
    if (write_file(path, text, 0644, &err) < 0)
        cr_warn(e->log, "task record: %s", cr_err_msg(&err));
    free(path);
    if (e->cfg->task_record_dir && t) {
        path = xasprintf("%s/%s.task.json", e->cfg->task_record_dir, t->task_id);
        if (cr_mkdirs(e->cfg->task_record_dir, &err) < 0 || write_file(path, text, 0644, &err) < 0)
            cr_warn(e->log, "task record: %s", cr_err_msg(&err));
        free(path);
    }
    free(text);
    json_decref(rec);
}

/* --- actions ---------------------------------------------------------------------- */

static void begin_prepare(exe_executor *e)
{
    cr_err err;

    e->app_dir = xasprintf("%s/app", e->cfg->sandbox);
    e->art_idx = 0;
    if (cr_mkdirs(e->app_dir, &err) < 0) {
        prepare_failed(e, err.detail);
        return;
    }
    prepare_next(e);
}

static void abort_prepare(exe_executor *e)
{
    if (e->download) {
        cr_http_cancel(e->download);
        e->download = NULL;
        dl_cleanup(e, true);
    }
    if (e->helper_pid > 0)
        kill(e->helper_pid, SIGKILL);
}

static void perform(exe_executor *e, const exe_sm_action *acts, int n)
{
    for (int i = 0; i < n; i++) {
        const exe_sm_action *a = &acts[i];
        switch (a->type) {
        case EXE_ACT_UPDATE:
            send_update(e, e->task->task_id, a->state, a->reason, a->message);
            break;
        case EXE_ACT_PREPARE:
            begin_prepare(e);
            break;
        case EXE_ACT_ABORT_PREPARE:
            abort_prepare(e);
            break;
        case EXE_ACT_START:
            start_task(e);
            break;
        case EXE_ACT_WATCH_SENTINEL:
            arm(e->sentinel_timer, 0);
            break;
        case EXE_ACT_SIGTERM:
            if (e->pid > 0 && !e->exited) {
                cr_info(e->log, "sending SIGTERM to process group %d", (int)e->pid);
                kill(-e->pid, SIGTERM);
            }
            break;
        case EXE_ACT_SIGKILL:
            if (e->pid > 0 && !e->exited) {
                cr_info(e->log, "grace period over: sending SIGKILL to process group %d",
                        (int)e->pid);
                kill(-e->pid, SIGKILL);
            }
            break;
        case EXE_ACT_ARM_KILL_TIMER:
            arm(e->kill_timer, a->ms);
            break;
        case EXE_ACT_CLEANUP:
            cleanup(e);
            break;
        case EXE_ACT_ARM_ACK_TIMER:
            arm(e->ack_timer, a->ms);
            break;
        case EXE_ACT_RESUBSCRIBE: {
            int64_t max = e->cfg->backoff_max_ms > 0 ? e->cfg->backoff_max_ms : 1;
            if (e->stream) {
                cr_http_cancel(e->stream);
                e->stream = NULL;
            }
            arm(e->resub_timer, rand() % (max + 1));
            break;
        }
        case EXE_ACT_ARM_RECOVERY_TIMER:
            arm(e->recovery_timer, a->ms);
            break;
        case EXE_ACT_CANCEL_RECOVERY_TIMER:
            evtimer_del(e->recovery_timer);
            break;
        case EXE_ACT_EXIT:
            e->exit_code = a->exit_code;
            if (e->pid > 0 && !e->exited)
                kill(-e->pid, SIGKILL);
            event_base_loopexit(e->base, NULL);
            break;
        }
    }
}

exe_executor *exe_executor_new(struct event_base *base, const exe_config *cfg, const cr_log *log,
                               cr_err *err)
{
    exe_executor *e = xcalloc(1, sizeof(*e));
    exe_sm_config sc = {.checkpoint = cfg->checkpoint,
                        .kill_grace_ms = cfg->default_kill_ms,
                        .recovery_timeout_ms = cfg->recovery_timeout_ms,
                        .ack_timeout_ms = cfg->ack_timeout_ms};

    e->base = base;
    e->cfg = cfg;
    e->log = log;
    e->dl_fd = -1;
    e->helper_errfd = -1;
    e->out.fd = e->err.fd = -1;
    exe_recordio_init(&e->rio, 0);
    exe_sm_init(&e->sm, &sc);
    e->http = cr_http_new(base, err);
    if (!e->http) {
        exe_executor_free(e);
        return NULL;
    }
    e->resub_timer = evtimer_new(base, on_resub_timer, e);
    e->recovery_timer = evtimer_new(base, on_recovery_timer, e);
    e->update_timer = evtimer_new(base, on_update_timer, e);
    e->kill_timer = evtimer_new(base, on_kill_timer, e);
    e->ack_timer = evtimer_new(base, on_ack_timer, e);
    e->sentinel_timer = evtimer_new(base, on_sentinel_timer, e);
    e->flush_timer = evtimer_new(base, on_flush_timer, e);
    e->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, e);
    evsignal_add(e->sigchld, NULL);
    srand((unsigned)(getpid() ^ cr_mono_ms()));
    e->first_attempt_ms = cr_mono_ms();
    subscribe(e);
    return e;
}

void exe_executor_shutdown(exe_executor *e)
{
    /* Leave a second of the agent's grace for cleanup and the last update. */
    exe_sm_event ev = {.type = EXE_EV_SHUTDOWN, .grace_ms = e->cfg->shutdown_grace_ms - 1000};

    if (ev.grace_ms < 0)
        ev.grace_ms = 0;

    cr_info(e->log, "asked to stop: shutting down");
    feed(e, &ev);
}

int exe_executor_exit_code(const exe_executor *e)
{
    return e->exit_code;
}

void exe_executor_free(exe_executor *e)
{
    if (!e)
        return;
    if (e->pid > 0 && !e->exited)
        kill(-e->pid, SIGKILL);
    if (e->helper_pid > 0)
        kill(e->helper_pid, SIGKILL);
    while (e->shells) {
        shell_run *s = e->shells;
        e->shells = s->next;
        kill(s->pid, SIGKILL);
        exe_shell_req_release(&s->req);
        free(s);
    }
    cr_http_free(e->http);
    dl_cleanup(e, false);
    if (e->helper_errfd >= 0)
        close(e->helper_errfd);
    for (pipe_in *p = &e->out; p; p = p == &e->out ? &e->err : NULL) {
        if (p->ev)
            event_free(p->ev);
        if (p->fd >= 0)
            close(p->fd);
    }
    exe_log_free(e->log_out);
    exe_log_free(e->log_err);
    struct event *evs[] = {e->resub_timer, e->recovery_timer, e->update_timer, e->kill_timer,
                           e->ack_timer,   e->sentinel_timer, e->flush_timer, e->sigchld};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    while (e->pending) {
        unacked *u = e->pending;
        e->pending = u->next;
        json_decref(u->status);
        free(u);
    }
    json_decref(e->taskinfo);
    exe_task_free(e->task);
    exe_recordio_release(&e->rio);
    free(e->host);
    free(e->rack);
    free(e->app_dir);
    free(e);
}
