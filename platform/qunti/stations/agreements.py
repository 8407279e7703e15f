"""以空间换资源 / 以资源换资源: a station lends a social organization its space (or its client base)
and gets a service for its residents in return, free or at a discount, so many times per week,
month, quarter or year for the agreement's term. Station staff log the services actually delivered;
the station page sets them against what was promised so far.
"""
from __future__ import annotations

import calendar as months
from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from qunti.accounts.access import login_required_role
from qunti.db import db
from qunti.directory.models import Station
from qunti.orders.calendar import today
from qunti.stations import bp
from qunti.stations.access import EDIT_ROLES, VIEW_ROLES, may_edit, station_in_scope
from qunti.stations.models import EXCHANGES, FREQUENCIES, PRICING, Agreement, Delivery

EARLIEST = date(2000, 1, 1)
LONGEST_YEARS = 10
STEP_MONTHS = {"month": 1, "quarter": 3, "year": 12}
PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
STATUS_NAMES = {"upcoming": "未开始", "active": "履行中", "ended": "已到期"}


# -- fields that speak Chinese when the text cannot be read -----------------------------------------

class DayField(DateField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("日期格式不对，请按“年-月-日”填写，如 2026-03-01") from None


class CountField(IntegerField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("请填写整数") from None


class ChoiceField(SelectField):
    def __init__(self, label: str, names: dict[str, str], **kwargs):
        super().__init__(label, choices=[SelectChoice(code, name) for code, name in names.items()], **kwargs)

    def pre_validate(self, form):
        if self.data not in {choice.value for choice in self.choices}:
            raise ValidationError("请从列表中选择")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _day_in_range(field) -> None:
    if field.data is not None and field.data < EARLIEST:
        raise ValidationError(f"日期不能早于 {EARLIEST.isoformat()}")


class AgreementForm(FlaskForm):
    exchange = ChoiceField("交换方式", EXCHANGES)
    partner = StringField("社会组织", filters=[_strip], validators=[
        DataRequired("请填写社会组织名称"), Length(min=2, max=100, message="须为 2 到 100 个字")])
    partner_contact = StringField("联系人", filters=[_strip], validators=[Length(max=40, message="最多 40 个字")])
    partner_phone = StringField("联系电话", filters=[_strip],
                                validators=[Optional(), Regexp(PHONE, message="请填写手机号或带区号的座机号")])
    offered = TextAreaField("站点提供的场地或资源", filters=[_strip], validators=[
        DataRequired("请写明站点提供什么"), Length(max=500, message="最多 500 个字")],
        description="如：二楼活动室每周二、四下午免费使用；向园区职工推介服务")
    service = TextAreaField("对方提供的服务", filters=[_strip], validators=[
        DataRequired("请写明对方提供什么服务"), Length(max=500, message="最多 500 个字")],
        description="如：为职工提供劳动法律咨询")
    pricing = ChoiceField("收费方式", PRICING)
    # Not Optional(): that would stop the chain before validate_pricing_note asks for it.
    pricing_note = StringField("优惠说明", filters=[_strip], validators=[Length(max=100, message="最多 100 个字")],
                               description="优惠的写明折扣或价格，如：市场价五折")
    starts_on = DayField("开始日期", validators=[InputRequired("请填写开始日期")])
    ends_on = DayField("结束日期", validators=[InputRequired("请填写结束日期")])
    promised_count = CountField("承诺服务次数", validators=[InputRequired("请填写承诺服务次数"),
                                                      NumberRange(min=1, max=1000, message="须在 1 到 1000 之间")])
    frequency = ChoiceField("频次", FREQUENCIES,
                            description="“每月 4 次”即频次选每月、次数填 4")
    note = TextAreaField("其他条款", filters=[_strip], validators=[Length(max=1000, message="最多 1000 个字")])

    def validate_starts_on(self, field):
        _day_in_range(field)

    def validate_ends_on(self, field):
        _day_in_range(field)
        start = self.starts_on.data
        if start is None or field.data is None:
            return
        if field.data < start:
            raise ValidationError("结束日期不能早于开始日期")
        if field.data > _add_months(start, 12 * LONGEST_YEARS):
            raise ValidationError(f"协议期最长 {LONGEST_YEARS} 年")

    def validate_pricing_note(self, field):
        if self.pricing.data == "discount" and not (field.data or "").strip():
            raise ValidationError("优惠的请写明折扣或价格")


class DeliveryForm(FlaskForm):
    delivered_on = DayField("服务日期", validators=[InputRequired("请填写服务日期")])
    sessions = CountField("服务次数", validators=[InputRequired("请填写服务次数"),
                                              NumberRange(min=1, max=1000, message="须在 1 到 1000 之间")])
    people = CountField("服务人数", validators=[Optional(), NumberRange(min=0, max=100000, message="须在 0 到 100000 之间")])
    description = StringField("服务内容", filters=[_strip], validators=[
        DataRequired("请写明提供了什么服务"), Length(max=300, message="最多 300 个字")])


# -- what was promised, what was delivered -------------------------------------------------------

def _add_months(day: date, count: int) -> date:
    year, month = divmod(day.month - 1 + count, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, months.monthrange(year, month)[1]))


def periods_started(start: date, last: date, frequency: str) -> int:
    """How many periods of ``frequency`` begin between ``start`` and ``last`` (both included)."""
    if last < start:
        return 0
    if frequency == "week":
        return (last - start).days // 7 + 1
    step = STEP_MONTHS.get(frequency)
    if step is None:  # "term": one promise for the whole agreement
        return 1
    count = ((last.year - start.year) * 12 + last.month - start.month) // step
    if _add_months(start, count * step) > last:
        count -= 1
    return count + 1


@dataclass(frozen=True)
class Progress:
    """An agreement's promise against what was delivered, as of one day."""

    status: str               # upcoming, active, ended
    promised_total: int       # over the whole term
    promised_to_date: int     # for the periods begun so far
    delivered: int            # services logged
    people: int               # residents served

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]

    @property
    def behind(self) -> int:
        """Services owed so far (0 when on track)."""
        return max(self.promised_to_date - self.delivered, 0)

    @property
    def share(self) -> float | None:
        return min(self.delivered / self.promised_to_date, 1.0) if self.promised_to_date else None


def progress(agreement: Agreement, delivered: int, people: int, as_of: date) -> Progress:
    status = "upcoming" if as_of < agreement.starts_on else "ended" if as_of > agreement.ends_on else "active"
    per = agreement.promised_count
    total = per * periods_started(agreement.starts_on, agreement.ends_on, agreement.frequency)
    so_far = per * periods_started(agreement.starts_on, min(as_of, agreement.ends_on), agreement.frequency)
    return Progress(status, total, so_far, delivered, people)


def station_agreements(station_code: str, as_of: date | None = None) -> list[tuple[Agreement, Progress]]:
    """The station's agreements, newest first, each with its progress (one grouped query for the sums)."""
    as_of = as_of or today()
    agreements = list(db.session.scalars(select(Agreement).where(Agreement.station_code == station_code)
                                         .order_by(Agreement.id.desc())))
    sums = {row.agreement_id: row for row in db.session.execute(
        select(Delivery.agreement_id, func.sum(Delivery.sessions).label("sessions"),
               func.sum(Delivery.people).label("people"))
        .where(Delivery.agreement_id.in_([a.id for a in agreements])).group_by(Delivery.agreement_id))} \
        if agreements else {}
    return [(a, progress(a, int(sums[a.id].sessions or 0) if a.id in sums else 0,
                         int(sums[a.id].people or 0) if a.id in sums else 0, as_of)) for a in agreements]


def add_agreement(station: Station, data: dict, user=None) -> Agreement:
    """Keep an agreement of ``station`` from checked ``data`` (AgreementForm's fields); caller commits."""
    agreement = Agreement(
        station_code=station.code, exchange=data["exchange"], partner=data["partner"].strip(),
        partner_contact=(data.get("partner_contact") or "").strip(), partner_phone=(data.get("partner_phone") or "").strip(),
        offered=data["offered"].strip(), service=data["service"].strip(), pricing=data["pricing"],
        pricing_note=(data.get("pricing_note") or "").strip(), starts_on=data["starts_on"], ends_on=data["ends_on"],
        promised_count=data["promised_count"], frequency=data["frequency"], note=(data.get("note") or "").strip(),
        created_by_user_id=getattr(user, "id", None), created_by=user.signature if user is not None else "演示数据")
    db.session.add(agreement)
    db.session.flush()
    return agreement


def add_delivery(agreement: Agreement, data: dict, user=None) -> Delivery:
    """Log services delivered under ``agreement`` from checked ``data``; caller commits."""
    delivery = Delivery(agreement_id=agreement.id, delivered_on=data["delivered_on"], sessions=data["sessions"],
                        people=data.get("people") or 0, description=data["description"].strip(),
                        recorded_by_user_id=getattr(user, "id", None),
                        recorded_by=user.signature if user is not None else "演示数据")
    db.session.add(delivery)
    db.session.flush()
    return delivery


def delivery_problem(agreement: Agreement, day: date) -> str | None:
    if day > today():
        return "服务日期不能晚于今天"
    if not agreement.starts_on <= day <= agreement.ends_on:
        return f"服务日期须在协议期内（{agreement.starts_on.isoformat()} 至 {agreement.ends_on.isoformat()}）"
    return None


# -- pages --------------------------------------------------------------------------------------

@bp.route("/<code>/agreements/new", methods=["GET", "POST"])
@login_required_role(*EDIT_ROLES)
def new_agreement(code: str):
    station = station_in_scope(code, current_user)
    form = AgreementForm()
    if not form.is_submitted():
        form.starts_on.data = today()
        form.ends_on.data = _add_months(today(), 12) - timedelta(days=1)
        return render_template("stations/agreement_form.html", station=station, form=form)
    if not form.validate():
        return render_template("stations/agreement_form.html", station=station, form=form), 422
    agreement = add_agreement(station, form.data, current_user)
    db.session.commit()
    flash(f"已登记与“{agreement.partner}”的{agreement.exchange_name}协议。", "success")
    return redirect(url_for(".agreement", code=station.code, agreement_id=agreement.id), code=303)


def _agreement_or_404(station: Station, agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or agreement.station_code != station.code:
        abort(404)
    return agreement


def _agreement_page(station: Station, agreement: Agreement, form: DeliveryForm, status: int = 200):
    done = sum(d.sessions for d in agreement.deliveries)
    served = sum(d.people for d in agreement.deliveries)
    return render_template("stations/agreement.html", station=station, agreement=agreement, form=form,
                           progress=progress(agreement, done, served, today()),
                           can_edit=may_edit(current_user)), status


@bp.get("/<code>/agreements/<int:agreement_id>")
@login_required_role(*VIEW_ROLES)
def agreement(code: str, agreement_id: int):
    station = station_in_scope(code, current_user)
    found = _agreement_or_404(station, agreement_id)
    form = DeliveryForm()
    form.delivered_on.data = min(today(), found.ends_on)
    form.sessions.data = 1
    return _agreement_page(station, found, form)


@bp.post("/<code>/agreements/<int:agreement_id>/deliveries")
@login_required_role(*EDIT_ROLES)
def record_delivery(code: str, agreement_id: int):
    station = station_in_scope(code, current_user)
    found = _agreement_or_404(station, agreement_id)
    form = DeliveryForm()
    if not form.validate():
        return _agreement_page(station, found, form, 422)
    problem = delivery_problem(found, form.delivered_on.data)
    if problem:
        form.delivered_on.errors = [problem]
        return _agreement_page(station, found, form, 422)
    delivery = add_delivery(found, form.data, current_user)
    db.session.commit()
    flash(f"已记录 {delivery.delivered_on.isoformat()} 的服务 {delivery.sessions} 次。", "success")
    return redirect(url_for(".agreement", code=station.code, agreement_id=found.id), code=303)
