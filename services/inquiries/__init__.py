"""The alumni office's help desk (issue #12): one module per concern.

- ``desk``: filing a question from chat, the mini-program or a staff log, and the workflow that follows it.
"""
