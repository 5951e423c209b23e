"""WeChat's job-finished events for broadcasts: MASSSENDJOBFINISH and TEMPLATESENDJOBFINISH update the counts.

They are reports to the account, not something a user typed: never answered (the webhook replies ``success``).
The counts are the sender's (``services.broadcasts.delivery``); this module only hands the event over.
"""

from __future__ import annotations

from bot.context import Context
from bot.filters import event
from bot.router import Router
from services.broadcasts import delivery

router = Router("broadcast_events")


@router.on(event("masssendjobfinish"))
def mass_finished(ctx: Context) -> None:
    message = ctx.message
    delivery.mass_job_finished(
        ctx.session,
        int(getattr(message, "id", 0) or 0),
        sent=int(getattr(message, "sent_count", 0) or 0),
        errors=int(getattr(message, "error_count", 0) or 0),
    )


@router.on(event("templatesendjobfinish"))
def template_finished(ctx: Context) -> None:
    message = ctx.message
    delivery.template_job_finished(
        ctx.session,
        ctx.openid,
        str(getattr(message, "status", "") or ""),
        msg_id=int(getattr(message, "id", 0) or 0) or None,
    )
