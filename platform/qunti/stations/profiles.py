"""A station's profile and its staffing check, both from the station plugin of the station's kind.

A station plugin declares a kind (``stationKind`` in its manifest: code, staffing model, profile
form); its rules over that form are the staffing check (JSON Logic, see qunti.plugins.eligibility),
e.g. 1+3+N's "群团联络员仅 2 名，1+3+N 要求 3 名". While the plugin is disabled its form page does not
exist and no check runs; the profiles already saved are kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from qunti.accounts.access import login_required_role
from qunti.db import db
from qunti.directory.models import Station
from qunti.forms.registry import compiled_version, current_version
from qunti.plugins import current, enabled_ids
from qunti.plugins.eligibility import Refusal, refusals
from qunti.plugins.manager import StationKind
from qunti.stations import bp
from qunti.stations.access import EDIT_ROLES, station_in_scope
from qunti.stations.models import StationProfile

KIND_NAMES = {"center": "依托党群服务中心", "new": "新建服务站"}  # shown when no plugin defines the kind


@dataclass
class Staffing:
    """What the station page says about a station's staffing."""

    kind: StationKind | None
    enabled: bool
    profile: StationProfile | None
    flags: list[Refusal] = field(default_factory=list)

    @property
    def status(self) -> str:
        """no_plugin, disabled, no_profile, flagged or ok."""
        if self.kind is None:
            return "no_plugin"
        if not self.enabled:
            return "disabled"
        if self.profile is None:
            return "no_profile"
        return "flagged" if self.flags else "ok"


def kind_of(station: Station) -> StationKind | None:
    """The installed plugin kind of ``station`` (enabled or not), or None."""
    return current().station_kinds.get(station.kind)


def kind_name(station: Station) -> str:
    kind = kind_of(station)
    return kind.name if kind else KIND_NAMES.get(station.kind, station.kind)


def latest_profile(station: Station) -> StationProfile | None:
    """The newest profile filled in for the station's current kind."""
    return db.session.scalar(select(StationProfile).where(StationProfile.station_code == station.code,
                                                          StationProfile.kind == station.kind)
                             .order_by(StationProfile.id.desc()).limit(1))


def staffing_check(kind: StationKind, answers: dict) -> list[Refusal]:
    """The staffing rules of ``kind``'s plugin that ``answers`` break, each with its reason."""
    rules = current().eligibility_rules(kind.profile_form, enabled_ids())
    return refusals(rules, answers, {})


def staffing_of(station: Station) -> Staffing:
    kind = kind_of(station)
    enabled = kind is not None and kind.plugin_id in enabled_ids()
    profile = latest_profile(station) if kind is not None else None
    flags = staffing_check(kind, profile.answers) if enabled and profile is not None else []
    return Staffing(kind=kind, enabled=enabled, profile=profile, flags=flags)


def save_profile(station: Station, kind: StationKind, version_id: int, answers: dict, user=None) -> StationProfile:
    """Append a profile (the caller has validated ``answers`` against the form); caller commits."""
    profile = StationProfile(station_code=station.code, kind=kind.code, form_version_id=version_id,
                             answers=answers, saved_by_user_id=getattr(user, "id", None),
                             saved_by=user.signature if user is not None else "演示数据")
    db.session.add(profile)
    db.session.flush()
    return profile


def _enabled_kind(station: Station) -> StationKind:
    kind = kind_of(station)
    if kind is None or kind.plugin_id not in enabled_ids():
        abort(404)  # a disabled plugin's form has no page
    return kind


@bp.route("/<code>/profile", methods=["GET", "POST"])
@login_required_role(*EDIT_ROLES)
def profile(code: str):
    station = station_in_scope(code, current_user)
    kind = _enabled_kind(station)
    version = current_version(kind.profile_form)
    if version is None:
        abort(404)
    compiled = compiled_version(version)
    latest = latest_profile(station)
    page = {"station": station, "kind": kind, "compiled": compiled, "latest": latest}
    if request.method == "GET":
        form = compiled.bind(data=latest.answers if latest is not None else None)
        return render_template("stations/profile.html", form=form, **page)
    result = compiled.submit(request.form)
    if not result.ok:
        status = 200 if result.action != "submit" else 422
        return render_template("stations/profile.html", form=result.form, errors=result.errors, **page), status
    save_profile(station, kind, version.id, result.answers, current_user)
    db.session.commit()
    flags = staffing_check(kind, result.answers)
    if flags:
        flash(f"站点档案已保存。人员配置检查发现 {len(flags)} 处不符合“{kind.staffing_model}”："
              + "；".join(f.message.rstrip("。") for f in flags) + "。", "error")
    else:
        flash(f"站点档案已保存，人员配置符合“{kind.staffing_model}”。", "success")
    return redirect(url_for(".station", code=station.code), code=303)
