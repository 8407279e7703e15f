"""The evaluation report: figures recomputed by hand from raw rows, the page, the SVG charts and the
CSV and XLSX downloads."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from qunti.charts import bar_chart
from qunti.db import db
from qunti.orders.models import Rating
from qunti.reports import evaluation, export
from qunti.reports.evaluation import OrderRow, RatingRow

from users import ensure_unit, login, make_order, make_user

ZONE = ZoneInfo("Asia/Shanghai")
START, END, AS_OF = date(2026, 10, 1), date(2026, 10, 31), date(2026, 11, 10)


def at(day: date, hour: int = 10) -> datetime:
    """A stored (UTC) moment that is ``hour`` o'clock on ``day`` in Chongqing."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).astimezone(timezone.utc)


def row(id, **kw) -> OrderRow:
    values = dict(organization="union", station_code=None, unit_code="justice", channel="online", round=1,
                  created_at=at(date(2026, 10, 5)))
    values.update(kw)
    return OrderRow(id=id, **values)


# --- pure figures --------------------------------------------------------------------------------

def test_response_counts_acceptance_on_or_before_accept_by_in_local_time():
    d = date(2026, 10, 8)
    rows = [
        row(1, accept_by=d, accepted_at=at(d, 23)),              # 23:00 local on the day: in time
        row(2, accept_by=d, accepted_at=at(d + timedelta(1), 7)),  # next morning: late
        row(3, accept_by=d),                                      # never accepted, past accept_by: late
        row(4, accept_by=AS_OF + timedelta(2)),                   # still inside its time: not judged
        row(5),                                                   # never dispatched: not judged
    ]
    total = evaluation.evaluate(rows, [], start=START, end=END, as_of=AS_OF, zone=ZONE)["total"][0]
    assert (total.orders, total.response_due, total.responded) == (5, 3, 1)
    assert total.response_rate == pytest.approx(1 / 3)


def test_on_time_completion_and_pending_orders():
    d = date(2026, 10, 20)
    rows = [row(1, deadline=d, completed_at=at(d)), row(2, deadline=d, completed_at=at(d + timedelta(1))),
            row(3, deadline=d), row(4, deadline=AS_OF)]  # 4: due today, not late yet
    total = evaluation.evaluate(rows, [], start=START, end=END, as_of=AS_OF, zone=ZONE)["total"][0]
    assert (total.completion_due, total.completed_on_time) == (3, 1)


def test_after_a_redo_only_the_round_two_rating_counts():
    rows = [row(1, round=2), row(2, round=2), row(3), row(4)]
    ratings = [RatingRow(1, 1, 1), RatingRow(1, 2, 5),   # redone and rated 5 the second time
               RatingRow(2, 1, 2),                       # redone, round 2 not rated yet: unrated
               RatingRow(3, 1, 4), RatingRow(4, 1, 3)]
    total = evaluation.evaluate(rows, ratings, start=START, end=END, as_of=AS_OF, zone=ZONE)["total"][0]
    assert (total.rated, total.satisfied, total.rating_sum) == (3, 2, 12)
    assert total.satisfaction_rate == pytest.approx(2 / 3)
    assert total.average_rating == 4.0


def test_period_uses_local_dates_and_includes_both_ends():
    rows = [row(1, created_at=at(START, 0)),                    # 00:00 local on the first day (16:00 UTC the day before)
            row(2, created_at=at(END, 23)),                     # last day, late evening
            row(3, created_at=at(START - timedelta(1), 23)),    # the evening before
            row(4, created_at=at(END + timedelta(1), 0))]
    result = evaluation.evaluate(rows, [], start=START, end=END, as_of=AS_OF, zone=ZONE)
    assert result["total"][0].orders == 2


def test_groups_per_organization_station_and_unit_with_channel_counts():
    rows = [row(1, organization="union", station_code="gangcheng", unit_code="justice", channel="station"),
            row(2, organization="union", station_code=None, unit_code="justice", channel="online"),
            row(3, organization="women", station_code="heyun", unit_code=None, channel="phone")]
    result = evaluation.evaluate(rows, [RatingRow(3, 1, 5)], start=START, end=END, as_of=AS_OF, zone=ZONE)
    by_org = {f.key: f for f in result["organization"]}
    assert by_org["union"].orders == 2 and by_org["women"].satisfaction_rate == 1.0
    assert {f.key: f.orders for f in result["station"]} == {"": 1, "gangcheng": 1, "heyun": 1}
    assert {f.key: f.orders for f in result["unit"]} == {"": 1, "justice": 2}
    assert dict(result["total"][0].channels) == {"station": 1, "online": 1, "phone": 1}
    assert by_org["union"].satisfaction_rate is None  # nothing rated: no rate, not 0%


def test_bar_chart_escapes_labels_and_draws_no_script():
    svg = str(bar_chart([("<script>alert(1)</script>", 0.5), ("空", None)], title="满意率 & <b>", percent=True))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "&lt;b&gt;" in svg and "50%" in svg and "—" in svg
    assert svg.startswith("<svg") and svg.endswith("</svg>")


def test_csv_cells_never_start_a_formula():
    data = export.to_csv(["维度", "名称"], [["办单单位", "=HYPERLINK(\"http://x\")"]]).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(data)))[1][1].startswith("'=")


# --- through the database and the pages -------------------------------------------------------

# The period of the page tests: the 40 days up to today, so every time limit in it has run out.
PERIOD_START = date.today() - timedelta(days=40)
BASE = PERIOD_START + timedelta(days=2)


@pytest.fixture
def rated_orders(ctx):
    """Six orders inside the period with known outcomes, and one created the day before it."""
    ensure_unit("women", kind="organization")
    ensure_unit("tongxin-legal-aid", kind="social")
    d = BASE + timedelta(days=2)
    specs = [
        # item, unit, station, channel, accepted in time?, completed in time?, ratings
        ("S05", "justice", "gangcheng", "station", True, True, [(1, 5)]),
        ("S05", "justice", None, "online", False, True, [(1, 4)]),
        ("S05", "tongxin-legal-aid", "gangcheng", "phone", True, False, [(1, 1), (2, 4)]),
        ("S10", "women", "heyun", "station", True, True, [(1, 2)]),
        ("S10", "women", None, "qr", None, None, []),
        ("S12", "justice", None, "online", True, True, [(1, 3)]),
    ]
    orders = []
    for item, unit, station, channel, accepted, completed, ratings in specs:
        fields = dict(channel=channel, station_code=station, accept_by=d, deadline=d + timedelta(10),
                      created_at=at(BASE), round=max([r for r, _ in ratings] + [1]))
        if accepted is not None:
            fields["accepted_at"] = at(d if accepted else d + timedelta(2))
        if completed is not None:
            fields["completed_at"] = at(d + timedelta(10 if completed else 12))
        order = make_order(item, unit_code=unit, state="rated" if ratings else "dispatched", **fields)
        for round_, level in ratings:
            db.session.add(Rating(order_id=order.id, round=round_, level=level))
        orders.append(order)
    make_order("S05", unit_code="justice", created_at=at(PERIOD_START - timedelta(days=1), 23), channel="online")
    db.session.commit()
    return orders


def _get(client, path, **params):
    return client.get(path, query_string={"from": PERIOD_START.isoformat(), "to": date.today().isoformat(),
                                          **params})


def test_report_page_shows_the_recomputed_figures(client, ctx, rated_orders):
    login(client, make_user("sys_admin"))
    page = _get(client, "/staff/reports").get_data(as_text=True)
    # 6 orders, all past their limits: accepted in time 4 of 6 (one late, one never); completed in
    # time 4 of 6 (one late, one never); satisfied 5, 4, 4 (round 2; round 1 was 1), 2, 3 → 3 of 5.
    assert "订单 6 件" in page
    assert "响应率 66.7%" in page and "按时办结率 66.7%" in page and "满意率 60.0%" in page
    assert "平均评分 3.6" in page
    assert page.count("<svg") == 9  # three charts for each of the three dimensions


def test_csv_matches_figures_recomputed_from_rows(client, ctx, rated_orders):
    login(client, make_user("dispatcher"))
    response = _get(client, "/staff/reports.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    head, body = lines[0], {(r[0], r[1]): dict(zip(lines[0], r)) for r in lines[1:]}
    assert head[:8] == ["维度", "名称", "订单数", "响应率", "按时办结率", "满意率", "评价数", "平均评分"]
    unit = body[("办单单位", "江北区司法局")]
    # justice: orders 1, 2, 6 → responded 2/3, on time 3/3, satisfied (5, 4, 3) 2/3, average 4.
    assert unit["订单数"] == "3" and unit["响应率"] == "66.7%" and unit["按时办结率"] == "100.0%"
    assert unit["满意率"] == "66.7%" and unit["平均评分"] == "4.0"
    station = body[("服务站", "gangcheng服务站")]
    assert station["订单数"] == "2" and station["站点代办（件）"] == "1" and station["电话（件）"] == "1"
    total = body[("合计", "全部")]
    assert total["订单数"] == "6" and total["满意率"] == "60.0%"


def test_xlsx_holds_numbers_with_percent_format(client, ctx, rated_orders):
    login(client, make_user("sys_admin"))
    response = _get(client, "/staff/reports.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    head = list(rows[0])
    total = dict(zip(head, next(r for r in rows if r[0] == "合计")))
    assert total["订单数"] == 6 and total["满意率"] == pytest.approx(0.6) and total["平均评分"] == 3.6
    rate_cell = next(c for c in sheet[sheet.max_row] if c.column == head.index("满意率") + 1)
    assert rate_cell.number_format == "0.0%"


def test_org_admin_report_covers_only_their_organization(client, ctx, rated_orders):
    login(client, make_user("org_admin", organization="women"))
    lines = list(csv.reader(io.StringIO(_get(client, "/staff/reports.csv").get_data().decode("utf-8-sig"))))
    total = dict(zip(lines[0], next(r for r in lines if r[0] == "合计")))
    # S10 orders (women's items) plus the joint ones (none here); S05 and S12 belong to others.
    assert total["订单数"] == "2"


def test_bad_dates_fall_back_to_this_month(client, ctx):
    login(client, make_user("sys_admin"))
    response = client.get("/staff/reports", query_string={"from": "not-a-date"})
    assert response.status_code == 200
    assert "日期格式不对" in response.get_data(as_text=True)


def test_unit_names_are_escaped_in_table_and_charts(client, ctx):
    ensure_unit("evil", name="<script>x</script>单位")
    make_order("S05", unit_code="evil")
    login(client, make_user("sys_admin"))
    page = client.get("/staff/reports").get_data(as_text=True)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;单位" in page
