"""Who exists and who follows whom: the Reed98 graph or a synthetic power-law one.

Pure and deterministic (a seeded ``random.Random`` and an explicit ``now_ms``),
so tests can compare a loaded database with the plan. Users are numbered by
index here; ``user_<index>`` is the handle, and ids are minted at load time.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chirp.ids import EPOCH_MS

DAY_MS: Final = 86_400_000
#: Accounts signed up over the past year, so profiles and follows look aged.
SIGNUP_SPAN_DAYS: Final = 365
#: Nobody signs up during the tweet window (``chirp.seed.tweets.TWEET_SPAN_DAYS``
#: is shorter), so every mentioned or replying user exists before the tweet.
SIGNUP_QUIET_DAYS: Final = 30
#: Handles are ``user_<n>`` and at most 15 characters; a million users also
#: bounds a seed's graph load (~25k edges/s) to well under an hour.
MAX_USERS: Final = 1_000_000
#: Default mean number of accounts a synthetic user follows (Twitter's median
#: user follows a few dozen).
DEFAULT_FOLLOWS_PER_USER: Final = 50
#: The mean out-degree is at most this share of the other users, so that the
#: celebrities still stand out in small graphs (50 follows each in a 50-user
#: graph would be everyone following everyone).
MAX_DENSITY: Final = 0.25
#: Lognormal spread of out-degrees: most follow a few dozen, a few hundreds.
OUT_DEGREE_SIGMA: Final = 1.0
#: Share of users following celebrity 0; later celebrities reach fewer
#: (``rank ** -CELEBRITY_REACH_DECAY``) but never under the floor.
CELEBRITY_REACH_TOP: Final = 0.9
CELEBRITY_REACH_DECAY: Final = 0.15
CELEBRITY_REACH_FLOOR: Final = 0.5
#: Non-celebrities are picked by Zipf rank with this exponent: the rank-size
#: form of a power-law in-degree with exponent 2.5, as preferential attachment
#: grows (1 / (2.5 - 1) = 0.67).
NON_CELEBRITY_ZIPF_EXPONENT: Final = 0.67
#: Expected share of users following the most popular non-celebrity: the top
#: of the Zipf curve is capped here, well under ``CELEBRITY_REACH_FLOOR``, so
#: the celebrities are always the most followed.
NON_CELEBRITY_MAX_REACH: Final = 0.3
#: Weighted redraw rounds before a user's remaining follows are filled
#: uniformly (only users following most of the graph get there).
MAX_DRAW_ROUNDS: Final = 8


@dataclass(frozen=True, slots=True)
class SeedUsers:
    handles: list[str]
    display_names: list[str]
    bios: list[str]
    #: Sign-up times, non-decreasing by index (``user_0`` is the oldest account).
    created_ms: list[int]

    def __len__(self) -> int:
        return len(self.handles)


@dataclass(frozen=True, slots=True)
class SeedGraph:
    users: SeedUsers
    #: ``(follower index, followee index, since_ms)``, no duplicate pairs.
    edges: list[tuple[int, int, int]]


def handle(index: int) -> str:
    return f"user_{index}"


def between(low: int, high: int, rng: random.Random) -> int:
    """A time in ``[low, high]`` from exactly one draw, whatever the range.

    ``randint`` consumes a range-dependent number of draws, which would make
    the graph depend on *when* it is seeded; one ``random()`` per time keeps
    the same seed giving the same graph and texts on any day.
    """
    return low + int(rng.random() * (high - low + 1))


def _signup_times(count: int, *, now_ms: int, rng: random.Random) -> list[int]:
    end = now_ms - SIGNUP_QUIET_DAYS * DAY_MS
    start = max(EPOCH_MS, end - SIGNUP_SPAN_DAYS * DAY_MS)
    return sorted(between(start, end, rng) for _ in range(count))


def _since(users: SeedUsers, a: int, b: int, *, now_ms: int, rng: random.Random) -> int:
    """A follow begins after both accounts exist and before now."""
    return between(max(users.created_ms[a], users.created_ms[b]), now_ms - 1, rng)


def read_edge_list(path: Path) -> list[tuple[int, int]]:
    """``a b`` pairs of an undirected edge list; ``%``/``#`` comments and self-loops skipped."""
    pairs: list[tuple[int, int]] = []
    with path.open() as lines:
        for line in lines:
            fields = line.split()
            if len(fields) < 2 or fields[0][0] in "%#":
                continue
            a, b = int(fields[0]), int(fields[1])
            if a != b:
                pairs.append((a, b))
    return pairs


def reed98_graph(pairs: list[tuple[int, int]], *, now_ms: int, seed: int) -> SeedGraph:
    """People 0..n-1 as ``user_<n>``; each friendship is two follows with one ``since``."""
    rng = random.Random(seed)
    count = max(itertools.chain.from_iterable(pairs), default=-1) + 1
    if count > MAX_USERS or min(itertools.chain.from_iterable(pairs), default=0) < 0:
        raise ValueError(f"people must be numbered 0..{MAX_USERS - 1:,}")
    users = SeedUsers(
        handles=[handle(i) for i in range(count)],
        display_names=[f"Reed User {i}" for i in range(count)],
        bios=["Reed College, class of 2005 (socfb-Reed98)."] * count,
        created_ms=_signup_times(count, now_ms=now_ms, rng=rng),
    )
    edges: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for a, b in pairs:
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        since = _since(users, a, b, now_ms=now_ms, rng=rng)
        edges.append((a, b, since))
        edges.append((b, a, since))
    return SeedGraph(users=users, edges=edges)


def celebrity_reach(rank: int) -> float:
    """Share of users following the celebrity of this rank (0 = the biggest)."""
    return max(CELEBRITY_REACH_FLOOR, CELEBRITY_REACH_TOP * (rank + 1) ** -CELEBRITY_REACH_DECAY)


def _capped_zipf(count: int, *, draws_per_user: float) -> list[float]:
    """Zipf probabilities over ``count`` ranks with the top clipped (water-filling).

    A user making ``d`` draws picks a rank of probability ``q`` with chance
    ``1 - (1 - q) ** d``; capping ``q`` keeps that under
    ``NON_CELEBRITY_MAX_REACH`` for the mean ``d`` (and by concavity on average).
    """
    weights = [(rank + 1) ** -NON_CELEBRITY_ZIPF_EXPONENT for rank in range(count)]
    cap = 1 - (1 - NON_CELEBRITY_MAX_REACH) ** (1 / max(draws_per_user, 1.0))
    if cap * count <= 1:  # the graph is too dense for any cap: uniform
        return [1 / count] * count
    capped = 0  # weights are decreasing, so the capped ranks are a prefix
    while True:
        free_mass = 1 - cap * capped
        free_total = sum(weights[capped:])
        if weights[capped] * free_mass / free_total <= cap:
            return [cap] * capped + [w * free_mass / free_total for w in weights[capped:]]
        capped += 1


def synthetic_graph(
    *, users: int, celebrities: int, follows_per_user: int, seed: int, now_ms: int
) -> SeedGraph:
    """A power-law follow graph whose first ``celebrities`` users are the most followed.

    Each user follows each celebrity with that celebrity's reach, then fills a
    lognormal out-degree with non-celebrities drawn by (capped) Zipf rank over
    a shuffled popularity order, so follower counts are heavy-tailed too.
    """
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be within 1..{MAX_USERS:,}")
    if not 0 <= celebrities <= users:
        raise ValueError("celebrities must be within 0..users")
    if follows_per_user < 0:
        raise ValueError("follows_per_user cannot be negative")
    rng = random.Random(seed)
    plan = SeedUsers(
        handles=[handle(i) for i in range(users)],
        display_names=[f"Celebrity {i}" if i < celebrities else f"User {i}" for i in range(users)],
        bios=["Famous for being followed." if i < celebrities else "" for i in range(users)],
        created_ms=_signup_times(users, now_ms=now_ms, rng=rng),
    )
    mean_degree = min(float(follows_per_user), MAX_DENSITY * (users - 1))
    reaches = [celebrity_reach(rank) for rank in range(celebrities)]
    popular = list(range(celebrities, users))
    rng.shuffle(popular)
    mean_draws = max(mean_degree - sum(reaches), 0.0)
    cum_weights = list(
        itertools.accumulate(_capped_zipf(len(popular), draws_per_user=mean_draws))
        if popular
        else []
    )
    mu = math.log(mean_degree) - OUT_DEGREE_SIGMA**2 / 2 if mean_degree >= 1 else None
    edges: list[tuple[int, int, int]] = []
    for user in range(users):
        followees = [c for c in range(celebrities) if c != user and rng.random() < reaches[c]]
        degree = 0 if mu is None else round(rng.lognormvariate(mu, OUT_DEGREE_SIGMA))
        wanted = min(max(degree - len(followees), 0), len(popular) - (user >= celebrities))
        followees += _draw_distinct(popular, cum_weights, count=wanted, exclude=user, rng=rng)
        edges.extend(
            (user, followee, _since(plan, user, followee, now_ms=now_ms, rng=rng))
            for followee in followees
        )
    return SeedGraph(users=plan, edges=edges)


def _draw_distinct(
    population: list[int],
    cum_weights: list[float],
    *,
    count: int,
    exclude: int,
    rng: random.Random,
) -> list[int]:
    """``count`` distinct members other than ``exclude``, by weight (see ``MAX_DRAW_ROUNDS``)."""
    chosen: dict[int, None] = {}
    total = cum_weights[-1] if cum_weights else 0.0
    for _ in range(MAX_DRAW_ROUNDS):
        missing = count - len(chosen)
        if missing <= 0:
            break
        for _ in range(missing * 2):
            pick = population[bisect.bisect(cum_weights, rng.random() * total)]
            if pick != exclude:
                chosen.setdefault(pick, None)
                if len(chosen) == count:
                    break
    if len(chosen) < count:
        rest = [p for p in population if p != exclude and p not in chosen]
        chosen.update(dict.fromkeys(rng.sample(rest, count - len(chosen))))
    return list(chosen)
