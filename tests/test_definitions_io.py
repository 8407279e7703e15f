"""``qunti definitions export|import``: the database's definitions as files, and back — every file
checked before anything changes, unchanged forms left alone, a round trip that keeps every digest."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from qunti.admin.form_publish import publish
from qunti.admin.models import AuditEntry
from qunti.cli import main
from qunti.db import db
from qunti.definitions import digest
from qunti.definitions_io import menu_document
from qunti.forms.models import Form, FormVersion
from qunti.menu.models import ServiceItem

from conftest import empty_database


def run(app, *args):
    return app.test_cli_runner().invoke(main, ["definitions", *map(str, args)])


def current_digests() -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(Form.id, FormVersion.digest)
                                   .join(FormVersion, FormVersion.id == Form.current_version_id)).all())


def version_count() -> int:
    return db.session.scalar(select(func.count(FormVersion.id)))


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def rewrite(path, change):
    document = read(path)
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")


def test_export_writes_current_forms_the_menu_and_the_rules(app, ctx, tmp_path):
    result = run(app, "export", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    digests = current_digests()
    written = {path.stem: read(path) for path in (out / "forms").glob("*.json")}
    assert set(written) == set(digests) and f"{len(digests)} 个表单" in result.output
    assert all(digest(document) == digests[form_id] for form_id, document in written.items())
    text = (out / "forms" / "legal-consultation.json").read_text(encoding="utf-8")
    assert '"title": "法律咨询与法律援助申请"' in text and text.startswith('{\n  "$schema"')
    # Fields in display order, whichever database stored them.
    document = read(out / "forms" / "legal-consultation.json")
    assert list(document["properties"]) == document["x-ui"]["order"]
    menu = read(out / "forms" / "menu" / "service-menu.json")
    assert menu == menu_document() and [i["code"] for i in menu["items"]][:2] == ["S01", "S02"]
    rules = {path.name for path in (out / "rules").glob("*.json")}
    assert {"dispatch.json", "units.json", "calendar.json"} <= rules
    assert read(out / "rules" / "dispatch.json") == app.extensions["qunti"].catalog.rulesets["dispatch"].document


def test_round_trip_into_a_fresh_database_keeps_every_digest(app, ctx, tmp_path):
    # One form as an admin left it, so the database is not just the shipped files.
    form = db.session.get(Form, "legal-consultation")
    schema = db.session.get(FormVersion, form.current_version_id).schema
    schema["properties"]["name"]["title"] = "申请人姓名"
    publish(form, schema, base_number=1, note="改标题")
    assert run(app, "export", tmp_path).exit_code == 0
    before, menu = current_digests(), menu_document()
    db.session.rollback()                               # PostgreSQL: no read locks left for TRUNCATE
    empty_database()                                    # a fresh database: no forms, no menu
    assert current_digests() == {}
    result = run(app, "import", tmp_path)
    assert result.exit_code == 0, result.output
    assert current_digests() == before
    assert menu_document() == menu
    assert {v.number for v in db.session.scalars(select(FormVersion))} == {1}
    origins = {f.id: f.origin for f in db.session.scalars(select(Form))}
    assert origins["legal-consultation"] == "admin" and origins["union-legal-aid"] == "plugin:union-care"
    # Importing the same files again changes nothing.
    again = run(app, "import", tmp_path)
    assert again.exit_code == 0 and "0 个表单发布了新版本" in again.output and "服务菜单没有变化" in again.output
    assert version_count() == len(before)


def test_import_publishes_only_changed_forms_and_audits_them(app, ctx, tmp_path):
    assert run(app, "export", tmp_path).exit_code == 0
    rewrite(tmp_path / "forms" / "legal-consultation.json",
            lambda d: d["properties"]["name"].update(title="申请人姓名"))
    rewrite(tmp_path / "forms" / "menu" / "service-menu.json",
            lambda d: d["items"][0].update(name="建立群团组织"))
    count = version_count()
    result = run(app, "import", tmp_path)
    assert result.exit_code == 0, result.output
    assert "legal-consultation：发布第 2 版" in result.output and "服务菜单已更新" in result.output
    assert version_count() == count + 1
    version = db.session.scalars(select(FormVersion).where(FormVersion.form_id == "legal-consultation")
                                 .order_by(FormVersion.number.desc())).first()
    assert version.note == "导入自 forms/legal-consultation.json"
    assert version.schema["properties"]["name"]["title"] == "申请人姓名"
    assert db.session.get(ServiceItem, "S01").name == "建立群团组织"
    actions = [(e.action, e.object_type, e.object_id) for e in db.session.scalars(select(AuditEntry))]
    assert actions == [("import", "form", "legal-consultation"), ("import", "service_menu", "service-menu")]


def test_one_bad_file_stops_the_whole_import(app, ctx, tmp_path):
    assert run(app, "export", tmp_path).exit_code == 0
    forms = tmp_path / "forms"
    rewrite(forms / "skills-training.json", lambda d: d["properties"]["name"].update(title="新的姓名"))
    rewrite(forms / "legal-consultation.json", lambda d: d["properties"]["name"].update(anyOf=[{"minLength": 2}]))
    (forms / "matchmaking.json").write_text('{"title": "婚恋交友",\n "type": "object",,}', encoding="utf-8")
    before, count = current_digests(), version_count()
    result = run(app, "import", tmp_path)
    assert result.exit_code == 1
    assert "forms/legal-consultation.json：/properties/name/anyOf：不支持 anyOf" in result.output
    assert "forms/matchmaking.json：/：不是有效的 JSON（第 2 行第 19 列" in result.output
    assert "没有导入任何内容" in result.output
    assert current_digests() == before and version_count() == count
    assert not db.session.scalar(select(func.count(AuditEntry.id)))


def test_the_menu_must_point_at_forms_that_exist(app, ctx, tmp_path):
    assert run(app, "export", tmp_path).exit_code == 0
    rewrite(tmp_path / "forms" / "menu" / "service-menu.json", lambda d: d["items"][1].update(form="no-such-form"))
    result = run(app, "import", tmp_path)
    assert result.exit_code == 1
    assert "forms/menu/service-menu.json：/items/1/form：引用的表单 'no-such-form' 不存在" in result.output


def test_rule_sets_are_checked_against_the_imported_forms(app, ctx, tmp_path):
    assert run(app, "export", tmp_path).exit_code == 0

    def drop_case_category(document):
        del document["properties"]["caseCategory"]
        document["required"].remove("caseCategory")
        document["x-ui"]["order"].remove("caseCategory")

    rewrite(tmp_path / "forms" / "legal-consultation.json", drop_case_category)
    result = run(app, "import", tmp_path)
    assert result.exit_code == 1
    assert "rules/dispatch.json：/rows/" in result.output and "answers.caseCategory" in result.output
    assert "正在使用的规则集 dispatch" in result.output        # and the rules that run now say so too
    rewrite(tmp_path / "rules" / "units.json", lambda d: d["units"].append({"code": "union"}))
    assert "rules/units.json" in run(app, "import", tmp_path).output


def test_import_publishes_an_edited_rule_set_and_applies_units_and_calendar(app, ctx, tmp_path):
    from datetime import date

    from qunti.directory.models import CalendarDay, Unit
    from qunti.rules import published

    assert run(app, "export", tmp_path).exit_code == 0
    before = published.current("dispatch")
    rewrite(tmp_path / "rules" / "dispatch.json",
            lambda d: d["rows"][0]["route"].update(timeLimitDays=d["rows"][0]["route"]["timeLimitDays"] + 1))
    rewrite(tmp_path / "rules" / "units.json",
            lambda d: next(u for u in d["units"] if u["code"] == "justice").update(name="江北区司法局（新址）"))
    rewrite(tmp_path / "rules" / "calendar.json",
            lambda d: d["days"].append({"date": "2027-12-31", "workday": False, "name": "测试假日"}))
    result = run(app, "import", tmp_path)
    assert result.exit_code == 0, result.output
    assert "规则集 dispatch：发布第 1 版" in result.output
    assert "办单单位已更新" in result.output and "节假日日历已更新" in result.output
    db.session.expire_all()
    now = published.current("dispatch")
    assert (now.number, now.from_file) == (1, False) and now.digest != before.digest
    first = published.current_ruleset("dispatch").document["rows"][0]
    assert first["route"]["timeLimitDays"] == read(tmp_path / "rules" / "dispatch.json")["rows"][0]["route"]["timeLimitDays"]
    assert published.version("dispatch", 1).note == "导入自 rules/dispatch.json"
    assert db.session.get(Unit, "justice").name == "江北区司法局（新址）"
    assert db.session.get(CalendarDay, date(2027, 12, 31)).is_workday is False
    actions = {(e.action, e.object_type) for e in db.session.scalars(select(AuditEntry))}
    assert {("import", "ruleset"), ("import", "units"), ("import", "calendar")} <= actions
    # The export now says what runs, and importing it again changes nothing.
    assert run(app, "export", tmp_path / "again").exit_code == 0
    assert read(tmp_path / "again" / "rules" / "units.json")["units"] == read(tmp_path / "rules" / "units.json")["units"] \
        or any(u["name"] == "江北区司法局（新址）" for u in read(tmp_path / "again" / "rules" / "units.json")["units"])
    again = run(app, "import", tmp_path / "again")
    assert again.exit_code == 0, again.output
    assert "规则集 0 个发布了新版本" in again.output and "办单单位没有变化" in again.output
    assert "节假日日历没有变化" in again.output and published.current("dispatch").number == 1


def test_a_bad_rule_file_stops_everything_else_too(app, ctx, tmp_path):
    from qunti.rules import published

    assert run(app, "export", tmp_path).exit_code == 0
    rewrite(tmp_path / "forms" / "skills-training.json", lambda d: d["properties"]["name"].update(title="新的姓名"))
    rewrite(tmp_path / "rules" / "dispatch.json", lambda d: d["rows"][0].update(when={"no_such_op": [1]}))
    rewrite(tmp_path / "rules" / "units.json",
            lambda d: next(u for u in d["units"] if u["code"] == "justice").update(name="改了也不算"))
    before, count = current_digests(), version_count()
    result = run(app, "import", tmp_path)
    assert result.exit_code == 1
    assert "rules/dispatch.json：/rows/0/when" in result.output and "no_such_op" in result.output
    db.session.expire_all()
    assert current_digests() == before and version_count() == count
    assert published.current("dispatch").from_file
    from qunti.directory.models import Unit
    assert db.session.get(Unit, "justice").name != "改了也不算"


def test_a_rule_file_cannot_invent_a_rule_set(app, ctx, tmp_path):
    assert run(app, "export", tmp_path).exit_code == 0
    document = read(tmp_path / "rules" / "dispatch.json")
    document["id"] = "made-up"
    (tmp_path / "rules" / "made-up.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    result = run(app, "import", tmp_path)
    assert result.exit_code == 1
    assert "rules/made-up.json：/id：没有编号为 'made-up' 的规则集" in result.output
