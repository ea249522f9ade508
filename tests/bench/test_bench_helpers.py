"""bench helpers with logic: the derived manifests and the choice of the 224x224x3 model."""

from __future__ import annotations

from pathlib import Path

from bench.batching import derived_manifest
from bench.gateway import large_model
from tandem.configgen import routes
from tandem.loadtest.targets import models_from_build
from tandem.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
MLPS = ["digits_mlp_tf", "digits_mlp_torch"]


def test_batching_off_manifest_keeps_the_models_and_their_twins_only(tmp_path):
    path = derived_manifest(REPO / "models.yaml", tmp_path / "m.yaml", MLPS, batching=False)
    m = load_manifest(path)  # loads: no twin names a model that was left out
    assert [x.name for x in m.models] == MLPS
    assert all(not x.batching.enabled for x in m.models)
    # the bounds of batching on, not those derived from a batch of one
    on = {x.name: x.admission_bounds for x in load_manifest(REPO / "models.yaml").models}
    assert {x.name: x.admission_bounds for x in m.models} == {n: on[n] for n in MLPS}
    assert [t.name for t in m.twins] == ["digits_mlp"]


def test_free_ports_move_every_server(tmp_path):
    path = derived_manifest(REPO / "models.yaml", tmp_path / "m.yaml", MLPS, True, free_ports=True)
    servers = load_manifest(path).data.servers
    ports = {
        servers.tfserving.rest_port,
        servers.tfserving.grpc_port,
        servers.torchserve.inference_port,
        servers.torchserve.management_port,
        servers.gateway.port,
    }
    assert not ports & {8000, 8080, 8081, 8500, 8501}
    assert all(x.batching.enabled for x in load_manifest(path).models)


def test_large_model_is_the_backends_224x224x3_one(tmp_path):
    (tmp_path / "config").mkdir()
    rendered = routes(load_manifest(REPO / "models.yaml"), tmp_path)
    (tmp_path / "config" / "routes.json").write_text(rendered)
    found = models_from_build(tmp_path)
    assert large_model(found, "tfserving") == "digits_cnn224_tf"
    assert large_model(found, "torchserve") == "digits_cnn224_torch"
    assert large_model(found, "no-such-backend") is None


def _child(completed: int, measured_s: float, errors: dict[str, int], lag_us: int, stable=True):
    from hdrh.histogram import HdrHistogram

    from bench.openloop import ChildResult

    hist, lag = HdrHistogram(1, 60_000_000, 3), HdrHistogram(1, 60_000_000, 3)
    for _ in range(completed):
        hist.record_value(2000)
    lag.record_value(lag_us)
    fields = {
        "target": "m gateway-v1",
        "load": (completed + sum(errors.values())) / measured_s,
        "arrival": "constant",
        "stable": stable,
        "windows_measured": 4,
        "measured_s": measured_s,
        "completed": completed,
        "errors": errors,
        "sent": completed + sum(errors.values()),
        "send_span_s": measured_s,
        "gen_cpu_s": 0.1,
    }
    return ChildResult(fields, hist.encode(), lag.encode(), [0.001] * errors.get("503", 0))


def test_processes_merge_into_one_point():
    from bench.openloop import merge

    result, refusals = merge(
        [_child(400, 2.0, {"503": 3}, 100), _child(300, 1.5, {"timeout": 1}, 100)]
    )
    assert result.load == 403 / 2.0 + 301 / 1.5
    assert result.sent_rps == result.load  # each child sent at its rate
    assert result.throughput_rps == 400 / 2.0 + 300 / 1.5  # rates add up
    assert result.errors == {"503": 3, "timeout": 1}
    assert result.ok == 700
    assert result.pct_ms(50) == 2.0
    assert len(refusals) == 3
    assert result.stable
    assert not result.generator_limited


def test_one_lagging_or_unstable_process_marks_the_point():
    from bench.openloop import merge

    lagging, _ = merge([_child(400, 2.0, {}, 100), _child(400, 2.0, {}, 50_000)])
    assert lagging.generator_limited  # a child sent 50 ms late
    unstable, _ = merge([_child(400, 2.0, {}, 100), _child(400, 2.0, {}, 100, stable=False)])
    assert not unstable.stable


def test_generator_processes_follow_the_rate_up_to_the_cores():
    import os

    from bench.gateway import generator_processes

    assert generator_processes(1000, 1500) == 1
    assert generator_processes(3100, 1500) == min(3, os.cpu_count() or 1)
    assert generator_processes(10**6, 1500) == os.cpu_count()


def test_torchserve_batches_from_the_model_log():
    from bench.batches import torchserve_batches

    log = (
        "2026-12-02T18:43:48,745 [INFO ] MODEL_LOG - tandem batch: 8 request(s), 8 row(s)\n"
        "2026-12-02T18:43:48,790 [INFO ] MODEL_LOG - Backend received inference at: 1\n"
        "2026-12-02T18:43:48,790 [INFO ] MODEL_LOG - tandem batch: 1 request(s), 1 row(s)\n"
    )
    found = torchserve_batches(log)
    assert (found.batches, found.requests, found.largest) == (2, 9, 8)
    assert found.line() == "4.5 requests per batch over 2 batches, largest 8"
    assert torchserve_batches("").line() == "no batch seen"


def test_benchmarks_summary_lists_every_make_bench_verdict(tmp_path):
    from bench.benchmarks import MAKE_BENCH, Recorder, summary

    rec = Recorder(tmp_path / "sections.json")
    rec.sections = [
        (
            MAKE_BENCH,
            "python -m bench.gateway",
            "(load average before: 0.5)\n  direct c=32  900 req/s\n"
            "PASS         tfserving    gateway CPU per request at c=32 <= 0.2 ms: 0.15 ms\n"
            "INCONCLUSIVE torchserve   overload: client timeouts <= 0: 3 -- generator-limited\n"
            "overall: FAIL",
        )
    ]
    lines = summary(rec, tmp_path)
    assert lines[:2] == [
        "make bench: PASS         tfserving    gateway CPU per request at c=32 <= 0.2 ms: 0.15 ms",
        "make bench: INCONCLUSIVE torchserve   overload: client timeouts <= 0: 3 -- "
        "generator-limited",
    ]


def test_benchmarks_single_points_get_figures_not_verdicts(tmp_path):
    """Only make bench's interleaved rounds give PASS/FAIL; one point each gives figures."""
    import json

    from bench.benchmarks import BATCHING_NOTE, Recorder, batching_summary, summary

    for name, rps in (("batching-on", 3000.0), ("batching-off", 1000.0)):
        (tmp_path / name).mkdir()
        point = {"model": "m", "path": "direct-rest", "throughput_rps": rps}
        (tmp_path / name / "report.json").write_text(json.dumps({"points": [point]}))
    table = batching_summary(tmp_path)
    assert table.splitlines()[1].split() == ["m", "direct-rest", "3000.0", "1000.0", "3.00"]
    rec = Recorder(tmp_path / "sections.json")
    rec.sections = [(BATCHING_NOTE, "", table)]
    (line,) = summary(rec, tmp_path)
    assert "3.00x" in line
    assert "PASS" not in line
    assert "FAIL" not in line
