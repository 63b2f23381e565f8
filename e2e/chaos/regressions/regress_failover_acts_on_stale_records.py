#!/usr/bin/env python3
"""Regression from the chaos tester: seed 2026, invariant capacity-floor on r3.

r3 serves 2 instance slot(s), below its floor 3: while no leader ran, the
agent of the active deploy's slot-3 task was removed and the stepped deploy
in progress was cancelled; the new leader's first pass, 3-20 ms after its
election and before reconciliation reported that task UNREACHABLE, retired
the cancelled deploy's serving slot-3 task as 'replaced' (seed 2026, +351.6
s). Rebuilt by hand (agent_loss with an 'of' selector).

Seen in the 20-minute run of seed 2026 (+351.6 s, r3: SIGSTOP of the leader,
agent loss, cancel, scale); this is the sequence rebuilt by hand (failed in 2 of
2 runs).
Run it (two or three times: it replays a timed sequence, so it may not
fail every time):

    python3 e2e/run.py e2e/chaos/regressions/regress_failover_acts_on_stale_records.py
    python3 e2e/chaos/regressions/regress_failover_acts_on_stale_records.py

Operations:
    1. new_request instances=3 rid=r3 rtype=WORKER via=api ; wait 0.30s
    2. deploy did=d1 kind=ok rid=r3 rtype=WORKER via=api ; wait 8.00s
    3. deploy delay=10 did=d2 kind=slow rid=r3 rtype=WORKER step=2 via=api ; wait 5.00s
    4. leader_kill restart_after=30 ; wait 2.00s
    5. agent_loss agent=0 of={'rid': 'r3', 'did': 'd1', 'inst': 2} restore_after=None ; wait 1.00s
    6. cancel did=d2 rid=r3 ; wait 40.00s
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
    {'op': 'new_request', 'rid': 'r3', 'rtype': 'WORKER', 'instances': 3, 'via': 'api', 'i': 0, 'wait': 0.3},
    {'op': 'deploy', 'rid': 'r3', 'did': 'd1', 'rtype': 'WORKER', 'kind': 'ok', 'via': 'api', 'i': 1, 'wait': 8},
    {'op': 'deploy', 'rid': 'r3', 'did': 'd2', 'rtype': 'WORKER', 'kind': 'slow', 'delay': 10, 'step': 2, 'via': 'api', 'i': 2, 'wait': 5},
    {'op': 'leader_kill', 'restart_after': 30, 'i': 3, 'wait': 2},
    {'op': 'agent_loss', 'agent': 0, 'of': {'rid': 'r3', 'did': 'd1', 'inst': 2}, 'restore_after': None, 'i': 4, 'wait': 1},
    {'op': 'cancel', 'rid': 'r3', 'did': 'd2', 'i': 5, 'wait': 40},
]


Regression = chaos.regression_case(OPS, CONFIG)


if __name__ == "__main__":
    unittest.main(verbosity=2)
