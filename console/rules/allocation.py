"""Zone admission and adjustment (调剂) of one county and stage: a pure algorithm.

Phase 1, zone admission: each school sorts the children of its zone by priority and admits
them until its seats are full. Priority is the batch (A before B before C, D, E), then
sibling priority, then the county's tie-break chain for the batch, then the child's lottery
number. Batch C children arrive with the bureau's school as their zone school.

Phase 2, adjustment: the children left without a seat go in the same priority order.
Each takes the first school with a free seat from their options, which are the preferred
school, then the schools within the county's radius of their home, nearest first.

The outcome has these properties, which tests check on random instances:

- no school admits more children than its seats, and no child holds two seats;
- no justified envy: when a child holds a seat at school S that another child ranks above
  their own result, that other child has lower priority at S. At S the children of its
  zone come first (by their key), then everyone else by their key;
- a child left without a seat found every one of their options full;
- the same problem gives the same result, byte for byte.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from console.rules.lottery import lottery_number

BATCHES = ("A", "B", "C", "D", "E")
TIEBREAK_KEYS = (
    "household_date",
    "property_date",
    "insurance_months",
    "submitted_at",
    "lottery",
)

PHASE_ZONE = "zone"
PHASE_ADJUST = "adjust"
PHASE_UNPLACED = "unplaced"

# Reasons stored with each result. The service turns them into Chinese text.
REASON_ZONE = "zone"  # admitted by the school of the child's zone
REASON_BUREAU = "bureau"  # batch C: admitted by the school the bureau set
REASON_PREFERRED = "preferred"  # adjusted to the preferred school
REASON_NEAREST = "nearest"  # adjusted to the nearest school with a free seat
REASON_FULL = "full"  # every option was full
REASON_NO_OPTIONS = (
    "no_options"  # no zone school, no preferred school and no home location
)

_MISSING_DATE = "9999-12-31"
_MISSING_TIME = "9999-12-31T23:59:59"


@dataclass(frozen=True, slots=True)
class Child:
    """One child to place. `ref` is unique, and `token` is the lottery pseudonym."""

    ref: str
    token: str
    batch: str
    zone_school: str | None
    preferred_school: str | None = None
    origin: str | None = None  # key of the home location in AllocationProblem.nearby
    household_date: date | None = None
    property_date: date | None = None
    insurance_months: int | None = None
    submitted_at: datetime | None = None
    sibling: bool = False  # an older sibling attends the zone school


@dataclass(frozen=True, slots=True)
class SchoolSeats:
    code: str
    seats: int


@dataclass(frozen=True)
class AllocationProblem:
    """Everything the algorithm reads. The same problem always gives the same result."""

    children: Sequence[Child]
    schools: Sequence[SchoolSeats]
    # Home location -> (school code, distance in km) within the county's radius, nearest first.
    nearby: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)
    # Batch -> tie-break chain. The lottery number breaks any tie that the chain leaves.
    tiebreak: Mapping[str, Sequence[str]] = field(default_factory=dict)
    seed: str = ""
    sibling_priority: bool = True


# Not frozen, because a frozen dataclass took about five times as long to build on
# CPython 3.11, which matters for 100,000 children. Treat instances as read-only.
@dataclass(slots=True)
class ChildResult:
    ref: str
    token: str
    batch: str
    zone_school: str | None
    preferred_school: str | None
    priority_key: str
    key_used: tuple[str, ...]
    lottery: str
    rank_in_batch: int  # 1-based rank among the zone school's children of the batch
    options: tuple[str, ...]  # schools the child accepts, in the child's order
    school: str | None
    phase: str
    reason: str
    distance_km: float | None = None


@dataclass(slots=True)
class SchoolResult:
    code: str
    seats: int
    zone_applicants: int = 0
    admitted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BATCHES, 0))
    overflow: int = 0  # children of the zone who found no seat here
    adjusted_in: int = 0
    adjusted_out: int = 0  # overflow children placed at another school
    filled: int = 0

    @property
    def free(self) -> int:
        return self.seats - self.filled


@dataclass(frozen=True)
class AllocationResult:
    children: tuple[ChildResult, ...]  # sorted by ref
    schools: tuple[SchoolResult, ...]  # sorted by code
    seed: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "children": [asdict(child) for child in self.children],
            "schools": [asdict(school) for school in self.schools],
        }

    def to_json(self) -> str:
        """Serialise the result so that equal results give equal bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


def key_chain(batch: str, tiebreak: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Return the keys that order a batch: the county's chain, ending with the lottery."""
    chain = tuple(key for key in tiebreak.get(batch, ()) if key != "lottery")
    unknown = set(chain) - set(TIEBREAK_KEYS)
    if unknown:
        raise ValueError(f"unknown tie-break keys for batch {batch}: {sorted(unknown)}")
    return (*chain, "lottery")


def priority_key(
    child: Child, chain: Sequence[str], lottery: str, sibling_priority: bool
) -> str:
    """Return a string whose order is the child's priority: a smaller string comes first.

    Fields are fixed-width and joined by "|", so comparing two keys of one batch compares
    batch, sibling flag, each tie-break value and the lottery number in turn. Missing
    dates and insurance months sort last. Submission times compare in UTC.
    """
    sibling = "0" if sibling_priority and child.sibling else "1"
    parts = [child.batch, sibling]
    for key in chain:
        if key == "household_date":
            parts.append(
                child.household_date.isoformat()
                if child.household_date
                else _MISSING_DATE
            )
        elif key == "property_date":
            parts.append(
                child.property_date.isoformat()
                if child.property_date
                else _MISSING_DATE
            )
        elif key == "insurance_months":
            # More months come first, so store the complement.
            months = child.insurance_months
            parts.append(
                f"{999 - min(max(months, 0), 999):03d}" if months is not None else "999"
            )
        elif key == "submitted_at":
            submitted = child.submitted_at
            if submitted is not None and submitted.tzinfo is not None:
                submitted = submitted.astimezone(UTC)
            parts.append(
                submitted.strftime("%Y-%m-%dT%H:%M:%S") if submitted else _MISSING_TIME
            )
        elif key == "lottery":
            parts.append(lottery)
    # The token makes keys unique even if two lottery numbers were ever equal.
    parts.append(child.token)
    return "|".join(parts)


def child_options(
    child: Child,
    schools: Mapping[str, int],
    nearby: Mapping[str, Sequence[tuple[str, float]]],
) -> tuple[str, ...]:
    """Return the schools the child accepts, in order: zone, preferred, then nearest."""
    options: list[str] = []
    for code in (child.zone_school, child.preferred_school):
        if code is not None and code in schools and code not in options:
            options.append(code)
    if child.origin is not None:
        for code, _distance in nearby.get(child.origin, ()):
            if code in schools and code not in options:
                options.append(code)
    return tuple(options)


def allocate(problem: AllocationProblem) -> AllocationResult:
    """Place every child of the problem by the rules in the module docstring."""
    seats = {school.code: school.seats for school in problem.schools}
    if len(seats) != len(problem.schools):
        raise ValueError("duplicate school codes in the problem")
    stats = {
        code: SchoolResult(code=code, seats=count) for code, count in seats.items()
    }
    refs = [child.ref for child in problem.children]
    if len(set(refs)) != len(refs):
        raise ValueError("duplicate child refs in the problem")

    # Priority keys, then the rank of each child inside its zone school and batch.
    chains = {batch: key_chain(batch, problem.tiebreak) for batch in BATCHES}
    lotteries: dict[str, str] = {}
    keys: dict[str, str] = {}
    for child in problem.children:
        if child.batch not in chains:
            raise ValueError(f"child {child.ref} has unknown batch {child.batch!r}")
        lottery = lottery_number(problem.seed, child.token)
        lotteries[child.ref] = lottery
        keys[child.ref] = priority_key(
            child, chains[child.batch], lottery, problem.sibling_priority
        )

    placed, ranks = _place(problem.children, keys, stats, problem.nearby)

    # Children of one home with the same zone and preferred school share one options tuple.
    options_cache: dict[tuple[str | None, str | None, str | None], tuple[str, ...]] = {}
    results = []
    for child in sorted(problem.children, key=lambda c: c.ref):
        cache_key = (child.zone_school, child.preferred_school, child.origin)
        options = options_cache.get(cache_key)
        if options is None:
            options = child_options(child, seats, problem.nearby)
            options_cache[cache_key] = options
        school_code, phase, reason, distance = placed[child.ref]
        results.append(
            # Positional arguments in field order, because keyword arguments are slower.
            ChildResult(
                child.ref,
                child.token,
                child.batch,
                child.zone_school,
                child.preferred_school,
                keys[child.ref],
                chains[child.batch],
                lotteries[child.ref],
                ranks[child.ref],
                options,
                school_code,
                phase,
                reason,
                None if distance is None else round(distance, 3),
            )
        )
    schools = tuple(stats[code] for code in sorted(stats))
    return AllocationResult(children=tuple(results), schools=schools, seed=problem.seed)


@dataclass(frozen=True, slots=True)
class RecordedChild:
    """One child as a published result records it: enough to repeat the placement."""

    ref: str
    batch: str
    priority_key: str
    zone_school: str | None
    preferred_school: str | None
    options: Sequence[str]


def replay(
    children: Sequence[RecordedChild], seats: Mapping[str, int]
) -> dict[str, tuple[str | None, str]]:
    """Repeat a recorded allocation from its priority keys and options.

    Return ref -> (school, phase). The recorded options already hold the nearest-first
    order of the schools within the radius, so no coordinates are needed.
    """
    stats = {
        code: SchoolResult(code=code, seats=count) for code, count in seats.items()
    }
    rebuilt = []
    nearby: dict[str, tuple[tuple[str, float], ...]] = {}
    for recorded in children:
        head = (recorded.zone_school, recorded.preferred_school)
        nearby[recorded.ref] = tuple(
            (code, 0.0) for code in recorded.options if code not in head
        )
        rebuilt.append(
            Child(
                ref=recorded.ref,
                token="",
                batch=recorded.batch,
                zone_school=recorded.zone_school,
                preferred_school=recorded.preferred_school,
                origin=recorded.ref,
            )
        )
    keys = {recorded.ref: recorded.priority_key for recorded in children}
    placed, _ranks = _place(rebuilt, keys, stats, nearby)
    return {
        ref: (school, phase) for ref, (school, phase, _reason, _d) in placed.items()
    }


Placed = dict[str, tuple[str | None, str, str, float | None]]


def _place(
    children: Sequence[Child],
    keys: Mapping[str, str],
    stats: dict[str, SchoolResult],
    nearby: Mapping[str, Sequence[tuple[str, float]]],
) -> tuple[Placed, dict[str, int]]:
    """Run zone admission and adjustment, and count admissions into `stats`.

    Return ref -> (school, phase, reason, distance) and ref -> rank in batch.
    """
    seats = {code: school.seats for code, school in stats.items()}
    # Entries are (key, ref, child): keys sort the entries, and refs are unique, so two
    # Child objects are never compared.
    by_zone: dict[str, list[tuple[str, str, Child]]] = defaultdict(list)
    waiting: list[tuple[str, str, Child]] = []  # children without a seat so far
    for child in children:
        entry = (keys[child.ref], child.ref, child)
        if child.zone_school is not None and child.zone_school in seats:
            by_zone[child.zone_school].append(entry)
        else:
            waiting.append(entry)

    placed: Placed = {}
    ranks: dict[str, int] = {}

    # Phase 1: zone admission, in priority order inside each zone.
    for zone, group in by_zone.items():
        group.sort()
        school = stats[zone]
        school.zone_applicants = len(group)
        counters: dict[str, int] = defaultdict(int)
        for entry in group:
            child = entry[2]
            counters[child.batch] += 1
            ranks[child.ref] = counters[child.batch]
            if school.filled < school.seats:
                school.filled += 1
                school.admitted[child.batch] += 1
                reason = REASON_BUREAU if child.batch == "C" else REASON_ZONE
                placed[child.ref] = (zone, PHASE_ZONE, reason, None)
            else:
                school.overflow += 1
                waiting.append(entry)
    # Children without a zone school are ranked inside their batch among themselves.
    counters = defaultdict(int)
    for _key, ref, child in sorted(
        entry for entry in waiting if entry[2].ref not in ranks
    ):
        counters[child.batch] += 1
        ranks[ref] = counters[child.batch]

    # Phase 2: adjustment in priority order. Seats only fill, so a per-home pointer past
    # the full schools at the head of each nearest-first list never has to move back.
    waiting.sort()
    pointers: dict[str, int] = defaultdict(int)
    for _key, _ref, child in waiting:
        choice: tuple[str, str, float | None] | None = None
        preferred = child.preferred_school
        if preferred in stats and stats[preferred].free > 0:
            choice = (
                preferred,
                REASON_PREFERRED,
                _distance(nearby, child.origin, preferred),
            )
        elif child.origin is not None:
            near = nearby.get(child.origin, ())
            index = pointers[child.origin]
            while index < len(near) and (
                near[index][0] not in stats or stats[near[index][0]].free <= 0
            ):
                index += 1
            pointers[child.origin] = index
            if index < len(near):
                code, distance = near[index]
                choice = (code, REASON_NEAREST, distance)
        if choice is None:
            has_options = (
                child.zone_school in seats
                or child.preferred_school in seats
                or bool(child.origin is not None and nearby.get(child.origin))
            )
            placed[child.ref] = (
                None,
                PHASE_UNPLACED,
                REASON_FULL if has_options else REASON_NO_OPTIONS,
                None,
            )
            continue
        target, reason, target_distance = choice
        stats[target].filled += 1
        stats[target].adjusted_in += 1
        if child.zone_school in stats:
            stats[child.zone_school].adjusted_out += 1
        placed[child.ref] = (target, PHASE_ADJUST, reason, target_distance)

    return placed, ranks


def _distance(
    nearby: Mapping[str, Sequence[tuple[str, float]]], origin: str | None, code: str
) -> float | None:
    if origin is None:
        return None
    for candidate, distance in nearby.get(origin, ()):
        if candidate == code:
            return distance
    return None


@dataclass(frozen=True, slots=True)
class PublishedChild:
    """One child as a published draw lists it: pseudonym, recorded key and placement."""

    ref: str
    token: str
    batch: str
    priority_key: str
    lottery: str
    zone_school: str | None
    preferred_school: str | None
    options: Sequence[str]
    school: str | None
    phase: str


@dataclass
class Verification:
    """Outcome of repeating a recorded draw. `problems` is empty when everything matches."""

    children: int
    input_hash: str
    seed: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_draw(
    *,
    seed_source: str,
    recorded_input_hash: str,
    recorded_seed: str,
    children: Sequence[PublishedChild],
    seats: Mapping[str, int],
) -> Verification:
    """Repeat a recorded draw from its published inputs and list every difference.

    The checks run in this order. First the hash of the token list, then the seed
    derived from the published value and that hash. Then each child's lottery number and
    its place at the end of the priority key. Last, the placements, repeated from the
    recorded keys and options.
    Problem texts are in Chinese because staff read them.
    """
    from console.rules.lottery import derive_seed, input_hash

    list_hash = input_hash(child.token for child in children)
    seed = derive_seed(seed_source, list_hash)
    outcome = Verification(children=len(children), input_hash=list_hash, seed=seed)
    if list_hash != recorded_input_hash:
        outcome.problems.append(
            f"名单哈希不一致：记录为 {recorded_input_hash}，复算为 {list_hash}"
        )
    if seed != recorded_seed:
        outcome.problems.append(
            f"摇号种子不一致：记录为 {recorded_seed}，复算为 {seed}"
        )
    for child in children:
        number = lottery_number(recorded_seed, child.token)
        if number != child.lottery:
            outcome.problems.append(
                f"儿童 {child.ref} 的摇号号码不一致：记录为 {child.lottery}，复算为 {number}"
            )
        if not child.priority_key.endswith(f"|{child.lottery}|{child.token}"):
            outcome.problems.append(
                f"儿童 {child.ref} 的排序值没有以摇号号码和代号结尾"
            )
        if not child.priority_key.startswith(f"{child.batch}|"):
            outcome.problems.append(
                f"儿童 {child.ref} 的排序值与批次 {child.batch} 不符"
            )
    recorded = [
        RecordedChild(
            ref=child.ref,
            batch=child.batch,
            priority_key=child.priority_key,
            zone_school=child.zone_school,
            preferred_school=child.preferred_school,
            options=child.options,
        )
        for child in children
    ]
    repeated = replay(recorded, seats)
    for child in children:
        school, phase = repeated[child.ref]
        if (school, phase) != (child.school, child.phase):
            outcome.problems.append(
                f"儿童 {child.ref} 的结果不一致：记录为 {child.school or '未安排'}（{child.phase}），"
                f"复算为 {school or '未安排'}（{phase}）"
            )
    outcome.problems.extend(find_violations(children, seats))
    return outcome


def find_violations(
    children: Sequence[PublishedChild], seats: Mapping[str, int]
) -> list[str]:
    """Check the recorded placements for the properties in the module docstring.

    Return one Chinese problem text per violation: a school over its seats, a placement
    outside the child's options, a seat left free that a child ranked higher, or a seat
    given to a child of lower priority at that school.
    """
    problems: list[str] = []
    admitted: dict[str, list[PublishedChild]] = defaultdict(list)
    for child in children:
        if child.school is None:
            continue
        if child.school not in child.options:
            problems.append(
                f"儿童 {child.ref} 被安排到不在其可选学校中的 {child.school}"
            )
            continue
        admitted[child.school].append(child)
    for code, group in sorted(admitted.items()):
        if len(group) > seats.get(code, 0):
            problems.append(
                f"学校 {code} 录取 {len(group)} 人，超出学位 {seats.get(code, 0)}"
            )

    def rank_at(child: PublishedChild, code: str) -> tuple[int, str]:
        return (0 if child.zone_school == code else 1, child.priority_key)

    worst = {
        code: max(rank_at(c, code) for c in group) for code, group in admitted.items()
    }
    for child in children:
        if child.school is None:
            ranked_higher = list(child.options)
        elif child.school in child.options:
            ranked_higher = list(
                child.options[: list(child.options).index(child.school)]
            )
        else:
            continue
        for code in ranked_higher:
            if len(admitted.get(code, ())) < seats.get(code, 0):
                problems.append(
                    f"学校 {code} 仍有空余学位，而儿童 {child.ref} 把它排在录取结果之前"
                )
            elif code in worst and worst[code] > rank_at(child, code):
                problems.append(
                    f"儿童 {child.ref} 在学校 {code} 的优先级高于已录取的儿童，却未被该校录取"
                )
    return problems
