"""提问: an alumnus leaves a question for the office. Diagram: docs/flows/ask.md.

entry 提问 (or menu ASK) → step ``waiting_question`` → any text files an inquiry and ends; non-text asks again.
"""

from __future__ import annotations

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import keyword, menu_key, msg_type
from bot.replies import Reply
from core import texts
from core.errors import ValidationFailed
from services import inquiries

NAME = "ask"
MENU_KEY = "ASK"
ENTRY_WORDS = keyword("提问", "咨询", "ask")


def start(ctx: Context) -> Reply:
    ctx.goto(NAME, "waiting_question")
    return Reply(texts.ASK_START.format(max_chars=inquiries.MAX_CHARS))


def receive_question(ctx: Context) -> Reply:
    try:
        inquiry = inquiries.submit(ctx.session, ctx.openid, ctx.text, source_key=ctx.push.dedupe_key)
    except ValidationFailed as exc:
        return Reply(exc.user_message)  # stay in the step so the user can try again
    ctx.end()
    return Reply(texts.ASK_RECEIVED.format(number=inquiry.id))


def not_text(ctx: Context) -> Reply:
    return Reply(texts.ASK_NOT_TEXT)


conversation = Conversation(
    NAME,
    entry_points=[(ENTRY_WORDS | menu_key(MENU_KEY), start)],
    # 提问 again while waiting restarts the question instead of filing the word itself.
    steps={"waiting_question": [(msg_type("text") & ~ENTRY_WORDS, receive_question)]},
    fallbacks=[(~msg_type("text"), not_text)],
)
router = conversation.router()
