"""Fixtures shared by the help desk's tests (issue 12); each helper adds its own with small edits."""

from __future__ import annotations
