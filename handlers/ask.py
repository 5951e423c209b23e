"""提问: an alumnus leaves a question for the office. Diagram: docs/flows/ask.md.

entry 提问 (or menu ASK) → step ``waiting_question`` → any text files an inquiry and ends; non-text asks again.
A question over ``inquiries.MAX_CHARS`` is filed with its first characters and the reply says where it was cut. There
is no step for "the rest": whatever the user sent next would be taken for it, keywords included (a conversation's
routes come before them), and the rest is on their phone to send as a new question if it matters.
"""

from __future__ import annotations

from bot.context import Context
from bot.conversation import Conversation
from bot.filters import keyword, menu_key, msg_type
from bot.replies import Reply
from core import texts
from core.errors import ValidationFailed
from services.inquiries import desk as inquiries

NAME = "ask"
TAIL_CHARS = 10  # the last characters kept, quoted so that the user sees where the question was cut
MENU_KEY = "ASK"
ENTRY_WORDS = keyword("提问", "咨询", "ask")


def start(ctx: Context) -> Reply:
    ctx.goto(NAME, "waiting_question")
    return Reply(texts.ASK_START.format(max_chars=inquiries.MAX_CHARS))


def receive_question(ctx: Context) -> Reply:
    try:
        filed = inquiries.submit(ctx.session, ctx.openid, ctx.text, source_key=ctx.push.dedupe_key)
    except ValidationFailed as exc:
        return Reply(exc.user_message)  # stay in the step so the user can try again
    ctx.end()
    number = filed.inquiry.id
    if not filed.dropped_chars:
        return Reply(texts.ASK_RECEIVED.format(number=number))
    tail = " ".join(filed.inquiry.question[-TAIL_CHARS:].split())  # on one line, whatever the cut landed on
    return Reply(
        texts.ASK_RECEIVED_TRUNCATED.format(
            number=number, max_chars=inquiries.MAX_CHARS, tail=tail, dropped=filed.dropped_chars
        )
    )


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
