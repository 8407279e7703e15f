"""Imports every model module, so SQLAlchemy's metadata knows all tables (migrations compare it)."""
from qunti.accounts.models import User  # noqa: F401
from qunti.accounts.throttle import LoginThrottle  # noqa: F401
from qunti.activities.models import Activity, ActivitySignup  # noqa: F401
from qunti.admin.models import AuditEntry  # noqa: F401
from qunti.directory.models import CalendarDay, Station, Unit  # noqa: F401
from qunti.integration.models import (  # noqa: F401
    ApiKey, ApiRateWindow, WebhookAttempt, WebhookDelivery, WebhookSubscription)
from qunti.forms.models import Form, FormVersion, Submission, SyncedFile  # noqa: F401
from qunti.ledgers.models import Document, Problem, ProblemOrder  # noqa: F401
from qunti.membership.models import (  # noqa: F401
    InfoPost, InfoSignup, JoinApplication, JoinCode, Member, MemberCard, Membership, Organization, TransferRequest)
from qunti.menu.models import ServiceItem  # noqa: F401
from qunti.orders.models import Order, OrderEvent, Rating, Reminder  # noqa: F401
from qunti.plugins.models import PluginState  # noqa: F401
from qunti.revision import DefinitionsRevision  # noqa: F401
from qunti.rules.published import RuleSetVersion  # noqa: F401
from qunti.stats.models import OrderDayPending, OrderDaySummary, StatsWatermark  # noqa: F401
from qunti.stations.models import (  # noqa: F401
    Agreement, Delivery, Inspection, InspectionItem, InspectionPhoto, StationProfile)
