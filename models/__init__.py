"""SQLAlchemy models, one module per aggregate. Import them from here."""

from models.base import Base, UTCDateTime, utcnow
from models.follower import Follower
from models.inbound import InboundMessage
from models.inquiry import Inquiry
from models.outbox import OutboundMessage

__all__ = ["Base", "Follower", "InboundMessage", "Inquiry", "OutboundMessage", "UTCDateTime", "utcnow"]
