"""Corral's randomized sequence tester (issue 21). Entry point: chaos.py;
see docs/reliability.md. The modules import each other by their plain names
(chaos_ops, chaos_cluster, chaos_observer), so callers put this directory
first on sys.path and `import chaos` (as e2e/test_chaos_short.py does)."""
