/* Agents: per-agent HTTP endpoint (executor API, /files, /state), task and
 * executor processes in their own process groups with Mesos' sandbox layout
 * and environment, kill policies, and simulated tasks. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "mesoslite/ml_files.h"
#include "mesoslite/ml_internal.h"

#define ML_READ_CAP     65536 /* Mesos caps a read at 16 pages */
#define ML_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void agent_cb(struct evhttp_request *req, void *arg);

/* Signals a container's session leader and its process group. Until the
 * child has called setsid() the group does not exist yet and the child is
 * alone (it has neither forked nor exec'd): signal it alone then. */
static void kill_group(pid_t pid, int sig)
{
    if (killpg(pid, sig) < 0 && errno == ESRCH)
        kill(pid, sig);
}

int ml_agent_start(ml_agent *a, cr_err *err)
{
    ml_app *app = a->app;
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sin;
    socklen_t slen = sizeof(sin);
    int port = app->cfg.agent_port_base ? app->cfg.agent_port_base + a->index : 0;

    if (app->cfg.simulate) {
        a->port = app->cfg.agent_port_base ? port : 5051;
        return 0;
    }
    if (cr_mkdirs(a->dir, NULL))
        return cr_error(err, CR_EIO, "cannot create agent dir '%s': %s", a->dir, strerror(errno));
    a->http = evhttp_new(app->base);
    evhttp_set_default_content_type(a->http, NULL);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(a->http, agent_cb, a);
    bs = evhttp_bind_socket_with_handle(a->http, app->cfg.listen_host, (ev_uint16_t)port);
    if (!bs)
        return cr_error(err, CR_EIO, "agent %d: cannot listen on %s:%d: %s", a->index,
                        app->cfg.listen_host, port, strerror(errno));
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &slen) == 0)
        a->port = ntohs(sin.sin_port);
    cr_info(app->log, "agent %s (rack %s) on %s:%d", a->id, a->rack ? a->rack : "-",
            app->cfg.listen_host, a->port);
    return 0;
}

static void exec_free(ml_exec *e);
static void exec_exited(ml_exec *e, int status);
static void fetch_done(ml_exec *e, int status);
static json_t *exec_state(ml_exec *e);

void ml_agent_stop(ml_agent *a)
{
    ml_map_iter it;
    void *v;
    const char *k;

    /* SIGKILL every process group, then reap them so nothing is orphaned. */
    ml_map_iter_init(&it, a->execs);
    while (ml_map_next(&it, &k, &v)) {
        ml_exec *e = v;
        if (e->pid > 0) {
            char key[32];
            kill_group(e->pid, SIGKILL);
            kill(e->pid, SIGKILL);
            waitpid(e->pid, NULL, 0);
            ml_procs_remove(&a->app->procs, e->pid);
            snprintf(key, sizeof(key), "%d", (int)e->pid);
            ml_map_del(a->app->pids, key);
            e->pid = 0;
        }
        ml_map_del(a->execs, k);
        exec_free(e);
    }
    if (a->http) {
        evhttp_free(a->http);
        a->http = NULL;
    }
}

/* Our children other than the executors we know: the orphaned descendants
 * of tasks (mesoslite is their subreaper). Kills each with its group. */
static int kill_children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t me = getpid();
    int found = 0;

    while (d && (de = readdir(d))) {
        char path[64], buf[512];
        const char *rp;
        long pid = strtol(de->d_name, NULL, 10), ppid, pgrp;
        FILE *f;
        size_t n;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if (!(f = fopen(path, "r")))
            continue;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces or ')' */
        if (!(rp = strrchr(buf, ')')) || sscanf(rp + 1, " %*c %ld %ld", &ppid, &pgrp) != 2)
            continue;
        if (ppid != me)
            continue;
        if (pgrp > 1 && pgrp != getpgrp())
            killpg((pid_t)pgrp, SIGKILL);
        kill((pid_t)pid, SIGKILL);
        found++;
    }
    if (d)
        closedir(d);
    return found;
}

void ml_agents_reap_all(ml_app *app)
{
    struct timespec pause = {0, 10 * 1000 * 1000};

    if (app->cfg.simulate)
        return;
    /* Killing a child can orphan its own children onto us: repeat. */
    for (int round = 0; round < 100 && kill_children() > 0; round++) {
        nanosleep(&pause, NULL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

ml_exec *ml_agent_exec(ml_agent *a, const char *fw_id, const char *exec_id)
{
    char key[600];
    snprintf(key, sizeof(key), "%s\n%s", fw_id, exec_id);
    return ml_map_get(a->execs, key);
}

static void exec_free(ml_exec *e)
{
    ml_map_iter it;
    void *v;

    if (!e)
        return;
    ml_map_iter_init(&it, e->tasks);
    while (ml_map_next(&it, NULL, &v))
        ((ml_task *)v)->exec = NULL;
    ml_map_free(e->tasks);
    ml_map_free(e->uuids);
    if (e->stream)
        ml_stream_close(e->stream);
    if (e->kill_timer)
        event_free(e->kill_timer);
    if (e->reg_timer)
        event_free(e->reg_timer);
    if (e->shutdown_timer)
        event_free(e->shutdown_timer);
    json_decref(e->info);
    json_decref(e->run);
    json_decref(e->queued);
    ml_res_release(&e->res);
    free(e->key);
    free(e->id);
    free(e->container_id);
    free(e->dir);
    free(e);
}

void ml_agent_detach_task(ml_task *t)
{
    if (t->exec && ml_map_get(t->exec->tasks, t->id) == t)
        ml_map_del(t->exec->tasks, t->id);
    t->exec = NULL;
}

/* --- environment and spawning ---------------------------------------------- */

typedef struct envv {
    char **v;
    size_t n;
} envv;

static void env_set(envv *e, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *kv = xasprintf("%s=%s", name, value);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=') {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    }
    e->v = xrealloc(e->v, (e->n + 2) * sizeof(*e->v));
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static void env_free(envv *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
}

/* The environment a Mesos agent gives an executor (and the command executor
 * passes on to a command task), then the command's own variables. */
static void build_env(envv *env, ml_exec *e, const json_t *command)
{
    ml_app *app = e->agent->app;
    char buf[256];
    size_t i;
    json_t *var;
    const char *path = getenv("PATH");

    /* As a Mesos agent: its own environment is inherited unless
     * --executor-environment-variables replaces it. */
    if (app->exec_env) {
        const char *k;
        json_t *v;
        json_object_foreach(app->exec_env, k, v)
        {
            if (json_is_string(v))
                env_set(env, k, json_string_value(v));
        }
        path = json_string_value(json_object_get(app->exec_env, "PATH"));
    } else {
        for (char **ep = environ; *ep; ep++) {
            char *eq = strchr(*ep, '=');
            char *name;
            if (!eq || strncmp(*ep, "MESOS_", 6) == 0 || strncmp(*ep, "LIBPROCESS_", 11) == 0)
                continue;
            name = xstrndup(*ep, (size_t)(eq - *ep));
            env_set(env, name, eq + 1);
            free(name);
        }
    }
    env_set(env, "LIBPROCESS_IP", app->ip);
    env_set(env, "LIBPROCESS_PORT", "0");
    snprintf(buf, sizeof(buf), "%s:%d", app->ip, e->agent->port);
    env_set(env, "MESOS_AGENT_ENDPOINT", buf);
    if (e->command)
        env_set(env, "MESOS_ALLOCATION_ROLE", e->fw->role);
    env_set(env, "MESOS_CHECKPOINT", e->fw->checkpoint ? "1" : "0");
    env_set(env, "MESOS_DIRECTORY", e->dir);
    env_set(env, "MESOS_EXECUTOR_ID", e->id);
    ml_duration_str(e->shutdown_grace_ns, buf, sizeof(buf));
    env_set(env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", buf);
    env_set(env, "MESOS_FRAMEWORK_ID", e->fw->id);
    env_set(env, "MESOS_HTTP_COMMAND_EXECUTOR", "0");
    if (e->fw->checkpoint) {
        env_set(env, "MESOS_RECOVERY_TIMEOUT", "15mins");
        env_set(env, "MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs");
    }
    env_set(env, "MESOS_SANDBOX", e->dir);
    env_set(env, "MESOS_SLAVE_ID", e->agent->id);
    snprintf(buf, sizeof(buf), "slave(1)@%s:%d", app->ip, e->agent->port);
    env_set(env, "MESOS_SLAVE_PID", buf);
    env_set(env, "PATH", path && *path ? path : ML_DEFAULT_PATH);
    json_array_foreach(json_object_get(json_object_get(command, "environment"), "variables"), i,
                       var)
    {
        const char *n = json_string_value(json_object_get(var, "name"));
        const char *v = json_string_value(json_object_get(var, "value"));
        if (n && *n && !strchr(n, '='))
            env_set(env, n, v ? v : "");
    }
}

/* Forks `command` (CommandInfo) in dir as the leader of a new session and
 * process group, stdout/stderr into the sandbox files. Returns the pid or
 * -1. */
static pid_t spawn(const char *dir, const json_t *command, char **env)
{
    json_t *shell = json_object_get(command, "shell");
    const char *value = json_string_value(json_object_get(command, "value"));
    json_t *args = json_object_get(command, "arguments");
    char **argv;
    size_t n = json_array_size(args), i;
    char *out = xasprintf("%s/stdout", dir), *err = xasprintf("%s/stderr", dir);
    sigset_t all, old;
    pid_t pid, parent;

    if (!value)
        value = "";
    argv = xcalloc(n + 4, sizeof(*argv));
    if (!shell || json_is_true(shell)) {
        argv[0] = "sh";
        argv[1] = "-c";
        argv[2] = (char *)value;
    } else if (n == 0) {
        argv[0] = (char *)value;
    } else {
        for (i = 0; i < n; i++)
            argv[i] = (char *)(nz(json_string_value(json_array_get(args, i)), ""));
    }
    /* Signals stay blocked across fork until the child has dropped
     * libevent's handlers: a SIGTERM (an early KILL) caught by an inherited
     * handler would be written to the parent's signal socket and stop
     * mesoslite itself. */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    parent = getpid();
    pid = fork();
    if (pid == 0) {
        sigset_t none;
        int fd;
        /* A session of its own (as Mesos' launcher does): all the container
         * starts shares it, so a later mesoslite finds its leftovers
         * (ml_proc.h); the session leader also leads its process group. */
        setsid();
        /* If mesoslite is SIGKILLed, the leader goes too (its descendants
         * are found by the next mesoslite). Died before prctl: go now. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(137);
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir(dir) != 0)
            _exit(126);
        if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
            dup2(fd, 0);
            if (fd > 2)
                close(fd);
        }
        if ((fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
            dup2(fd, 1);
            if (fd > 2)
                close(fd);
        }
        if ((fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        close_range(3, ~0U, 0);
        if (!shell || json_is_true(shell)) {
            execve("/bin/sh", argv, env);
        } else {
            environ = env;
            execvp(value, argv);
        }
        dprintf(2, "mesoslite: cannot execute '%s': %s\n", value, strerror(errno));
        _exit(127);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(argv);
    free(out);
    free(err);
    return pid;
}

static ml_exec *exec_new(ml_agent *a, ml_fw *fw, const char *id, bool command)
{
    ml_exec *e = xcalloc(1, sizeof(*e));
    char cid[37];
    char *runs, *latest;

    ml_random_uuid(cid);
    e->id = xstrdup(id);
    e->key = xasprintf("%s\n%s", fw->id, id);
    e->container_id = xstrdup(cid);
    e->fw = fw;
    e->agent = a;
    e->command = command;
    e->tasks = ml_map_new();
    e->uuids = ml_map_new();
    e->queued = json_array();
    ml_res_init(&e->res);
    runs = xasprintf("%s/frameworks/%s/executors/%s/runs", a->dir, fw->id, id);
    e->dir = xasprintf("%s/%s", runs, cid);
    cr_mkdirs(e->dir, NULL);
    latest = xasprintf("%s/latest", runs);
    unlink(latest);
    if (symlink(cid, latest) != 0)
        cr_warn(a->app->log, "cannot link %s: %s", latest, strerror(errno));
    free(latest);
    free(runs);
    {
        ml_exec *old = ml_map_put(a->execs, e->key, e);
        if (old) /* a finished run with the same id: keep serving the new one */
            old->key[0] = '\0';
    }
    return e;
}

static void exec_start(ml_exec *e, const json_t *command)
{
    ml_app *app = e->agent->app;
    envv env = {NULL, 0};
    char key[32];

    build_env(&env, e, command);
    e->pid = spawn(e->dir, command, env.v);
    env_free(&env);
    if (e->pid > 0) {
        snprintf(key, sizeof(key), "%d", (int)e->pid);
        ml_map_put(app->pids, key, e);
        ml_procs_add(&app->procs, e->pid, e->dir);
    }
}

/* --- simulated tasks -------------------------------------------------------- */

static void sim_finish(ml_task *t, int code)
{
    char msg[64];
    if (ml_state_terminal(t->state))
        return;
    snprintf(msg, sizeof(msg), "Command exited with status %d", code);
    ml_task_update(t, code == 0 ? "TASK_FINISHED" : "TASK_FAILED", "SOURCE_EXECUTOR", NULL, msg);
}

static void sim_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_task *t = arg;
    const char *code = NULL;
    size_t i;
    json_t *var;
    json_array_foreach(
        json_object_get(json_object_get(json_object_get(t->info, "command"), "environment"),
                        "variables"),
        i, var)
    {
        if (strcmp(nz(json_string_value(json_object_get(var, "name")), ""), "ML_SIM_EXIT_CODE") ==
            0)
            code = json_string_value(json_object_get(var, "value"));
    }
    sim_finish(t, code ? atoi(code) : 0);
}

static void sim_launch(ml_task *t)
{
    ml_app *app = t->agent->app;
    json_t *cmd = json_object_get(t->info, "command");
    size_t i;
    json_t *var;

    if (!cmd)
        cmd = json_object_get(json_object_get(t->info, "executor"), "command");
    ml_task_update(t, "TASK_STARTING", "SOURCE_EXECUTOR", NULL, NULL);
    ml_task_update(t, "TASK_RUNNING", "SOURCE_EXECUTOR", NULL, NULL);
    json_array_foreach(json_object_get(json_object_get(cmd, "environment"), "variables"), i, var)
    {
        if (strcmp(nz(json_string_value(json_object_get(var, "name")), ""), "ML_SIM_RUN_SECONDS") ==
            0) {
            double s = strtod(nz(json_string_value(json_object_get(var, "value")), "0"), NULL);
            struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
            t->sim_timer = evtimer_new(app->base, sim_timer_cb, t);
            evtimer_add(t->sim_timer, &tv);
        }
    }
}

/* --- launching ------------------------------------------------------------- */

static void send_launch(ml_exec *e, ml_task *t)
{
    ml_stream_send(e->stream,
                   json_pack("{s:s, s:{s:O}}", "type", "LAUNCH", "launch", "task", t->info));
}

/* The Mesos fetcher, as a child process: every URI is copied (local paths,
 * file://) or downloaded (curl) into the sandbox, then made executable or
 * extracted. Arguments come in fours: uri executable extract output_file. */
static const char FETCH_SCRIPT[] =
    "set -e\n"
    "while [ $# -ge 4 ]; do\n"
    "  uri=$1; executable=$2; extract=$3; out=$4; shift 4\n"
    "  case $uri in\n"
    "    http://*|https://*|ftp://*|ftps://*) name=${uri%%\\?*}; name=${name##*/} ;;\n"
    "    file://*) src=${uri#file://}; name=${src##*/} ;;\n"
    "    *) src=$uri; name=${uri##*/} ;;\n"
    "  esac\n"
    "  dest=${out:-$name}\n"
    "  mkdir -p \"$(dirname \"$dest\")\"\n"
    "  echo \"mesoslite fetcher: '$uri' -> '$PWD/$dest'\" >&2\n"
    "  case $uri in\n"
    "    http://*|https://*|ftp://*|ftps://*) curl -sSfL -o \"$dest\" \"$uri\" ;;\n"
    "    *) cp \"$src\" \"$dest\" ;;\n"
    "  esac\n"
    "  if [ \"$executable\" = 1 ]; then chmod +x \"$dest\"\n"
    "  elif [ \"$extract\" = 1 ]; then\n"
    "    case $dest in\n"
    "      *.tar|*.tar.gz|*.tgz|*.tar.bz2|*.tbz2|*.tar.xz|*.txz) tar -xf \"$dest\" ;;\n"
    "      *.zip) unzip -oq \"$dest\" ;;\n"
    "      *.gz) gzip -dkf \"$dest\" ;;\n"
    "    esac\n"
    "  fi\n"
    "done\n";

static void start_fetch(ml_exec *e, const json_t *uris)
{
    json_t *cmd = json_pack("{s:b, s:s, s:[s, s, s]}", "shell", false, "value", "/bin/sh",
                            "arguments", "sh", "-c", FETCH_SCRIPT);
    json_t *args = json_object_get(cmd, "arguments");
    size_t i;
    json_t *u;

    json_array_append_new(args, json_string("mesoslite-fetcher"));
    json_array_foreach(uris, i, u)
    {
        json_t *ex = json_object_get(u, "extract");
        json_array_append_new(args,
                              json_string(nz(json_string_value(json_object_get(u, "value")), "")));
        json_array_append_new(
            args, json_string(json_is_true(json_object_get(u, "executable")) ? "1" : "0"));
        json_array_append_new(args, json_string(!ex || json_is_true(ex) ? "1" : "0"));
        json_array_append_new(
            args, json_string(nz(json_string_value(json_object_get(u, "output_file")), "")));
    }
    e->fetching = true;
    exec_start(e, cmd);
    json_decref(cmd);
}

static void reg_timeout_cb(evutil_socket_t fd, short what, void *arg);

/* Starts the executor's (or command task's) own process once fetching is
 * done; false if it could not be forked (its tasks have failed then). */
static bool run_exec(ml_exec *e)
{
    ml_app *app = e->agent->app;
    ml_map_iter it;
    void *v;

    exec_start(e, e->run);
    if (e->pid <= 0) {
        ml_map_iter_init(&it, e->tasks);
        while (ml_map_next(&it, NULL, &v))
            ml_task_update(v, "TASK_FAILED", "SOURCE_AGENT", "REASON_CONTAINER_LAUNCH_FAILED",
                           "Failed to fork the container's process");
        return false;
    }
    if (e->command) {
        ml_map_iter_init(&it, e->tasks);
        while (ml_map_next(&it, NULL, &v)) {
            cr_info(app->log, "task %s started as pid %d in %s", ((ml_task *)v)->id, (int)e->pid,
                    e->dir);
            ml_task_update(v, "TASK_STARTING", "SOURCE_EXECUTOR", NULL, NULL);
            ml_task_update(v, "TASK_RUNNING", "SOURCE_EXECUTOR", NULL, NULL);
        }
    } else {
        struct timeval tv;
        cr_info(app->log, "executor %s started as pid %d in %s", e->id, (int)e->pid, e->dir);
        e->reg_timer = evtimer_new(app->base, reg_timeout_cb, e);
        tv.tv_sec = (time_t)app->cfg.executor_registration_s;
        tv.tv_usec = (suseconds_t)((app->cfg.executor_registration_s - (double)tv.tv_sec) * 1e6);
        evtimer_add(e->reg_timer, &tv);
    }
    return true;
}

/* Fetches the command's URIs first when it has any, then runs it. */
static void begin_exec(ml_exec *e, const json_t *command)
{
    json_t *uris = json_object_get(command, "uris");
    e->run = json_deep_copy(command);
    json_object_del(e->run, "uris");
    if (json_array_size(uris)) {
        start_fetch(e, uris);
        if (e->pid > 0)
            return;
        e->fetching = false;
        fetch_done(e, 127 << 8); /* could not fork the fetcher */
        return;
    }
    if (!run_exec(e))
        exec_exited(e, 127 << 8); /* forget it: it never ran */
}

/* What a container asks for that mesoslite's agents cannot give (they run
 * plain processes in sandbox directories: no Docker, no image provisioner,
 * no filesystem or network isolators), as the failure message (in buf), or
 * NULL when it can run. */
static const char *container_unsupported(const json_t *c, char *buf, size_t n)
{
    const char *type;
    const json_t *img;

    if (!c)
        return NULL;
    type = json_string_value(json_object_get(c, "type"));
    img = json_object_get(json_object_get(c, "mesos"), "image");
    if (type && strcmp(type, "DOCKER") == 0) {
        snprintf(buf, n,
                 "Failed to launch container: mesoslite has no Docker containerizer (DOCKER "
                 "image '%s' cannot run)",
                 nz(json_string_value(json_object_get(json_object_get(c, "docker"), "image")), ""));
        return buf;
    }
    if (img) {
        const json_t *d = json_object_get(img, "docker"), *ap = json_object_get(img, "appc");
        snprintf(buf, n,
                 "Failed to launch container: mesoslite cannot provision container images "
                 "(%s image '%s')",
                 nz(json_string_value(json_object_get(img, "type")), "?"),
                 nz(json_string_value(json_object_get(d ? d : ap, "name")), ""));
        return buf;
    }
    if (json_array_size(json_object_get(c, "volumes")))
        return "Failed to launch container: mesoslite has no filesystem isolator for volumes";
    if (json_array_size(json_object_get(c, "network_infos")))
        return "Failed to launch container: mesoslite has no network isolator for network_infos";
    return NULL;
}

void ml_agent_launch(ml_agent *a, ml_task *t)
{
    ml_app *app = a->app;
    json_t *ex = json_object_get(t->info, "executor");
    ml_exec *e;
    char cbuf[512];
    /* A command task's container is the task's; with an executor the
     * ExecutorInfo's container is what the agent would build (TaskInfo's is
     * for the executor to interpret). */
    const char *cmsg = container_unsupported(
        json_object_get(ex ? ex : t->info, "container"), cbuf, sizeof(cbuf));

    if (cmsg) {
        cr_info(app->log, "task %s: %s", t->id, cmsg);
        ml_task_update(t, "TASK_FAILED", "SOURCE_AGENT", "REASON_CONTAINER_LAUNCH_FAILED", cmsg);
        return;
    }
    if (app->cfg.simulate) {
        sim_launch(t);
        return;
    }
    if (!ex) {
        e = exec_new(a, t->fw, t->id, true);
        e->shutdown_grace_ns = (int64_t)((app->cfg.executor_shutdown_grace_s - 1) * 1e9);
        if (e->shutdown_grace_ns <= 0)
            e->shutdown_grace_ns = (int64_t)(app->cfg.executor_shutdown_grace_s * 1e9);
        e->state = ML_EX_RUNNING;
        t->exec = e;
        ml_map_put(e->tasks, t->id, t);
        begin_exec(e, json_object_get(t->info, "command"));
        return;
    }
    e = ml_agent_exec(a, t->fw->id, ml_id_get(ex, "executor_id"));
    if (e && e->state == ML_EX_TERMINATING) {
        ml_task_update(t, t->fw->pa ? "TASK_DROPPED" : "TASK_LOST", "SOURCE_AGENT",
                       "REASON_EXECUTOR_TERMINATED", "Executor is terminating");
        return;
    }
    if (e) {
        t->exec = e;
        ml_map_put(e->tasks, t->id, t);
        if (e->state == ML_EX_RUNNING && e->stream)
            send_launch(e, t);
        else
            json_array_append_new(e->queued, json_string(t->id));
        return;
    }
    {
        json_t *sg = json_object_get(json_object_get(ex, "shutdown_grace_period"), "nanoseconds");
        e = exec_new(a, t->fw, ml_id_get(ex, "executor_id"), false);
        e->info = json_deep_copy(ex);
        e->shutdown_grace_ns = json_is_integer(sg)
                                   ? json_integer_value(sg)
                                   : (int64_t)(app->cfg.executor_shutdown_grace_s * 1e9);
        e->state = ML_EX_REGISTERING;
        t->exec = e;
        ml_map_put(e->tasks, t->id, t);
        json_array_append_new(e->queued, json_string(t->id));
        begin_exec(e, json_object_get(ex, "command"));
    }
}

/* --- killing ----------------------------------------------------------------- */

static void kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_exec *e = arg;
    if (e->pid > 0) {
        cr_info(e->agent->app->log, "executor %s: grace period over, SIGKILL to group %d", e->id,
                (int)e->pid);
        kill_group(e->pid, SIGKILL);
    }
}

/* SIGTERM to the group now, SIGKILL after grace_ms (a later, shorter grace
 * escalates). */
static void exec_signal(ml_exec *e, int64_t grace_ms)
{
    struct timeval tv;
    if (e->pid <= 0)
        return;
    if (!e->kill_timer)
        e->kill_timer = evtimer_new(e->agent->app->base, kill_timer_cb, e);
    else if (evtimer_pending(e->kill_timer, &tv)) {
        struct timeval now, left;
        event_base_gettimeofday_cached(e->agent->app->base, &now);
        evutil_timersub(&tv, &now, &left);
        if ((int64_t)left.tv_sec * 1000 + left.tv_usec / 1000 <= grace_ms)
            return;
    }
    kill_group(e->pid, SIGTERM);
    if (grace_ms <= 0) {
        kill_group(e->pid, SIGKILL);
        return;
    }
    tv.tv_sec = (time_t)(grace_ms / 1000);
    tv.tv_usec = (suseconds_t)((grace_ms % 1000) * 1000);
    evtimer_add(e->kill_timer, &tv);
}

void ml_agent_kill_task(ml_task *t, int64_t grace_ms)
{
    ml_exec *e = t->exec;
    bool live = !ml_state_terminal(t->state);

    if (!e) {
        if (live) { /* simulated */
            if (t->fw->killing_state && !t->kill_requested)
                ml_task_update(t, "TASK_KILLING", "SOURCE_EXECUTOR", NULL, NULL);
            t->kill_requested = true;
            ml_task_update(t, "TASK_KILLED", "SOURCE_EXECUTOR", NULL,
                           "Command terminated with signal Terminated");
        }
        return;
    }
    if (e->command) {
        if (grace_ms < 0)
            grace_ms = 3000; /* the command executor's default */
        if (live && !t->kill_requested && t->fw->killing_state)
            ml_task_update(t, "TASK_KILLING", "SOURCE_EXECUTOR", NULL, NULL);
        t->kill_requested = true;
        exec_signal(e, grace_ms);
        return;
    }
    /* Custom executor: not delivered yet means killed during launch. */
    {
        size_t i;
        json_t *q;
        json_array_foreach(e->queued, i, q)
        {
            if (strcmp(json_string_value(q), t->id) == 0) {
                json_array_remove(e->queued, i);
                if (live)
                    ml_task_update(t, "TASK_KILLED", "SOURCE_AGENT",
                                   "REASON_TASK_KILLED_DURING_LAUNCH",
                                   "Killed before delivery to the executor");
                return;
            }
        }
    }
    if (!live)
        return;
    t->kill_requested = true;
    {
        json_t *ev = json_pack("{s:s, s:{s:o}}", "type", "KILL", "kill", "task_id", ml_id(t->id));
        if (grace_ms >= 0)
            json_object_set_new(json_object_get(ev, "kill"), "kill_policy",
                                json_pack("{s:{s:I}}", "grace_period", "nanoseconds",
                                          (json_int_t)(grace_ms * 1000000)));
        ml_stream_send(e->stream, ev);
    }
}

static void shutdown_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_exec *e = arg;
    if (e->pid > 0) {
        cr_info(e->agent->app->log, "executor %s: shutdown grace period over, destroying it",
                e->id);
        kill_group(e->pid, SIGKILL);
    }
}

void ml_agent_shutdown_exec(ml_exec *e)
{
    struct timeval tv;
    if (e->state == ML_EX_TERMINATING || e->pid <= 0)
        return;
    if (e->command) {
        e->state = ML_EX_TERMINATING;
        exec_signal(e, 3000);
        return;
    }
    e->state = ML_EX_TERMINATING;
    if (!e->stream) {
        kill_group(e->pid, SIGKILL);
        return;
    }
    ml_stream_send(e->stream, json_pack("{s:s}", "type", "SHUTDOWN"));
    e->shutdown_timer = evtimer_new(e->agent->app->base, shutdown_timer_cb, e);
    tv.tv_sec = (time_t)(e->shutdown_grace_ns / 1000000000);
    tv.tv_usec = (suseconds_t)((e->shutdown_grace_ns % 1000000000) / 1000);
    evtimer_add(e->shutdown_timer, &tv);
}

static void reg_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    ml_exec *e = arg;
    ml_map_iter it;
    void *v;
    if (e->state != ML_EX_REGISTERING)
        return;
    cr_warn(e->agent->app->log, "executor %s did not subscribe in time; destroying it", e->id);
    ml_map_iter_init(&it, e->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        if (!ml_state_terminal(t->state))
            ml_task_update(t, "TASK_FAILED", "SOURCE_AGENT", "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
                           "Executor did not register within the timeout");
    }
    e->state = ML_EX_TERMINATING;
    kill_group(e->pid, SIGKILL);
}

void ml_agent_message(ml_exec *e, const char *data_b64)
{
    ml_stream_send(e->stream,
                   json_pack("{s:s, s:{s:s}}", "type", "MESSAGE", "message", "data", data_b64));
}

void ml_agent_force_exit(ml_task *t, int code)
{
    if (ml_state_terminal(t->state))
        return;
    if (!t->exec) {
        sim_finish(t, code);
        return;
    }
    t->forced_exit = code;
    if (t->exec->pid > 0)
        kill_group(t->exec->pid, SIGKILL);
}

/* --- reaping ----------------------------------------------------------------- */

static void exec_exited(ml_exec *e, int status)
{
    ml_map_iter it;
    void *v;
    char msg[128];

    if (e->kill_timer)
        evtimer_del(e->kill_timer);
    if (e->shutdown_timer)
        evtimer_del(e->shutdown_timer);
    if (e->reg_timer)
        evtimer_del(e->reg_timer);
    ml_map_iter_init(&it, e->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        if (ml_state_terminal(t->state))
            continue;
        if (e->command) {
            const char *state;
            if (t->forced_exit >= 0) {
                snprintf(msg, sizeof(msg), "Command exited with status %d", t->forced_exit);
                state = t->forced_exit == 0 ? "TASK_FINISHED" : "TASK_FAILED";
            } else if (WIFEXITED(status)) {
                snprintf(msg, sizeof(msg), "Command exited with status %d", WEXITSTATUS(status));
                state = t->kill_requested          ? "TASK_KILLED"
                        : WEXITSTATUS(status) == 0 ? "TASK_FINISHED"
                                                   : "TASK_FAILED";
            } else {
                int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
                snprintf(msg, sizeof(msg), "Command terminated with signal %s", strsignal(sig));
                state = t->kill_requested ? "TASK_KILLED" : "TASK_FAILED";
            }
            ml_task_update(t, state, "SOURCE_EXECUTOR", NULL, msg);
        } else {
            ml_task_update(t, "TASK_FAILED", "SOURCE_AGENT", "REASON_EXECUTOR_TERMINATED",
                           "Executor terminated");
        }
    }
    e->pid = 0;
    if (!e->command) {
        ml_fw_send(e->fw, ml_ev_failure(e->agent->id, e->id, status));
        ml_res_sub(&e->agent->used, &e->res); /* offered at the next batch */
    }
    if (e->key[0] && ml_map_get(e->agent->execs, e->key) == e)
        ml_map_del(e->agent->execs, e->key);
    {
        json_t *done = exec_state(e);
        json_object_set(done, "completed_tasks", json_object_get(done, "tasks"));
        json_object_set_new(done, "tasks", json_array());
        json_array_append_new(e->agent->completed_execs, done);
        if (json_array_size(e->agent->completed_execs) > 1000)
            json_array_remove(e->agent->completed_execs, 0);
    }
    exec_free(e);
}

/* The fetcher exited: run the container, or fail its tasks as Mesos does
 * when fetching fails (or the task was killed meanwhile). */
static void fetch_done(ml_exec *e, int status)
{
    ml_map_iter it;
    void *v;
    char msg[256];
    bool killed = false;

    e->fetching = false;
    e->pid = 0;
    if (e->kill_timer)
        evtimer_del(e->kill_timer);
    ml_map_iter_init(&it, e->tasks);
    while (ml_map_next(&it, NULL, &v))
        killed = killed || ((ml_task *)v)->kill_requested;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !killed && e->state != ML_EX_TERMINATING &&
        run_exec(e))
        return;
    snprintf(msg, sizeof(msg), "Failed to fetch all URIs for container '%s': exited with status %d",
             e->container_id, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    ml_map_iter_init(&it, e->tasks);
    while (ml_map_next(&it, NULL, &v)) {
        ml_task *t = v;
        if (ml_state_terminal(t->state))
            continue;
        if (t->kill_requested)
            ml_task_update(t, "TASK_KILLED", "SOURCE_AGENT", "REASON_TASK_KILLED_DURING_LAUNCH",
                           "Killed while fetching");
        else
            ml_task_update(t, "TASK_FAILED", "SOURCE_AGENT", "REASON_CONTAINER_LAUNCH_FAILED", msg);
    }
    exec_exited(e, status);
}

void ml_sigchld(evutil_socket_t sig, short what, void *arg)
{
    ml_app *app = arg;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char key[32];
        ml_exec *e;
        snprintf(key, sizeof(key), "%d", (int)pid);
        e = ml_map_del(app->pids, key);
        if (!e)
            continue;
        killpg(pid, SIGKILL); /* leftovers of the group: a container dies whole */
        ml_procs_remove(&app->procs, pid);
        if (e->fetching) {
            fetch_done(e, status);
            continue;
        }
        cr_info(app->log, "executor %s (pid %d) exited with status %d", e->id, (int)pid, status);
        exec_exited(e, status);
    }
}

/* --- executor API -------------------------------------------------------------- */

static void exec_stream_gone(ml_stream *s)
{
    ml_exec *e = s->owner;
    e->stream = NULL;
    cr_info(e->agent->app->log, "executor %s disconnected", e->id);
}

static const char *check_update(ml_exec *e, json_t *st, char *buf, size_t n);
static void executor_update(ml_exec *e, const json_t *status);

static void executor_subscribe(ml_exec *e, struct evhttp_request *req, const json_t *sub)
{
    ml_app *app = e->agent->app;
    json_t *queued = e->queued;
    size_t i;
    json_t *q;

    if (e->stream) {
        ml_stream *old = e->stream;
        e->stream = NULL;
        ml_stream_close(old);
    }
    e->stream = ml_stream_open(app, req, NULL, exec_stream_gone, e);
    if (e->state == ML_EX_TERMINATING) {
        ml_stream_send(e->stream, json_pack("{s:s}", "type", "SHUTDOWN"));
        return;
    }
    ml_stream_send(e->stream,
                   json_pack("{s:s, s:{s:O, s:O, s:o, s:o}}", "type", "SUBSCRIBED", "subscribed",
                             "executor_info", e->info, "framework_info", e->fw->info, "agent_info",
                             ml_agent_info(e->agent), "container_id", ml_id(e->container_id)));
    e->state = ML_EX_RUNNING;
    if (e->reg_timer)
        evtimer_del(e->reg_timer);
    e->queued = json_array();
    json_array_foreach(queued, i, q)
    {
        ml_task *t = ml_map_get(e->tasks, json_string_value(q));
        if (t && !ml_state_terminal(t->state))
            send_launch(e, t);
    }
    json_decref(queued);
    /* Updates the executor sent but never saw acknowledged: take the ones
     * not seen yet (a lost POST), acknowledge all. */
    json_array_foreach(json_object_get(sub, "unacknowledged_updates"), i, q)
    {
        json_t *st = json_object_get(q, "status");
        char buf[512];
        if (json_is_object(st) && !check_update(e, st, buf, sizeof(buf)))
            executor_update(e, st);
    }
}

static const char *check_update(ml_exec *e, json_t *st, char *buf, size_t n)
{
    const char *uuid = json_string_value(json_object_get(st, "uuid"));
    const char *src = json_string_value(json_object_get(st, "source"));
    const char *state = json_string_value(json_object_get(st, "state"));
    const char *eid = ml_id_get(st, "executor_id");

    if (!ml_id_get(st, "task_id") || !state)
        return "Failed to convert JSON into Call protobuf: Missing required fields: "
               "update.status.task_id, update.status.state";
    if (!uuid)
        return "Failed to validate executor::Call: Expecting 'uuid' to be present";
    if (!ml_uuid_b64_valid(uuid))
        return "Failed to validate executor::Call: Not a valid UUID";
    if (!src || strcmp(src, "SOURCE_EXECUTOR") != 0) {
        snprintf(buf, n,
                 "Failed to validate executor::Call: Received Call from executor with invalid "
                 "source, expecting 'SOURCE_EXECUTOR', got '%s'",
                 src ? src : "SOURCE_MASTER");
        return buf;
    }
    if (strcmp(state, "TASK_STAGING") == 0)
        return "Failed to validate executor::Call: Received TASK_STAGING from executor";
    if (eid && strcmp(eid, e->id) != 0) {
        snprintf(buf, n,
                 "Failed to validate executor::Call: ExecutorID in Call: %s does not match "
                 "ExecutorID in TaskStatus: %s",
                 e->id, eid);
        return buf;
    }
    return NULL;
}

/* A valid executor UPDATE: acknowledged to the executor at once (the agent
 * "checkpoints" it), then forwarded unless its uuid was seen before. */
static void executor_update(ml_exec *e, const json_t *status)
{
    ml_app *app = e->agent->app;
    const char *uuid = json_string_value(json_object_get(status, "uuid"));
    ml_task *t = ml_map_get(e->tasks, ml_id_get(status, "task_id"));
    json_t *st;

    ml_stream_send(e->stream,
                   json_pack("{s:s, s:{s:o, s:s}}", "type", "ACKNOWLEDGED", "acknowledged",
                             "task_id", ml_id(ml_id_get(status, "task_id")), "uuid", uuid));
    if (ml_map_get(e->uuids, uuid))
        return; /* a replay of one we already have */
    ml_map_put(e->uuids, uuid, e);
    if (!t || ml_state_terminal(t->state)) {
        cr_warn(app->log, "executor %s: update for unknown or finished task %s dropped", e->id,
                ml_id_get(status, "task_id"));
        return;
    }
    st = json_deep_copy(status);
    json_object_set_new(st, "agent_id", ml_id(e->agent->id));
    if (!json_object_get(st, "executor_id"))
        json_object_set_new(st, "executor_id", ml_id(e->id));
    if (!json_is_number(json_object_get(st, "timestamp")))
        json_object_set_new(st, "timestamp", json_real(ml_now()));
    if (!json_object_get(st, "container_status"))
        json_object_set_new(st, "container_status",
                            json_pack("{s:o, s:[{s:[{s:s, s:s}]}], s:i}", "container_id",
                                      ml_id(e->container_id), "network_infos", "ip_addresses",
                                      "protocol", "IPv4", "ip_address", app->ip, "executor_pid",
                                      (int)e->pid));
    ml_task_update_json(t, st);
}

static void handle_executor(ml_agent *a, struct evhttp_request *req)
{
    ml_app *app = a->app;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    size_t len;
    char *body = ml_req_body(req, &len);
    ml_check chk;
    ml_fw *fw;
    ml_exec *e;
    char buf[512];

    ml_check_call(ML_API_EXECUTOR, evhttp_request_get_command(req) == EVHTTP_REQ_POST,
                  ml_method_name(req), evhttp_find_header(in, "Content-Type"), body, len, &chk);
    free(body);
    if (chk.status) {
        ml_reply_text(req, chk.status, chk.body);
        return;
    }
    if (strcmp(chk.type, "HEARTBEAT") == 0) {
        ml_reply(req, 202, NULL, NULL, 0);
        goto out;
    }
    fw = ml_map_get(app->frameworks, ml_id_get(chk.call, "framework_id"));
    if (!fw) {
        ml_reply_text(req, 400, "Framework cannot be found");
        goto out;
    }
    e = ml_agent_exec(a, fw->id, ml_id_get(chk.call, "executor_id"));
    if (!e || e->command) {
        ml_reply_text(req, 400, "Executor cannot be found");
        goto out;
    }
    if (strcmp(chk.type, "SUBSCRIBE") == 0) {
        const char *acc = evhttp_find_header(in, "Accept");
        if (acc && !strstr(acc, "application/json") && !strstr(acc, "*/*")) {
            ml_reply_text(
                req, 406,
                "Expecting 'Accept' to allow 'application/json' or 'application/x-protobuf'");
            goto out;
        }
        executor_subscribe(e, req, json_object_get(chk.call, "subscribe"));
        goto out;
    }
    if (e->state == ML_EX_REGISTERING) {
        ml_reply_text(req, 403, "Executor is not subscribed");
        goto out;
    }
    if (strcmp(chk.type, "UPDATE") == 0) {
        json_t *st = json_object_get(json_object_get(chk.call, "update"), "status");
        const char *bad = check_update(e, st, buf, sizeof(buf));
        if (bad) {
            ml_reply_text(req, 400, bad);
            goto out;
        }
        ml_reply(req, 202, NULL, NULL, 0);
        executor_update(e, st);
        goto out;
    }
    if (strcmp(chk.type, "MESSAGE") == 0) {
        const char *data =
            json_string_value(json_object_get(json_object_get(chk.call, "message"), "data"));
        ml_reply(req, 202, NULL, NULL, 0);
        if (data)
            ml_fw_send(fw, ml_ev_message(a->id, e->id, data));
        goto out;
    }
    ml_reply(req, 202, NULL, NULL, 0);
out:
    json_decref(chk.call);
}

/* --- /files -------------------------------------------------------------------- */

static void mode_string(mode_t m, char out[11])
{
    out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[i + 1] = (m & (1 << (8 - i))) ? rwx[i] : '-';
    out[10] = '\0';
}

static json_t *file_info(const char *path, const struct stat *st)
{
    char mode[11], ub[32], gb[32];
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);
    snprintf(ub, sizeof(ub), "%u", (unsigned)st->st_uid);
    snprintf(gb, sizeof(gb), "%u", (unsigned)st->st_gid);
    mode_string(st->st_mode, mode);
    return json_pack("{s:s, s:s, s:f, s:I, s:s, s:I, s:s}", "gid", gr ? gr->gr_name : gb, "mode",
                     mode, "mtime", (double)st->st_mtime, "nlink", (json_int_t)st->st_nlink, "path",
                     path, "size", (json_int_t)st->st_size, "uid", pw ? pw->pw_name : ub);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Answers a refused or failed /files open: 404 with an empty body (as a
 * Mesos agent does for a path it has not attached) for anything not found
 * or outside the sandbox, so the answer says nothing about what lies
 * outside; 400 for a directory or a special file where a file was wanted. */
static void files_refuse(struct evhttp_request *req, int err, const char *what)
{
    char msg[64];

    if (err == EISDIR || err == EINVAL) {
        snprintf(msg, sizeof(msg), "Cannot %s a %s", what,
                 err == EISDIR ? "directory" : "special file");
        ml_reply_text(req, 400, msg);
        return;
    }
    ml_reply(req, 404, NULL, NULL, 0);
}

static void files_browse(ml_agent *a, struct evhttp_request *req, const char *path)
{
    struct stat st;
    int fd = ml_files_open(a->dir, path, ML_FILES_DIR, &st, NULL, 0);
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    json_t *arr;

    if (fd < 0) {
        files_refuse(req, errno, "browse");
        return;
    }
    if (!(d = fdopendir(fd))) {
        close(fd);
        ml_reply(req, 404, NULL, NULL, 0);
        return;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        names = xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = xstrdup(de->d_name);
    }
    if (n > 1) /* an empty directory has no array to sort (qsort wants one) */
        qsort(names, n, sizeof(*names), cmp_str);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char *shown = xasprintf("%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
        /* The entry itself: a link is listed as a link, never followed. */
        if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
            json_array_append_new(arr, file_info(shown, &st));
        free(shown);
        free(names[i]);
    }
    closedir(d);
    free(names);
    ml_reply_json(req, 200, arr);
}

/* Bytes as a JSON string: invalid UTF-8 becomes U+FFFD; an incomplete
 * sequence at the end is left for the next read (*used says how many bytes
 * were taken). */
static json_t *utf8_string(const char *p, size_t n, bool trim_tail, size_t *used)
{
    cr_buf b = CR_BUF_INIT;
    size_t i = 0;
    json_t *s;

    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0;
        if (len > 1 && i + len > n) {
            if (trim_tail)
                break;
            ok = false;
        }
        for (size_t k = 1; ok && k < len; k++)
            if (((unsigned char)p[i + k] >> 6) != 2)
                ok = false;
        if (ok) {
            cr_buf_add(&b, p + i, len);
            i += len;
        } else {
            cr_buf_adds(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    *used = i;
    s = json_stringn(b.data ? b.data : "", b.len);
    if (!s) /* e.g. overlong encodings jansson rejects */
        s = json_string("");
    cr_buf_release(&b);
    return s;
}

static void files_read(ml_agent *a, struct evhttp_request *req, const char *path)
{
    char *off_s = ml_req_query(req, "offset"), *len_s = ml_req_query(req, "length");
    long long off = off_s ? strtoll(off_s, NULL, 10) : 0;
    long long want = len_s ? strtoll(len_s, NULL, 10) : -1;
    struct stat st;
    int fd;

    free(off_s);
    free(len_s);
    fd = ml_files_open(a->dir, path, ML_FILES_FILE, &st, NULL, 0);
    if (fd < 0) {
        files_refuse(req, errno, "read");
        return;
    }
    if (off == -1) {
        close(fd);
        ml_reply_json(req, 200,
                      json_pack("{s:s, s:I}", "data", "", "offset", (json_int_t)st.st_size));
        return;
    }
    if (off < 0) {
        close(fd);
        ml_reply_text(req, 400, "Negative offset provided");
        return;
    }
    {
        size_t cap = (want < 0 || want > ML_READ_CAP) ? ML_READ_CAP : (size_t)want;
        char *buf = xmalloc(cap + 1);
        ssize_t got = pread(fd, buf, cap, (off_t)off);
        size_t used;
        json_t *data;
        close(fd);
        if (got < 0)
            got = 0;
        data = utf8_string(buf, (size_t)got, true, &used);
        free(buf);
        ml_reply_json(req, 200, json_pack("{s:o, s:I}", "data", data, "offset", (json_int_t)off));
    }
}

static void files_download(ml_agent *a, struct evhttp_request *req, const char *path)
{
    char leaf[NAME_MAX + 1], disp[NAME_MAX + 32];
    struct stat st;
    int fd = ml_files_open(a->dir, path, ML_FILES_FILE, &st, leaf, sizeof(leaf));
    struct evbuffer *b;

    if (fd < 0) {
        files_refuse(req, errno, "download");
        return;
    }
    snprintf(disp, sizeof(disp), "attachment; filename=%s", leaf);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/octet-stream");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition", disp);
    b = evbuffer_new();
    if (st.st_size > 0)
        evbuffer_add_file(b, fd, 0, st.st_size);
    else
        close(fd);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* --- agent /state --------------------------------------------------------------- */

static json_t *state_fw(json_t *fws, ml_fw *f)
{
    json_t *fw = json_object_get(fws, f->id);
    if (!fw) {
        fw = json_pack("{s:s, s:s, s:s, s:[], s:[]}", "id", f->id, "name",
                       nz(json_string_value(json_object_get(f->info, "name")), ""), "role", f->role,
                       "executors", "completed_executors");
        json_object_set_new(fws, f->id, fw);
    }
    return fw;
}

/* An executor as the agent's /state shows it (with its sandbox directory). */
static json_t *exec_state(ml_exec *e)
{
    json_t *tasks = json_array();
    ml_map_iter ti;
    void *tv;

    ml_map_iter_init(&ti, e->tasks);
    while (ml_map_next(&ti, NULL, &tv)) {
        ml_task *t = tv;
        json_array_append_new(tasks, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", t->id,
                                               "name", t->name, "framework_id", e->fw->id,
                                               "executor_id", e->command ? "" : e->id, "state",
                                               t->state, "resources", ml_res_to_summary(&t->res)));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:[], s:[]}", "id", e->id, "name",
                     e->command ? "Command Executor" : e->id, "framework_id", e->fw->id, "source",
                     e->id, "container", e->container_id, "directory", e->dir, "resources",
                     ml_res_to_summary(&e->res), "tasks", tasks, "queued_tasks", "completed_tasks");
}

static json_t *agent_state(ml_agent *a)
{
    ml_app *app = a->app;
    json_t *fws = json_object();
    json_t *frameworks = json_array();
    json_t *attrs = json_object();
    ml_map_iter it;
    void *v;
    char pid[128];
    size_t i;
    json_t *at;

    ml_map_iter_init(&it, a->execs);
    while (ml_map_next(&it, NULL, &v)) {
        ml_exec *e = v;
        json_array_append_new(json_object_get(state_fw(fws, e->fw), "executors"), exec_state(e));
    }
    json_array_foreach(a->completed_execs, i, at)
    {
        ml_fw *fw = ml_map_get(app->frameworks,
                               nz(json_string_value(json_object_get(at, "framework_id")), ""));
        if (fw)
            json_array_append(json_object_get(state_fw(fws, fw), "completed_executors"), at);
    }
    {
        const char *k;
        json_object_foreach(fws, k, v)
        {
            json_array_append((json_t *)frameworks, (json_t *)v);
        }
    }
    json_decref(fws);
    json_array_foreach(a->attributes, i, at)
    {
        json_t *tv = json_object_get(json_object_get(at, "text"), "value");
        json_t *sv = json_object_get(json_object_get(at, "scalar"), "value");
        json_object_set(attrs, json_string_value(json_object_get(at, "name")), tv ? tv : sv);
    }
    snprintf(pid, sizeof(pid), "slave(1)@%s:%d", app->ip, a->port);
    return json_pack(
        "{s:o, s:s, s:s, s:s, s:[], s:[], s:{s:s}, s:o, s:s, s:s, s:s, s:s, s:s, s:{}, s:{}, s:{}, "
        "s:[], s:o, s:f, s:o, s:o, s:o, s:s}",
        "attributes", attrs, "build_date", "", "build_time", "0", "build_user", "mesoslite",
        "capabilities", "completed_frameworks", "flags", "work_dir",
        app->cfg.work_dir ? app->cfg.work_dir : "", "frameworks", frameworks, "hostname",
        a->hostname, "id", a->id, "log_dir", "", "master_hostname", app->cfg.hostname, "pid", pid,
        "reserved_resources", "reserved_resources_allocated", "reserved_resources_full",
        "resource_providers", "resources", ml_res_to_summary(&a->total), "start_time",
        app->start_time, "unreserved_resources", ml_res_to_summary(&a->total),
        "unreserved_resources_allocated", ml_res_to_summary(&a->used), "unreserved_resources_full",
        ml_res_to_json(&a->total, "*", NULL), "version", ML_VERSION);
}

static void agent_cb(struct evhttp_request *req, void *arg)
{
    ml_agent *a = arg;
    char *path = ml_req_path(req);

    if (strcmp(path, "/api/v1/executor") == 0 || strcmp(path, "/slave(1)/api/v1/executor") == 0) {
        handle_executor(a, req);
    } else if (strncmp(path, "/files/", 7) == 0) {
        char *p = ml_req_query(req, "path");
        const char *what = path + 7;
        if (!p)
            ml_reply_text(req, 400, "Expecting 'path=value' in query.");
        else if (strcmp(what, "browse") == 0 || strcmp(what, "browse.json") == 0)
            files_browse(a, req, p);
        else if (strcmp(what, "read") == 0 || strcmp(what, "read.json") == 0)
            files_read(a, req, p);
        else if (strcmp(what, "download") == 0 || strcmp(what, "download.json") == 0)
            files_download(a, req, p);
        else
            ml_reply(req, 404, NULL, NULL, 0);
        free(p);
    } else if (strcmp(path, "/state") == 0 || strcmp(path, "/slave(1)/state") == 0 ||
               strcmp(path, "/state.json") == 0 || strcmp(path, "/slave(1)/state.json") == 0) {
        ml_reply_json(req, 200, agent_state(a));
    } else if (strcmp(path, "/health") == 0) {
        ml_reply(req, 200, NULL, NULL, 0);
    } else {
        ml_reply(req, 404, NULL, NULL, 0);
    }
    free(path);
}
