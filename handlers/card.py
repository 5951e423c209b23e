"""校友卡 (menu CARD): the card's status in the official account. Diagram: docs/flows/card.md.

A single step, no conversation state: an issued card gets its number and status with a link that opens the
mini-program's card page; an application that waits for staff or the class liaison gets its status; a latest
attempt that the databank could not confirm (and that waits for nobody) is told so, with what to do next and the
link; anyone else learns how to apply.
"""

from __future__ import annotations

from bot.context import Context
from bot.filters import keyword, menu_key
from bot.replies import Reply
from bot.router import Router
from core import texts
from services.cards import applications as card_applications

router = Router("card")
MENU_KEY = "CARD"


@router.on(keyword("校友卡", "电子校友卡", "card", "alumni card", "my card") | menu_key(MENU_KEY))
def show_card(ctx: Context) -> Reply:
    found = card_applications.status_for_official_account(ctx.session, ctx.openid)
    link = {
        "appid": ctx.settings.miniprogram.appid,
        "page": ctx.settings.card.page,
        "fallback_url": ctx.settings.card.fallback_url,
    }
    card = found.card
    if card is not None:
        status = texts.CARD_STATUS_NAMES.get(card.status, card.status)
        if not found.card_usable:
            return Reply(texts.CARD_OA_INACTIVE.format(number=card.number, status=status))
        tier = texts.CARD_TIER_NAMES.get(card.tier, card.tier)
        return Reply(texts.CARD_OA_ACTIVE.format(number=card.number, tier=tier, status=status, **link))
    application = found.pending_application
    if application is not None:
        status = texts.CARD_APPLICATION_STATUS_NAMES[application.status]
        return Reply(texts.CARD_OA_PENDING.format(application_id=application.id, status=status))
    unconfirmed = found.unconfirmed_application
    if unconfirmed is not None:
        return Reply(texts.CARD_OA_UNCONFIRMED.format(application_id=unconfirmed.id, **link))
    return Reply(texts.CARD_OA_HOW_TO_APPLY.format(**link))
