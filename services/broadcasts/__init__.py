"""Broadcasts: staff's messages to segments of alumni through WeChat's channels, within its quotas.

Modules: ``segments`` (saved, named filters over the followers and the databank; the recipients of a segment as one
SELECT, its count and its reach per channel with the unreachable by reason; subscribe allowances, recorded from the
mini-program and spent by the sender), ``compose`` (a broadcast's content, validated, its preview and the WeChat
payload of each channel), ``plan`` (reach per channel in the fallback order, who is skipped and why, the ETA under
today's and tomorrow's quotas), ``control`` (confirmation, approval, schedule and quiet hours, pause, resume, cancel,
the report and its export), ``delivery`` (the recipients written to the outbox, the rate-limited sender pass with
per-recipient fallback, mass sends through a WeChat tag, quota pauses, the job-finish events), ``tags`` (the
mass-send tags' names and their deletion once no broadcast needs them), ``campaigns`` (recurring anniversaries and
festival greetings, each occurrence one broadcast). Like every service, these take a SQLAlchemy Session and raise
``core.errors``.
"""
