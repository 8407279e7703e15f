"""A person who signs in, with one role bound to an organization, unit or station."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from qunti.db import db, utcnow

# Role -> Chinese name. The binding each role needs is in ROLE_BINDING.
ROLES = {
    "resident": "居民",
    "station_staff": "站点工作人员",
    "dispatcher": "联席会派单员",
    "handler": "办单人员",
    "brand_lead": "品牌负责人",
    "org_admin": "组织管理员",
    "sys_admin": "系统管理员",
}
ROLE_BINDING = {
    "station_staff": "station_code",
    "handler": "unit_code",
    "brand_lead": "organization",
    "org_admin": "organization",
}


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    organization: Mapped[str | None] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("unit.code"))
    station_code: Mapped[str | None] = mapped_column(ForeignKey("station.code"))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def role_name(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def signature(self) -> str:
        """How a record names who saved it: "姓名（角色）", cut to the columns' 60 characters."""
        return f"{self.display_name}（{self.role_name}）"[:60]

    def has_role(self, *roles: str) -> bool:
        return self.role in roles
