"""Time the allocation algorithm on a large made-up county, next to the `matching` package.

The reference is the student-allocation solver (`StudentAllocation`, student-optimal
deferred acceptance) of the `matching` package, run in the same process on the same
instance: every school is a project with its own supervisor, students rank their options
and each school ranks its zone's children first, then everyone else, by priority key.
Both outcomes are stable for the same priorities, so the benchmark also counts how many
children the two place at the same school.

`matching` is not a dependency of the console. Install it only in a separate environment,
which needs nothing else because the algorithm uses the standard library only:

    python3 -m venv /tmp/bench-alloc-venv
    /tmp/bench-alloc-venv/bin/pip install matching==1.4.3
    PYTHONPATH=. /tmp/bench-alloc-venv/bin/python bench/bench_allocation.py

The default run times the algorithm on 100,000 and 20,000 children and the reference on
20,000 only, because the reference took 36 s on 20,000 children, 261 s on 50,000 and
did not finish within 20 minutes on 100,000 (2-core VM). Raise --reference-max to run it
on larger instances. Without `matching` installed, or with --no-reference, only the
algorithm is timed.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import threading
import time
import tracemalloc
from datetime import date, datetime, timedelta
from typing import Any

from console.rules.allocation import (
    BATCHES,
    AllocationProblem,
    AllocationResult,
    Child,
    SchoolSeats,
    allocate,
)
from console.rules.lottery import child_token, derive_seed, input_hash

BATCH_WEIGHTS = (50, 10, 2, 25, 13)  # percent of children in A, B, C, D, E
TIEBREAK = {
    "A": ("household_date", "property_date"),
    "B": ("property_date",),
    "C": ("submitted_at",),
    "D": ("household_date",),
    "E": ("insurance_months", "lottery"),
}


def build_problem(
    *,
    children: int,
    schools: int,
    homes: int,
    seat_ratio: float,
    radius_km: float,
    seed: int,
) -> AllocationProblem:
    """Build a county on a 60 km square: schools, homes zoned to the nearest school, children.

    Seats add up to `seat_ratio` times the children, and popular zones are larger than
    others, so some schools overflow, some stay empty and some children stay unplaced.
    """
    rng = random.Random(seed)
    school_points = [(rng.uniform(0, 60), rng.uniform(0, 60)) for _ in range(schools)]
    home_points = [(rng.uniform(0, 60), rng.uniform(0, 60)) for _ in range(homes)]
    codes = [f"S{index:03d}" for index in range(schools)]

    nearby: dict[str, tuple[tuple[str, float], ...]] = {}
    zone_of_home: list[str] = []
    for index, (hx, hy) in enumerate(home_points):
        distances = sorted(
            (round(math.hypot(hx - sx, hy - sy), 3), code)
            for code, (sx, sy) in zip(codes, school_points, strict=True)
        )
        zone_of_home.append(distances[0][1])
        nearby[f"H{index}"] = tuple(
            (code, d) for d, code in distances if d <= radius_km
        )

    total_seats = int(children * seat_ratio)
    weights = [rng.uniform(0.3, 1.7) for _ in codes]
    scale = total_seats / sum(weights)
    school_seats = [
        SchoolSeats(code, int(w * scale))
        for code, w in zip(codes, weights, strict=True)
    ]

    home_weights = [rng.paretovariate(1.5) for _ in range(homes)]
    origins = rng.choices(range(homes), weights=home_weights, k=children)
    batches = rng.choices(BATCHES, weights=BATCH_WEIGHTS, k=children)
    people = []
    for number in range(children):
        home = origins[number]
        zone = zone_of_home[home]
        reach = nearby[f"H{home}"]
        preferred = zone
        if reach and rng.random() < 0.2:
            preferred = rng.choice(reach)[0]
        people.append(
            Child(
                ref=f"{number:06d}",
                token=child_token(f"ID{number:016d}"),
                batch=batches[number],
                zone_school=preferred if batches[number] == "C" else zone,
                preferred_school=preferred,
                origin=f"H{home}",
                household_date=date(2012, 1, 1) + timedelta(days=rng.randint(0, 3000)),
                property_date=date(2012, 1, 1) + timedelta(days=rng.randint(0, 3000)),
                insurance_months=rng.randint(0, 24),
                submitted_at=datetime(2025, 7, 1)
                + timedelta(seconds=rng.randint(0, 86400 * 30)),
                sibling=rng.random() < 0.05,
            )
        )
    tokens = [person.token for person in people]
    return AllocationProblem(
        children=people,
        schools=school_seats,
        nearby=nearby,
        tiebreak=TIEBREAK,
        seed=derive_seed("bench-published-value", input_hash(tokens)),
    )


def solve_with_matching(
    problem: AllocationProblem, result: AllocationResult, *, full_game: bool
) -> tuple[dict[str, float], dict[str, str | None]]:
    """Solve the same instance with matching's student-allocation solver.

    With `full_game`, go through the public `StudentAllocation` game, whose construction
    deep-copies the players and checks every input. Without it, build the players with
    the package's own private `_make_players` and call the algorithm
    `matching.algorithms.student_allocation` directly, which is the solver alone.
    Return the seconds spent building and solving, and each child's school.

    The priority keys come from our result, because they carry the county's tie-break and
    the lottery. Only the package's construction and solve are timed.
    """
    from matching.algorithms import student_allocation
    from matching.games import StudentAllocation
    from matching.games.student_allocation import _make_players

    student_prefs = {c.ref: list(c.options) for c in result.children if c.options}
    by_school: dict[str, list[tuple[tuple[int, str], str]]] = {
        s.code: [] for s in problem.schools
    }
    for child in result.children:
        for code in child.options:
            by_school[code].append(
                ((0 if child.zone_school == code else 1, child.priority_key), child.ref)
            )
    supervisor_prefs = {
        f"T{code}": [ref for _rank, ref in sorted(entries)]
        for code, entries in by_school.items()
        if entries
    }
    capacities = {
        s.code: s.seats for s in problem.schools if f"T{s.code}" in supervisor_prefs
    }
    project_supervisors = {code: f"T{code}" for code in capacities}
    supervisor_capacities = {f"T{code}": seats for code, seats in capacities.items()}
    student_prefs = {
        ref: [code for code in options if code in capacities]
        for ref, options in student_prefs.items()
    }
    student_prefs = {ref: options for ref, options in student_prefs.items() if options}
    inputs = (
        student_prefs,
        supervisor_prefs,
        project_supervisors,
        capacities,
        supervisor_capacities,
    )

    # StudentAllocation deep-copies its linked players recursively, which exceeds Python's
    # default recursion limit on large instances, so it runs in a thread with a big stack.
    outcome: dict[str, Any] = {}

    def solve() -> None:
        started = time.perf_counter()
        if full_game:
            game = StudentAllocation.create_from_dictionaries(*inputs)
            built = time.perf_counter()
            outcome["matching"] = game.solve(optimal="student")
        else:
            students, projects, supervisors = _make_players(*inputs)
            built = time.perf_counter()
            outcome["matching"] = student_allocation(
                students, projects, supervisors, optimal="student"
            )
        outcome["timings"] = {
            "build": built - started,
            "solve": time.perf_counter() - built,
        }

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000_000)
    threading.stack_size(2**30)
    try:
        worker = threading.Thread(target=solve)
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(limit)
    if "matching" not in outcome:
        raise RuntimeError(
            "the matching solver failed; see the thread's traceback above"
        )
    matching, timings = outcome["matching"], outcome["timings"]

    placements: dict[str, str | None] = {child.ref: None for child in result.children}
    for project, students in matching.items():
        for student in students:
            placements[student.name] = project.name
    return timings, placements


def measure(
    problem: AllocationProblem, *, repeats: int, reference: bool, full_game: bool
) -> dict[str, Any]:
    """Time `allocate` on one instance, and the matching solver when `reference` is set.

    `full_game` also times the public StudentAllocation game, which is much slower.
    """
    allocate(problem)  # warm-up
    times = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = allocate(problem)
        times.append(time.perf_counter() - started)
    assert result is not None
    tracemalloc.start()
    allocate(problem)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    children = len(result.children)
    placed = sum(1 for c in result.children if c.school)
    row: dict[str, Any] = {
        "children": children,
        "seats": sum(s.seats for s in problem.schools),
        "schools_in_radius": round(
            statistics.mean(len(v) for v in problem.nearby.values()), 1
        ),
        "placed": placed,
        "adjusted": sum(1 for c in result.children if c.phase == "adjust"),
        "unplaced": children - placed,
        "allocate_median_s": round(statistics.median(times), 3),
        "allocate_min_s": round(min(times), 3),
        "allocate_peak_mib": round(peak / 2**20, 1),
    }
    # Print the algorithm's figures first, because the reference may run for many minutes.
    print(", ".join(f"{key}: {value}" for key, value in row.items()), flush=True)
    if not reference:
        return row
    try:
        timings, placements = solve_with_matching(problem, result, full_game=False)
    except ImportError:
        row["matching"] = "not installed"
        return row
    row["matching_players_s"] = round(timings["build"], 2)
    row["matching_solver_s"] = round(timings["solve"], 2)
    row["matching_placed"] = sum(1 for school in placements.values() if school)
    row["same_school_as_matching"] = sum(
        1 for c in result.children if placements[c.ref] == c.school
    )
    if full_game:
        timings, _placements = solve_with_matching(problem, result, full_game=True)
        row["matching_game_build_s"] = round(timings["build"], 2)
        row["matching_game_solve_s"] = round(timings["solve"], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--children",
        type=int,
        nargs="+",
        default=[100_000, 20_000],
        help="instance sizes, one run each",
    )
    parser.add_argument("--schools", type=int, default=300)
    parser.add_argument(
        "--homes", type=int, default=3000, help="home zone items (origins)"
    )
    parser.add_argument(
        "--seat-ratio", type=float, default=0.97, help="seats per child"
    )
    parser.add_argument("--radius-km", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument(
        "--reference-max",
        type=int,
        default=20_000,
        help="run the matching solver only on instances up to this many children",
    )
    parser.add_argument(
        "--full-game-max",
        type=int,
        default=20_000,
        help="also time matching's public StudentAllocation game up to this many children",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the matching package"
    )
    args = parser.parse_args()

    print(f"schools: {args.schools}, homes: {args.homes}, radius_km: {args.radius_km}")
    for size in args.children:
        started = time.perf_counter()
        problem = build_problem(
            children=size,
            schools=args.schools,
            homes=args.homes,
            seat_ratio=args.seat_ratio,
            radius_km=args.radius_km,
            seed=args.seed,
        )
        build_seconds = time.perf_counter() - started
        reference = not args.no_reference and size <= args.reference_max
        full_game = reference and size <= args.full_game_max
        print(f"instance of {size} children built in {build_seconds:.2f} s", flush=True)
        row = measure(
            problem, repeats=args.repeats, reference=reference, full_game=full_game
        )
        reference_keys = [key for key in row if key.startswith(("matching", "same_"))]
        if reference_keys:
            print(", ".join(f"{key}: {row[key]}" for key in reference_keys), flush=True)


if __name__ == "__main__":
    main()
