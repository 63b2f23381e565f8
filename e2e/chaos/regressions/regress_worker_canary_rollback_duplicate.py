#!/usr/bin/env python3
"""Regression from the chaos tester: seed 0, invariant no-duplicates on r2.

r2 instance 1 runs 2 tasks (allowed 1): the d1 task that refilled slot 1
after the stepped deploy d2 FAILED, and d2's canary, which still serves; the
canary was killed only by the 60 s resync, 41 s after d2 failed (found by a
replay of a canary-passes-then-fails sequence; shrunk with --shrink)

Shrunk from 4 operations (up to the violation) to 3 (reproduced on replay).
Run it (two or three times: it replays a timed sequence, so it may not
fail every time):

    python3 e2e/run.py e2e/chaos/regressions/regress_worker_canary_rollback_duplicate.py
    python3 e2e/chaos/regressions/regress_worker_canary_rollback_duplicate.py

Operations:
    1. wait  ; wait 1.00s
    2. new_request instances=3 rid=r2 rtype=WORKER via=api ; wait 0.50s
    3. deploy did=d1 kind=ok rid=r2 rtype=WORKER via=api ; wait 12.50s
    4. deploy did=d2 kind=partial rid=r2 rtype=WORKER step=1 via=api ; wait 40.00s

The grace bound is 10 s here (20 s in chaos runs): the canary should go
within ~3 s of the refill turning healthy; with 10 s the 60 s resync makes
this fail about five times in six.
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
    {'op': 'wait', 'i': -1, 'wait': 1.0},
    {'op': 'new_request', 'rid': 'r2', 'rtype': 'WORKER', 'instances': 3, 'via': 'api', 'i': 2, 'wait': 0.5},
    {'op': 'deploy', 'rid': 'r2', 'did': 'd1', 'rtype': 'WORKER', 'kind': 'ok', 'via': 'api', 'i': 3, 'wait': 12.5},
    {'op': 'deploy', 'rid': 'r2', 'did': 'd2', 'rtype': 'WORKER', 'kind': 'partial', 'step': 1, 'via': 'api', 'i': 5, 'wait': 40.0},
]


Regression = chaos.regression_case(OPS, CONFIG)


if __name__ == "__main__":
    unittest.main(verbosity=2)
