"""The county's service guide (办事指南), published from the console's data.

The fixed texts (item, channels, legal basis, steps, materials) come from
fixtures/service-guide.toml, taken from the Baiyin 2024 plan, with optional
overrides per county. The dates, age cut-off, admission order, tie-breaks,
schools, seats and phones come from the season, the policy settings and the
reference data, so the guide describes what the console does.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from console.errors import AdmissionsError
from console.models import Division, School, Stage, Window
from console.policy import FIXTURES_DIR, policy_for
from console.rules.allocation import key_chain
from console.services.allocation import KEY_LABELS, STAGE_LABELS
from console.services.seasons import get_season

# The admission order, as console.rules.classification decides the batches.
BATCH_RULES = {
    "A": "本县（区）有固定住房，且为本县（区）户籍",
    "B": "本县（区）城区有固定住房，非本县（区）户籍",
    "C": "享受优抚政策的儿童，由教育局审核材料后安排学校",
    "D": "本县（区）户籍，本县（区）无固定住房",
    "E": "非本县（区）户籍且无固定住房，以居住证为主要依据",
}


# Keys of the guide's fixed texts, each required in the defaults or the county.
GUIDE_KEYS = (
    "item", "channels", "basis", "materials", "steps", "fees", "result",
    "delivery", "consultation", "city_bureau_phone",
)  # fmt: skip


def load_guide_texts(county_code: str, path: Path | None = None) -> dict[str, Any]:
    """Return the guide's texts for a county: the defaults with its overrides."""
    source = path or Path(
        os.environ.get("ADMISSIONS_GUIDE", FIXTURES_DIR / "service-guide.toml")
    )
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AdmissionsError(
            f"无法读取办事指南配置文件 {source}：{exc}。请检查文件路径和 TOML 格式。"
        ) from exc
    texts = {**data.get("defaults", {}), **data.get("county", {}).get(county_code, {})}
    missing = [key for key in GUIDE_KEYS if key not in texts]
    if missing:
        raise AdmissionsError(
            f"办事指南配置文件 {source} 缺少 {'、'.join(missing)}。"
            "请在 [defaults] 或本区县的 [county.代码] 中补上这些项。"
        )
    return texts


def build_guide(
    session: Session,
    *,
    county_code: str,
    year: int | None = None,
    stage: str = Stage.PRIMARY,
) -> str:
    """Return the service guide of a county, season and stage as Markdown."""
    texts = load_guide_texts(county_code)
    policy = policy_for(county_code)
    season = get_season(session, year)
    division = session.get(Division, county_code)
    county = division.name if division else county_code
    window = session.exec(
        select(Window).where(
            Window.season_id == season.id,
            Window.county_code == county_code,
            Window.stage == stage,
        )
    ).first()
    if window is not None:
        opens, closes, cutoff = window.opens_on, window.closes_on, window.age_cutoff
    else:
        opens, closes = policy.window_dates(season.year, stage)
        cutoff = policy.cutoff_date(season.year)
    schools = session.exec(
        select(School)
        .where(School.county_code == county_code, School.stage == stage)
        .order_by(col(School.code))
    ).all()
    stage_label = STAGE_LABELS.get(stage, stage)

    lines = [f"# {county}{season.year}年义务教育入学办事指南（{stage_label}）", ""]

    def section(title: str, *body: str) -> None:
        lines.extend([f"## {title}", "", *body, ""])

    section("一、事项名称", f"{texts['item']}（{stage_label}）。")
    if stage == Stage.PRIMARY:
        born = cutoff.replace(year=cutoff.year - policy.primary_entry_age)
        condition = (
            f"{_day(cutoff)}（含）前年满{policy.primary_entry_age}周岁，"
            f"即{_day(born)}及以前出生的适龄儿童。"
        )
    else:
        condition = "符合条件的小学毕业生。"
    section("二、申报条件", condition)
    section("三、办理方式", texts["channels"])
    section("四、受理及实施机构", f"{county}教育行政部门。")
    section("五、法定依据", texts["basis"])
    section("六、申请材料目录", *_materials(texts["materials"]))
    section("七、入学顺序", *_admission_order(policy, stage, cutoff))
    section(
        "八、办理流程", *(f"{n}. {step}；" for n, step in enumerate(texts["steps"], 1))
    )
    section(
        "九、办结时限",
        f"报名时间为{_day(opens)}至{_day(closes)}，在截止时间前办结。"
        + (
            ""
            if window is not None
            else "本年度报名窗口尚未设立，以上为本县（区）默认日期，以教育局公告为准。"
        ),
    )
    section("十、招生学校及学位", *_schools(session, schools, stage))
    section("十一、收费依据及标准", texts["fees"])
    section("十二、审批结果及送达", f"审批结果：{texts['result']}", "",
            f"结果送达：{texts['delivery']}")  # fmt: skip
    section(
        "十三、咨询及监督",
        texts["consultation"],
        "",
        f"- {county}教育局咨询电话：{'、'.join(policy.consultation_phones) or '（未设置）'}",
        f"- {county}教育局监督电话：{'、'.join(policy.supervision_phones) or '（未设置）'}",
        f"- 白银市教育局咨询电话：{texts['city_bureau_phone']}",
    )
    return "\n".join(lines).rstrip() + "\n"


def _day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _materials(materials: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| 序号 | 材料名称 | 所需信息要素 | 线上办理 | 线下办理 | 份数 | 备注 |",
        "| ---: | --- | --- | --- | --- | ---: | --- |",
    ]
    for number, item in enumerate(materials, 1):
        rows.append(
            f"| {number} | {item['name']} | {item['items']} | {item['online']} | "
            f"{item['offline']} | {item['copies']} | {item.get('note', '')} |"
        )
    return rows


def _admission_order(policy: Any, stage: str, cutoff: date) -> list[str]:
    lines = [
        "各校先招收片区内学生，按以下批次顺序录取，学位满额后其余学生由教育局统筹调剂：",
        "",
    ]
    if stage == Stage.JUNIOR:
        # console.services.allocation zones a graduate by the primary school it feeds.
        lines[0:0] = ["初中片区按对口小学划分：小学毕业学校对口的初中为片区学校，"
                      "对口关系见“十、招生学校及学位”。", ""]  # fmt: skip
    for batch, rule in BATCH_RULES.items():
        # The same chain as the allocation: the county's keys, then the lottery.
        keys = key_chain(batch, policy.tiebreak)
        order = "；同批次内" + "，再".join(KEY_LABELS[key] for key in keys)
        lines.append(
            f"- {batch}类：{rule}{_batch_e_terms(policy, cutoff, batch)}{order}。"
        )
    notes = []
    if policy.sibling_priority:
        notes.append("同批次内，有哥哥或姐姐在片区学校就读的儿童最先录取")
    if policy.min_property_share > 0:
        notes.append(
            f"监护人所占房产份额不低于{policy.min_property_share:.0%}方可作为住房依据"
        )
    if policy.place_lock_years > 0:
        notes.append(
            f"同一住房{policy.place_lock_years}年内已用于其他家庭子女入学的，"
            "不再作为A类、B类的住房依据，按D类或E类排序"
            + ("（同一家庭的兄弟姐妹除外）" if policy.place_lock_sibling_exempt else "")
        )
    if notes:
        lines.extend(["", "另：" + "；".join(notes) + "。"])
    return lines


def _batch_e_terms(policy: Any, cutoff: date, batch: str) -> str:
    """Return the batch E minimums that console.rules.classification checks."""
    if batch != "E":
        return ""
    terms = []
    if policy.batch_e_min_permit_months > 0:
        terms.append(
            f"居住证签发至{_day(cutoff)}须满{policy.batch_e_min_permit_months}个月"
        )
    if policy.batch_e_min_insurance_months > 0:
        terms.append(
            f"近两年社保缴费须满{policy.batch_e_min_insurance_months}个月（未查到社保信息的可容缺）"
        )
    return "，" + "，".join(terms) if terms else ""


def _schools(session: Session, schools: list[School] | Any, stage: str) -> list[str]:
    if not schools:
        return ["本学段暂无招生学校信息。"]
    if stage != Stage.JUNIOR:
        rows = ["| 学校 | 学校代码 | 计划学位 |", "| --- | --- | ---: |"]
        for school in schools:
            rows.append(f"| {school.name} | {school.code} | {school.seats} |")
        rows.append(f"| 合计 | | {sum(school.seats for school in schools)} |")
        return rows
    rows = ["| 学校 | 学校代码 | 计划学位 | 对口小学 |", "| --- | --- | ---: | --- |"]
    for school in schools:
        feeders = []
        for code in school.feeder_primaries.split():
            primary = session.get(School, code)
            feeders.append(primary.name if primary else code)
        rows.append(
            f"| {school.name} | {school.code} | {school.seats} | {'、'.join(feeders)} |"
        )
    rows.append(f"| 合计 | | {sum(school.seats for school in schools)} | |")
    return rows
