/* cr_offload: see offload.h. A thread per job and a pipe back to the loop:
 * jobs are rare and long (hundreds of ms), so neither a pool nor
 * libevent's cross-thread notification is worth its setup. */
#include "base/offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/xalloc.h"

struct cr_offload {
    pthread_t thread;
    int fds[2]; /* the thread writes one byte to fds[1] when work returned */
    struct event *ev;
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
};

static void *run(void *p)
{
    cr_offload *j = p;
    char one = 1;

    j->work(j->arg);
    while (write(j->fds[1], &one, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void job_free(cr_offload *j)
{
    pthread_join(j->thread, NULL);
    event_free(j->ev);
    close(j->fds[0]);
    close(j->fds[1]);
    free(j);
}

static void on_ready(evutil_socket_t fd, short what, void *p)
{
    cr_offload *j = p;
    void (*done)(void *) = j->done;
    void *arg = j->arg;

    job_free(j); /* the work has returned: the join is immediate */
    done(arg);
}

cr_offload *cr_offload_start(struct event_base *base, void (*work)(void *arg),
                             void (*done)(void *arg), void *arg, cr_err *err)
{
    cr_offload *j = xcalloc(1, sizeof(*j));
    int rc;

    if (pipe(j->fds) < 0) {
        cr_error(err, CR_EIO, "offload: pipe: %s", strerror(errno));
        free(j);
        return NULL;
    }
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->ev = event_new(base, j->fds[0], EV_READ, on_ready, j);
    event_add(j->ev, NULL);
    if ((rc = pthread_create(&j->thread, NULL, run, j)) != 0) {
        cr_error(err, CR_EIO, "offload: thread: %s", strerror(rc));
        event_free(j->ev);
        close(j->fds[0]);
        close(j->fds[1]);
        free(j);
        return NULL;
    }
    return j;
}

void cr_offload_cancel(cr_offload *j)
{
    if (j)
        job_free(j);
}
