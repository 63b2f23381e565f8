#!/usr/bin/env python3
"""Regression from the chaos tester: seed 2026, invariant capacity-floor on r1.

r8 serves 3 instance slot(s), below its floor 5 (instances 5, had 5): the
leader changed (SIGKILL) during step 2 of a stepped deploy; the new leader's
first pass superseded it and killed its serving tasks in slots 1-2 at once
(cleanup DEPLOY_CANCELED, 'retired: not the active deploy'), before the
active deploy served those slots. Also seen at +1035.4 s (r1, SIGSTOP of the
leader). Rebuilt by hand as r1 (supersede) and r2 (cancel).

Seen twice in the 20-minute run of seed 2026 (+659.8 s on r8, +1035.4 s on r1;
shrinking 355 timed operations would take hours); this is the sequence rebuilt
by hand, which failed on both requests every time it was run.
Run it (two or three times: it replays a timed sequence, so it may not
fail every time):

    python3 e2e/run.py e2e/chaos/regressions/regress_failover_retires_serving_canary.py
    python3 e2e/chaos/regressions/regress_failover_retires_serving_canary.py

Operations:
    1. new_request instances=3 rid=r1 rtype=SERVICE via=api ; wait 0.30s
    2. deploy did=d1 kind=ok rid=r1 rtype=SERVICE via=api ; wait 0.30s
    3. new_request instances=3 rid=r2 rtype=SERVICE via=api ; wait 0.30s
    4. deploy did=d1 kind=ok rid=r2 rtype=SERVICE via=api ; wait 9.00s
    5. deploy delay=10 did=d2 kind=slow rid=r1 rtype=SERVICE step=1 via=api ; wait 0.10s
    6. deploy delay=10 did=d2 kind=slow rid=r2 rtype=SERVICE step=1 via=api ; wait 14.00s
    7. leader_kill restart_after=30 ; wait 1.00s
    8. deploy did=d3 kind=crash rid=r1 rtype=SERVICE via=etcd ; wait 0.50s
    9. cancel did=d2 rid=r2 ; wait 40.00s
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
    'grace': 20.0,
    'interval': 0.2,
    'lease_ttl': 10,
    'orphan_bound': 30.0,
    'replicas': 2,
    'seed': 2026,
    'settle': 15.0,
    'simulate': False,
    'strict_kill_replacement': False}

OPS = [
    {'op': 'new_request', 'rid': 'r1', 'rtype': 'SERVICE', 'instances': 3, 'via': 'api', 'i': 0, 'wait': 0.3},
    {'op': 'deploy', 'rid': 'r1', 'did': 'd1', 'rtype': 'SERVICE', 'kind': 'ok', 'via': 'api', 'i': 1, 'wait': 0.3},
    {'op': 'new_request', 'rid': 'r2', 'rtype': 'SERVICE', 'instances': 3, 'via': 'api', 'i': 2, 'wait': 0.3},
    {'op': 'deploy', 'rid': 'r2', 'did': 'd1', 'rtype': 'SERVICE', 'kind': 'ok', 'via': 'api', 'i': 3, 'wait': 9},
    {'op': 'deploy', 'rid': 'r1', 'did': 'd2', 'rtype': 'SERVICE', 'kind': 'slow', 'delay': 10, 'step': 1, 'via': 'api', 'i': 4, 'wait': 0.1},
    {'op': 'deploy', 'rid': 'r2', 'did': 'd2', 'rtype': 'SERVICE', 'kind': 'slow', 'delay': 10, 'step': 1, 'via': 'api', 'i': 5, 'wait': 14},
    {'op': 'leader_kill', 'restart_after': 30, 'i': 6, 'wait': 1},
    {'op': 'deploy', 'rid': 'r1', 'did': 'd3', 'rtype': 'SERVICE', 'kind': 'crash', 'via': 'etcd', 'i': 7, 'wait': 0.5},
    {'op': 'cancel', 'rid': 'r2', 'did': 'd2', 'i': 8, 'wait': 40},
]


Regression = chaos.regression_case(OPS, CONFIG)


if __name__ == "__main__":
    unittest.main(verbosity=2)
