"""Mission plug-ins: loading, idempotent sync, targeted updates, export/import, file names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from missions.testmission import build_definition as tst_definition
from proseo.catalogue.sync import export_mission, sync_mission
from proseo.cli.app import run
from proseo.db import Database
from proseo.definitions import (
    MissionDefinition,
    ProcessorDefinition,
    SelectionRuleDefinition,
    TaskDefinition,
    dump_definition,
    load_definition,
    parse_definition,
)
from proseo.errors import InvalidInputError, NotFoundError
from proseo.model import Base, Orbit, ProductClass, SelectionRule
from proseo.plugins import ProductMetadata, get_mission_plugin, load_mission_plugins


def _row_counts(session: Session) -> dict[str, int]:
    return {
        name: session.scalar(select(func.count()).select_from(table)) or 0
        for name, table in Base.metadata.tables.items()
    }


def test_installed_plugins() -> None:
    plugins = load_mission_plugins()
    assert {"LANDSAT", "S5P", "TST"} <= set(plugins)
    with pytest.raises(NotFoundError, match=r"no mission plug-in for 'XYZ' \(installed: .*S5P"):
        get_mission_plugin("XYZ")


@pytest.mark.parametrize("code", ["LANDSAT", "S5P", "TST"])
def test_sync_twice_changes_nothing_the_second_time(database: Database, code: str) -> None:
    definition = get_mission_plugin(code).definition()
    with database.transaction() as session:
        first = sync_mission(session, definition)
    assert first.changed
    with database.transaction() as session:
        before = _row_counts(session)
        second = sync_mission(session, definition)
        session.flush()
        after = _row_counts(session)
    assert not second.changed, second.changes
    assert before == after
    assert before["product_class"] == len(definition.product_classes)
    assert before["selection_rule"] == sum(
        len(p.selection_rules) for p in definition.product_classes
    )


def _with_l2_rule(definition: MissionDefinition, rule: str) -> MissionDefinition:
    classes = tuple(
        pc.model_copy(update={"selection_rules": (SelectionRuleDefinition(rule=rule),)})
        if pc.product_type == "L2________"
        else pc
        for pc in definition.product_classes
    )
    return definition.model_copy(update={"product_classes": classes})


def test_changing_one_rule_or_adding_a_processor_version_updates_only_that(
    database: Database,
) -> None:
    definition = tst_definition()
    with database.transaction() as session:
        sync_mission(session, definition)
    changed = _with_l2_rule(definition, "FOR L1B_RA____ SELECT ValIntersect(1h, 1h)")
    with database.transaction() as session:
        report = sync_mission(session, changed)
    assert report.changes == [
        "removed selection rule of L2________: FOR L1B_RA____ SELECT ValIntersect(0, 0); "
        "FOR L1B_IR____ SELECT LatestValIntersect(1d, 1d)",
        "added selection rule of L2________: FOR L1B_RA____ SELECT ValIntersect(1h, 1h)",
    ]
    newer = changed.model_copy(
        update={
            "processors": (
                *changed.processors,
                ProcessorDefinition(
                    processor_class="TSTL2",
                    version="2.0.0",
                    tasks=(TaskDefinition(name="TSTL2", version="2.0.0", command="true"),),
                ),
            )
        }
    )
    with database.transaction() as session:
        report = sync_mission(session, newer)
        assert report.changes == ["created processor TSTL2 2.0.0"]
        rules = session.scalars(
            select(SelectionRule.rule_text)
            .join(ProductClass)
            .where(ProductClass.product_type == "L2________")
        ).all()
        assert rules == ["FOR L1B_RA____ SELECT ValIntersect(1h, 1h)"]


def test_bad_rule_reference_is_refused_and_nothing_is_kept(database: Database) -> None:
    bad = _with_l2_rule(tst_definition(), "FOR L1C_MISSING SELECT ValIntersect")
    with pytest.raises(InvalidInputError) as info, database.transaction() as session:
        sync_mission(session, bad)
    assert "product class L2________ selection rule" in str(info.value)
    assert "'L1C_MISSING' is not a product class of mission TST" in str(info.value)
    with database.transaction() as session:
        assert all(n == 0 for n in _row_counts(session).values())


def test_malformed_rule_in_definition_names_class_and_column(database: Database) -> None:
    bad = _with_l2_rule(tst_definition(), "FOR L1B_RA____ SELEC ValIntersect")
    with (
        pytest.raises(InvalidInputError, match=r"L2________.*column 16"),
        database.transaction() as session,
    ):
        sync_mission(session, bad)


def test_export_import_round_trip(database: Database, tmp_path: Path) -> None:
    with database.transaction() as session:
        sync_mission(session, get_mission_plugin("TST").definition())
        exported = export_mission(session, "TST")
    for fmt in ("yaml", "json"):
        path = tmp_path / f"tst.{fmt}"
        path.write_text(dump_definition(exported, fmt))
        loaded = load_definition(path)
        assert loaded == exported
        # Importing what was exported into the same database changes nothing.
        with database.transaction() as session:
            assert not sync_mission(session, loaded).changed


def test_definition_file_errors_name_the_field(tmp_path: Path) -> None:
    data = json.loads(dump_definition(tst_definition(), "json"))
    data["product_classes"][2]["processing_level"] = "L9"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError) as info:
        load_definition(path)
    assert "bad.json: product_classes.2.processing_level" in str(info.value)
    assert "'L9'" in str(info.value)
    with pytest.raises(InvalidInputError, match="given twice"):
        parse_definition({**data, "product_classes": [data["product_classes"][0]] * 2})


def test_s5p_orbits_hit_the_real_anchors(database: Database) -> None:
    with database.transaction() as session:
        sync_mission(session, get_mission_plugin("S5P").definition(), orbit_range=(8000, 10000))
        orbits = {
            o.orbit_number: o
            for o in session.scalars(
                select(Orbit).where(Orbit.orbit_number.in_([8138, 8139, 9982]))
            )
        }
        count = session.scalar(select(func.count(Orbit.id)))
    assert count == 2001
    assert orbits[8138].start_time == datetime(2019, 5, 9, 23, 48, 37, tzinfo=UTC)
    assert orbits[8139].start_time == datetime(2019, 5, 10, 1, 30, 7, tzinfo=UTC)
    assert orbits[9982].start_time == datetime(2019, 9, 16, 23, 6, 1, tzinfo=UTC)
    # A real product of orbit 9982 stops at 2019-09-17T00:47:30Z.
    real_stop = datetime(2019, 9, 17, 0, 47, 30, tzinfo=UTC)
    assert abs(orbits[9982].stop_time - real_stop) < timedelta(seconds=1)


REAL_S5P = "S5P_OFFL_L2__CLOUD__20190916T230601_20190917T004730_09982_01_010107_20190922T223840.nc"


def test_s5p_file_names_parse_and_regenerate() -> None:
    plugin = get_mission_plugin("S5P")
    metadata = plugin.parse_file_name(REAL_S5P)
    assert metadata == ProductMetadata(
        product_type="L2__CLOUD_",
        sensing_start=datetime(2019, 9, 16, 23, 6, 1, tzinfo=UTC),
        sensing_stop=datetime(2019, 9, 17, 0, 47, 30, tzinfo=UTC),
        generation_time=datetime(2019, 9, 22, 22, 38, 40, tzinfo=UTC),
        spacecraft_code="S5P",
        orbit_number=9982,
        file_class="OFFL",
        mode="OFFL",
        parameters={"collection": "01", "processorVersion": "010107"},
    )
    assert plugin.output_file_name(metadata, processor_version="01.01.07") == REAL_S5P
    assert plugin.parse_file_name("LC08_L1TP_195025_20130707_20170503_01_T1_B1.TIF") is None


def test_cli_sync_show_export_import(
    database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = ["--database-url", database.engine.url.render_as_string(hide_password=False)]
    assert run([*url, "mission", "sync", "TST", "--orbits", "1-20"]) == 0
    assert "created 20 orbits of TST1 (1..20)" in capsys.readouterr().out
    assert run([*url, "mission", "sync", "TST", "--orbits", "1-20"]) == 0
    assert "no changes" in capsys.readouterr().out
    assert run([*url, "mission", "show", "TST", "--format", "json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["spacecraft"][0]["orbits"] == 20
    assert shown["product_classes"] == 7
    assert run([*url, "productclass", "show", "TST", "L1B_______", "-f", "json"]) == 0
    (l1b,) = json.loads(capsys.readouterr().out)
    assert l1b["component_classes"] == ["L1B_IR____", "L1B_RA____"]
    assert run([*url, "processor", "list", "-m", "TST", "-f", "json"]) == 0
    versions = [(p["processor_class"], p["version"]) for p in json.loads(capsys.readouterr().out)]
    assert ("TSTL2", "1.10.0") in versions
    export = tmp_path / "tst.yaml"
    assert run([*url, "mission", "export", "TST", "-o", str(export)]) == 0
    assert run([*url, "mission", "import", str(export)]) == 0
    assert "no changes" in capsys.readouterr().out
    assert run([*url, "mission", "sync", "TST", "--orbits", "9-1"]) == 3
    assert "invalid --orbits '9-1'" in capsys.readouterr().err
    assert run([*url, "productclass", "show", "TST", "NOPE"]) == 4


def test_cli_rule_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["rule", "check", "for L0 select valintersect(1d,0) optional", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["canonical"] == "FOR L0 SELECT ValIntersect(1d, 0) OPTIONAL"
    assert data["simple_rules"][0]["policies"][0]["delta_before_ms"] == 86_400_000
    assert run(["rule", "check", "FOR L0 SELECT"]) == 3
    err = capsys.readouterr().err
    assert "column 14" in err
    assert "a policy name" in err
