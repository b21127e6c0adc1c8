"""Seeded generation of made-up families: application rows and the government records.

Everything produced here is invented. Names come from Faker ("zh_CN") and from short
lists of common given names, ID numbers are built with correct check characters on
real division codes, and mobiles are random valid mainland numbers. The same seed and
arguments give the same output.

A family belongs to one category, the batch its clean records support:
A owns housing in the county and has its household registration there, B owns
housing in the county's urban area with the registration elsewhere, C is
policy-guaranteed, D has local registration and no housing, E (migrants) has neither
and holds a residence permit. Mismatches are made on the registry side (the records
disagree with the application) and parent mistakes on the application side.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from console.intake.headers import FIELDS
from console.policy import FIXTURES_DIR, load_policies
from console.rules.idnumber import CHECK_CHARACTERS, make_id_number

# Keys of an application row: the platform's submission id, then the form fields.
ROW_FIELDS = ("submission_id", *FIELDS)
CATEGORY_WEIGHTS = {"A": 0.45, "D": 0.30, "B": 0.10, "E": 0.12, "C": 0.03}
PREFERENTIAL_POLICIES = ("高层次人才子女", "其他优抚政策子女")

MISMATCH_KINDS = (
    "name_differs",  # the household register spells the child's name differently
    "household_missing",  # the child has no household record at all
    "property_other_owner",  # the certificate belongs to someone else
    "permit_expired",  # the register shows the permit lapsed; the form shows the card
    "insurance_short",  # fewer social-insurance months than a migrant family needs
)
MISTAKE_WEIGHTS = {
    "id_check_typo": 0.2,
    "missing_mobile": 0.2,
    "duplicate": 0.2,
    "no_consent": 0.15,
    "wrong_school": 0.15,
    "age": 0.1,  # born after the cut-off, or a year too old (primary only)
    "expired_permit": 0.1,  # the card on the form expired before the window closes
}

# Real 6-digit codes of Gansu counties outside Baiyin, for registrations elsewhere.
OUTSIDE_COUNTIES = {
    "620102": "甘肃省兰州市城关区",
    "620103": "甘肃省兰州市七里河区",
    "620104": "甘肃省兰州市西固区",
    "620111": "甘肃省兰州市红古区",
    "620123": "甘肃省兰州市榆中县",
    "620302": "甘肃省金昌市金川区",
    "620502": "甘肃省天水市秦州区",
    "620602": "甘肃省武威市凉州区",
    "620802": "甘肃省平凉市崆峒区",
    "621102": "甘肃省定西市安定区",
    "621121": "甘肃省定西市通渭县",
    "621122": "甘肃省定西市陇西县",
    "622921": "甘肃省临夏回族自治州临夏县",
}
# Invented village names for registered addresses outside the county.
OUTSIDE_VILLAGES = tuple("新民村 红旗村 东关村 杨家庄村 李家湾村 上川村 石岘村".split())

# Common given names of children born around 2012-2020 (not tied to any person).
CHILD_GIVEN_MALE = tuple(
    "子涵 浩宇 梓轩 宇轩 浩然 子墨 俊熙 一诺 子豪 晨阳 博文 思远 奕辰 嘉懿 铭泽 宇航 天佑 睿 轩 航".split()
)
CHILD_GIVEN_FEMALE = tuple(
    "欣怡 梓涵 诗涵 雨桐 子萱 可馨 一诺 语嫣 若汐 佳怡 思琪 梦瑶 雨欣 紫涵 欣妍 安琪 悦 琳 萱 婷".split()
)
# Given names for minority families whose names carry a middle dot (father's name last).
DOTTED_GIVEN_MALE = tuple("艾力 买买提 阿不都 吐尔逊 艾山 努尔 热合曼 伊力".split())
DOTTED_GIVEN_FEMALE = tuple("古丽 阿依古丽 热依拉 帕提曼 迪丽娜 米娜 努尔古丽".split())
TIBETAN_GIVEN = ("才让", "卓玛", "扎西", "拉毛", "多杰", "央金", "尼玛", "措吉")
# Characters swapped into a child's name for the name_differs mismatch.
HOMOPHONE_SWAPS = {
    "涵": "寒",
    "宇": "雨",
    "轩": "萱",
    "怡": "宜",
    "博": "波",
    "文": "雯",
}

PERMIT_AUTHORITIES = {
    "620402": "白银市公安局白银分局",
    "620403": "白银市公安局平川分局",
    "620421": "靖远县公安局",
    "620422": "会宁县公安局",
    "620423": "景泰县公安局",
}
# Name of the real-estate register on a certificate: 白银区 is registered by the city.
CERTIFICATE_REGISTERS = {"620402": "白银市", "620403": "白银市平川区"}


@dataclass(frozen=True)
class SchoolRef:
    """A school from fixtures/schools.csv."""

    code: str
    county_code: str
    name: str
    stage: str
    street_code: str
    feeder_primaries: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZoneRef:
    """A zone item from fixtures/zones.csv: a community, compound or village."""

    county_code: str
    street_code: str
    name: str
    kind: str
    urban: bool
    school_code: str


@dataclass(frozen=True)
class Geography:
    """Division names, schools and zone items the families are placed in."""

    division_names: dict[str, str]
    schools: tuple[SchoolRef, ...]
    zones: tuple[ZoneRef, ...]

    @classmethod
    def load(cls, fixtures: Path = FIXTURES_DIR) -> Geography:
        """Read divisions.csv, schools.csv and zones.csv from a fixtures folder."""
        names = {
            row["code"]: row["name"] for row in _csv_rows(fixtures / "divisions.csv")
        }
        schools = tuple(
            SchoolRef(
                code=row["code"],
                county_code=row["county_code"],
                name=row["name"],
                stage=row["stage"],
                street_code=row["street_code"],
                feeder_primaries=tuple(row["feeder_primaries"].split()),
            )
            for row in _csv_rows(fixtures / "schools.csv")
        )
        zones = tuple(
            ZoneRef(
                county_code=row["county_code"],
                street_code=row["street_code"],
                name=row["name"],
                kind=row["kind"],
                urban=row["urban"] == "1",
                school_code=row["school"],
            )
            for row in _csv_rows(fixtures / "zones.csv")
        )
        return cls(division_names=names, schools=schools, zones=zones)


def write_registry(simulation: Simulation, path: Path) -> None:
    """Write the registry JSON that `python -m simulator serve --registry` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(simulation.registry(), ensure_ascii=False, separators=(",", ":"))
    path.write_text(text, encoding="utf-8")


def write_rows_csv(simulation: Simulation, path: Path) -> None:
    """Write the application rows as UTF-8 CSV with the canonical English headers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
        writer.writeheader()
        writer.writerows(simulation.rows)


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        yield from csv.DictReader(lines)


@dataclass
class Person:
    name: str
    id_number: str
    gender: str  # 男 or 女
    birth_date: date
    ethnicity: str
    mobile: str = ""


@dataclass
class SimulatedChild:
    """Ground truth about one child, for checking the outcome of a rehearsal."""

    student_id_number: str
    student_name: str
    category: str  # A-E: the batch the clean records support
    base_category: str  # for C, the housing and registration situation underneath
    zone_school_code: str  # the zone school of the address that counts for the batch
    submission_ids: list[str] = field(default_factory=list)
    mismatch: str | None = None
    mistakes: list[str] = field(default_factory=list)
    sibling_id_numbers: list[str] = field(default_factory=list)
    property_outside: bool = False  # owns housing, but outside the county


@dataclass
class Simulation:
    """Generated applications (the platform feed) and the matching government registry."""

    seed: int
    county_code: str
    year: int
    stage: str
    as_of: date  # request day the services use to decide permit validity
    family_count: int
    feed: list[dict[str, str]]
    household: dict[str, dict[str, Any]]
    permit: dict[str, dict[str, Any]]
    real_estate: dict[str, list[dict[str, Any]]]
    insurance: dict[str, dict[str, Any]]
    children: list[SimulatedChild]

    @property
    def rows(self) -> list[dict[str, str]]:
        """Application rows in submission order: the canonical keys and submission_id."""
        return [dict(item) for item in self.feed]

    def registry(self) -> dict[str, Any]:
        """Return the JSON-ready registry that the loopback services read."""
        return {
            "seed": self.seed,
            "county": self.county_code,
            "year": self.year,
            "stage": self.stage,
            "as_of": self.as_of.isoformat(),
            "household": self.household,
            "permit": self.permit,
            "real_estate": self.real_estate,
            "insurance": self.insurance,
            "feed": self.feed,
            "children": [vars(child) for child in self.children],
        }


@dataclass
class _Family:
    category: str
    base: str
    zone: ZoneRef  # where the family lives now
    counted_zone: ZoneRef  # the zone of the address that counts for the batch
    address: str
    counted_address: str
    home_code: str  # county code of the household registration
    ethnicity: str
    guardian: Person
    other_parent: Person
    emergency: Person
    emergency_relation: str
    children: list[Person]
    policy: str = "无"
    certificate_no: str = ""
    permit_expires_on: date | None = None
    permit_issued_on: date | None = None
    property_outside: bool = False


def generate_families(
    *,
    county_code: str,
    count: int,
    seed: int,
    year: int,
    stage: str = "primary",
    mismatch_rate: float = 0.05,
    mistake_rate: float = 0.03,
    zones: Sequence[ZoneRef] | None = None,
    schools: Sequence[SchoolRef] | None = None,
    geography: Geography | None = None,
) -> Simulation:
    """Generate `count` children in families of one county, with their registry records.

    `count` is the number of children (twins are two children of one family).
    Mismatches are drawn per family and parent mistakes per child, each exactly
    round(rate * number) of them. Zones and schools default to the fixtures.
    """
    if stage not in ("primary", "junior"):
        raise ValueError(f"stage must be primary or junior, got {stage!r}")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    for name, rate in (
        ("mismatch_rate", mismatch_rate),
        ("mistake_rate", mistake_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {rate}")
    geography = geography or Geography.load()
    if zones is not None or schools is not None:
        geography = Geography(
            division_names=geography.division_names,
            schools=tuple(schools if schools is not None else geography.schools),
            zones=tuple(zones if zones is not None else geography.zones),
        )
    generator = _Generator(
        geography=geography, county_code=county_code, seed=seed, year=year, stage=stage
    )
    return generator.run(
        count=count, mismatch_rate=mismatch_rate, mistake_rate=mistake_rate
    )


class _Generator:
    def __init__(
        self,
        *,
        geography: Geography,
        county_code: str,
        seed: int,
        year: int,
        stage: str,
    ) -> None:
        policy = load_policies().get(county_code)
        if county_code not in geography.division_names or policy is None:
            raise ValueError(f"unknown county code {county_code!r}")
        self.geo = geography
        self.county_code = county_code
        self.county_name = geography.division_names[county_code]
        self.year = year
        self.stage = stage
        self.seed = seed
        self.cutoff = policy.cutoff_date(year)
        self.opens_on, self.closes_on = policy.window_dates(year, stage)
        self.as_of = self.closes_on
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.used_ids: set[str] = set()
        self.used_mobiles: set[str] = set()
        self.certificate_serial = 1000

        self.zones = [z for z in geography.zones if z.county_code == county_code]
        self.urban_zones = [z for z in self.zones if z.urban]
        if not self.zones or not self.urban_zones:
            raise ValueError(f"county {county_code} has no zone items (urban ones too)")
        self.schools = {s.code: s for s in geography.schools}
        self.stage_schools = [
            s
            for s in geography.schools
            if s.county_code == county_code and s.stage == stage
        ]
        self.other_primaries = [
            s
            for s in geography.schools
            if s.county_code != county_code and s.stage == "primary"
        ]
        if not self.stage_schools:
            raise ValueError(f"county {county_code} has no {stage} schools")
        self.baiyin_counties = [c for c in PERMIT_AUTHORITIES if c != county_code]

        self.household: dict[str, dict[str, Any]] = {}
        self.permit: dict[str, dict[str, Any]] = {}
        self.real_estate: dict[str, list[dict[str, Any]]] = {}
        self.insurance: dict[str, dict[str, Any]] = {}

    # -- the whole run -------------------------------------------------------------

    def run(
        self, *, count: int, mismatch_rate: float, mistake_rate: float
    ) -> Simulation:
        families: list[_Family] = []
        children: list[SimulatedChild] = []
        rows: list[dict[str, str]] = []
        while len(children) < count:
            twins = count - len(children) >= 2 and self.rng.random() < 0.02
            family = self._make_family(twins=twins)
            families.append(family)
            self._register(family)
            for child in family.children:
                children.append(self._child_truth(family, child))
                rows.append(self._application_row(family, child))

        family_of = [f for f in families for _ in f.children]
        mismatched = self.rng.sample(
            range(len(families)), round(mismatch_rate * len(families))
        )
        for index in sorted(mismatched):
            self._apply_mismatch(families[index], children, family_of)

        extra_rows: list[tuple[int, dict[str, str]]] = []
        mistaken = self.rng.sample(range(len(rows)), round(mistake_rate * len(rows)))
        for index in sorted(mistaken):
            kind = self._pick_mistake(rows[index])
            duplicate = self._apply_mistake(kind, rows[index], children[index])
            children[index].mistakes.append(kind)
            if duplicate is not None:
                extra_rows.append((index, duplicate))

        # Link siblings by their final numbers: an age mistake gives a child a new one.
        by_family: dict[int, list[SimulatedChild]] = {}
        for truth, family in zip(children, family_of, strict=True):
            by_family.setdefault(id(family), []).append(truth)
        for truth, family in zip(children, family_of, strict=True):
            truth.sibling_id_numbers = [
                other.student_id_number
                for other in by_family[id(family)]
                if other is not truth
            ]
        feed = self._order_feed(rows, extra_rows, children)
        return Simulation(
            seed=self.seed,
            county_code=self.county_code,
            year=self.year,
            stage=self.stage,
            as_of=self.as_of,
            family_count=len(families),
            feed=feed,
            household=self.household,
            permit=self.permit,
            real_estate=self.real_estate,
            insurance=self.insurance,
            children=children,
        )

    # -- people ----------------------------------------------------------------------

    def _id_number(self, division: str, birth: date, gender: str) -> str:
        while True:
            sequence = self.rng.randrange(0, 1000)
            if (sequence % 2 == 1) != (gender == "男"):
                sequence = (sequence + 1) % 1000
            number = make_id_number(division, birth, sequence)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _mobile(self) -> str:
        while True:
            number = self.fake.phone_number()
            if len(number) == 11 and number[0] == "1" and number[1] in "3456789":
                if number not in self.used_mobiles:
                    self.used_mobiles.add(number)
                    return number

    def _birth_between(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randrange((last - first).days + 1))

    def _adult(
        self,
        *,
        surname: str,
        gender: str,
        division: str,
        born: tuple[int, int],
        ethnicity: str,
        dotted_last: str = "",
    ) -> Person:
        birth = self._birth_between(date(born[0], 1, 1), date(born[1], 12, 31))
        if ethnicity == "维吾尔族":
            pool: tuple[str, ...] = (
                DOTTED_GIVEN_MALE if gender == "男" else DOTTED_GIVEN_FEMALE
            )
            name = f"{self.rng.choice(pool)}·{dotted_last or self.rng.choice(DOTTED_GIVEN_MALE)}"
        elif ethnicity == "藏族":
            name = self.rng.choice(TIBETAN_GIVEN)
        else:
            given = (
                self.fake.first_name_male()
                if gender == "男"
                else self.fake.first_name_female()
            )
            name = surname + given
        return Person(
            name=name,
            id_number=self._id_number(division, birth, gender),
            gender=gender,
            birth_date=birth,
            ethnicity=ethnicity,
            mobile=self._mobile(),
        )

    def _child_birth(self) -> date:
        age = 6 if self.stage == "primary" else 12
        last = self.cutoff.replace(year=self.cutoff.year - age)
        first = last.replace(year=last.year - 1) + timedelta(days=1)
        return self._birth_between(first, last)

    # -- families --------------------------------------------------------------------

    def _make_family(self, *, twins: bool) -> _Family:
        category = self._weighted(CATEGORY_WEIGHTS)
        base = category
        policy = "无"
        if category == "C":
            base = self._weighted({"A": 0.5, "D": 0.25, "E": 0.25})
            policy = self.rng.choice(PREFERENTIAL_POLICIES)
        local = base in ("A", "D")
        if local:
            home_code = self.county_code
        elif self.rng.random() < 0.3:
            home_code = self.rng.choice(self.baiyin_counties)
        else:
            home_code = self.rng.choice(list(OUTSIDE_COUNTIES))

        roll = self.rng.random()
        ethnicity = (
            "维吾尔族"
            if roll < 0.015
            else "藏族"
            if roll < 0.025
            else "回族"
            if roll < 0.07
            else "汉族"
        )
        father_surname = self.fake.last_name()
        mother_surname = self.fake.last_name()
        child_birth = self._child_birth()
        born = (max(1975, child_birth.year - 42), min(1995, child_birth.year - 21))
        parent_division = home_code
        if local and self.rng.random() < 0.15:
            parent_division = self.rng.choice(
                self.baiyin_counties + list(OUTSIDE_COUNTIES)
            )
        grandfather = self.rng.choice(DOTTED_GIVEN_MALE)
        father = self._adult(
            surname=father_surname,
            gender="男",
            division=parent_division,
            born=born,
            ethnicity=ethnicity,
            dotted_last=grandfather,
        )
        mother = self._adult(
            surname=mother_surname,
            gender="女",
            division=parent_division,
            born=born,
            ethnicity=ethnicity,
        )
        guardian, other = (
            (father, mother) if self.rng.random() < 0.6 else (mother, father)
        )

        child_surname = father_surname if self.rng.random() < 0.9 else mother_surname
        child_division = home_code
        children: list[Person] = []
        genders = [self.rng.choice("男女") for _ in range(2 if twins else 1)]
        for gender in genders:
            children.append(
                self._child(
                    surname=child_surname,
                    gender=gender,
                    birth=child_birth,
                    division=child_division,
                    ethnicity=ethnicity,
                    father=father,
                    taken=[c.name for c in children],
                )
            )

        emergency, emergency_relation = self._emergency(
            father, mother, guardian, other, home_code, ethnicity
        )
        zone = self._pick_zone(urban_only=base == "B")
        address = self._address(zone)
        counted_zone, counted_address = zone, address
        if base == "D" and self.rng.random() < 0.3:
            # Renting elsewhere in the county: the registered household address counts.
            counted_zone = self._pick_zone(urban_only=False)
            counted_address = self._address(counted_zone)
        family = _Family(
            category=category,
            base=base,
            zone=zone,
            counted_zone=counted_zone,
            address=address,
            counted_address=counted_address,
            home_code=home_code,
            ethnicity=ethnicity,
            guardian=guardian,
            other_parent=other,
            emergency=emergency,
            emergency_relation=emergency_relation,
            children=children,
            policy=policy,
        )
        if base in ("A", "B"):
            family.certificate_no = self._certificate_no(self.county_code)
        elif self.rng.random() < 0.1:
            family.property_outside = True
        if base == "E" or (base == "B" and self.rng.random() < 0.5):
            family.permit_issued_on = self._birth_between(
                date(self.year - 4, 1, 1), date(self.year - 1, 6, 30)
            )
            family.permit_expires_on = date(
                self.year + 1,
                family.permit_issued_on.month,
                min(family.permit_issued_on.day, 28),
            )
        return family

    def _child(
        self,
        *,
        surname: str,
        gender: str,
        birth: date,
        division: str,
        ethnicity: str,
        father: Person,
        taken: list[str],
    ) -> Person:
        pool: tuple[str, ...]
        while True:
            if ethnicity == "维吾尔族":
                pool = DOTTED_GIVEN_MALE if gender == "男" else DOTTED_GIVEN_FEMALE
                name = f"{self.rng.choice(pool)}·{father.name.split('·')[0]}"
            elif ethnicity == "藏族":
                name = self.rng.choice(TIBETAN_GIVEN)
            else:
                pool = CHILD_GIVEN_MALE if gender == "男" else CHILD_GIVEN_FEMALE
                name = surname + self.rng.choice(pool)
            if name not in taken:
                break
        return Person(
            name=name,
            id_number=self._id_number(division, birth, gender),
            gender=gender,
            birth_date=birth,
            ethnicity=ethnicity,
        )

    def _emergency(
        self,
        father: Person,
        mother: Person,
        guardian: Person,
        other: Person,
        home_code: str,
        ethnicity: str,
    ) -> tuple[Person, str]:
        roll = self.rng.random()
        if roll < 0.2:
            return other, "母亲" if other.gender == "女" else "父亲"
        if roll < 0.9:
            relation = self.rng.choice(("祖父", "祖母", "外祖父", "外祖母"))
            gender = "男" if relation.endswith("父") else "女"
            paternal = relation.startswith("祖")
            surname = (father if paternal else mother).name[0]
            if gender == "女":
                surname = self.fake.last_name()
            person = self._adult(
                surname=surname,
                gender=gender,
                division=home_code,
                born=(1945, 1968),
                ethnicity=ethnicity,
            )
            return person, relation
        relation = self.rng.choice(("叔叔", "姑姑", "舅舅", "姨妈"))
        gender = "男" if relation in ("叔叔", "舅舅") else "女"
        surname = (father if relation in ("叔叔", "姑姑") else mother).name[0]
        person = self._adult(
            surname=surname,
            gender=gender,
            division=home_code,
            born=(1972, 1995),
            ethnicity=ethnicity,
        )
        return person, relation

    def _pick_zone(self, *, urban_only: bool) -> ZoneRef:
        if urban_only:
            return self.rng.choice(self.urban_zones)
        # Urban communities are home to more families than villages.
        weights = [3.0 if z.urban else 1.0 for z in self.zones]
        return self.rng.choices(self.zones, weights=weights)[0]

    def _address(self, zone: ZoneRef) -> str:
        street = self.geo.division_names.get(zone.street_code, "")
        if zone.kind == "village":
            suffix = f"{self.rng.randint(1, 9)}社{self.rng.randint(1, 80)}号"
        else:
            floor = self.rng.randint(1, 18)
            suffix = (
                f"{self.rng.randint(1, 40)}号楼{self.rng.randint(1, 4)}单元"
                f"{floor}{self.rng.randint(1, 4):02d}"
            )
        return f"{self.county_name}{street}{zone.name}{suffix}"

    def _certificate_no(self, county_code: str) -> str:
        self.certificate_serial += self.rng.randint(1, 40)
        register = CERTIFICATE_REGISTERS.get(county_code)
        if register is None:
            register = (
                self.geo.division_names.get(county_code)
                or OUTSIDE_COUNTIES.get(county_code, "")[3:]
            )
        issued = self.rng.randint(2008, self.year - 1)
        return f"甘({issued}){register}不动产权第{self.certificate_serial:07d}号"

    # -- registry records --------------------------------------------------------------

    def _register(self, family: _Family) -> None:
        local = family.base in ("A", "D")
        head = (
            family.guardian if family.guardian.gender == "男" else family.other_parent
        )
        if local:
            division = family.counted_zone.street_code
            registered_address = f"甘肃省白银市{family.counted_address}"
        else:
            division = family.home_code
            registered_address = self._outside_address(family.home_code)
        child_registered_on = family.children[0].birth_date + timedelta(
            days=self.rng.randint(15, 120)
        )
        if local and family.guardian.id_number[:6] != self.county_code:
            # The family moved its registration into the county after the birth.
            child_registered_on = self._birth_between(
                child_registered_on, date(self.year - 1, 12, 31)
            )
        for child in family.children:
            self.household[child.id_number] = self._household_record(
                child,
                head=head,
                relation="子" if child.gender == "男" else "女",
                address=registered_address,
                division=division,
                registered_on=child_registered_on,
            )
        for adult in (family.guardian, family.other_parent):
            relation = "户主" if adult is head else "配偶"
            registered_on = self._birth_between(date(2005, 1, 1), child_registered_on)
            self.household[adult.id_number] = self._household_record(
                adult,
                head=head,
                relation=relation,
                address=registered_address,
                division=division,
                registered_on=registered_on,
            )

        if family.certificate_no:
            self._register_property(
                family,
                family.certificate_no,
                self.county_code,
                f"甘肃省白银市{family.counted_address}",
                family.counted_zone.street_code,
            )
        elif family.property_outside:
            code = (
                family.home_code if family.home_code in OUTSIDE_COUNTIES else "620102"
            )
            self._register_property(
                family,
                self._certificate_no(code),
                code,
                self._outside_address(code),
                code,
            )

        if family.permit_issued_on and family.permit_expires_on:
            self.permit[family.guardian.id_number] = {
                "name": family.guardian.name,
                "id_number": family.guardian.id_number,
                "valid": True,
                "issued_on": family.permit_issued_on.isoformat(),
                "expires_on": family.permit_expires_on.isoformat(),
                "address": f"甘肃省白银市{family.counted_address}",
                "authority": PERMIT_AUTHORITIES[self.county_code],
                "division_code": family.counted_zone.street_code,
            }

        if family.base == "E" or self.rng.random() < 0.7:
            months = (
                self.rng.randint(12, 24)
                if family.base == "E"
                else self.rng.randint(0, 24)
            )
            start = self._birth_between(date(2008, 1, 1), date(self.year - 2, 6, 30))
            self.insurance[family.guardian.id_number] = {
                "name": family.guardian.name,
                "id_number": family.guardian.id_number,
                "start": start.isoformat(),
                "end": self.as_of.replace(day=1).isoformat(),
                "months_last_24": months,
                "as_of": self.as_of.isoformat(),
            }

    def _household_record(
        self,
        person: Person,
        *,
        head: Person,
        relation: str,
        address: str,
        division: str,
        registered_on: date,
    ) -> dict[str, Any]:
        birthplace_code = person.id_number[:6]
        birthplace = OUTSIDE_COUNTIES.get(birthplace_code) or (
            "甘肃省白银市" + self.geo.division_names.get(birthplace_code, "")
        )
        digest = hashlib.sha256(person.id_number.encode()).hexdigest()[:16]
        return {
            "name": person.name,
            "id_number": person.id_number,
            "gender": person.gender,
            "birth_date": person.birth_date.isoformat(),
            "ethnicity": person.ethnicity,
            "birthplace": birthplace,
            "photo": f"sim-photo:{digest}",
            "head_of_household": head.name,
            "relation_to_head": relation,
            "registered_address": address,
            "registered_division_code": division,
            "registered_on": registered_on.isoformat(),
        }

    def _register_property(
        self,
        family: _Family,
        certificate_no: str,
        county_code: str,
        address: str,
        division: str,
    ) -> None:
        mode = self._weighted({"单独所有": 0.4, "共同共有": 0.5, "按份共有": 0.1})
        # The certificate is issued in the year of registration: 甘(YYYY)...
        issued_year = int(certificate_no[2:6])
        registered_on = self._birth_between(
            date(issued_year, 1, 1), date(issued_year, 12, 31)
        )
        owners = [(family.guardian, 1.0)]
        if mode == "共同共有":
            owners.append((family.other_parent, 1.0))
        elif mode == "按份共有":
            share = self.rng.choice((0.6, 0.7, 0.8))
            owners = [
                (family.guardian, share),
                (family.other_parent, round(1 - share, 2)),
            ]
        for owner, share in owners:
            self.real_estate.setdefault(owner.id_number, []).append(
                {
                    "certificate_no": certificate_no,
                    "owner_name": owner.name,
                    "owner_id_number": owner.id_number,
                    "registered_on": registered_on.isoformat(),
                    "ownership_mode": mode,
                    "share": share,
                    "address": address,
                    "division_code": division,
                }
            )

    def _outside_address(self, code: str) -> str:
        prefix = OUTSIDE_COUNTIES.get(
            code
        ) or "甘肃省白银市" + self.geo.division_names.get(code, "")
        return (
            f"{prefix}{self.rng.choice(OUTSIDE_VILLAGES)}{self.rng.randint(1, 120)}号"
        )

    # -- application rows ------------------------------------------------------------

    def _child_truth(self, family: _Family, child: Person) -> SimulatedChild:
        return SimulatedChild(
            student_id_number=child.id_number,
            student_name=child.name,
            category=family.category,
            base_category=family.base,
            zone_school_code=self._zone_school(family.counted_zone).code,
            property_outside=family.property_outside,
        )

    def _zone_school(self, zone: ZoneRef) -> SchoolRef:
        primary = self.schools[zone.school_code]
        if self.stage == "primary":
            return primary
        for school in self.stage_schools:
            if primary.code in school.feeder_primaries:
                return school
        return self.stage_schools[0]

    def _application_row(self, family: _Family, child: Person) -> dict[str, str]:
        zone_school = self._zone_school(family.counted_zone)
        preferred = zone_school
        if len(self.stage_schools) > 1 and self.rng.random() < 0.15:
            preferred = self.rng.choice(
                [s for s in self.stage_schools if s is not zone_school]
            )
        primary_school = ""
        if self.stage == "junior":
            primary_school = family.counted_zone.school_code
            if family.base == "E" and self.other_primaries and self.rng.random() < 0.3:
                primary_school = self.rng.choice(self.other_primaries).code
        issued, expires = family.permit_issued_on, family.permit_expires_on
        permit = issued is not None and expires is not None
        return {
            "student_name": child.name,
            "student_id_number": child.id_number,
            "address": family.address,
            "preferential_policy": family.policy,
            "county": self.county_name,
            "preferred_school": preferred.name,
            "primary_school": primary_school,
            "guardian_name": family.guardian.name,
            "guardian_id_number": family.guardian.id_number,
            "guardian_relation": "父亲" if family.guardian.gender == "男" else "母亲",
            "guardian_mobile": family.guardian.mobile,
            "property_certificate_no": family.certificate_no,
            "permit_issued_on": issued.isoformat() if issued else "",
            "permit_expires_on": expires.isoformat() if expires else "",
            "permit_authority": PERMIT_AUTHORITIES[self.county_code] if permit else "",
            "permit_address": f"甘肃省白银市{family.counted_address}" if permit else "",
            "emergency_name": family.emergency.name,
            "emergency_id_number": family.emergency.id_number,
            "emergency_relation": family.emergency_relation,
            "emergency_mobile": family.emergency.mobile,
            "consent": "是",
            "submitted_at": "",
        }

    # -- mismatches and mistakes -------------------------------------------------------

    def _apply_mismatch(
        self, family: _Family, children: list[SimulatedChild], family_of: list[_Family]
    ) -> None:
        kinds = ["name_differs", "household_missing"]
        if family.certificate_no:
            kinds.append("property_other_owner")
        if family.guardian.id_number in self.permit:
            kinds.append("permit_expired")
        if family.base == "E" and family.guardian.id_number in self.insurance:
            kinds.append("insurance_short")
        kind = self.rng.choice(kinds)
        if kind == "name_differs":
            for child in family.children:
                record = self.household[child.id_number]
                record["name"] = self._misspell(child.name)
        elif kind == "household_missing":
            for child in family.children:
                del self.household[child.id_number]
        elif kind == "property_other_owner":
            records = []
            for parent in (family.guardian, family.other_parent):
                records.extend(self.real_estate.pop(parent.id_number, []))
            owner = self._adult(
                surname=self.fake.last_name(),
                gender=self.rng.choice("男女"),
                division=self.county_code,
                born=(1950, 1990),
                ethnicity="汉族",
            )
            record = dict(records[0])
            record.update(
                owner_name=owner.name,
                owner_id_number=owner.id_number,
                ownership_mode="单独所有",
                share=1.0,
            )
            self.real_estate[owner.id_number] = [record]
        elif kind == "permit_expired":
            # The annual renewal lapsed: the card on the form still shows the old date.
            expired = self.as_of - timedelta(days=self.rng.randint(10, 300))
            self.permit[family.guardian.id_number]["expires_on"] = expired.isoformat()
        elif kind == "insurance_short":
            self.insurance[family.guardian.id_number]["months_last_24"] = (
                self.rng.randint(0, 5)
            )
        for truth, family_of_child in zip(children, family_of, strict=True):
            if family_of_child is family:
                truth.mismatch = kind

    def _misspell(self, name: str) -> str:
        for index in range(len(name) - 1, 0, -1):
            swap = HOMOPHONE_SWAPS.get(name[index])
            if swap:
                return name[:index] + swap + name[index + 1 :]
        return name[:-1] + ("明" if name[-1] != "明" else "铭")

    def _pick_mistake(self, row: dict[str, str]) -> str:
        weights = dict(MISTAKE_WEIGHTS)
        if self.stage != "primary":
            weights["wrong_school"] += weights.pop("age")
        if not row["permit_expires_on"]:
            weights["no_consent"] += weights.pop("expired_permit")
        return self._weighted(weights)

    def _apply_mistake(
        self, kind: str, row: dict[str, str], truth: SimulatedChild
    ) -> dict[str, str] | None:
        if kind == "id_check_typo":
            number = row["student_id_number"]
            wrong = [c for c in CHECK_CHARACTERS if c != number[-1]]
            row["student_id_number"] = number[:-1] + self.rng.choice(wrong)
        elif kind == "missing_mobile":
            row["guardian_mobile"] = ""
        elif kind == "no_consent":
            row["consent"] = "否"
        elif kind == "wrong_school":
            row["preferred_school"] = (
                row["preferred_school"]
                .replace("小学", "学校")
                .replace("初级中学", "中学校")
            )
        elif kind == "expired_permit":
            expired = self.opens_on - timedelta(days=self.rng.randint(10, 300))
            row["permit_expires_on"] = expired.isoformat()
        elif kind == "age":
            self._shift_age(row)
            truth.student_id_number = row["student_id_number"]
        elif kind == "duplicate":
            duplicate = dict(row)
            if len(self.stage_schools) > 1 and self.rng.random() < 0.5:
                others = [
                    s for s in self.stage_schools if s.name != row["preferred_school"]
                ]
                duplicate["preferred_school"] = self.rng.choice(others).name
            return duplicate
        return None

    def _shift_age(self, row: dict[str, str]) -> None:
        # A new number with a birth date after the cut-off (under age) or a year earlier.
        old = row["student_id_number"]
        birth = date(int(old[6:10]), int(old[10:12]), int(old[12:14]))
        if self.rng.random() < 0.6:
            birth = self.cutoff.replace(year=self.cutoff.year - 6) + timedelta(
                days=self.rng.randint(1, 120)
            )
        else:
            birth = birth - timedelta(days=365)
        gender = "男" if int(old[16]) % 2 == 1 else "女"
        new = self._id_number(old[:6], birth, gender)
        record = self.household.pop(old, None)
        if record is not None:
            record.update(id_number=new, birth_date=birth.isoformat())
            self.household[new] = record
        row["student_id_number"] = new

    # -- submission order ------------------------------------------------------------

    def _order_feed(
        self,
        rows: list[dict[str, str]],
        extra: list[tuple[int, dict[str, str]]],
        children: list[SimulatedChild],
    ) -> list[dict[str, str]]:
        stamped: list[tuple[datetime, int, dict[str, str]]] = []
        for index, row in enumerate(rows):
            stamped.append((self._submission_time(), index, row))
        submitted = {index: at for at, index, _ in stamped}
        for index, row in extra:
            later = submitted[index] + timedelta(
                minutes=self.rng.randint(30, 60 * 24 * 5)
            )
            stamped.append((min(later, self._last_moment()), index, row))
        stamped.sort(key=lambda item: (item[0], item[1]))

        feed = []
        for serial, (at, index, row) in enumerate(stamped, start=1):
            # The seed is part of the id: simulations with other seeds are other
            # families, and their submissions must not look like these.
            submission_id = f"SIM{self.year}{self.county_code}S{self.seed}N{serial:06d}"
            row = dict(row, submitted_at=at.strftime("%Y-%m-%d %H:%M:%S"))
            feed.append({"submission_id": submission_id, **row})
            children[index].submission_ids.append(submission_id)
        return feed

    def _submission_time(self) -> datetime:
        # Opening-day burst: half in the first four hours, a fifth later that day,
        # the rest spread over the window in daytime hours.
        opening = datetime.combine(self.opens_on, time(8, 0))
        roll = self.rng.random()
        if roll < 0.5:
            offset = min(self.rng.expovariate(1 / 3600), 4 * 3600 - 1)
        elif roll < 0.7:
            offset = self.rng.uniform(4 * 3600, 14 * 3600)
        else:
            days = max((self.closes_on - self.opens_on).days, 1)
            offset = self.rng.randint(1, days) * 86400 + self.rng.uniform(0, 14 * 3600)
        return (opening + timedelta(seconds=offset)).replace(microsecond=0)

    def _last_moment(self) -> datetime:
        return datetime.combine(self.closes_on, time(22, 0))

    def _weighted(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]
