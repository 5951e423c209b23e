"""Every piece of user-facing copy, in one place so staff can proofread it.

Nothing else in the code base writes a sentence a user reads. Keep each text short: a passive reply must stay
under 2,048 bytes, and a phone screen is small.
"""

from __future__ import annotations

ASSOCIATION = "校友会"

WELCOME = (
    f"欢迎关注{ASSOCIATION}！🎓\n"
    "在这里您可以：\n"
    "· 回复「提问」向校友办提问\n"
    "· 发送位置，了解附近的校友组织\n"
    "· 回复「帮助」查看全部功能"
)

HELP = (
    "我可以帮您：\n"
    "1. 提问 —— 给校友办留言，工作人员会尽快回复\n"
    "2. 发送位置 —— 记录所在城市，便于联系当地校友会\n"
    "3. 取消 —— 随时退出当前操作\n"
    "回复对应文字即可。"
)

FALLBACK = "抱歉，我还不太明白您的意思。回复「帮助」查看我能做什么，或回复「提问」给校友办留言。"

LOCATION_SAVED = "已记录您的位置（{lat:.2f}, {lng:.2f}）。当地校友会开放后，我们会第一时间告诉您。"

ASK_START = "请直接输入您想咨询校友办的问题（{max_chars} 字以内）。\n回复「取消」可随时退出。"
ASK_NOT_TEXT = "请用文字描述您的问题，或回复「取消」退出。"
ASK_RECEIVED = "已收到您的问题（编号 {number}），校友办工作人员会尽快回复您。"
ASK_TOO_SHORT = "问题太短了，请至少写 {min_chars} 个字。"
ASK_TOO_LONG = "问题请控制在 {max_chars} 字以内。"

CANCELLED = "已取消。回复「帮助」查看其他功能。"
NOTHING_TO_CANCEL = "当前没有进行中的操作。回复「帮助」查看我能做什么。"
TIMED_OUT = {
    "ask": "上一次提问因长时间未回复已结束。如需继续，请重新回复「提问」。",
}
TIMED_OUT_DEFAULT = "上一次操作因长时间未回复已结束，请重新开始。回复「帮助」查看功能。"

APOLOGY = "抱歉，系统出了点问题，我们已经记录下来。请稍后再试。"
BUSY = "正在处理您的上一条消息，请稍候。"

# Default messages of the error hierarchy (core/errors.py).
ERROR_INTERNAL = "系统繁忙，请稍后再试。"
ERROR_VALIDATION = "输入有误，请检查后重试。"
ERROR_NOT_FOUND = "没有找到相关内容。"
ERROR_CONFLICT = "操作冲突，请刷新后重试。"
ERROR_RATE_LIMITED = "操作过于频繁，请稍后再试。"
