#!/usr/bin/env python3
"""Corral's randomized sequence tester (issue 21; docs/reliability.md).

    python3 e2e/chaos/chaos.py --seed N --minutes M [--replicas 2|3]
        [--etcd-members 1|3] [--shrink] [--out DIR] [more: --help]

Starts real etcd (1 or 3 members), mesoslite (real task processes, fault
injection on) and 2-3 corrald replicas on loopback, then runs a random,
seeded sequence of user operations and faults against them while an
independent observer thread checks the invariants from mesoslite's
/master/state and etcd. After the operations, a quiet period: every fault is
healed and the cluster must converge within a bound. Violations are printed
with their time, the step that preceded them and the evidence; the whole
step log, the operation list (ops.json, replayable) and, on a violation, the
processes' logs are written to the output directory.

Reproduce a run: the same --seed gives the same operation list (the effects
depend on timing); `--replay DIR/ops.json` replays a recorded list.
--shrink: on a violation, delta-debug the operation list to a minimal one
that still shows it and write it as a regression test
(DIR/regress_<seed>_<invariant>.py; keep it in e2e/chaos/regressions/).

Exit status: 0 no violation, 1 violations, 2 the tester itself failed.
"""
import argparse
import datetime
import json
import os
import pprint
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for p in (HERE, os.path.join(ROOT, "e2e", "lib")):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402
import chaos_ops  # noqa: E402
from chaos_cluster import ChaosCluster, EtcdError, PREFIX  # noqa: E402
from chaos_observer import LIVE_TASK, Knowledge, Observer, take_snapshot  # noqa: E402

SOURCE_BIN = harness.BIN   # where the binaries come from (CORRAL_BIN or bin/)
STABLE = 3.0               # seconds the converged state must hold


class Config:
    """Every knob of a run; the defaults are the documented ones."""
    FIELDS = {
        "seed": 1, "minutes": 5.0, "max_ops": 0, "replicas": 2, "etcd_members": 1, "agents": 4,
        "out": None, "shrink": False, "shrink_minutes": 60.0, "shrink_tries": 2,
        "faults": True, "simulate": False, "initial_requests": 3, "max_requests": 5,
        "min_wait": 0.2, "max_wait": 2.5, "long_wait": 10.0, "interval": 0.2,
        "grace": 20.0, "orphan_bound": 30.0, "settle": 15.0, "converge_bound": 90.0,
        "lease_ttl": 10, "check_floor": True, "check_duplicates": True, "check_orphans": True,
        "check_outcome": True, "check_status": True, "strict_kill_replacement": False,
        "weights": None,
        "bin_dir": None, "corrald_args": [], "keep": False, "verbose": True, "self_test": False,
        "tail": 0.0,
    }

    def __init__(self, **kw):
        for k, v in self.FIELDS.items():
            setattr(self, k, v)
        for k, v in kw.items():
            if k not in self.FIELDS:
                raise TypeError("unknown chaos setting %r" % k)
            setattr(self, k, v)

    def to_dict(self):
        return {k: getattr(self, k) for k in self.FIELDS}

    def replay_dict(self):
        """The settings a replay of the same operations needs."""
        keys = ("seed", "replicas", "etcd_members", "agents", "simulate", "interval", "grace",
                "orphan_bound", "settle", "converge_bound", "lease_ttl", "check_floor",
                "check_duplicates", "check_orphans", "check_outcome", "check_status",
                "strict_kill_replacement", "corrald_args")
        return {k: getattr(self, k) for k in keys}


class Result:
    def __init__(self, cfg, out):
        self.cfg = cfg
        self.out = out
        self.violations = []
        self.ops = []            # executed operations, each with "result"
        self.started = time.time()
        self.ended = None
        self.converged_after = None
        self.error = None
        self.stopped_early = False
        self.observer_stats = None

    def counts(self):
        c = {}
        for op in self.ops:
            c[op["op"]] = c.get(op["op"], 0) + 1
        return c

    def n_faults(self):
        return sum(1 for op in self.ops if op["op"] in chaos_ops.FAULT_OPS)

    def report(self):
        lines = ["chaos seed %s: %d operations (%d faults) in %.1f min, %d violation(s)"
                 % (self.cfg.seed, len(self.ops), self.n_faults(),
                    ((self.ended or time.time()) - self.started) / 60, len(self.violations))]
        lines.append("operations: " + ", ".join("%s %d" % kv for kv in sorted(self.counts().items())))
        if self.observer_stats:
            lines.append("observer: %(ticks)d observations, at most %(max_running)d tasks "
                         "running at once, %(errors)d failed observations" % self.observer_stats)
        if self.converged_after is not None:
            lines.append("converged %.1fs after the faults stopped" % self.converged_after)
        if self.error:
            lines.append("tester error: " + self.error)
        for v in self.violations:
            lines.append("VIOLATION [%s] t=+%.1fs after step %s: %s" % (
                v["invariant"], v["t"], v["step"], v["message"]))
        lines.append("output: " + str(self.out))
        return "\n".join(lines)


class Stop(Exception):
    pass


class Runner:
    """Runs one sequence of operations against a fresh cluster."""

    def __init__(self, cfg, ops, out, stop_on=None):
        self.cfg = cfg
        self.ops = ops
        self.out = out
        os.makedirs(out, exist_ok=True)
        self.stop_on = stop_on
        self.res = Result(cfg, out)
        self.know = Knowledge()
        self.cluster = None
        self.observer = None
        self.heals = []
        self.acked = {"killed": set(), "requests": {}, "deploys": set(), "uncertain": set()}
        self.t0 = time.time()
        self._log = open(os.path.join(out, "steps.log"), "a")
        self._lock = threading.Lock()
        self._stop = False
        self.removed_agents = {}   # index -> agent id

    # -- logging ----------------------------------------------------------------

    def log(self, msg):
        line = "[+%8.3fs %s] %s" % (time.time() - self.t0,
                                    datetime.datetime.utcnow().strftime("%H:%M:%S.%f")[:-3], msg)
        with self._lock:
            self._log.write(line + "\n")
            self._log.flush()
            if self.cfg.verbose:
                print(line, flush=True)

    def violation(self, v):
        v.setdefault("details", {})
        v["t"] = round(time.time() - self.t0, 3)
        v["wall"] = datetime.datetime.utcnow().isoformat() + "Z"
        v["step"] = self.know.step
        with self._lock:
            self.res.violations.append(v)
        self.log("VIOLATION [%s] %s\n    details: %s" % (v["invariant"], v["message"],
                                                         json.dumps(v["details"], sort_keys=True)))
        if self.stop_on and self.stop_on(v):
            self._stop = True

    # -- the cluster API --------------------------------------------------------

    def api(self, op, method, path, body=None):
        """Calls a random live replica. Returns (kind, status, body):
        kind "ok" (2xx), "rejected" (4xx: nothing written) or "unknown"."""
        live = self.cluster.live_replicas()
        if not live:
            return "unknown", None, "no replica up"
        r = random.Random(op["i"]).choice(live)
        try:
            st, _, raw = harness.http(method, r.url + path, body, timeout=5)
        except OSError as e:
            return "unknown", None, "%s: %s" % (r.name, e)
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = raw[:200].decode(errors="replace")
        kind = "ok" if 200 <= st < 300 else "rejected" if 400 <= st < 500 else "unknown"
        return kind, st, parsed

    def etcd_check(self, op, what, fn):
        """No-loss, API side: after a 2xx the write must be in etcd."""
        try:
            ok = fn()
        except EtcdError as e:
            return " (not verified: %s)" % e
        if not ok:
            self.violation({"invariant": "no-loss", "request": op.get("rid"),
                            "message": "step %d %s answered 2xx but etcd does not show it: %s"
                                       % (op["i"], op["op"], what)})
            return " (NOT IN ETCD)"
        return ""

    def _snapshot(self):
        with self.observer.lock:
            return self.observer.last

    def _pick_task(self, rid, pick):
        s = self._snapshot()
        if s is None:
            return None
        ts = sorted((t["inst"], tid) for tid, t in s.tasks.items()
                    if t["rid"] == rid and t["state"] == "TASK_RUNNING"
                    and tid not in s.unreachable)
        if not ts:
            return None
        return ts[int(pick * len(ts)) % len(ts)][1]

    def _req_key(self, rid):
        return "%s/requests/%s" % (PREFIX, rid)

    def _ack_request(self, rid, kind, value):
        if kind == "ok":
            self.acked["requests"][rid] = value
            self.acked["uncertain"].discard(rid)
        elif kind == "unknown":
            self.acked["uncertain"].add(rid)

    # -- operations -------------------------------------------------------------

    def execute(self, op):
        name = op["op"]
        fn = getattr(self, "op_" + name)
        return fn(op)

    def _apply(self, op):
        doc = chaos_ops.request_doc(op)
        E = self.cluster.etcd
        if op.get("via") == "etcd":
            try:
                E.put(self._req_key(op["rid"]), doc)
            except EtcdError as e:
                self._ack_request(op["rid"], "unknown", None)
                return "etcd put failed: %s" % e
            self._ack_request(op["rid"], "ok", op["instances"])
            return "etcd put ok"
        kind, st, body = self.api(op, "POST", "/api/requests", doc)
        self._ack_request(op["rid"], kind, op["instances"])
        extra = ""
        if kind == "ok":
            extra = self.etcd_check(op, "request %s with %d instances" % (op["rid"],
                                                                            op["instances"]),
                                    lambda: (E.get(self._req_key(op["rid"])) or {}).get(
                                        "instances") == op["instances"])
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    op_new_request = _apply
    op_update_request = _apply

    def op_deploy(self, op):
        self.know.add_deploy(op)
        doc = chaos_ops.deploy_doc(op, simulate=self.cfg.simulate)
        E = self.cluster.etcd
        key = "%s/deploys/%s/%s" % (PREFIX, op["rid"], op["did"])
        if op.get("via") == "etcd":
            try:
                if E.get(self._req_key(op["rid"])) is None:
                    return "skipped: request absent"
                E.put(key, doc)
            except EtcdError as e:
                return "etcd put failed: %s" % e
            self.acked["deploys"].add((op["rid"], op["did"]))
            return "etcd put ok"
        kind, st, body = self.api(op, "POST", "/api/deploys", {"deploy": doc})
        extra = ""
        if kind == "ok":
            self.acked["deploys"].add((op["rid"], op["did"]))
            extra = self.etcd_check(op, "deploy document " + key, lambda: E.exists(key))
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    def op_cancel(self, op):
        kind, st, body = self.api(op, "DELETE", "/api/deploys/deploy/%s/request/%s"
                                  % (op["did"], op["rid"]), {"message": "chaos"})
        extra = ""
        if kind == "ok":
            key = "%s/intents/deploys/%s/%s/cancel" % (PREFIX, op["rid"], op["did"])
            extra = self.etcd_check(op, "cancel intent " + key,
                                    lambda: self.cluster.etcd.exists(key))
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    def op_scale(self, op):
        kind, st, body = self.api(op, "PUT", "/api/requests/request/%s/scale" % op["rid"],
                                  {"instances": op["instances"]})
        self._ack_request(op["rid"], kind, op["instances"])
        extra = ""
        if kind == "ok":
            extra = self.etcd_check(op, "instances %d" % op["instances"],
                                    lambda: (self.cluster.etcd.get(self._req_key(op["rid"]))
                                             or {}).get("instances") == op["instances"])
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    def op_pause(self, op):
        kind, st, body = self.api(op, "POST", "/api/requests/request/%s/pause" % op["rid"],
                                  {"killTasks": True, "message": "chaos"})
        extra = ""
        if kind == "ok":
            key = "%s/intents/requests/%s/pause" % (PREFIX, op["rid"])
            extra = self.etcd_check(op, "pause intent", lambda: self.cluster.etcd.exists(key))
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    def op_unpause(self, op):
        kind, st, body = self.api(op, "POST", "/api/requests/request/%s/unpause" % op["rid"],
                                  {"message": "chaos"})
        extra = ""
        if kind == "ok":
            key = "%s/intents/requests/%s/pause" % (PREFIX, op["rid"])
            extra = self.etcd_check(op, "pause intent removed",
                                    lambda: not self.cluster.etcd.exists(key))
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    def op_bounce(self, op):
        kind, st, body = self.api(op, "POST", "/api/requests/request/%s/bounce" % op["rid"],
                                  {"message": "chaos"})
        extra = ""
        if kind == "ok":
            key = "%s/intents/requests/%s/bounce" % (PREFIX, op["rid"])
            extra = self.etcd_check(op, "bounce intent", lambda: self.cluster.etcd.exists(key))
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    def op_kill_task(self, op):
        tid = self._pick_task(op["rid"], op["pick"])
        if tid is None:
            return "skipped: no running task of %s" % op["rid"]
        wait = bool(op.get("wait_replacement"))
        if not (wait and self.cfg.strict_kill_replacement):
            self.know.excuse(tid, "killed through the API")
        kind, st, body = self.api(op, "DELETE", "/api/tasks/task/" + tid,
                                  {"waitForReplacementTask": wait, "message": "chaos"})
        extra = ""
        if kind == "ok":
            self.acked["killed"].add(tid)
            E = self.cluster.etcd
            def acted_on():
                # the kill intent, or already its effect: the task ended
                # (the bridge deletes the intent once Mesos says so; a
                # SIGTERMed sleep ends within milliseconds) or was archived
                if E.exists("%s/cleanups/%s" % (PREFIX, tid)):
                    return True
                rec = E.get("%s/tasks/%s/%s" % (PREFIX, op["rid"], tid))
                return not isinstance(rec, dict) or rec.get("lastTaskState") not in LIVE_TASK
            extra = self.etcd_check(op, "cleanup of " + tid, acted_on)
        return "%s %s %s%s" % (tid, st, _short(body) if kind != "ok" else "", extra)

    def op_delete_request(self, op):
        kind, st, body = self.api(op, "DELETE", "/api/requests/request/%s" % op["rid"],
                                  {"message": "chaos"})
        self._ack_request(op["rid"], kind, None)
        extra = ""
        if kind == "ok":
            extra = self.etcd_check(op, "request removed",
                                    lambda: not self.cluster.etcd.exists(self._req_key(op["rid"])))
        return "%s %s%s" % (st, _short(body) if kind != "ok" else "", extra)

    # faults

    def _settle(self, seconds_from_now):
        self.know.disrupt(time.time() + seconds_from_now + self.cfg.settle)

    def _heal_at(self, delay, what, fn):
        self.heals.append({"due": time.time() + delay, "what": what, "fn": fn})

    def _leader(self):
        try:
            return self.cluster.leader()[0]
        except EtcdError:
            return None

    def op_leader_kill(self, op):
        r = self._leader()
        if r is None or r.state == "dead":
            return "skipped: no leader known"
        self._settle(op["restart_after"] + self.cfg.lease_ttl)
        self.cluster.replica_kill(r)
        self._heal_at(op["restart_after"], "restart " + r.name,
                      lambda: self.cluster.replica_start(r) if r.state == "dead" else None)
        return "SIGKILL %s (restart in %.1fs)" % (r.name, op["restart_after"])

    def op_leader_stop(self, op):
        r = self._leader()
        if r is None or r.state != "up":
            return "skipped: no running leader known"
        self._settle(op["duration"] + self.cfg.lease_ttl)
        self.cluster.replica_stop(r)
        proc = r.proc
        self._heal_at(op["duration"], "SIGCONT " + r.name,
                      lambda: self.cluster.replica_cont(r, proc))
        return "SIGSTOP %s for %.1fs" % (r.name, op["duration"])

    def op_standby_kill(self, op):
        lead = self._leader()
        cands = [r for r in self.cluster.replicas if r is not lead and r.state == "up"]
        if not cands:
            return "skipped: no standby up"
        r = cands[int(op["pick"] * len(cands)) % len(cands)]
        self._settle(op["restart_after"])
        self.cluster.replica_kill(r)
        self._heal_at(op["restart_after"], "restart " + r.name,
                      lambda: self.cluster.replica_start(r) if r.state == "dead" else None)
        return "SIGKILL %s (standby; restart in %.1fs)" % (r.name, op["restart_after"])

    def op_etcd_kill(self, op):
        self._settle(op["restart_after"] + self.cfg.lease_ttl)
        m = self.cluster.etcd_kill(op["member"])
        if m is None:
            return "skipped: a member is already down"
        self._heal_at(op["restart_after"], "restart " + m.name,
                      lambda: self.cluster.etcd_restart(m))
        return "SIGKILL %s (restart in %.1fs)" % (m.name, op["restart_after"])

    def op_stream_break(self, op):
        s = self._snapshot()
        fid = s.framework if s else None
        if not fid:
            return "skipped: framework id unknown"
        self._settle(0)
        st, body = self.cluster.ml_fault("frameworks/%s/break-stream" % fid)
        return "%s %s" % (st, _short(body))

    def op_master_failover(self, op):
        self._settle(op["reregister_ms"] / 1000.0)
        st, body = self.cluster.ml_fault("master/failover?reregister_ms=%d" % op["reregister_ms"])
        return "%s %s" % (st, _short(body))

    def op_agent_loss(self, op):
        idx = op["agent"] % self.cfg.agents
        of = op.get("of")   # {"rid", "did", "inst"}: the agent running that task
        if of:
            s = self._snapshot()
            hit = [t["agent"] for t in (s.tasks.values() if s else [])
                   if t["rid"] == of.get("rid") and t["did"] == of.get("did")
                   and t["inst"] == of.get("inst") and t["state"] == "TASK_RUNNING"]
            if not hit or "-S" not in hit[0]:
                return "skipped: no running task %s" % of
            idx = int(hit[0].rsplit("-S", 1)[1])
        if idx in self.removed_agents:
            return "skipped: agent %d already removed" % idx
        if len(self.removed_agents) >= self.cfg.agents - 2:
            return "skipped: keep two agents"
        s = self._snapshot()
        aid = None
        for a in (s.agents if s else []):
            if a.endswith("-S%d" % idx):
                aid = a
        if aid is None:
            return "skipped: agent %d not registered now" % idx
        self._settle(0 if op["restore_after"] is None else op["restore_after"])
        self.know.agent_down(aid)
        st, body = self.cluster.ml_fault("agents/%d/remove" % idx)
        if st != 200:
            self.know.agent_up(aid)
            return "%s %s" % (st, _short(body))
        self.removed_agents[idx] = aid

        def restore():
            if self.removed_agents.pop(idx, None) is not None:
                self._settle(0)
                self.cluster.ml_fault("agents/%d/restore" % idx)
                self.know.agent_up(aid)
        if op["restore_after"] is not None:
            self._heal_at(op["restore_after"], "restore agent %d" % idx, restore)
        else:
            self.heals.append({"due": float("inf"), "what": "restore agent %d" % idx,
                               "fn": restore})
        return "removed agent %d (%s)%s" % (idx, aid, "" if op["restore_after"] is None else
                                            ", restore in %.1fs" % op["restore_after"])

    def op_exec_kill(self, op):
        tid = self._pick_task(op["rid"], op["pick"])
        if tid is None:
            return "skipped: no running task of %s" % op["rid"]
        self.know.excuse(tid, "executor killed by the tester")
        if op.get("how") == "sigkill" and not self.cfg.simulate:
            pids = self.cluster.task_pids(tid)
            for pid in pids:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            if pids:
                return "%s: SIGKILL process group(s) %s" % (tid, pids)
        st, body = self.cluster.ml_fault("tasks/%s/exit?code=137" % tid)
        return "%s: exit 137 -> %s" % (tid, st)

    def op_rogue_kill(self, op):
        """--self-test only: kills a serving task the way a buggy controller
        would (a kill intent written straight into etcd, no excuse)."""
        tid = self._pick_task(op["rid"], op["pick"])
        if tid is None:
            return "skipped: no running task of %s" % op["rid"]
        E = self.cluster.etcd
        rec = E.get("%s/tasks/%s/%s" % (PREFIX, op["rid"], tid))
        if not isinstance(rec, dict):
            return "skipped: no task record for %s" % tid
        E.put("%s/cleanups/%s" % (PREFIX, tid),
              {"taskId": rec["taskId"], "cleanupType": "USER_REQUESTED", "message": "rogue",
               "timestamp": int(time.time() * 1000)})
        return "rogue kill intent for %s" % tid

    def op_wait(self, op):
        """Stands in for operations a shrink dropped, keeping their waits."""
        return "waited"

    def op_update_drop(self, op):
        self._settle(2)
        st, body = self.cluster.ml_fault("updates/drop?count=%d" % op["count"])
        return "%s %s" % (st, _short(body))

    # -- the run ----------------------------------------------------------------

    def run_heals(self, everything=False):
        now = time.time()
        due = [h for h in self.heals if everything or h["due"] <= now]
        for h in sorted(due, key=lambda h: h["due"]):
            self.heals.remove(h)
            try:
                h["fn"]()
                self.log("heal: " + h["what"])
            except Exception as e:
                self.log("heal %s failed: %s" % (h["what"], e))

    def pause(self, seconds):
        end = time.time() + seconds
        while True:
            self.run_heals()
            if self._stop:
                raise Stop()
            left = end - time.time()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

    def run(self):
        cfg = self.cfg
        self.log("chaos: seed %s, %s min, %d replicas, %d etcd member(s), %d agents%s"
                 % (cfg.seed, cfg.minutes, cfg.replicas, cfg.etcd_members, cfg.agents,
                    " (simulated)" if cfg.simulate else ""))
        if not cfg.bin_dir:
            # Others may rebuild bin/ meanwhile: a replica started again must
            # run the same binary, so each run works on its own copy.
            snap = os.path.join(self.out, "bin")
            shutil.rmtree(snap, ignore_errors=True)
            shutil.copytree(SOURCE_BIN, snap)
            cfg = self.cfg = Config(**dict(cfg.to_dict(), bin_dir=snap))
            self.log("chaos: binaries copied from %s" % SOURCE_BIN)
        self.cluster = ChaosCluster(cfg, self.log)
        self.log("chaos: work dir " + self.cluster.tmpdir)
        keep = cfg.keep
        try:
            self.cluster.start()
            self.log("chaos: cluster up (etcd %s, mesos %s, replicas %s)" % (
                ",".join(m.url for m in self.cluster.members), self.cluster.mesos_url,
                ",".join(r.url for r in self.cluster.replicas)))
            self.observer = Observer(self.cluster, self.know, cfg, self.violation, self.log)
            self.observer.tlog = open(os.path.join(self.out, "transitions.log"), "a")
            self.observer.start()
            harness.wait_until(lambda: self.observer.last is not None, 20, "first observation")
            try:
                self.run_ops()
                if cfg.tail:
                    # A shrinking replay looking for a violation that is not
                    # about convergence: watch a while, skip the quiet period.
                    self.log("tail: watching %.0fs more" % cfg.tail)
                    self.pause(cfg.tail)
                else:
                    self.quiet()
            except Stop:
                self.res.stopped_early = True
                self.log("chaos: stopped early (the violation looked for was seen)")
            keep = keep or bool(self.res.violations)
            self.enrich()
        except KeyboardInterrupt:
            self.res.error = "interrupted"
            self.log("chaos: interrupted")
            keep = True
            raise
        except Exception as e:
            self.res.error = "%s\n%s" % (e, traceback.format_exc())
            self.log("chaos: tester error: " + self.res.error)
            keep = True
        finally:
            # A second Ctrl-C must not cut the clean-up short.
            old = None
            if threading.current_thread() is threading.main_thread():
                old = signal.signal(signal.SIGINT, signal.SIG_IGN)
            if self.observer is not None:
                self.observer.stop()
                self.observer.join(5)
                self.res.observer_stats = {"ticks": self.observer.ticks,
                                           "max_running": self.observer.max_running,
                                           "errors": self.observer.errors}
            if keep or self.res.violations:
                self.cluster.logs_to(os.path.join(self.out, "logs"))
            self.cluster.close(keep=False)
            self.res.ended = time.time()
            self._write()
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return self.res

    def run_ops(self):
        cfg = self.cfg
        deadline = time.time() + cfg.minutes * 60 if cfg.minutes else None
        for op in self.ops:
            if deadline and time.time() >= deadline:
                break
            if cfg.max_ops and len(self.res.ops) >= cfg.max_ops:
                break
            self.run_heals()
            self.know.step = op["i"]
            try:
                result = self.execute(op)
            except EtcdError as e:
                result = "etcd error: %s" % e
            rec = dict(op, result=result, at=round(time.time() - self.t0, 3))
            self.res.ops.append(rec)
            self.log("step %d: %s -> %s" % (op["i"], chaos_ops.describe(op), result))
            self.pause(op["wait"])

    def quiet(self):
        """The end: heal every fault, then wait for convergence."""
        self.log("quiet: faults stop; healing")
        self.know.step = "quiet"
        self.run_heals(everything=True)
        for what in self.cluster.heal():
            self.log("heal: " + what)
        self._settle(0)
        E = self.cluster.etcd
        try:
            harness.wait_until(self.cluster.etcd_healthy, 30, "etcd healthy")
            harness.wait_until(lambda: self._leader() is not None, 60, "a leader")
        except AssertionError as e:
            self.log("quiet: " + str(e))
        start = time.time()
        deadline = start + self.cfg.converge_bound
        bad = ["not checked yet"]
        ok_since = None   # converged must hold for STABLE seconds (heals land async)
        while True:
            if self._stop:
                raise Stop()
            try:
                s = take_snapshot(self.cluster)
                recs = {k.rsplit("/", 1)[1]: (v or {}).get("lastTaskState")
                        for k, v in E.prefix_json(PREFIX + "/tasks/").items()}
                bad = self.observer.unconverged(s, self.acked, recs)
            except (OSError, ValueError, EtcdError) as e:
                bad = ["no observation: %s" % e]
            if bad:
                ok_since = None
            elif ok_since is None:
                ok_since = time.time()
            if not bad and time.time() - ok_since >= STABLE:
                self.res.converged_after = ok_since - start
                self.log("quiet: converged after %.1fs; final state:\n    %s" % (
                    self.res.converged_after, "\n    ".join(self.observer.summary(s))))
                break
            if time.time() > deadline and bad:
                try:
                    self.log("quiet: state at the bound:\n    %s" % "\n    ".join(
                        self.observer.summary(s)))
                except (NameError, AttributeError):
                    pass
                self.violation({"invariant": "convergence", "request": None,
                                "message": "not converged %ds after the faults stopped: %s"
                                           % (self.cfg.converge_bound, "; ".join(bad[:12])),
                                "details": {"unmet": bad}})
                break
            time.sleep(1.0)
        self.final_checks()

    def final_checks(self):
        """No loss, durable side: every acknowledged write is still in etcd."""
        E = self.cluster.etcd
        try:
            for rid, inst in sorted(self.acked["requests"].items()):
                if rid in self.acked["uncertain"]:
                    continue
                doc = E.get(self._req_key(rid))
                have = doc.get("instances") if isinstance(doc, dict) else None
                if have != inst:
                    self.violation({"invariant": "no-loss", "request": rid,
                                    "message": "acknowledged request %s: instances %s, etcd "
                                               "has %s" % (rid, inst, have if doc else "nothing")})
            for rid, did in sorted(self.acked["deploys"]):
                if not E.exists("%s/deploys/%s/%s" % (PREFIX, rid, did)):
                    self.violation({"invariant": "no-loss", "request": rid,
                                    "message": "acknowledged deploy %s/%s is gone from etcd"
                                               % (rid, did)})
        except EtcdError as e:
            self.log("final checks: etcd: %s" % e)

    def enrich(self):
        """Adds to each violation what etcd's history says about the tasks
        it names (how they ended, which cleanup killed them)."""
        E = self.cluster.etcd
        for v in self.res.violations:
            tids = v.get("details", {}).get("unexcused") or []
            hist = {}
            for tid in tids:
                try:
                    doc = E.get("%s/history/tasks/%s/%s" % (PREFIX, v.get("request"), tid))
                except EtcdError:
                    doc = None
                if isinstance(doc, dict):
                    ups = [{k: u.get(k) for k in ("taskState", "message", "statusMessage",
                                                    "statusReason", "reason") if u.get(k)}
                           for u in doc.get("taskUpdates", [])[-4:]]
                    hist[tid] = {k: doc.get(k) for k in doc
                                 if "cleanup" in k.lower() or k in ("lastTaskState",)}
                    hist[tid]["lastUpdates"] = ups
            if hist:
                v["details"]["history"] = hist
                self.log("history of the tasks of [%s] on %s: %s" % (
                    v["invariant"], v.get("request"), json.dumps(hist, sort_keys=True)))

    def _write(self):
        with open(os.path.join(self.out, "ops.json"), "w") as f:
            json.dump({"seed": self.cfg.seed, "config": self.cfg.replay_dict(),
                       "ops": [{k: v for k, v in op.items() if k not in ("result", "at")}
                               for op in self.res.ops]}, f, indent=1)
        with open(os.path.join(self.out, "violations.json"), "w") as f:
            json.dump(self.res.violations, f, indent=1, default=str)
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(self.res.report() + "\n")
        self._log.flush()


def _short(body):
    if body is None:
        return ""
    if isinstance(body, dict):
        m = body.get("message") or body.get("error")
        if m:
            return repr(str(m)[:160])
        return ""
    return repr(str(body)[:160])


# -- entry points ----------------------------------------------------------------

def _out_dir(cfg, what):
    if cfg.out:
        return cfg.out
    return tempfile.mkdtemp(prefix="corral-chaos-%s-%s-" % (what, cfg.seed))


def run(cfg):
    """One seeded run; returns its Result (with shrinking when cfg.shrink)."""
    out = _out_dir(cfg, "seed")
    gen = chaos_ops.Generator(cfg.seed, cfg)
    res = Runner(cfg, iter(gen), out).run()
    print(res.report(), flush=True)
    if cfg.shrink and res.violations and not res.error:
        shrink(cfg, res)
    return res


def replay(ops, cfg, stop_on=None, out=None):
    """Runs a recorded list of operations on a fresh cluster."""
    out = out or _out_dir(cfg, "replay")
    cfg.minutes = 0
    cfg.max_ops = 0
    return Runner(cfg, list(ops), out, stop_on=stop_on).run()


def drop(ops, start, n):
    """ops without ops[start:start+n], the later ones kept at the same times:
    the dropped waits are added to the operation before them (or to a
    leading `wait`)."""
    gone = sum(op["wait"] for op in ops[start:start + n])
    out = [dict(op) for op in ops[:start]] + [dict(op) for op in ops[start + n:]]
    if start > 0:
        out[start - 1]["wait"] = round(out[start - 1]["wait"] + gone, 2)
    elif out and out[0]["op"] == "wait":
        out[0]["wait"] = round(out[0]["wait"] + gone, 2)
    elif out:
        out.insert(0, {"op": "wait", "i": -1, "wait": round(gone, 2)})
    return out


def essential(ops):
    return [op for op in ops if op["op"] != "wait"]


def same_violation(target):
    def match(v):
        return v["invariant"] == target["invariant"] and v.get("request") == target.get("request")
    return match


def shrink(cfg, res):
    """Delta debugging (drop chunks, then single steps) of the operations up
    to the first violation, keeping that violation; writes the minimal list
    as a regression test."""
    target = res.violations[0]
    match = same_violation(target)
    budget_end = time.time() + cfg.shrink_minutes * 60
    last = target["step"]
    ops = [dict((k, v) for k, v in op.items() if k not in ("result", "at")) for op in res.ops]
    tail = 0.0
    if isinstance(last, int):
        ops = [op for op in ops if op["i"] <= last]
        if target["invariant"] != "convergence":   # seen during the operations
            at = [op.get("at") for op in res.ops if op["i"] == last]
            tail = max(30.0, target["t"] - (at[0] if at and at[0] is not None else 0) + 20.0)
    rcfg = Config(**dict(cfg.to_dict(), verbose=False, shrink=False, keep=False, tail=tail))
    trial_n = [0]

    def fails(cand):
        for k in range(cfg.shrink_tries):
            if time.time() > budget_end:
                return False
            trial_n[0] += 1
            out = os.path.join(res.out, "shrink", "trial%03d" % trial_n[0])
            r = replay(cand, Config(**rcfg.to_dict()), stop_on=match, out=out)
            hit = any(match(v) for v in r.violations)
            print("shrink: trial %d: %d ops -> %s" % (trial_n[0], len(cand),
                                                       "violation" if hit else "no violation"),
                  flush=True)
            if hit:
                return True
            shutil.rmtree(out, ignore_errors=True)
        return False

    print("shrink: target [%s] on %s; %d operations up to step %s"
          % (target["invariant"], target.get("request"), len(ops), last), flush=True)
    if not fails(ops):
        print("shrink: the violation did not reappear on replay; keeping the full list",
              flush=True)
        ops = [dict((k, v) for k, v in op.items() if k not in ("result", "at")) for op in res.ops]
        reproduced = False
    else:
        reproduced = True
        n = 2
        while len(essential(ops)) >= 2 and time.time() < budget_end:
            chunk = max(1, (len(ops) + n - 1) // n)
            reduced = False
            for start in range(0, len(ops), chunk):
                if not essential(ops[start:start + chunk]):
                    continue
                cand = drop(ops, start, chunk)
                if essential(cand) and fails(cand):
                    ops = cand
                    n = max(n - 1, 2)
                    reduced = True
                    break
            if not reduced:
                if chunk == 1:
                    break
                n = min(len(ops), n * 2)
        # single steps, last first
        i = len(ops) - 1
        while i >= 0 and len(essential(ops)) > 1 and time.time() < budget_end:
            if ops[i]["op"] != "wait":
                cand = drop(ops, i, 1)
                if fails(cand):
                    ops = cand
            i -= 1
    path = write_regression(cfg, target, ops, reproduced, res)
    print("shrink: %d operation(s) left; regression test %s" % (len(essential(ops)), path),
          flush=True)
    for op in ops:
        print("  " + chaos_ops.describe(op) + " ; wait %.2f" % op["wait"], flush=True)
    return ops, path


REGRESSION = '''#!/usr/bin/env python3
"""Regression from the chaos tester: seed %(seed)s, invariant %(invariant)s%(on)s.

%(message)s

Shrunk from %(n_orig)d operations (up to the violation) to %(n)d (%(repro)s).
Run it (two or three times: it replays a timed sequence, so it may not
fail every time):

    python3 e2e/run.py e2e/chaos/regressions/%(name)s
    python3 e2e/chaos/regressions/%(name)s

Operations:
%(listing)s
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# e2e/chaos/regressions/ -> e2e/chaos (or where the tester was when it wrote this)
CHAOS = os.path.join(HERE, "..")
if not os.path.exists(os.path.join(CHAOS, "chaos.py")):
    CHAOS = %(chaos_dir)r
sys.path.insert(0, os.path.abspath(CHAOS))

import chaos  # noqa: E402

CONFIG = %(config)s

OPS = %(ops)s

Regression = chaos.regression_case(OPS, CONFIG)

if __name__ == "__main__":
    unittest.main(verbosity=2)
'''


def regression_case(ops, config):
    """The unittest case of a regression file: replays ops on a fresh
    cluster with config and fails on any violation (printing the step log);
    the output directory is removed when it passes."""
    import unittest

    class Regression(unittest.TestCase):
        def test_sequence(self):
            out = tempfile.mkdtemp(prefix="corral-regress-")
            res = replay(ops, Config(**dict(config, verbose=False)), out=out)
            if res.error or res.violations:
                with open(os.path.join(out, "steps.log")) as f:
                    sys.stderr.write("\n" + f.read())
            self.assertIsNone(res.error, res.report())
            self.assertEqual(res.violations, [], res.report())
            shutil.rmtree(out, ignore_errors=True)

    return Regression


def write_regression(cfg, target, ops, reproduced, res):
    out = cfg.out or res.out
    name = "regress_%s_%s.py" % (cfg.seed, target["invariant"].replace("-", "_"))
    path = os.path.join(out, name)
    listing = "\n".join("    %d. %s ; wait %.2fs" % (k + 1, chaos_ops.describe(op), op["wait"])
                        for k, op in enumerate(ops))
    with open(path, "w") as f:
        f.write(REGRESSION % {
            "seed": cfg.seed, "invariant": target["invariant"],
            "on": " on " + target["request"] if target.get("request") else "",
            "message": _wrap(target["message"]), "n_n": 0,
            "n_orig": len([op for op in res.ops if not isinstance(target["step"], int)
                           or op["i"] <= target["step"]]),
            "n": len(essential(ops)),
            "repro": "reproduced on replay" if reproduced else "NOT reproduced on replay; "
                     "full sequence kept",
            "name": name, "listing": listing,
            "chaos_dir": HERE,
            "config": pprint.pformat(cfg.replay_dict(), indent=4),
            "ops": "[\n" + "".join("    %r,\n" % (op,) for op in ops) + "]"})
    os.chmod(path, 0o755)
    return path


def _wrap(text, width=76):
    import textwrap
    return "\n".join(textwrap.wrap(text.replace('"""', "'''"), width))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    ap.add_argument("--minutes", type=float, default=5.0,
                    help="length of the operations phase (the quiet period follows)")
    ap.add_argument("--max-ops", type=int, default=0, help="stop after this many operations")
    ap.add_argument("--replicas", type=int, choices=(2, 3), default=2)
    ap.add_argument("--etcd-members", type=int, choices=(1, 3), default=1)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--shrink", action="store_true",
                    help="on a violation, shrink the sequence and write a regression test")
    ap.add_argument("--shrink-minutes", type=float, default=60.0, help="time budget of --shrink")
    ap.add_argument("--out", help="output directory (default: a new temp dir)")
    ap.add_argument("--replay", metavar="OPS_JSON", help="replay a recorded ops.json instead")
    ap.add_argument("--no-faults", action="store_true", help="user operations only")
    ap.add_argument("--simulate", action="store_true",
                    help="mesoslite --simulate (no processes; no HTTP checks)")
    ap.add_argument("--grace", type=float, default=20.0,
                    help="seconds a duplicate/excess/paused/deleted task may run (default 20)")
    ap.add_argument("--orphan-bound", type=float, default=30.0,
                    help="seconds a task unknown to etcd may run (default 30)")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds after a fault ends before graced bounds count (default 15)")
    ap.add_argument("--converge-bound", type=float, default=90.0,
                    help="seconds to converge after the faults stop (default 90)")
    ap.add_argument("--no-floor", action="store_true", help="do not check the capacity floor")
    ap.add_argument("--no-outcome", action="store_true",
                    help="do not require the newest good deploy to end active")
    ap.add_argument("--no-status", action="store_true",
                    help="do not check that Ready follows a settled request within --grace")
    ap.add_argument("--strict-kill-replacement", action="store_true",
                    help="a kill with waitForReplacementTask must not dip capacity")
    ap.add_argument("--max-wait", type=float, default=2.5, help="longest ordinary wait (s)")
    ap.add_argument("--quiet-log", action="store_true", help="do not echo the step log")
    ap.add_argument("--keep", action="store_true", help="copy process logs even without a violation")
    ap.add_argument("--self-test", action="store_true",
                    help="also write rogue kill intents into etcd (as a buggy controller "
                         "would): the run must report capacity-floor violations")
    a = ap.parse_args(argv)
    seed = a.seed if a.seed is not None else int(time.time()) % 1000000
    cfg = Config(seed=seed, minutes=a.minutes, max_ops=a.max_ops, replicas=a.replicas,
                 etcd_members=a.etcd_members, agents=a.agents, shrink=a.shrink,
                 shrink_minutes=a.shrink_minutes, out=a.out, faults=not a.no_faults,
                 simulate=a.simulate, grace=a.grace, orphan_bound=a.orphan_bound,
                 settle=a.settle, converge_bound=a.converge_bound,
                 check_floor=not a.no_floor, check_outcome=not a.no_outcome,
                 check_status=not a.no_status,
                 strict_kill_replacement=a.strict_kill_replacement, max_wait=a.max_wait,
                 verbose=not a.quiet_log, keep=a.keep, self_test=a.self_test)

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        if a.replay:
            with open(a.replay) as f:
                rec = json.load(f)
            for k, v in rec.get("config", {}).items():
                setattr(cfg, k, v)
            cfg.seed = rec.get("seed", cfg.seed)
            res = replay(rec["ops"], cfg, out=a.out)
            print(res.report(), flush=True)
            if a.shrink and res.violations and not res.error:
                shrink(cfg, res)
        else:
            print("chaos: seed %d (reproduce with --seed %d)" % (seed, seed), flush=True)
            res = run(cfg)
    except KeyboardInterrupt:
        print("chaos: interrupted; every process was stopped", flush=True)
        return 130
    if res.error:
        return 2
    return 1 if res.violations else 0


if __name__ == "__main__":
    sys.exit(main())
