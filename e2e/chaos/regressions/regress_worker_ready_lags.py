#!/usr/bin/env python3
"""Regression from the chaos tester: seed 0, invariant convergence on w1.

w1: every slot 1..3 is served by the active deploy d1 and nothing is in
flight, yet its status says Ready=False (NotAllTasksHealthy: 1/3 tasks
healthy) for 50 s after a scale from 1 to 3, until the 60 s resync (a
SERVICE scaled at the same time was Ready again after 3 s)

Minimal by construction (3 operations).
Run it (two or three times: it replays a timed sequence, so it may not
fail every time):

    python3 e2e/run.py e2e/chaos/regressions/regress_worker_ready_lags.py
    python3 e2e/chaos/regressions/regress_worker_ready_lags.py

Operations:
    1. new_request instances=1 rid=w1 rtype=WORKER via=api ; wait 0.50s
    2. deploy did=d1 kind=ok rid=w1 rtype=WORKER via=api ; wait 9.50s
    3. scale instances=3 rid=w1 ; wait 70.00s

The grace bound is 10 s here: with the 60 s resync this fails about five
times in six.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHAOS = os.path.join(HERE, "..")  # e2e/chaos
sys.path.insert(0, os.path.abspath(CHAOS))

import chaos  # noqa: E402

CONFIG = {   'agents': 4,
    'check_duplicates': True,
    'check_floor': True,
    'check_orphans': True,
    'check_outcome': True,
    'check_status': True,
    'converge_bound': 90.0,
    'corrald_args': [],
    'etcd_members': 1,
    'grace': 10.0,
    'interval': 0.2,
    'lease_ttl': 10,
    'orphan_bound': 30.0,
    'replicas': 2,
    'seed': 0,
    'settle': 15.0,
    'simulate': False,
    'strict_kill_replacement': False}

OPS = [
    {'op': 'new_request', 'rid': 'w1', 'rtype': 'WORKER', 'instances': 1, 'via': 'api', 'i': 0, 'wait': 0.5},
    {'op': 'deploy', 'rid': 'w1', 'did': 'd1', 'rtype': 'WORKER', 'kind': 'ok', 'via': 'api', 'i': 1, 'wait': 9.5},
    {'op': 'scale', 'rid': 'w1', 'instances': 3, 'i': 4, 'wait': 70.0},
]


Regression = chaos.regression_case(OPS, CONFIG)


if __name__ == "__main__":
    unittest.main(verbosity=2)
