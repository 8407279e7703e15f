"""问题清单库: the joint meeting groups related demands into a problem, tracks it, and proposes it
to the district as 民生实事 with the evidence (the linked orders, a note, an optional file)."""
from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from qunti.accounts.access import REPORT_ROLES, login_required_role, scope_orders
from qunti.db import db, utcnow
from qunti.ledgers import bp, keyset, uploads
from qunti.ledgers.models import PROBLEM_STATUSES, Problem, ProblemOrder
from qunti.orders.models import Order
from qunti.staff.present import state_labels

# Who groups demands and proposes 民生实事: the joint meeting (and the system admin).
MANAGE_ROLES = ("dispatcher", "sys_admin")
EVIDENCE_FOLDER = "problem-evidence"
_NUMBERS = re.compile(r"[A-Za-z0-9]+")


def problem_summary(problem: Problem) -> dict[str, Any]:
    return {"id": problem.id, "title": problem.title, "status": problem.status, "statusName": problem.status_name}


def problem_for_order(order_id: int) -> dict[str, Any] | None:
    """The problem an order is grouped into (for the order's staff page and JSON), or None."""
    problem = db.session.scalar(select(Problem).join(ProblemOrder, ProblemOrder.problem_id == Problem.id)
                                .where(ProblemOrder.order_id == order_id))
    return problem_summary(problem) if problem is not None else None


@bp.app_template_global("order_problem")
def order_problem(order_id: int) -> dict[str, Any] | None:
    """For templates (``ledgers/_order_problem.html``): the problem an order is grouped into."""
    return problem_for_order(order_id)


def _problem_or_404(problem_id: int) -> Problem:
    problem = db.session.get(Problem, problem_id)
    if problem is None:
        abort(404)
    return problem


def _text(name: str, label: str, limit: int, *, required: bool) -> str | None:
    value = (request.form.get(name) or "").strip()
    if not value and required:
        flash(f"请填写{label}。", "error")
        return None
    if len(value) > limit:
        flash(f"{label}不能超过 {limit} 个字。", "error")
        return None
    return value


def problem_page(status: str, cursor: str | None, size: int) -> keyset.Page:
    """Problems (of ``status``, or all), newest first, each with how many demands it groups."""
    linked = (select(func.count()).select_from(ProblemOrder).where(ProblemOrder.problem_id == Problem.id)
              .correlate(Problem).scalar_subquery())
    query = select(Problem, linked.label("n"), Problem.created_at, Problem.id)
    if status in PROBLEM_STATUSES:
        query = query.where(Problem.status == status)
    return keyset.page(db.session, query, (Problem.created_at, Problem.id), cursor, size, descending=True,
                       key_of=lambda row: (row.created_at, row.id))


@bp.get("/problems")
@login_required_role(*REPORT_ROLES)
def problems():
    status = request.args.get("status", "")
    status = status if status in PROBLEM_STATUSES else ""
    result = problem_page(status, request.args.get("after"), current_app.config["LEDGER_PAGE_SIZE"])
    return render_template("ledgers/problems.html", rows=result.rows, next_cursor=result.next_cursor,
                           status=status, statuses=PROBLEM_STATUSES, can_manage=current_user.role in MANAGE_ROLES,
                           first_page=not request.args.get("after"))


@bp.post("/problems")
@login_required_role(*MANAGE_ROLES)
def create_problem():
    title = _text("title", "问题标题", 100, required=True)
    description = _text("description", "问题描述", 4000, required=False)
    if title is None or description is None:
        return redirect(url_for(".problems"), code=303)
    problem = Problem(title=title, description=description, created_by_user_id=current_user.id,
                      created_by=current_user.signature)
    db.session.add(problem)
    db.session.commit()
    flash("已建立问题，可以把相关需求归入其中。", "success")
    return redirect(url_for(".problem", problem_id=problem.id), code=303)


def _visible_links(problem: Problem) -> tuple[list[Order], int]:
    """The linked orders this user may see, and how many are linked in all."""
    ids = select(ProblemOrder.order_id).where(ProblemOrder.problem_id == problem.id)
    orders = db.session.scalars(scope_orders(select(Order).where(Order.id.in_(ids)), current_user)
                                .order_by(Order.created_at)).all()
    total = db.session.scalar(select(func.count()).select_from(ProblemOrder).where(
        ProblemOrder.problem_id == problem.id))
    return list(orders), total


@bp.get("/problems/<int:problem_id>")
@login_required_role(*REPORT_ROLES)
def problem(problem_id: int):
    problem = _problem_or_404(problem_id)
    orders, total = _visible_links(problem)
    return render_template("ledgers/problem.html", problem=problem, orders=orders, total=total,
                           labels=state_labels(), can_manage=current_user.role in MANAGE_ROLES,
                           allowed_types=uploads.ALLOWED_TEXT)


def _orders_to_link(problem: Problem) -> tuple[list[Order], list[str]]:
    """Orders named in the form (ids from the ledger's check boxes, or tracking numbers typed one a
    line) that this user may see, and the numbers that were not found."""
    ids = [int(v) for v in request.form.getlist("order") if v.isdigit()]
    numbers = [n.upper() for n in _NUMBERS.findall(request.form.get("numbers", ""))][:500]
    found: list[Order] = []
    if ids:
        found += db.session.scalars(scope_orders(select(Order).where(Order.id.in_(ids)), current_user)).all()
    if numbers:
        found += db.session.scalars(scope_orders(select(Order).where(Order.number.in_(numbers)), current_user)).all()
    missing = sorted(set(numbers) - {o.number for o in found})
    return list({o.id: o for o in found}.values()), missing


def _link(problem: Problem):
    """Link the orders named in the form to ``problem``; flashes what happened, returns to it."""
    back = url_for(".problem", problem_id=problem.id)
    if problem.status == "closed":
        flash("问题已关闭，不能再归入需求；请先重新打开。", "error")
        return redirect(back, code=303)
    orders, missing = _orders_to_link(problem)
    existing = dict(db.session.execute(select(ProblemOrder.order_id, ProblemOrder.problem_id).where(
        ProblemOrder.order_id.in_([o.id for o in orders]))).all()) if orders else {}
    added, elsewhere = 0, []
    for order in orders:
        if order.id in existing:
            if existing[order.id] != problem.id:
                elsewhere.append(order.number)
            continue
        db.session.add(ProblemOrder(order_id=order.id, problem_id=problem.id, linked_by=current_user.signature))
        added += 1
    problem.updated_at = utcnow()
    db.session.commit()
    if added:
        flash(f"已归入 {added} 件需求。", "success")
    if elsewhere:
        flash(f"这些订单已归入其他问题，未重复归入：{'、'.join(elsewhere)}。", "error")
    if missing:
        flash(f"没有找到这些受理编号（或不在您的范围内）：{'、'.join(missing)}。", "error")
    if not (added or elsewhere or missing):
        flash("没有选中需求。", "error")
    return redirect(back, code=303)


@bp.post("/problems/<int:problem_id>/orders")
@login_required_role(*MANAGE_ROLES)
def link_orders(problem_id: int):
    return _link(_problem_or_404(problem_id))


@bp.post("/problems/link")
@login_required_role(*MANAGE_ROLES)
def link_from_ledger():
    """The demand ledger's check boxes: the chosen orders into the chosen problem."""
    problem_id = request.form.get("problem_id", "")
    return _link(_problem_or_404(int(problem_id) if problem_id.isdigit() else 0))


@bp.post("/problems/<int:problem_id>/orders/<int:order_id>/remove")
@login_required_role(*MANAGE_ROLES)
def unlink_order(problem_id: int, order_id: int):
    problem = _problem_or_404(problem_id)
    link = db.session.get(ProblemOrder, order_id)
    if link is None or link.problem_id != problem.id:
        abort(404)
    db.session.delete(link)
    problem.updated_at = utcnow()
    db.session.commit()
    flash("已从问题中移出该需求。", "success")
    return redirect(url_for(".problem", problem_id=problem.id), code=303)


@bp.post("/problems/<int:problem_id>/propose")
@login_required_role(*MANAGE_ROLES)
@uploads.large_body("DOCUMENT_MAX_BYTES")
def propose(problem_id: int):
    problem = _problem_or_404(problem_id)
    back = url_for(".problem", problem_id=problem.id)
    if problem.status != "open":
        flash(f"问题当前为“{problem.status_name}”，只有跟踪中的问题可以提请民生实事。", "error")
        return redirect(back, code=303)
    if not db.session.scalar(select(func.count()).select_from(ProblemOrder).where(
            ProblemOrder.problem_id == problem.id)):
        flash("请先归入至少一件需求，作为提请民生实事的依据。", "error")
        return redirect(back, code=303)
    note = _text("note", "提请说明", 4000, required=True)
    if note is None:
        return redirect(back, code=303)
    upload = request.files.get("evidence")
    stored = None
    if upload is not None and upload.filename:
        try:
            stored = uploads.accept(upload, EVIDENCE_FOLDER)
        except uploads.UploadRefused as exc:
            flash(exc.message, "error")
            return redirect(back, code=303)
    problem.status, problem.proposal_note = "proposed", note
    problem.proposed_at, problem.proposed_by = utcnow(), current_user.signature
    if stored is not None:
        problem.proposal_file_name, problem.proposal_file_path = stored.original_name, stored.relative_path
    uploads.commit_keeping(stored)
    flash("已提请区委区政府列为民生实事。", "success")
    return redirect(back, code=303)


@bp.post("/problems/<int:problem_id>/close")
@login_required_role(*MANAGE_ROLES)
def close_problem(problem_id: int):
    problem = _problem_or_404(problem_id)
    note = _text("note", "关闭说明", 2000, required=False)
    if note is None:
        return redirect(url_for(".problem", problem_id=problem.id), code=303)
    problem.status, problem.closed_at, problem.close_note = "closed", utcnow(), note or None
    db.session.commit()
    flash("问题已关闭。", "success")
    return redirect(url_for(".problem", problem_id=problem.id), code=303)


@bp.post("/problems/<int:problem_id>/reopen")
@login_required_role(*MANAGE_ROLES)
def reopen_problem(problem_id: int):
    problem = _problem_or_404(problem_id)
    problem.status, problem.closed_at = "open", None
    db.session.commit()
    flash("问题已重新打开。", "success")
    return redirect(url_for(".problem", problem_id=problem.id), code=303)


@bp.get("/problems/<int:problem_id>/evidence")
@login_required_role(*REPORT_ROLES)
def evidence(problem_id: int):
    problem = _problem_or_404(problem_id)
    if not problem.proposal_file_path:
        abort(404)
    return uploads.download(problem.proposal_file_path, problem.proposal_file_name or "附件")
