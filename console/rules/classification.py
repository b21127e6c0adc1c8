"""Verification of an application against government records, and its batch (A-E).

Batches follow the Baiyin plan:
A  owns housing in the county, household registered in the county;
B  owns housing in the county's urban area, household registered elsewhere;
C  policy-guaranteed children (the bureau reviews documents and sets the school);
D  no housing in the county, household registered in the county;
E  no housing in the county, household registered elsewhere (residence permit is the basis).
The zone school follows from the address that counts for the batch: the property
address (A, B), the registered household address (D), the residence-permit address (E).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

MIDDLE_DOT_VARIANTS = "·•・‧∙⋅.．"


def normalize_person_name(name: str) -> str:
    """Strip spaces and unify middle-dot variants so 阿依古丽•买买提 equals 阿依古丽·买买提."""
    text = "".join(name.split())
    for variant in MIDDLE_DOT_VARIANTS:
        text = text.replace(variant, "·")
    return text


@dataclass(frozen=True)
class Applicant:
    """Claims of an application, reduced to the fields verification and batching need."""

    county_code: str
    student_name: str
    guardian_id_number: str
    preferential_policy: str
    property_certificate_no: str | None
    permit_address: str | None
    has_permit_fields: bool


@dataclass(frozen=True)
class Evidence:
    """Records returned by the data-sharing interfaces; None means not found."""

    household: dict[str, Any] | None
    permit: dict[str, Any] | None
    properties: tuple[dict[str, Any], ...] = ()
    insurance: dict[str, Any] | None = None
    population: dict[str, Any] | None = None


@dataclass(frozen=True)
class PolicyTerms:
    min_property_share: float = 0.0
    batch_e_min_insurance_months: int = 0
    batch_e_min_permit_months: int = 0


@dataclass
class Decision:
    """Outcome: an exception with reasons, or a batch with the address that sets the zone."""

    exceptions: list[str] = field(default_factory=list)
    batch: str | None = None
    reason: str = ""
    zone_address: str | None = None
    household_date: date | None = None
    property_date: date | None = None
    insurance_months: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_exception(self) -> bool:
        return bool(self.exceptions)


def _date(value: Any) -> date | None:
    if not value:
        return None
    return date.fromisoformat(str(value)[:10])


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start to end (0 when end is before start)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def decide(
    applicant: Applicant,
    evidence: Evidence,
    *,
    terms: PolicyTerms,
    cutoff: date,
    is_urban_address: Any = None,
) -> Decision:
    """Verify the application against the records and place it in a batch.

    `is_urban_address(address) -> bool | None` returns whether an address lies in a zone of
    the county's urban area; None means the address matched no zone.
    """
    decision = Decision()
    household = evidence.household
    if household is None:
        decision.exceptions.append(
            "公安户籍库未查到学生户籍信息，请核对学生身份证号或到派出所核实"
        )
    elif normalize_person_name(household.get("name", "")) != normalize_person_name(
        applicant.student_name
    ):
        decision.exceptions.append(
            f"学生姓名“{applicant.student_name}”与户籍登记“{household.get('name', '')}”不一致"
        )

    owned = [
        p
        for p in evidence.properties
        if p.get("owner_id_number") == applicant.guardian_id_number
        and str(p.get("division_code", "")).startswith(applicant.county_code)
    ]
    claimed = applicant.property_certificate_no
    if claimed:
        matching = [
            p for p in evidence.properties if p.get("certificate_no") == claimed
        ]
        if not matching:
            decision.exceptions.append(
                f"产权证编号 {claimed} 未登记在监护人名下，请核对产权证"
            )
        elif matching[0].get("owner_id_number") != applicant.guardian_id_number:
            decision.exceptions.append(f"产权证 {claimed} 的权利人不是监护人")
    counted = [
        p for p in owned if float(p.get("share", 1.0)) >= terms.min_property_share
    ]
    if owned and not counted:
        decision.notes.append(
            f"监护人产权份额低于本县要求的 {terms.min_property_share:.0%}，不按有房计算"
        )

    local = household is not None and str(
        household.get("registered_division_code", "")
    ).startswith(applicant.county_code)
    decision.household_date = (
        _date(household.get("registered_on")) if household else None
    )

    permit = evidence.permit
    if applicant.has_permit_fields or (
        household is not None and not local and not counted
    ):
        if permit is None:
            if not local and not counted:
                decision.exceptions.append(
                    "未查到监护人居住证信息，非本县户籍无房家庭需提供有效居住证"
                )
        elif not permit.get("valid"):
            decision.exceptions.append(
                f"居住证核验无效（有效期至 {permit.get('expires_on', '未知')}）"
            )
        elif (_date(permit.get("expires_on")) or cutoff) < cutoff:
            decision.exceptions.append(f"居住证在入学年龄截止日 {cutoff} 前已过期")

    if evidence.insurance is not None:
        decision.insurance_months = int(evidence.insurance.get("months_last_24", 0))
    if decision.is_exception:
        return decision

    if applicant.preferential_policy and applicant.preferential_policy != "无":
        decision.batch = "C"
        decision.reason = f"享受优抚政策（{applicant.preferential_policy}），由教育局审核材料后安排学校"
        return decision

    if counted:
        best = min(counted, key=lambda p: str(p.get("registered_on", "")))
        decision.property_date = _date(best.get("registered_on"))
        address = str(best.get("address", ""))
        if local:
            decision.batch = "A"
            decision.reason = "本县区有固定住房且为本县区户籍"
            decision.zone_address = address
            return decision
        urban = is_urban_address(address) if is_urban_address else True
        if urban:
            decision.batch = "B"
            decision.reason = "本县区城区有固定住房，非本县区户籍"
            decision.zone_address = address
            return decision
        decision.notes.append("住房不在城区，按无房随迁子女办理")

    if local:
        assert household is not None
        decision.batch = "D"
        decision.reason = "本县区户籍，本县区城区无固定住房"
        decision.zone_address = str(household.get("registered_address", ""))
        return decision

    assert permit is not None
    decision.batch = "E"
    decision.reason = "非本县区户籍且无固定住房，以居住证为主要依据"
    decision.zone_address = str(permit.get("address") or applicant.permit_address or "")
    issued = _date(permit.get("issued_on"))
    if issued and months_between(issued, cutoff) < terms.batch_e_min_permit_months:
        decision.exceptions.append(
            f"居住证签发于 {issued}，到截止日不足本县E类要求的 {terms.batch_e_min_permit_months} 个月"
        )
    if evidence.insurance is None:
        decision.notes.append("社保缴费信息容缺，待补充")
    elif (decision.insurance_months or 0) < terms.batch_e_min_insurance_months:
        decision.exceptions.append(
            f"近两年社保缴费 {decision.insurance_months} 个月，少于本县E类要求的"
            f" {terms.batch_e_min_insurance_months} 个月"
        )
    if decision.is_exception:
        decision.batch = None
    return decision
