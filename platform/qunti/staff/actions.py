"""Staff actions on one order: a small form per action, posted with CSRF and the order's
``lock_version`` as ``expected_version``, handed to :func:`qunti.orders.transitions.perform`.

A refused action (wrong state, no right, somebody else changed the order first, bad input) becomes
a flash message in Chinese and leaves the order as it was; it is never a server error.
"""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from qunti.accounts.access import ORDER_ROLES, login_required_role, scope_orders, scoped_order
from qunti.accounts.auth import safe_next
from qunti.accounts.models import User
from qunti.db import db
from qunti.orders import followups
from qunti.orders.models import Order
from qunti.orders.transitions import CLASS_OF_KIND, TRANSITIONS, Actor, InvalidInput, Transition, \
    TransitionError, allowed_actions, perform, staff_actor
from qunti.rules.ruleset import CLASS_NAMES, KIND_NAMES, ROUTE_UNIT_KINDS
from qunti.plugins import plugin_name
from qunti.staff import bp
from qunti.staff.present import active_units, state_labels, suggestion_view

CONFLICT = "该订单刚刚被其他人修改，请刷新后再操作。"
# Units an order can be dispatched or transferred to; the district takes orders only through 报民生实事.
HANDLING_KINDS = frozenset(kind for route_class, kinds in ROUTE_UNIT_KINDS.items()
                           if route_class not in (None, "escalate") for kind in kinds)


def queue_states() -> list[str]:
    """States whose orders wait for the joint meeting: the sources of ``confirm``."""
    return sorted(TRANSITIONS["confirm"].sources)


def actor_for(user: User) -> Actor:
    """Staff pages act as the signed-in staff member (residents act on their own pages)."""
    return staff_actor(user)


def unit_choices(kinds: frozenset[str] | None = None, *, leave_out: str | None = None) -> list[SelectChoice]:
    """Active units that can hold an order, grouped by kind (rendered as <optgroup>s)."""
    order = list(KIND_NAMES)
    chosen = [u for u in active_units() if u.kind != "meeting" and u.code != leave_out
              and (kinds is None or u.kind in kinds)]
    chosen.sort(key=lambda u: (order.index(u.kind) if u.kind in order else len(order), u.code))
    return [SelectChoice(u.code, u.name, optgroup=KIND_NAMES.get(u.kind, u.kind)) for u in chosen]


class ActionForm(FlaskForm):
    """An action without parameters; every action form carries the version the page showed."""

    expected_version = IntegerField(widget=HiddenInput(), validators=[InputRequired("页面已过期，请刷新后重试")])
    next = HiddenField()

    def setup(self, order: Order) -> None:
        if self.expected_version.data is None:
            self.expected_version.data = order.lock_version

    def params(self) -> dict[str, Any]:
        return {}


class ReasonForm(ActionForm):
    reason = TextAreaField("理由", validators=[DataRequired("请填写理由"), Length(max=500, message="理由最多 500 字")],
                           render_kw={"rows": 2})

    def params(self) -> dict[str, Any]:
        return {"reason": self.reason.data.strip()}


class OverrideForm(ReasonForm):
    unit_code = SelectField("改派给", validators=[DataRequired("请选择办单单位")])
    route_class = SelectField("派单方式", validators=[Optional()], choices=[SelectChoice("", "按单位类型确定")] + [
        SelectChoice(code, name) for code, name in CLASS_NAMES.items() if code and code != "escalate"])

    def setup(self, order: Order) -> None:
        super().setup(order)
        self.unit_code.choices = unit_choices(HANDLING_KINDS)

    def params(self) -> dict[str, Any]:
        unit = self.unit_code.data
        kind = next((u.kind for u in active_units() if u.code == unit), None)
        return {**super().params(), "unit_code": unit,
                "route_class": self.route_class.data or CLASS_OF_KIND.get(kind)}


class TransferForm(ReasonForm):
    unit_code = SelectField("转给", validators=[DataRequired("请选择办单单位")])

    def setup(self, order: Order) -> None:
        super().setup(order)
        self.unit_code.choices = unit_choices(HANDLING_KINDS, leave_out=order.unit_code)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "unit_code": self.unit_code.data}


class ExtendForm(ReasonForm):
    days = IntegerField("延长工作日数", default=5, validators=[
        InputRequired("请填写延长天数"), NumberRange(1, 30, message="延长 1 到 30 个工作日")])

    def params(self) -> dict[str, Any]:
        return {**super().params(), "days": self.days.data}


class PlanForm(ActionForm):
    """五定: 定目标、定任务、定人员、定时限、定责任."""

    goal = TextAreaField("定目标", validators=[DataRequired("请填写目标"), Length(max=500)], render_kw={"rows": 2})
    task = TextAreaField("定任务", validators=[DataRequired("请填写任务"), Length(max=1000)], render_kw={"rows": 3})
    people = StringField("定人员", validators=[DataRequired("请填写参与人员"), Length(max=200)])
    deadline = DateField("定时限（办结日期）", validators=[DataRequired("请选择办结日期")])
    unit = SelectField("责任单位", validators=[DataRequired("请选择责任单位")])
    person = StringField("责任人", validators=[DataRequired("请填写责任人"), Length(max=60)])

    def setup(self, order: Order) -> None:
        super().setup(order)
        self.unit.choices = unit_choices()
        plan = order.plan or {}
        if not self.is_submitted():
            for name in ("goal", "task", "people", "person"):
                getattr(self, name).data = getattr(self, name).data or plan.get(name)
            self.unit.data = self.unit.data or plan.get("unit") or order.unit_code
            if self.deadline.data is None:
                self.deadline.data = order.deadline

    def params(self) -> dict[str, Any]:
        return {"plan": {"goal": self.goal.data.strip(), "task": self.task.data.strip(),
                         "people": self.people.data.strip(), "deadline": self.deadline.data.isoformat(),
                         "unit": self.unit.data, "person": self.person.data.strip()}}


class CompleteForm(ActionForm):
    result_note = TextAreaField("办理结果", validators=[DataRequired("请填写办理结果"), Length(max=2000)],
                                render_kw={"rows": 3})
    # Type, size and content are checked once, by the order engine.
    attachment = FileField("附件（可选，PDF、JPG、PNG 或 DOCX）")

    def params(self) -> dict[str, Any]:
        upload = self.attachment.data
        return {"result_note": self.result_note.data.strip(),
                "attachment": upload if upload is not None and getattr(upload, "filename", "") else None}


# 报民生实事 takes a reason here although the engine does not insist: proposing a 民生实事 to the
# district is a decision the joint meeting must explain.
FORMS: dict[str, type[ActionForm]] = {
    "override": OverrideForm, "escalate": ReasonForm, "return": ReasonForm, "transfer": TransferForm,
    "extend": ExtendForm, "plan": PlanForm, "complete": CompleteForm,
}


def form_class(transition: Transition) -> type[ActionForm]:
    return FORMS.get(transition.action) or (ReasonForm if transition.needs_reason else ActionForm)


def build_form(transition: Transition, order: Order, *, bound: bool) -> ActionForm:
    form = form_class(transition)() if bound else form_class(transition)(formdata=None)
    form.setup(order)
    return form


def action_forms(order: Order, actor: Actor, *,
                 failed: tuple[str, ActionForm] | None = None) -> list[tuple[Transition, ActionForm]]:
    """(transition, form) for each action ``actor`` may take on ``order`` now."""
    forms = []
    for transition in allowed_actions(order, actor):
        if failed is not None and failed[0] == transition.action:
            forms.append((transition, failed[1]))
        else:
            forms.append((transition, build_form(transition, order, bound=False)))
    return forms


def order_page(order: Order, *, failed: tuple[str, ActionForm] | None = None, status: int = 200):
    """The order detail page with a form for each action the user may take now; ``failed`` is
    (action, bound form) that did not go through, shown with its errors instead of a blank form."""
    forms = action_forms(order, actor_for(current_user), failed=failed)
    return render_template("staff/order.html", order=order, forms=forms, labels=state_labels(),
                           suggestion=suggestion_view(order.suggestion), followups=followups.for_order(order.id),
                           plugin_name=plugin_name,
                           action_labels={a: t.label for a, t in TRANSITIONS.items()}), status


def _still_visible(order_id: int) -> bool:
    return db.session.scalar(scope_orders(select(Order.id).where(Order.id == order_id), current_user)) is not None


@bp.post("/orders/<int:order_id>/do/<action>")
@login_required_role(*ORDER_ROLES)
def act(order_id: int, action: str):
    order = scoped_order(order_id, current_user)
    transition = TRANSITIONS.get(action)
    if transition is None or transition.effect is None:
        abort(404)
    form = build_form(transition, order, bound=True)
    back = safe_next(form.next.data) or url_for(".order", order_id=order_id)
    if not form.validate_on_submit():
        if getattr(form, "csrf_token", None) is not None and form.csrf_token.errors:
            flash("页面已过期，请刷新后重新提交。", "error")
            return redirect(back, code=303)
        flash(f"“{transition.label}”未提交：请按提示修改。", "error")
        return order_page(order, failed=(action, form), status=422)
    try:
        perform(order, action, actor_for(current_user), expected_version=form.expected_version.data,
                **form.params())
    except InvalidInput as exc:
        # The person can fix this: show the page again with what they typed.
        db.session.rollback()
        flash(exc.message, "error")
        return order_page(scoped_order(order_id, current_user), failed=(action, form), status=422)
    except TransitionError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back, code=303)
    except StaleDataError:
        db.session.rollback()
        flash(CONFLICT, "error")
        return redirect(back, code=303)
    flash(f"已{transition.label}：{order.number}", "success")
    if back == url_for(".order", order_id=order_id) and not _still_visible(order_id):
        back = url_for(".orders")
    return redirect(back, code=303)
