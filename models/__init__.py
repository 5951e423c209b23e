"""SQLAlchemy models, one module per aggregate. Import them from here."""

from models.association import Association, AssociationAdmin, AssociationMember, AssociationRegion
from models.base import Base, UTCDateTime, utcnow
from models.broadcast import Broadcast, MassReceipt, Segment, SubscribeAllowance
from models.card import ApplicationEvidence, Card, CardApplication, ScanLog, ScannerCredential
from models.checkpoint import JobCheckpoint
from models.classes import (
    ClassCohort,
    ClassCohortRecord,
    ClassGroup,
    ClassLiaison,
    ClassMembership,
    ContactChangeReport,
    Nomination,
    NominationEvidence,
)
from models.databank import DatabankBatch, FieldChange, ImportRowError, PersonMerge
from models.event import Event, EventRegistration
from models.follower import Follower
from models.importjob import ImportJob
from models.inbound import InboundMessage
from models.inquiry import Inquiry, InquiryEvent, KnowledgeEntry
from models.outbox import OutboundMessage
from models.person import ContactPoint, EducationRecord, Employment, Person, PersonName, WeChatIdentity
from models.privacy import AuditEntry, Consent
from models.staff import StaffAccount, StaffRecoveryCode, StaffRole
from models.stats import DailyCount
from models.verification import VerificationClaim

__all__ = [
    "ApplicationEvidence",
    "Association",
    "AssociationAdmin",
    "AssociationMember",
    "AssociationRegion",
    "AuditEntry",
    "Base",
    "Broadcast",
    "Card",
    "CardApplication",
    "ClassCohort",
    "ClassCohortRecord",
    "ClassGroup",
    "ClassLiaison",
    "ClassMembership",
    "Consent",
    "ContactChangeReport",
    "ContactPoint",
    "DailyCount",
    "DatabankBatch",
    "EducationRecord",
    "Employment",
    "Event",
    "EventRegistration",
    "FieldChange",
    "Follower",
    "ImportJob",
    "ImportRowError",
    "InboundMessage",
    "Inquiry",
    "InquiryEvent",
    "JobCheckpoint",
    "KnowledgeEntry",
    "MassReceipt",
    "Nomination",
    "NominationEvidence",
    "OutboundMessage",
    "Person",
    "PersonMerge",
    "PersonName",
    "ScanLog",
    "ScannerCredential",
    "Segment",
    "StaffAccount",
    "StaffRecoveryCode",
    "StaffRole",
    "SubscribeAllowance",
    "UTCDateTime",
    "VerificationClaim",
    "WeChatIdentity",
    "utcnow",
]
