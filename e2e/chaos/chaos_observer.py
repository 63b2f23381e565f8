"""The chaos tester's independent observer: every ~200 ms it reads what
really runs (mesoslite's /master/state) and what is desired (etcd, in one
txn, through the gateway; never through corrald, which is under test) and
checks the invariants of docs/reliability.md ("Invariants"):

1. capacity floor  (immediate: any observed dip is a violation)
2. no duplicates   (per slot and in total; graced: must clear within a bound)
3. no loss         (Mesos tasks unknown to etcd must die within a bound; the
                    API-write part is checked by the runner after each write)
4. convergence     (converged(): used by the runner in the quiet period)

What the tester itself did (kills, agent removals, faults) comes from a
Knowledge object the runner fills in *before* it acts, so an effect is never
seen before its excuse.
"""
import threading
import time

from chaos_cluster import EtcdError, PREFIX
import chaos_ops

TERMINAL_DEPLOY = {"SUCCEEDED", "FAILED", "CANCELED", "OVERDUE", "FAILED_INTERNAL_STATE",
                   "SUPERSEDED"}
LIVE_TASK = {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"}
CLUSTER_LOSS = {"TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN",
                "TASK_GONE_BY_OPERATOR"}


def parse_task_id(tid):
    """(requestId, deployId, instanceNo) of a Singularity-shaped task id
    {request}-{deploy}-{startedAt}-{instance}-{host}-{rack}, or None."""
    p = tid.split("-")
    if len(p) < 6:
        return None
    try:
        return "-".join(p[:-5]), p[-5], int(p[-3])
    except ValueError:
        return None


class Knowledge:
    """What the tester did, for the observer's excuses. Thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.deploys = {}        # (rid, did) -> deploy op
        self.killed = {}         # task id -> (time, why)
        self.agents_removed = {}  # agent id -> [[start, end or None], ...]
        self.disrupt_until = 0.0
        self.step = -1

    def add_deploy(self, op):
        with self.lock:
            self.deploys[(op["rid"], op["did"])] = op

    def deploy(self, rid, did):
        with self.lock:
            return self.deploys.get((rid, did))

    def excuse(self, tid, why):
        with self.lock:
            self.killed.setdefault(tid, (time.time(), why))

    def killed_why(self, tid):
        with self.lock:
            k = self.killed.get(tid)
            return k[1] if k else None

    def disrupt(self, until):
        with self.lock:
            self.disrupt_until = max(self.disrupt_until, until)

    def agent_down(self, aid):
        with self.lock:
            self.agents_removed.setdefault(aid, []).append([time.time(), None])

    def agent_up(self, aid):
        with self.lock:
            for iv in self.agents_removed.get(aid, []):
                if iv[1] is None:
                    iv[1] = time.time()

    def agent_was_removed(self, aid, t, slack=5.0):
        with self.lock:
            for s, e in self.agents_removed.get(aid, []):
                if s - 1.0 <= t <= (e if e is not None else t) + slack:
                    return True
        return False


class Snapshot:
    """One observation: Mesos first, then etcd (so a desired-state change
    the tester made before Mesos acted on it is never missed; a dip below
    the floor is checked against a second Mesos read, Observer._served_again)."""

    def __init__(self):
        self.t = 0.0
        self.tasks = {}        # task id -> {rid, did, inst, state, fw, agent, running_since}
        self.unreachable = {}  # task id -> agent id
        self.completed = {}    # task id -> (state, message, reason)
        self.agents = []
        self.revision = 0
        self.requests = {}     # rid -> doc
        self.statuses = {}     # rid -> status doc
        self.dstatus = {}      # (rid, did) -> deploy status doc
        self.paused = set()
        self.bounces = {}      # rid -> bounce intent doc
        self.cancels = set()   # (rid, did)
        self.task_keys = {}    # task id -> rid
        self.deploy_keys = set()
        self.framework = None
        self.pending = {}      # rid -> count
        self.cleanups = set()
        self.etcd_ok = False
        self.again = None      # the second Mesos read (Observer._served_again), once


def _json(v):
    import json
    try:
        return json.loads(v)
    except (ValueError, TypeError):
        return None


def read_mesos(cluster, s):
    """Fills s's Mesos part (agents, tasks, unreachable, completed) from the
    master's state."""
    ms = cluster.mesos_state(timeout=3.0)
    s.agents = [a["id"] for a in ms.get("slaves", [])]
    for fw in ms.get("frameworks", []) + ms.get("completed_frameworks", []):
        for t in fw.get("tasks", []):
            p = parse_task_id(t["id"])
            since = None
            for st in t.get("statuses", []):
                if st.get("state") == "TASK_RUNNING":
                    since = st.get("timestamp")
                    break
            s.tasks[t["id"]] = {"rid": p[0] if p else None, "did": p[1] if p else None,
                                "inst": p[2] if p else None, "state": t.get("state"),
                                "fw": fw.get("id"), "agent": t.get("slave_id"),
                                "running_since": since}
        for t in fw.get("unreachable_tasks", []):
            s.unreachable[t["id"]] = t.get("slave_id")
        for t in fw.get("completed_tasks", []):
            sts = t.get("statuses") or [{}]
            s.completed[t["id"]] = (t.get("state"), sts[-1].get("message"), sts[-1].get("reason"))


def take_snapshot(cluster, last=None):
    s = Snapshot()
    s.t = time.time()
    read_mesos(cluster, s)
    # etcd: one txn, one revision.
    E = cluster.etcd
    ops = [E.range_op(PREFIX + "/requests/"), E.range_op(PREFIX + "/status/requests/"),
           E.range_op(PREFIX + "/status/deploys/"), E.range_op(PREFIX + "/intents/"),
           E.range_op(PREFIX + "/tasks/", keys_only=True),
           E.range_op(PREFIX + "/deploys/", keys_only=True),
           E.range_op(PREFIX + "/framework", single=True),
           E.range_op(PREFIX + "/pending/", keys_only=True),
           E.range_op(PREFIX + "/cleanups/", keys_only=True)]
    try:
        rev, res = E.multi_range(ops)
        # The etcd read (kill intents included) comes after Mesos': a task's
        # running time is judged at this moment, so a kill Corral decided
        # between the two reads (its clock past running + serve_after) is not
        # taken for a kill of a task that had not served long enough yet.
        s.t = time.time()
    except EtcdError:
        if last is not None and last.etcd_ok:
            for k in ("revision", "requests", "statuses", "dstatus", "paused", "bounces",
                      "cancels", "task_keys", "deploy_keys", "framework", "pending",
                      "cleanups"):
                setattr(s, k, getattr(last, k))
        return s
    s.etcd_ok = True
    s.revision = rev
    n = len(PREFIX) + 1

    def parts(k):
        return k[n:].split("/")
    for k, v in res[0].items():
        s.requests[parts(k)[1]] = _json(v)
    for k, v in res[1].items():
        s.statuses[parts(k)[2]] = _json(v) or {}
    for k, v in res[2].items():
        p = parts(k)
        if len(p) == 4:
            s.dstatus[(p[2], p[3])] = _json(v) or {}
    for k, v in res[3].items():
        p = parts(k)
        if p[1] == "requests" and len(p) == 4:
            if p[3] == "pause":
                s.paused.add(p[2])
            elif p[3] == "bounce":
                s.bounces[p[2]] = _json(v) or {}
        elif p[1] == "deploys" and len(p) == 5 and p[4] == "cancel":
            s.cancels.add((p[2], p[3]))
    for k in res[4]:
        p = parts(k)
        if len(p) == 3:
            s.task_keys[p[2]] = p[1]
    for k in res[5]:
        p = parts(k)
        if len(p) == 3:
            s.deploy_keys.add((p[1], p[2]))
    fw = _json(res[6].get(PREFIX + "/framework"))
    s.framework = fw.get("frameworkId") if isinstance(fw, dict) else None
    for k in res[7]:
        p = parts(k)
        s.pending[p[1]] = s.pending.get(p[1], 0) + 1
    for k in res[8]:
        s.cleanups.add(parts(k)[1])
    return s


def instances_of(doc):
    if not isinstance(doc, dict):
        return None
    n = doc.get("instances", 1)
    return n if isinstance(n, int) else None


class Observer(threading.Thread):
    """Runs the continuous checks; report(violation dict) is called for
    each violation (from this thread)."""

    def __init__(self, cluster, know, cfg, report, log):
        super().__init__(name="chaos-observer", daemon=True)
        self.cluster, self.know, self.cfg = cluster, know, cfg
        self.report, self.log = report, log
        self.stop_ev = threading.Event()
        self.floor = {}      # rid -> {"B", "N", "counted", "episode"}
        self.graced = {}     # key -> {"first", "reported", "what"}
        self.finals = {}     # task id -> (state, message, reason), accumulated
        self.last = None
        self.tlog = None     # file for the transitions log (set by the runner)
        self.ticks = 0
        self.errors = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def stop(self):
        self.stop_ev.set()

    def run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            try:
                snap = take_snapshot(self.cluster, self.last)
            except (OSError, ValueError) as e:
                self.errors += 1
                if self.errors % 50 == 1:
                    self.log("observer: no snapshot (%s)" % e)
                snap = None
            if snap is not None:
                try:
                    self.check(snap)
                except Exception as e:  # a bug in a check must not stop the others
                    import traceback
                    self.log("observer: check failed: %s\n%s" % (e, traceback.format_exc()))
                with self.lock:
                    self.last = snap
                self.ticks += 1
            self.stop_ev.wait(max(0.0, self.cfg.interval - (time.monotonic() - t0)))

    # -- helpers ------------------------------------------------------------------

    def _serving_since(self, tid, t):
        """When a running task started to count. A task back from an
        unreachable agent is the same process, which never stopped (the
        tester cuts the agent off, it does not kill it): it counts again at
        once (Corral keeps it, docs/mesosbridge.md)."""
        return t["running_since"]

    def _final(self, s, tid):
        t = s.tasks.get(tid)
        if t and t["state"] != "TASK_RUNNING":
            return (t["state"], None, None)
        if tid in s.unreachable:
            return ("TASK_UNREACHABLE", None, None)
        return self.finals.get(tid) or s.completed.get(tid)

    def excused(self, s, tid):
        """Why the end of a counted task is allowed, or None."""
        why = self.know.killed_why(tid)
        if why:
            return why
        fin = self._final(s, tid)
        if fin and fin[0] in CLUSTER_LOSS:
            return "cluster loss (%s)" % fin[0]
        t = (self.last.tasks.get(tid) if self.last else None) or s.tasks.get(tid)
        agent = t["agent"] if t else s.unreachable.get(tid)
        if agent and self.know.agent_was_removed(agent, s.t):
            return "agent %s removed" % agent
        if fin and fin[0] in ("TASK_FAILED", "TASK_FINISHED") and fin[2] != "REASON_TASK_KILLED_DURING_LAUNCH":
            # Ended on its own (not a kill): the application's doing.
            return "exited on its own (%s %s)" % (fin[0], fin[1] or "")
        return None

    def in_flight(self, s, rid):
        """(deploy surge, bounce) of the request: surge is the largest step of
        a deploy in flight (its instances when unstepped), 0 if none."""
        inst = instances_of(s.requests.get(rid)) or 0
        surge = 0
        for (r, d) in s.deploy_keys:
            if r != rid:
                continue
            st = s.dstatus.get((r, d), {}).get("state")
            if st in TERMINAL_DEPLOY:
                continue
            op = self.know.deploy(r, d) or {}
            surge = max(surge, op.get("step") or inst)
        bounce = False
        b = s.bounces.get(rid)
        if b:
            tok = b.get("timestamp") or 0
            if (s.statuses.get(rid, {}).get("lastBounce") or 0) < tok:
                bounce = True
        return surge, bounce

    def _request_view(self, s, rid):
        """The request's Mesos tasks, for violation details."""
        out = []
        for tid, t in sorted(s.tasks.items()):
            if t["rid"] == rid:
                out.append("%s %s%s" % (tid, t["state"],
                                        " (cleanup)" if tid in s.cleanups else ""))
        st = s.statuses.get(rid, {})
        return {"mesos_tasks": out,
                "etcd_instances": instances_of(s.requests.get(rid)),
                "etcd_paused": rid in s.paused,
                "etcd_status": {k: st.get(k) for k in ("state", "activeDeployId",
                                                        "pendingDeployId", "counts")},
                "etcd_deploys": {d: s.dstatus.get((r, d), {}).get("state")
                                 for (r, d) in sorted(s.deploy_keys) if r == rid}}

    def transitions(self, s):
        """Appends what changed since the last observation to the
        transitions log: task states (Mesos), kill intents, request status
        and deploy states (etcd)."""
        last = self.last
        out = []
        old = last.tasks if last else {}
        for tid, t in s.tasks.items():
            o = old.get(tid)
            if o is None or o["state"] != t["state"]:
                out.append("task %s %s -> %s" % (tid, o["state"] if o else "-", t["state"]))
        for tid, o in old.items():
            if tid not in s.tasks:
                out.append("task %s %s -> %s" % (tid, o["state"], (
                    "UNREACHABLE" if tid in s.unreachable else
                    (s.completed.get(tid) or ("gone",))[0])))
        if s.etcd_ok and last is not None and last.etcd_ok:
            for tid in sorted(s.cleanups - last.cleanups):
                out.append("cleanup %s written" % tid)
            for rid, st in sorted(s.statuses.items()):
                o = last.statuses.get(rid, {})
                for k in ("state", "activeDeployId", "pendingDeployId", "lastBounce"):
                    if st.get(k) != o.get(k):
                        out.append("status %s %s: %s -> %s" % (rid, k, o.get(k), st.get(k)))
                rd = [c.get("status") for c in st.get("conditions", []) if c.get("type") == "Ready"]
                ro = [c.get("status") for c in o.get("conditions", []) if c.get("type") == "Ready"]
                if rd != ro:
                    out.append("status %s Ready: %s -> %s" % (rid, (ro or [None])[0],
                                                            (rd or [None])[0]))
            for key, d in sorted(s.dstatus.items()):
                o = last.dstatus.get(key, {})
                if d.get("state") != o.get("state"):
                    out.append("deploy %s/%s: %s -> %s (%s)" % (key[0], key[1], o.get("state"),
                                                                d.get("state"),
                                                                (d.get("message") or "")[:120]))
            for rid in sorted(set(s.requests) | set(last.requests)):
                a, b = instances_of(last.requests.get(rid)), instances_of(s.requests.get(rid))
                if a != b:
                    out.append("request %s instances %s -> %s" % (rid, a, b))
            for rid in sorted(s.paused ^ last.paused):
                out.append("request %s %s" % (rid, "paused" if rid in s.paused else "unpaused"))
        if out:
            stamp = "[%s]" % time.strftime("%H:%M:%S", time.gmtime(s.t)) + \
                ("%.3f" % (s.t % 1))[1:]
            self.tlog.write("".join("%s %s\n" % (stamp, line) for line in out))
            self.tlog.flush()

    # -- the checks -----------------------------------------------------------------

    def check(self, s):
        for tid, fin in s.completed.items():
            self.finals[tid] = fin
        if self.tlog is not None:
            self.transitions(s)
        running = [t for tid, t in s.tasks.items()
                   if t["state"] == "TASK_RUNNING" and tid not in s.unreachable]
        self.max_running = max(self.max_running, len(running))
        self.check_floor(s)
        self.check_graced(s)

    def check_floor(self, s):
        """Invariant 1, counted in instance slots: a slot is served when a
        task of a good deploy in it is RUNNING, could pass its health check
        by now (chaos_ops.serve_after), has no kill intent in etcd (a
        condemned task no longer counts: Corral is judged when it decides a
        kill, not when Mesos carries it out) and is not unreachable now (one
        back from an unreachable agent counts again). B is
        what the request had served (at most its instances). A served slot
        may only go with an excuse: a kill or fault of the tester's, a
        cluster loss, an application exit, or the documented scale-down rule
        (slots above `instances` are killed); then B drops by the slots the
        surplus above B did not absorb."""
        if not self.cfg.check_floor:
            return
        for rid in sorted(set(s.requests) | set(self.floor)):
            st = self.floor.setdefault(rid, {"B": 0, "N": 0, "slots": {}, "episode": None})
            doc = s.requests.get(rid)
            inst = instances_of(doc)
            if inst is None:          # deleted (or not a valid request): no floor
                self._close_episode(s, rid, st)
                st.update(B=0, N=0, slots={})
                continue
            limit = 0 if rid in s.paused else inst
            slots = self._served_slots(s, rid, s.tasks, s.unreachable)
            if len(slots) < min(st["B"], limit):
                slots = self._served_again(s, rid, slots)
            excused, unexcused = {}, []
            for slot in sorted(set(st["slots"]) - set(slots)):
                gone = sorted(st["slots"][slot])
                why = None
                if slot > inst:
                    why = "scale-down: slot %d above instances %d" % (slot, inst)
                for tid in gone:
                    why = why or self.excused(s, tid)
                if why:
                    excused[slot] = "%s: %s" % (",".join(gone), why)
                else:
                    unexcused.extend(gone)
            slack = max(0, st["N"] - st["B"])
            B = max(0, st["B"] - max(0, len(excused) - slack))
            N = len(slots)
            floor = min(B, limit)
            if N < floor:
                if st["episode"] is None:
                    st["episode"] = {"start": s.t, "floor": floor, "low": N}
                    self._report_floor(s, rid, st, N, floor, limit, unexcused, excused, slots)
                else:
                    st["episode"]["low"] = min(st["episode"]["low"], N)
                st["B"] = B   # keep the floor until it is restored
            else:
                self._close_episode(s, rid, st)
                st["B"] = min(max(B, N), limit)
            st["N"] = N
            st["slots"] = slots

    def _served_slots(self, s, rid, tasks, unreachable):
        """Slot -> the tasks serving it (check_floor's rule), from a Mesos view."""
        slots = {}
        if not s.statuses.get(rid, {}).get("activeDeployId"):
            return slots
        for tid, t in tasks.items():
            if t["rid"] != rid or t["state"] != "TASK_RUNNING" or tid in unreachable:
                continue
            if tid in s.cleanups:
                continue   # condemned (a kill intent exists)
            op = self.know.deploy(t["rid"], t["did"])
            if not chaos_ops.serves(op, t["inst"]) or t["running_since"] is None:
                continue
            if s.t - self._serving_since(tid, t) < chaos_ops.serve_after(op):
                continue
            slots.setdefault(t["inst"], set()).add(tid)
        return slots

    def _served_again(self, s, rid, slots):
        """The snapshot reads Mesos, then etcd: a task back from a lost agent
        between the two reads is still unreachable in its Mesos view, while
        the kill Corral decided on its return (the newer copy in its slot) is
        already in etcd. Before a dip below the floor is believed, Mesos is
        read again, after etcd, and the kill intents judged against it; a
        kill carried out meanwhile shows there as a task no longer RUNNING."""
        if s.again is None:  # one read a snapshot, whatever number of requests dip
            s.again = Snapshot()
            try:
                read_mesos(self.cluster, s.again)
            except (OSError, ValueError):  # the master mid-failover: keep the first view
                s.again = False
        if not s.again:
            return slots
        fresh = self._served_slots(s, rid, s.again.tasks, s.again.unreachable)
        if len(fresh) > len(slots):
            self.log("observer: %s serves %d slot(s) in a second Mesos read (first: %d)"
                     % (rid, len(fresh), len(slots)))
            return fresh
        return slots

    def _report_floor(self, s, rid, st, N, floor, limit, unexcused, excused, slots):
        fins = {tid: self._final(s, tid) for tid in unexcused}
        kills = {}
        for tid in unexcused:
            try:
                c = self.cluster.etcd.get("%s/cleanups/%s" % (PREFIX, tid))
            except EtcdError:
                c = None
            if isinstance(c, dict):
                kills[tid] = {k: c.get(k) for k in ("cleanupType", "message", "timestamp",
                                                     "user")}
        self.report({
            "invariant": "capacity-floor", "request": rid,
            "message": "%s serves %d instance slot(s), below its floor %d (instances %d, "
                       "had %d); condemned or ended without excuse: %s"
                       % (rid, N, floor, limit, st["B"], ", ".join(
                           "%s (%s%s)" % (t, (fins[t] or ("still running",))[0],
                                          ", cleanup " + str(kills[t].get("cleanupType"))
                                          if t in kills else "")
                           for t in unexcused) or "none"),
            "details": dict(self._request_view(s, rid), unexcused=unexcused,
                            finals={t: fins[t] for t in unexcused}, cleanups=kills,
                            excused=excused, had=st["B"], floor=floor,
                            serving={str(k): sorted(v) for k, v in sorted(slots.items())})})

    def _close_episode(self, s, rid, st):
        ep = st.get("episode")
        if ep is not None:
            self.log("observer: %s back at its floor after %.1fs (lowest %d of %d)"
                     % (rid, s.t - ep["start"], ep["low"], ep["floor"]))
            st["episode"] = None

    def _bounce_stalled(self, s, rid, inst, ts, cur):
        """A bounce may double the request only until every slot has a
        healthy replacement (docs/controllers.md, Bounce): from then on the
        old tasks must go within the grace bound."""
        token = (s.bounces.get(rid) or {}).get("timestamp") or 0
        active = s.statuses.get(rid, {}).get("activeDeployId")
        ready = set()
        for tid, t in ts:
            op = self.know.deploy(rid, t["did"])
            if t["did"] != active or t["running_since"] is None or tid in s.cleanups:
                continue
            if t["running_since"] * 1000 < token or not chaos_ops.serves(op, t["inst"]):
                continue
            if s.t - t["running_since"] >= chaos_ops.serve_after(op):
                ready.add(t["inst"])
        old = sorted(tid for tid, t in ts if t["running_since"] is not None
                     and t["running_since"] * 1000 < token)
        if inst and ready >= set(range(1, inst + 1)) and old:
            cur[("bounce-stalled", rid)] = (
                self.cfg.grace, "%s: bounce %d has a healthy replacement in every slot, yet "
                "its old tasks still run (%s) and lastBounce is %s"
                % (rid, token, ", ".join(old), s.statuses.get(rid, {}).get("lastBounce")))

    def _status_stale(self, s, rid, inst, ts, cur):
        """Invariant 4's "statuses say so", continuously: with nothing in
        flight and every slot 1..instances served by the active deploy (as
        the capacity floor counts serving), Ready must be True."""
        st = s.statuses.get(rid, {})
        active = st.get("activeDeployId")
        if not active or st.get("state") != "ACTIVE" or inst < 1:
            return
        served = set()
        for tid, t in ts:
            op = self.know.deploy(rid, t["did"])
            if (t["did"] != active or tid in s.cleanups or tid in s.unreachable
                    or t["running_since"] is None or not chaos_ops.serves(op, t["inst"])):
                continue
            if s.t - self._serving_since(tid, t) >= chaos_ops.serve_after(op):
                served.add(t["inst"])
        if not served >= set(range(1, inst + 1)):
            return
        ready = [c for c in st.get("conditions", []) if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            cur[("status-stale", rid)] = (
                self.cfg.grace, "%s: every slot 1..%d is served by the active deploy %s and "
                "nothing is in flight, yet its status says Ready=%s (%s: %s; counts %s)"
                % (rid, inst, active, ready[0].get("status") if ready else None,
                   ready[0].get("reason") if ready else None,
                   ready[0].get("message") if ready else None, st.get("counts")))

    def check_graced(self, s):
        """Invariants 2 and 3 (Mesos side): conditions allowed for a while
        (kills take time; the leader may be failing over) that must clear
        within their bound, counted from when they appeared or from the end
        of the last fault's settle window, whichever is later."""
        now = s.t
        cur = {}
        by_req = {}
        for tid, t in s.tasks.items():
            if t["state"] == "TASK_RUNNING" and tid not in s.unreachable and t["rid"]:
                by_req.setdefault(t["rid"], []).append((tid, t))
        for rid, ts in by_req.items():
            doc = s.requests.get(rid)
            inst = instances_of(doc)
            if inst is None:
                cur[("deleted-running", rid)] = (
                    self.cfg.grace, "request %s is deleted but %d task(s) run: %s"
                    % (rid, len(ts), ", ".join(t for t, _ in ts)))
                continue
            if rid in s.paused:
                cur[("paused-running", rid)] = (
                    self.cfg.grace, "request %s is paused but %d task(s) run: %s"
                    % (rid, len(ts), ", ".join(t for t, _ in ts)))
                continue
            surge, bounce = self.in_flight(s, rid)
            if bounce and self.cfg.check_duplicates:
                self._bounce_stalled(s, rid, inst, ts, cur)
            if not surge and not bounce and self.cfg.check_status:
                self._status_stale(s, rid, inst, ts, cur)
            slots = {}
            for tid, t in ts:
                slots.setdefault(t["inst"], []).append(tid)
            allowed = 2 if (surge or bounce) else 1
            if self.cfg.check_duplicates:
                for inst_no, tids in slots.items():
                    if len(tids) > allowed:
                        cur[("duplicate", rid, inst_no)] = (
                            self.cfg.grace, "%s instance %d runs %d tasks (allowed %d%s): %s"
                            % (rid, inst_no, len(tids), allowed,
                               ", deploy or bounce in flight" if allowed > 1 else "",
                               ", ".join(sorted(tids))))
                limit = inst + max(surge, inst if bounce else 0)
                if len(ts) > limit:
                    cur[("surge", rid)] = (
                        self.cfg.grace, "%s runs %d tasks, more than instances %d + surge %d"
                        % (rid, len(ts), inst, limit - inst))
        if self.cfg.check_orphans:
            for tid, t in s.tasks.items():
                if t["state"] not in LIVE_TASK:
                    continue
                if s.task_keys.get(tid) is None or (s.framework and t["fw"] != s.framework):
                    cur[("orphan", tid)] = (
                        self.cfg.orphan_bound,
                        "Mesos runs %s (%s, framework %s) but etcd has no task record for it%s"
                        % (tid, t["state"], t["fw"],
                           "" if t["fw"] == s.framework else
                           " (etcd's framework is %s)" % s.framework))
        with self.know.lock:
            settle_end = self.know.disrupt_until
        for key in list(self.graced):
            if key not in cur:
                g = self.graced.pop(key)
                if g["reported"]:
                    self.log("observer: %s cleared after %.1fs" % ("/".join(map(str, key)),
                                                                  now - g["first"]))
        for key, (bound, what) in cur.items():
            g = self.graced.setdefault(key, {"first": now, "reported": False})
            g["what"] = what
            deadline = max(g["first"], settle_end) + bound
            if not g["reported"] and now > deadline:
                g["reported"] = True
                inv = {"duplicate": "no-duplicates", "surge": "no-duplicates",
                       "bounce-stalled": "no-duplicates", "status-stale": "convergence",
                       "orphan": "no-loss", "deleted-running": "explicit-kill-bound",
                       "paused-running": "explicit-kill-bound"}[key[0]]
                rid = key[1] if key[0] != "orphan" else s.tasks[key[1]]["rid"]
                self.report({"invariant": inv, "request": rid,
                             "message": "%s (for %.1fs, bound %ds)" % (what, now - g["first"],
                                                                     bound),
                             "details": self._request_view(s, rid) if rid else {}})

    # -- convergence -------------------------------------------------------------------

    def summary(self, s):
        """One line per request: desired (etcd) and running (Mesos)."""
        out = []
        for rid in sorted(set(s.requests) | {t["rid"] for t in s.tasks.values() if t["rid"]}):
            st = s.statuses.get(rid, {})
            ready = [c for c in st.get("conditions", []) if c.get("type") == "Ready"]
            run = sorted("%d:%s" % (t["inst"], t["did"]) for tid, t in s.tasks.items()
                         if t["rid"] == rid and t["state"] == "TASK_RUNNING")
            out.append("%s: instances=%s%s state=%s active=%s Ready=%s running=[%s] deploys=%s" % (
                rid, instances_of(s.requests.get(rid)), " paused" if rid in s.paused else "",
                st.get("state"), st.get("activeDeployId"),
                ready[0].get("status") if ready else None, " ".join(run),
                ",".join("%s:%s" % (d, s.dstatus.get((r, d), {}).get("state"))
                         for (r, d) in sorted(s.deploy_keys, key=lambda k: (k[0], len(k[1]), k[1]))
                         if r == rid)))
        return out

    def unconverged(self, s, acked, records=None):
        """Invariant 4: what keeps the cluster from its desired state, as a
        list of strings (empty = converged). acked: the runner's record of
        acknowledged writes (killed task ids); records: {task id:
        lastTaskState} of etcd's task records."""
        bad = []
        if not s.etcd_ok:
            return ["etcd not readable"]
        live = {}
        for tid, t in s.tasks.items():
            if t["state"] in LIVE_TASK:
                live[tid] = t
        for tid in s.unreachable:
            bad.append("task %s still unreachable" % tid)
        for tid, t in live.items():
            if s.framework and t["fw"] != s.framework:
                bad.append("task %s runs under framework %s, not %s"
                           % (tid, t["fw"], s.framework))
            if tid not in s.task_keys:
                bad.append("task %s runs in Mesos without an etcd record" % tid)
        for tid, state in sorted((records or {}).items()):
            # a record that says the task runs must match Mesos (no phantoms)
            if state in LIVE_TASK and tid not in live and tid not in s.unreachable:
                bad.append("etcd says task %s is %s, Mesos does not run it" % (tid, state))
        rids = set(s.requests) | {t["rid"] for t in live.values() if t["rid"]}
        for rid in sorted(rids):
            doc = s.requests.get(rid)
            mine = {tid: t for tid, t in live.items() if t["rid"] == rid}
            st = s.statuses.get(rid, {})
            if doc is None:
                if mine:
                    bad.append("%s deleted but runs %s" % (rid, sorted(mine)))
                if st and st.get("state") not in ("DELETED", None):
                    bad.append("%s deleted but its status says %s" % (rid, st.get("state")))
                continue
            inst = instances_of(doc)
            if inst is None:
                bad.append("%s: request document unreadable" % rid)
                continue
            if rid in s.paused:
                if mine:
                    bad.append("%s paused but runs %s" % (rid, sorted(mine)))
                if st.get("state") != "PAUSED":
                    bad.append("%s paused but its status says %s" % (rid, st.get("state")))
                continue
            written = sorted((d for (r, d) in s.deploy_keys if r == rid),
                             key=lambda d: int(d[1:]) if d[1:].isdigit() else 0)
            good = [d for d in written if chaos_ops.is_good(
                (self.know.deploy(rid, d) or {}).get("kind"))]
            active = st.get("activeDeployId")
            if (self.know.deploy(rid, active) or {}).get("kind") == "partial" and inst > 1:
                # A partial deploy succeeded while the request had one
                # instance; scaled up since, its other slots crash-loop.
                continue
            unfinished = [d for d in written if d != active and
                          s.dstatus.get((rid, d), {}).get("state") not in TERMINAL_DEPLOY]
            if unfinished:
                bad.append("%s: deploy(s) %s not finished (%s)" % (
                    rid, unfinished, [s.dstatus.get((rid, d), {}).get("state")
                                      for d in unfinished]))
            if st.get("pendingDeployId"):
                bad.append("%s: status still has pendingDeployId %s"
                           % (rid, st.get("pendingDeployId")))
            may_lead = good + [d for d in written if inst == 1 and (
                self.know.deploy(rid, d) or {}).get("kind") == "partial"]
            if active is not None and active not in may_lead:
                bad.append("%s: active deploy %s is not one that can be healthy" % (rid, active))
            if self.cfg.check_outcome and written:
                newest = written[-1]
                if newest in good and (rid, newest) not in s.cancels and active != newest:
                    ds = s.dstatus.get((rid, newest), {})
                    bad.append("%s: newest deploy %s (%s, not cancelled) is not active "
                               "(active %s; %s: %s)" % (
                                   rid, newest, self.know.deploy(rid, newest)["kind"], active,
                                   ds.get("state"), ds.get("message")))
            if active is None:
                if mine:
                    bad.append("%s has no active deploy but runs %s" % (rid, sorted(mine)))
                continue
            running = sorted((t["inst"], t["did"], tid) for tid, t in mine.items()
                             if t["state"] == "TASK_RUNNING")
            other = sorted(tid for tid, t in mine.items() if t["state"] != "TASK_RUNNING")
            slots = [x[0] for x in running]
            if slots != list(range(1, inst + 1)) or any(x[1] != active for x in running):
                bad.append("%s: runs %s, wants instances 1..%d of %s" % (
                    rid, ["%d:%s" % (x[0], x[1]) for x in running], inst, active))
            if other:
                bad.append("%s: tasks not RUNNING: %s" % (
                    rid, ["%s %s" % (t, mine[t]["state"]) for t in other]))
            ready = [c for c in st.get("conditions", []) if c.get("type") == "Ready"]
            if not ready or ready[0].get("status") != "True":
                bad.append("%s: status Ready is %s" % (
                    rid, (ready[0].get("status"), ready[0].get("reason"), ready[0].get("message"))
                    if ready else None))
            if st.get("state") != "ACTIVE":
                bad.append("%s: status state %s, wants ACTIVE" % (rid, st.get("state")))
            if s.pending.get(rid):
                bad.append("%s: %d pending task(s) left" % (rid, s.pending[rid]))
            b = s.bounces.get(rid)
            if b and (st.get("lastBounce") or 0) < (b.get("timestamp") or 0):
                bad.append("%s: bounce %s not finished (lastBounce %s)" % (
                    rid, b.get("timestamp"), st.get("lastBounce")))
        for tid in acked.get("killed", ()):
            t = live.get(tid)
            if t and t["state"] == "TASK_RUNNING":
                bad.append("task %s was killed through the API (2xx) but still runs" % tid)
        return bad
