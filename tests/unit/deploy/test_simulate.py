"""deploy/simulate.py: the scaling simulation's report and the mechanics behind its figures.

The module is a standalone script, loaded here from its path (``deploy`` is not a package).
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "simulate.py"


def _load():
    spec = importlib.util.spec_from_file_location("gas_deploy_simulate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sim = _load()


@pytest.fixture(scope="module")
def default():
    return sim.compare(seed=0)


# --- the report ------------------------------------------------------------------------------


def test_json_prints_exactly_the_two_policies_with_the_three_figures():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--json"], capture_output=True, text=True, check=True
    ).stdout
    data = json.loads(out)  # the whole output is one JSON document
    assert set(data) == {"original", "gas"}
    for figures in data.values():
        assert isinstance(figures["flaps"], int)
        assert isinstance(figures["drain_seconds"], int)
        assert isinstance(figures["instance_hours"], float)
        assert figures["drain_seconds"] > 0 and figures["instance_hours"] > 0


def test_text_report_has_the_timeline_and_the_table(capsys):
    assert sim.main([]) == 0
    out = capsys.readouterr().out
    assert "original web" in out and "gas      annotator" in out
    assert "| policy | flaps" in out
    assert out.count("\n| original |") == 1 and out.count("\n| gas |") == 1


def test_the_original_policies_flap_and_ours_do_not(default):
    original, gas = default["original"].summary(), default["gas"].summary()
    assert original["flaps"] > 0
    assert gas["flaps"] == 0
    # not a property of one lucky seed
    for seed in (1, 2, 3):
        assert sim.run(sim.OriginalPolicy(), seed=seed).summary()["flaps"] > 0
        assert sim.run(sim.GasPolicy(), seed=seed).summary()["flaps"] == 0


def test_ours_drains_the_burst_faster_or_cheaper(default):
    original, gas = default["original"].summary(), default["gas"].summary()
    assert (
        gas["drain_seconds"] < original["drain_seconds"]
        or gas["instance_hours"] < original["instance_hours"]
    )
    # and by a margin worth the README's claim: at least twice as fast
    assert gas["drain_seconds"] * 2 < original["drain_seconds"]


def test_ours_never_interrupts_a_job_the_original_does(default):
    assert default["gas"].summary()["interrupted_jobs"] == 0
    assert default["original"].summary()["interrupted_jobs"] > 0


def test_the_original_annotator_alarm_reads_0_at_the_start_of_a_period(default):
    tier = default["original"].annotator
    ins_while_jobs_arrive = [c for c in tier.group.changes if c[2] < c[1] and c[0] < 1200]
    assert ins_while_jobs_arrive, tier.group.changes


def test_plot_writes_a_small_png(tmp_path, default):
    path = tmp_path / "sim.png"
    sim.plot(default, str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 200_000


def test_committed_plot_is_a_small_png():
    data = (SCRIPT.parent / "simulation.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000


# --- flaps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "load_end", "flaps"),
    [
        ([], 100, 0),
        ([(10, 2, 3), (20, 3, 5)], 100, 0),  # out only
        ([(10, 2, 5), (200, 5, 2)], 100, 0),  # out, then in once the load is over
        ([(10, 2, 5), (50, 5, 4), (200, 4, 2)], 100, 1),  # in while the load is on
        ([(10, 2, 5), (50, 5, 4)], 100, 1),
        ([(10, 2, 3), (20, 3, 2), (30, 2, 3)], 100, 2),  # out, in, out
        ([(10, 2, 3), (20, 3, 2), (30, 2, 3), (200, 3, 2)], 100, 2),  # the last in excused
        ([(10, 3, 2), (200, 2, 3)], 100, 1),  # in, then out after the load: counts
    ],
)
def test_count_flaps(changes, load_end, flaps):
    assert sim.count_flaps(changes, load_end) == flaps


# --- mechanics -------------------------------------------------------------------------------


def test_a_datapoint_is_invisible_until_the_metric_delay_has_passed():
    fleet = sim.Fleet(metric_delay_min_s=60, metric_delay_max_s=120)
    minute = sim.Minute(random.Random(0), fleet)
    minute.sample(x=3.0)
    minute.sample(x=5.0)
    minute.close(60, lambda sums, k: {"x": sums["x"] / k})
    series = minute["x"]
    assert series.latest(60 + 59, 1) is None  # not before the minimum delay
    assert series.latest(60 + 120, 1) == [4.0]  # by the maximum delay, the average
    assert series.latest(60 + 120, 2) is None  # only one datapoint exists


def test_simple_scaling_waits_for_the_cooldown_after_the_activity_completes():
    fleet = sim.Fleet()
    group = sim.Group(fleet, random.Random(0), protect_busy=False)
    policy = sim.SimpleScaling(cooldown_s=300, launch_s=fleet.launch_s)
    rng = random.Random(0)
    policy.act(0, group, [+1], rng)
    assert group.desired == 3
    policy.act(60, group, [+1], rng)
    policy.act(359, group, [-1], rng)
    assert group.desired == 3  # both refused: launch (60 s) + cooldown (300 s) not over
    policy.act(360, group, [+1], rng)
    assert group.desired == 4


def test_a_constant_load_settles_and_stays():
    users = 150  # ≈ 75 requests/s ≈ 4,480 per minute: 5 instances at 1000 per instance
    tier = sim.simulate_web(lambda t: users, sim.GasPolicy(), horizon_s=2 * 3600)
    need = math.ceil(users / (2.0 + 0.008) * 60 / sim.GasPolicy().web_requests_per_target)
    assert all(new > old for _, old, new in tier.group.changes)  # never back down
    settled = [c for t, c in zip(tier.times, tier.counts, strict=True) if t >= 30 * 60]
    assert set(settled) == {need}
    assert tier.flaps == 0


TRACKING_SCALES_IN = sim.GasPolicy(web_scale_in="tracking", web_idle_points=None)


def test_target_tracking_hunts_when_the_load_sits_just_above_a_multiple_of_the_target():
    # ≈ 5,070 requests per minute against 1,000 per instance: 6 instances read ≈ 845 (< 90 %),
    # a noisy minute below 5,000 proposes 5, and 5 read ≈ 1,014 (> target). AWS's rules as
    # documented, not a bug of the model; why the template disables target tracking's scale-in.
    tier = sim.simulate_web(lambda t: 170, TRACKING_SCALES_IN, horizon_s=2 * 3600)
    assert tier.flaps >= 2
    assert {new for _, _, new in tier.group.changes} <= {5, 6}
    ours = sim.simulate_web(lambda t: 170, sim.GasPolicy(), horizon_s=2 * 3600)
    assert ours.flaps == 0 and [new for _, _, new in ours.group.changes] == [6]


@pytest.mark.parametrize("seed", [0, 1])
def test_after_a_peak_no_steady_web_load_makes_ours_grow_again(seed):
    for users in range(20, 300, 30):
        tier = sim.simulate_web(
            lambda t, u=users: 300 if t < 1800 else u,
            sim.GasPolicy(),
            horizon_s=4 * 3600,
            seed=seed,
        )
        assert tier.regrowths == 0, (users, tier.group.changes)


def test_the_original_web_alarms_flap_on_the_same_constant_load():
    tier = sim.simulate_web(lambda t: 300, sim.OriginalPolicy(), horizon_s=2 * 3600)
    assert tier.flaps >= 2


def test_a_step_load_scales_out_at_once_within_the_alarm_delay_and_warmup():
    step_at, fleet, policy = 1200, sim.Fleet(), sim.GasPolicy()
    tier = sim.simulate_web(lambda t: 40 if t < step_at else 280, policy, horizon_s=3600)
    need = math.ceil(280 / 2.0 * 60 / policy.web_requests_per_target)  # 9
    outs = [c for c in tier.group.changes if c[0] >= step_at]
    first_t, _, first_new = outs[0]
    # 3 datapoints of whole minutes after the step, each visible 1–2 minutes after its end,
    # alarms evaluated every minute
    earliest = step_at + policy.out_points * 60 + fleet.metric_delay_min_s
    latest = step_at + (policy.out_points + 1) * 60 + fleet.metric_delay_max_s
    assert earliest <= first_t <= latest
    assert first_new >= need - 1  # proportional: most of the way in one activity
    at = next(t for t, c in zip(tier.times, tier.counts, strict=True) if c >= need)
    assert at <= latest + 60 + fleet.ready_max_s
    # the course's +1 per cooldown is nowhere near
    orig = sim.simulate_web(lambda t: 40 if t < step_at else 280, sim.OriginalPolicy())
    orig_at = [t for t, c in zip(orig.times, orig.counts, strict=True) if c >= need]
    assert not orig_at or orig_at[0] > at + 15 * 60


def test_target_tracking_alone_keeps_the_web_size_when_requests_stop_our_idle_alarm_does_not():
    stop = 40 * 60

    def users(t):
        return 300 if t < stop else 0

    kept = sim.simulate_web(users, TRACKING_SCALES_IN, horizon_s=2 * 3600)
    assert kept.counts[-1] == max(kept.counts)  # no datapoints: INSUFFICIENT_DATA
    for policy in (
        sim.GasPolicy(),
        sim.GasPolicy(web_scale_in="tracking", web_idle_points=None, fill_missing_with_zero=True),
    ):
        tier = sim.simulate_web(users, policy, horizon_s=7200)
        back = next(t for t, c in zip(tier.times, tier.counts, strict=True) if t > stop and c == 2)
        # 15 minutes without requests (or below 90 % of the target), the last one visible
        # ≤ 2 minutes late
        assert stop + 15 * 60 <= back <= stop + 15 * 60 + 4 * 60
        assert tier.flaps == 0  # out, then in once after the load: not a flap


def test_our_scale_in_alarm_waits_for_all_its_datapoints_and_its_cooldown():
    series = sim.Series()
    for k, value in enumerate([0.1] * 14 + [0.9] + [0.1] * 15):
        series.add(60 * k, value, 60 * k + 60)
    group = sim.Group(sim.Fleet(), random.Random(0), protect_busy=False)
    group.set_desired(0, 6)
    alarm = sim.ScaleInAlarm(series, 0.5, 15, cooldown_s=300)
    alarm.act(15 * 60, group)
    assert group.desired == 6  # 15 datapoints, one not below
    alarm.act(30 * 60, group)
    assert group.desired == 5  # 15 below: one instance less
    alarm.act(31 * 60, group)
    assert group.desired == 5  # still in ALARM, but within the cooldown
    alarm.act(35 * 60, group)
    assert group.desired == 4
    # missing datapoints: no data for a "missing is fine" alarm, breaching for the idle alarm
    empty = sim.Series()
    for k in range(15):
        empty.add(60 * k, None, 60 * k + 60)
    sim.ScaleInAlarm(empty, 1.0, 15).act(15 * 60, group)
    assert group.desired == 4
    sim.ScaleInAlarm(empty, 1.0, 15, exact=2, missing_breaches=True).act(15 * 60, group)
    assert group.desired == 2


@pytest.mark.parametrize("gap", [5.0, 8.0, 12.0, 20.0])
def test_a_steady_stream_of_jobs_makes_ours_settle_not_hunt(gap):
    """At most one flap — out to drain what built up while the farm was small, in once to the
    stream's size — and never a scale-out after a scale-in."""
    scenario = sim.Scenario(
        horizon_s=3 * 3600, trickle_gap_s=gap, burst_start_s=3 * 3600, burst_jobs=0
    )
    for seed in range(4):
        tier = sim.simulate_annotator(
            scenario.jobs(seed), sim.GasPolicy(), horizon_s=scenario.horizon_s, seed=seed
        )
        assert tier.flaps <= 1 and tier.regrowths == 0, tier.group.changes
        assert tier.group.interrupted_total == 0


def test_on_the_steady_stream_target_tracking_scale_in_hunts_and_ours_does_not():
    before = sim.VARIANTS["gas before: target tracking scales in, backlog per instance (4)"]
    load_only = sim.GasPolicy(scale_in="tracking")  # counting running jobs is not enough
    for seed in range(3):
        jobs = sim.STEADY.jobs(seed)
        for policy in (before, load_only):
            tier = sim.simulate_annotator(jobs, policy, horizon_s=sim.STEADY.horizon_s, seed=seed)
            assert tier.flaps >= 5 and tier.regrowths >= 5
        ours = sim.simulate_annotator(
            jobs, sim.GasPolicy(), horizon_s=sim.STEADY.horizon_s, seed=seed
        )
        assert ours.flaps <= 1 and ours.regrowths == 0


def test_scale_in_never_terminates_an_instance_running_a_job():
    fleet = sim.Fleet(min_size=1)
    group = sim.Group(fleet, random.Random(0), protect_busy=True)
    group.set_desired(0, 4)
    for inst in group.instances[:3]:
        inst.job, inst.job_end = 1, 100.0
    idle = group.instances[3]
    busy = group.instances[:3]
    group.set_desired(10, 1)
    assert group.instances == busy  # only the idle one went
    busy[0].job = busy[0].job_end = None
    group.reconcile(20)
    assert group.instances == busy[1:]  # the next one leaves when its job ends
    assert group.interrupted_total == 0 and idle not in group.instances
    # without protection the same scale-in takes busy instances
    unprotected = sim.Group(fleet, random.Random(0), protect_busy=False)
    unprotected.set_desired(0, 4)
    for inst in unprotected.instances:
        inst.job, inst.job_end = 1, 100.0
    unprotected.set_desired(10, 1)
    assert unprotected.interrupted_total == 3


def test_every_job_of_the_burst_runs_to_the_end_once_with_ours():
    sc = sim.Scenario()
    jobs = sc.jobs(0)
    tier = sim.simulate_annotator(
        jobs, sim.GasPolicy(), horizon_s=sc.horizon_s, burst_start_s=sc.burst_start_s
    )
    assert tier.drain_seconds is not None
    assert tier.load[-1] == 0 and tier.counts[-1] == sim.Fleet().min_size


def test_a_trickle_the_minimum_absorbs_changes_nothing():
    jobs = [(10.0 + 20 * k, 30.0) for k in range(300)]  # 1.5 annotators busy
    tier = sim.simulate_annotator(jobs, sim.GasPolicy(), horizon_s=2 * 3600)
    assert tier.group.changes == []


def test_the_variants_report_covers_both_scenarios():
    out = sim.variants(seeds=1)
    assert "Default scenario" in out and "Steady stream" in out
    for name in sim.VARIANTS:
        assert f"| {name} |" in out


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_same_run_other_seed_other_run():
    a, b = sim.compare(seed=7), sim.compare(seed=7)
    for name in ("original", "gas"):
        assert a[name].summary() == b[name].summary()
        assert a[name].web.counts == b[name].web.counts
        assert a[name].annotator.counts == b[name].annotator.counts
    c = sim.compare(seed=8)
    assert any(
        a[name].annotator.counts != c[name].annotator.counts
        or a[name].web.counts != c[name].web.counts
        for name in ("original", "gas")
    )
