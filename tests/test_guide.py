"""`admissions guide` publishes the county's service guide from the console's data."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.models import School
from console.policy import FIXTURES_DIR
from console.services.reference import load_reference
from console.services.seasons import open_window


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'season.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
    engine.dispose()
    return url


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args])
    return result.exit_code, result.output


def test_guide_states_the_consoles_rules(db_url: str) -> None:
    code, output = run(db_url, "guide", "--county", "白银区")

    assert code == 0, output
    assert output.startswith("# 白银区2025年义务教育入学办事指南（小学一年级）")
    # The cut-off and window come from the season, the phones and rules from policy.
    assert "2025年8月31日（含）前年满6周岁，即2019年8月31日及以前出生" in output
    assert "报名时间为2025年7月1日至2025年7月31日" in output
    assert "尚未设立" not in output
    assert "0943-8222115、0943-8235323" in output
    assert "0943-8248585" in output
    assert (
        "E类：非本县（区）户籍且无固定住房，以居住证为主要依据，"
        "居住证签发至2025年8月31日须满6个月，近两年社保缴费须满6个月（未查到社保信息的可容缺）；"
        "同批次内社保缴纳月数多者优先，再摇号号码小者优先。" in output
    )
    assert (
        "同一住房6年内已用于其他家庭子女入学的，不再作为A类、B类的住房依据，按D类或E类排序（同一家庭的兄弟姐妹除外）"
        in output
    )
    assert "| 5 | 社保参保缴费信息 |" in output
    # The schools table adds up the seats of the reference data.
    with session_scope(make_engine(db_url)) as session:
        schools = session.exec(select(School).where(
            School.county_code == "620402", School.stage == "primary")).all()  # fmt: skip
        seats = sum(school.seats for school in schools)
    assert f"| 合计 | | {seats} |" in output


def test_guide_file_not_overwritten(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "白银区办事指南.md"
    target.write_text("已有内容", encoding="utf-8")

    code, output = run(db_url, "guide", "--county", "白银区", "-o", str(target))
    assert code == 1
    assert "已存在，未覆盖" in output
    assert target.read_text(encoding="utf-8") == "已有内容"

    code, output = run(db_url, "guide", "--county", "白银区", "-o", str(target),
                       "--force")  # fmt: skip
    assert code == 0, output
    assert target.read_text(encoding="utf-8").startswith("# 白银区2025年")


def test_junior_guide_without_window_uses_policy_dates(db_url: str) -> None:
    code, output = run(db_url, "guide", "--county", "平川区", "--stage", "junior")

    assert code == 0, output
    assert "符合条件的小学毕业生" in output
    assert "报名时间为2025年7月10日至2025年7月31日" in output
    assert "本年度报名窗口尚未设立" in output
    assert "0943-6626012" in output


def test_guide_ends_each_tiebreak_with_lottery(db_url: str) -> None:
    code, output = run(db_url, "guide", "--county", "白银区")

    assert code == 0, output
    # The allocation breaks the ties that a batch's chain leaves by lottery number.
    assert (
        "A类：本县（区）有固定住房，且为本县（区）户籍；"
        "同批次内户籍登记日期早者优先，再房产登记日期早者优先，再摇号号码小者优先。"
    ) in output
    assert "同批次内提交时间早者优先，再摇号号码小者优先。" in output


def test_guide_orders_keys_as_allocation(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = (FIXTURES_DIR / "policy.toml").read_text(encoding="utf-8")
    policy = policy.replace(
        'E = ["insurance_months", "lottery"]', 'E = ["lottery", "insurance_months"]'
    )
    assert 'E = ["lottery", "insurance_months"]' in policy
    (tmp_path / "policy.toml").write_text(policy, encoding="utf-8")
    monkeypatch.setenv("ADMISSIONS_POLICY", str(tmp_path / "policy.toml"))

    code, output = run(db_url, "guide", "--county", "白银区")

    assert code == 0, output
    # key_chain moves the lottery to the end of the chain, whatever its place.
    assert "同批次内社保缴纳月数多者优先，再摇号号码小者优先。" in output


def test_junior_guide_names_feeder_primaries(db_url: str) -> None:
    code, output = run(db_url, "guide", "--county", "白银区", "--stage", "junior")

    assert code == 0, output
    assert "初中片区按对口小学划分" in output
    assert "| 学校 | 学校代码 | 计划学位 | 对口小学 |" in output
    assert "| 白银区水川初级中学 | 620402J03 | 100 | 白银区水川镇中心小学 |" in output


def test_guide_config_missing_key_named(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "service-guide.toml"
    config.write_text('[defaults]\nitem = "义务教育入学"\n', encoding="utf-8")
    monkeypatch.setenv("ADMISSIONS_GUIDE", str(config))

    code, output = run(db_url, "guide", "--county", "白银区")

    assert code == 1
    assert "缺少 channels、basis" in output
    assert "Traceback" not in output


def test_guide_never_written_over_database(db_url: str, tmp_path: Path) -> None:
    database = tmp_path / "season.db"
    before = database.read_bytes()

    code, output = run(db_url, "guide", "--county", "白银区", "-o", str(database),
                       "--force")  # fmt: skip

    assert code == 1
    assert "是当前使用的数据库文件" in output
    assert database.read_bytes() == before
