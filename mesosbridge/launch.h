/* Building a launch: from a request, its deploy, a pending task and the
 * offer placement chose, the task record (apis/task.h) whose `mesosTask` is
 * the TaskInfo to send. Pure (time passed in), unit-tested.
 *
 * Environment (reference sheet 4.1), later entries win: deploy `env` <
 * deploy `taskEnv[instanceNo]` < pending `envOverrides` < Corral's own:
 * INSTANCE_NO, TASK_HOST, TASK_RACK_ID, AVAILABILITY_ZONE, TASK_REQUEST_ID,
 * TASK_DEPLOY_ID, TASK_ID, ESTIMATED_INSTANCE_COUNT, PORT and PORT0..n,
 * DEPLOY_CPUS/DEPLOY_MEM when the pending task overrides resources, and
 * STARTED_BY_USER last.
 *
 * Command: the deploy's command; with `arguments` (or shell false) it runs
 * without a shell, argv = command, arguments..., and the pending task's
 * cmdLineArgsList is appended. Otherwise cmdLineArgsList is appended to the
 * shell command line, each argument single-quoted.
 * Custom executor (deploy customExecutorCmd): an ExecutorInfo running it
 * (executor id customExecutorId, else the task id) with the environment and
 * URIs; TaskInfo.data is the deploy's executorData JSON (or {"cmd": command})
 * with the task's extra arguments appended to extraCmdLineArgs.
 * Container (deploy containerInfo): TaskInfo.container from
 * mesosbridge/container.h, for command and custom-executor tasks alike
 * (Singularity's practice). A DOCKER deploy runs without a shell unless it
 * sets shell true: value = command (absent: the image's entrypoint),
 * arguments = deploy arguments then cmdLineArgsList; so does a MESOS image
 * without a command. With a command, a MESOS container runs it as above.
 * Kill policy: executorData.sigKillProcessesAfterMillis when set. */
#ifndef MB_LAUNCH_H
#define MB_LAUNCH_H

#include "apis/deploy.h"
#include "apis/request.h"
#include "apis/task.h"
#include "mesosbridge/placement.h"

/* Default resources of a custom executor (Singularity's defaults). */
#define MB_EXECUTOR_CPUS 0.1
#define MB_EXECUTOR_MEM  32.0

typedef struct mb_launch_in {
    const api_request *req;
    const api_deploy *dep;
    const api_pending_task *pend;
    const mb_offer *offer;
    const char *rack_id;
    const char *framework_id;      /* may be NULL */
    const mb_place_result *placed; /* ports, resources, exec_resources */
    int64_t now_ms;                /* wall clock: startedAt of the task id */
    const char *executor_path;     /* replaces customExecutorCmd when set */
} mb_launch_in;

/* Returns the new task record in state TASK_LAUNCHED (caller frees with
 * api_task_free), or NULL with err set when no valid task id can be made. */
api_task *mb_build_launch(const mb_launch_in *in, cr_err *err);

/* Fills a placement task from the request, deploy and pending task (the
 * pending task's resource and attribute overrides win). Pointers in *out
 * borrow from the arguments. */
void mb_place_task_from(const api_request *req, const api_deploy *dep, const api_pending_task *pend,
                        mb_place_task *out);

#endif
