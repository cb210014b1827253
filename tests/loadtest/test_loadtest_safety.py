"""The load generator only targets this machine and refuses unbounded plans, before sending anything."""

from __future__ import annotations

import json

import pytest

from movierec_load.__main__ import EXIT_REFUSED, main
from movierec_load.plan import Plan
from movierec_load.safety import PlanLimitError, UnsafeTargetError, require_local_target


@pytest.mark.parametrize("target", [
    "127.0.0.1:50051", "127.3.2.1:80", "localhost:8080", "LOCALHOST:1", "[::1]:50051", "dns:///localhost:50051",
    "dns:///127.0.0.1:1", "ipv4:127.0.0.1:50051", "ipv6:[::1]:50051", "http://127.0.0.1:8080", "http://localhost:8080/",
    "https://[::1]:8443/api", "[::ffff:127.0.0.1]:50051",
])
def test_loopback_targets_are_accepted(target):
    assert require_local_target("retrieval", target) == target


@pytest.mark.parametrize("target", [
    "10.0.0.7:50051", "192.168.1.5:80", "8.8.8.8:53", "0.0.0.0:50051", "example.com:443",
    "retrieval.movierec.svc.cluster.local:50051", "dns:///retrieval:50051", "dns://127.0.0.1/example.com:50051",
    "[2001:db8::1]:50051", "[::]:50051", "http://192.168.1.5:8080", "http://example.com",
    "http://127.0.0.1.nip.io:8080", "ftp://127.0.0.1/", "unix:/tmp/retrieval.sock", "", "::1:50051",
])
def test_targets_off_this_machine_are_refused(target):
    with pytest.raises(UnsafeTargetError):
        require_local_target("retrieval", target)


def test_refusal_names_the_target_and_the_rule():
    with pytest.raises(UnsafeTargetError, match=r"refusing to load-test ranker at '10\.1\.2\.3:50054'.*"
                                                r"localhost, 127\.0\.0\.0/8 and ::1"):
        require_local_target("ranker", "10.1.2.3:50054")


@pytest.mark.parametrize(("endpoints", "scenarios", "named"), [
    ({"retrieval": "10.1.2.3:50051"}, "retrieval.search", "retrieval"),
    ({"retrieval": "127.0.0.1:1", "gateway": "http://example.com:8080"}, "retrieval.search,gateway.journey",
     "gateway"),
])
def test_cli_refuses_a_remote_endpoint_before_sending(tmp_path, capsys, endpoints, scenarios, named):
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(endpoints))
    code = main(["--endpoints", str(path), "--scenarios", scenarios, "--duration", "1",
                 "--out-dir", str(tmp_path / "out")])
    assert code == EXIT_REFUSED
    assert f"refusing to load-test {named}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_plan_longer_than_its_time_limit(tmp_path, capsys):
    code = main(["--endpoints", str(tmp_path / "unused.json"), "--max-total-s", "30", "--out-dir", str(tmp_path)])
    assert code == EXIT_REFUSED
    assert "could take" in capsys.readouterr().err


@pytest.mark.parametrize(("plan", "message"), [
    (Plan(duration_s=0), "duration"),
    (Plan(duration_s=1000), "duration"),
    (Plan(concurrency=(1, 100_000)), "concurrency"),
    (Plan(rates={"retrieval.search": 1e6}), "rate"),
    (Plan(max_requests_per_run=0), "max requests"),
    (Plan(scenarios=("retrieval.nope",)), "unknown scenario"),
    (Plan(max_total_s=10_000), "max total"),
])
def test_unbounded_plans_are_refused(plan, message):
    with pytest.raises(PlanLimitError, match=message):
        plan.validate()


def test_default_plan_fits_in_ten_minutes():
    plan = Plan()
    plan.validate()
    assert plan.worst_case_s() <= 600
