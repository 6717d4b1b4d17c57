"""Faults with a probability (`rate` < 1), as the fault soak (bench/soak.sh) sets them: some
requests fail and the others are answered, and the fault counts what it injected."""
import subprocess

from .conftest import ENV, aws, control


def test_a_fault_with_a_rate_fails_that_share_of_requests():
    control("/_testbed/faults", method="DELETE")
    control("/_testbed/faults", {"operations": ["ecs:ListClusters"], "error": "500", "rate": 0.5})
    env = dict(ENV, AWS_MAX_ATTEMPTS="1")
    try:
        codes = [subprocess.run(["aws", "ecs", "list-clusters"], env=env, capture_output=True, text=True,
                                timeout=60).returncode for _ in range(24)]
        injected = control("/_testbed/faults")["faults"][0]["injected"]
    finally:
        control("/_testbed/faults", method="DELETE")
    failed = sum(1 for c in codes if c != 0)
    # Both outcomes happen (each run has a 2 * 0.5**24 chance to break this), and every failure
    # is one the fault injected.
    assert 0 < failed < len(codes), codes
    assert failed == injected
    aws("ecs", "list-clusters")
