"""The resident's path: menu → item form → receipt with tracking number → status."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from sqlalchemy import select

from qunti import intake
from qunti.db import db
from qunti.forms.models import Submission
from qunti.forms.registry import compiled_version, current_version
from qunti.forms.rendering import blank_form_html, page_is_shared, with_token
from qunti.menu.queries import SURVEY_FORM, menu_by_organization, orderable
from qunti.orders.resident_views import SEEN, status_page
from qunti.qr import qr_response

bp = Blueprint("resident", __name__)

# Tracking numbers this browser may see without re-entering the phone (its own recent receipts).
_SEEN = SEEN


def _remember(number: str) -> None:
    seen = [n for n in session.get(_SEEN, []) if n != number]
    session[_SEEN] = (seen + [number])[-20:]


@bp.get("/")
def menu():
    return render_template("resident/menu.html", groups=menu_by_organization())


def _fill(version, *, item=None, channel: str = "online"):
    if version is None:
        abort(404)
    compiled = compiled_version(version)
    if request.method == "GET":
        def render() -> str:
            return render_template("resident/form.html", item=item, compiled=compiled,
                                   form_html=blank_form_html(compiled, version.digest))
        if page_is_shared():
            # Most residents are anonymous: they all get the same page, rendered once per item state.
            return with_token(("page", request.path, item, version.digest), render)
        return render()
    result = compiled.submit(request.form)
    if not result.ok:
        status = 200 if result.action != "submit" else 422
        return render_template("resident/form.html", item=item, compiled=compiled, form=result.form,
                               errors=result.errors), status
    submission = intake.accept(version, result.answers, channel=channel,
                               service_item_code=item.code if item else None)
    _remember(submission.tracking_number)
    return redirect(url_for(".receipt", number=submission.tracking_number), code=303)


@bp.route("/services/<code>", methods=["GET", "POST"])
def service(code: str):
    # A GET needs nothing else from the database: no session is started for it.
    item = orderable(code, in_session=request.method == "POST")
    if item is None:
        abort(404)
    channel = "qr" if request.args.get("via") == "qr" else "online"
    return _fill(item.version, item=item, channel=channel)


@bp.route("/survey", methods=["GET", "POST"])
def survey():
    return _fill(current_version(SURVEY_FORM))


def _submission(number: str) -> Submission | None:
    return db.session.scalar(select(Submission).where(Submission.tracking_number == number))


@bp.get("/receipt/<number>")
def receipt(number: str):
    submission = _submission(number)
    if submission is None or number not in session.get(_SEEN, []):
        abort(404)
    return render_template("resident/receipt.html", submission=submission,
                           track_url=url_for(".track", number=number, _external=True))


@bp.get("/qr/track/<number>.svg")
def track_qr(number: str):
    # Only the link is encoded; the status page behind it still asks for the phone number.
    return qr_response(url_for(".track", number=number, _external=True))


@bp.route("/track", methods=["GET", "POST"])
@bp.route("/track/<number>", methods=["GET", "POST"])
def track(number: str = ""):
    number = (request.form.get("number") or number).strip().upper()
    submission = _submission(number) if number else None
    if submission is not None and number in session.get(_SEEN, []):
        return status_page(submission)
    error = None
    if request.method == "POST":
        if submission is not None and intake.phone_matches(submission, request.form.get("phone", "")):
            _remember(number)
            return status_page(submission)
        # One message for both cases, so the page does not tell strangers which numbers exist.
        error = "受理编号或手机号不正确，请核对后再试。"
    return render_template("resident/track.html", number=number, error=error), (422 if error else 200)
