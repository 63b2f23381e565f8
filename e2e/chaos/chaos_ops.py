"""Operations of the chaos tester: a seeded generator and the documents they
write.

The sequence is a pure function of the seed: the generator draws from
random.Random(seed) and keeps its own model of what it asked for (which
requests it created, how many instances, which deploy ids it used); it never
looks at the cluster's answers. Targets that only exist at run time (which
task to kill, which replica leads) are written as selectors (a request id and
a number in [0, 1), "the leader") that the runner resolves when it executes
the step. So a recorded list of operations can be replayed (shrinking,
regression tests) and a seed always yields the same list.

An operation is a JSON object: {"i": step number, "op": name, ...arguments,
"wait": seconds to wait after it}.
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "tiny_http.py")

# Deploy kinds. Good kinds become healthy and keep running; bad ones never
# pass their check or exit on their own, so their deploy must fail.
GOOD_KINDS = ("ok", "slow")
SERVICE_KINDS = ("ok", "slow", "badcheck", "nolisten", "crash", "partial")
WORKER_KINDS = ("ok", "slow", "crash", "partial")
# "partial": instance 1 is healthy (a canary that passes), every other
# instance fails, so the deploy fails after its first step.

USER_OPS = ("new_request", "update_request", "deploy", "cancel", "scale", "pause", "unpause",
            "bounce", "kill_task", "delete_request")
FAULT_OPS = ("leader_kill", "leader_stop", "standby_kill", "etcd_kill", "stream_break",
             "master_failover", "agent_loss", "exec_kill", "update_drop")

DEFAULT_WEIGHTS = {
    "new_request": 4, "update_request": 3, "deploy": 14, "cancel": 4, "scale": 8, "pause": 2,
    "unpause": 6, "bounce": 4, "kill_task": 6, "delete_request": 1,
    "leader_kill": 2, "leader_stop": 2, "standby_kill": 0.5, "etcd_kill": 1.5,
    "stream_break": 1.5, "master_failover": 1.5, "agent_loss": 2, "exec_kill": 3,
    "update_drop": 1,
}


def is_good(kind):
    return kind in GOOD_KINDS


def serves(op, instance):
    """Whether a task of this deploy in that slot keeps running healthy."""
    if op is None:
        return False
    if op.get("kind") == "partial":
        return instance == 1
    return is_good(op.get("kind"))


# An "ok" service listens this long after it starts, so that Corral cannot
# find it healthy sooner (see serve_after).
OK_LISTEN_DELAY = 1


def serve_after(op):
    """Seconds after TASK_RUNNING from which a task of this (good) deploy
    counts as serving capacity: the earliest moment Corral itself could find
    it healthy (services: when they listen; workers and simulated tasks:
    considerHealthyAfterRunningForSeconds). A correct hand-over waits for the
    new task's health, so it never shows a dip under this count, while a
    task killed and replaced at once always shows one of this length, long
    enough for the observer's polls to see."""
    kind = op.get("kind")
    if kind == "slow":
        return float(op.get("delay", 0))
    if kind in ("ok", "partial"):
        if op.get("rtype") == "SERVICE" and not op.get("sim"):
            return float(OK_LISTEN_DELAY)
        return 2.0
    return 0.0


def deploy_doc(op, simulate=False):
    """The Singularity deploy object of a deploy operation."""
    rid, did, kind, rtype = op["rid"], op["did"], op["kind"], op["rtype"]
    d = {"requestId": rid, "id": did, "deployHealthTimeoutSeconds": 180,
         "maxTaskRetries": 2 if is_good(kind) else 0}
    if op.get("step"):
        d["deployInstanceCountPerStep"] = op["step"]
        d["deployStepWaitTimeMs"] = 1000
    check = {"uri": "/", "startupIntervalSeconds": 1, "intervalSeconds": 1,
             "responseTimeoutSeconds": 5, "startupTimeoutSeconds": 60, "maxRetries": 3}
    if rtype == "SERVICE" and not simulate:
        d["resources"] = {"cpus": 0.05, "memoryMb": 16, "numPorts": 1}
        py = "exec python3 -I " + TINY
        if kind == "ok":
            d["command"], d["healthcheck"] = "%s --delay %d" % (py, OK_LISTEN_DELAY), check
        elif kind == "slow":
            d["command"], d["healthcheck"] = "%s --delay %d" % (py, op["delay"]), check
        elif kind == "badcheck":
            d["command"] = py + " --status 503"
            d["healthcheck"] = dict(check, maxRetries=1)
        elif kind == "nolisten":
            d["command"] = "exec sleep 100000"
            d["healthcheck"] = dict(check, startupTimeoutSeconds=15)
        elif kind == "crash":
            d["command"] = "sleep 2; exit 3"
            d["healthcheck"] = check
        elif kind == "partial":
            d["command"] = ('if [ "$INSTANCE_NO" = 1 ]; then %s --delay %d; '
                            'else %s --delay %d --status 503; fi'
                            % (py, OK_LISTEN_DELAY, py, OK_LISTEN_DELAY))
            d["healthcheck"] = dict(check, maxRetries=1)
        return d
    # WORKER (or any request on simulated agents): no HTTP check.
    d["resources"] = {"cpus": 0.05, "memoryMb": 16, "numPorts": 1 if rtype == "SERVICE" else 0}
    d["command"] = "exec sleep 100000"
    if kind == "ok":
        d["considerHealthyAfterRunningForSeconds"] = 2
    elif kind == "partial" and not simulate:
        d["considerHealthyAfterRunningForSeconds"] = 2
        d["command"] = 'if [ "$INSTANCE_NO" = 1 ]; then exec sleep 100000; else sleep 1; exit 3; fi'
    elif kind == "slow":
        d["considerHealthyAfterRunningForSeconds"] = op["delay"]
    elif kind in ("crash", "badcheck", "nolisten", "partial"):
        d["considerHealthyAfterRunningForSeconds"] = 5
        if simulate:
            d["env"] = {"ML_SIM_RUN_SECONDS": "1", "ML_SIM_EXIT_CODE": "3"}
        else:
            d["command"] = "sleep 1; exit 3"
    return d


def request_doc(op):
    return {"id": op["rid"], "requestType": op["rtype"], "instances": op["instances"],
            "owners": ["chaos@test"]}


def describe(op):
    """One line for the step log."""
    a = {k: v for k, v in op.items() if k not in ("i", "op", "wait")}
    args = " ".join("%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v)
                    for k, v in sorted(a.items()))
    return "%s %s" % (op["op"], args)


class Generator:
    """Infinite, seeded stream of operations (see the module comment)."""

    def __init__(self, seed, cfg):
        self.rng = random.Random(seed)
        self.cfg = cfg
        self.reqs = {}          # rid -> {"rtype", "instances", "paused", "ndeploy", "last_did"}
        self.nreq = 0
        self.i = 0
        self.planned = 0.0      # sum of the waits so far (a lower bound of real time)
        self.exec_kills = {}    # rid -> [planned times]
        w = dict(DEFAULT_WEIGHTS)
        w.update(cfg.weights or {})
        if not cfg.faults:
            for k in FAULT_OPS:
                w[k] = 0
        if cfg.etcd_members < 1:
            w["etcd_kill"] = 0
        # --self-test: a kill intent written straight into etcd, as a buggy
        # controller would; the tester must report it (capacity floor).
        w["rogue_kill"] = 1.5 if cfg.self_test else 0
        self.weights = w

    def _wait(self):
        r = self.rng.random()
        if r < 0.1:
            return round(self.rng.uniform(3.0, self.cfg.long_wait), 2)
        return round(self.rng.uniform(self.cfg.min_wait, self.cfg.max_wait), 2)

    def _emit(self, op):
        op["i"] = self.i
        op["wait"] = self._wait()
        self.i += 1
        self.planned += op["wait"]
        return op

    def _live(self):
        return sorted(self.reqs)

    def _target(self):
        """A request to act on: mostly an unpaused one (paused requests
        answer 409 to deploys and bounces)."""
        live = self._live()
        up = [r for r in live if not self.reqs[r]["paused"]]
        if up and self.rng.random() < 0.85:
            return self.rng.choice(up)
        return self.rng.choice(live)

    def _new_request(self):
        self.nreq += 1
        rid = "r%d" % self.nreq
        rtype = "SERVICE" if self.rng.random() < 0.65 else "WORKER"
        n = self.rng.randint(1, 5)
        self.reqs[rid] = {"rtype": rtype, "instances": n, "paused": False, "ndeploy": 0}
        return {"op": "new_request", "rid": rid, "rtype": rtype, "instances": n,
                "via": "api" if self.rng.random() < 0.7 else "etcd"}

    def _deploy(self, rid, kind=None):
        m = self.reqs[rid]
        m["ndeploy"] += 1
        did = "d%d" % m["ndeploy"]
        kinds = SERVICE_KINDS if m["rtype"] == "SERVICE" else WORKER_KINDS
        if kind is None:
            r = self.rng.random()
            if r < 0.45:
                kind = "ok"
            elif r < 0.7:
                kind = "slow"
            else:
                bad = [k for k in kinds if not is_good(k)]
                kind = self.rng.choices(bad, [3 if k == "partial" else 1 for k in bad])[0]
                if kind == "partial" and m["instances"] < 2:
                    kind = "crash"
        op = {"op": "deploy", "rid": rid, "did": did, "rtype": m["rtype"], "kind": kind,
              "via": "api" if self.rng.random() < 0.6 else "etcd"}
        if kind == "slow":
            op["delay"] = self.rng.randint(8, 25)
        if m["instances"] >= 2 and self.rng.random() < (0.7 if kind == "partial" else 0.3):
            op["step"] = 1 if kind == "partial" else self.rng.randint(1, m["instances"] - 1)
        if self.cfg.simulate:
            op["sim"] = True
        m["last_did"] = did
        return op

    def bootstrap(self):
        for _ in range(self.cfg.initial_requests):
            op = self._new_request()
            op["via"] = "api"
            yield self._emit(op)
            yield self._emit(self._deploy(op["rid"], kind="ok"))

    def __iter__(self):
        yield from self.bootstrap()
        while True:
            yield self._emit(self._next())

    def _applicable(self, name):
        live = self._live()
        if name == "new_request":
            return len(live) < self.cfg.max_requests
        if name in ("update_request", "deploy", "scale", "bounce", "kill_task", "cancel",
                    "rogue_kill"):
            return bool(live)
        if name == "pause":
            return any(not self.reqs[r]["paused"] for r in live)
        if name == "unpause":
            return any(self.reqs[r]["paused"] for r in live)
        if name == "delete_request":
            return len(live) > 2
        if name == "exec_kill":
            return any(self._exec_kill_ok(r) for r in live)
        if name == "etcd_kill":
            return self.cfg.etcd_members >= 1
        return True

    def _exec_kill_ok(self, rid):
        # Five failures within 60 s put a request in cooldown (documented):
        # at most two executor kills per request per planned minute.
        recent = [t for t in self.exec_kills.get(rid, []) if self.planned - t < 60]
        return len(recent) < 2

    def _next(self):
        names = [n for n, w in self.weights.items() if w > 0 and self._applicable(n)]
        name = self.rng.choices(names, [self.weights[n] for n in names])[0]
        rng, live = self.rng, self._live()
        if name == "new_request":
            return self._new_request()
        if name == "update_request":
            rid = self._target()
            m = self.reqs[rid]
            m["instances"] = rng.randint(1, 5)
            return {"op": "update_request", "rid": rid, "rtype": m["rtype"],
                    "instances": m["instances"],
                    "via": "api" if rng.random() < 0.6 else "etcd"}
        if name == "deploy":
            return self._deploy(self._target())
        if name == "cancel":
            rid = self._target()
            did = self.reqs[rid].get("last_did")
            return {"op": "cancel", "rid": rid, "did": did or "d0"}
        if name == "scale":
            rid = self._target()
            m = self.reqs[rid]
            n = m["instances"]
            while n == m["instances"]:
                n = rng.randint(1, 5)
            m["instances"] = n
            return {"op": "scale", "rid": rid, "instances": n}
        if name == "pause":
            rid = rng.choice([r for r in live if not self.reqs[r]["paused"]])
            self.reqs[rid]["paused"] = True
            return {"op": "pause", "rid": rid}
        if name == "unpause":
            rid = rng.choice([r for r in live if self.reqs[r]["paused"]])
            self.reqs[rid]["paused"] = False
            return {"op": "unpause", "rid": rid}
        if name == "bounce":
            return {"op": "bounce", "rid": self._target()}
        if name == "kill_task":
            return {"op": "kill_task", "rid": self._target(), "pick": round(rng.random(), 3),
                    "wait_replacement": rng.random() < 0.3}
        if name == "delete_request":
            rid = rng.choice(live)
            del self.reqs[rid]
            return {"op": "delete_request", "rid": rid}
        if name == "leader_kill":
            return {"op": "leader_kill", "restart_after": round(rng.uniform(1, 15), 1)}
        if name == "leader_stop":
            return {"op": "leader_stop", "duration": round(rng.uniform(1, 25), 1)}
        if name == "standby_kill":
            return {"op": "standby_kill", "pick": round(rng.random(), 3),
                    "restart_after": round(rng.uniform(1, 10), 1)}
        if name == "etcd_kill":
            return {"op": "etcd_kill", "member": rng.randrange(max(1, self.cfg.etcd_members)),
                    "restart_after": round(rng.uniform(1, 10), 1)}
        if name == "stream_break":
            return {"op": "stream_break"}
        if name == "master_failover":
            return {"op": "master_failover", "reregister_ms": rng.randint(200, 4000)}
        if name == "agent_loss":
            after = None if rng.random() < 0.1 else round(rng.uniform(3, 40), 1)
            return {"op": "agent_loss", "agent": rng.randrange(self.cfg.agents),
                    "restore_after": after}
        if name == "exec_kill":
            cands = [r for r in live if self._exec_kill_ok(r)]
            up = [r for r in cands if not self.reqs[r]["paused"]]
            rid = rng.choice(up if up and rng.random() < 0.85 else cands)
            self.exec_kills.setdefault(rid, []).append(self.planned)
            return {"op": "exec_kill", "rid": rid, "pick": round(rng.random(), 3),
                    "how": "sigkill" if rng.random() < 0.7 else "exit"}
        if name == "update_drop":
            return {"op": "update_drop", "count": rng.randint(1, 5)}
        if name == "rogue_kill":
            return {"op": "rogue_kill", "rid": self._target(), "pick": round(rng.random(), 3)}
        raise AssertionError(name)
