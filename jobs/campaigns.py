"""The recurring campaigns the ``broadcasts.campaigns`` job runs, declared as data: the festivals and their dates.

A fixed-date festival has one date every year; a lunar one has its Gregorian date per year, listed here (add the
next years before they run out: the job logs a warning for a year it has no date for, and a test checks that the
coming years are listed). Which campaigns run, the anniversary years, month and day, and when and how they are sent
are settings (``broadcasts.campaigns.*``); the greetings are copy (``core.texts.CAMPAIGN_*``); what a campaign does
is ``services.broadcasts.campaigns``.
"""

from __future__ import annotations

from services.broadcasts.campaigns import Festival

FESTIVALS: dict[str, Festival] = {
    "new_year": Festival("new_year", fixed=(1, 1)),
    "teachers_day": Festival("teachers_day", fixed=(9, 10)),
    # Lunar festivals: 春节 (1/1), 端午 (5/5), 中秋 (8/15), 重阳 (9/9) of the Chinese calendar.
    "spring_festival": Festival(
        "spring_festival",
        dates={2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23)},
    ),
    "dragon_boat": Festival(
        "dragon_boat",
        dates={2026: (6, 19), 2027: (6, 9), 2028: (5, 28), 2029: (6, 16), 2030: (6, 5), 2031: (6, 24)},
    ),
    "mid_autumn": Festival(
        "mid_autumn",
        dates={2026: (9, 25), 2027: (9, 15), 2028: (10, 3), 2029: (9, 22), 2030: (9, 12), 2031: (10, 1)},
    ),
    "double_ninth": Festival(
        "double_ninth",
        dates={2026: (10, 18), 2027: (10, 8), 2028: (10, 26), 2029: (10, 16), 2030: (10, 5), 2031: (10, 24)},
    ),
}
