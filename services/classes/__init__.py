"""Class cohorts and class groups: who studied together, their WeChat groups, liaisons and members.

Modules: ``cohorts`` (building grades and classes from the databank's education records, and their shown fields),
``membership`` (finding a cohort and joining it: the verification rule, vouching), ``groups`` (registering a group
and its join QR, checked; the QR as WeChat media), ``liaisons`` (appointments, the shared contact, a liaison's
scope), ``coverage`` (joined and verified against the roster; who is not reached yet), ``invites`` (a cohort's
invite QR, scene ``class:<id>``; the reminder before a group QR expires), ``joined`` (what a classmate sees of their
own classes, and the group QR for members), ``reports`` (contact-change reports, confirmed into the databank). Like
every service, these take a SQLAlchemy Session and raise ``core.errors``.
"""

from services.classes.cohorts import BuildReport, build

__all__ = ["BuildReport", "build"]
