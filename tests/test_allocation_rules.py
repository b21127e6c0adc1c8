"""Properties of the pure allocation algorithm, checked on random instances."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.rules.allocation import (
    BATCHES,
    PHASE_ADJUST,
    PHASE_UNPLACED,
    PHASE_ZONE,
    AllocationProblem,
    AllocationResult,
    Child,
    ChildResult,
    PublishedChild,
    RecordedChild,
    SchoolSeats,
    allocate,
    find_violations,
    replay,
)
from console.rules.lottery import child_token, derive_seed, input_hash, lottery_number

TIEBREAK_CHOICES = [
    "household_date",
    "property_date",
    "insurance_months",
    "submitted_at",
]


@st.composite
def problems(draw: st.DrawFn) -> AllocationProblem:
    """Random county: schools (some with no seats), homes with schools in reach, children."""
    school_count = draw(st.integers(1, 8))
    schools = [
        SchoolSeats(code=f"S{i}", seats=draw(st.integers(0, 6)))
        for i in range(school_count)
    ]
    codes = [school.code for school in schools]
    origin_count = draw(st.integers(0, 4))
    nearby = {}
    for origin in range(origin_count):
        reach = draw(
            st.lists(st.sampled_from(codes), unique=True, max_size=school_count)
        )
        distances = sorted(
            draw(st.lists(st.floats(0, 20), min_size=len(reach), max_size=len(reach)))
        )
        nearby[f"H{origin}"] = tuple(zip(reach, distances, strict=True))
    origins = [*nearby, None]
    maybe_school = st.one_of(st.none(), st.sampled_from(codes), st.just("ELSEWHERE"))
    day = st.one_of(st.none(), st.dates(date(2015, 1, 1), date(2015, 1, 10)))
    child_count = draw(st.integers(0, 50))
    children = []
    for number in range(child_count):
        children.append(
            Child(
                ref=f"{number:03d}",
                token=child_token(f"62040220190101{number:04d}"),
                batch=draw(st.sampled_from(BATCHES)),
                zone_school=draw(maybe_school),
                preferred_school=draw(maybe_school),
                origin=draw(st.sampled_from(origins)),
                household_date=draw(day),
                property_date=draw(day),
                insurance_months=draw(st.one_of(st.none(), st.integers(0, 30))),
                submitted_at=datetime(2025, 7, 1)
                + timedelta(minutes=draw(st.integers(0, 5))),
                sibling=draw(st.booleans()),
            )
        )
    tiebreak = {
        batch: tuple(
            draw(st.lists(st.sampled_from(TIEBREAK_CHOICES), unique=True, max_size=3))
        )
        for batch in BATCHES
    }
    return AllocationProblem(
        children=children,
        schools=schools,
        nearby=nearby,
        tiebreak=tiebreak,
        seed=draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=8)),
        sibling_priority=draw(st.booleans()),
    )


@st.composite
def large_problems(draw: st.DrawFn) -> AllocationProblem:
    """Random county built from a drawn seed: fast enough for thousands of instances.

    Hypothesis draws the sizes, so it still explores more children than seats, schools
    without seats and schools that nobody chose.
    """
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    school_count = draw(st.integers(1, 30))
    child_count = draw(st.integers(0, 300))
    max_seats = draw(st.integers(0, 20))
    schools = [
        SchoolSeats(f"S{i}", rng.randint(0, max_seats)) for i in range(school_count)
    ]
    codes = [school.code for school in schools]
    nearby = {}
    for origin in range(rng.randint(0, 10)):
        reach = rng.sample(codes, rng.randint(0, school_count))
        distances = sorted(round(rng.uniform(0, 30), 3) for _ in reach)
        nearby[f"H{origin}"] = tuple(zip(reach, distances, strict=True))
    origins = [*nearby, None]
    # Zone schools come from a few popular codes, so some schools are chosen by nobody.
    popular = rng.sample(codes, max(1, school_count // 2))

    def maybe_school() -> str | None:
        roll = rng.random()
        if roll < 0.15:
            return None
        if roll < 0.2:
            return "ELSEWHERE"
        return rng.choice(popular)

    def maybe_day() -> date | None:
        return (
            None
            if rng.random() < 0.1
            else date(2015, 1, 1) + timedelta(rng.randint(0, 30))
        )

    children = [
        Child(
            ref=f"{number:04d}",
            token=child_token(f"6204022019{number:08d}"),
            batch=rng.choice(BATCHES),
            zone_school=maybe_school(),
            preferred_school=maybe_school(),
            origin=rng.choice(origins),
            household_date=maybe_day(),
            property_date=maybe_day(),
            insurance_months=None if rng.random() < 0.1 else rng.randint(0, 36),
            submitted_at=datetime(2025, 7, 1) + timedelta(seconds=rng.randint(0, 600)),
            sibling=rng.random() < 0.1,
        )
        for number in range(child_count)
    ]
    tiebreak = {
        batch: tuple(rng.sample(TIEBREAK_CHOICES, rng.randint(0, 3)))
        for batch in BATCHES
    }
    return AllocationProblem(
        children=children,
        schools=schools,
        nearby=nearby,
        tiebreak=tiebreak,
        seed=f"{rng.getrandbits(64):016x}",
        sibling_priority=rng.random() < 0.8,
    )


def rank_at(child: ChildResult, school: str) -> tuple[int, str]:
    """Priority of a child at a school: the zone's children first, then everyone by key."""
    return (0 if child.zone_school == school else 1, child.priority_key)


def preferred_over_result(child: ChildResult) -> tuple[str, ...]:
    """Options the child ranks above its placement, or all of them when unplaced."""
    if child.school is None:
        return child.options
    return child.options[: child.options.index(child.school)]


def check_properties(problem: AllocationProblem, result: AllocationResult) -> None:
    seats = {school.code: school.seats for school in problem.schools}
    admitted: dict[str, list[ChildResult]] = {code: [] for code in seats}
    assert [child.ref for child in result.children] == sorted(
        c.ref for c in problem.children
    )
    for child in result.children:
        if child.school is not None:
            assert child.school in child.options
            admitted[child.school].append(child)
            assert child.phase in (PHASE_ZONE, PHASE_ADJUST)
        else:
            assert child.phase == PHASE_UNPLACED
        if child.phase == PHASE_ZONE:
            assert child.school == child.zone_school

    for code, children in admitted.items():
        assert len(children) <= seats[code], f"{code} over its seats"

    worst_admitted = {
        code: max((rank_at(c, code) for c in children), default=None)
        for code, children in admitted.items()
    }
    for child in result.children:
        for code in preferred_over_result(child):
            assert len(admitted[code]) == seats[code], (
                f"{child.ref} wanted {code}, which kept a free seat"
            )
            worst = worst_admitted[code]
            assert worst is None or worst < rank_at(child, code), (
                f"{child.ref} lost {code} to a child of lower priority"
            )


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_allocation_properties_hold(problem: AllocationProblem) -> None:
    result = allocate(problem)
    check_properties(problem, result)


@settings(max_examples=3000, deadline=None)
@given(large_problems())
def test_properties_hold_on_larger_counties(problem: AllocationProblem) -> None:
    result = allocate(problem)
    check_properties(problem, result)


@settings(max_examples=300, deadline=None)
@given(large_problems(), st.randoms(use_true_random=False))
def test_allocation_repeats_byte_for_byte(
    problem: AllocationProblem, rng: random.Random
) -> None:
    first = allocate(problem).to_json()
    shuffled = list(problem.children)
    rng.shuffle(shuffled)
    schools = list(problem.schools)
    rng.shuffle(schools)
    again = AllocationProblem(
        children=shuffled,
        schools=schools,
        nearby=problem.nearby,
        tiebreak=problem.tiebreak,
        seed=problem.seed,
        sibling_priority=problem.sibling_priority,
    )
    assert allocate(again).to_json() == first


@settings(max_examples=500, deadline=None)
@given(large_problems())
def test_replay_reproduces_placements(problem: AllocationProblem) -> None:
    result = allocate(problem)
    recorded = [
        RecordedChild(
            ref=c.ref,
            batch=c.batch,
            priority_key=c.priority_key,
            zone_school=c.zone_school,
            preferred_school=c.preferred_school,
            options=c.options,
        )
        for c in result.children
    ]
    seats = {school.code: school.seats for school in problem.schools}
    repeated = replay(recorded, seats)
    assert repeated == {c.ref: (c.school, c.phase) for c in result.children}
    published = [
        PublishedChild(
            ref=c.ref,
            token=c.token,
            batch=c.batch,
            priority_key=c.priority_key,
            lottery=c.lottery,
            zone_school=c.zone_school,
            preferred_school=c.preferred_school,
            options=c.options,
            school=c.school,
            phase=c.phase,
        )
        for c in result.children
    ]
    assert find_violations(published, seats) == []


def make_child(ref: str, **fields: object) -> Child:
    values: dict[str, object] = {
        "token": child_token(f"6204022019010{int(ref):05d}"),
        "batch": "A",
        "zone_school": "S1",
    }
    values.update(fields)
    return Child(ref=ref, **values)  # type: ignore[arg-type]


def test_batch_order_beats_tiebreak() -> None:
    children = [
        make_child("1", batch="D", household_date=date(2000, 1, 1)),
        make_child("2", batch="A", household_date=date(2020, 1, 1)),
    ]
    problem = AllocationProblem(children=children, schools=[SchoolSeats("S1", 1)])
    result = {c.ref: c for c in allocate(problem).children}
    assert result["2"].school == "S1"
    assert result["1"].phase == PHASE_UNPLACED


def test_earlier_household_date_wins() -> None:
    children = [
        make_child("1", household_date=date(2018, 5, 1)),
        make_child("2", household_date=date(2016, 5, 1)),
        make_child("3"),  # a missing date sorts last
    ]
    problem = AllocationProblem(
        children=children,
        schools=[SchoolSeats("S1", 2)],
        tiebreak={"A": ("household_date",)},
    )
    result = {c.ref: c for c in allocate(problem).children}
    assert result["2"].rank_in_batch == 1
    assert result["1"].rank_in_batch == 2
    assert result["3"].school is None


def test_more_insurance_months_win() -> None:
    children = [
        make_child("1", insurance_months=6),
        make_child("2", insurance_months=24),
    ]
    problem = AllocationProblem(
        children=children,
        schools=[SchoolSeats("S1", 1)],
        tiebreak={"A": ("insurance_months",)},
    )
    result = {c.ref: c for c in allocate(problem).children}
    assert result["2"].school == "S1"
    assert result["1"].school is None


def test_sibling_first_inside_batch() -> None:
    children = [
        make_child("1", household_date=date(2010, 1, 1)),
        make_child("2", household_date=date(2019, 1, 1), sibling=True),
    ]
    tiebreak = {"A": ("household_date",)}
    schools = [SchoolSeats("S1", 1)]
    with_siblings = allocate(AllocationProblem(children, schools, tiebreak=tiebreak))
    assert {c.ref: c.school for c in with_siblings.children}["2"] == "S1"
    without = allocate(
        AllocationProblem(children, schools, tiebreak=tiebreak, sibling_priority=False)
    )
    assert {c.ref: c.school for c in without.children}["1"] == "S1"


def test_lottery_decides_exact_ties() -> None:
    children = [make_child(str(n)) for n in range(10)]
    problem = AllocationProblem(
        children=children, schools=[SchoolSeats("S1", 3)], seed="abc"
    )
    result = allocate(problem)
    winners = sorted(c.lottery for c in result.children if c.school)
    losers = sorted(c.lottery for c in result.children if not c.school)
    assert len(winners) == 3
    assert winners[-1] < losers[0]
    for child in result.children:
        assert child.lottery == lottery_number("abc", child.token)
        assert child.key_used == ("lottery",)


def test_adjustment_prefers_preferred_then_nearest() -> None:
    children = [
        make_child("1", household_date=date(2010, 1, 1)),
        make_child(
            "2", household_date=date(2011, 1, 1), preferred_school="S3", origin="H"
        ),
        make_child("3", household_date=date(2012, 1, 1), origin="H"),
        make_child("4", household_date=date(2013, 1, 1), origin="H"),
    ]
    problem = AllocationProblem(
        children=children,
        schools=[SchoolSeats("S1", 1), SchoolSeats("S2", 1), SchoolSeats("S3", 1)],
        nearby={"H": (("S1", 0.5), ("S2", 1.2), ("S3", 9.0))},
        tiebreak={"A": ("household_date",)},
    )
    result = {c.ref: c for c in allocate(problem).children}
    assert (result["1"].school, result["1"].phase) == ("S1", PHASE_ZONE)
    assert (result["2"].school, result["2"].reason) == ("S3", "preferred")
    assert (result["3"].school, result["3"].distance_km) == ("S2", 1.2)
    assert result["4"].school is None
    assert result["4"].reason == "full"
    schools = {s.code: s for s in allocate(problem).schools}
    assert schools["S1"].overflow == 3
    assert schools["S1"].adjusted_out == 2
    assert schools["S2"].adjusted_in == 1


def test_children_without_zone_come_after_zone() -> None:
    children = [
        make_child("1", batch="A", zone_school=None, preferred_school="S1"),
        make_child("2", batch="E", zone_school="S1"),
    ]
    problem = AllocationProblem(children=children, schools=[SchoolSeats("S1", 1)])
    result = {c.ref: c for c in allocate(problem).children}
    assert result["2"].school == "S1"
    assert result["1"].school is None


def test_token_survives_resubmission() -> None:
    assert child_token("62040220190101123x") == child_token(" 62040220190101123X ")
    assert child_token("620402201901011234") != child_token("620402201901011242")


def test_seed_depends_on_list_and_source() -> None:
    tokens = [child_token("620402201901011234"), child_token("62040220190101123X")]
    assert input_hash(tokens) == input_hash(list(reversed(tokens)))
    seed = derive_seed("2025-07-15 公证摇号 3817", input_hash(tokens))
    assert seed != derive_seed("2025-07-15 公证摇号 3818", input_hash(tokens))
    assert seed != derive_seed("2025-07-15 公证摇号 3817", input_hash(tokens[:1]))
    assert len(lottery_number(seed, tokens[0])) == 16
