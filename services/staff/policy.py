"""The role policy: which roles hold which permission, as one table of data, and the one check that reads it.

Every console page names a permission (``admin.guard.require``); nothing anywhere compares a role name. A new page
adds a row here; a new role adds itself to the rows it may do. A permission missing from the table is a bug, so
asking about one raises ``KeyError`` instead of quietly refusing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.errors import Forbidden

ROLES = ("admin", "officer", "leader", "broadcaster", "viewer", "branch_admin", "class_liaison")
# leader: the association's leadership (秘书长 and above), to whom the help desk escalates; they record instructions.
# branch_admin is scoped to its associations (services.associations.scope) and class_liaison to its cohorts.
SCOPED_ROLES = frozenset({"branch_admin", "class_liaison"})

EVERYONE = frozenset(ROLES)

PERMISSIONS: Mapping[str, frozenset[str]] = {
    "console.home": EVERYONE,  # the home page, and one's own sessions (logout everywhere)
    "staff.view": frozenset({"admin"}),  # the accounts list
    "staff.manage": frozenset({"admin"}),  # create, disable, reset a second factor
    "audit.view": frozenset({"admin", "officer"}),  # the audit log page
    "settings.view": frozenset({"admin"}),  # the effective settings, secrets masked
    "cards.view": frozenset({"admin", "officer", "viewer"}),  # the review queue and the cards list, names masked
    "cards.decide": frozenset({"admin", "officer"}),  # evidence files (audited), approve or reject an application
    "cards.manage": frozenset({"admin", "officer"}),  # suspend, reinstate, revoke, report a card lost
    "scanners.manage": frozenset({"admin", "officer"}),  # list, create (secret shown once) and revoke desk credentials
    # --- the dashboard
    "dashboard.view": frozenset({"admin", "officer", "broadcaster", "viewer"}),  # the home page's charts and counts
    # --- alumni
    "alumni.view": frozenset({"admin", "officer", "viewer"}),  # search, a person, duplicates (a viewer: names masked)
    "alumni.reveal": frozenset({"admin", "officer"}),  # clear names; reveal a contact with a reason (audited)
    "alumni.manage": frozenset({"admin", "officer"}),  # merge, unmerge, correct, restrict or lift a restriction
    "alumni.subject": frozenset({"admin", "officer"}),  # data-subject export (audited), anonymise, delete
    # --- roster imports
    "imports.view": frozenset({"admin", "officer", "viewer"}),  # the imports page, a job's progress and outcome
    "imports.run": frozenset({"admin", "officer"}),  # upload a roster, download an error report (audited), roll back
    # --- the official account
    "wechat.view": frozenset({"admin", "officer", "broadcaster"}),  # the custom menu as configured
    "wechat.manage": frozenset({"admin"}),  # push the menu to WeChat (audited)
    "wechat.simulate": frozenset({"admin", "officer"}),  # chat with the bot as one's own test follower
    # --- class groups
    "classes.view": frozenset({"admin", "officer", "viewer", "class_liaison"}),  # coverage, cohorts, rosters (scoped)
    "classes.manage": frozenset({"admin", "officer", "class_liaison"}),  # group QR, vouch, reports, nominate (scoped)
    "classes.reveal": frozenset({"admin", "officer", "class_liaison"}),  # clear names in a roster (audited)
    "classes.appoint": frozenset({"admin", "officer"}),  # appoint and end liaisons
    # --- the help desk
    "inquiries.view": frozenset({"admin", "officer", "leader", "viewer"}),  # the inbox, an inquiry and its transcript
    "inquiries.handle": frozenset({"admin", "officer"}),  # reply, assign, categorise, escalate, close, log a call
    "inquiries.instruct": frozenset({"admin", "leader"}),  # record leadership's instruction on an escalated inquiry
    "inquiries.report": frozenset({"admin", "officer", "leader", "viewer"}),  # per category per month, within SLA
    "knowledge.view": frozenset({"admin", "officer", "viewer"}),  # the knowledge base, export, test a question
    "knowledge.manage": frozenset({"admin", "officer"}),  # add, edit, enable, disable, import entries
    # --- broadcasts (an officer drafts notices but a broadcaster or admin signs off on what reaches everyone)
    "broadcasts.view": frozenset({"admin", "officer", "broadcaster", "viewer"}),  # list, a plan, progress, report
    "broadcasts.compose": frozenset({"admin", "officer", "broadcaster"}),  # draft, test-send, confirm, pause, cancel
    "broadcasts.approve": frozenset({"admin", "broadcaster"}),  # approve or reject another's broadcast
    # --- associations (a branch admin: scoped to the associations appointed to, services.associations.scope)
    "associations.view": frozenset({"admin", "officer", "viewer", "branch_admin"}),  # the tree, one, its members
    "associations.manage": frozenset({"admin", "officer"}),  # create, edit, archive; regions, join policy
    "associations.members": frozenset({"admin", "officer", "branch_admin"}),  # approve or decline join requests
    "associations.reveal": frozenset({"admin", "officer", "branch_admin"}),  # clear names of members (audited)
    "associations.appoint": frozenset({"admin", "officer"}),  # appoint and relieve branch admins
    # --- events (scoped like associations; the alumni office's own events are outside a branch admin's scope)
    "events.view": frozenset({"admin", "officer", "viewer", "branch_admin"}),  # list, an event, its registrations
    "events.manage": frozenset({"admin", "officer", "branch_admin"}),  # create, edit, publish, cancel, waitlist
    "events.checkin": frozenset({"admin", "officer", "branch_admin"}),  # the check-in desk, its scanner credentials
    "events.export": frozenset({"admin", "officer", "branch_admin"}),  # attendance .xlsx with names (audited)
}


def allows(roles: Iterable[str], permission: str) -> bool:
    """Whether any of ``roles`` holds ``permission``. An unknown permission raises ``KeyError``."""
    holders = PERMISSIONS[permission]
    return any(role in holders for role in roles)


def check(roles: Iterable[str], permission: str) -> None:
    """Raise :class:`Forbidden` unless one of ``roles`` holds ``permission``."""
    if not allows(roles, permission):
        raise Forbidden(f"permission {permission} not held")


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    held = frozenset(roles)
    return frozenset(p for p, holders in PERMISSIONS.items() if holders & held)
