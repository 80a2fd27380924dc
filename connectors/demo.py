"""The built-in demo product: a seeded, realistic event log so the first run needs no data.

A small shop with a web site and a mobile app, six months of events from 2026-05-01 to 2026-10-31
(UTC), 60,000 users and about 2.8 million events by default. The vocabulary is fixed in
docs/architecture.md ("The demo product"): the vision file, the pages and the tests rely on it.

What is planted, so every page has something true to find:

- **Growth**: sign-ups spread over the six months and grow about 2.5x from May to October.
- **Weekday seasonality**: sessions and sign-ups follow each country's local clock; Saturdays and
  Sundays are about 40% quieter than a weekday.
- **Heavy-tailed activity**: a user's session rate is log-normal, so a few power users come
  several times a day while most come by once a week or less.
- **Churn and resurrection**: each activated user stays active for a spell (a quarter never leave);
  about a third of those who go quiet come back weeks later for a second spell.
- **Funnel**: ``signup`` -> ``onboarding_complete`` (activation, minutes to days later; about 60% of
  users) -> sessions with ``page_view`` / ``search`` -> ``add_to_cart`` -> ``checkout_start`` ->
  ``purchase`` (with ``revenue`` > 0, log-normal order values). About a fifth of purchases happen
  hours or days after the checkout, in a later session.
- **Segments that differ**: ``platform`` (web converts better, mobile visits more often),
  ``country`` (US/GB/DE/FR/IN/BR: activation, conversion, order value and churn differ),
  ``plan`` (free/pro).
- **A running A/B test**, ``checkout_redesign``: from 2026-09-01, a user's first ``checkout_start``
  exposes them (an ``experiment_exposure`` event at the same instant, and a row in the assignments
  frame), 50/50 to ``control`` or ``treatment`` by a coin per user.

The experiment's true effect (:data:`DEMO_EXPERIMENT_TRUTH`): the share of exposed users who make a
purchase at or after their exposure (up to the end of the data) is 60% in control and 63% in
treatment, +3 percentage points absolute, +5% relative.

How it is planted: every checkout ends in a purchase with the user's own chance
``p_u = 0.365 * f_u / mean(f)`` (at most 0.9), where ``f_u`` is the user's purchase propensity
(platform, country, plan, bounded noise). That holds before the experiment and, in control, after
it: the test changes nothing for control users, so checkout conversion and weekly buyers carry on
through 2026-09-01 without a break (the treatment's lift on half the exposed users is the only
change). From exposure on, a checkout in arm ``a`` is abandoned with chance ``(1 - p_u) ** s_a``,
so a user with ``k`` checkouts from exposure to the end of the data buys at least once with chance
``1 - (1 - p_u) ** (s_a * k)``. Each arm's exponent is fitted on all the exposed users so that
this chance averages exactly 60% (control) and 63% (treatment): the arms' expected rates are
exactly those while segments still differ. With the default data ``s_control`` is 0.998 (control
checkouts convert as all checkouts did before) and ``s_treatment`` 1.115: the redesign makes a
typical checkout end in a purchase about 9% more often (36.5% -> 39.7%). An exposed user may buy
from any checkout from the exposing one on, so the rates above count purchases up to the end of
the data; a conversion window sees less (a user exposed in late October has little time left). A
purchase from a checkout before a user's exposure always lands before the exposure.
With the default data (about 6,300 exposed users per arm) the standard error of the difference is
about 0.87 points, so the planted effect is about 3.5 standard errors: a two-sided test at
alpha 0.05 detects it with power of about 93%.

Everything is vectorised with numpy and Polars; generation takes a few seconds. :func:`load_demo`
caches the result as Parquet keyed by :data:`DEMO_VERSION`, seed and size.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from connectors.report import DROP_REASONS, LoadReport
from metrics._common import check_tz
from metrics.schema import ASSIGNMENT_SCHEMA, EVENT_SCHEMA

__all__ = [
    "DEMO_END",
    "DEMO_EXPERIMENT_TRUTH",
    "DEMO_SEED",
    "DEMO_START",
    "DEMO_USERS",
    "DEMO_VERSION",
    "ExperimentTruth",
    "generate",
    "load_demo",
]

#: Bump whenever the generator's output changes, so cached files are regenerated.
DEMO_VERSION = 3
DEMO_SEED = 7
DEMO_USERS = 60_000
#: First instant of the demo data (inclusive) and the instant after its last day (exclusive).
DEMO_START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
DEMO_END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

#: Event names, in the order used to break ties between events at the same instant.
EVENT_NAMES: tuple[str, ...] = (
    "signup",
    "session_start",
    "onboarding_complete",
    "page_view",
    "search",
    "add_to_cart",
    "checkout_start",
    "experiment_exposure",
    "purchase",
)
PLATFORMS: tuple[str, ...] = ("web", "mobile")
COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN", "BR")
PLANS: tuple[str, ...] = ("free", "pro")
#: Property columns after the canonical ones, all strings.
_PROPERTY_COLUMNS: tuple[str, ...] = ("platform", "country", "plan", "experiment", "variant")


@dataclass(frozen=True)
class ExperimentTruth:
    """The planted A/B test: who is exposed, and the true per-user conversion in each arm."""

    experiment: str
    control: str
    treatment: str
    start: dt.datetime
    exposure_event: str
    conversion_event: str
    control_rate: float
    treatment_rate: float

    @property
    def absolute_effect(self) -> float:
        """Treatment rate minus control rate (a share, 0.03 = 3 percentage points)."""
        return self.treatment_rate - self.control_rate

    @property
    def relative_effect(self) -> float:
        """The lift relative to control (0.10 = +10%)."""
        return self.absolute_effect / self.control_rate


#: The true effect of ``checkout_redesign``: share of exposed users purchasing at or after exposure.
DEMO_EXPERIMENT_TRUTH = ExperimentTruth(
    experiment="checkout_redesign",
    control="control",
    treatment="treatment",
    start=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
    exposure_event="checkout_start",
    conversion_event="purchase",
    control_rate=0.60,
    treatment_rate=0.63,
)

_EV = {name: code for code, name in enumerate(EVENT_NAMES)}
_SEC = 1_000_000
_MIN = 60 * _SEC
_HOUR = 3600 * _SEC
_DAY = 86_400 * _SEC
_SPAN = int((DEMO_END - DEMO_START).total_seconds()) * _SEC
_N_DAYS = (DEMO_END - DEMO_START).days
_START_US = int(DEMO_START.timestamp()) * _SEC
_EXP_START = int((DEMO_EXPERIMENT_TRUTH.start - DEMO_START).total_seconds()) * _SEC
# 2026-05-01 is a Friday: weekday (Monday = 0) of day d is (d + 4) % 7.
_FIRST_WEEKDAY = DEMO_START.weekday()

# Country mix and behaviour, in COUNTRIES order. Offsets are local summer time (hours from UTC).
_COUNTRY_SHARE = np.array([0.34, 0.12, 0.11, 0.08, 0.22, 0.13])
_COUNTRY_OFFSET_H = np.array([-5.0, 1.0, 2.0, 2.0, 5.5, -3.0])
_COUNTRY_PRO = np.array([0.18, 0.15, 0.15, 0.12, 0.05, 0.07])
_COUNTRY_ACTIVATION = np.array([0.04, 0.03, 0.05, 0.0, -0.08, -0.04])
_COUNTRY_CART = np.array([1.15, 1.05, 1.10, 0.95, 0.75, 0.85])
_COUNTRY_BUY = np.array([1.10, 1.05, 1.10, 1.00, 0.80, 0.90])
_COUNTRY_ORDER_MEDIAN = np.array([48.0, 40.0, 42.0, 38.0, 14.0, 22.0])
_COUNTRY_SPELL_DAYS = np.array([26.0, 24.0, 28.0, 22.0, 15.0, 18.0])
# Relative activity by local weekday (Monday first) and by local hour.
_WEEKDAY_WEIGHT = np.array([1.0, 1.0, 0.98, 0.96, 0.90, 0.58, 0.55])
_HOUR_WEIGHT = np.array(
    [0.15, 0.08, 0.05, 0.04, 0.04, 0.08, 0.20, 0.40, 0.60, 0.75, 0.85, 0.90,
     0.95, 0.90, 0.85, 0.85, 0.85, 0.90, 0.95, 1.00, 1.00, 0.90, 0.65, 0.35]
)  # fmt: skip


def generate(
    *, seed: int = DEMO_SEED, users: int = DEMO_USERS
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The demo product's events (canonical columns plus properties) and its experiment assignments.

    The same ``seed`` and ``users`` always give the same frames. Events are sorted by time; columns:
    ``user_id``, ``event``, ``timestamp``, ``event_id``, ``session_id``, ``revenue`` (purchases
    only), ``platform``, ``country``, ``plan``, ``experiment`` and ``variant`` (exposures only).
    Assignments: ``user_id``, ``experiment``, ``variant``, ``timestamp`` (the first exposure).
    """
    if users < 1:
        raise ValueError(f"users must be a positive number of users, not {users!r}")
    rng = np.random.default_rng(seed)
    people = _users(rng, users)
    sessions = _sessions(rng, people)
    parts, checkouts = _session_events(rng, people, sessions)
    purchases, late_starts, treated, assignments = _purchases(
        rng, people, checkouts, first_free_session=sessions.user.size
    )
    return _assemble(people, sessions, parts + purchases, late_starts, treated, assignments)


# --- users ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _People:
    platform: np.ndarray  # index into PLATFORMS
    country: np.ndarray  # index into COUNTRIES
    pro: np.ndarray  # bool
    signup: np.ndarray  # µs since DEMO_START
    activated: np.ndarray  # bool
    activation: np.ndarray  # µs since DEMO_START (meaningful where activated)
    quick_activation: np.ndarray  # bool: onboarding finished in the sign-up session
    cart_rate: np.ndarray  # chance a session adds to cart
    buy_propensity: np.ndarray  # f_u: relative chance a checkout ends in a purchase


def _users(rng: np.random.Generator, n: int) -> _People:
    platform = (rng.random(n) < 0.45).astype(np.int8)  # 55% web, 45% mobile
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_SHARE).astype(np.int8)
    pro = rng.random(n) < _COUNTRY_PRO[country]

    # Sign-ups grow exponentially (2.5x over the period) and follow the weekday rhythm.
    days = np.arange(_N_DAYS)
    day_weight = np.exp(np.log(2.5) * days / _N_DAYS) * _WEEKDAY_WEIGHT[(days + _FIRST_WEEKDAY) % 7]
    day = rng.choice(_N_DAYS, size=n, p=day_weight / day_weight.sum())
    hour = rng.choice(24, size=n, p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum())
    local = day * _DAY + hour * _HOUR + rng.integers(0, _HOUR, size=n)
    signup = local - (_COUNTRY_OFFSET_H[country] * _HOUR).astype(np.int64)
    signup = np.where(signup < 0, signup + _DAY, signup)
    signup = np.where(signup >= _SPAN - _HOUR, signup - _DAY, signup)

    p_activate = 0.60 + np.where(platform == 0, 0.05, -0.05) + _COUNTRY_ACTIVATION[country]
    p_activate = p_activate + np.where(pro, 0.10, 0.0)
    quick = rng.random(n) < 0.65
    # Quick: in the sign-up session (median 6 min); slow: a later visit, median 20 h, up to days.
    delay_s = np.where(
        quick,
        np.clip(rng.lognormal(np.log(360.0), 0.6, size=n), 30.0, 3000.0),
        np.clip(rng.lognormal(np.log(72_000.0), 1.2, size=n), 3600.0, 30 * 86_400.0),
    )
    activation = signup + (delay_s * _SEC).astype(np.int64)
    activated = (rng.random(n) < p_activate) & (activation < _SPAN)

    cart_rate = 0.19 * _COUNTRY_CART[country] * np.where(platform == 0, 1.1, 0.85)
    cart_rate = np.clip(cart_rate * rng.lognormal(0.0, 0.35, size=n), 0.0, 0.6)
    buy = _COUNTRY_BUY[country] * np.where(platform == 0, 1.1, 0.88) * np.where(pro, 1.2, 1.0)
    # Bounded noise keeps every per-user chance in the experiment below 1: no clipping, exact truth.
    buy = buy * np.clip(rng.lognormal(0.0, 0.2, size=n), 0.5, 2.0)
    return _People(
        platform=platform,
        country=country,
        pro=pro,
        signup=signup.astype(np.int64),
        activated=activated,
        activation=activation.astype(np.int64),
        quick_activation=quick,
        cart_rate=cart_rate,
        buy_propensity=buy,
    )


# --- sessions ------------------------------------------------------------------------------------

# Session kinds.
_SIGNUP, _ONBOARDING, _REGULAR, _BROWSE = 0, 1, 2, 3


@dataclass(frozen=True)
class _Sessions:
    user: np.ndarray
    start: np.ndarray  # µs since DEMO_START
    kind: np.ndarray
    duration: np.ndarray  # µs


def _activity_weight(t: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Relative activity at UTC instant ``t`` for a user in ``country`` (local weekday and hour)."""
    local = t + (_COUNTRY_OFFSET_H[country] * _HOUR).astype(np.int64)
    day = local // _DAY
    hour = (local % _DAY) // _HOUR
    return _WEEKDAY_WEIGHT[(day + _FIRST_WEEKDAY) % 7] * _HOUR_WEIGHT[hour]


def _sessions(rng: np.random.Generator, p: _People) -> _Sessions:
    n = p.signup.size
    ids = np.arange(n)
    country = p.country.astype(np.int64)

    # Session rate while active (per day): log-normal, so a few power users and many light ones.
    rate = rng.lognormal(np.log(0.22), 1.0, size=n)
    rate = rate * np.where(p.platform == 1, 1.35, 1.0) * np.where(p.pro, 1.5, 1.0)
    rate = np.minimum(rate, 8.0)

    # Active spells: a quarter never churn; a third of the others come back after a quiet gap.
    loyal = rng.random(n) < 0.25
    spell1 = rng.exponential(_COUNTRY_SPELL_DAYS[country], size=n) * _DAY
    spell1 = np.where(loyal, float(_SPAN), spell1).astype(np.int64)
    begin1 = p.activation + _MIN
    end1 = np.minimum(begin1 + spell1, _SPAN)
    returns = ~loyal & (rng.random(n) < 0.35)
    begin2 = end1 + (rng.uniform(14.0, 60.0, size=n) * _DAY).astype(np.int64)
    end2 = np.minimum(begin2 + (rng.exponential(20.0, size=n) * _DAY).astype(np.int64), _SPAN)
    len1 = np.where(p.activated, np.maximum(end1 - begin1, 0), 0)
    len2 = np.where(p.activated & returns, np.maximum(end2 - begin2, 0), 0)
    active_days = (len1 + len2) / _DAY

    # Candidate sessions arrive at a flat rate, then are thinned by local weekday and hour
    # (a non-homogeneous Poisson process with the activity profile as intensity).
    mean_weight = _WEEKDAY_WEIGHT.mean() * _HOUR_WEIGHT.mean()
    top_weight = _WEEKDAY_WEIGHT.max() * _HOUR_WEIGHT.max()
    candidates = rng.poisson(rate * active_days / mean_weight * top_weight)
    owner = np.repeat(ids, candidates)
    x = (rng.random(owner.size) * (len1 + len2)[owner]).astype(np.int64)
    start = np.where(x < len1[owner], begin1[owner] + x, begin2[owner] + x - len1[owner])
    keep = rng.random(owner.size) * top_weight < _activity_weight(start, country[owner])
    regular_user, regular_start = owner[keep], start[keep]

    # Users who never activate may come back once or twice to look around within two weeks.
    browse_count = np.where(p.activated, 0, rng.binomial(2, 0.25, size=n))
    browse_user = np.repeat(ids, browse_count)
    browse_start = p.signup[browse_user] + (
        rng.uniform(0.1, 14.0, size=browse_user.size) * _DAY
    ).astype(np.int64)
    browse_ok = browse_start < _SPAN
    browse_user, browse_start = browse_user[browse_ok], browse_start[browse_ok]

    onboarding_user = ids[p.activated & ~p.quick_activation]
    onboarding_start = p.activation[onboarding_user] - (
        rng.uniform(20.0, 240.0, size=onboarding_user.size) * _SEC
    ).astype(np.int64)

    user = np.concatenate([ids, onboarding_user, regular_user, browse_user])
    start = np.concatenate([p.signup, onboarding_start, regular_start, browse_start])
    kind = np.concatenate(
        [
            np.full(n, _SIGNUP),
            np.full(onboarding_user.size, _ONBOARDING),
            np.full(regular_user.size, _REGULAR),
            np.full(browse_user.size, _BROWSE),
        ]
    ).astype(np.int8)
    # Median session 4 minutes (3 on mobile), long right tail.
    duration_s = rng.lognormal(np.log(240.0), 0.8, size=user.size)
    duration_s = np.clip(duration_s * np.where(p.platform[user] == 1, 0.75, 1.0), 20.0, 4 * 3600.0)
    return _Sessions(
        user=user, start=start, kind=kind, duration=(duration_s * _SEC).astype(np.int64)
    )


# --- events inside sessions ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """A block of events: owner, time (µs since start), event code, session index, revenue."""

    user: np.ndarray
    time: np.ndarray
    event: int
    session: np.ndarray
    revenue: np.ndarray | None = None


def _session_events(
    rng: np.random.Generator, p: _People, s: _Sessions
) -> tuple[list[_Part], _Part]:
    n_sessions = s.user.size
    index = np.arange(n_sessions)
    web = p.platform[s.user] == 0
    parts: list[_Part] = []

    signup = s.kind == _SIGNUP
    parts.append(_Part(s.user[signup], s.start[signup], _EV["signup"], index[signup]))
    # session_start opens every session; in the sign-up session it follows the signup by a second.
    opened = s.start + np.where(signup, _SEC, 0)
    parts.append(_Part(s.user, opened, _EV["session_start"], index))

    quick = signup & p.activated[s.user] & p.quick_activation[s.user]
    onboarding = quick | (s.kind == _ONBOARDING)
    parts.append(
        _Part(
            s.user[onboarding],
            p.activation[s.user[onboarding]],
            _EV["onboarding_complete"],
            index[onboarding],
        )
    )

    # Page views: 1 + geometric, spread over the session after its first second.
    views = rng.geometric(0.38, size=n_sessions)
    views = np.where(s.kind == _REGULAR, views, np.minimum(views, 3))
    view_session = np.repeat(index, views)
    view_time = (
        opened[view_session]
        + _SEC
        + (rng.random(view_session.size) * s.duration[view_session]).astype(np.int64)
    )
    parts.append(_Part(s.user[view_session], view_time, _EV["page_view"], view_session))

    regular = s.kind == _REGULAR
    searched = regular & (rng.random(n_sessions) < np.where(web, 0.32, 0.22))
    search_time = opened + _SEC + (rng.random(n_sessions) * s.duration).astype(np.int64)
    parts.append(_Part(s.user[searched], search_time[searched], _EV["search"], index[searched]))

    carted = regular & (rng.random(n_sessions) < p.cart_rate[s.user])
    cart_time = opened + 2 * _SEC + (rng.random(n_sessions) * s.duration).astype(np.int64)
    parts.append(_Part(s.user[carted], cart_time[carted], _EV["add_to_cart"], index[carted]))

    checked_out = carted & (rng.random(n_sessions) < np.where(web, 0.62, 0.52))
    checkout_gap = np.clip(rng.lognormal(np.log(60.0), 0.7, size=n_sessions), 5.0, 1800.0)
    checkout_time = cart_time + (checkout_gap * _SEC).astype(np.int64)
    checked_out &= checkout_time < _SPAN
    checkouts = _Part(
        s.user[checked_out], checkout_time[checked_out], _EV["checkout_start"], index[checked_out]
    )
    parts.append(checkouts)
    return parts, checkouts


def _purchases(
    rng: np.random.Generator, p: _People, checkouts: _Part, *, first_free_session: int
) -> tuple[list[_Part], np.ndarray, np.ndarray, pl.DataFrame]:
    """Purchases after checkouts, the experiment's exposures, and the sessions of late purchases."""
    n_users = p.signup.size
    truth = DEMO_EXPERIMENT_TRUTH
    user, when = checkouts.user, checkouts.time
    n = user.size

    # Exposure: each user's first checkout_start on or after the experiment's start.
    eligible = np.flatnonzero(when >= _EXP_START)
    order = eligible[np.lexsort((when[eligible], user[eligible]))]
    exposed_users, first = np.unique(user[order], return_index=True)
    exposure_row = order[first]
    treated = rng.random(n_users) < 0.5
    exposure_time = np.full(n_users, np.iinfo(np.int64).max, dtype=np.int64)
    exposure_time[exposed_users] = when[exposure_row]

    # Every checkout ends in a purchase with the user's own chance p_u = 0.365 * f_u / mean(f), the
    # same before and after the experiment starts. From exposure on, an arm's checkout is abandoned
    # with chance (1 - p_u)^s_arm: one exponent per arm, fitted on the exposed users so that the
    # share of them who buy at or after exposure is exactly the arm's planted rate in expectation.
    # The control's exponent is close to 1 (control shops as everyone did before the test); the
    # treatment's is larger (the redesign loses fewer checkouts).
    f = p.buy_propensity
    p_checkout = np.clip(0.365 * f / f.mean(), 0.0, 0.9)
    after = when >= exposure_time[user]
    p_exposed = p_checkout
    if exposed_users.size:
        # Each exposed user's checkouts from exposure to the end of the data, the exposing one too.
        count = np.bincount(user[after], minlength=n_users)[exposed_users]
        p_u = p_checkout[exposed_users]
        exponent = np.where(
            treated,
            _abandon_exponent(p_u, count, truth.treatment_rate),
            _abandon_exponent(p_u, count, truth.control_rate),
        )
        p_exposed = -np.expm1(exponent * np.log1p(-p_checkout))
    bought = rng.random(n) < np.where(after, p_exposed[user], p_checkout[user])

    # Most buy within minutes; a fifth come back hours or days later.
    late = rng.random(n) < 0.2
    delay_s = np.where(
        late,
        np.clip(rng.lognormal(np.log(86_400.0), 1.0, size=n), 2 * 3600.0, 14 * 86_400.0),
        np.clip(rng.lognormal(np.log(90.0), 0.7, size=n), 10.0, 1800.0),
    )
    paid = when + (delay_s * _SEC).astype(np.int64)
    # A purchase due after the data ends is pulled back inside it (keeps the truth exact).
    room = _SPAN - 1 - when
    paid = np.where(paid >= _SPAN, when + 1 + (rng.random(n) * (room - 1)).astype(np.int64), paid)
    # A purchase from a checkout before the user's exposure that would land at or after it happens
    # before it instead (between that checkout and the exposing one): the planted rates count
    # purchases from exposure on, and this one was decided before.
    spill = ~after & (paid >= exposure_time[user])
    gap = np.where(spill, exposure_time[user] - when, 0)
    paid = np.where(
        spill, when + 1 + (rng.random(n) * np.maximum(gap - 2, 0)).astype(np.int64), paid
    )
    bought &= ~(spill & (gap < 2))  # no room before the exposure (checkouts a microsecond apart)

    country = p.country[user]
    median = _COUNTRY_ORDER_MEDIAN[country] * np.where(p.pro[user], 1.25, 1.0)
    revenue = np.round(np.maximum(median * rng.lognormal(0.0, 0.85, size=n), 0.99), 2)

    # A late purchase opens its own session a minute or two before it; numbered after the others.
    late_paid = late[bought]
    k = int(late_paid.sum())
    session = checkouts.session[bought].copy()
    session[late_paid] = first_free_session + np.arange(k)
    paid_b = paid[bought]
    opened = paid_b[late_paid] - np.minimum(
        (rng.uniform(20.0, 120.0, size=k) * _SEC).astype(np.int64),
        (paid_b[late_paid] - when[bought][late_paid]) // 2,
    )
    parts = [
        _Part(
            user[exposure_row],
            when[exposure_row],
            _EV["experiment_exposure"],
            checkouts.session[exposure_row],
        ),
        _Part(user[bought], paid_b, _EV["purchase"], session, revenue[bought]),
        _Part(user[bought][late_paid], opened, _EV["session_start"], session[late_paid]),
    ]
    assignments = pl.DataFrame(
        {
            "user_id": _user_ids(exposed_users),
            "experiment": np.full(exposed_users.size, truth.experiment),
            "variant": np.where(treated[exposed_users], truth.treatment, truth.control),
            "timestamp": _timestamps(exposure_time[exposed_users]),
        },
        schema=ASSIGNMENT_SCHEMA,
    )
    return parts, opened, treated, assignments


def _abandon_exponent(p: np.ndarray, k: np.ndarray, rate: float) -> float:
    """The exponent s for which users with per-checkout purchase chances ``p`` and ``k`` checkouts
    each buy at least once with mean chance ``rate``: mean(1 - (1 - p) ** (s * k)) = rate.

    Newton's method from s = 0: the mean rises from 0 towards 1 and is concave in s, so every step
    stays below the root and the steps converge on it (quadratically, a handful of steps).
    """
    log_keep = k * np.log1p(-p)  # log of the chance that none of a user's k checkouts buys
    exponent = 0.0
    for _ in range(100):
        keep = np.exp(exponent * log_keep)
        step = (rate - float(np.mean(1.0 - keep))) / float(np.mean(-log_keep * keep))
        exponent += step
        if step <= 1e-15 * exponent:
            break
    return exponent


# --- assembly ------------------------------------------------------------------------------------


def _user_ids(index: np.ndarray) -> pl.Series:
    """'u000001'-style ids (1-based, zero-padded so they sort like numbers)."""
    return _prefixed("user_id", "u", index + 1, 6)


def _prefixed(name: str, prefix: str, numbers: np.ndarray, digits: int) -> pl.Series:
    """Ids like 'u000042': the prefix, then the number zero-padded to at least ``digits``."""
    number = pl.Series(name, numbers, dtype=pl.Int64).cast(pl.String).str.zfill(digits)
    return pl.select(pl.concat_str(pl.lit(prefix), number).alias(name)).to_series()


def _timestamps(us: np.ndarray) -> pl.Series:
    return pl.Series("timestamp", _START_US + us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))


def _assemble(
    p: _People,
    s: _Sessions,
    parts: list[_Part],
    extra_session_starts: np.ndarray,
    treated: np.ndarray,
    assignments: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    user = np.concatenate([part.user for part in parts])
    when = np.concatenate([part.time for part in parts])
    event = np.concatenate(
        [np.broadcast_to(np.int8(part.event), part.user.shape) for part in parts]
    )
    session = np.concatenate([part.session for part in parts])
    revenue = np.concatenate(
        [
            part.revenue if part.revenue is not None else np.full(part.user.size, np.nan)
            for part in parts
        ]
    )
    # Events cut off by the end of the data are not there yet.
    inside = when < _SPAN
    user, when, event, session, revenue = (a[inside] for a in (user, when, event, session, revenue))
    # By time; at the same instant by event code (a checkout_start before its exposure). One int64
    # key (µs times 16 plus the code: under 2**48) sorts faster than a two-key lexsort.
    order = np.argsort(when * 16 + event, kind="stable")
    user, when, event, session, revenue = (a[order] for a in (user, when, event, session, revenue))

    # Sessions are numbered in the order they start.
    session_start = np.concatenate([s.start, extra_session_starts])
    session_rank = np.empty(session_start.size, dtype=np.int64)
    session_rank[np.argsort(session_start, kind="stable")] = np.arange(session_start.size)

    exposure = event == _EV["experiment_exposure"]
    truth = DEMO_EXPERIMENT_TRUTH
    n = user.size
    # Ids are formatted once per user and per session, then gathered (cheaper than per event).
    user_names = _user_ids(np.arange(p.signup.size))
    session_names = _prefixed("session_id", "s", np.arange(1, session_start.size + 1), 7)
    frame = pl.DataFrame(
        {
            "user_id": user_names.gather(user),
            "event": pl.Series(EVENT_NAMES, dtype=pl.String).gather(event),
            "timestamp": _timestamps(when),
            "event_id": _prefixed("event_id", "e", np.arange(1, n + 1), 8),
            "session_id": session_names.gather(session_rank[session]),
            "revenue": pl.Series(revenue).fill_nan(None),
            "platform": pl.Series(PLATFORMS, dtype=pl.String).gather(p.platform[user]),
            "country": pl.Series(COUNTRIES, dtype=pl.String).gather(p.country[user]),
            "plan": pl.Series(PLANS, dtype=pl.String).gather(p.pro[user].astype(np.int8)),
        }
    )
    arm = pl.Series([truth.control, truth.treatment], dtype=pl.String).gather(
        treated[user].astype(np.int8)
    )
    frame = frame.with_columns(
        experiment=pl.when(pl.Series(exposure)).then(pl.lit(truth.experiment)),
        variant=pl.when(pl.Series(exposure)).then(arm),
    )
    return frame, assignments.sort("timestamp", "user_id")


# --- cached loading ------------------------------------------------------------------------------


def load_demo(
    *,
    tz: str = "UTC",
    cache_dir: str | Path = ".cache/demo",
    seed: int = DEMO_SEED,
    users: int = DEMO_USERS,
) -> tuple[pl.DataFrame, pl.DataFrame, LoadReport]:
    """The demo product's events, assignments and load report, generated once and cached as Parquet.

    The cache files are named after :data:`DEMO_VERSION`, ``seed`` and ``users``, so a changed
    generator writes new files instead of reading stale ones. They are written to a temporary name
    and renamed, so a crash or a second process never leaves a half-written file behind. ``tz`` is
    the zone for naive timestamps in other sources; the demo's timestamps already carry UTC.
    """
    check_tz(tz)
    folder = Path(cache_dir)
    stem = f"v{DEMO_VERSION}_seed{seed}_users{users}"
    events_path = folder / f"demo_events_{stem}.parquet"
    assignments_path = folder / f"demo_assignments_{stem}.parquet"
    began = time.perf_counter()
    cached = _read_cache(events_path, assignments_path)
    if cached is not None:
        events, assignments = cached
        # The cache's place on the server is nobody's business on a page (it is in .cache/).
        how = f"read from its cache in {time.perf_counter() - began:.1f} s"
        fmt = "demo (cached parquet)"
    else:
        events, assignments = generate(seed=seed, users=users)
        fmt = "demo (generated)"
        took = time.perf_counter() - began
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(assignments, assignments_path)
            _write_atomically(events, events_path)
            how = f"generated in {took:.1f} s and cached at {events_path}"
            _remove_stale(folder, keep=(events_path, assignments_path), seed=seed, users=users)
        except OSError as exc:
            # The data is fine without a cache; the next start just generates it again.
            how = f"generated in {took:.1f} s; not cached ({exc.strerror or exc} at {folder})"
    notes = (
        f"Built-in demo product (seed {seed}, {users:,} users), {how}.",
        f"Experiment {DEMO_EXPERIMENT_TRUTH.experiment!r} has a planted effect: "
        f"{DEMO_EXPERIMENT_TRUTH.control_rate:.0%} of exposed control users purchase after "
        "exposure, "
        f"{DEMO_EXPERIMENT_TRUTH.treatment_rate:.0%} in treatment.",
    )
    return events, assignments, _report(events, fmt, notes)


def _read_cache(
    events_path: Path, assignments_path: Path
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The cached frames, or None when they are missing, unreadable or not in the expected shape."""
    if not (events_path.is_file() and assignments_path.is_file()):
        return None
    try:
        events = pl.read_parquet(events_path)
        assignments = pl.read_parquet(assignments_path)
    except (OSError, pl.exceptions.PolarsError):
        return None  # a damaged cache is regenerated, never shown
    expected = {**EVENT_SCHEMA, **dict.fromkeys(_PROPERTY_COLUMNS, pl.String())}
    if dict(events.schema) != expected or dict(assignments.schema) != ASSIGNMENT_SCHEMA:
        return None
    return events, assignments


def _remove_stale(folder: Path, *, keep: tuple[Path, ...], seed: int, users: int) -> None:
    """Delete this seed and size's files from older generator versions (they are never read)."""
    for path in folder.glob(f"demo_*_v*_seed{seed}_users{users}.parquet"):
        if path not in keep:
            path.unlink(missing_ok=True)


def _write_atomically(frame: pl.DataFrame, path: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        # lz4: about twice as fast as zstd to write and faster to read; the cache is local.
        frame.write_parquet(temporary, compression="lz4")
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the cache is ordinary data
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _report(events: pl.DataFrame, fmt: str, notes: tuple[str, ...]) -> LoadReport:
    summary = events.select(
        first=pl.col("timestamp").min(),
        last=pl.col("timestamp").max(),
        users=pl.col("user_id").n_unique(),
    ).row(0, named=True)
    counts = events.group_by("event").len().sort("len", "event", descending=[True, False])
    return LoadReport(
        source="demo",
        format=fmt,
        rows_read=events.height,
        rows_kept=events.height,
        dropped=dict.fromkeys(DROP_REASONS, 0),
        first_event=summary["first"],
        last_event=summary["last"],
        users=summary["users"],
        events_by_name=dict(counts.iter_rows()),
        identities_merged=0,
        columns={name: str(dtype) for name, dtype in events.schema.items()},
        notes=notes,
    )
