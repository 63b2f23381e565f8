"""A short, fixed-seed run of the chaos tester (e2e/chaos/chaos.py,
docs/reliability.md "Invariants"): real etcd, mesoslite with four agents and
two corrald replicas, two minutes of random operations and faults, then the
quiet period in which the cluster must converge. Fails on any violation of
the invariants and prints the seed, the violations and the whole step log.

Reproduce a failure outside the suite with the seed it prints:

    python3 e2e/chaos/chaos.py --seed 2101 --minutes 2

Longer runs: `make chaos SEED=... MINUTES=...`.
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "chaos"))

import chaos  # noqa: E402

SEED = int(os.environ.get("CHAOS_SEED", "2101"))
MINUTES = float(os.environ.get("CHAOS_MINUTES", "2"))


class ChaosShort(unittest.TestCase):
    def test_fixed_seed(self):
        out = tempfile.mkdtemp(prefix="corral-chaos-short-")
        cfg = chaos.Config(seed=SEED, minutes=MINUTES, replicas=2, etcd_members=1,
                           out=out, verbose=False)
        res = chaos.run(cfg)
        if res.error or res.violations:
            with open(os.path.join(out, "steps.log")) as f:
                steps = f.read()
            sys.stderr.write("\nchaos seed %d (reproduce: python3 e2e/chaos/chaos.py --seed %d "
                             "--minutes %s)\n%s\n--- step log (%s) ---\n%s\n"
                             % (SEED, SEED, MINUTES, res.report(), out, steps))
        self.assertIsNone(res.error, "the tester failed: %s" % res.error)
        self.assertEqual([], ["[%s] %s" % (v["invariant"], v["message"])
                              for v in res.violations],
                         "seed %d: invariants violated; output kept in %s" % (SEED, out))
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
