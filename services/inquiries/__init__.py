"""The alumni office's help desk (issue #12): one module per concern.

- ``desk``: filing a question from chat, the mini-program or a staff log, and the workflow that follows it.
- ``reminders``: the ``inquiries.remind`` job's pass: assignees told once per SLA stage (near, past).
- ``knowledge``: the knowledge base's entries (validation, audit, search, .xlsx import and export) and its version.
- ``matcher``: chat text → the knowledge base's best answers (jieba + rapidfuzz), loaded once per process.
"""
