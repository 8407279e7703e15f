"""The brand lead's publishing form (WTForms); times are typed in local time and stored in UTC."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from qunti.db import utcnow

_FORMAT = "%Y-%m-%dT%H:%M"


def to_utc(local: datetime) -> datetime:
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    return local.replace(tzinfo=zone).astimezone(timezone.utc)


class ActivityForm(FlaskForm):
    type_id = SelectField("活动类型", validators=[DataRequired("请选择活动类型")])
    title = StringField("活动名称", validators=[DataRequired("请填写活动名称"), Length(max=100, message="最多 100 个字")])
    starts_at = DateTimeLocalField("开始时间", format=_FORMAT, validators=[DataRequired("请填写开始时间")])
    signup_deadline = DateTimeLocalField("报名截止时间", format=_FORMAT, validators=[DataRequired("请填写报名截止时间")])
    station_code = SelectField("举办的服务站", validators=[Optional()])
    place = StringField("地点", validators=[Optional(), Length(max=200, message="最多 200 个字")],
                        description="不在服务站举办时填写详细地址")
    capacity = IntegerField("名额", validators=[InputRequired("请填写名额"),
                                              NumberRange(min=1, max=10000, message="名额须在 1 到 10000 之间")])
    description = TextAreaField("活动介绍", validators=[Optional(), Length(max=2000, message="最多 2000 个字")])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        ok = True
        starts, deadline = to_utc(self.starts_at.data), to_utc(self.signup_deadline.data)
        if starts <= utcnow():
            self.starts_at.errors.append("开始时间须晚于现在")
            ok = False
        if deadline > starts:
            self.signup_deadline.errors.append("报名截止时间不能晚于开始时间")
            ok = False
        if not self.station_code.data and not (self.place.data or "").strip():
            self.place.errors.append("请选择服务站或填写地点")
            ok = False
        return ok


class CapacityForm(FlaskForm):
    capacity = IntegerField("名额", validators=[InputRequired("请填写名额"),
                                              NumberRange(min=1, max=10000, message="名额须在 1 到 10000 之间")])
