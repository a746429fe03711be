"""Privacy & settings: what is stored, retention and purge, defaults, thresholds, the notices for students."""

from __future__ import annotations

from dataclasses import fields

import pandas as pd
import streamlit as st

from dashboard import config, loaders, state
from dashboard.join.notice import NOTICE_PATH, notice_text, retention_text
from engine.attention import AttentionSettings
from storage.db import StorageError
from storage.lessons import apply_retention, purge_older_than, retention_days_from_env

STORED = """
- **Per lesson:** title, class, start and end time, source description (e.g. "webcam 0"), sample rate, model name, settings.
- **Per student and sample:** an anonymous number (Student 1…N, new in every lesson), the attention state
  (attentive, looking away, eyes closed, absent), the engagement score (0-100), head pose, eye openness,
  gaze offset, the face box position and — unless the lesson is attention-only — the seven expression probabilities.
"""
NOT_STORED = """
- **No image or video frame**, ever; no face crops, no landmarks.
- **No identity:** no names, no face recognition, no face embeddings. Student numbers are not linked across lessons.
- **No audio.** Photos analysed on *Analyse a photo* are forgotten after the analysis.
"""
THRESHOLD_TEXT = {
    "yaw_limit_deg": ("Head turned sideways beyond (degrees)", "looking away"),
    "pitch_limit_deg": ("Head tilted up/down beyond (degrees)", "looking away"),
    "gaze_limit": ("Eyes turned beyond (fraction of half eye width)", "looking away"),
    "ear_closed": ("Eye aspect ratio under which an eye reads closed", "eyes closed"),
    "blink_closed": ("MediaPipe blink score at or above which an eye reads closed", "eyes closed"),
    "eyes_closed_min_s": ("Eyes closed at least this long (s) — shorter is a blink", "eyes closed"),
    "perclos_window_s": ("PERCLOS window (s)", "eyes closed"),
    "perclos_fraction": ("Share of the PERCLOS window with eyes closed", "eyes closed"),
    "zero_engagement_at": ("Engagement reaches 0 at this many limits off-screen", "engagement"),
    "engagement_window_s": ("Engagement is averaged over (s)", "engagement"),
    "absent_grace_s": ("A face missing this long (s) makes the student absent", "absent"),
}
STUDENT_NOTICE = """\
During this online lesson, ClassPulse measures how attentive the class is, to help me adjust the lesson.
It looks at head direction, eyes and (unless switched off) facial expressions in the video-call gallery.
No pictures, video or sound are recorded. You are not identified: you appear only as an anonymous
number that changes every lesson. Only numbers are kept (for example "Student 4: attentive, engagement 72"),
for at most {retention}, and only your teacher can see them. You may switch your camera off at any time.
Ask me if you have questions.\
"""


def thresholds_table(settings: AttentionSettings) -> pd.DataFrame:
    """The attention-state thresholds in the teacher's words."""
    rows = []
    for f in fields(settings):
        label, state_name = THRESHOLD_TEXT.get(f.name, (f.name, ""))
        rows.append({"Setting": label, "Affects": state_name, "Value": getattr(settings, f.name)})
    return pd.DataFrame(rows)


settings = state.settings()
viewer = state.viewer()
st.title("Privacy & settings")

st.subheader("What is stored")
st.markdown(STORED)
st.subheader("What is never stored")
st.markdown(NOT_STORED)

st.subheader("Retention")
try:
    retention_days = retention_days_from_env()
except StorageError as exc:
    st.error(str(exc))
    retention_days = None
if retention_days is None:
    st.write(
        "No retention period is set (CLASSPULSE_RETENTION_DAYS): lessons are kept until deleted."
    )
else:
    st.write(
        f"Lessons older than **{retention_days:g} days** are deleted (CLASSPULSE_RETENTION_DAYS)."
    )
    if viewer.admin and st.button("Apply the retention period now", key="privacy_apply_retention"):
        removed = apply_retention(
            loaders.database(settings.db_url), retention_days, config.utc_now()
        )
        loaders.clear_caches()
        st.success(f"Deleted {removed} lesson(s) older than {retention_days:g} days.")
if viewer.admin:  # a purge deletes every teacher's lessons
    left, right = st.columns([1, 2])
    days = left.number_input(
        "Delete lessons older than (days)", min_value=0, value=30, step=1, key="privacy_purge_days"
    )
    sure = right.checkbox(
        f"Yes, delete every finished lesson that started more than {days} days ago",
        key="privacy_purge_confirm",
    )
    if st.button("Purge", disabled=not sure, key="privacy_purge", icon=":material/delete_sweep:"):
        removed = purge_older_than(loaders.database(settings.db_url), float(days), config.utc_now())
        loaders.clear_caches()
        st.success(f"Deleted {removed} lesson(s).")
else:
    st.caption(
        "Purging deletes every teacher's old lessons, so only an admin can do it; delete one of "
        "your own lessons from its report on the Lessons page."
    )

st.subheader("Defaults")
st.toggle(
    "Attention only by default (no expression recognition)",
    value=settings.attention_only,
    key="privacy_attention_only",
    on_change=state.keep,
    args=("privacy_attention_only", state.ATTENTION_ONLY),
    help="Required where emotion recognition in education is prohibited (EU AI Act, Art. 5(1)(f)).",
)
zones = config.timezone_choices(settings.timezone)
st.selectbox(
    "Time zone for every time shown",
    zones,
    index=zones.index(settings.timezone),
    key="privacy_timezone",
    on_change=state.keep,
    args=("privacy_timezone", state.TIMEZONE),
)
left, right = st.columns(2)
left.slider(
    "Alert when class concentration stays under",
    0,
    100,
    int(settings.alert_level),
    5,
    key="privacy_alert_level",
    on_change=state.keep,
    args=("privacy_alert_level", state.ALERT_LEVEL),
)
right.slider(
    "…for at least (minutes)",
    0.5,
    10.0,
    float(settings.alert_minutes),
    0.5,
    key="privacy_alert_minutes",
    on_change=state.keep,
    args=("privacy_alert_minutes", state.ALERT_MINUTES),
)
st.caption(
    "The time zone and alert level are kept for you (your account, or this computer without a "
    "login) and found again next time; the other choices last for this browser session. Set "
    "CLASSPULSE_TIMEZONE, CLASSPULSE_ATTENTION_ONLY, CLASSPULSE_ALERT_LEVEL and "
    "CLASSPULSE_ALERT_MINUTES to change the defaults."
)

st.subheader("Thresholds of the attention states")
try:
    thresholds = AttentionSettings.from_env()
except ValueError as exc:
    st.error(f"{exc}. Fix or unset it; engines started from here will refuse to start until then.")
    thresholds = AttentionSettings()
st.dataframe(thresholds_table(thresholds), hide_index=True, key="privacy_thresholds")
st.caption(
    "What engines started from this dashboard use: the defaults explained in docs/engagement.md, "
    "each changed by its CLASSPULSE_ATTENTION_<NAME> variable (for example "
    "CLASSPULSE_ATTENTION_YAW_LIMIT_DEG=30) when set."
)

st.subheader("A notice to show your students")
st.code(
    STUDENT_NOTICE.format(retention=retention_text(retention_days)), language=None, wrap_lines=True
)

st.subheader("The notice students see when they join from their browser")
st.caption(
    f"The join page's consent screen links to it (the server's {NOTICE_PATH}); it is written once "
    "(dashboard/join/notice.py), so this is exactly what they read."
)
st.code(notice_text(retention_days), language=None, wrap_lines=True)
