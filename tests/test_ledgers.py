"""四库: the demand ledger (filters, scopes, keyset pages, exports across form versions), problems
(grouping, proposal with evidence, shown on the order), the task board and the documents archive
(allowed and refused uploads, downloads under the original name)."""
from __future__ import annotations

import copy
import csv
import io
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from qunti import intake
from qunti.db import db
from qunti.forms.models import Form, FormVersion, Submission
from qunti.forms.registry import current_version
from qunti.ledgers.models import Document, Problem, ProblemOrder
from qunti.orders.models import Order

from helpers import example_answers
from users import ensure_station, ensure_unit, login, make_order, make_user

ZONE = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A stored (UTC) moment that is hour:minute on ``day`` in Chongqing."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE).astimezone(timezone.utc)


def survey(app, created_at: datetime | None = None, **overrides) -> Submission:
    answers = example_answers(app, "demand-survey")
    answers.update(overrides)
    submission = intake.accept(current_version("demand-survey"), answers)
    if created_at is not None:
        submission.created_at = created_at
        db.session.commit()
    return submission


def numbers(page: str, candidates) -> list[str]:
    """The candidates' tracking numbers in the order they appear on ``page``."""
    found = [(page.index(c), c) for c in candidates if c in page]
    return [c for _, c in sorted(found)]


def flashes(client) -> str:
    with client.session_transaction() as session:
        return " ".join(message for _, message in session.get("_flashes", []))


# --- 需求收集库: filters and scopes ---------------------------------------------------------------

@pytest.fixture
def demands(app, ctx):
    ensure_unit("women", kind="organization")
    ensure_station("heyun", community="和韵家园社区", lead="women")
    day = date(2026, 10, 8)
    rows = {
        "legal": make_order("S05", unit_code="justice", created_at=at(day, 9), community="港城社区",
                            station_code="gangcheng"),
        "hardship": make_order("S10", unit_code="women", created_at=at(day, 11), community="和韵家园社区",
                               station_code="heyun", state="completed"),
        # 23:30 on the 9th in Chongqing is still the 9th, though it is the 9th 15:30 UTC.
        "late_evening": make_order("S12", unit_code="justice", created_at=at(day + timedelta(1), 23, 30),
                                   community="石子山社区"),
        "next_day": make_order("S05", unit_code="justice", created_at=at(day + timedelta(2), 0, 30),
                               community="寸滩社区"),
    }
    rows["survey"] = survey(app, at(day, 12), community="港城社区")
    return {k: (v.number if isinstance(v, Order) else v.tracking_number) for k, v in rows.items()}


def test_dispatcher_sees_every_demand_newest_first_and_filters_narrow_it(client, demands):
    login(client, make_user("dispatcher"))
    page = client.get("/ledgers/demands").get_data(as_text=True)
    assert numbers(page, demands.values()) == [demands[k] for k in
                                               ("next_day", "late_evening", "survey", "hardship", "legal")]

    def listed(**args) -> set[str]:
        text = client.get("/ledgers/demands", query_string=args).get_data(as_text=True)
        return {k for k, n in demands.items() if n in text}

    assert listed(item="S05") == {"legal", "next_day"}
    assert listed(organization="women") == {"hardship"}
    assert listed(organization="league") == {"late_evening"}
    assert listed(station="heyun") == {"hardship"}
    assert listed(community="港城社区") == {"legal", "survey"}  # the survey's own answer counts
    assert listed(state="completed") == {"hardship"}
    assert listed(kind="survey") == {"survey"}
    assert listed(kind="order") == {"legal", "hardship", "late_evening", "next_day"}
    assert listed(**{"from": "2026-10-09", "to": "2026-10-09"}) == {"late_evening"}
    assert listed(**{"from": "2026-10-10"}) == {"next_day"}
    assert listed(**{"to": "2026-10-08"}) == {"legal", "hardship", "survey"}
    assert listed(number=demands["hardship"].lower()) == {"hardship"}
    assert listed(state="no-such-state") == set()


def test_each_role_reads_its_own_scope(client, demands):
    login(client, make_user("handler", unit_code="women"))
    page = client.get("/ledgers/demands").get_data(as_text=True)
    assert numbers(page, demands.values()) == [demands["hardship"]]  # no surveys, no other unit
    login(client, make_user("station_staff", station_code="gangcheng"))
    page = client.get("/ledgers/demands").get_data(as_text=True)
    assert numbers(page, demands.values()) == [demands["legal"]]
    login(client, make_user("org_admin", organization="league"))
    page = client.get("/ledgers/demands").get_data(as_text=True)
    # The league's item, the joint items (none here) and the surveys the organizations review.
    assert set(numbers(page, demands.values())) == {demands["late_evening"], demands["survey"]}
    login(client, make_user("resident"))
    assert client.get("/ledgers/demands").status_code == 403


def test_pages_follow_the_cursor_without_gaps_or_repeats(make_app, client):
    app = make_app(LEDGER_PAGE_SIZE=2)
    client = app.test_client()
    with app.app_context():
        moment = at(date(2026, 10, 8))
        # Three share one moment: the id breaks the tie.
        made = [make_order("S05", created_at=moment + timedelta(minutes=i // 3 * 7)).number for i in range(7)]
        login(client, make_user("dispatcher"))
        expected = [o.number for o in db.session.scalars(select(Order).order_by(Order.created_at.desc(),
                                                                                 Order.id.desc()))]
        seen, url = [], "/ledgers/demands"
        while url:
            page = client.get(url).get_data(as_text=True)
            seen += numbers(page, made)
            marker = page.find('">下一页</a>')
            url = page[page.rfind('href="', 0, marker) + 6:marker].replace("&amp;", "&") if marker > 0 else None
        assert seen == expected and len(seen) == 7


# --- 需求收集库: exports across form versions ------------------------------------------------------

def publish_versions(app):
    """demand-survey gets version 2 (adds 新增字段, renames 所在社区) and version 3 (drops 建议)."""
    form = db.session.get(Form, "demand-survey")
    first = db.session.get(FormVersion, form.current_version_id)
    second_schema = copy.deepcopy(first.schema)
    second_schema["properties"]["extraNeed"] = {"type": "string", "title": "新增字段", "maxLength": 50}
    second_schema["properties"]["community"]["title"] = "社区（村）"
    third_schema = copy.deepcopy(second_schema)
    del third_schema["properties"]["suggestions"]
    for schema in (second_schema, third_schema):
        order = schema.get("x-ui", {}).get("order")
        if order is not None:
            schema["x-ui"]["order"] = [k for k in order if k in schema["properties"]] + (
                ["extraNeed"] if "extraNeed" not in order else [])
    versions = []
    for number, schema in ((2, second_schema), (3, third_schema)):
        version = FormVersion(form_id=form.id, number=first.number + number - 1, digest=f"test-digest-{number}",
                              schema=schema, note="test")
        db.session.add(version)
        db.session.flush()
        versions.append(version)
    form.current_version_id = versions[-1].id
    db.session.commit()
    return first, *versions


def test_export_columns_are_the_union_of_every_version_in_version_order(app, client, ctx):
    first, second, third = publish_versions(app)
    base = example_answers(app, "demand-survey")
    old = intake.accept(first, {**base, "suggestions": "多办技能培训", "phone": "13800001234"})
    middle = intake.accept(second, {**base, "extraNeed": "法律讲座", "suggestions": "=1+1"})
    new = intake.accept(third, {**base, "extraNeed": "托育"})
    login(client, make_user("dispatcher"))
    response = client.get("/ledgers/demands.csv", query_string={"form": "demand-survey"})
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    head = rows[0]
    # Fixed columns, then version 1's fields in its order, then the field version 2 added.
    assert head[:3] == ["受理编号", "提交时间", "类型"]
    assert "社区（村）" in head and "所在社区" not in head  # the latest title of a kept field
    assert "建议" in " ".join(head) or any("建议" in h for h in head)  # dropped in v3, still a column
    assert head[-1] == "新增字段"
    by_number = {row[0]: dict(zip(head, row)) for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == [new.tracking_number, middle.tracking_number, old.tracking_number]
    assert by_number[old.tracking_number]["新增字段"] == ""  # the field did not exist yet
    assert by_number[new.tracking_number]["新增字段"] == "托育"
    assert by_number[old.tracking_number]["表单版本"] == str(first.number)
    suggestion = next(h for h in head if "建议" in h)
    assert by_number[middle.tracking_number][suggestion] == "'=1+1"  # never a formula
    phone = next(h for h in head if "手机" in h or "电话" in h)
    assert by_number[old.tracking_number][phone] == "138****1234"  # masked

    book = load_workbook(io.BytesIO(client.get("/ledgers/demands.xlsx", query_string={"form": "demand-survey"}).data))
    sheet = book.active
    values = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0] == head
    assert [row[0] for row in values[1:]] == [row[0] for row in rows[1:]]


def test_export_needs_one_form_and_respects_the_scope_and_the_limit(make_app):
    app = make_app(LEDGER_EXPORT_MAX_ROWS=1)
    client = app.test_client()
    with app.app_context():
        ensure_unit("women", kind="organization")
        make_order("S05", unit_code="justice")
        login(client, make_user("handler", unit_code="women"))
        response = client.get("/ledgers/demands.csv")
        assert response.status_code == 400 and "请先选择一个服务事项" in response.get_data(as_text=True)
        rows = client.get("/ledgers/demands.csv", query_string={"item": "S05"}).get_data().decode("utf-8")
        assert len(list(csv.reader(io.StringIO(rows)))) == 1  # header only: not their unit's order
        make_order("S05", unit_code="women")
        make_order("S05", unit_code="women")
        response = client.get("/ledgers/demands.csv", query_string={"item": "S05"})
        assert response.status_code == 400 and "超过单次导出上限" in response.get_data(as_text=True)


# --- 问题清单库 -------------------------------------------------------------------------------------

def test_dispatcher_groups_demands_proposes_and_the_order_shows_its_problem(app, client, ctx):
    dispatcher = make_user("dispatcher")
    first, second, third = (make_order("S11", community="港城社区") for _ in range(3))
    login(client, dispatcher)
    response = client.post("/ledgers/problems", data={"title": "港城园区欠薪集中", "description": "多家企业"})
    problem = db.session.scalar(select(Problem))
    assert response.status_code == 303 and problem.status == "open"

    # From the ledger's check boxes, and by numbers typed one a line.
    client.post("/ledgers/problems/link", data={"problem_id": problem.id, "order": [first.id, second.id]})
    client.post(f"/ledgers/problems/{problem.id}/orders", data={"numbers": f"{third.number}\nJBNOSUCH"})
    assert "JBNOSUCH" in flashes(client)
    assert db.session.scalar(select(func.count()).select_from(ProblemOrder)) == 3

    other = Problem(title="另一个问题")
    db.session.add(other)
    db.session.commit()
    client.post(f"/ledgers/problems/{other.id}/orders", data={"numbers": first.number})
    assert "已归入其他问题" in flashes(client)  # one order, one problem

    page = client.get(f"/staff/orders/{first.id}").get_data(as_text=True)
    assert "港城园区欠薪集中" in page
    body = client.get(f"/api/v1/orders/{first.number}").get_json()
    assert body["problem"] == {"id": problem.id, "title": "港城园区欠薪集中", "status": "open", "statusName": "跟踪中"}

    # A proposal needs a note; a file must be what it claims to be.
    client.post(f"/ledgers/problems/{problem.id}/propose", data={"note": ""})
    assert "请填写提请说明" in flashes(client)
    client.post(f"/ledgers/problems/{problem.id}/propose", data={
        "note": "建议列为民生实事", "evidence": (io.BytesIO(b"MZ\x90\x00binary"), "证据.pdf")},
        content_type="multipart/form-data")
    assert "文件内容与扩展名" in flashes(client)
    db.session.expire_all()
    assert db.session.get(Problem, problem.id).status == "open"
    client.post(f"/ledgers/problems/{problem.id}/propose", data={
        "note": "建议列为民生实事", "evidence": (io.BytesIO(b"%PDF-1.4 evidence"), "欠薪情况汇总.pdf")},
        content_type="multipart/form-data")
    db.session.expire_all()
    problem = db.session.get(Problem, problem.id)
    assert (problem.status, problem.proposal_note, problem.proposal_file_name) == \
        ("proposed", "建议列为民生实事", "欠薪情况汇总.pdf")
    with client.get(f"/ledgers/problems/{problem.id}/evidence") as download:
        assert download.data == b"%PDF-1.4 evidence"
        assert "filename*=UTF-8''%E6%AC%A0" in download.headers["Content-Disposition"]
    page = client.get(f"/ledgers/problems/{problem.id}").get_data(as_text=True)
    assert "已提请民生实事" in page and third.number in page

    client.post(f"/ledgers/problems/{problem.id}/close", data={"note": "已列入明年民生实事"})
    db.session.expire_all()
    assert db.session.get(Problem, problem.id).status == "closed"
    client.post(f"/ledgers/problems/{problem.id}/orders", data={"numbers": make_order("S11").number})
    assert "问题已关闭" in flashes(client)


def test_only_the_joint_meeting_manages_problems(client, ctx):
    login(client, make_user("org_admin", organization="union"))
    assert client.get("/ledgers/problems").status_code == 200
    assert client.post("/ledgers/problems", data={"title": "x"}).status_code == 403
    login(client, make_user("handler", unit_code="justice"))
    assert client.get("/ledgers/problems").status_code == 403


# --- 任务销号库 -------------------------------------------------------------------------------------

def test_task_board_overdue_on_top_then_by_unit_and_deadline_across_pages(make_app):
    app = make_app(LEDGER_PAGE_SIZE=3)
    client = app.test_client()
    with app.app_context():
        ensure_unit("aaa")
        today = date.today()
        plan = {"goal": "讨回工资", "task": "调解", "people": "张三", "deadline": today.isoformat(), "unit": "justice",
                "person": "李四"}
        made = {
            "a_late": make_order("S05", unit_code="aaa", deadline=today + timedelta(9), overdue=True),
            "a_soon": make_order("S05", unit_code="aaa", deadline=today + timedelta(1)),
            "a_none": make_order("S05", unit_code="aaa", deadline=None),
            "j_soon": make_order("S05", unit_code="justice", deadline=today + timedelta(2), state="in_progress",
                                 plan=plan),
            "j_late": make_order("S05", unit_code="justice", deadline=today - timedelta(3), overdue=True),
            "j_later": make_order("S05", unit_code="justice", deadline=today + timedelta(5)),
            "j_done": make_order("S05", unit_code="justice", state="completed", completed_at=at(today)),
        }
        login(client, make_user("dispatcher"))
        seen, url = [], "/ledgers/tasks"
        while url:
            page = client.get(url).get_data(as_text=True)
            seen += numbers(page, [o.number for o in made.values()])
            marker = page.find('">下一页</a>')
            url = page[page.rfind('href="', 0, marker) + 6:marker].replace("&amp;", "&") if marker > 0 else None
        names = {o.number: k for k, o in made.items()}
        assert [names[n] for n in seen] == ["a_late", "j_late", "a_soon", "j_soon", "j_later", "a_none"]
        page = client.get("/ledgers/tasks", query_string={"overdue": "1"}).get_data(as_text=True)
        assert numbers(page, [o.number for o in made.values()]) == [made["a_late"].number, made["j_late"].number]
        page = client.get("/ledgers/tasks", query_string={"view": "closed"}).get_data(as_text=True)
        assert made["j_done"].number in page and made["j_soon"].number not in page
        page = client.get("/ledgers/tasks", query_string={"unit": "justice"}).get_data(as_text=True)
        assert "讨回工资" in page and "李四" in page and made["a_late"].number not in page
        login(client, make_user("handler", unit_code="aaa"))
        page = client.get("/ledgers/tasks").get_data(as_text=True)
        assert set(numbers(page, [o.number for o in made.values()])) == \
            {made[k].number for k in ("a_late", "a_soon", "a_none")}


# --- 文字资料库 -------------------------------------------------------------------------------------

def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def xlsx_bytes() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
ALLOWED = {"通知.pdf": b"%PDF-1.7\n", "纪要.docx": docx_bytes(), "台账.xlsx": xlsx_bytes(), "现场.jpg": b"\xff\xd8\xff\xe0JFIF",
           "现场.png": PNG, "说明.txt": "群团服务站七有建设说明\n".encode("utf-8")}


def upload(client, name: str, content: bytes, **fields):
    data = {"title": fields.pop("title", name), "doc_type": "policy", "organization": "union", "tags": "就业、农民工",
            **fields, "file": (io.BytesIO(content), name)}
    return client.post("/ledgers/documents", data=data, content_type="multipart/form-data")


def test_allowed_types_are_kept_under_random_names_and_downloaded_by_their_names(app, client, ctx):
    login(client, make_user("org_admin", organization="union"))
    for name, content in ALLOWED.items():
        assert upload(client, name, content).status_code == 303, flashes(client)
    documents = db.session.scalars(select(Document).order_by(Document.id)).all()
    assert [d.original_name for d in documents] == list(ALLOWED)
    folder = Path(app.instance_path) / "documents"
    for document, content in zip(documents, ALLOWED.values()):
        stored = folder / document.stored_name
        assert stored.read_bytes() == content and document.original_name not in stored.name
        assert "static" not in str(stored)
        with client.get(f"/ledgers/documents/{document.id}/download") as response:
            assert response.data == content
            disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment") and "filename*=UTF-8''" in disposition
    with client.get(f"/ledgers/documents/{documents[0].id}/download") as response:
        assert "filename*=UTF-8''%E9%80%9A%E7%9F%A5.pdf" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("name, content, message", [
    ("程序.exe", b"MZ\x90\x00", "不支持这种文件类型"),
    ("没有扩展名", b"%PDF-1.4", "不支持这种文件类型"),
    ("伪装.pdf", PNG, "文件内容与扩展名“.pdf”不符"),
    ("伪装.png", b"%PDF-1.4", "文件内容与扩展名“.png”不符"),
    ("压缩包.docx", b"PK\x03\x04not really a zip", "不符"),
    ("表格.docx", xlsx_bytes(), "不符"),  # a zip, but a spreadsheet
    ("二进制.txt", b"abc\x00\x01\x02", "不符"),
    ("空.pdf", b"", "文件是空的"),
])
def test_refused_uploads_say_why_in_chinese_and_keep_nothing(app, client, ctx, name, content, message):
    login(client, make_user("org_admin", organization="union"))
    upload(client, name, content)
    assert message in flashes(client)
    assert db.session.scalar(select(func.count()).select_from(Document)) == 0
    folder = Path(app.instance_path) / "documents"
    assert not folder.exists() or not any(folder.iterdir())


def test_the_size_limit_comes_from_the_setting(make_app):
    # With CSRF on, as in production: the token check reads the whole body before the view runs, so
    # the document's own limit must already hold then.
    import re
    app = make_app(DOCUMENT_MAX_BYTES=1000, MAX_CONTENT_LENGTH=500, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        login(client, make_user("dispatcher"))
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ledgers/documents").get_data(as_text=True))
        assert token, "the upload form carries a CSRF token"
        over_app_limit = upload(client, "小.pdf", b"%PDF-" + b"x" * 900, csrf_token=token.group(1))
        assert over_app_limit.status_code == 303, flashes(client)  # over the app-wide limit: fine
        upload(client, "大.pdf", b"%PDF-" + b"x" * 1000, csrf_token=token.group(1))
        assert "文件不能超过" in flashes(client)
        assert db.session.scalar(select(func.count()).select_from(Document)) == 1


def test_documents_are_found_by_title_and_tag_and_deleted_by_their_uploader(client, ctx):
    uploader = make_user("station_staff")
    login(client, uploader)
    upload(client, "a.pdf", b"%PDF-", title="农民工欠薪政策汇编", tags="欠薪,政策")
    upload(client, "b.pdf", b"%PDF-", title="七有检查纪要", tags="七有", doc_type="minutes")
    upload(client, "c.pdf", b"%PDF-", title="100%_完成", tags="")
    upload(client, "d.pdf", b"%PDF-", title="标签太多", tags=" ".join(f"t{i}" for i in range(11)))
    assert "标签最多" in flashes(client)
    client.get("/ledgers/documents")  # shows (and so clears) the upload messages, which name titles

    def titles(**args) -> set[str]:
        page = client.get("/ledgers/documents", query_string=args).get_data(as_text=True)
        return {t for t in ("农民工欠薪政策汇编", "七有检查纪要", "100%_完成") if t in page}

    assert titles(q="欠薪") == {"农民工欠薪政策汇编"}
    assert titles(q="七有") == {"七有检查纪要"}
    assert titles(tag="政策") == {"农民工欠薪政策汇编"}
    assert titles(tag="政") == set()  # a tag matches whole
    assert titles(type="minutes") == {"七有检查纪要"}
    assert titles(q="%") == {"100%_完成"}  # LIKE wildcards are literal
    document = db.session.scalar(select(Document).where(Document.title == "七有检查纪要"))
    login(client, make_user("dispatcher"))
    client.post(f"/ledgers/documents/{document.id}/delete")
    assert "只有上传人或系统管理员" in flashes(client)
    login(client, uploader)
    client.post(f"/ledgers/documents/{document.id}/delete")
    assert db.session.get(Document, document.id) is None
