"""Imports every model module, so SQLAlchemy's metadata knows all tables."""
from qunti.forms.models import Form, FormVersion, Submission, SyncedFile  # noqa: F401
from qunti.menu.models import ServiceItem  # noqa: F401
