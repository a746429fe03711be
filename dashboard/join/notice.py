"""The notice for students who join from their browser, written once: the public page at
/join/notice (the consent screen links to it) and the dashboard's Privacy page both show it.

Plain text with one placeholder, `{retention}`; `notice_paragraphs` fills it in and each place
renders the paragraphs its own way (escaped HTML here, Streamlit's widgets on the Privacy page).
"""

from __future__ import annotations

import html

from storage.records import EXPRESSIONS

NOTICE_PATH = "/join/notice"  # the public page (dashboard/join/page.py)
NOTICE_TITLE = "ClassPulse: what happens when you join a lesson from your browser"
# (heading, text) pairs, in the student's words.
JOIN_NOTICE: tuple[tuple[str, str], ...] = (
    ("Why", "Your teacher uses ClassPulse to see how attentive the class is, so as to adjust the "
            "lesson. Joining is your choice: nothing is measured until you press Join, and you "
            "can pause or leave at any time."),
    ("What is measured", "On your own device, the join page uses your camera to measure, at most "
                         "a few times a second: whether a face is in front of the camera, which "
                         "way your head is turned, how open your eyes are and how far they look "
                         "sideways; and, only when your teacher has turned expressions on, the "
                         f"chance of each of seven facial expressions ({', '.join(EXPRESSIONS)}). "
                         "The join page shows you exactly what one measurement looks like before "
                         "you join, and your own numbers while you take part."),
    ("What leaves your device", "Only these numbers, with the time each was measured. No "
                                "picture, video, sound, face landmarks or face crop ever leaves "
                                "your device: the camera picture is shown only to you."),
    ("Who sees what", "The ClassPulse server works out from the numbers whether you were "
                      "attentive, looking away, had your eyes closed or were absent, and an "
                      "engagement score. Your teacher sees you as \"Student N\", a number that is "
                      "new in every lesson, or as the name you typed when your teacher asked for "
                      "one. There is no face recognition. The numbers are kept for at most "
                      "{retention}, and only your teacher and the school's ClassPulse "
                      "administrators can see them."),
    ("Your choices", "Don't join, and nothing is measured. Pause stops the measuring and the "
                     "camera until you resume; Leave stops them for this lesson. The page keeps "
                     "one random key for this lesson on your device, so that reloading the page "
                     "brings you back as the same student; nothing else is kept. Ask your "
                     "teacher if you have questions."),
)  # fmt: skip


def retention_text(days: float | None) -> str:
    """How long numbers are kept, in words (the retention period, when one is set)."""
    return "as long as the school keeps them" if days is None else f"{days:g} days"


def notice_paragraphs(retention_days: float | None) -> list[tuple[str, str]]:
    """The notice's (heading, text) pairs with the retention period filled in."""
    retention = retention_text(retention_days)
    return [(heading, text.format(retention=retention)) for heading, text in JOIN_NOTICE]


def notice_text(retention_days: float | None) -> str:
    """The whole notice as plain text (a heading line above each paragraph)."""
    parts = [NOTICE_TITLE] + [f"{h}\n{t}" for h, t in notice_paragraphs(retention_days)]
    return "\n\n".join(parts)


def notice_html_body(retention_days: float | None) -> str:
    """The notice as escaped HTML for the public page."""
    parts = [f"<h1>{html.escape(NOTICE_TITLE)}</h1>"]
    for heading, text in notice_paragraphs(retention_days):
        parts.append(f"<h2>{html.escape(heading)}</h2>\n<p>{html.escape(text)}</p>")
    return "\n".join(parts)
