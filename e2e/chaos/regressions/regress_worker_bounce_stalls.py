#!/usr/bin/env python3
"""Regression from the chaos tester: seed 0, invariant no-duplicates on w1.

w1: the bounce has a healthy replacement in every slot (WORKER tasks are
healthy after running 2 s), yet its old tasks still run and lastBounce is 0;
the bounce finished 48 s after it was asked for, at the 60 s resync (a
SERVICE bounced at the same time finished in 3.4 s)

Minimal by construction (3 operations; the same shape as the chaos runs' bounces).
Run it (two or three times: it replays a timed sequence, so it may not
fail every time):

    python3 e2e/run.py e2e/chaos/regressions/regress_worker_bounce_stalls.py
    python3 e2e/chaos/regressions/regress_worker_bounce_stalls.py

Operations:
    1. new_request instances=3 rid=w1 rtype=WORKER via=api ; wait 0.50s
    2. deploy did=d1 kind=ok rid=w1 rtype=WORKER via=api ; wait 11.00s
    3. bounce rid=w1 ; wait 70.00s

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
    {'op': 'new_request', 'rid': 'w1', 'rtype': 'WORKER', 'instances': 3, 'via': 'api', 'i': 0, 'wait': 0.5},
    {'op': 'deploy', 'rid': 'w1', 'did': 'd1', 'rtype': 'WORKER', 'kind': 'ok', 'via': 'api', 'i': 1, 'wait': 11.0},
    {'op': 'bounce', 'rid': 'w1', 'i': 4, 'wait': 70.0},
]


Regression = chaos.regression_case(OPS, CONFIG)


if __name__ == "__main__":
    unittest.main(verbosity=2)
