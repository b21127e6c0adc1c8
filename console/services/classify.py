"""Classification of looked-up applications into batches A-E, or into the exception queue."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from console.models import Application, Lookup, School, Stage, Status, Window, utcnow
from console.policy import CountyPolicy, load_policies
from console.rules.classification import Applicant, Evidence, PolicyTerms, decide
from console.services import audit
from console.services.reference import ZoneIndex

log = logging.getLogger(__name__)


@dataclass
class ClassifyReport:
    batches: Counter[str] = field(default_factory=Counter)
    exceptions: int = 0
    exception_reasons: Counter[str] = field(default_factory=Counter)
    no_zone: int = 0


def _evidence(lookups: list[Lookup]) -> Evidence:
    latest: dict[str, Lookup] = {}
    for lookup in sorted(lookups, key=lambda x: x.id or 0):
        if lookup.outcome != "failed":
            latest[lookup.interface] = lookup

    def record(name: str) -> dict | None:
        found = latest.get(name)
        if found is None or found.outcome != "found" or not found.response:
            return None
        return found.response.get("record")

    estate = latest.get("real_estate")
    properties = (
        tuple(estate.response.get("records", [])) if estate and estate.response else ()
    )
    return Evidence(
        household=record("household"),
        permit=record("residence_permit"),
        properties=properties,
        insurance=record("social_insurance"),
        population=record("population"),
    )


def _junior_zone(schools: dict[str, School], primary_code: str | None) -> str | None:
    """Return the junior high fed by the child's primary school (对口), if any."""
    if not primary_code:
        return None
    for school in schools.values():
        if (
            school.stage == Stage.JUNIOR
            and primary_code in school.feeder_primaries.split()
        ):
            return school.code
    return None


def classify_applications(
    engine: Engine,
    *,
    season_id: int,
    county_code: str,
    actor: str,
    stage: str | None = None,
    policy: CountyPolicy | None = None,
    chunk_size: int = 500,
) -> ClassifyReport:
    """Decide the batch of every VERIFIED application, committing per chunk."""
    policy = policy or load_policies()[county_code]
    terms = PolicyTerms(
        policy.min_property_share,
        policy.batch_e_min_insurance_months,
        policy.batch_e_min_permit_months,
    )
    report = ClassifyReport()
    with Session(engine) as session:
        zones = ZoneIndex.load(session, county_code)
        schools = {
            s.code: s
            for s in session.exec(
                select(School).where(School.county_code == county_code)
            )
        }
        windows = {
            w.stage: w
            for w in session.exec(
                select(Window).where(
                    Window.season_id == season_id, Window.county_code == county_code
                )
            )
        }
        query = select(Application.id).where(
            Application.season_id == season_id,
            Application.county_code == county_code,
            Application.status == Status.VERIFIED,
        )
        if stage:
            query = query.where(Application.stage == stage)
        ids = list(session.exec(query.order_by(col(Application.id))))

    def is_urban(address: str) -> bool | None:
        zone = zones.find(address, county_code)
        return None if zone is None else zone.urban

    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        with Session(engine) as session:
            applications = list(
                session.exec(select(Application).where(col(Application.id).in_(chunk)))
            )
            lookups: dict[int, list[Lookup]] = {}
            for lookup in session.exec(
                select(Lookup).where(col(Lookup.application_id).in_(chunk))
            ):
                lookups.setdefault(lookup.application_id, []).append(lookup)
            for application in applications:
                window = windows.get(application.stage)
                cutoff = (
                    window.age_cutoff
                    if window
                    else policy.cutoff_date(date.today().year)
                )
                _classify_one(
                    application,
                    lookups.get(application.id or 0, []),
                    terms=terms,
                    cutoff=cutoff,
                    zones=zones,
                    schools=schools,
                    is_urban=is_urban,
                    report=report,
                )
                session.add(application)
                audit.record(
                    session,
                    actor=actor,
                    action="classify",
                    entity="application",
                    entity_id=application.id,
                    detail={"status": application.status, "batch": application.batch},
                )
            session.commit()
    log.info(
        "classified %d applications: %s, %d exceptions",
        len(ids),
        dict(report.batches),
        report.exceptions,
    )
    return report


def _classify_one(
    application: Application,
    lookups: list[Lookup],
    *,
    terms: PolicyTerms,
    cutoff: date,
    zones: ZoneIndex,
    schools: dict[str, School],
    is_urban,  # type: ignore[no-untyped-def]
    report: ClassifyReport,
) -> None:
    applicant = Applicant(
        county_code=application.county_code,
        student_name=application.student_name,
        guardian_id_number=application.guardian_id_number,
        preferential_policy=application.preferential_policy,
        property_certificate_no=application.property_certificate_no,
        permit_address=application.permit_address,
        has_permit_fields=bool(
            application.permit_issued_on or application.permit_expires_on
        ),
    )
    decision = decide(
        applicant,
        _evidence(lookups),
        terms=terms,
        cutoff=cutoff,
        is_urban_address=is_urban,
    )
    application.updated_at = utcnow()
    application.household_date = decision.household_date
    application.property_date = decision.property_date
    application.insurance_months = decision.insurance_months
    if decision.is_exception:
        application.status = Status.EXCEPTION
        application.status_reason = "；".join(decision.exceptions)
        application.batch = None
        report.exceptions += 1
        for reason in decision.exceptions:
            report.exception_reasons[reason.split("“")[0].split(" ")[0][:12]] += 1
        return
    assert decision.batch is not None
    application.batch = decision.batch
    notes = ("；" + "；".join(decision.notes)) if decision.notes else ""
    application.batch_reason = decision.reason + notes
    zone_item = (
        zones.find(decision.zone_address, application.county_code)
        if decision.zone_address
        else None
    )
    application.zone_item_id = zone_item.id if zone_item else None
    if decision.batch == "C":
        # The preferred school is used until the bureau decides in the batch C review
        # queue (admissions review --queue batch_c).
        application.zone_school_code = application.preferred_school_code
        application.batch_reason += "；暂按预报名学校安排，待教育局审核确认"
    elif application.stage == Stage.JUNIOR:
        application.zone_school_code = _junior_zone(
            schools, application.primary_school_code
        )
        if application.zone_school_code is None:
            application.batch_reason += (
                "；小学不在本县区对口范围，片区内学生录取后统筹安排"
            )
    else:
        application.zone_school_code = zone_item.school_code if zone_item else None
    if (
        application.zone_school_code is None
        and decision.batch != "C"
        and application.stage != Stage.JUNIOR
    ):
        report.no_zone += 1
        application.batch_reason += (
            f"；地址“{decision.zone_address}”未匹配到片区，按调剂安排"
        )
    application.status = Status.CLASSIFIED
    zone_name = (
        schools[application.zone_school_code].name
        if application.zone_school_code in schools
        else "无"
    )
    application.status_reason = (
        f"{decision.batch}类：{application.batch_reason}；片区学校：{zone_name}"
    )
    report.batches[decision.batch] += 1
