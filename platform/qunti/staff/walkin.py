"""站点代办: station staff file an order for a resident who walked in or phoned, with the same
generated form the resident would fill, recorded with the station and the staff member."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from qunti import intake
from qunti.accounts.access import login_required_role
from qunti.db import db
from qunti.forms.registry import compiled_version, current_version
from qunti.menu.queries import enabled_item, menu_by_organization
from qunti.orders.models import Order
from qunti.staff import bp

# The channels a station files through; online and QR are the resident's own.
WALKIN_CHANNELS = {code: intake.CHANNELS[code] for code in ("station", "phone")}


@bp.get("/walkin")
@login_required_role("station_staff")
def walkin():
    return render_template("staff/walkin.html", groups=menu_by_organization(), walkin_channels=WALKIN_CHANNELS)


@bp.route("/walkin/<code>/<channel>", methods=["GET", "POST"])
@login_required_role("station_staff")
def walkin_form(code: str, channel: str):
    item = enabled_item(code)
    version = current_version(item.form_id) if item is not None else None
    if version is None or channel not in WALKIN_CHANNELS:
        abort(404)
    compiled = compiled_version(version)
    context = {"item": item, "compiled": compiled, "channel": channel, "walkin_channels": WALKIN_CHANNELS}
    if request.method == "GET":
        return render_template("staff/walkin_form.html", form=compiled.bind(), **context)
    result = compiled.submit(request.form)
    if not result.ok:
        status = 200 if result.action != "submit" else 422
        return render_template("staff/walkin_form.html", form=result.form, errors=result.errors, **context), status
    submission = intake.accept(version, result.answers, channel=channel, service_item_code=item.code,
                               station_code=current_user.station_code, filed_by=current_user)
    order = db.session.scalar(select(Order).where(Order.submission_id == submission.id))
    flash(f"已代为受理，受理编号 {submission.tracking_number}。请把编号告诉服务对象，凭编号和手机号查询进度。",
          "success")
    if order is None:
        return redirect(url_for(".walkin"), code=303)
    return redirect(url_for(".order", order_id=order.id), code=303)
