"""Signing in and out, and residents registering with their phone number."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from qunti.accounts import throttle
from qunti.accounts.models import User
from qunti.db import db
from qunti.intake import normalize_phone

bp = Blueprint("auth", __name__)

BAD_LOGIN = "用户名或密码不正确。"
LOCKED = f"登录失败次数过多，请 {throttle.LOCK_MINUTES} 分钟后再试。"
REGISTERED = "注册已受理，请用手机号和密码登录。如果这个手机号以前注册过，请用原来的密码登录。"
# Checked when the username is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("qunti-no-such-user")


class LoginForm(FlaskForm):
    username = StringField("用户名或手机号", validators=[DataRequired("请填写用户名或手机号"), Length(max=60)],
                           render_kw={"autocomplete": "username"})
    password = PasswordField("密码", validators=[DataRequired("请填写密码"), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})


def _mobile_phone(_form, field) -> None:
    # People type spaces, dashes or +86; the digits are what counts.
    digits = "".join(ch for ch in field.data or "" if ch.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise ValidationError("请填写 11 位手机号")


class RegisterForm(FlaskForm):
    phone = StringField("手机号", validators=[DataRequired("请填写手机号"), _mobile_phone],
        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    display_name = StringField("称呼", validators=[DataRequired("请填写称呼"), Length(max=30, message="称呼最多 30 个字")],
                               render_kw={"autocomplete": "name"})
    password = PasswordField("密码", validators=[
        DataRequired("请设置密码"), Length(min=8, max=128, message="密码至少 8 位")],
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("再次输入密码", validators=[
        DataRequired("请再次输入密码"), EqualTo("password", message="两次输入的密码不一致")],
        render_kw={"autocomplete": "new-password"})


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another host), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def home_for(user: User) -> str:
    return url_for("resident.menu") if user.role == "resident" else url_for("staff.index")


def find_user(username: str) -> User | None:
    name = username.strip()
    return db.session.scalar(select(User).where(func.lower(User.username) == name.lower()))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or home_for(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        username = form.username.data
        if throttle.locked_until(username):
            error = LOCKED
        else:
            user = find_user(username)
            valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, form.password.data)
            if user is not None and valid and user.active:
                throttle.clear(username)
                db.session.commit()
                login_user(user)
                return redirect(safe_next(request.args.get("next")) or home_for(user), code=303)
            # Unknown name, wrong password and disabled account read the same.
            error = LOCKED if throttle.record_failure(username) else BAD_LOGIN
    status = 422 if error or form.errors else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    logout_user()
    flash("您已退出登录。", "info")
    return redirect(url_for("resident.menu"), code=303)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = RegisterForm()
    if form.validate_on_submit():
        phone = normalize_phone(form.phone.data)
        # Hash before looking: a taken number must not answer faster than a free one.
        password_hash = generate_password_hash(form.password.data)
        if find_user(phone) is None:
            db.session.add(User(username=phone, display_name=form.display_name.data.strip(), role="resident",
                                phone=phone, password_hash=password_hash))
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()  # registered by a parallel request: same answer as below
        # The same answer whether or not the number was taken, so the page tells nobody who is registered.
        flash(REGISTERED, "info")
        return redirect(url_for(".login"), code=303)
    return render_template("auth/register.html", form=form), (422 if form.errors else 200)
