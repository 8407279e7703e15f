"""Imports every model module, so SQLAlchemy's metadata knows all tables."""
from qunti.accounts.models import User  # noqa: F401
from qunti.directory.models import CalendarDay, Station, Unit  # noqa: F401
from qunti.forms.models import Form, FormVersion, Submission, SyncedFile  # noqa: F401
from qunti.menu.models import ServiceItem  # noqa: F401
from qunti.orders.models import Order, OrderEvent, Rating, Reminder  # noqa: F401
