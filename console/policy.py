"""County policy settings, read from a TOML file (fixtures/policy.toml by default)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from console.errors import AdmissionsError

FIXTURES_DIR = Path(
    os.environ.get(
        "ADMISSIONS_FIXTURES", Path(__file__).resolve().parents[1] / "fixtures"
    )
)
TIEBREAK_KEYS = frozenset(
    {"household_date", "property_date", "insurance_months", "submitted_at", "lottery"}
)


@dataclass(frozen=True)
class CountyPolicy:
    county_code: str
    name: str
    consultation_phones: tuple[str, ...]
    supervision_phones: tuple[str, ...]
    age_cutoff: str = "08-31"
    primary_entry_age: int = 6
    window_opens: str = "07-01"
    window_closes: str = "07-31"
    junior_window_opens: str = "07-10"
    junior_window_closes: str = "07-31"
    tiebreak: dict[str, tuple[str, ...]] = field(default_factory=dict)
    batch_e_min_insurance_months: int = 0
    batch_e_min_permit_months: int = 0
    min_property_share: float = 0.0
    place_lock_years: int = 0
    place_lock_sibling_exempt: bool = True
    sibling_priority: bool = True
    adjust_radius_km: float = 15.0

    def cutoff_date(self, year: int) -> date:
        month, day = (int(part) for part in self.age_cutoff.split("-"))
        return date(year, month, day)

    def window_dates(self, year: int, stage: str) -> tuple[date, date]:
        opens, closes = (
            (self.junior_window_opens, self.junior_window_closes)
            if stage == "junior"
            else (self.window_opens, self.window_closes)
        )
        return _month_day(year, opens), _month_day(year, closes)

    @property
    def consultation_phone(self) -> str:
        return "、".join(self.consultation_phones)


def _month_day(year: int, text: str) -> date:
    month, day = (int(part) for part in text.split("-"))
    return date(year, month, day)


def load_policies(path: Path | None = None) -> dict[str, CountyPolicy]:
    """Read every county section, each merged over [defaults]; raise AdmissionsError on a bad value."""
    source = path or Path(
        os.environ.get("ADMISSIONS_POLICY", FIXTURES_DIR / "policy.toml")
    )
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AdmissionsError(
            f"无法读取政策配置文件 {source}：{exc}。请检查文件路径和 TOML 格式。"
        ) from exc
    defaults = data.get("defaults", {})
    policies = {}
    for code, section in data.get("county", {}).items():
        merged = {**defaults, **section}
        tiebreak = {
            batch: tuple(keys) for batch, keys in merged.pop("tiebreak", {}).items()
        }
        for batch, keys in tiebreak.items():
            unknown = set(keys) - TIEBREAK_KEYS
            if unknown:
                raise AdmissionsError(
                    f"政策配置 {code} 批次 {batch} 的排序规则 {sorted(unknown)} 无效，"
                    f"可选：{'、'.join(sorted(TIEBREAK_KEYS))}。"
                )
        policies[code] = CountyPolicy(
            county_code=code,
            name=merged.pop("name"),
            consultation_phones=tuple(merged.pop("consultation_phones", ())),
            supervision_phones=tuple(merged.pop("supervision_phones", ())),
            tiebreak=tiebreak,
            **merged,
        )
    return policies


def policy_for(county_code: str, path: Path | None = None) -> CountyPolicy:
    policies = load_policies(path)
    if county_code not in policies:
        raise AdmissionsError(
            f"区县代码 {county_code} 没有政策配置，可选：{'、'.join(sorted(policies))}。"
        )
    return policies[county_code]
