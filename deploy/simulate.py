#!/usr/bin/env python3
"""Replay GAS's load curves through two autoscaling designs; measure flaps, drain time, cost.

Self-contained (standard library; matplotlib only for ``--plot``); it does not import GAS.

Two groups, as in the original course's deployment and in ours, each an Auto Scaling group of
2–10 instances:

* **web** — the seeds' Locust scenario: users ramp to 300 over 10 minutes, wait 1–3 s between
  requests, hold for 50 minutes, then stop.
* **annotator** — the seeds' job script submits a job every 8 s on average (Poisson), then 300
  jobs arrive within a minute, then nothing. A job takes 30 s on average (log-normal).

Policies compared:

* **original** (the course): web — CloudWatch alarm ``RequestCount`` > 200 per minute → +1
  instance, ``TargetResponseTime`` < 10 ms → −1 instance, simple scaling with 300 s cooldowns;
  annotator — alarms on the job topic's ``NumberOfMessagesSent`` per 5-minute period, ≥ 10 → +1,
  < 5 → −1, 300 s cooldowns. The alarm, evaluated every minute, reads the current period's sum
  of the minutes CloudWatch has received so far — 0 at the start of every period. Missing data
  is "not breaching": when traffic stops neither alarm fires and the groups never scale in.
  Scale-in terminates any instance, busy or not (the interrupted job reappears when its SQS
  lease lapses).
* **gas** (ours, as ``deploy/aws/gas.yaml`` sets it up): scale out by target tracking, scale in
  by alarms of our own, one instance at a time. Web — target tracking on
  ``ALBRequestCountPerTarget`` (1000 per instance per minute) with its scale-in disabled; an
  alarm on requests per in-service instance (a minute without requests read as 0, ``FILL``)
  below 600 for 15 minutes removes one instance, then waits 300 s; an alarm on no request at
  all for 15 minutes (missing data breaching) sets the group to its minimum. Annotators —
  target tracking on the load per instance, (SQS ``ApproximateNumberOfMessagesVisible`` +
  ``ApproximateNumberOfMessagesNotVisible``) ÷ in-service instances, target 5 = the one job an
  annotator runs + 4 waiting (120 s acceptable wait ÷ 30 s per job), scale-in disabled; an
  alarm on the same metric below 0.6 for 15 minutes removes one instance, then waits 300 s;
  workers hold scale-in protection while a job runs. ``GasPolicy``'s other fields are variants
  (the template before: target tracking's own scale-in, backlog per instance; ``FILL`` in the
  tracked web metric; idle workers that leave); ``--variants`` measures them.

Target tracking follows AWS's documented semantics: per policy a high alarm (the last 3
1-minute datapoints above the target) that sets the capacity to ``ceil(current × metric ÷
target)`` at once, and — where scale-in is enabled — a low alarm (the last 15 below 90 % of the
target) that scales in to the same formula, never while an instance is within its 300 s
warm-up; a minute without a datapoint leaves the alarms without data and nothing happens. Our
alarms are in ALARM while all of their last 15 datapoints breach, and Auto Scaling runs their
policy once a minute while they are; a simple policy then waits for its cooldown.

Modelled mechanics: 1-minute metric periods (5-minute for the original annotator alarm); each
datapoint visible 1–2 minutes after its period; alarms evaluated every minute; an instance
in service 60 s after launch (the activity completes, the cooldown starts) and ready — booted,
GAS installed, health check passing — 3–5 minutes after launch; per web instance 60 requests/s
of capacity and a response time of 6 ms ÷ (1 − utilisation); users who wait for the response
before thinking again; one job at a time per annotator; jobs queued until a worker takes one.
All randomness comes from ``--seed``.

Flaps: per group, the desired capacity's changes are grouped into runs of one direction, and
each change of direction between runs counts — except one: a last run that scales in, starts
after the group's load has ended and follows a scale-out run. "Out while the load grows, in
once it is over" scores 0; out→in→out scores 2; out→in during the load scores 1.

Usage::

    .venv/bin/python deploy/simulate.py            # text report
    .venv/bin/python deploy/simulate.py --json     # {"original": {...}, "gas": {...}}
    .venv/bin/python deploy/simulate.py --plot deploy/simulation.png
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

MINUTE = 60


# --------------------------------------------------------------------------------------------
# Inputs: the infrastructure, the load, the policies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """Facts about the machines and AWS's plumbing, shared by both policies."""

    min_size: int = 2
    max_size: int = 10
    launch_s: float = 60.0  # launch → InService (the scaling activity completes)
    ready_min_s: float = 180.0  # launch → booted, GAS installed, health check passing
    ready_max_s: float = 300.0
    metric_delay_min_s: float = 60.0  # a datapoint becomes visible 1–2 min after its period
    metric_delay_max_s: float = 120.0
    web_capacity_rps: float = 60.0  # requests/s one web instance serves before it saturates
    web_base_ms: float = 6.0  # response time of an idle web instance (ALB TargetResponseTime)
    lease_s: float = 60.0  # SQS visibility: an interrupted job reappears this long after


@dataclass(frozen=True)
class Scenario:
    """The default load: the seeds' web scenario and job script, then a burst."""

    horizon_s: int = 2 * 3600
    dt: int = 5
    # web
    web_ramp_start_s: float = 60.0
    web_ramp_s: float = 600.0
    web_users: int = 300
    web_stop_s: float = 60 * MINUTE
    think_min_s: float = 1.0
    think_max_s: float = 3.0
    # annotator
    trickle_start_s: float = 60.0
    trickle_gap_s: float = 8.0  # mean seconds between jobs of the seeds' script (Poisson)
    burst_start_s: float = 20 * MINUTE
    burst_jobs: int = 300
    burst_spread_s: float = 60.0
    job_mean_s: float = 30.0  # one test.vcf-sized job: fetch, annotate, upload
    job_sigma: float = 0.3  # log-normal spread of job durations

    def users(self, t: float) -> float:
        if t < self.web_ramp_start_s or t >= self.web_stop_s:
            return 0.0
        return self.web_users * min(1.0, (t - self.web_ramp_start_s) / self.web_ramp_s)

    def jobs(self, seed: int) -> list[tuple[float, float]]:
        """(arrival time, duration) of every job: the script's trickle, then the burst."""
        rng = random.Random(f"jobs-{seed}")
        mu = math.log(self.job_mean_s) - self.job_sigma**2 / 2
        jobs = []
        t = self.trickle_start_s
        while True:
            t += rng.expovariate(1.0 / self.trickle_gap_s)
            if t >= self.burst_start_s:
                break
            jobs.append(t)
        for _ in range(self.burst_jobs):
            jobs.append(self.burst_start_s + rng.uniform(0.0, self.burst_spread_s))
        jobs.sort()
        return [(a, rng.lognormvariate(mu, self.job_sigma)) for a in jobs]


@dataclass(frozen=True)
class OriginalPolicy:
    """The course's alarms and simple scaling policies."""

    web_out_requests_per_min: float = 200.0
    web_in_response_s: float = 0.010
    ann_period_s: int = 300
    ann_out_sent: float = 10.0
    ann_in_sent: float = 5.0
    cooldown_s: float = 300.0


@dataclass(frozen=True)
class GasPolicy:
    """Ours, as ``deploy/aws/gas.yaml`` sets it up: target tracking scales out, alarms scale in.

    The defaults are the template's (a test compares them). Web: target tracking of
    ``ALBRequestCountPerTarget`` at ``WebRequestsPerTarget`` 1000 with its scale-in disabled;
    ``WebScaleInAlarm`` (requests per in-service instance, ``FILL(requests, 0)``, below
    ``WebScaleInRequestsPerTarget`` 600 for 15 of 15 minutes) → one instance less, 300 s
    cooldown; ``WebIdleAlarm`` (the target group's ``RequestCount`` below 1, missing data
    breaching, 15 of 15) → the minimum. Annotators: target tracking of the load per instance,
    (visible + in-flight messages) ÷ instances in service, at ``AnnotatorLoadPerInstance`` 5
    with its scale-in disabled; ``AnnotatorScaleInAlarm`` (the same load below
    ``AnnotatorScaleInLoadPerInstance`` 0.6 for 15 of 15) → one instance less, 300 s cooldown;
    ``AnnotatorIdleAlarm`` (no job waiting or running for 15 of 15) → the minimum. Warm-up 300 s;
    scale-in protection while a job runs. The other values are the variants the report measures.
    """

    web_requests_per_target: float = 1000.0  # per web instance per minute (≈ 17 req/s)
    # The idle alarm: this many 1-minute periods without a request → MinSize; None = none
    # (the target-tracking low alarm alone, INSUFFICIENT_DATA when there are no requests).
    web_idle_points: int | None = 15
    # Variant: the tracked metric reads 0 in a minute without requests (FILL(m, 0)).
    fill_missing_with_zero: bool = False
    web_scale_in: str = "alarm"  # "alarm": WebScaleInAlarm; "tracking": the low alarm
    web_scale_in_below: float = 600.0  # requests per in-service instance per minute
    # annotators
    metric: str = "load"  # "load": (visible + in flight) ÷ in service; "backlog": visible ÷ …
    target: float = 5.0  # of the tracked metric, per instance
    scale_in: str = "alarm"  # "alarm": the simple policy below; "tracking": the low alarm
    scale_in_metric: str = "load"  # what the scale-in alarm watches, per instance
    scale_in_below: float = 0.6  # the scale-in alarm's threshold
    scale_in_points: int = 15
    # The annotators' idle alarm: this many minutes without a job waiting or running → MinSize.
    annotator_idle_points: int | None = 15
    scale_in_cooldown_s: float = 300.0
    warmup_s: float = 300.0
    out_points: int = 3  # the high alarm: 3 datapoints above the target
    in_points: int = 15  # the low alarm: 15 datapoints below in_ratio × target
    in_ratio: float = 0.9
    # Variant: scale-in by the workers instead: an annotator idle this long terminates its own
    # instance (decrementing the desired capacity, never below the minimum).
    idle_scale_in_s: float | None = None


# --------------------------------------------------------------------------------------------
# CloudWatch: 1-minute datapoints that become visible after a delay
# --------------------------------------------------------------------------------------------


@dataclass
class Series:
    """One metric's datapoints: (period start, value or None when missing, visible at)."""

    points: list[tuple[float, float | None, float]] = field(default_factory=list)

    def add(self, start: float, value: float | None, visible_at: float) -> None:
        if self.points:
            visible_at = max(visible_at, self.points[-1][2])  # published in order
        self.points.append((start, value, visible_at))

    def latest(self, now: float, n: int) -> list[float | None] | None:
        """The last ``n`` visible datapoints (oldest first), or None with fewer than ``n``."""
        visible = [v for (_, v, seen) in self.points if seen <= now]
        return visible[-n:] if len(visible) >= n else None


class Minute:
    """Accumulates one minute of samples, then publishes datapoints with a random delay."""

    def __init__(self, rng: random.Random, fleet: Fleet) -> None:
        self.rng, self.fleet = rng, fleet
        self.series: dict[str, Series] = {}
        self.sums: dict[str, float] = {}
        self.samples = 0

    def __getitem__(self, name: str) -> Series:
        return self.series.setdefault(name, Series())

    def sample(self, **values: float) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.samples += 1

    def close(self, end: float, reduce: Callable[[dict[str, float], int], dict]) -> None:
        """Publish ``reduce(sums, samples)`` as the datapoints of the minute ending at ``end``."""
        delay = self.rng.uniform(self.fleet.metric_delay_min_s, self.fleet.metric_delay_max_s)
        for name, value in reduce(self.sums, max(self.samples, 1)).items():
            self[name].add(end - MINUTE, value, end + delay)
        self.sums = {}
        self.samples = 0


# --------------------------------------------------------------------------------------------
# The Auto Scaling group
# --------------------------------------------------------------------------------------------


@dataclass
class Instance:
    launched: float
    in_service: float
    ready: float
    job_end: float | None = None
    job: int | None = None
    idle_since: float = 0.0

    @property
    def busy(self) -> bool:
        return self.job is not None


class Group:
    """Desired capacity, instances that start up, and the scaling activities."""

    def __init__(
        self, fleet: Fleet, rng: random.Random, *, protect_busy: bool, start: float = 0.0
    ) -> None:
        self.fleet, self.rng, self.protect_busy = fleet, rng, protect_busy
        self.desired = fleet.min_size
        self.instances = [
            Instance(start - 600, start - 540, start - 300) for _ in range(self.desired)
        ]
        self.changes: list[tuple[float, int, int]] = []  # (time, old desired, new desired)
        self.interrupted: list[Instance] = []  # busy instances just terminated
        self.interrupted_total = 0
        self.instance_seconds = 0.0

    def ready(self, t: float) -> list[Instance]:
        return [i for i in self.instances if i.ready <= t]

    def in_service(self, t: float) -> list[Instance]:
        return [i for i in self.instances if i.in_service <= t]

    def warming(self, t: float, warmup_s: float) -> bool:
        return any(t < i.launched + warmup_s for i in self.instances)

    def set_desired(self, t: float, new: int) -> bool:
        new = max(self.fleet.min_size, min(self.fleet.max_size, new))
        if new == self.desired:
            return False
        self.changes.append((t, self.desired, new))
        self.desired = new
        self.reconcile(t)
        return True

    def reconcile(self, t: float) -> None:
        while len(self.instances) < self.desired:
            ready = t + self.rng.uniform(self.fleet.ready_min_s, self.fleet.ready_max_s)
            self.instances.append(Instance(t, t + self.fleet.launch_s, ready))
        while len(self.instances) > self.desired:
            if self.protect_busy:
                # Scale-in protection: only idle instances may go; the newest first (booting
                # ones before warm ones). Busy ones wait until their job ends.
                idle = [i for i in self.instances if not i.busy]
                if not idle:
                    return
                victim = max(idle, key=lambda i: i.launched)
            else:
                victim = self.rng.choice(self.instances)  # default termination policy
                if victim.busy:
                    self.interrupted.append(victim)
                    self.interrupted_total += 1
            self.instances.remove(victim)

    def leave(self, t: float, inst: Instance) -> None:
        """The worker terminates its own instance, decrementing the desired capacity."""
        self.instances.remove(inst)
        self.changes.append((t, self.desired, self.desired - 1))
        self.desired -= 1

    def tick(self, t: float, dt: float) -> None:
        self.instance_seconds += len(self.instances) * dt
        self.reconcile(t)


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------


class SimpleScaling:
    """Simple scaling: ±1 per alarm action, no other activity until the cooldown has passed."""

    def __init__(self, cooldown_s: float, launch_s: float) -> None:
        self.cooldown_s, self.launch_s = cooldown_s, launch_s
        self.until = -math.inf

    def act(self, t: float, group: Group, actions: list[int], rng: random.Random) -> None:
        rng.shuffle(actions)  # two alarms in ALARM at once: whichever reaches the group first
        for step in actions:
            if t < self.until:
                return
            if group.set_desired(t, group.desired + step):
                # the cooldown starts when the activity completes (a launch: once InService)
                self.until = t + self.cooldown_s + (self.launch_s if step > 0 else 0.0)


class TargetTracking:
    """One target-tracking policy: its high and low alarms and the capacity they propose."""

    def __init__(self, series: Series, amount: Series, target: float, p: GasPolicy) -> None:
        # ``series`` is the tracked ratio; ``amount`` the numerator (total requests, messages):
        # ceil(instances × ratio ÷ target) == ceil(amount ÷ target).
        self.series, self.amount, self.target, self.p = series, amount, target, p

    def proposal(self, now: float) -> tuple[int | None, int | None]:
        """(capacity to scale out to, capacity to scale in to); None where the alarm is OK."""
        out = in_ = None
        high = self.series.latest(now, self.p.out_points)
        last = self.amount.latest(now, 1)
        if high is not None and last is not None and last[0] is not None:
            need = math.ceil(last[0] / self.target - 1e-9)
            if all(v is not None and v > self.target for v in high):
                out = need
            low = self.series.latest(now, self.p.in_points)
            if low is not None and all(
                v is not None and v < self.p.in_ratio * self.target for v in low
            ):
                in_ = need
        return out, in_


def track(
    t: float, group: Group, policies: list[TargetTracking], p: GasPolicy, scale_in: bool = True
) -> None:
    """Any policy may scale out; scale in only when every policy's low alarm agrees."""
    proposals = [pol.proposal(t) for pol in policies]
    outs = [o for o, _ in proposals if o is not None]
    if outs and max(outs) > group.desired:
        group.set_desired(t, max(outs))
        return
    ins = [i for _, i in proposals]
    if scale_in and ins and all(i is not None for i in ins) and not group.warming(t, p.warmup_s):
        target = max(i for i in ins if i is not None)
        if target < group.desired:
            group.set_desired(t, target)


class ScaleInAlarm:
    """An alarm of our own and the policy it runs, for scale-in only.

    In ALARM when the last ``points`` datapoints are all below ``below`` (a missing datapoint
    counts as below when ``missing_breaches``); while in ALARM, Auto Scaling runs the policy once
    a minute. ``exact`` sets the capacity (a step policy, ``ExactCapacity``: no cooldown needed,
    it is idempotent); otherwise the desired capacity drops by ``step`` (a simple policy) and
    the next drop waits ``cooldown_s``.
    """

    def __init__(
        self,
        series: Series,
        below: float,
        points: int,
        *,
        step: int = 1,
        cooldown_s: float = 0.0,
        exact: int | None = None,
        missing_breaches: bool = False,
    ) -> None:
        self.series, self.below, self.points = series, below, points
        self.step, self.cooldown_s, self.exact = step, cooldown_s, exact
        self.missing_breaches = missing_breaches
        self.until = -math.inf

    def in_alarm(self, now: float) -> bool:
        last = self.series.latest(now, self.points)
        if last is None:
            return False
        if self.missing_breaches:
            return all(v is None or v < self.below for v in last)
        return all(v is not None and v < self.below for v in last)

    def act(self, now: float, group: Group) -> None:
        if now < self.until or not self.in_alarm(now):
            return
        new = self.exact if self.exact is not None else group.desired - self.step
        if new < group.desired and group.set_desired(now, new):
            self.until = now + self.cooldown_s


# --------------------------------------------------------------------------------------------
# The two tiers
# --------------------------------------------------------------------------------------------


@dataclass
class Tier:
    name: str
    times: list[float]
    counts: list[int]  # instances that exist (billed)
    desired: list[int]
    load: list[float]  # web: users; annotator: jobs waiting
    group: Group
    load_end_s: float
    drain_seconds: float | None = None
    overloaded_minutes: float = 0.0  # web: time with more offered load than capacity
    metrics: dict[str, Series] = field(default_factory=dict)  # the CloudWatch datapoints
    wait_p95_s: float = 0.0  # annotator: 95th percentile of arrival → start

    @property
    def instance_hours(self) -> float:
        return self.group.instance_seconds / 3600.0

    @property
    def flaps(self) -> int:
        return count_flaps(self.group.changes, self.load_end_s)

    @property
    def regrowths(self) -> int:
        """Scale-outs after the first scale-in: hunting, as opposed to one settling step."""
        ins = [t for t, old, new in self.group.changes if new < old]
        return sum(1 for t, old, new in self.group.changes if ins and t > ins[0] and new > old)


def count_flaps(changes: Sequence[tuple[float, int, int]], load_end_s: float) -> int:
    """Direction changes of desired capacity, less the one expected out→in after the load ends."""
    runs: list[tuple[int, float]] = []  # (direction, start time)
    for t, old, new in changes:
        d = 1 if new > old else -1
        if not runs or runs[-1][0] != d:
            runs.append((d, t))
    reversals = max(0, len(runs) - 1)
    if len(runs) >= 2 and runs[-1][0] < 0 and runs[-2][0] > 0 and runs[-1][1] >= load_end_s:
        reversals -= 1
    return reversals


def simulate_web(
    users: Callable[[float], float],
    policy: OriginalPolicy | GasPolicy,
    *,
    fleet: Fleet | None = None,
    horizon_s: int = 2 * 3600,
    dt: int = 5,
    think_s: tuple[float, float] = (1.0, 3.0),
    seed: int = 0,
) -> Tier:
    fleet = fleet or Fleet()
    rng = random.Random(f"web-{seed}-{type(policy).__name__}")
    group = Group(fleet, rng, protect_busy=False)
    minute = Minute(rng, fleet)
    think = sum(think_s) / 2
    idle: ScaleInAlarm | None = None
    low: ScaleInAlarm | None = None
    if isinstance(policy, GasPolicy):
        tt = [
            TargetTracking(
                minute["per_target"],
                minute["requests"],
                policy.web_requests_per_target,
                policy,
            )
        ]
        if policy.web_scale_in == "alarm":
            low = ScaleInAlarm(
                minute["per_instance"],
                policy.web_scale_in_below,
                policy.scale_in_points,
                cooldown_s=policy.scale_in_cooldown_s,
            )
        if policy.web_idle_points is not None:
            idle = ScaleInAlarm(
                minute["requests"],
                1.0,
                policy.web_idle_points,
                exact=fleet.min_size,
                missing_breaches=True,
            )
    else:
        simple = SimpleScaling(policy.cooldown_s, fleet.launch_s)
    times, counts, desired, load = [], [], [], []
    response = fleet.web_base_ms / 1000
    overloaded = 0.0
    load_end = 0.0
    for t in range(0, horizon_s, dt):
        group.tick(t, dt)
        n = len(group.ready(t))
        u = users(t)
        served = 0.0
        if u > 0:
            load_end = t + dt
        if u > 0 and n > 0:
            offered = u / (think + response)
            capacity = n * fleet.web_capacity_rps
            rho = min(offered / capacity, 0.98)
            if offered > capacity:
                overloaded += dt
            served = min(offered, 0.98 * capacity)
            response = fleet.web_base_ms / 1000 / (1 - rho) * rng.uniform(0.95, 1.05)
            served = max(0.0, rng.gauss(served * dt, math.sqrt(served * dt)))
        n_in = len(group.in_service(t))
        minute.sample(requests=served, response_s=response * served, targets=n, n=n_in)
        if (t + dt) % MINUTE == 0:

            def reduce(s: dict[str, float], k: int, p: GasPolicy | OriginalPolicy = policy) -> dict:
                req = s.get("requests", 0.0)
                targets = s.get("targets", 0.0) / k
                missing = req < 0.5
                fill = isinstance(p, GasPolicy) and p.fill_missing_with_zero
                # our scale-in alarm's metric: FILL(requests, 0) / GroupInServiceInstances
                per_instance = (0.0 if missing else req) / max(s.get("n", 0.0) / k, 1.0)
                if missing and not fill:
                    return {
                        "requests": None,
                        "per_target": None,
                        "response_s": None,
                        "per_instance": per_instance,
                    }
                return {
                    "requests": 0.0 if missing else req,
                    "per_target": 0.0 if missing else req / max(targets, 1.0),
                    "response_s": None if missing else s.get("response_s", 0.0) / req,
                    "per_instance": per_instance,
                }

            minute.close(t + dt, reduce)
            now = t + dt
            if isinstance(policy, GasPolicy):
                track(now, group, tt, policy, scale_in=policy.web_scale_in == "tracking")
                for alarm in (idle, low):
                    if alarm is not None:
                        alarm.act(now, group)
            else:
                actions = []
                req = minute["requests"].latest(now, 1)
                if req and req[0] is not None and req[0] > policy.web_out_requests_per_min:
                    actions.append(+1)
                rt = minute["response_s"].latest(now, 1)
                if rt and rt[0] is not None and rt[0] < policy.web_in_response_s:
                    actions.append(-1)
                simple.act(now, group, actions, rng)
        times.append(t)
        counts.append(len(group.instances))
        desired.append(group.desired)
        load.append(u)
    tier = Tier("web", times, counts, desired, load, group, load_end, metrics=minute.series)
    tier.overloaded_minutes = overloaded / MINUTE
    return tier


def simulate_annotator(
    jobs: Sequence[tuple[float, float]],
    policy: OriginalPolicy | GasPolicy,
    *,
    fleet: Fleet | None = None,
    horizon_s: int = 2 * 3600,
    dt: int = 5,
    burst_start_s: float = 0.0,
    seed: int = 0,
) -> Tier:
    fleet = fleet or Fleet()
    rng = random.Random(f"annotator-{seed}-{type(policy).__name__}")
    gas = isinstance(policy, GasPolicy)
    group = Group(fleet, rng, protect_busy=gas)
    minute = Minute(rng, fleet)
    scale_in: ScaleInAlarm | None = None
    idle_alarm: ScaleInAlarm | None = None
    if gas:
        per_instance, amount = {
            "load": ("load_per_instance", "load"),
            "backlog": ("backlog_per_instance", "visible"),
        }[policy.metric]
        tt = [TargetTracking(minute[per_instance], minute[amount], policy.target, policy)]
        if policy.scale_in == "alarm" and policy.idle_scale_in_s is None:
            scale_in = ScaleInAlarm(
                minute[f"{policy.scale_in_metric}_per_instance"],
                policy.scale_in_below,
                policy.scale_in_points,
                cooldown_s=policy.scale_in_cooldown_s,
            )
        if policy.annotator_idle_points is not None and policy.idle_scale_in_s is None:
            idle_alarm = ScaleInAlarm(
                minute["load"], 1.0, policy.annotator_idle_points, exact=fleet.min_size
            )
    else:
        simple = SimpleScaling(policy.cooldown_s, fleet.launch_s)
    arrivals = deque(sorted((a, d, k) for k, (a, d) in enumerate(jobs)))
    duration = {k: d for k, (_, d) in enumerate(jobs)}
    sent: list[float] = [a for a, _ in jobs]
    queue: deque[int] = deque()
    leased: list[tuple[float, int]] = []  # (visible again at, job) after an interrupted run
    started: dict[int, float] = {}  # job → first start
    times, counts, desired, load = [], [], [], []
    last_arrival = max((a for a, _ in jobs), default=0.0)
    drain: float | None = None
    for t in range(0, horizon_s, dt):
        group.tick(t, dt)
        for inst in group.interrupted:
            leased.append((t + fleet.lease_s, inst.job))  # type: ignore[arg-type]
        group.interrupted.clear()
        while arrivals and arrivals[0][0] <= t:
            queue.append(arrivals.popleft()[2])
        for item in [x for x in leased if x[0] <= t]:
            leased.remove(item)
            queue.append(item[1])
        for inst in group.instances:
            if inst.busy and inst.job_end is not None and inst.job_end <= t:
                inst.job = inst.job_end = None
                inst.idle_since = t
        group.reconcile(t)  # protected instances whose job ended may now go
        idle = [i for i in group.ready(t) if not i.busy]
        rng.shuffle(idle)  # long polling: whichever waiting worker SQS answers
        for inst in idle:
            if not queue:
                break
            inst.job = queue.popleft()
            inst.job_end = t + duration[inst.job]
            started.setdefault(inst.job, t)
        if gas and policy.idle_scale_in_s is not None:
            for inst in idle:
                since = max(inst.idle_since, inst.ready)
                long_idle = not inst.busy and t - since >= policy.idle_scale_in_s
                if long_idle and len(group.instances) > fleet.min_size:
                    group.leave(t, inst)
        busy = sum(1 for i in group.instances if i.busy)
        n_in = len(group.in_service(t))
        minute.sample(visible=len(queue), in_flight=busy + len(leased), n=n_in)
        over = t >= max(burst_start_s, last_arrival) and not arrivals
        if drain is None and over and not queue and busy == 0 and not leased:
            drain = t - burst_start_s
        if (t + dt) % MINUTE == 0:
            now = t + dt

            def reduce(s: dict[str, float], k: int) -> dict:
                n = max(s.get("n", 0.0) / k, 1.0)
                vis, fl = s.get("visible", 0.0) / k, s.get("in_flight", 0.0) / k
                return {
                    "visible": vis,
                    "load": vis + fl,
                    "backlog_per_instance": vis / n,
                    "load_per_instance": (vis + fl) / n,
                }

            minute.close(now, reduce)
            if gas:
                tracking_in = policy.scale_in == "tracking" and policy.idle_scale_in_s is None
                track(now, group, tt, policy, scale_in=tracking_in)
                for alarm in (idle_alarm, scale_in):
                    if alarm is not None:
                        alarm.act(now, group)
            else:
                period = policy.ann_period_s
                # the minutes CloudWatch has received so far (SNS publishes 1-minute data)
                seen = now - rng.uniform(fleet.metric_delay_min_s, fleet.metric_delay_max_s)
                seen = seen // MINUTE * MINUTE
                start = seen // period * period
                recent = [a for a in sent if start - period <= a < seen]
                actions = []
                if recent:  # the topic is active: the current (partial) period's sum
                    partial = sum(1 for a in recent if a >= start)  # 0 at a period's start
                    if partial >= policy.ann_out_sent:
                        actions.append(+1)
                    if partial < policy.ann_in_sent:
                        actions.append(-1)
                simple.act(now, group, actions, rng)
        times.append(t)
        counts.append(len(group.instances))
        desired.append(group.desired)
        load.append(len(queue) + busy)
    tier = Tier(
        "annotator", times, counts, desired, load, group, last_arrival, drain, metrics=minute.series
    )
    waits = sorted(started.get(k, horizon_s) - a for k, (a, _) in enumerate(jobs))
    tier.wait_p95_s = round(waits[int(0.95 * (len(waits) - 1))]) if waits else 0
    return tier


# --------------------------------------------------------------------------------------------
# Running the comparison and reporting it
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    web: Tier
    annotator: Tier

    def summary(self) -> dict:
        w, a = self.web, self.annotator
        return {
            "flaps": w.flaps + a.flaps,
            "drain_seconds": None if a.drain_seconds is None else round(a.drain_seconds),
            "instance_hours": round(w.instance_hours + a.instance_hours, 2),
            "web_flaps": w.flaps,
            "annotator_flaps": a.flaps,
            "web_instance_hours": round(w.instance_hours, 2),
            "annotator_instance_hours": round(a.instance_hours, 2),
            "web_peak_instances": max(w.counts),
            "annotator_peak_instances": max(a.counts),
            "web_overloaded_minutes": round(w.overloaded_minutes, 1),
            "interrupted_jobs": a.group.interrupted_total,
            "job_wait_p95_s": a.wait_p95_s,
            "scaling_activities": len(w.group.changes) + len(a.group.changes),
        }


def run(
    policy: OriginalPolicy | GasPolicy,
    scenario: Scenario | None = None,
    fleet: Fleet | None = None,
    seed: int = 0,
) -> Outcome:
    sc = scenario or Scenario()
    web = simulate_web(
        sc.users,
        policy,
        fleet=fleet,
        horizon_s=sc.horizon_s,
        dt=sc.dt,
        think_s=(sc.think_min_s, sc.think_max_s),
        seed=seed,
    )
    ann = simulate_annotator(
        sc.jobs(seed),
        policy,
        fleet=fleet,
        horizon_s=sc.horizon_s,
        dt=sc.dt,
        burst_start_s=sc.burst_start_s,
        seed=seed,
    )
    return Outcome(web, ann)


def compare(seed: int = 0, scenario: Scenario | None = None) -> dict[str, Outcome]:
    """The default comparison: the course's alarms against ours, on the same load."""
    return {
        "original": run(OriginalPolicy(), scenario, seed=seed),
        "gas": run(GasPolicy(), scenario, seed=seed),
    }


VARIANTS: dict[str, OriginalPolicy | GasPolicy] = {
    "original": OriginalPolicy(),
    "gas": GasPolicy(),
    "gas before: target tracking scales in, backlog per instance (4)": GasPolicy(
        web_scale_in="tracking",
        web_idle_points=None,
        metric="backlog",
        target=4.0,
        scale_in="tracking",
    ),
    "gas before + FILL(…, 0) in the tracked web metric": GasPolicy(
        web_scale_in="tracking",
        web_idle_points=None,
        fill_missing_with_zero=True,
        metric="backlog",
        target=4.0,
        scale_in="tracking",
    ),
    "annotators: load per instance (5), target tracking scales in": GasPolicy(scale_in="tracking"),
    "annotators: backlog per instance (4) out, scale-in alarm": GasPolicy(
        metric="backlog", target=4.0
    ),
    "annotators: idle workers leave after 10 min, no scale-in policy": GasPolicy(
        idle_scale_in_s=600.0
    ),
}

# A long steady stream instead of a burst: one 30-s job every 8 s on average for 3 hours
# (≈ 3.75 annotators busy), the case where a backlog that is mostly 0 is least informative.
STEADY = Scenario(horizon_s=3 * 3600, trickle_gap_s=8.0, burst_start_s=3 * 3600, burst_jobs=0)


def variants(seeds: int = 10) -> str:
    """Means over ``seeds`` seeds of every variant, on the default scenario and on ``STEADY``."""
    lines = [
        f"Default scenario, means over seeds 0–{seeds - 1}:",
        "| policy | flaps (max) | drained after | p95 job wait | instance-hours | web overloaded |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, policy in VARIANTS.items():
        rows = [run(policy, seed=k).summary() for k in range(seeds)]
        mean = {key: sum(r[key] or 0 for r in rows) / seeds for key in rows[0]}
        lines.append(
            f"| {name} | {mean['flaps']:.1f} ({max(r['flaps'] for r in rows)}) | "
            f"{mean['drain_seconds'] / 60:.1f} min | {mean['job_wait_p95_s'] / 60:.1f} min | "
            f"{mean['instance_hours']:.1f} | {mean['web_overloaded_minutes']:.1f} min |"
        )
    lines += [
        "",
        f"Steady stream, annotators only (3 h, a job every {STEADY.trickle_gap_s:g} s), "
        f"means over seeds 0–{seeds - 1}:",
        "| policy | flaps (max) | scale-outs after a scale-in (max) | p95 job wait | "
        "instance-hours | jobs interrupted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, policy in VARIANTS.items():
        if "FILL" in name:
            continue
        tiers = [
            simulate_annotator(STEADY.jobs(k), policy, horizon_s=STEADY.horizon_s, seed=k)
            for k in range(seeds)
        ]
        lines.append(
            f"| {name} | {sum(t.flaps for t in tiers) / seeds:.1f} "
            f"({max(t.flaps for t in tiers)}) | "
            f"{sum(t.regrowths for t in tiers) / seeds:.1f} "
            f"({max(t.regrowths for t in tiers)}) | "
            f"{sum(t.wait_p95_s for t in tiers) / seeds / 60:.1f} min | "
            f"{sum(t.instance_hours for t in tiers) / seeds:.1f} | "
            f"{sum(t.group.interrupted_total for t in tiers) / seeds:.1f} |"
        )
    return "\n".join(lines)


def sparkline(tier: Tier, every_s: int = 5 * MINUTE) -> str:
    """Instances every ``every_s`` seconds, as numbers."""
    step = max(1, every_s // (tier.times[1] - tier.times[0]))
    return " ".join(str(c) for c in tier.counts[::step])


def report(outcomes: dict[str, Outcome]) -> str:
    lines = ["Instances every 5 minutes (web, annotator):"]
    for name, o in outcomes.items():
        lines.append(f"  {name:<8} web       {sparkline(o.web)}")
        lines.append(f"  {name:<8} annotator {sparkline(o.annotator)}")
    lines += [
        "",
        "| policy | flaps (web + annotator) | backlog drained after | p95 job wait | "
        "instance-hours (2 h) | peak web / annotator | web overloaded | jobs interrupted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, o in outcomes.items():
        s = o.summary()
        drain = "never" if s["drain_seconds"] is None else f"{s['drain_seconds'] / 60:.1f} min"
        lines.append(
            f"| {name} | {s['flaps']} ({s['web_flaps']} + {s['annotator_flaps']}) | {drain} | "
            f"{s['job_wait_p95_s'] / 60:.1f} min | {s['instance_hours']:.1f} | "
            f"{s['web_peak_instances']} / {s['annotator_peak_instances']} | "
            f"{s['web_overloaded_minutes']:.1f} min | {s['interrupted_jobs']} |"
        )
    return "\n".join(lines)


def plot(outcomes: dict[str, Outcome], path: str) -> None:
    """Instances over time for each policy, over the load (web users; annotator jobs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"original": "tab:red", "gas": "tab:blue"}
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for ax, tier_name, load_label in (
        (axes[0], "web", "users"),
        (axes[1], "annotator", "jobs queued + running"),
    ):
        twin = ax.twinx()
        for name, o in outcomes.items():
            tier = getattr(o, tier_name)
            minutes = [t / MINUTE for t in tier.times]
            if tier_name == "web" and name == "original":
                twin.fill_between(minutes, tier.load, step="post", color="0.88", lw=0)
            elif tier_name == "annotator":
                twin.plot(minutes, tier.load, color=colours[name], lw=0.8, ls=":", alpha=0.7)
            ax.step(
                minutes,
                tier.counts,
                where="post",
                color=colours[name],
                lw=1.8,
                label=f"{name}: {tier.flaps} flaps, {tier.instance_hours:.1f} instance-hours",
            )
        twin.set_ylabel(f"{load_label} (grey / dotted)")
        twin.set_ylim(0, 1.3 * max(max(getattr(o, tier_name).load) for o in outcomes.values()))
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_ylim(0, 13)
        ax.set_yticks(range(0, 11, 2))
        ax.set_ylabel(f"{tier_name} instances")
        ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
    axes[1].set_xlabel("minutes")
    axes[0].set_title("Simulated autoscaling: the course's alarms (red) against ours (blue)")
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Replay GAS's load curves through the original and our scaling policies."
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    parser.add_argument("--plot", metavar="PATH.png", help="write a PNG of both policies")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--variants", type=int, metavar="SEEDS", help="means of every variant over SEEDS seeds"
    )
    args = parser.parse_args(argv)
    if args.variants:
        print(variants(args.variants))
        return 0
    outcomes = compare(args.seed)
    if args.plot:
        plot(outcomes, args.plot)
    if args.json:
        print(json.dumps({name: o.summary() for name, o in outcomes.items()}))
        return 0
    print(report(outcomes))
    if args.plot:
        print(f"\nwrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
