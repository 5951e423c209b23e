"""Every piece of user-facing copy, written in Chinese, in one place so staff can proofread it.

Nothing else in the code base writes a sentence a user reads. Keep each text short: a passive reply must stay
under 2,048 bytes, and a phone screen is small. Code reads these through ``core.texts`` (``texts.NAME``), which
answers in the reader's language; the English of each constant is in ``translations/en/LC_MESSAGES/messages.po``
(``make messages`` adds a new or changed text there, untranslated; ``make test`` fails until it is translated).
Placeholders (``{name}``) must stay the same in every language.
"""

from __future__ import annotations

ASSOCIATION = "校友会"

WELCOME = (
    f"欢迎关注{ASSOCIATION}！🎓\n"
    "在这里您可以：\n"
    "· 回复「校友卡」查看或申请电子校友卡\n"
    "· 回复「提问」向校友办提问\n"
    "· 回复「加入班级群」找到您的班级群\n"
    "· 发送位置，找到当地校友会\n"
    "· 回复「活动」查看近期活动\n"
    "· 回复「帮助」查看全部功能\n"
    "Reply “English” for English."
)

HELP = (
    "我可以帮您：\n"
    "1. 校友卡 —— 查看或申请电子校友卡\n"
    "2. 提问 —— 给校友办留言，工作人员会尽快回复\n"
    "3. 找校友会 —— 或发送位置、回复城市（如「上海校友会」），找到并加入当地校友会\n"
    "4. 加入班级群 —— 按毕业年份找到您的班级群\n"
    "5. 活动 —— 查看和报名近期活动；我的活动 —— 查看或取消报名\n"
    "6. 取消 —— 随时退出当前操作\n"
    "回复对应文字即可。Reply “English” for English."
)

FALLBACK = "抱歉，我还不太明白您的意思。回复「帮助」查看我能做什么，或回复「提问」给校友办留言。"


ASK_START = "请直接输入您想咨询校友办的问题（{max_chars} 字以内）。\n回复「取消」可随时退出。"
ASK_NOT_TEXT = "请用文字描述您的问题，或回复「取消」退出。"
ASK_RECEIVED = "已收到您的问题（编号 {number}），校友办工作人员会尽快回复您。"
ASK_TOO_SHORT = "问题太短了，请至少写 {min_chars} 个字。"

CANCELLED = "已取消。回复「帮助」查看其他功能。"
# The punctuation that joins pieces of copy or data: each language has its own (an English reader gets ", ").
LIST_SEPARATOR = "、"  # between the items of a list: 会员、待审核
CLAUSE_SEPARATOR = "；"  # between sentences or label-value pairs on one line
LABELLED = "{label}：{value}"  # a label and its value: 参加人数：2
WITH_DETAIL = "{name}（{detail}）"  # a name and a detail in brackets: 已关注（subscribed）, 张伟（法学院 2018届）
NOTHING_TO_CANCEL = "当前没有进行中的操作。回复「帮助」查看我能做什么。"
TIMED_OUT = {
    "ask": "上一次提问因长时间未回复已结束。如需继续，请重新回复「提问」。",
    "join_class": "上一次加入班级群因长时间未回复已结束。如需继续，请重新回复「加入班级群」。",
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

# --- the alumni databank (services/databank) ---------------------------------------------------------------------

# Identity verification (the card application uses these). A claim that does not match and one whose person does
# not exist get the same answer, on purpose.
VERIFY_MATCHED = "身份核验成功，欢迎您，{name}校友！"
VERIFY_IN_REVIEW = "暂未能自动核验您的身份，已转交校友办人工审核（编号 {review_id}），结果会另行通知您。"
VERIFY_RATE_LIMITED = "核验尝试次数过多，请 15 分钟后再试，或直接联系校友办。"
VERIFY_INVALID_CLAIM = "请填写姓名，以及学号（或毕业年份、学院和班级），并填写身份证号后 4 位或出生日期。"

# Masked values in staff views and exports.
MASK = "****"
ANONYMISED_NAME = "（已匿名）"

# Import errors, shown to staff in the CLI and in the downloadable error report. {column} is the header as written.
IMPORT_ERRORS = {
    "empty_file": "文件是空的：没有表头，也没有数据行。",
    "no_rows": "文件只有表头，没有数据行。",
    "encoding": (
        "文件不是 {encoding} 编码（第 {line} 行附近无法解码）。请另存为“CSV UTF-8”，或用 --encoding gb18030 导入。"
    ),
    "unsupported_format": "不支持的文件类型 {suffix}：请使用 .xlsx 或 .csv。",
    "unreadable": "无法读取文件：{reason}",
    "missing_columns": "缺少必需的列：{columns}。已识别的列：{found}。",
    "duplicate_header": "表头“{column}”出现了不止一次。",
    "unknown_mapping": "列映射指向了不存在的表头：{column}。",
    "required": "“{column}”不能为空。",
    "year": "“{column}”应为 1900 到 2100 之间的四位年份（实际为“{value}”）。",
    "year_order": "毕业年份 {grad} 早于入学年份 {entry}。",
    "date": "“{column}”应为日期，如 1990-05-01（实际为“{value}”）。",
    "level": "“{column}”无法识别：“{value}”。可填写：专科、本科、硕士、博士、成人教育、网络教育。",
    "gender": "“{column}”应为 男 或 女（实际为“{value}”）。",
    "boolean": "“{column}”应为 是 或 否（实际为“{value}”）。",
    "id_number": "“{column}”不是有效的居民身份证号（{reason}）。",
    "id_birth_mismatch": "出生日期与身份证号中的出生日期不一致。",
    "phone": (
        "“{column}”不是有效的电话号码（{reason}）。中国大陆以外的号码请以 + 和国家或地区代码开头，如 +44 20 7946 0958。"
    ),
    "email": "“{column}”不是有效的邮箱地址。",
    "too_long": "“{column}”超过 {max} 个字符。",
    "name": "“{column}”含有不能用于姓名的字符。",
    "duplicate_row": "学号 {student_no} 在第 {first_row} 行已出现过。",
    "wrong_type": "“{column}”的类型不对：应为{expected}（实际为“{value}”）。",
}
IMPORT_PHONE_REASONS = {
    "not_a_number": "看起来不是电话号码",
    "country_code": "国家或地区代码无法识别",
    "too_short": "位数太少",
    "too_long": "位数太多",
    "length": "位数不对",
    "local_only": "缺少区号",
    "unassigned": "号段、区号或位数不对",
}
IMPORT_ID_REASONS = {
    "length": "应为 18 位",
    "format": "前 17 位应为数字",
    "checksum": "校验位不正确",
    "component": "出生日期或地区码无效",
}

# --- the alumni card (services/cards/, handlers/card.py, miniprogram_api/) -----------------------------------------

ERROR_UNAUTHENTICATED = "登录已失效，请重新登录。"
ERROR_LOGIN_CODE = "登录凭证无效或已使用，请重新登录。"
ERROR_METHOD = "不支持的请求方式。"
CARD_ALREADY_ISSUED = "您已持有有效的校友卡，无需重复申请。"
CARD_APPLICATION_OPEN = "您已有一份正在审核的申请（编号 {application_id}），请耐心等待结果。"
CARD_NOT_ISSUED = "您还没有校友卡。"
CARD_NOT_ACTIVE = "您的校友卡当前不可用（{status}）。如有疑问请联系校友办。"
CARD_TIER_UNKNOWN = "不支持的卡片等级。"
CARD_EVIDENCE_UNSUPPORTED = "请上传 JPG、PNG 图片或 PDF 文件（不超过 {max_mb} MB）。"
CARD_EVIDENCE_TOO_MANY = "每份申请最多上传 {max_files} 个文件。"
CARD_EVIDENCE_CLOSED = "该申请已有结果，不能再上传材料。"
CARD_DECIDED = "该申请已处理，不能重复操作。"
CARD_REJECT_REASON = "驳回时请填写原因。"
CARD_APPROVE_NEEDS_PERSON = "该申请未匹配到校友档案，请先选择对应的校友再批准。"
CARD_STATUS_NAMES = {
    "active": "有效",
    "suspended": "已暂停",
    "revoked": "已注销",
    "expired": "已过期",
    "lost": "已挂失",
}
CARD_APPLICATION_STATUS_NAMES = {
    "review": "人工审核中",
    "vouching": "等待班级联络人确认",
    "issued": "已发卡",
    "rejected": "未通过",
}
# The decision, told by subscribe message (short fields) or in the official account (customer-service text).
CARD_DECISION_APPROVED = "您的校友卡申请已通过，卡号 {number}。打开小程序即可出示校友卡。"
CARD_DECISION_REJECTED = "很抱歉，您的校友卡申请未通过：{reason}。如有疑问请回复「提问」联系校友办。"
CARD_DECISION_SUBSCRIBE_TITLE = "校友卡申请结果"
CARD_DECISION_SUBSCRIBE_APPROVED = "已通过"
CARD_DECISION_SUBSCRIBE_REJECTED = "未通过"

# The official account's 校友卡 (menu CARD).
CARD_OA_ACTIVE = (
    "您的校友卡：{number}（{tier}，{status}）。\n"
    '<a href="{fallback_url}" data-miniprogram-appid="{appid}" data-miniprogram-path="{page}">'
    "点此打开小程序出示校友卡</a>"
)
CARD_OA_INACTIVE = "您的校友卡 {number} 当前{status}。如有疑问请回复「提问」联系校友办。"
CARD_OA_PENDING = "您的校友卡申请（编号 {application_id}）{status}，结果会通过消息通知您。"
CARD_OA_HOW_TO_APPLY = (
    "您还没有校友卡。申请方法：\n"
    "1. 打开校友会小程序，微信登录；\n"
    "2. 填写姓名、学号（或毕业年份、学院和班级），以及身份证号后 4 位或出生日期；\n"
    "3. 核验通过即刻发卡；未能自动核验的，可上传毕业证照片或请班级联络人确认，由校友办人工审核。\n"
    '<a href="{fallback_url}" data-miniprogram-appid="{appid}" data-miniprogram-path="{page}">点此打开小程序申请</a>'
)
CARD_TIER_NAMES = {"standard": "普通卡", "lifetime": "终身卡", "honorary": "荣誉卡"}

# --- card applications the databank could not confirm, and withdrawn or superseded ones (issue 16) ---------------
# services/cards/applications.py, miniprogram_api/applications.py, handlers/card.py, services/databank/verification.py

CARD_APPLICATION_STATUS_NAMES.update(
    {
        "unconfirmed": "信息未能核实",
        "withdrawn": "已撤回",
        "superseded": "已由新的申请取代",
    }
)
# What each status means for the applicant and what they can do next (the API's "message").
CARD_APPLICATION_MESSAGES = {
    "unconfirmed": "您填写的信息未能与校友信息库核实。您可以核对后重新提交；也可以上传毕业证照片，由校友办人工审核；"
    "或重新提交并选择请班级联络人确认。",
    "review": "校友办正在人工审核您的申请，结果会通过消息通知您。如发现信息填错，可更正后直接重新提交。",
    "vouching": "正在等待班级联络人确认，结果会通过消息通知您。如发现信息填错，可更正后直接重新提交。",
    "issued": "校友卡已发放，打开校友卡页面即可出示。",
    "rejected": "很抱歉，申请未通过。如有疑问请在公众号回复「提问」联系校友办。",
    "withdrawn": "申请已撤回，您可以随时重新申请。",
    "superseded": "您之后提交的申请已核实身份，这份申请已自动关闭，无需再处理。",
}
CARD_VOUCH_WHILE_OPEN = "您已有一份正在审核的申请（编号 {application_id}）。如需改请班级联络人确认，请先撤回该申请。"
CARD_WITHDRAW_CLOSED = "该申请已结束，无需撤回。"
# Any identity claim that did not bind, when its caller asked for no review (services/databank/verification.py).
VERIFY_NOT_CONFIRMED = "您填写的信息未能核实，请核对后重新提交。"
# 校友卡 in the official account when the latest application was not confirmed and nothing waits.
CARD_OA_UNCONFIRMED = (
    "您最近一次提交的校友卡申请（编号 {application_id}）信息未能核实。请在小程序中核对后重新提交，"
    "或上传毕业证照片申请人工审核，或请班级联络人确认。\n"
    '<a href="{fallback_url}" data-miniprogram-appid="{appid}" data-miniprogram-path="{page}">点此打开小程序</a>'
)

# --- roster imports: fragments of the import error messages above, and the error report (services/databank) -------

IMPORT_LIST_SEPARATOR = "、"  # between column names in "missing_columns"
IMPORT_NO_COLUMNS = "（无）"  # "missing_columns" when no header was recognised at all
IMPORT_NO_SUFFIX = "（无扩展名）"  # "unsupported_format" for a file name without an extension
IMPORT_MAPPING = "{header} → {field}"  # "unknown_mapping": a column mapping that names an unknown field
IMPORT_UNKNOWN_ENCODING = "unknown encoding {encoding}"  # "unreadable": the encoding asked for does not exist
IMPORT_CSV_ERROR_AT = "line {line}: {error}"  # "unreadable": broken CSV, and where
IMPORT_HIDDEN_VALUE = "***"  # a sensitive cell (ID number, phone, email, address) quoted in an error message
# "wrong_type": what the cell should have been.
IMPORT_EXPECTED = {
    "text": "文字",
    "text_or_integer": "文字或整数",
    "letters_or_digits": "字母或数字",
}
# The header row of the downloadable error report (CSV).
IMPORT_REPORT_HEADER = ("行号 row", "列 column", "错误 code", "说明 message")

# --- class cohorts and class groups (services/classes) ---------------------------------------------------------------

EDUCATION_LEVEL_NAMES = {
    "associate": "专科",
    "bachelor": "本科",
    "master": "硕士",
    "doctor": "博士",
    "adult": "成人教育",
    "online": "网络教育",
}
# A cohort's name: {year} is 2015级 (by entry year) or 2019届 (by graduation year, when a roster has no entry year).
COHORT_LABELS = {"grade": "{college} {level} {year}", "class": "{college} {year} {class_name}"}
COHORT_YEAR = {"entry": "{year}级", "grad": "{year}届"}  # a cohort's year: entry year (级) or graduation (届)
COHORT_NO_COLLEGE = "未注明学院"
COHORT_EDIT_ERRORS = {
    "label": "请填写班级名称（不超过 160 个字）。",
    "too_long": "专业和班级名称都不能超过 64 个字。",
    "grad_year": "毕业年份须为 1900 到 2100 之间的四位数字。",
}
CLASS_GROUP_PLATFORMS = {"wechat": "微信群", "qq": "QQ群"}
# To a liaison, before their class group's join QR expires (services.classes.invites), in the liaison's language.
CLASS_QR_REMINDER = {
    "zh": "您登记的「{group}」（{cohort}）入群二维码将在 {days} 天后失效。"
    "请在微信群里重新生成二维码，并在校友工作台重新登记，以免同学无法加入。",
    "en": "The join QR code of {group} ({cohort}) expires in {days} day(s). Please make a new one in the WeChat group "
    "and register it again in the alumni console, so classmates can still join.",
}
# Why a liaison appointment was refused: ``services.classes.liaisons``.
CLASS_LIAISON_ERRORS = {
    "name": "请填写联络人姓名（不超过 64 个字）。",
    "role": "联络人身份应为主联络人或副联络人。",
    "language": "联络人的语言应为中文（zh）或英文（en）。",
    "term": "任期结束日期不能早于开始日期。",
    "contact": "联系方式不能超过 128 个字符。",
    "primary_taken": "该班级已有一位在任的主联络人：请先结束其任期，或将新联络人设为副联络人。",
}
# Why a group registration (its join QR image above all) was refused: ``services.classes.groups``.
CLASS_GROUP_ERRORS = {
    "platform": "请选择微信群或 QQ 群。",
    "empty": "请上传群二维码图片。",
    "too_large": "图片太大了：群二维码图片不能超过 {limit}。",
    "not_image": "无法读取这张图片：请上传 PNG 或 JPEG 格式的群二维码截图。",
    "no_qr": "图片里没有找到二维码：请上传完整、清晰的群二维码截图。",
    "several_qr": "图片里有不止一个二维码：请只截取群二维码。",
    "not_group_link": "这个二维码不是{platform}的入群二维码，不能登记。",
    "name": "请填写群名称（不超过 64 个字），群主名称也不能超过 64 个字。",
    "member_count": "群人数应在 0 到 10000 之间。",
    "expiry": "二维码的有效期不对：微信群二维码自生成起 7 天内有效，请填写今后 7 天内的日期。",
}
# Contact-change reports (services/classes/reports, services/databank/contacts) and the mini-program's class pages
# (miniprogram_api/classes). The kinds by language: a liaison's notice is in the liaison's language.
CONTACT_CHANGE_KINDS = {"phone": "手机号码", "email": "电子邮箱", "city": "所在城市", "employer": "工作单位"}
CONTACT_CHANGE_ERRORS = {
    "kind": "变更项目只能是手机号码、电子邮箱、所在城市或工作单位。",
    "empty": "请填写新的{kind}。",
    "bad_characters": "{kind}含有不允许的字符（如控制字符）。",
    "too_long": "{kind}不能超过 {limit} 个字符。",
    "phone": "手机号码无效：{reason}。",
    "email": "电子邮箱格式不正确，例如 name@example.com。",
    "person_gone": "该校友档案已合并或注销，无法更新，请在新档案上处理。",
    "cohort": "只能选择您本人所在的班级。",
    "not_bound": "请先在小程序「校友卡」中完成身份核验（绑定校友档案），再提交联系方式变更。",
    "decided": "该变更已处理（{status}），不能重复处理。",
}
CONTACT_CHANGE_STATUS_NAMES = {"pending": "待确认", "applied": "已更新", "rejected": "未采用"}
CONTACT_CHANGE_RECEIVED = "已收到您的{kind}变更，班级联络人或校友办确认后将更新到校友档案。"
# To a cohort's liaisons when a classmate reports a change (services.classes.reports), in the liaison's language.
CONTACT_CHANGE_NOTICE = "{cohort} 的 {name} 报告了新的{kind}，请在校友工作台的「联系方式变更」中核对并确认。"
CLASS_SEARCH_NEEDS_ONE = "请至少填写毕业年份、学院或班级关键词中的一项。"
CLASS_MEMBERSHIP_STATUS_NAMES = {"verified": "已核验", "waiting": "待联络人确认", "flagged": "待联络人核对"}
CLASS_MEMBERSHIP_MESSAGES = {
    "verified": "您已加入该班级，身份已核验。",
    "waiting": "已收到您的加入申请，班级联络人确认后即为已核验成员。",
    "flagged": "已收到您的加入申请。该班级与您校友档案中的班级不一致，班级联络人会与您核对。",
}
CLASS_QR_NOT_AVAILABLE = "该班级群暂时没有可用的入群二维码，请联系班级联络人。"
# A join of one cohort more than classes.max_memberships_per_person (the API's 409, the bot's answer).
CLASS_MEMBERSHIP_LIMIT = (
    "每人最多可以加入 {limit} 个班级群，您已达到上限，不能再加入新的班级群。如果确实需要加入，请联系校友办。"
)
# 加入班级群 in the official account (handlers/classes.py, docs/flows/classes.md).
CLASS_JOIN_ASK_YEAR = "加入班级群：请回复您的毕业年份（4 位数字，如 2019）。\n回复「取消」可随时退出。"
CLASS_JOIN_BAD_YEAR = "请回复 4 位数字的毕业年份（{first} 到 {last} 之间），如 2019。回复「取消」退出。"
CLASS_JOIN_NO_YEAR = "没有找到 {year} 年毕业的班级。请检查年份后重新回复，或回复「取消」退出。"
CLASS_JOIN_ASK_COLLEGE = "{year} 年毕业的学院有：\n{choices}\n请回复学院前的数字。"
CLASS_JOIN_BAD_COLLEGE = "请回复 1 到 {count} 之间的数字选择学院，或回复「取消」退出。"
CLASS_JOIN_ASK_CLASS = "{college} {year} 年毕业的班级有：\n{choices}\n请回复班级前的数字。"
CLASS_JOIN_MORE_CLASSES = "（只列出了前 {shown} 个。回复班级名称里的字词，如「1503」或「软件」，可以缩小范围。）"
CLASS_JOIN_BAD_CLASS = "请回复 1 到 {count} 之间的数字选择班级，或回复班级名称里的字词查找。回复「取消」退出。"
CLASS_JOIN_NO_MATCH = "没有找到名称包含「{words}」的班级。请回复上面列表中的数字，或换个字词。"
CLASS_JOIN_OWN = "根据您的校友档案，您所在的班级是：\n{choices}\n请回复数字选择班级；回复 0 按毕业年份查找其他班级。"
CLASS_JOIN_BAD_OWN = "请回复 1 到 {count} 之间的数字选择班级，或回复 0 按毕业年份查找其他班级。"
CLASS_JOIN_CONFIRM = "确认加入「{cohort}」的班级群吗？\n回复「是」加入，回复「否」放弃。"
CLASS_JOIN_BAD_CONFIRM = "请回复「是」加入「{cohort}」的班级群，或回复「否」放弃。"
CLASS_JOIN_DECLINED = "好的，没有加入。回复「加入班级群」可以重新选择。"
CLASS_JOIN_NOT_TEXT = "请用文字回复。"
CLASS_JOIN_GONE = "这个班级已不存在（可能已被校友办合并或调整）。回复「加入班级群」重新查找。"
# A scan of (or a follow through) a liaison's invite QR, scene class:<id>.
CLASS_JOIN_UNKNOWN_INVITE = "这个班级邀请二维码无效，或班级已不存在。回复「加入班级群」可以按毕业年份查找您的班级。"
CLASS_JOIN_WELCOME = WELCOME.splitlines()[0] + "\n{prompt}\n\n之后回复「帮助」可以查看全部功能。"
# After 是: what was recorded (new, or asked before), by the membership's state.
CLASS_JOINED = {
    "verified": "您已加入「{cohort}」，已通过校友卡核验为本班校友。",
    "waiting": "已收到您加入「{cohort}」的申请，班级联络人确认后即为已核验成员。",
    "flagged": "已收到您加入「{cohort}」的申请。该班级与您校友档案中的班级不一致，班级联络人会与您核对。",
}
CLASS_JOINED_BEFORE = {
    "verified": "您之前已加入「{cohort}」（已核验）。",
    "waiting": "您之前已申请加入「{cohort}」，正在等待班级联络人确认。",
    "flagged": "您之前已申请加入「{cohort}」，班级联络人会与您核对。",
}
# ...and what comes next.
CLASS_JOIN_QR_FOLLOWS = "「{group}」（{platform}）的入群二维码随后发给您：长按识别或保存后扫码即可入群。"
CLASS_JOIN_NO_QR = "这个班级群目前没有可用的入群二维码。"
CLASS_JOIN_QR_FAILED = "入群二维码暂时发送不了，请稍后回复「加入班级群」再试。"
CLASS_JOIN_LIAISON_CONTACT = "班级联络人：{name}，联系方式：{contact}。"
CLASS_JOIN_LIAISON_NAME = "班级联络人：{name}。"
CLASS_JOIN_LIAISON_TOLD = "我们已通知联络人，请留意联络人的消息。"
CLASS_JOIN_OFFICE = "这个班级暂时没有能联系上的联络人，校友办会跟进并与您联系。"
# To each current liaison with a WeChat identity when a classmate asks to join (in the official account or the
# mini-program) and no QR can be sent, in the liaison's language (services.classes.joined.after_join).
CLASS_JOIN_LIAISON_NOTICE = {
    "zh": "有同学申请加入「{cohort}」的班级群（{status}），但目前没有可用的入群二维码。"
    "请在校友工作台登记新的群二维码，并查看待确认的同学。",
    "en": "A classmate asked to join the group of {cohort} ({status}), but there is no valid join QR code. "
    "Please register a new group QR code in the alumni console and review who is waiting.",
}
CLASS_JOIN_LIAISON_STATUS = {
    "zh": CLASS_MEMBERSHIP_STATUS_NAMES,
    "en": {"verified": "verified", "waiting": "waiting for you to confirm", "flagged": "not in their record: check"},
}
# A liaison's nomination of an outstanding classmate (services/classes/nominations.py).
CLASS_NOMINATION_ERRORS = {
    "person": "被推荐人不是这个班级的同学，请从班级名单中选择。",
    "citation": "请填写推荐理由（1–2000 字）。",
    "evidence": "证明材料须为 JPEG、PNG 或 PDF 文件，每个不超过 {max_mb} MB。",
    "too_many": "证明材料最多 {max_files} 个文件。",
}

# --- the staff console (admin/, services/staff) ----------------------------------------------------------------------

STAFF_ROLE_NAMES = {
    "admin": "管理员",
    "officer": "校友办工作人员",
    "leader": "校友会领导",
    "broadcaster": "群发专员",
    "viewer": "只读查看",
    "branch_admin": "地方校友会管理员",
    "class_liaison": "班级联络人",
}
STAFF_TOTP_ISSUER = "校友会工作台"  # the name an authenticator app shows beside the code
# Every label and message of the console's pages; templates read them as T.<key>.
CONSOLE = {
    "product": "校友会工作台",
    "skip_to_content": "跳到正文",
    "nav_home": "首页",
    "nav_staff": "工作人员",
    "nav_audit": "审计日志",
    "nav_settings": "系统设置",
    "signed_in_as": "当前用户",
    "logout": "退出登录",
    "language_switch": "English",  # the console's language switch offers the other language, in that language
    "language_unknown": "不支持这种语言。",
    "logout_everywhere": "退出所有设备",
    # login
    "login_title": "登录",
    "username": "用户名",
    "password": "密码",
    "password_again": "再次输入密码",
    "login_submit": "下一步",
    "login_failed": "用户名或密码错误。",
    "login_locked": "登录失败次数过多，请 {minutes} 分钟后再试。",
    "session_expired": "登录已过期，请重新登录。",
    "logged_out": "您已退出登录。",
    "logged_out_everywhere": "已退出所有设备上的登录。",
    "second_step_expired": "验证超时，请重新输入用户名和密码。",
    # the second factor
    "totp_title": "两步验证",
    "totp_prompt": "请输入身份验证器 App 中的 6 位验证码。手机不在身边时，可输入一个恢复码。",
    "totp_code": "验证码或恢复码",
    "totp_submit": "验证",
    "totp_failed": "验证码错误或已使用，请等待下一个验证码。",
    "recovery_used": "已使用一个恢复码，还剩 {remaining} 个。恢复码用完前请联系管理员重置两步验证。",
    "enrol_title": "设置两步验证",
    "enrol_steps": "首次登录需要绑定身份验证器：用 App（如 Google Authenticator、Microsoft Authenticator）"
    "扫描下方二维码，然后输入 App 显示的 6 位验证码。",
    "enrol_secret": "无法扫码时，手动输入密钥：",
    "enrol_qr_alt": "两步验证二维码",
    "enrol_submit": "完成绑定",
    "enrolled_title": "请保存恢复码",
    "enrolled_note": "两步验证已绑定。以下 10 个恢复码只显示这一次，每个只能使用一次。请抄写或打印后妥善保管；"
    "手机丢失时可用它登录。",
    "enrolled_continue": "我已保存，进入工作台",
    # home
    "home_title": "首页",
    "home_welcome": "{name}，您好。您的角色：{roles}。",
    "home_reachable": "您可以使用：",
    "home_nothing": "您的角色目前没有可用的页面，请联系管理员。",
    "page_staff": "管理工作人员账号、角色和两步验证。",
    "page_audit": "查询谁在何时做了什么。",
    "page_settings": "查看当前生效的配置（密钥已隐藏）。",
    # staff
    "staff_title": "工作人员",
    "staff_display_name": "姓名",
    "staff_roles": "角色",
    "staff_totp": "两步验证",
    "staff_totp_on": "已绑定",
    "staff_totp_off": "未绑定",
    "staff_status": "状态",
    "staff_active": "正常",
    "staff_disabled": "已停用",
    "staff_created": "创建时间",
    "staff_actions": "操作",
    "staff_disable": "停用",
    "staff_reset_totp": "重置两步验证",
    "staff_create_title": "新建账号",
    "staff_create_submit": "创建",
    "staff_password_hint": "至少 12 个字符。新账号首次登录时绑定两步验证。",
    "staff_created_ok": "已创建账号 {username}。",
    "staff_disabled_ok": "已停用账号 {username}，其所有登录已失效。",
    "staff_reset_ok": "已重置 {username} 的两步验证，其下次登录时重新绑定。",
    "staff_none": "还没有账号。",
    # audit
    "audit_title": "审计日志",
    "audit_actor": "操作人",
    "audit_action": "操作",
    "audit_person": "校友编号",
    "audit_since": "起始日期",
    "audit_until": "截止日期",
    "audit_filter": "查询",
    "audit_at": "时间（北京时间）",
    "audit_detail": "详情",
    "audit_none": "没有符合条件的记录。",
    "audit_older": "更早的记录 →",
    "audit_newest": "← 最新记录",
    "audit_bad_filter": "查询条件有误：校友编号应为数字，日期格式为 YYYY-MM-DD。",
    # settings
    "settings_title": "系统设置",
    "settings_note": "当前生效的配置（config.yaml 与环境变量合并后），只读；密钥只显示末两位。",
    "settings_key": "配置项",
    "settings_value": "值",
    # cards (admin/cards.py)
    "nav_card_review": "卡片审核",
    "nav_cards": "校友卡",
    "nav_scanners": "扫码设备",
    "page_card_review": "审核校友卡申请：查看证明材料，批准或驳回。",
    "page_cards": "按状态查看校友卡，暂停、恢复、注销或挂失。",
    "page_scanners": "管理场馆扫码设备的凭证。",
    "review_title": "校友卡申请审核",
    "review_none": "目前没有等待审核的申请。",
    "review_more": "更多申请 →",
    "review_first": "← 第一页",
    "review_application": "申请 {id}",
    "review_submitted": "提交时间",
    "review_status": "状态",
    "review_method": "方式",
    "review_methods_verification": "核验信息 + 证明材料",
    "review_methods_vouch": "班级联络人担保",
    "review_claim": "申请人填写的信息（已部分隐藏）",
    "review_claim_name": "姓名",
    "review_claim_student_no": "学号",
    "review_claim_grad_year": "毕业年份",
    "review_claim_college": "学院",
    "review_claim_class": "班级",
    "review_claim_factor": "第二项信息",
    "review_factors_id_last4": "身份证号后 4 位",
    "review_factors_birth_date": "出生日期",
    "review_claim_reason": "未能自动核验的原因",
    "review_reasons_no_match": "档案中没有匹配的校友",
    "review_reasons_already_claimed": "该校友已绑定其他微信",
    "review_reasons_identity_elsewhere": "该微信已绑定其他校友",
    "review_reasons_ambiguous": "匹配到多位校友",
    "review_reasons_deceased": "档案记录为已故",
    "review_reasons_restricted": "档案已限制处理",
    "review_person": "对应校友档案",
    "review_person_none": "尚未匹配",
    "review_evidence": "证明材料",
    "review_evidence_none": "没有上传材料。",
    "review_evidence_deleted": "已按保存期限删除",
    "review_evidence_pdf": "PDF 文件（{size} KB），点击查看",
    "review_evidence_hidden": "{count} 个文件（您的角色不能查看证明材料）",
    "review_evidence_alt": "申请 {id} 的证明材料 {n}",
    "review_open": "查看详情",
    "review_approve": "批准并发卡",
    "review_approve_as": "批准：就是此人",
    "review_reject": "驳回",
    "review_reject_reason": "驳回原因（将告知申请人）",
    "review_find_person": "查找对应的校友（姓名、拼音或学号）",
    "review_find": "查找",
    "review_found_none": "没有找到符合的校友。",
    "review_found_person": "编号 {id}",
    "review_decided": "该申请已处理：{status}。",
    "review_approved_ok": "申请 {id} 已批准，已发卡。",
    "review_rejected_ok": "申请 {id} 已驳回。",
    "review_told_subscribe": "已通过小程序订阅消息通知申请人。",
    "review_told_customer_service": "已通过公众号客服消息通知申请人。",
    "review_told_failed": "未能通知申请人（没有订阅授权，也没有关注公众号），请另行联系。",
    "cards_title": "校友卡",
    "cards_all": "全部",
    "cards_number": "卡号",
    "cards_search": "查询",
    "cards_holder": "持卡人",
    "cards_status": "状态",
    "cards_tier": "等级",
    "cards_issued": "发卡时间",
    "cards_expires": "有效期至",
    "cards_never": "长期有效",
    "cards_actions": "操作",
    "cards_reason": "原因",
    "cards_none": "没有符合条件的校友卡。",
    "cards_older": "更早的卡 →",
    "cards_newest": "← 最新",
    "cards_bad_filter": "查询条件有误。",
    "cards_names_masked": "持卡人姓名只显示第一个字。",
    "cards_suspend": "暂停",
    "cards_reinstate": "恢复",
    "cards_revoke": "注销",
    "cards_lost": "挂失并补卡",
    "cards_done_suspend": "卡 {number} 已暂停。",
    "cards_done_reinstate": "卡 {number} 已恢复。",
    "cards_done_revoke": "卡 {number} 已注销。",
    "cards_done_lost": "卡 {number} 已挂失，补发新卡 {new_number}。",
    "scanners_title": "扫码设备",
    "scanners_label": "设备名称（如：图书馆东门）",
    "scanners_created_by": "创建人",
    "scanners_created_at": "创建时间",
    "scanners_state": "状态",
    "scanners_live": "使用中",
    "scanners_revoked": "已停用",
    "scanners_revoke": "停用",
    "scanners_create_title": "新增设备",
    "scanners_create": "生成凭证",
    "scanners_none": "还没有扫码设备。",
    "scanners_secret_title": "设备 {label} 的凭证",
    "scanners_secret_note": "凭证只显示这一次，请立即配置到扫码设备中；离开本页后无法再查看。遗失时请停用并重新生成。",
    "scanners_revoked_ok": "设备 {id} 已停用，其凭证立即失效。",
    "invalid_id": "请选择一位校友。",
    # errors and validation
    "error_title": "出错了",
    "error_400": "请求无效或表单已过期，请返回刷新页面后重试。",
    "error_403": "您的角色没有访问此页面的权限。",
    "error_404": "页面不存在。",
    "error_405": "不支持这种请求方式。",
    "error_413": "上传的内容过大。",
    "error_other": "请求无法完成，请稍后再试。",
    "back_home": "返回首页",
    "username_invalid": "用户名须为 3–32 个小写字母、数字、点、横线或下划线。",
    "username_taken": "用户名已被使用。",
    "display_name_invalid": "请填写姓名（64 字以内）。",
    "password_too_short": "密码至少 12 个字符。",
    "password_too_long": "密码不能超过 128 个字符。",
    "password_is_username": "密码不能与用户名相同。",
    "passwords_differ": "两次输入的密码不一致。",
    "roles_invalid": "请至少选择一个有效角色。",
    "cannot_disable_self": "不能停用自己的账号。",
    "already_enrolled": "该账号已绑定两步验证。",
    # --- the dashboard (admin/dashboard.py)
    "dashboard_title": "概览",
    "dashboard_updated": "图表统计于 {at}，每 {minutes} 分钟更新；待办数字为实时数据。",
    "dashboard_never": "图表尚未统计：计划任务进程（python -m jobs）启动几秒后会统计历史数据，"
    "之后每 {minutes} 分钟更新。待办数字为实时数据。",
    "tile_followers": "关注人数",
    "tile_followers_week": "本周新关注 {follows}，取消关注 {unfollows}",
    "tile_cards_week": "本周发卡",
    "tile_cards_week_note": "本周收到申请 {applications}",
    "tile_pending_reviews": "待审核的校友卡申请",
    "tile_pending_reviews_link": "去审核",
    "tile_open_inquiries": "待回复的咨询",
    "tile_none": "—",
    "chart_followers_title": "关注人数（近 {weeks} 周，每周末）",
    "chart_followers_desc": "折线图：每周结束时关注公众号的人数。纵轴不从 0 开始，以便看清变化。",
    "chart_cards_title": "每周发卡数（近 {weeks} 周）",
    "chart_cards_desc": "柱状图：每周新发的校友卡数量（含挂失补卡）。",
    "chart_point": "{week}：{value}",
    "chart_week": "{start} 起的一周",
    "chart_empty": "还没有数据。",
    "chart_table": "查看数字",
    "chart_col_week": "周（周一）",
    "chart_col_followers": "周末关注人数",
    "chart_col_follows": "新关注",
    "chart_col_unfollows": "取消关注",
    "chart_col_cards": "发卡",
    "chart_col_applications": "申请",
    # --- alumni: search, a person, duplicates, data-subject requests (admin/alumni.py)
    "nav_alumni": "校友查询",
    "page_alumni": "按姓名、拼音、学号或届别、学院、城市查找校友，查看档案。",
    "nav_alumni_duplicates": "重复档案",
    "page_alumni_duplicates": "可能是同一人的档案：并排比对、合并与撤销合并。",
    "alumni_title": "校友查询",
    "alumni_q": "姓名 / 拼音 / 首字母 / 学号",
    "alumni_q_hint": "如：李明、liming、lm 或学号",
    "alumni_year": "毕业年份",
    "alumni_college": "学院",
    "alumni_major": "专业",
    "alumni_class": "班级",
    "alumni_city": "城市",
    "alumni_search_button": "查询",
    "alumni_search_hint": "已合并、已匿名的档案不在结果中。",
    "alumni_names_masked": "您的角色只能看到姓名的第一个字，学号只显示年份。",
    "alumni_id": "编号",
    "alumni_name": "姓名",
    "alumni_student_no": "学号",
    "alumni_deceased": "已故",
    "alumni_more_records": "另有 {count} 条学籍",
    "alumni_none": "没有找到符合条件的校友。",
    "alumni_prev": "← 上一页",
    "alumni_next": "下一页 →",
    "alumni_page": "第 {page} 页",
    "alumni_bad_year": "毕业年份须为四位数字（1900–2100）。",
    "alumni_bad_page": "页码无效。",
    "alumni_too_deep": "只能翻看前 {limit} 条结果，请增加查询条件缩小范围。",
    "alumni_no_query": "请输入姓名、拼音或学号，或至少填写一个筛选条件。",
    "alumni_bad_query": "无法识别查询内容：请输入中文姓名、拼音（或首字母）或学号。",
    "alumni_deleted_ok": "档案 {id} 及其全部信息已删除。",
    "alumni_person_id": "编号 {id}",
    "alumni_status": "状态",
    "alumni_status_active": "在册",
    "alumni_status_merged": "已合并到",
    "alumni_status_anonymised": "已匿名化",
    "alumni_status_restricted": "已限制处理",
    "alumni_basic": "基本信息",
    "alumni_name_traditional": "繁体姓名",
    "alumni_name_pinyin": "拼音",
    "alumni_former_names": "曾用名",
    "alumni_birth_year": "出生年份",
    "alumni_unknown": "未登记",
    "alumni_gender_M": "男",
    "alumni_gender_F": "女",
    "alumni_id_number": "身份证号",
    "alumni_id_number_held": "已登记（只保存加密散列，无法查看）",
    "alumni_id_number_none": "未登记",
    "alumni_source_registrar": "学籍系统",
    "alumni_source_self_reported": "本人申报",
    "alumni_source_liaison": "联络人",
    "alumni_source_other": "其他来源",
    "alumni_batch": "批次 {id}",
    "alumni_provenance": "来源",
    "alumni_contacts": "联系方式",
    "alumni_contact_kind": "类型",
    "alumni_contact_value": "内容",
    "alumni_contact_phone": "手机",
    "alumni_contact_email": "邮箱",
    "alumni_contact_address": "地址",
    "alumni_contacts_none": "没有联系方式。",
    "alumni_reveal": "查看",
    "alumni_reveal_reason": "查看原因（必填，记入审计）",
    "alumni_revealed_note": "（本次查看已记入审计日志）",
    "alumni_reason_required": "请填写查看原因。",
    "alumni_education": "学籍",
    "alumni_institution": "学校",
    "alumni_education_none": "没有学籍记录。",
    "alumni_level_associate": "专科",
    "alumni_level_bachelor": "本科",
    "alumni_level_master": "硕士",
    "alumni_level_doctor": "博士",
    "alumni_level_adult": "成人教育",
    "alumni_level_online": "网络教育",
    "alumni_employment": "工作经历",
    "alumni_employer": "工作单位",
    "alumni_job_title": "职务",
    "alumni_industry": "行业",
    "alumni_country": "国家",
    "alumni_former_job": "（以前）",
    "alumni_employment_none": "没有工作信息。",
    "alumni_candidates": "可能重复的档案",
    "alumni_candidates_none": "没有发现可能重复的档案。",
    "alumni_compare": "并排比对",
    "alumni_reason_student_no": "学号相同（不同学校）",
    "alumni_reason_name_year_college": "同名、同届、同学院",
    "alumni_reason_pinyin_year_college": "拼音相同、同届、同学院",
    "alumni_reason_id_number": "身份证号相同",
    "alumni_reason_phone": "手机相同",
    "alumni_reason_simplified_traditional": "繁简写法不同",
    "alumni_history": "审计记录",
    "alumni_history_all": "在审计日志中查看全部 →",
    "alumni_subject_title": "个人信息请求",
    "alumni_export_title": "查阅与复制（导出）",
    "alumni_export_hint": "下载此人的全部信息（JSON，含明文联系方式与来源），导出会记入审计日志。",
    "alumni_export": "导出全部信息",
    "alumni_correct_title": "更正",
    "alumni_correct_hint": "修改需要更正的项；留空或未改动的项保持不变。更正单独成批，可追溯来源。",
    "alumni_correct_source": "更正依据",
    "alumni_correct": "保存更正",
    "alumni_unchanged_if_blank": "留空则不修改",
    "alumni_yes": "是",
    "alumni_no": "否",
    "alumni_field_name": "姓名",
    "alumni_field_gender": "性别",
    "alumni_field_birth_date": "出生日期",
    "alumni_field_nationality": "国籍",
    "alumni_field_deceased": "已故",
    "alumni_field_college": "学院",
    "alumni_field_major": "专业",
    "alumni_field_class_name": "班级",
    "alumni_field_entry_year": "入学年份",
    "alumni_field_grad_year": "毕业年份",
    "alumni_field_level": "学历",
    "alumni_field_international": "留学生",
    "alumni_bad_value": "「{field}」的值无效，请检查后重试。",
    "alumni_bad_name": "姓名无效。",
    "alumni_bad_source": "请选择更正依据。",
    "alumni_not_correctable": "这些信息不能在此更正。",
    "alumni_nothing_to_correct": "没有需要更正的内容：所填的值与现有信息相同。",
    "alumni_corrected_ok": "更正已保存。",
    "alumni_restrict_title": "限制处理",
    "alumni_restrict": "限制处理",
    "alumni_restrict_hint": "限制后，此人不再出现在查询、导出、合并和身份核验中，直到解除限制。",
    "alumni_unrestrict": "解除限制",
    "alumni_unrestrict_hint": "解除后，此人重新出现在查询、导出、合并和身份核验中。",
    "alumni_restricted_ok": "已限制处理此人的信息。",
    "alumni_unrestricted_ok": "已解除限制。",
    "alumni_restricted_refused": "此人的信息已被限制处理，不能进行该操作。",
    "alumni_anonymise_title": "匿名化",
    "alumni_anonymise": "匿名化",
    "alumni_anonymise_hint": "不可撤销：删除姓名、联系方式、工作和微信绑定等可识别此人的信息，"
    "只保留学院、专业、年份等统计信息。",
    "alumni_anonymised_ok": "此人的信息已匿名化。",
    "alumni_delete_title": "删除",
    "alumni_delete": "永久删除",
    "alumni_delete_hint": "不可撤销：删除此人及其全部记录（统计数字随之减少），审计日志只保留编号。",
    "alumni_confirm_label": "请输入编号 {id} 以确认",
    "alumni_confirm_mismatch": "确认编号不符，未执行任何操作。",
    "alumni_duplicates_title": "重复档案",
    "alumni_duplicates_hint": "按学号、身份证号、手机或姓名＋届别＋学院找出的可能是同一人的档案，理由越多越靠前。",
    "alumni_pair_first": "档案一",
    "alumni_pair_second": "档案二",
    "alumni_pair_reasons": "判断依据",
    "alumni_pairs_none": "没有发现可能重复的档案。",
    "alumni_compare_title": "并排比对",
    "alumni_not_a_pair": "系统没有把这两份档案判断为重复。",
    "alumni_merge_title": "合并",
    "alumni_merge_keep": "保留哪一份档案（另一份并入其中）",
    "alumni_merge_hint": "各项取来源更可信的值，学籍、联系方式等全部转入保留的档案；{days} 天内可撤销。",
    "alumni_merge_confirm": "我已核对，确认是同一人",
    "alumni_merge": "合并",
    "alumni_merge_choose": "请选择要保留的档案。",
    "alumni_merge_unconfirmed": "请勾选确认后再合并。",
    "alumni_merge_self": "不能把档案与其自身合并。",
    "alumni_merge_inactive": "档案 {id} 已合并或已匿名，不能合并。",
    "alumni_merged_ok": "已合并（合并记录 {id}），{days} 天内可撤销。",
    "alumni_merges": "最近的合并",
    "alumni_merges_hint": "合并后 {days} 天内可撤销。",
    "alumni_merges_none": "还没有合并记录。",
    "alumni_merge_id": "合并记录",
    "alumni_merge_kept": "保留",
    "alumni_merge_merged": "并入",
    "alumni_merge_at": "合并时间",
    "alumni_unmerge": "撤销合并",
    "alumni_unmerged_ok": "合并记录 {id} 已撤销，两份档案已恢复。",
    "alumni_unmerged_at": "已于 {at} 撤销",
    "alumni_unmerge_closed": "已过撤销期限",
    "alumni_unmerge_done": "这次合并已经撤销过了。",
    "alumni_unmerge_expired": "合并已超过 {days} 天，不能再撤销。",
    "alumni_unmerge_depends": "此后的合并或匿名化依赖这次合并，不能撤销。",
    # --- roster imports (admin/imports.py)
    "nav_imports": "名单导入",
    "page_imports": "上传学籍名单（.xlsx 或 .csv），在后台导入，查看进度和错误报告，必要时撤销整批。",
    "imports_title": "名单导入",
    "imports_upload_title": "上传名单",
    "imports_file": "名单文件",
    "imports_source": "数据来源",
    "imports_encoding": "CSV 编码",
    "imports_encoding_utf_8_sig": "UTF-8",
    "imports_encoding_gb18030": "GB18030 / GBK",
    "imports_upload": "上传并导入",
    "imports_upload_hint": "支持 .xlsx 和 .csv，不超过 {limit}。整个文件要么全部导入，要么全部不导入；"
    "有错误时可下载错误报告，改正后重新上传。导入在后台进行，可以离开本页。"
    "CSV 编码：Excel 另存为“CSV UTF-8”时选 UTF-8，中文版 Excel 的普通 CSV 选 GB18030；.xlsx 不用选。",
    "imports_jobs_title": "最近的导入任务",
    "imports_batches_title": "最近的导入批次（含命令行导入）",
    "imports_col_id": "编号",
    "imports_col_file": "文件",
    "imports_col_source": "来源",
    "imports_col_actor": "操作人",
    "imports_col_created": "提交时间",
    "imports_col_status": "状态",
    "imports_col_batch": "批次",
    "imports_col_rows": "行数",
    "imports_col_counts": "新增 / 更新 / 未变",
    "imports_col_errors": "错误",
    "imports_col_actions": "操作",
    "imports_none": "还没有导入任务。",
    "imports_batches_none": "还没有导入批次。",
    "imports_view": "查看",
    "imports_source_registrar": "教务处学籍",
    "imports_source_self_reported": "校友本人填报",
    "imports_source_liaison": "联络人提供",
    "imports_source_other": "其他",
    "imports_status_queued": "排队中",
    "imports_status_running": "导入中",
    "imports_status_completed": "已完成",
    "imports_status_rejected": "有错误，未导入",
    "imports_status_failed": "失败",
    "imports_status_interrupted": "已中断",
    "imports_status_cancelled": "已取消",
    "imports_batch_running": "进行中",
    "imports_batch_completed": "已完成",
    "imports_batch_rejected": "有错误，未导入",
    "imports_batch_failed": "失败，未导入",
    "imports_batch_rolled_back": "已撤销",
    "imports_job_title": "导入任务 {id}",
    "imports_back": "返回名单导入",
    "imports_progress_label": "导入进度",
    "imports_progress_rows": "已处理 {done} / {total} 行",
    "imports_progress_rows_unknown": "已处理 {done} 行",
    "imports_queued_ahead": "排队中，前面还有 {ahead} 个任务。",
    "imports_queued_next": "排队中，即将开始。",
    "imports_running_note": "正在后台导入，本页每秒自动更新。",
    "imports_done_completed": "导入完成：共 {rows} 行，新增 {inserted}，更新 {updated}，"
    "未变 {unchanged}（批次 {batch}）。",
    "imports_done_rejected": "文件有 {errors} 处错误，整个文件都没有导入（批次 {batch}）。"
    "请下载错误报告，改正后重新上传。",
    "imports_done_failed": "导入失败（{reason}），没有写入任何数据。请稍后重试；仍然失败时请联系技术人员。",
    "imports_done_interrupted": "导入进程中途停止（例如服务重启），没有写入任何数据。请重新上传。",
    "imports_done_cancelled": "此任务在开始前被取消（{reason}），没有写入任何数据。",
    "imports_cancel": "取消此任务",
    "imports_cancelled_by": "{actor} 取消",
    "imports_cancel_too_late": "任务已是“{status}”状态，不能再取消；正在导入的任务请等它结束，需要时撤销批次。",
    "imports_done_rolled_back": "此批次已于 {at} 撤销。",
    "imports_download_report": "下载错误报告（.xlsx）",
    "imports_download_report_short": "错误报告",
    "imports_rollback": "撤销此批次",
    "imports_rollback_confirm": "我确认撤销：恢复此批次改动前的数据，删除它新增的校友",
    "imports_rollback_confirm_short": "确认",
    "imports_rollback_ok": "批次 {batch} 已撤销：删除 {people} 位校友，恢复 {restored} 条记录。",
    "imports_rollback_unconfirmed": "请先勾选确认，再撤销批次。",
    "imports_rollback_status": "该批次的状态是“{status}”，只有已完成的导入或更正可以撤销。",
    "imports_corrections_title": "最近的更正批次（工作人员或联络人确认的变更、外联回复、档案更正）",
    "imports_corrections_none": "还没有更正批次。",
    "imports_col_label": "说明",
    "imports_col_person": "校友",
    "imports_correction_rollback_confirm": "我确认撤销：恢复此更正改动前的数据（含来源），"
    "删除它新增的联系方式或工作记录",
    "imports_correction_rollback_ok": "更正批次 {batch} 已撤销：恢复 {restored} 条记录，删除 {rows} 条新增记录。",
    "imports_rollback_later_changes": "之后的导入、更正、合并或绑定用到了这一批次的数据，请先撤销它们，再撤销此批次。",
    "imports_too_large": "文件超过 {limit} 的上限，没有保存。请拆分后分别上传。",
    "imports_no_file": "请选择要上传的名单文件。",
    "imports_bad_type": "只能上传 .xlsx 或 .csv 文件。",
    "imports_not_xlsx": "文件扩展名是 .xlsx，但内容不是 Excel 工作簿。请用 Excel 另存为 .xlsx 后再上传。",
    "imports_not_text": "文件内容不是文本（按 {encoding} 无法解码，或含有二进制内容），不能作为 CSV 导入。"
    "请检查文件，或选择正确的编码。",
    "imports_empty": "文件是空的。",
    "imports_bad_source": "请选择数据来源。",
    "imports_bad_encoding": "请选择 CSV 编码。",
    "imports_report_sheet": "错误报告",
    # --- the official account: menu and chat simulator; staff roles (admin/wechat.py, admin/pages.py)
    "nav_wechat_menu": "公众号菜单",
    "page_wechat_menu": "查看配置文件中的自定义菜单，并推送到微信。",
    "nav_wechat_chat": "对话模拟",
    "page_wechat_chat": "以测试粉丝的身份与公众号机器人对话。",
    "menu_title": "公众号自定义菜单",
    "menu_source": "菜单来自配置文件 config.yaml 的 menu.button。修改配置并重启服务后，在此推送到微信，"
    "粉丝看到的菜单才会更新。",
    "menu_none": "配置文件中没有菜单按钮。",
    "menu_name": "名称",
    "menu_type": "类型",
    "menu_target": "键值 / 链接",
    "menu_type_click": "点击（发送事件）",
    "menu_type_view": "打开网页",
    "menu_type_miniprogram": "打开小程序",
    "menu_type_scancode_push": "扫码",
    "menu_type_scancode_waitmsg": "扫码（等待消息）",
    "menu_type_location_select": "发送位置",
    "menu_type_group": "子菜单",
    "menu_key": "键值",
    "menu_url": "链接",
    "menu_appid": "小程序 AppID",
    "menu_pagepath": "小程序页面",
    "menu_json": "推送给微信的 JSON",
    "menu_push": "推送到微信",
    "menu_push_hint": "推送会替换粉丝看到的菜单（微信客户端可能几分钟后才刷新）。此操作记入审计日志。",
    "menu_push_admin_only": "推送菜单需要管理员角色。",
    "menu_pushed_ok": "菜单已推送到微信：{names}。",
    "menu_empty": "配置文件中没有菜单按钮（menu.button 为空），没有可推送的内容。",
    "menu_wechat_refused": "微信拒绝了这个菜单（错误码 {errcode}：{errmsg}），粉丝的菜单没有变化。",
    "menu_wechat_unreachable": "无法连接微信服务器（{url}），菜单没有推送。请检查网络后重试。",
    "menu_hint_format": "菜单不符合微信的格式要求（按钮数量、名称或键值长度），请检查 config.yaml。",
    "menu_hint_permission": "该公众号没有自定义菜单接口的权限（例如未认证的订阅号）。",
    "menu_hint_credentials": "公众号的 AppID 或 AppSecret 有误，请检查配置。",
    "menu_hint_ip": "本服务器的 IP 不在公众号的 IP 白名单中，请在微信公众平台添加。",
    "chat_title": "对话模拟",
    "chat_intro": "您以测试粉丝 {openid} 的身份与机器人对话。每条消息都像微信那样签名、用公众号的 AES 密钥加密后"
    "送到本服务的 /wechat 接口，经过同样的签名校验、防重放、解密和处理流程；回复经验签、解密后显示在这里。",
    "chat_you": "我",
    "chat_bot": "机器人",
    "chat_later": "机器人（客服消息）",
    "chat_message": "消息",
    "chat_send": "发送",
    "chat_events": "事件",
    "chat_subscribe": "关注",
    "chat_unsubscribe": "取消关注",
    "chat_click": "点击菜单：{name}",
    "chat_scan": "扫码",
    "chat_scene": "二维码场景值",
    "chat_sent_subscribe": "［关注公众号］",
    "chat_sent_unsubscribe": "［取消关注］",
    "chat_sent_click": "［点击菜单 {key}］",
    "chat_sent_scan": "［扫描二维码，场景值 {scene}］",
    "chat_no_reply": "（没有即时回复：接口回答了 success）",
    "chat_refused": "接口拒绝了这条消息（HTTP {status}）：{problem}",
    "chat_later_check": "查看后续消息",
    "chat_later_emulator": "机器人稍后以客服消息发送的内容来自本地微信模拟器的消息记录，点击“查看后续消息”显示。",
    "chat_later_wechat": "机器人稍后发送的客服消息会发往微信；测试粉丝在微信并不存在，这些消息无法在此显示。",
    "chat_emulator_down": "无法连接微信模拟器（{url}），后续的客服消息无法显示。",
    "chat_empty": "请输入消息内容。",
    "chat_too_long": "消息太长（最多 {max} 个字）。",
    "chat_bad_event": "未知的事件或菜单键值。",
    "chat_bad_scene": "场景值须为 1–64 个字母、数字、下划线或横线。",
    "chat_clear": "清空对话",
    "chat_none": "还没有对话。发一句「帮助」试试。",
    "staff_edit_roles": "修改角色",
    "staff_roles_save": "保存角色",
    "staff_roles_ok": "已修改 {username} 的角色，其下一次操作起生效。",
    "staff_last_admin": "不能取消最后一位在用管理员的管理员角色：请先让另一个账号成为管理员。",
    # --- class groups (admin/classes.py)
    "nav_classes": "班级群",
    "page_classes": "各班级的入群覆盖率、没有联络人的班级；联络人只看到自己负责的班级。",
    "nav_class_reports": "联系方式变更",
    "page_class_reports": "同学报告的新电话、邮箱、城市或单位，确认后写入校友档案。",
    "nav_class_vouching": "待担保申请",
    "page_class_vouching": "请班级联络人担保的校友卡申请。",
    "classes_title": "班级群覆盖率",
    "classes_scoped": "只显示您担任联络人的班级。",
    "classes_sort": "排序",
    "classes_sort_coverage": "覆盖率从低到高",
    "classes_sort_-coverage": "覆盖率从高到低",
    "classes_sort_roster": "人数从少到多",
    "classes_sort_-roster": "人数从多到少",
    "classes_sort_label": "班级名称",
    "classes_without_liaison": "只看没有联络人的班级",
    "classes_filter": "筛选",
    "classes_export": "导出 Excel",
    "classes_id": "编号",
    "classes_cohort": "班级",
    "classes_roster": "名单人数",
    "classes_joined": "已入群",
    "classes_verified": "已核验",
    "classes_percent": "覆盖率 %",
    "classes_liaison": "联络人",
    "classes_yes": "有",
    "classes_no": "无",
    "classes_none": "没有符合条件的班级。",
    "classes_more": "下一页",
    "classes_back": "上一页",
    "classes_bad_query": "查询参数有误，请重新选择。",
    "classes_bad_date": "日期格式应为 YYYY-MM-DD。",
    "classes_bad_count": "人数须为非负整数。",
    "classes_too_large": "上传的文件太大（最大 {limit}）。",
    "classes_numbers": "入群情况",
    "classes_group": "班级群",
    "classes_group_none": "还没有登记班级群。",
    "classes_group_expires": "入群二维码有效期至 {at}。",
    "classes_group_no_expiry": "入群二维码没有有效期。",
    "classes_group_expired": "入群二维码已过期，请登记新的二维码。",
    "classes_group_expiring": "入群二维码即将过期，请尽快登记新的二维码。",
    "classes_group_members": "群成员（联络人报告）：{count} 人",
    "classes_group_register": "登记 / 更新班级群",
    "classes_group_name": "群名称",
    "classes_group_owner": "群主",
    "classes_group_platform": "平台",
    "classes_group_qr": "入群二维码截图（PNG 或 JPEG，最大 {limit}）",
    "classes_group_expires_on": "二维码到期日（可不填：微信群为 7 天后）",
    "classes_group_members_now": "当前群人数",
    "classes_group_submit": "上传并登记",
    "classes_liaisons": "联络人",
    "classes_liaisons_none": "还没有联络人。",
    "classes_liaison_primary": "主联络人",
    "classes_liaison_deputy": "副联络人",
    "classes_liaison_term": "任期自 {start}",
    "classes_liaison_end": "结束任期",
    "classes_appoint": "任命联络人",
    "classes_appoint_name": "姓名",
    "classes_appoint_role": "角色",
    "classes_appoint_start": "任期开始",
    "classes_appoint_end": "任期结束",
    "classes_appoint_letter": "聘书日期",
    "classes_appoint_language": "语言",
    "classes_appoint_contact": "给同学的联系方式",
    "classes_appoint_staff": "工作台账号（可不填）",
    "classes_appoint_submit": "任命",
    "classes_no_account": "没有这个工作台账号。",
    "classes_invite": "邀请二维码",
    "classes_invite_hint": "同学用微信扫描此二维码，即可在公众号里直接加入本班级群。",
    "classes_invite_make": "生成邀请二维码",
    "classes_invite_none": "还没有生成邀请二维码。",
    "classes_wechat_unreachable": "无法连接微信服务器，邀请二维码没有生成，请稍后重试。",
    "classes_wechat_refused": "微信拒绝生成二维码（错误码 {errcode}：{errmsg}），请稍后重试。",
    "classes_links": "名单与报告",
    "classes_open_roster": "班级名单",
    "classes_open_not_joined": "尚未入群的同学",
    "classes_open_reports": "联系方式变更报告",
    "classes_has_reports": "有待确认的联系方式变更。",
    "classes_nominations": "推荐优秀校友",
    "classes_nominations_none": "还没有推荐。",
    "classes_nominate_person": "被推荐人编号（见班级名单）",
    "classes_nominate_citation": "推荐理由",
    "classes_nominate_evidence": "证明材料（JPEG、PNG 或 PDF，可多选）",
    "classes_nominate_submit": "提交推荐",
    "classes_nomination_files": "{count} 个材料",
    "classes_nomination_evidence": "材料 {n}（{kind}，{size}）",
    "classes_nomination_evidence_note": "下载材料会记入审计日志。",
    "classes_group_qr_alt": "{group} 的入群二维码",
    "classes_done_group": "班级群已登记。",
    "classes_done_invite": "邀请二维码已生成。",
    "classes_done_appointed": "联络人已任命。",
    "classes_done_edited": "班级信息已保存；之后从校友库重建班级时会保留这些修改。",
    "classes_edit": "班级信息",
    "classes_edit_label": "班级名称",
    "classes_edit_major": "专业",
    "classes_edit_class": "班级",
    "classes_edit_grad_year": "毕业年份",
    "classes_edit_save": "保存",
    "classes_edit_note": "名称等信息默认取自校友库；修改后，每晚重建班级时不再覆盖。",
    "classes_done_ended": "联络人任期已结束。",
    "classes_done_nominated": "推荐已提交。",
    "classes_roster_title": "{cohort} 名单",
    "classes_roster_all": "全部同学",
    "classes_roster_not_joined": "只看尚未入群的",
    "classes_person_id": "编号",
    "classes_name": "姓名",
    "classes_student_no": "学号",
    "classes_state": "状态",
    "classes_state_verified": "已核验",
    "classes_state_joined": "已入群，待核验",
    "classes_state_not_joined": "尚未入群",
    "classes_state_flagged": "需核对",
    "classes_roster_none": "没有符合条件的同学。",
    "classes_reveal": "显示姓名",
    "classes_reveal_reason": "请填写查看原因（会记入审计日志）。",
    "classes_reveal_reason_label": "查看原因",
    "classes_revealed": "本页姓名以明文显示，此次查看已记入审计日志。",
    "classes_waiting": "等待担保的入群申请",
    "classes_waiting_none": "没有等待担保的入群申请。",
    "classes_waiting_unknown": "（仅有微信身份，校友档案中未找到）",
    "classes_vouch": "担保：是本班同学",
    "classes_vouched_ok": "已担保，该同学已核验。",
    "classes_channel": "途径",
    "classes_applied_at": "申请时间",
    "classes_reports_title": "联系方式变更报告",
    "classes_reports_of": "{cohort} 的联系方式变更报告",
    "classes_reports_none": "没有待确认的报告。",
    "classes_report_kind": "类型",
    "classes_report_value": "新的值",
    "classes_report_at": "报告时间",
    "classes_report_confirm": "确认并更新档案",
    "classes_report_reject": "不采用",
    "classes_report_applied": "已确认，校友档案已更新。",
    "classes_report_rejected": "已不采用该报告。",
    "classes_vouching_title": "待联络人担保的校友卡申请",
    "classes_vouching_office": "申请中填写的班级在系统中找不到时，只有校友办能看到它（班级一栏为空）。",
    "classes_vouching_none": "没有待担保的申请。",
    "classes_vouching_claim": "申请人填写",
    "classes_vouching_person": "校友编号（可不填）",
    "classes_vouching_approve": "担保并发卡",
    "classes_vouching_reason": "驳回原因",
    "classes_vouching_reject": "驳回",
    "classes_actions": "操作",
    "classes_my_cohorts": "我负责的班级",
    "classes_my_cohort_line": "已入群 {joined} / {roster} 人（{percent}%）",
}

# --- what the HTTP API says when it refuses a request (core/app.py, miniprogram_api/spec.py) -----------------------

# A body that failed validation: the problems, one sentence per field, after "输入有误：" (the first few; the full
# list is in the answer's "fields"). {field} is the field's label below.
API_INVALID_BODY = "输入有误：{problems}。"
API_PROBLEM_SEPARATOR = "；"
API_MORE_PROBLEMS = "等 {count} 处问题"  # ends the sentence when the body has more problems than it lists
API_FIELD_PROBLEMS = {
    "required": "请填写{field}",
    "empty": "{field}不能为空",
    "too_short": "{field}至少 {limit} 个字符",
    "too_long": "{field}不能超过 {limit} 个字符",
    "too_small": "{field}不能小于 {limit}",
    "too_small_exclusive": "{field}应大于 {limit}",
    "too_large": "{field}不能大于 {limit}",
    "too_large_exclusive": "{field}应小于 {limit}",
    "wrong_type": "{field}应为{expected}",
    "bad_characters": "{field}含有不允许的字符（如换行或其他控制字符）",
    "not_allowed": "{field}只能是 {choices}",
    "unknown_field": "{field}不受支持",
    "invalid_json": "{field}不是有效的 JSON",
    "invalid": "{field}无效",
}
API_EXPECTED = {
    "integer": "整数",
    "number": "数字",
    "string": "文字",
    "boolean": " true 或 false",
    "date": "日期，如 1990-05-01",
    "object": " JSON 对象",
}
API_CHOICE_SEPARATOR = " 或 "  # "not_allowed": between the values a field may take
# What each field of the API's request bodies is called; a field not listed here is named by its JSON name.
API_FIELD_LABELS = {
    "code": "登录凭证",
    "name": "姓名",
    "student_no": "学号",
    "grad_year": "毕业年份",
    "college": "学院",
    "class_name": "班级",
    "id_last4": "身份证号后 4 位",
    "birth_date": "出生日期",
    "method": "申请方式",
    "token": "二维码内容",
    "year": "毕业年份",
    "q": "关键词",
    "kind": "变更项目",
    "value": "新的内容",
    "cohort_id": "班级",
}
API_FIELD_BY_NAME = "字段“{name}”"  # a field not in API_FIELD_LABELS (or one the API does not know)
API_BODY_LABEL = "请求内容"  # the body as a whole (empty, not JSON, not an object)
# Answers of the HTTP layer itself, by status (404 and 405 reuse ERROR_NOT_FOUND and ERROR_METHOD above).
API_TOO_LARGE = "提交的内容过大，不能超过 {limit}。"
API_TOO_LARGE_UNSTATED = "提交的内容过大。"
API_SIZE_MB = "{size:g} MB"
API_SIZE_KB = "{size:g} KB"
API_UNSUPPORTED_MEDIA = "不支持的内容类型。"
API_REQUEST_REFUSED = "请求无法处理。"  # any other 4xx of the HTTP layer
# A venue desk's scanner credential that is malformed, unknown or revoked: not a user's expired login.
ERROR_SCANNER_CREDENTIAL = "扫码设备的凭证无效或已停用，请联系校友办工作人员重新配置。"

# --- 提问: a question over the limit (services/inquiries/desk.py, handlers/ask.py; issue 16) ------------------------

# The question was filed with its first {max_chars} characters; {tail} is where it was cut, {dropped} how many
# characters were left out. The user is not asked to retype anything.
ASK_RECEIVED_TRUNCATED = (
    "已收到您的问题（编号 {number}），校友办工作人员会尽快回复您。\n"
    "您的问题超过 {max_chars} 字，我们保存了前 {max_chars} 字（到「{tail}」为止），其后的 {dropped} 字未保存。"
    "如需补充，请回复「提问」，把其余内容作为新问题发送，并注明编号 {number}。"
)


# --- Help desk: delivering staff answers (services/inquiries/delivery.py; issue 12) --------------------------------

# Staff-facing: refusals of an answer.
INQUIRY_REPLY_EMPTY = "回复内容不能为空。"
INQUIRY_REPLY_BINARY = "回复内容含有无法显示的控制字符，请粘贴为纯文本后再发送。"
# The answer needs more customer-service messages than WeChat allows a user in 48 hours.
INQUIRY_REPLY_TOO_LONG = (
    "回复过长：微信客服消息每条最多约 {part_chars} 个汉字，这条回复需要拆成 {parts} 条，"
    "超过了微信允许的每位用户 {max_parts} 条。请精简到约 {max_chars} 个汉字以内，或把详细内容放在网页上、回复链接。"
)
INQUIRY_REPLY_TOO_LONG_RECORD = "回复过长：最多 {max_chars} 字。"
# The first customer-service message of an answer starts with this; a split answer's parts end with the part marker.
INQUIRY_ANSWER_HEADER = "校友办回复您的问题（编号 {number}）：\n"
INQUIRY_ANSWER_PART = "\n（{n}/{total}）"
# A held answer (the 48-hour window had closed), shown at the user's next message.
INQUIRY_HELD_ANSWER = "校友办回复您的问题（编号 {number}）：\n{body}"
# Template message (official account) and subscribe message (mini-program): an answer is waiting.
INQUIRY_ANSWER_NOTICE_TITLE = "校友办已回复您的问题"
INQUIRY_ANSWER_NOTICE_HINT = "给公众号发送任意消息即可查看回复"
INQUIRY_ANSWER_NOTICE_HINT_MP = "请在小程序中查看回复"
# Staff: a chat image or voice whose WeChat media is gone.
INQUIRY_MEDIA_EXPIRED = "这条消息的图片或语音已过期：微信只保存临时素材 3 天，无法再查看。"
INQUIRY_MEDIA_NONE = "这条记录没有图片或语音。"

# --- free text for the office: the knowledge base's answers, follow-ups, ratings (handlers/desk.py; issue 12) -------
DESK_FAQ_ANSWER = "{answer}\n\n没有解决您的问题？回复「转人工」转给校友办工作人员。"
DESK_FAQ_SUGGEST = "您想问的是不是：\n{choices}\n回复数字查看答案；都不是，回复「转人工」转给校友办工作人员。"
DESK_FAQ_PICK_AGAIN = "请回复 1 到 {count} 之间的数字查看答案，或回复「转人工」。"
DESK_FILED = "已转给校友办（编号 {number}），工作人员会尽快回复您。{minutes} 分钟内补充的文字、图片或语音会一并转交。"
DESK_FILED_TRUNCATED = (
    "已转给校友办（编号 {number}）。您的消息较长，我们保存了前 {max_chars} 字；其余部分可以接着发送，会一并转交。"
)
DESK_FOLLOW_UP_JOINED = "已补充到您的问题（编号 {number}）。"
DESK_RATED = "谢谢！您为问题（编号 {number}）的答复打了 {rating} 分。"
DESK_CLOSED_NOTICE = "您的问题（编号 {number}）已办结：{resolution}\n\n请回复数字 1-5 为本次答复评分（5 分最满意）。"

# --- the help desk's workflow, inbox, reminders and report (services/inquiries/desk.py, reminders.py,
# admin/inquiries.py, miniprogram_api/inquiries.py, handlers/staff_link.py; issue 12) ------------------------------

# What an inquiry opened by an image or voice message says in place of a question.
INQUIRY_MEDIA_PLACEHOLDER = {"image": "[图片]", "voice": "[语音]"}
INQUIRY_STATUS_NAMES = {"open": "处理中", "closed": "已办结"}
INQUIRY_PRIORITY_NAMES = {"low": "低", "normal": "普通", "high": "高", "urgent": "紧急"}
INQUIRY_CHANNEL_NAMES = {
    "wechat": "公众号",
    "miniprogram": "小程序",
    "phone": "电话",
    "letter": "信函",
    "email": "电子邮件",
    "in_person": "来访",
}
INQUIRY_EVENT_NAMES = {
    "message": "来信",
    "reply": "回复",
    "note": "内部备注",
    "assign": "分派",
    "escalate": "请示领导",
    "instruct": "领导批示",
    "category": "更改分类",
    "priority": "更改优先级",
    "close": "办结",
    "reopen": "重新打开",
    "rate": "评价",
    "link": "关联",
    "remind": "时限提醒",
}
# A reply's delivery state, as staff and the asker see it ({code}: WeChat's errcode).
INQUIRY_DELIVERY_NAMES = {
    "queued": "排队发送中",
    "sent": "已送达微信",
    "held": "对方 48 小时未互动，待其下次发消息时显示",
    "notified_template": "已用模板消息通知对方查看",
    "notified_subscribe": "已用订阅消息通知对方",
    "in_app": "在小程序中显示",
    "shown": "对方已看到",
    "recorded": "已记录（通过原渠道答复）",
    "failed": "发送失败（错误码 {code}）",
    "notice_failed": "待对方下次发消息时显示（通知失败，错误码 {code}）",
}
INQUIRY_ERRORS = {
    "binary": "消息含有无法识别的字符，请用文字描述。",
    "media": "这条图片或语音消息缺少素材编号。",
    "msg_type": "只能记录文字、图片或语音消息。",
    "too_long": "问题最多 {max_chars} 字，请精简后再提交。",
    "category": "请选择有效的分类。",
    "priority": "请选择有效的优先级。",
    "channel": "请选择来源：电话、信函、电子邮件或来访。",
    "person": "没有找到这位校友，请重新搜索选择。",
    "requester_name": "没有关联校友档案时，请填写来访人姓名（64 字以内）。",
    "requester_contact": "联系方式最多 128 个字符。",
    "request_reused": "这个请求编号已用于另一个问题，请刷新后重新提交。",
    "closed": "该咨询已办结，不能再进行此操作。如需继续处理，请先重新打开。",
    "not_closed": "该咨询尚未办结。",
    "no_account": "请选择有效的工作人员。",
    "not_handler": "{name} 没有处理咨询的权限（或账号已停用），不能分派给他/她。",
    "not_leader": "请示对象须是有批示权限的领导。",
    "note_empty": "备注不能为空。",
    "escalate_empty": "请写明需要领导批示的事项。",
    "instruction_empty": "批示内容不能为空。",
    "resolution_empty": "办结时请填写处理结果。",
    "note_too_long": "内容最多 {max_chars} 字。",
    "already_escalated": "该咨询已在等待领导批示。",
    "not_escalated": "该咨询没有请示领导，无需批示。",
    "rating": "评价请回复 1 到 5 之间的数字。",
    "already_rated": "您已经评价过这个问题，感谢您的反馈。",
    "rate_open": "该问题还在处理中，办结后才能评价。",
    "rate_late": "该问题办结已超过评价期限，不能再评价。",
    "tab": "没有这个列表。",
    "status": "请选择有效的状态。",
    "bad_cursor": "分页参数无效，请从第一页重新浏览。",
}
# SLA reminders to staff: the transcript's record, and the template message (stage 1: near; 2: past).
INQUIRY_REMIND_EVENT = {1: "即将超过答复时限，已提醒负责人", 2: "已超过答复时限，已提醒负责人"}
INQUIRY_REMIND_UNASSIGNED = "已超过答复时限且无人负责，已提醒校友办工作人员"
INQUIRY_REMIND_TITLE = {1: "您负责的咨询即将超过答复时限", 2: "您负责的咨询已超过答复时限"}
INQUIRY_REMIND_WHAT = "编号 {number}：{question}"
INQUIRY_REMIND_REMARK = "请登录校友会工作台尽快答复。"
INQUIRY_REMIND_DIGEST = "有 {count} 条无人负责的咨询已超过答复时限"
INQUIRY_REMIND_DIGEST_OLDEST = "最早一条编号 {number}"
INQUIRY_REMIND_DIGEST_WHO = "待分派"
# A staff member scanned the console's "link my WeChat" QR code.
STAFF_WECHAT_LINKED = "已将您的微信关联到工作台账号「{name}」。负责的咨询临近或超过答复时限时，会在这里提醒您。"
STAFF_WECHAT_LINK_INVALID = "这个关联二维码无效或已过期（10 分钟内有效，只能使用一次）。请在工作台重新生成。"

CONSOLE.update(
    {
        "nav_inquiries": "咨询",
        "page_inquiries": "校友的咨询：我负责的、待分派、已超时、待批示；回复、分派、请示、办结；登记电话或来信咨询。",
        "tile_open_inquiries_link": "打开咨询收件箱",
        "inquiries_title": "咨询收件箱",
        "inquiries_banner": "提醒：您负责的咨询中有 {overdue} 条已超过答复时限，{soon} 条将在 {hours} 小时内到期。",
        "inquiries_banner_link": "查看我负责的",
        "inquiries_log": "登记电话/来信咨询",
        "inquiries_report": "统计报表",
        "inquiries_link_wechat": "关联我的微信以接收提醒",
        "inquiries_tab_mine": "我负责的",
        "inquiries_tab_unassigned": "待分派",
        "inquiries_tab_overdue": "已超时",
        "inquiries_tab_escalated": "待批示",
        "inquiries_tab_all": "全部",
        "inquiries_all_categories": "全部分类",
        "inquiries_all_statuses": "全部状态",
        "inquiries_filter": "筛选",
        "inquiries_none": "没有咨询。",
        "inquiries_more": "下一页",
        "inquiries_first": "回到第一页",
        "inquiry_number": "编号",
        "inquiry_question": "问题",
        "inquiry_channel": "来源",
        "inquiry_category": "分类",
        "inquiry_priority": "优先级",
        "inquiry_assignee": "负责人",
        "inquiry_unassigned": "（未分派）",
        "inquiry_due": "答复时限",
        "inquiry_status": "状态",
        "inquiry_overdue": "已超时",
        "inquiry_escalated": "待领导批示",
        "inquiry_answered": "已答复",
        "inquiry_title": "咨询 {id}",
        "inquiry_created": "提出时间",
        "inquiry_answered_at": "首次答复",
        "inquiry_person": "校友档案",
        "inquiry_person_link": "校友 {id}",
        "inquiry_resolution": "处理结果",
        "inquiry_rating": "评价",
        "inquiry_requester": "来访人",
        "inquiry_requester_sealed": "来访人的姓名和联系方式已加密保存；查看会记入审计日志。",
        "inquiry_requester_reveal": "查看来访人",
        "inquiry_no_requester": "该咨询没有登记来访人信息。",
        "inquiry_transcript": "处理记录",
        "inquiry_media_image": "查看图片",
        "inquiry_media_voice": "收听语音",
        "inquiry_reply": "回复",
        "inquiry_reply_body": "回复内容",
        "inquiry_reply_hint": "公众号咨询：48 小时内用客服消息送达，超出时待对方下次发消息时显示；长回复分条发送。",
        "inquiry_reply_send": "发送回复",
        "inquiry_reply_queued": "回复已记录，但暂时无法发送（{reason}），稍后会自动重试。",
        "inquiry_assign": "分派给",
        "inquiry_assign_submit": "分派",
        "inquiry_category_hint": "更改分类会按新分类重新计算答复时限。",
        "inquiry_save": "保存",
        "inquiry_note": "内部备注（校友看不到）",
        "inquiry_note_submit": "添加备注",
        "inquiry_escalate": "请示领导（写明需要批示的事项）",
        "inquiry_escalate_submit": "请示",
        "inquiry_instruct": "领导批示",
        "inquiry_instruct_submit": "记录批示",
        "inquiry_close": "办结",
        "inquiry_reopen": "重新打开",
        "inquiry_reopen_reason": "重新打开的原因（可不填）",
        "inquiry_done_assign": "已分派。",
        "inquiry_done_category": "分类已更改，答复时限已重新计算。",
        "inquiry_done_priority": "优先级已更改。",
        "inquiry_done_note": "备注已添加。",
        "inquiry_done_escalate": "已请示领导。",
        "inquiry_done_instruct": "批示已记录。",
        "inquiry_done_close": "已办结。",
        "inquiry_done_reopen": "已重新打开。",
        "inquiry_done_reply": "回复已记录，发送状态见处理记录。",
        "inquiry_done_logged": "咨询已登记。",
        "inquiry_wechat_unreachable": "暂时无法连接微信，请稍后再试。",
        "inquiry_wechat_refused": "微信拒绝了请求（错误码 {errcode}：{errmsg}）。",
        "inquiry_log_title": "登记咨询",
        "inquiry_log_find": "查找校友（姓名、拼音或学号）",
        "inquiry_log_search": "查找",
        "inquiry_log_choose": "选择",
        "inquiry_log_details": "咨询内容",
        "inquiry_log_person": "关联校友：{name}（编号 {id}）",
        "inquiry_log_no_person": "未关联校友档案：请填写来访人姓名和联系方式（加密保存）。",
        "inquiry_log_submit": "登记",
        "inquiry_requester_name": "来访人姓名",
        "inquiry_requester_contact": "联系方式",
        "inquiry_report_title": "咨询统计",
        "inquiry_report_hint": "按月（北京时间）统计各分类的咨询数量，以及在答复时限内首次答复的比例。",
        "inquiry_report_volume": "最近 {months} 个月的咨询数量",
        "inquiry_report_volume_desc": "每月收到的咨询数，柱形越高越多。",
        "inquiry_report_share": "最近 {months} 个月按时答复的比例（%）",
        "inquiry_report_share_desc": "每月咨询中在答复时限内首次答复的百分比。",
        "inquiry_report_point": "{month}：{value} 条",
        "inquiry_report_share_point": "{month}：{share}%（{within} / {total}）",
        "inquiry_report_month": "月份",
        "inquiry_report_total": "合计",
        "inquiry_report_within": "按时答复",
        "inquiry_wechat_title": "关联我的微信",
        "inquiry_wechat_hint": "关联后，您负责的咨询临近或超过答复时限时，公众号会用模板消息提醒您（需关注本公众号）。",
        "inquiry_wechat_linked": "已关联微信。",
        "inquiry_wechat_not_linked": "尚未关联微信：提醒只显示在工作台。",
        "inquiry_wechat_make": "生成关联二维码",
        "inquiry_wechat_scan": "请用您本人的微信扫描上面的二维码（{minutes} 分钟内有效，只能使用一次）。",
        "inquiry_wechat_unlink": "取消关联",
        "inquiry_wechat_unlinked": "已取消关联。",
    }
)

# --- the knowledge base: its entries, their import and export, the matcher's test box (services/inquiries/knowledge.py,
# services/inquiries/matcher.py, admin/knowledge.py; issue 12) ---------------------------------------------------------

INQUIRY_CATEGORY_NAMES = {
    "card": "校友卡",
    "verification": "身份核验",
    "data_update": "信息更新",
    "donation": "捐赠",
    "event": "活动",
    "archive": "成绩单与档案",
    "branch": "地方校友会",
    "other": "其他",
}
# One refused field of an entry ({field} is its KNOWLEDGE_FIELD_NAMES name), in the console's form and in an import row.
KNOWLEDGE_ERRORS = {
    "required": "{field}不能为空",
    "too_short": "{field}至少 {min_chars} 个字",
    "too_long": "{field}最多 {max_chars} 个字（现在 {length} 个字）",
    "bad_characters": "{field}含有不允许的控制字符",
    "keyword_too_long": "关键词「{keyword}」太长了（每个最多 {max_chars} 个字）",
    "too_many_keywords": "关键词最多 {max_keywords} 个（现在 {count} 个）",
    "bad_category": "分类「{value}」不存在，可选：{choices}",
    "bad_enabled": "启用一栏应填「是」或「否」（现在是「{value}」）",
    "bad_id": "编号应为正整数（现在是「{value}」）",
    "unknown_id": "编号 {value} 的条目不存在",
    "duplicate_id": "编号 {value} 在第 {other_row} 行已出现过",
    "duplicate_question": "已有相同的问题（条目 {other}）",
    "duplicate_question_in_file": "与第 {other_row} 行的问题相同",
}
KNOWLEDGE_FIELD_NAMES = {
    "id": "编号",
    "question": "问题",
    "answer": "答案",
    "keywords": "关键词",
    "category": "分类",
    "enabled": "启用",
}
# The .xlsx's header row (export writes it; import recognises either the Chinese or the English word of each title).
KNOWLEDGE_XLSX_HEADER = {
    "id": "编号 id",
    "question": "问题 question",
    "answer": "答案 answer",
    "keywords": "关键词 keywords",
    "category": "分类 category",
    "enabled": "启用 enabled",
}
KNOWLEDGE_XLSX_SHEET = "知识库"
KNOWLEDGE_YES, KNOWLEDGE_NO = "是", "否"
# A whole import file refused (nothing was written).
KNOWLEDGE_IMPORT_ERRORS = {
    "empty_upload": "请选择要导入的 .xlsx 文件。",
    "not_xlsx": "只能导入 .xlsx 格式的 Excel 文件（可先导出一份作为模板）。",
    "too_large": "文件太大（最大 {limit}）。",
    "unreadable": "文件无法读取，可能已损坏或不是 Excel 文件。请用 Excel 另存为 .xlsx 后重试。",
    "empty_file": "文件里没有内容。",
    "missing_columns": "表头缺少这些列：{columns}（第一行应为表头，可先导出一份作为模板）。",
    "too_many_rows": "文件行数太多（最多 {max_rows} 行条目）。",
    "no_rows": "文件里只有表头，没有条目。",
    "rows_refused": "有 {count} 处错误，没有导入任何条目。请修改后重新导入。",
}

CONSOLE.update(
    {
        "nav_knowledge": "知识库",
        "page_knowledge": "常见问题的标准答案：公众号自动回复用它们，可导入导出 Excel，可测试一句话会匹配到哪条。",
        "knowledge_title": "知识库",
        "knowledge_search": "搜索",
        "knowledge_search_hint": "问题、关键词或答案中的字词",
        "knowledge_category": "分类",
        "knowledge_all_categories": "全部分类",
        "knowledge_state": "状态",
        "knowledge_all_states": "全部",
        "knowledge_enabled": "已启用",
        "knowledge_disabled": "已停用",
        "knowledge_filter": "筛选",
        "knowledge_add": "新增条目",
        "knowledge_export": "导出 Excel",
        "knowledge_import": "导入 Excel",
        "knowledge_import_file": "Excel 文件（.xlsx，最大 {limit}，最多 {max_rows} 行）",
        "knowledge_import_hint": "有编号的行更新该条目，没有编号的行新增条目；任何一行有错，整个文件都不导入。",
        "knowledge_import_submit": "导入",
        "knowledge_import_done": "导入完成：新增 {created} 条，更新 {updated} 条。",
        "knowledge_import_row": "行",
        "knowledge_import_column": "列",
        "knowledge_import_message": "问题",
        "knowledge_id": "编号",
        "knowledge_question": "问题",
        "knowledge_answer": "答案",
        "knowledge_keywords": "关键词",
        "knowledge_keywords_hint": "用空格或逗号分隔，如：校友卡 电子校友卡 办卡",
        "knowledge_hits": "自动回复次数",
        "knowledge_actions": "操作",
        "knowledge_edit": "编辑",
        "knowledge_enable": "启用",
        "knowledge_disable": "停用",
        "knowledge_save": "保存",
        "knowledge_cancel": "返回知识库",
        "knowledge_new_title": "新增条目",
        "knowledge_edit_title": "编辑条目 {id}",
        "knowledge_none": "没有符合条件的条目。",
        "knowledge_more": "下一页",
        "knowledge_back": "上一页",
        "knowledge_total": "共 {count} 条",
        "knowledge_saved": "条目已保存。",
        "knowledge_enabled_ok": "条目已启用。",
        "knowledge_disabled_ok": "条目已停用，不再用于自动回复。",
        "knowledge_bad_query": "查询参数有误，请重新选择。",
        "knowledge_test": "测试一句话",
        "knowledge_test_hint": "输入校友可能发来的一句话，看看会匹配到哪条。",
        "knowledge_test_submit": "测试",
        "knowledge_test_too_long": "测试的话最多 {max_chars} 个字。",
        "knowledge_verdict": "结果",
        "knowledge_verdict_confident": "直接回答（分数不低于 {score}）",
        "knowledge_verdict_suggest": "列出最接近的几条供选择（分数不低于 {score}）",
        "knowledge_verdict_none": "没有匹配，转给校友办",
        "knowledge_score": "分数",
        "knowledge_best": "最接近的条目",
    }
)

# --- broadcasts (services/broadcasts compose, plan, control; admin/broadcasts.py) --------------------------------
BROADCAST_CHANNEL_NAMES = {"mass": "群发", "template": "模板消息", "subscribe": "小程序订阅消息", "custom": "客服消息"}
BROADCAST_KIND_NAMES = {"text": "文字", "news": "图文", "template": "仅模板消息"}
BROADCAST_STATUS_NAMES = {
    "draft": "草稿",
    "awaiting_approval": "待审批",
    "scheduled": "已排期",
    "sending": "发送中",
    "paused": "已暂停",
    "quota_paused": "额度用尽，等待重置",
    "finished": "已完成",
    "cancelled": "已取消",
}
# Why a recipient was (or will be) skipped: the planner's and the sender's reasons.
BROADCAST_SKIP_REASONS = {
    "unsubscribed": "已取消关注",
    "consent_withdrawn": "已撤回推送同意",
    "no_consent": "未同意接收推送",
    "mass_limit": "本月群发已达 4 次",
    "no_subscribe_consent": "订阅消息次数已用完",
    "window_closed": "不在 48 小时客服消息窗口内",
    "not_follower": "未关注公众号",
    "no_channel": "所选渠道都无法送达",
    "cancelled": "广播已取消",
}
BROADCAST_FIELD_NAMES = {
    "title": "标题",
    "segment_id": "人群",
    "channels": "渠道",
    "kind": "内容类型",
    "text": "文字内容",
    "article_title": "图文标题",
    "article_digest": "图文摘要",
    "article_cover_url": "封面图片链接",
    "article_media_id": "图文素材 media_id",
    "article_url": "原文链接",
    "template_id": "模板 ID",
    "template_fields": "模板字段",
    "template_url": "模板跳转链接",
    "subscribe_template_id": "订阅消息模板 ID",
    "subscribe_fields": "订阅消息字段",
    "subscribe_page": "小程序页面",
    "scheduled_at": "发送时间",
}
BROADCAST_ERRORS = {
    "required": "{field}不能为空",
    "too_long": "{field}最多 {max_chars} 个字（现在 {length} 个字）",
    "bad_characters": "{field}含有不允许的控制字符",
    "bad_url": "{field}应以 http:// 或 https:// 开头，并包含域名",
    "unknown_segment": "人群「{value}」不存在或已归档",
    "no_channel": "请至少选择一个渠道",
    "bad_channel": "渠道「{value}」不存在，可选：{choices}",
    "duplicate_channel": "同一渠道只能选一次",
    "bad_kind": "内容类型「{value}」不存在，可选：文字、图文、仅模板消息",
    "text_too_long": "文字内容最多 {max_bytes} 字节（约 {max_bytes} 个英文字母或 682 个汉字；现在 {length} 字节）",
    "bad_media_id": "图文素材 media_id 只能包含字母、数字、下划线和连字符",
    "cover_needed": "客服消息的图文需要封面图片链接",
    "needs_body": "{channel}需要文字或图文内容：仅模板消息只能通过模板消息或订阅消息发送",
    "bad_template_id": "模板 ID 只能包含字母、数字、下划线和连字符（最多 64 个）",
    "bad_field_line": "{field}第 {line} 行应写成「字段名: 内容」，字段名以字母开头（如 thing1: 校庆晚会）",
    "duplicate_field": "{field}第 {line} 行的字段 {key} 重复了",
    "bad_field_value": "{field}第 {line} 行字段 {key} 的内容不能为空，最多 {max_chars} 个字",
    "too_many_fields": "{field}最多 {max_fields} 个字段（现在 {count} 个）",
    "bad_page": "小程序页面应为页面路径，如 pages/news/index?id=1",
    "bad_time": "发送时间「{value}」格式应为 2026-12-31 09:30（北京时间）",
    "time_past": "发送时间已经过去了",
    "time_too_late": "发送时间最多安排在 {days} 天之后",
    "not_found": "广播 {id} 不存在",
    "not_draft": "只有草稿可以修改",
    "channel_unsupported": "这条内容不能通过{channel}发送",
    "preview_template_note": "模板的标题和格式以微信公众平台上该模板为准",
    "preview_mpnews_note": "群发时发送微信素材库中的图文（media_id {media_id}），请确认与此处一致",
    "test_not_linked": "您还没有绑定微信：请先在「帮助台 → 绑定我的微信」扫码绑定，再测试发送",
    "test_subscribe_only": "订阅消息只能发给小程序用户，无法测试发送到您的公众号微信，请查看预览",
    "test_bad_channel": "无法通过{channel}测试发送",
    "test_too_many": "这条广播今天已测试发送 {limit} 次，请明天再试",
    "test_failed": "测试发送失败（微信错误码 {errcode}：{reason}）",
    "bad_status": "这条广播当前{status}，不能{action}",
    "approve_own": "不能审批自己创建或确认的广播，请由另一位有审批权限的同事审批",
    "approve_forbidden": "您没有审批广播的权限",
    "reject_reason": "驳回时请填写原因（最多 200 个字）",
    "cancel_reason": "取消时请填写原因（最多 200 个字）",
    "scheduled_past": "原定发送时间已过，请修改草稿后再确认",
    "empty_audience": "这个人群当前没有可以送达的人，无法确认",
}
BROADCAST_ACTIONS = {
    "confirm": "确认",
    "approve": "审批",
    "reject": "驳回",
    "pause": "暂停",
    "resume": "继续",
    "cancel": "取消",
    "edit": "修改",
}
BROADCAST_ERRCODES = {
    45009: "今日接口额度已用完",
    45011: "调用太频繁",
    45015: "不在 48 小时客服消息窗口内",
    45047: "客服消息条数已用完",
    43004: "对方未关注公众号",
    43019: "对方已拒收消息",
    43101: "对方未订阅或订阅次数已用完",
    40003: "openid 无效",
    40037: "模板 ID 无效",
    47003: "模板字段不符合要求",
    45002: "内容太长",
    40007: "media_id 无效",
}


BROADCAST_XLSX = {
    "sheet": "发送报告",
    "broadcast": "广播",
    "status": "状态",
    "audience": "目标人数",
    "sent": "已发送",
    "failed": "失败",
    "skipped": "跳过",
    "pending": "待发送",
    "kind": "类别",
    "detail": "渠道 / 错误码 / 原因",
    "count": "人数",
}


CONSOLE.update(
    {
        "nav_broadcasts": "广播",
        "page_broadcasts": "向校友群发消息：撰写、预览、测试发送，查看覆盖人数和预计完成时间，确认后按计划发送。",
        "nav_broadcast_approvals": "广播审批",
        "page_broadcast_approvals": "超过人数门槛的广播，须由作者以外有审批权限的同事审批后才会发送。",
        "broadcasts_title": "广播",
        "broadcasts_new": "撰写广播",
        "broadcasts_edit_title": "修改广播 {id}",
        "broadcasts_approvals": "待审批",
        "broadcasts_approvals_hint": "以下广播人数超过门槛，须由作者和确认人以外、有审批权限的同事审批。",
        "broadcasts_no_approvals": "没有待审批的广播。",
        "broadcasts_review": "审批",
        "broadcasts_open": "查看",
        "broadcasts_status": "状态",
        "broadcasts_all": "全部",
        "broadcasts_filter": "筛选",
        "broadcasts_id": "编号",
        "broadcasts_name": "标题",
        "broadcasts_channels": "渠道",
        "broadcasts_channels_hint": "按勾选顺序依次尝试：群发 → 模板消息 → 订阅消息 → 客服消息",
        "broadcasts_channel": "渠道",
        "broadcasts_audience": "目标人数",
        "broadcasts_author": "作者",
        "broadcasts_created": "创建时间",
        "broadcasts_confirmed_by": "确认人",
        "broadcasts_confirmed_at": "确认时间",
        "broadcasts_approved_by": "审批人",
        "broadcasts_none": "还没有广播。",
        "broadcasts_form_errors": "有几处需要修改，请看下面的红字提示。",
        "broadcasts_segment": "人群",
        "broadcasts_everyone": "全部关注者",
        "broadcasts_kind": "内容类型",
        "broadcasts_text": "文字内容",
        "broadcasts_article": "图文",
        "broadcasts_article_title": "图文标题",
        "broadcasts_article_digest": "摘要",
        "broadcasts_article_cover_url": "封面图片链接",
        "broadcasts_article_media_id": "图文素材 media_id（群发图文必填）",
        "broadcasts_article_url": "原文链接",
        "broadcasts_template": "模板消息（公众号）",
        "broadcasts_subscribe": "订阅消息（小程序）",
        "broadcasts_template_id": "模板 ID",
        "broadcasts_fields": "字段",
        "broadcasts_fields_hint": "每行一个，如 thing1: 校庆晚会",
        "broadcasts_template_url": "点击跳转链接",
        "broadcasts_subscribe_page": "小程序页面",
        "broadcasts_when": "发送时间",
        "broadcasts_when_hint": "北京时间，如 2026-12-31 09:30；留空则确认后尽快发送",
        "broadcasts_ignore_quiet": "忽略夜间免打扰时段（紧急通知）",
        "broadcasts_save": "保存草稿",
        "broadcasts_back": "返回广播列表",
        "broadcasts_preview": "预览",
        "broadcasts_cover": "封面",
        "broadcasts_link": "链接",
        "broadcasts_plan": "发送计划",
        "broadcasts_plan_live": "按当前数据计算，确认时保存",
        "broadcasts_reachable": "可送达",
        "broadcasts_start": "开始",
        "broadcasts_quiet_delayed": "避开免打扰时段",
        "broadcasts_eta": "预计完成",
        "broadcasts_needs_approval": "目标人数超过 {threshold}，确认后需要另一位同事审批。",
        "broadcasts_no_approval": "目标人数不超过 {threshold}，确认后即按计划发送。",
        "broadcasts_recipients": "经此渠道",
        "broadcasts_channel_reach": "渠道可达",
        "broadcasts_calls": "接口调用",
        "broadcasts_today": "今天可发",
        "broadcasts_tomorrow": "明天可发",
        "broadcasts_days": "天数",
        "broadcasts_skipped": "跳过",
        "broadcasts_none_skipped": "没有人被跳过。",
        "broadcasts_edit": "修改草稿",
        "broadcasts_test_channel": "测试渠道",
        "broadcasts_test": "发给我自己的微信测试",
        "broadcasts_confirm": "确认发送计划",
        "broadcasts_approve": "批准",
        "broadcasts_reject": "驳回",
        "broadcasts_reason": "原因",
        "broadcasts_waiting": "等待另一位有审批权限的同事审批。",
        "broadcasts_progress": "发送进度",
        "broadcasts_report": "发送报告",
        "broadcasts_until": "直到",
        "broadcasts_sent": "已发送",
        "broadcasts_failed": "失败",
        "broadcasts_pending": "待发送",
        "broadcasts_percent": "完成百分比",
        "broadcasts_started": "开始时间",
        "broadcasts_finished": "结束时间",
        "broadcasts_pause": "暂停",
        "broadcasts_resume": "继续",
        "broadcasts_cancel": "取消广播",
        "broadcasts_refresh": "刷新",
        "broadcasts_sent_by_channel": "各渠道发送",
        "broadcasts_failed_by_errcode": "失败（按微信错误码）",
        "broadcasts_skipped_by_reason": "跳过（按原因）",
        "broadcasts_export": "导出 Excel",
        "broadcasts_saved": "草稿已保存。",
        "broadcasts_tested": "已发送到您的微信，请查收。",
        "broadcasts_confirmed": "已确认，发送计划已保存。",
        "broadcasts_approved": "已批准，将按计划发送。",
        "broadcasts_rejected": "已驳回，广播退回草稿。",
        "broadcasts_paused": "已暂停。",
        "broadcasts_resumed": "已继续。",
        "broadcasts_cancelled": "已取消，未发送的人不会再收到。",
    }
)


BROADCAST_ERRCODE_OTHER = "其他错误"  # an errcode BROADCAST_ERRCODES does not name (services.broadcasts.compose)
BROADCAST_ERRCODE_NETWORK = "网络错误"  # no answer from WeChat at all


# --- broadcast segments and subscribe consents (services/broadcasts/segments.py, admin/segments.py,
# miniprogram_api/subscriptions.py) ---------------------------------------------------------------------------------
SEGMENT_FIELD_NAMES = {
    "name": "名称",
    "description": "说明",
    "grad_year_from": "毕业年份（起）",
    "grad_year_to": "毕业年份（止）",
    "colleges": "学院",
    "majors": "专业",
    "levels": "学历层次",
    "cohort_ids": "班级编号",
    "regions": "所在城市",
    "countries": "所在国家或地区",
    "card_status": "校友卡状态",
    "follower_status": "关注状态",
    "require_news_consent": "需同意接收推送",
}
SEGMENT_ERRORS = {
    "not_a_list": "{field}应为一组文字，用逗号、顿号或换行分隔",
    "bad_characters": "{field}含有不允许的控制字符",
    "too_many": "{field}最多 {max_items} 项（现在 {count} 项）",
    "label_too_long": "{field}中的「{value}」太长了（每项最多 {max_chars} 个字）",
    "bad_choice": "{field}没有「{value}」这一项，可选：{choices}",
    "bad_year": "{field}应为四位数的年份（现在是「{value}」）",
    "year_out_of_range": "{field}应在 {low} 到 {high} 年之间",
    "year_order": "毕业年份的起始年（{low}）不能晚于截止年（{high}）",
    "bad_flag": "{field}只能选择是或否",
    "bad_cohort": "班级编号应为正整数（现在是「{value}」）",
    "unknown_field": "不认识这个筛选条件",
    "not_found": "这个人群不存在",
    "name_required": "请填写人群名称",
    "name_too_long": "名称最多 {max_chars} 个字（现在 {length} 个字）",
    "name_bad_characters": "名称含有不允许的控制字符",
    "description_too_long": "说明最多 {max_chars} 个字（现在 {length} 个字）",
    "bad_description": "说明含有不允许的控制字符",
    "name_taken": "已有名为「{name}」的人群，请换一个名称",
    "name_taken_archived": "已归档的人群中有名为「{name}」的，请换一个名称",
    "archived": "这个人群已归档，不能再修改",
    "bad_channel": "渠道只能是群发、模板消息、小程序订阅消息或客服消息",
}
SEGMENT_LEVEL_NAMES = EDUCATION_LEVEL_NAMES
SEGMENT_CARD_NAMES = {**CARD_STATUS_NAMES, "none": "从未办卡"}
SEGMENT_FOLLOWER_NAMES = {"any": "不限", "subscribed": "正在关注", "unsubscribed": "已取消关注"}
SUBSCRIPTION_ERRORS = {
    "too_many": "一次最多记录 {max_items} 个订阅消息模板",
    "bad_template": "模板编号只能由字母、数字、下划线和连字符组成（1 到 64 个字符）",
}
CONSOLE.update(
    {
        "nav_segments": "推送人群",
        "page_segments": "按届别、学院、地区、校友卡和推送同意筛选校友，查看各渠道可达人数",
        "segments_title": "推送人群",
        "segments_add": "新建人群",
        "segments_none": "还没有人群。",
        "segments_name": "名称",
        "segments_description": "说明",
        "segments_filters": "筛选条件",
        "segments_updated": "最后修改",
        "segments_actions": "操作",
        "segments_preview": "预览人数",
        "segments_edit": "编辑",
        "segments_archive": "归档",
        "segments_archived_ok": "人群「{name}」已归档。",
        "segments_saved": "人群「{name}」已保存。",
        "segments_new_title": "新建人群",
        "segments_edit_title": "编辑人群「{name}」",
        "segments_save": "保存",
        "segments_back": "返回人群列表",
        "segments_list_hint": "多个值用逗号、顿号或换行分隔；同一项内为“或”，不同项之间为“且”。",
        "segments_years": "毕业年份",
        "segments_year_from": "起",
        "segments_year_to": "止",
        "segments_no_filters": "全部关注者",
        "segments_preview_title": "人群「{name}」的可达人数",
        "segments_preview_of_form": "按当前条件预览",
        "segments_total": "人群内 {count} 人",
        "segments_withdrawn": "另有 {count} 人撤回了推送同意，不会收到",
        "segments_channel": "渠道",
        "segments_reachable": "可送达",
        "segments_unreachable": "无法送达（原因）",
        "segments_template": "订阅消息模板编号（可不填：有任一模板的剩余次数即算可送达）",
        "segments_timing": "统计用时 {ms} 毫秒",
        "segments_consent_hint": (
            "勾选后只包括在数据库中同意“接收推送”（news）的校友；不勾选则也包括未绑定校友身份的关注者。"
            "撤回同意的人始终排除。"
        ),
        "segments_regions_hint": "当前工作所在城市",
    }
)


# --- event check-in (services/events/checkin.py, handlers/event_checkin.py, admin/event_checkin.py; issue 14) -------
# What the desk (the card verify answer, the console) is told; {at} is the check-in time, HH:MM Beijing time.
CHECKIN_OUTCOMES = {
    "checked_in": "签到成功（{at}）。",
    "already": "已于 {at} 签到，无需重复签到。",
    "not_registered": "持卡人没有报名此活动，请签到台决定是否放行。",
    "not_confirmed": "此人在候补名单中，名额尚未确认，不能签到。",
    "card_invalid": "校友卡未通过验证。",
    "wrong_event": "这不是本活动的报名或签到码。",
    "event_closed": "活动未发布或已取消，不能签到。",
    "not_open": "现在不在本活动的签到时间内。",
}
CHECKIN_CARD_REFUSED = "校友卡未通过验证：{reason}，不能签到。"
CHECKIN_CARD_REASONS = {
    "expired": "二维码已过期或已使用过（请持卡人刷新校友卡）",
    "revoked": "此卡已注销",
    "suspended": "此卡已暂停使用",
    "forged": "二维码无效",
}
# What the attendee who scanned the event's check-in QR is told; {title} is the event's title, {hours} how long
# before it starts check-in opens (events.checkin_opens_before_hours).
CHECKIN_BOT = {
    "checked_in": "签到成功！欢迎参加「{title}」（{at}）。",
    "already": "您已于 {at} 签到「{title}」，无需重复签到。",
    "not_registered": "没有找到您报名「{title}」的记录，请到签到台办理。",
    "not_confirmed": "您在「{title}」的候补名单中，名额尚未确认，请到签到台咨询。",
    "wrong_event": "这个签到码已失效，请扫描活动现场最新的签到二维码。",
    "event_closed": "这个活动未发布或已取消，无法签到。",
    "not_open": "「{title}」现在不在签到时间内（活动开始前 {hours} 小时起可以签到）。",
}
CHECKIN_BOT_WELCOME = "欢迎关注！{answer}"
CHECKIN_NAMELESS = "（未留姓名）"
CHECKIN_QR_CLOSED = "本活动的签到时间已过，不再生成签到二维码。"
CHECKIN_METHOD_NAMES = {"card": "刷校友卡", "scene": "扫签到码", "desk": "签到台手动"}
CHECKIN_STATUS_NAMES = {"confirmed": "已确认", "waitlisted": "候补"}

CONSOLE.update(
    {
        "checkin_title": "签到台：{title}",
        "checkin_back": "返回活动",
        "checkin_when": "活动时间：{starts}",
        "checkin_counts": "签到统计",
        "checkin_confirmed": "已确认报名",
        "checkin_checked_in": "已签到",
        "checkin_remaining": "尚未签到",
        "checkin_waitlisted": "候补",
        "checkin_latest": "最新签到",
        "checkin_latest_hint": "每 3 秒自动刷新。",
        "checkin_latest_none": "还没有人签到。",
        "checkin_time": "签到时间",
        "checkin_name": "姓名",
        "checkin_reg": "报名编号",
        "checkin_state": "状态",
        "checkin_method": "方式",
        "checkin_search": "查找报名者并手动签到",
        "checkin_search_label": "姓名或报名编号",
        "checkin_search_submit": "查找",
        "checkin_search_none": "没有找到匹配的报名。",
        "checkin_do": "签到",
        "checkin_done_at": "已签到 {at}",
        "checkin_desk_notice": "报名 {id}：{message}",
        "checkin_scanners": "本活动的扫码设备",
        "checkin_scanners_hint": "用这些凭证扫描校友卡二维码时，持卡人会同时签到本活动。",
        "checkin_qr": "签到二维码",
        "checkin_qr_hint": "放在入口的屏幕上：参加者用微信扫码即可签到（需已报名）。",
        "checkin_qr_screen": "全屏显示签到二维码",
        "checkin_qr_unavailable": "签到二维码暂时无法生成：{reason}",
        "checkin_qr_renew": "更换签到码（旧二维码立即失效）",
        "checkin_qr_renewed": "签到码已更换，旧的二维码已失效。",
        "checkin_screen_title": "扫码签到：{title}",
        "checkin_screen_hint": "请用微信扫描二维码签到",
    }
)

# --- events (services/events, handlers/events.py, miniprogram_api/events.py, admin/events.py) ---------------------

EVENT_ERRORS = {
    "not_found": "没有找到这个活动。",
    "cancelled": "这个活动已取消。",
    "not_open": "活动报名还没有开始。",
    "not_open_at": "活动报名还没有开始，{at} 开放报名。",
    "closed": "活动报名已截止。",
    "full": "活动名额已满，本活动不设候补。",
    "not_eligible": "这个活动只面向特定校友，您暂不符合报名条件。如已领取校友卡，请确认卡片有效。",
    "not_registered": "您没有报名这个活动。",
}
EVENT_ANSWER_ERRORS = {
    "unknown": "没有这个报名问题。",
    "not_text": "回答须为文字。",
    "required": "请回答“{label}”。",
    "bad_characters": "“{label}”的回答含有无法识别的字符。",
    "not_a_choice": "“{label}”请从以下选项中选择：{choices}。",
    "too_long": "“{label}”的回答最多 {max} 个字。",
}
EVENT_FORM_ERRORS = {
    "title_required": "请填写活动名称。",
    "title_too_long": "活动名称最多 {max} 个字，且不能含控制字符。",
    "description_too_long": "活动介绍最多 {max} 个字，且不能含控制字符。",
    "venue_too_long": "地点最多 {max} 个字。",
    "ends_before_start": "结束时间须晚于开始时间。",
    "closes_after_start": "报名截止时间不能晚于活动开始时间。",
    "opens_after_close": "报名开始时间须早于报名截止时间（未填截止时间时，早于活动开始时间）。",
    "half_point": "地图位置请同时填写纬度和经度，或都不填。",
    "point_out_of_range": "纬度须在 -90 到 90 之间，经度须在 -180 到 180 之间。",
    "capacity": "名额须为 1 到 {max} 之间的整数；不限名额请留空。",
    "capacity_below_confirmed": "已有 {confirmed} 人报名成功，名额不能少于此数。",
    "eligibility": "请选择报名范围。",
    "segment_required": "报名范围为“指定人群”时，请选择一个未归档的人群。",
    "association": "没有这个校友会。",
    "association_required": "请选择主办校友会。",
    "too_many_questions": "报名问题最多 {max} 个。",
    "question_empty": "第 {n} 个报名问题是空的或含有控制字符。",
    "question_too_long": "第 {n} 个报名问题或其选项过长（最多 {max} 个字）。",
    "question_choices": "第 {n} 个报名问题的选项须为 2 到 {max} 个，用“/”分隔。",
    "publish_past": "活动已经开始，不能再发布。",
    "bad_time": "时间格式应为 2026-12-31 18:30（北京时间）。",
    "bad_number": "请填写数字。",
    "time_required": "请填写活动开始时间。",
}
EVENT_STATUS_NAMES = {"draft": "草稿", "published": "已发布", "cancelled": "已取消"}
EVENT_REG_STATUS_NAMES = {"confirmed": "报名成功", "waitlisted": "候补中", "cancelled": "已取消"}
EVENT_ELIGIBILITY_NAMES = {"everyone": "所有人", "card_holders": "持有效校友卡的校友", "segment": "指定人群"}
EVENT_CHANNEL_NAMES = {"bot": "公众号", "miniprogram": "小程序", "console": "后台"}
EVENT_NOTICES = {
    "promoted": (
        "候补成功：您已获得活动「{title}」的名额。\n时间：{time}\n地点：{venue}\n"
        "如不能参加，请回复“我的活动”取消，把名额让给其他校友。"
    ),
    "reminder": (
        "活动提醒：您报名的「{title}」将于 {time} 开始。\n地点：{venue}\n入场时请出示电子校友卡或扫描现场签到码。"
    ),
    "cancelled": "很抱歉，活动「{title}」（{time}）已取消，您的报名随之作废。",
    "registration_cancelled": (
        "您报名的活动「{title}」（{time}）已由工作人员取消报名。如有疑问，请直接回复留言联系我们。"
    ),
}
EVENT_NOTICE_HINTS = {
    "promoted": "候补成功，您已获得名额",
    "reminder": "活动即将开始，请准时参加",
    "cancelled": "活动已取消",
    "registration_cancelled": "您的报名已由工作人员取消",
}
EVENT_REGISTERED = {
    "confirmed": "报名成功！「{title}」\n时间：{time}\n地点：{venue}",
    "waitlisted": "名额已满，您已进入「{title}」的候补名单（第 {position} 位）。有人取消时会按顺序递补并通知您。",
}
EVENT_ALREADY = "您已报名「{title}」（{status}）。"
EVENT_CANCELLED_OK = "已取消「{title}」的报名。"
EVENT_BOT = {
    "none": "近期没有可以报名的活动。有新活动时会在这里发布。",
    "list_head": "近期活动（回复序号查看详情，回复“取消”退出）：",
    "list_item": "{n}. {title}\n   {time} · {venue}{state}",
    "state_registered": "（已报名：{status}）",
    "state_full": "（名额已满，可候补）",
    "pick_again": "请回复列表中的序号（1-{count}），或回复“取消”退出。",
    "detail": (
        "「{title}」\n时间：{time}\n地点：{venue}\n名额：{places}\n{description}\n\n"
        "回复“报名”报名，回复“返回”看列表，回复“取消”退出。"
    ),
    "places_unlimited": "不限",
    "places_left": "剩余 {left} / {capacity}",
    "places_full": "已满（{waitlist}）",
    "waitlist_on": "可候补",
    "waitlist_off": "不设候补",
    "detail_action": "请回复“报名”、“返回”或“取消”。",
    "question": "（{n}/{total}）{label}{choices}{optional}",
    "question_choices": "\n可选：{choices}",
    "question_optional": "\n（可回复“跳过”）",
    "skip": "跳过",
    "confirm": "请确认报名「{title}」：\n{answers}\n回复“确认”提交，回复“取消”放弃。",
    "confirm_no_answers": "请确认报名「{title}」（{time}）。回复“确认”提交，回复“取消”放弃。",
    "confirm_again": "请回复“确认”提交报名，或回复“取消”放弃。",
    "mine_none": "您目前没有报名的活动。回复“活动”看看近期活动。",
    "mine_head": "我的活动（回复“取消报名 序号”取消，如“取消报名 1”）：",
    "mine_item": "{n}. {title}\n   {time} · {status}",
    "mine_pick": "请回复“取消报名 序号”，序号为 1-{count}。",
    "not_text": "请回复文字。",
    "unbound_hint": "\n（部分活动仅限持电子校友卡的校友报名，可在小程序领取校友卡。）",
    "not_open_state": "（{at} 开放报名）",
}
TIMED_OUT["events"] = "上一次活动报名因长时间未回复已结束。如需继续，请重新回复「活动」。"
EVENT_BOT_WORDS = {
    "list": ("活动", "活动报名", "近期活动"),
    "mine": ("我的活动", "我的报名"),
    "register": ("报名",),
    "back": ("返回",),
    "confirm": ("确认", "确定"),
    "cancel_registration": ("取消报名",),
}
EVENT_CONSOLE = {
    "list_title": "活动",
    "new": "新建活动",
    "edit_title": "编辑活动「{title}」",
    "new_title": "新建活动",
    "saved": "活动「{title}」已保存。",
    "published": "活动「{title}」已发布，开放报名。",
    "cancelled": "活动「{title}」已取消，已通知 {count} 位报名者。",
    "registration_cancelled": "已取消该报名。",
    "no_events": "还没有活动。",
    "col_title": "活动",
    "col_time": "时间（北京时间）",
    "col_association": "主办",
    "col_status": "状态",
    "col_places": "报名 / 名额",
    "col_waitlist": "候补",
    "col_checked_in": "签到",
    "office": "校友总会",
    "unlimited": "不限",
    "field_title": "活动名称",
    "field_description": "活动介绍",
    "field_association": "主办校友会",
    "field_starts_at": "开始时间（北京时间，如 2026-12-31 18:30）",
    "field_ends_at": "结束时间（可不填）",
    "field_venue": "地点",
    "field_latitude": "纬度",
    "field_longitude": "经度",
    "field_capacity": "名额（不限请留空）",
    "field_waitlist": "名额满后允许候补",
    "field_opens": "报名开始（可不填：发布即开放）",
    "field_closes": "报名截止（可不填：活动开始即截止）",
    "field_eligibility": "报名范围",
    "field_segment": "人群",
    "field_questions": "报名问题（每行一个；行首加 * 为必答；选项写在冒号后，用 / 分隔，如“*参加人数：1/2/3”）",
    "save": "保存",
    "publish": "发布",
    "cancel_event": "取消活动",
    "cancel_confirm": "确定取消这个活动并通知所有报名者？",
    "edit": "编辑",
    "back": "返回活动列表",
    "registrations": "报名名单",
    "waitlist": "候补名单",
    "no_registrations": "还没有人报名。",
    "col_name": "姓名",
    "col_channel": "渠道",
    "col_registered_at": "报名时间",
    "col_answers": "回答",
    "col_checkin": "签到",
    "reveal": "显示全名",
    "export": "导出签到表（.xlsx）",
    "checkin_desk": "签到台",
    "chart_title": "各活动签到人数",
    "unknown_person": "未绑定校友",
    "cancel_registration": "取消报名",
    "reminders_sent": "活动提醒已于 {at} 发送",
    "map_point": "地图位置",
    "form_errors": "请修改下面标出的内容。",
    "reveal_reason": "查看全名的原因（将记入审计日志）",
    "reveal_reason_required": "请填写查看全名的原因。",
    "revealed": "本页显示全名，已记入审计日志。",
    "position": "候补顺序",
    "status_filter_all": "全部",
    "registration_window": "报名时间",
    "window_default": "发布后至活动开始",
    "eligibility": "报名范围",
    "questions": "报名问题",
    "no_questions": "无",
    "created_by": "创建人",
    "chart_desc": "最近 {count} 个已发布活动的签到人数，按活动时间排列",
    "chart_mark": "{title}：签到 {checked} 人",
    "confirmed_of": "{confirmed} / {capacity}",
    "answers_none": "-",
}
EVENT_EXPORT_HEADER = ("序号", "姓名", "状态", "渠道", "报名时间", "签到时间", "签到方式", "回答")
EVENT_CHECKIN_METHOD_NAMES = {"card": "校友卡", "scene": "扫码", "desk": "签到台", "": ""}
CONSOLE.update({"nav_events": "活动", "page_events": "创建和发布活动，查看报名、候补和签到，导出签到表"})


# --- associations (issue 14: the directory, finding one's association, joining with consent, the console pages)
ASSOCIATION_KIND_NAMES = {
    "headquarters": "校友总会",
    "regional": "地方校友会",
    "overseas": "海外校友会",
    "college": "院系校友会",
    "industry": "行业校友会",
}
ASSOCIATION_POLICY_NAMES = {"open": "直接加入", "approval": "审核后加入", "closed": "暂不接收新会员"}
ASSOCIATION_STATUS_NAMES = {"requested": "待审核", "member": "会员", "declined": "未通过", "left": "已退出"}
ASSOCIATION_SCOPE_NAMES = {"city": "城市", "province": "省份", "country": "国家/地区"}
ASSOCIATION_ERRORS = {
    "not_found": "没有找到这个校友会（可能已停止运作）。",
    "name_zh": "请填写中文名称（64 字以内）。",
    "name_en": "请填写英文名称（128 个字符以内）。",
    "kind": "类型只能是校友总会、地方校友会、海外校友会、院系校友会或行业校友会。",
    "join_policy": "入会方式只能是直接加入、审核后加入或暂不接收新会员。",
    "contact": "联系方式不超过 255 个字符。",
    "point": "位置请同时填写纬度（-90 到 90）和经度（-180 到 180），或都不填。",
    "parent": "上级校友会不存在。",
    "parent_loop": "上级校友会不能是它自己或它的下级。",
    "name_taken": "已有名为「{name}」的校友会。",
    "region_kind": "范围类型只能是城市、省份或国家/地区。",
    "region": "请填写范围名称（64 字以内），如「上海」「河南」「英国」。",
    "member_not_found": "没有找到这条入会记录。",
    "not_requested": "这条入会申请已处理过。",
    "consent_withdrawn": "该校友已撤回向本会介绍其信息的同意，不能批准。",
    "status": "状态只能是待审核、会员、未通过或已退出。",
    "no_account": "没有这个工作人员账号（或已停用）。",
    "not_branch_admin": "账号 {username} 没有「分会管理员」角色，请先在工作人员页面为其添加该角色。",
    "no_appointment": "没有这条任命记录。",
    "bad_id": "编号应为正整数。",
    "bad_number": "请填写数字。",
    "near": "near 应为「纬度,经度」，如 31.23,121.47（纬度 -90 到 90，经度 -180 到 180）。",
    "city": "city 应为 1 到 40 个字的地名，如「上海」或「London」。",
    "near_and_city": "请只提供 near 或 city 其中之一。",
    "near_or_city": "请提供 near（纬度,经度）或 city（地名）。",
    "place_unknown": "没有找到「{words}」这个地方，请换个写法（如「上海」「London」）。",
}
ASSOCIATION_CONSENT = (
    "加入「{association}」需要您同意：校友办将您的姓名、院系和毕业年份介绍给该会负责人，用于联系您、开展校友活动。"
    "您可随时回复「退出校友会」撤回同意，撤回后不再向该会介绍您的信息。"
)
ASSOCIATION_CONSENT_ABROAD = (
    "加入「{association}」需要您同意：校友办将您的姓名、院系和毕业年份提供给该会负责人，用于联系您、开展校友活动。"
    "【个人信息出境提示】该会在中国境外处理数据，您的上述信息将传输至境外，由该会（联系方式：{contact}）"
    "按其所在地法律保护；您可向其查阅、更正或删除，并可随时回复「退出校友会」撤回同意，撤回后不再向该会提供您的信息。"
)
ASSOCIATION_NEEDS_PERSON = (
    "加入校友会需要先核验校友身份：请在小程序「校友卡」中申请校友卡（绑定校友档案），通过后再来加入。"
)
ASSOCIATION_CLOSED = "「{association}」目前暂不接收新会员。如需联系，请回复「提问」留言给校友办。"
ASSOCIATION_NOT_MEMBER = "您没有加入这个校友会。"
# The introduction: a template message to the branch admins (the staff work-notice template), by member status.
ASSOCIATION_INTRO_TITLE = {
    "requested": "有校友申请加入{association}，请审核",
    "member": "有校友加入了{association}",
}
ASSOCIATION_INTRO_REMARK = "校友已同意向本会介绍其信息。请在管理后台「校友会」中查看并联系。"
ASSOCIATION_APPROVED = "您加入「{association}」的申请已通过。联系方式：{contact}"
ASSOCIATION_DECLINED = "很抱歉，「{association}」未通过您的入会申请。如有疑问请回复「提问」联系校友办。"
# The bot (handlers/associations.py, docs/flows/associations.md).
ASSOCIATION_FOUND = (
    "{place}的校友会：\n{choices}\n回复「加入」加入第一个，或回复编号加入对应的校友会；回复「取消」结束。"
)
ASSOCIATION_FOUND_ONE = "{place}的校友会：\n{choices}\n回复「加入」或「1」申请加入；回复「取消」结束。"
ASSOCIATION_CHOICE = "{n}. {name}（{how}）\n   联系方式：{contact}"
ASSOCIATION_HOW = {
    "city": "负责{place}",
    "province": "负责{province}",
    "country": "负责{country}",
    "nearest": "距您约 {km} 公里",
}
ASSOCIATION_NO_CONTACT = "请通过校友办联系"
ASSOCIATION_NONE = (
    "{place}附近暂时还没有校友会。校友办已记下您的所在地：当地成立校友会时会通知您；"
    "您也可以回复「提问」留言，校友办会帮您联系附近的校友。"
)
ASSOCIATION_HERE = "您所在地"
ASSOCIATION_ASK_WHERE = "请告诉我您所在的城市（如「上海」「伦敦」「London」），或发送您的位置（点「+」→「位置」）。"
ASSOCIATION_UNKNOWN_PLACE = "没有找到「{words}」这个地方。"
ASSOCIATION_BAD_CHOICE = "请回复「加入」或 1 到 {count} 的编号；也可以发送其他城市名。回复「取消」结束。"
ASSOCIATION_CONSENT_PROMPT = "{notice}\n回复「同意」加入，回复「不同意」放弃。"
ASSOCIATION_BAD_CONSENT = "请回复「同意」或「不同意」。"
ASSOCIATION_NOT_CONSENTED = "好的，没有加入，也没有向该会提供您的信息。"
ASSOCIATION_NOT_TEXT = "请用文字回复，或发送位置。"
ASSOCIATION_JOINED = {
    "member": "您已加入「{association}」。联系方式：{contact}",
    "requested": "已向「{association}」提交入会申请，审核后会通知您。",
}
ASSOCIATION_JOINED_BEFORE = {
    "member": "您已经是「{association}」的会员了。联系方式：{contact}",
    "requested": "您加入「{association}」的申请正在审核中，审核后会通知您。",
}
ASSOCIATION_INTRODUCED = "我们已把您介绍给该会负责人。"
ASSOCIATION_NOT_INTRODUCED = "该会负责人会在管理后台看到您的信息。"
ASSOCIATION_LEAVE_NONE = "您没有加入任何校友会。回复「找校友会」查找您所在地的校友会。"
ASSOCIATION_LEAVE_ASK = "您加入了以下校友会，回复编号退出并撤回同意：\n{choices}\n回复「取消」结束。"
ASSOCIATION_LEAVE_ITEM = "{n}. {name}（{status}）"
ASSOCIATION_LEAVE_BAD = "请回复 1 到 {count} 的编号，或回复「取消」结束。"
ASSOCIATION_LEFT = "已退出「{association}」，并撤回了向该会介绍您信息的同意，今后不会再向该会提供您的信息。"
TIMED_OUT["association"] = "上一次查找校友会因长时间未回复已结束。如需继续，请重新回复「找校友会」或发送位置。"
CONSOLE.update(
    {
        "nav_associations": "校友会",
        "page_associations": "校友会组织、会员与入会申请",
        "associations_title": "校友会",
        "associations_new": "新建校友会",
        "associations_edit_title": "编辑「{name}」",
        "associations_name_zh": "中文名称",
        "associations_name_en": "英文名称",
        "associations_kind": "类型",
        "associations_parent": "上级校友会",
        "associations_no_parent": "（无）",
        "associations_contact": "对外联系方式",
        "associations_policy": "入会方式",
        "associations_abroad": "境外数据控制者（加入时提示个人信息出境）",
        "associations_abroad_short": "境外",
        "associations_latitude": "纬度",
        "associations_longitude": "经度",
        "associations_description": "简介",
        "associations_save": "保存",
        "associations_archive": "停止运作（归档）",
        "associations_archived": "已归档",
        "associations_regions": "负责范围",
        "associations_region_add": "添加范围",
        "associations_region_remove": "移除",
        "associations_no_regions": "尚未设置负责范围（只按距离匹配）。",
        "associations_members": "会员",
        "associations_requests": "入会申请",
        "associations_count_members": "会员 {count}",
        "associations_count_requests": "待审核 {count}",
        "associations_empty": "还没有校友会。",
        "associations_none_in_scope": "您还没有被任命为任何校友会的管理员。",
        "associations_member_name": "姓名",
        "associations_member_channel": "来源",
        "associations_member_at": "申请时间",
        "associations_member_introduced": "已介绍",
        "associations_member_not_introduced": "未发送（负责人未绑定微信）",
        "associations_consent_withdrawn": "（已撤回同意）",
        "associations_approve": "批准",
        "associations_decline": "拒绝",
        "associations_no_members": "暂无。",
        "associations_more": "更多",
        "associations_reveal": "显示姓名",
        "associations_reveal_reason": "查看原因（必填，将记入审计日志）",
        "associations_reveal_needs_reason": "请填写查看原因。",
        "associations_admins": "分会管理员",
        "associations_admin_username": "工作人员账号（需有「分会管理员」角色）",
        "associations_appoint": "任命",
        "associations_relieve": "解除",
        "associations_no_admins": "尚未任命管理员：入会申请只在本页显示。",
        "associations_admin_wechat": "已绑定微信",
        "associations_admin_no_wechat": "未绑定微信",
        "associations_done_created": "校友会已创建。",
        "associations_done_saved": "已保存。",
        "associations_done_archived": "已归档。",
        "associations_done_region": "负责范围已更新。",
        "associations_done_approved": "已批准，并已通知校友。",
        "associations_done_declined": "已拒绝，并已通知校友。",
        "associations_done_appointed": "已任命。",
        "associations_done_relieved": "已解除任命。",
        "associations_back": "返回校友会列表",
    }
)


# --- broadcasts: WeChat tags and recurring campaigns (services/broadcasts/tags.py, campaigns.py; issue 13) ---------
BROADCAST_ERRCODES.update({45056: "公众号标签已满（最多 100 个），无法为群发建立标签"})
CAMPAIGN_FESTIVAL_NAMES = {
    "new_year": "元旦",
    "spring_festival": "春节",
    "dragon_boat": "端午节",
    "teachers_day": "教师节",
    "mid_autumn": "中秋节",
    "double_ninth": "重阳节",
}
CAMPAIGN_FESTIVAL_GREETINGS = {
    "new_year": "新年快乐！母校和校友会祝您在新的一年里身体健康、万事顺意。",
    "spring_festival": "春节快乐！校友会给您拜年，祝您和家人阖家幸福、新春吉祥。",
    "dragon_boat": "端午安康！校友会祝您和家人节日平安喜乐。",
    "teachers_day": "教师节快乐！向曾经教过我们、如今仍在讲台上的老师们致敬，也祝身为教师的校友节日快乐。",
    "mid_autumn": "中秋快乐！月圆人团圆，校友会祝您和家人团圆美满，欢迎常回母校看看。",
    "double_ninth": "重阳安康！校友会祝各位老校友健康长寿、福寿安康。",
}
CAMPAIGN_ANNIVERSARY_NAME = "毕业{years}周年"
CAMPAIGN_LABEL = "{name} · {year}"
CAMPAIGN_ANNIVERSARY_TITLE = "毕业{years}周年问候（{grad_year}届）"
CAMPAIGN_FESTIVAL_TITLE = "{name}问候（{year}）"
CAMPAIGN_ANNIVERSARY_GREETING = (
    "{grad_year}届的校友，您好！{years}年前，您从母校毕业。校友会祝您一切安好，欢迎常回家看看，也欢迎联系当年的同学。"
)
CAMPAIGN_SEGMENT_ANNIVERSARY = "{grad_year}届（毕业{years}周年）"
CAMPAIGN_SEGMENT_FESTIVAL = "节日问候：同意接收推送的校友"
CAMPAIGN_SEGMENT_DESCRIPTION = "定期活动（毕业周年、节日问候）自动建立"
CONSOLE.update({"broadcasts_campaign": "定期活动", "broadcasts_campaign_none": "—"})
SEGMENT_FIELD_NAMES.update({"languages": "微信语言", "association_ids": "地方校友会编号"})
SEGMENT_ERRORS.update(
    {
        "bad_language": "「{value}」不是微信的语言代码（如 zh_CN、zh_TW、en）",
        "bad_association": "地方校友会编号应为正整数（现在是「{value}」）",
    }
)

# --- language (handlers/language.py; issue 15) ------------------------------------------------------------------------
LANGUAGE_SWITCHED = "好的，以后用中文回复您。回复「English」可切换为英文。"

# --- outreach (issue 15) ----------------------------------------------------------------------------------------------
OUTREACH_GREETING = (
    "校友您好！母校正在联系在海外的校友。您现在在哪里？请直接回复您所在的城市和国家（例如「伦敦，英国」），"
    "我们会为您更新校友档案，并介绍当地的校友会。"
)
OUTREACH_SEGMENT = "国际校友联络：{low}–{high}届"
OUTREACH_SEGMENT_DESCRIPTION = "国际校友联络活动自动建立（国际学生的教育经历、同意接收推送）"
OUTREACH_BATCH_LABEL = "校友本人回复所在地（{campaign}）"
OUTREACH_THANKS = "谢谢！已记下您现在在{place}。"
OUTREACH_NOT_RECORDED = "谢谢！您的微信还没有绑定校友身份，所在地暂未记入档案；可先通过「校友卡」完成认证。"
OUTREACH_CANNOT_RECORD = "您的校友档案暂时无法更新，请联系校友会。"
OUTREACH_UNPLACED = "抱歉，没能识别「{words}」是哪里。"
OUTREACH_ASK_AGAIN = "请回复您现在所在的城市和国家，例如「伦敦，英国」或「Toronto」；回复「取消」结束。"
OUTREACH_NOT_TEXT = "请用文字回复您现在所在的城市和国家；回复「取消」结束。"
OUTREACH_NO_POINT = "如需联系当地校友会，可回复「{place}校友会」。"
OUTREACH_ERRORS = {"years": "请填写起止毕业年份"}
CONSOLE.update(
    {
        "nav_outreach": "国际校友联络",
        "page_outreach": "按届别联络国际学生校友，统计回复者所在国家与届别",
        "outreach_title": "国际校友联络",
        "outreach_launch": "发起联络",
        "outreach_year_from": "起始届别",
        "outreach_year_to": "截止届别",
        # A forecast: the sender marks each recipient as their greeting goes (windows may close or open before).
        "outreach_launched": (
            "已建立联络推送（{status}）。按目前的客服消息窗口，{reachable}位校友将收到问候；"
            "问候发出后，他们的回复会记为所在地。"
        ),
        "outreach_responders": "回复者共{count}人",
        "outreach_chart_title": "回复者所在国家",
        "outreach_chart_desc": "各国家的回复人数（每人按最近一次回复计）",
        "outreach_chart_mark": "{country}：{count}人",
        "outreach_col_country": "国家",
        "outreach_col_year": "届别",
        "outreach_col_count": "人数",
        "outreach_none": "还没有校友回复",
        "outreach_unknown_year": "未知",
    }
)
SEGMENT_FIELD_NAMES.update({"international": "国际学生"})

# --- associations: the profile's current city finds the association (services/associations/finder.profile_place,
# handlers/associations.py, miniprogram_api/associations.py)
ASSOCIATION_NO_PROFILE_PLACE = {
    "unbound": "请提供 near（纬度,经度）或 city（地名）：您的微信尚未绑定校友档案，无法按档案中的所在城市查找。",
    "no_city": "请提供 near（纬度,经度）或 city（地名）：您的校友档案中没有可用于查找的所在城市。",
}
ASSOCIATION_FROM_PROFILE = "按您校友档案中的所在城市（{place}）查找：\n"
ASSOCIATION_ELSEWHERE = "如要查其他地方，请回复城市名或发送位置。"
