"""Reference data: divisions, schools and zone items, loaded from fixtures."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from sqlmodel import Session, select

from console.models import Division, School, ZoneItem
from console.policy import FIXTURES_DIR


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        yield from csv.DictReader(lines)


def load_reference(session: Session, fixtures: Path = FIXTURES_DIR) -> dict[str, int]:
    """Insert or update divisions, schools and zone items; return counts per table."""
    divisions = 0
    for row in _rows(fixtures / "divisions.csv"):
        session.merge(
            Division(
                code=row["code"],
                name=row["name"],
                level=row["level"],
                parent_code=row["parent_code"] or None,
            )
        )
        divisions += 1
    session.flush()
    schools = 0
    for row in _rows(fixtures / "schools.csv"):
        session.merge(
            School(
                code=row["code"],
                county_code=row["county_code"],
                name=row["name"],
                stage=row["stage"],
                seats=int(row["seats"]),
                street_code=row["street_code"],
                lat=float(row["lat"]),
                lon=float(row["lon"]),
                feeder_primaries=row["feeder_primaries"],
                invented=True,
            )
        )
        schools += 1
    session.flush()
    existing = {(z.street_code, z.name): z for z in session.exec(select(ZoneItem))}
    zones = 0
    for row in _rows(fixtures / "zones.csv"):
        zone = existing.get((row["street_code"], row["name"])) or ZoneItem(
            county_code=row["county_code"],
            street_code=row["street_code"],
            name=row["name"],
            kind=row["kind"],
            urban=row["urban"] == "1",
            school_code=row["school"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            invented=row["invented"] == "1",
        )
        zone.school_code = row["school"]
        zone.urban = row["urban"] == "1"
        zone.lat, zone.lon = float(row["lat"]), float(row["lon"])
        session.add(zone)
        zones += 1
    session.flush()
    return {"divisions": divisions, "schools": schools, "zones": zones}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = (
        math.sin(dphi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(a))


class ZoneIndex:
    """Finds the zone item of an address by the longest zone name it contains."""

    def __init__(self, zones: list[ZoneItem], street_names: dict[str, str]) -> None:
        self._zones = sorted(zones, key=lambda z: -len(z.name))
        self._street_names = street_names

    @classmethod
    def load(cls, session: Session, county_code: str | None = None) -> ZoneIndex:
        query = select(ZoneItem)
        if county_code:
            query = query.where(ZoneItem.county_code == county_code)
        zones = list(session.exec(query))
        names = {d.code: d.name for d in session.exec(select(Division))}
        return cls(zones, names)

    def find(
        self, address: str | None, county_code: str | None = None
    ) -> ZoneItem | None:
        """Return the zone item whose name and street both appear, else the best name-only match."""
        if not address:
            return None
        name_only = None
        for zone in self._zones:
            if county_code and zone.county_code != county_code:
                continue
            if zone.name in address:
                street = self._street_names.get(zone.street_code, "")
                if street and street in address:
                    return zone
                if name_only is None:
                    name_only = zone
        return name_only

    def zones_of(self, county_code: str) -> list[ZoneItem]:
        return [z for z in self._zones if z.county_code == county_code]
