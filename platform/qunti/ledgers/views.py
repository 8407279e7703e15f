"""The 四库 home page: what each ledger holds, with its size in the user's scope."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import func, select

from qunti.accounts.access import STAFF_ROLES, login_required_role
from qunti.db import db
from qunti.ledgers import bp
from qunti.ledgers.models import Document, Problem


@bp.get("/")
@login_required_role(*STAFF_ROLES)
def index():
    counts = {
        "problems": db.session.scalar(select(func.count()).select_from(Problem).where(Problem.status != "closed")),
        "documents": db.session.scalar(select(func.count()).select_from(Document)),
    }
    return render_template("ledgers/index.html", counts=counts, role=current_user.role)
