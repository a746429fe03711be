"""A lesson students join from their browser, on the teacher's side and without I/O: the Live form's
join settings checked into a lesson, the link students open (and its QR code), and the live card's
words for it — who joined, who is silent or left, and the notices a join lesson has in place of the
engine's (it has no engine: students' own devices measure).

Its figures are storage/measures.py's like any lesson's; only samples per second are counted per
student (`measures.stream_rates`), since each student's device samples on its own.
"""

from __future__ import annotations

import io
import ipaddress
from dataclasses import asdict, dataclass
from datetime import datetime
from urllib.parse import urlsplit

import pandas as pd
import segno

from dashboard.join.payload import BROWSER_MODEL, MAX_RATE_HZ, MIN_RATE_HZ
from dashboard.live_metrics import STALE_AFTER_S, Notice, duration_words
from engine.attention import AttentionSettings
from storage import measures
from storage.join import Presence
from storage.lessons import JOIN_SOURCE, LessonSpec
from storage.queries import LiveView

DEFAULT_RATE_HZ = 1.0
LOOPBACK_HOSTS = ("localhost",)
EXPRESSIONS_NOTE = (
    "Attention only is on for students' own devices unless you turn expressions on: emotion "
    "recognition in education is prohibited in the EU (AI Act, Art. 5(1)(f)), see Privacy & settings."
)
NAMES_HELP = (
    "Each student types a name on joining, shown on their tile here (otherwise Student 1, 2, …); "
    "reports and exports still say Student N."
)
REMOVE_TEXT = (
    "Their link stops working at once: their page cannot send again in this lesson. What they "
    "sent so far stays in the lesson."
)
STOP_HELP = "Ends the lesson: the students' link then says the lesson has ended."
JOIN_STATE_HELP = (
    " **no data**: a joined student whose page has sent nothing for 10 s (tab closed, network "
    "lost, device asleep), not counted until it sends again; **left**: pressed Leave; "
    "**joining**: joined, their camera and models still starting."
)
SAMPLES_HELP = (
    "Asked for {rate:g}/s from each student's device: the mean over the students sending of "
    "each one's samples per second over their last 20 s."
)


@dataclass(frozen=True)
class JoinForm:
    """The Live form's fields for a join lesson, as the teacher left them (nothing checked yet)."""

    title: str
    group_name: str
    rate_hz: float = DEFAULT_RATE_HZ
    attention_only: bool = True
    ask_names: bool = False


def join_spec(
    form: JoinForm, *, owner: str | None, attention: AttentionSettings, now: datetime
) -> LessonSpec:
    """The lesson a join form opens (ValueError in the teacher's words): the rate each student's
    device can take, attention-only unless expressions were turned on, the attention thresholds the
    server derives states with, and the viewer as its owner."""
    if not form.title.strip():
        raise ValueError("the lesson needs a title")
    if not MIN_RATE_HZ <= form.rate_hz <= MAX_RATE_HZ:
        raise ValueError(f"students' devices take {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} samples per "
                         f"second, got {form.rate_hz:g}")  # fmt: skip
    return LessonSpec(
        title=form.title.strip(), group_name=form.group_name.strip(), started_at=now,
        source=JOIN_SOURCE, sample_rate_hz=form.rate_hz,
        model_name=None if form.attention_only else BROWSER_MODEL,
        attention_only=form.attention_only, settings={"attention": asdict(attention)}, owner=owner,
    )  # fmt: skip


# --- the link -----------------------------------------------------------------------------------


def link_base(public_url: str, browser_url: str | None, host: str | None = None,
              scheme: str = "http") -> str | None:  # fmt: skip
    """The address students open the link at: the CLASSPULSE_PUBLIC_URL setting when set (a path
    kept, for a server behind a proxy), else the scheme and host the teacher's own browser used
    (st.context.url, else its Host header); None when neither is known."""
    if public_url.strip():
        return public_url.strip().rstrip("/")
    if browser_url:
        parts = urlsplit(browser_url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    if host and "/" not in host:
        return f"{scheme}://{host}"
    return None


def student_link(base: str | None, code: str) -> str:
    """The link students open (only the path when the dashboard's address is unknown)."""
    return f"{base or ''}/join/{code}"


def is_loopback(host: str | None) -> bool:
    """Whether a host name is this computer's own (localhost, 127.x, ::1)."""
    if not host:
        return False
    if host.lower() in LOOPBACK_HOSTS or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def link_warning(base: str | None) -> str | None:
    """One line when students on other devices cannot use the link as it stands, with what to do."""
    if base is None:
        return ("The dashboard's address is unknown here: students open this path on the address "
                "they reach the dashboard at (or set CLASSPULSE_PUBLIC_URL).")  # fmt: skip
    parts = urlsplit(base)
    if is_loopback(parts.hostname):
        return (f"{parts.hostname} is this computer's own address: students on other computers "
                "cannot open it. Run the dashboard on the network with a login and HTTPS "
                "(docs/join.md), or set CLASSPULSE_PUBLIC_URL to the address they reach.")  # fmt: skip
    if parts.scheme == "http":
        return ("Browsers give the camera only to pages over HTTPS: students on other devices need "
                "an https:// address (docs/join.md).")  # fmt: skip
    return None


def qr_png(link: str, scale: int = 5) -> bytes:
    """The link as a QR code (PNG, drawn here by segno: nothing fetched from anywhere)."""
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


# --- the students -------------------------------------------------------------------------------

TILE_COLUMNS = ("track_id", "label", "presence", "silent_s", "state", "engagement", "expression")


def student_tiles(joined: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """One row per joined student not removed (storage.join.students_frame), with their latest
    stored state, engagement and expression (live_view's students; None before their first)."""
    keep = joined[joined["presence"] != Presence.REMOVED.value] if not joined.empty else joined
    columns = ["track_id", "state", "engagement", "expression"]
    rows = latest[columns] if not latest.empty else pd.DataFrame(columns=columns)
    merged = keep.merge(rows.astype({"track_id": "int64"}), on="track_id", how="left")
    return merged.reindex(columns=list(TILE_COLUMNS))


def removed(joined: pd.DataFrame) -> list[str]:
    """The labels of the students the teacher removed."""
    if joined.empty:
        return []
    return list(joined.loc[joined["presence"] == Presence.REMOVED.value, "label"])


def tile_status(presence: str, silent_s: float, has_data: bool) -> tuple[str, str] | None:
    """A joined student's badge and line when their tile says where they are rather than their
    state: no data lately, left, or joined but not measured yet; None for a student sending."""
    if presence == Presence.LEFT.value:
        return ":gray-badge[left]", f"left {duration_words(silent_s)} ago"
    if presence == Presence.SILENT.value:
        return ":gray-badge[no data]", f"no data for {duration_words(silent_s)}: not counted"
    if not has_data:
        return ":gray-badge[joining]", "joined: their camera and models are starting"
    return None


def summary_words(joined: pd.DataFrame) -> str:
    """"4 joined · 2 sending · 1 no data · 1 left · 1 removed"."""
    if joined.empty:
        return "No student has joined yet."
    counts = joined["presence"].value_counts()
    parts = [f"{len(joined)} joined"]
    for presence, words in ((Presence.PRESENT, "sending"), (Presence.SILENT, "no data"),
                            (Presence.LEFT, "left"), (Presence.REMOVED, "removed")):  # fmt: skip
        if counts.get(presence.value, 0):
            parts.append(f"{counts[presence.value]} {words}")
    return " · ".join(parts)


# --- figures and notices -------------------------------------------------------------------------


def _stream_times(live: LiveView) -> list[tuple[int, float]]:
    """(stream, seconds since the epoch) of the live view's last samples."""
    samples = live.samples
    if samples.empty:
        return []
    seconds = pd.to_datetime(samples["ts"], utc=True).map(lambda t: t.timestamp())
    return list(zip(samples["stream"].astype(int), seconds, strict=True))


def _firsts(live: LiveView) -> dict[int, float]:
    return {stream: ts.timestamp() for stream, ts in live.stream_starts.items()}


def samples_per_student_s(live: LiveView) -> float | None:
    """Samples per second per student over their last 20 s (storage.measures)."""
    return measures.samples_per_student_s(_stream_times(live), _firsts(live))


def student_rates(live: LiveView) -> dict[int, float]:
    """Each sending student's samples per second (their tile's line when slow)."""
    return measures.stream_rates(_stream_times(live), _firsts(live))


def rate_notice(live: LiveView, asked_hz: float) -> Notice | None:
    """Says so while some students' devices manage under 80 % of the asked rate (storage.measures)."""
    short = measures.short_streams(_stream_times(live), _firsts(live), asked_hz)
    if not short:
        return None
    return Notice("warning", measures.students_shortfall_words(short, asked_hz), ":material/speed:")


def slow_words(rate_hz: float | None, asked_hz: float) -> str | None:
    """A student tile's line when their device keeps under 80 % of the rate (None otherwise)."""
    if rate_hz is None or not measures.falls_short(rate_hz, asked_hz):
        return None
    return f"sends {rate_hz:.1f} of the {asked_hz:g} samples/s asked"


def waiting_notice(joined: pd.DataFrame) -> Notice:
    """Before the lesson's first sample: waiting for students, or for those who joined to send."""
    here = 0 if joined.empty else int((joined["presence"] != Presence.REMOVED.value).sum())
    if here == 0:
        return Notice("info", "Waiting for students to join — share the link or the QR code.",
                      ":material/group_add:")  # fmt: skip
    who = "1 student has" if here == 1 else f"{here} students have"
    return Notice("info", f"{who} joined: waiting for their first data (their page asks for the "
                  "camera and loads its models).", ":material/hourglass_top:")  # fmt: skip


def quiet_notice(last_sample_age_s: float | None) -> Notice | None:
    """No student has sent anything for a while (in place of the engine's "no frames" notice)."""
    if last_sample_age_s is None or last_sample_age_s <= STALE_AFTER_S:
        return None
    return Notice("warning", f"No student has sent data for {last_sample_age_s:.0f} s — are "
                  "their pages still open?", ":material/wifi_off:")  # fmt: skip
