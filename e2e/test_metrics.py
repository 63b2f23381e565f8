"""corrald's /metrics: after a deploy launches a task through the leader
(real etcd, mesoslite, controllers and Mesos bridge), the reconcile queue,
reconcile latency, etcd latency, Mesos call latency and event-loop lag
series are present with plausible values, and the whole text parses as
Prometheus exposition format (HELP/TYPE before a family's samples,
`name{labels} value` lines, histogram buckets cumulative and ending at
+Inf == _count).
"""
import json
import math
import re
import unittest

import harness

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^{}]*)\})? (\S+)$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
COMMENT = re.compile(r'^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)( .*)?$')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_labels(text):
    out, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError("bad labels %r" % text)
        out[m.group(1)] = m.group(2)
        pos = m.end()
    return out


def parse(text):
    """Returns ({family: type}, [(name, labels, value)]); raises ValueError on
    anything that is not exposition format."""
    types, helps, samples = {}, set(), []
    if not text.endswith("\n"):
        raise ValueError("text does not end with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("#"):
            m = COMMENT.match(line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.group(1), m.group(2), (m.group(3) or "").strip()
            if kind == "TYPE":
                if rest not in TYPES:
                    raise ValueError("line %d: bad type %r" % (n, rest))
                if name in types:
                    raise ValueError("line %d: second TYPE for %s" % (n, name))
                if any(family_of(s[0], types) == name for s in samples):
                    raise ValueError("line %d: TYPE of %s after its samples" % (n, name))
                types[name] = rest
            else:
                if name in helps:
                    raise ValueError("line %d: second HELP for %s" % (n, name))
                if any(family_of(s[0], types) == name for s in samples):
                    raise ValueError("line %d: HELP of %s after its samples" % (n, name))
                helps.add(name)
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        value = float(m.group(4))  # ValueError if not a number (+Inf, NaN parse)
        name = m.group(1)
        if family_of(name, types) not in types:
            raise ValueError("line %d: sample %s before its TYPE" % (n, name))
        samples.append((name, parse_labels(m.group(3) or ""), value))
    return types, samples


def family_of(name, types):
    for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in kinds:
            return base
    return name


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == w for k, w in labels.items()):
            return v
    return None


class TestParser(unittest.TestCase):
    """The checker itself must reject what is not exposition format."""

    def test_rejects(self):
        for bad in ("x 1\n",                                      # no TYPE
                    "# TYPE x gauge\nx{a=\"b\" 1\n",              # broken braces
                    "# TYPE x gauge\nx one\n",                    # not a number
                    "# TYPE x gauge\nx 1\n# TYPE x gauge\n",      # TYPE twice
                    "# TYPE x gauge\nx 1\n# HELP x late\n",       # HELP after samples
                    "# TYPE x gauge\nx 1"):                       # no final newline
            with self.assertRaises(ValueError, msg=bad):
                parse(bad)

    def test_accepts(self):
        types, s = parse('# HELP h H.\n# TYPE h histogram\nh_bucket{a="1",le="+Inf"} 2\n'
                         'h_sum{a="1"} 0.5\nh_count{a="1"} 2\n')
        self.assertEqual(types, {"h": "histogram"})
        self.assertEqual(value(s, "h_bucket", le="+Inf"), 2)


class TestMetrics(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.addCleanup(self.cluster.close, True)
        self.cluster.etcd()
        self.cluster.mesoslite(agents=1, racks="r1")
        self.api = self.cluster.corrald()

    def ok(self, method, path, body=None):
        st, _, raw = harness.http(method, self.api + path, body)
        self.assertEqual(st, 200, "%s %s -> %d %r" % (method, path, st, raw))
        text = raw.decode()
        return json.loads(text) if text.strip() else None

    def scrape(self):
        st, headers, raw = harness.http("GET", self.api + "/metrics")
        self.assertEqual(st, 200)
        return parse(raw.decode())

    def histogram_ok(self, samples, name, **labels):
        """Buckets cumulative, +Inf equal to _count; returns _count."""
        buckets = [(float(l["le"]), v) for n, l, v in samples
                   if n == name + "_bucket" and all(l.get(k) == w for k, w in labels.items())]
        self.assertTrue(buckets, "%s%r has no buckets" % (name, labels))
        buckets.sort()
        self.assertTrue(math.isinf(buckets[-1][0]))
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts), "%s buckets not cumulative" % name)
        count = value(samples, name + "_count", **labels)
        self.assertEqual(counts[-1], count)
        self.assertGreaterEqual(value(samples, name + "_sum", **labels), 0)
        return count

    def test_metrics_after_a_launch(self):
        # Before anything ran the text already parses and has the families.
        types, _ = self.scrape()
        self.assertEqual(types.get("corral_etcd_request_duration_seconds"), "histogram")
        self.assertEqual(types.get("corral_event_loop_lag_seconds"), "histogram")

        self.ok("POST", "/api/requests", {"id": "web", "requestType": "WORKER", "instances": 1})
        self.ok("POST", "/api/deploys", {"deploy": {
            "requestId": "web", "id": "v1", "command": "exec sleep 300",
            "resources": {"cpus": 0.1, "memoryMb": 32}}})

        def running():
            tasks = self.ok("GET", "/api/tasks/active")
            return any(t.get("lastTaskState") == "TASK_RUNNING" for t in tasks)
        harness.wait_until(running, 60, "a running task")

        def acknowledged():
            _, s = self.scrape()
            n = value(s, "corral_mesos_call_duration_seconds_count", call="ACKNOWLEDGE")
            return n and n > 0
        harness.wait_until(acknowledged, 30, "an ACKNOWLEDGE call timed")

        def lag_ticked():
            return value(self.scrape()[1], "corral_event_loop_lag_seconds_count")
        harness.wait_until(lag_ticked, 10, "an event-loop lag tick (every 50 ms)")

        types, s = self.scrape()
        for fam, typ in (("corral_reconcile_queue_depth", "gauge"),
                         ("corral_reconcile_duration_seconds", "histogram"),
                         ("corral_etcd_request_duration_seconds", "histogram"),
                         ("corral_mesos_call_duration_seconds", "histogram"),
                         ("corral_leader", "gauge"),
                         ("corral_tasks", "gauge"),
                         ("corral_requests", "gauge"),
                         ("corral_kills_withdrawn_total", "counter")):
            self.assertEqual(types.get(fam), typ, fam)
        # nothing was out of reach: no make-room kill withdrawn
        self.assertEqual(value(s, "corral_kills_withdrawn_total"), 0)
        for ctl in ("service", "jobs", "offers"):
            depth = value(s, "corral_reconcile_queue_depth", controller=ctl)
            self.assertIsNotNone(depth, ctl)
            self.assertGreaterEqual(depth, 0)
            for fam in ("corral_reconcile_in_progress", "corral_reconcile_queue_delayed"):
                self.assertGreaterEqual(value(s, fam, controller=ctl), 0, fam)
            self.histogram_ok(s, "corral_reconcile_duration_seconds", controller=ctl)
        for ctl in ("service", "offers"):  # offers: the pass that launched the task
            self.assertGreater(
                self.histogram_ok(s, "corral_reconcile_duration_seconds", controller=ctl), 0, ctl)
        for op in ("range", "txn"):
            self.assertGreater(
                self.histogram_ok(s, "corral_etcd_request_duration_seconds", op=op), 0, op)
        for call in ("ACCEPT", "ACKNOWLEDGE"):
            self.assertGreater(
                self.histogram_ok(s, "corral_mesos_call_duration_seconds", call=call), 0, call)
        self.assertEqual(self.histogram_ok(s, "corral_mesos_call_duration_seconds",
                                           call="OTHER"), 0)
        self.assertEqual(value(s, "corral_leader"), 1)
        self.assertGreaterEqual(value(s, "corral_tasks", state="TASK_RUNNING"), 1)
        self.loop_lag_ok(types, s)

    def loop_lag_ok(self, types, s):
        """The event-loop lag histogram, its max gauge and stall counter agree."""
        for fam, typ in (("corral_event_loop_lag_seconds", "histogram"),
                         ("corral_event_loop_lag_max_seconds", "gauge"),
                         ("corral_event_loop_lag_busy_max_seconds", "gauge"),
                         ("corral_event_loop_stalls_total", "counter")):
            self.assertEqual(types.get(fam), typ, fam)
        count = self.histogram_ok(s, "corral_event_loop_lag_seconds")
        self.assertGreater(count, 0, "the lag timer (every 50 ms) never ran")
        lag_max = value(s, "corral_event_loop_lag_max_seconds")
        stalls = value(s, "corral_event_loop_stalls_total")
        self.assertGreaterEqual(lag_max, 0)
        # the busy part of a lag is a part of one: never above the largest
        busy = value(s, "corral_event_loop_lag_busy_max_seconds")
        self.assertGreaterEqual(busy, 0)
        self.assertLessEqual(busy, lag_max + 1e-6)
        # Stalls are the ticks more than 50 ms late: the ones above le="0.05".
        self.assertEqual(stalls, count - value(s, "corral_event_loop_lag_seconds_bucket",
                                               le="0.05"))
        # The max falls in the histogram: every tick is at or below the first
        # bound above it (1e-6: the gauge is printed with 6 decimals).
        bounds = sorted((float(l["le"]), v) for n, l, v in s
                        if n == "corral_event_loop_lag_seconds_bucket")
        first = next(v for le, v in bounds if le >= lag_max + 1e-6)
        self.assertEqual(first, count)


if __name__ == "__main__":
    unittest.main()
