"""Verification against government records and batch decisions."""

from datetime import date

from console.rules.classification import (
    Applicant,
    Evidence,
    PolicyTerms,
    decide,
    months_between,
    normalize_person_name,
)

CUTOFF = date(2025, 8, 31)
GUARDIAN = "62040219860312101X"
TERMS = PolicyTerms(
    min_property_share=0.5, batch_e_min_insurance_months=6, batch_e_min_permit_months=6
)


def applicant(**overrides) -> Applicant:  # type: ignore[no-untyped-def]
    values = dict(
        county_code="620402",
        student_name="王子涵",
        guardian_id_number=GUARDIAN,
        preferential_policy="无",
        property_certificate_no=None,
        permit_address=None,
        has_permit_fields=False,
    )
    values.update(overrides)
    return Applicant(**values)  # type: ignore[arg-type]


def household(code: str = "620402002", name: str = "王子涵") -> dict:
    return {
        "name": name,
        "registered_division_code": code,
        "registered_address": "白银区公园路街道建银社区3号楼",
        "registered_on": "2019-01-05",
    }


def estate(
    county: str = "620402",
    owner: str = GUARDIAN,
    share: float = 1.0,
    cert: str = "甘(2016)白银市不动产权第0001200号",
) -> dict:
    return {
        "certificate_no": cert,
        "owner_id_number": owner,
        "share": share,
        "registered_on": "2016-05-01",
        "address": "白银区公园路街道建银社区12号楼",
        "division_code": county + "002",
    }


def permit(
    valid: bool = True, issued: str = "2023-03-15", expires: str = "2026-03-14"
) -> dict:
    return {
        "valid": valid,
        "issued_on": issued,
        "expires_on": expires,
        "address": "白银区人民路街道银苑小区8号楼",
    }


def test_local_owner_is_batch_a() -> None:
    decision = decide(
        applicant(property_certificate_no="甘(2016)白银市不动产权第0001200号"),
        Evidence(household=household(), permit=None, properties=(estate(),)),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.batch == "A"
    assert decision.zone_address == "白银区公园路街道建银社区12号楼"
    assert decision.property_date == date(2016, 5, 1)
    assert decision.household_date == date(2019, 1, 5)


def test_non_local_urban_owner_is_batch_b() -> None:
    decision = decide(
        applicant(),
        Evidence(household=household("620102001"), permit=None, properties=(estate(),)),
        terms=TERMS,
        cutoff=CUTOFF,
        is_urban_address=lambda _a: True,
    )
    assert decision.batch == "B"


def test_non_local_rural_owner_needs_permit() -> None:
    decision = decide(
        applicant(),
        Evidence(
            household=household("620102001"),
            permit=permit(),
            properties=(estate(),),
            insurance={"months_last_24": 20},
        ),
        terms=TERMS,
        cutoff=CUTOFF,
        is_urban_address=lambda _a: False,
    )
    assert decision.batch == "E"


def test_policy_child_is_batch_c() -> None:
    decision = decide(
        applicant(preferential_policy="高层次人才子女"),
        Evidence(household=household(), permit=None),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.batch == "C"


def test_local_without_housing_is_batch_d_zoned_by_household_address() -> None:
    decision = decide(
        applicant(),
        Evidence(household=household(), permit=None),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.batch == "D"
    assert decision.zone_address == "白银区公园路街道建银社区3号楼"


def test_migrant_with_valid_permit_is_batch_e() -> None:
    decision = decide(
        applicant(has_permit_fields=True),
        Evidence(
            household=household("621102001"),
            permit=permit(),
            insurance={"months_last_24": 24},
        ),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.batch == "E"
    assert decision.insurance_months == 24
    assert decision.zone_address == "白银区人民路街道银苑小区8号楼"


def test_migrant_without_insurance_record_is_e_pending_supply() -> None:
    decision = decide(
        applicant(has_permit_fields=True),
        Evidence(household=household("621102001"), permit=permit()),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.batch == "E"
    assert any("容缺" in note for note in decision.notes)


def test_migrant_below_insurance_minimum_is_exception() -> None:
    decision = decide(
        applicant(has_permit_fields=True),
        Evidence(
            household=household("621102001"),
            permit=permit(),
            insurance={"months_last_24": 3},
        ),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.is_exception
    assert decision.batch is None


def test_expired_permit_is_exception() -> None:
    decision = decide(
        applicant(has_permit_fields=True),
        Evidence(
            household=household("621102001"),
            permit=permit(valid=False, expires="2024-01-01"),
        ),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.is_exception
    assert "居住证" in decision.exceptions[0]


def test_name_differing_from_register_is_exception() -> None:
    decision = decide(
        applicant(),
        Evidence(household=household(name="王梓涵"), permit=None),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.is_exception
    assert "王梓涵" in decision.exceptions[0]


def test_missing_household_record_is_exception() -> None:
    decision = decide(
        applicant(), Evidence(household=None, permit=None), terms=TERMS, cutoff=CUTOFF
    )
    assert decision.is_exception


def test_property_of_someone_else_is_exception() -> None:
    other = estate(owner="620402198808088479")
    decision = decide(
        applicant(property_certificate_no=other["certificate_no"]),
        Evidence(household=household(), permit=None, properties=(other,)),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.is_exception
    assert "权利人" in decision.exceptions[0]


def test_share_below_minimum_does_not_count_as_housing() -> None:
    decision = decide(
        applicant(),
        Evidence(household=household(), permit=None, properties=(estate(share=0.3),)),
        terms=TERMS,
        cutoff=CUTOFF,
    )
    assert decision.batch == "D"
    assert decision.notes


def test_middle_dot_variants_compare_equal() -> None:
    assert normalize_person_name("阿依古丽•买买提") == normalize_person_name(
        "阿依古丽·买买提"
    )
    assert normalize_person_name("阿依古丽 . 买买提") == "阿依古丽·买买提"


def test_months_between_counts_whole_months() -> None:
    assert months_between(date(2025, 1, 31), date(2025, 8, 31)) == 7
    assert months_between(date(2025, 3, 15), date(2025, 8, 14)) == 4
    assert months_between(date(2026, 1, 1), date(2025, 8, 31)) == 0
