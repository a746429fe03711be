"""Analyse a photo: faces and landmarks drawn, seven expression probabilities, head pose, eyes."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, photo, state
from dashboard.photo import PhotoModels
from engine import images
from engine.analysis import FaceResult


@st.cache_resource(show_spinner="Loading the face and expression models…")
def load_photo_models(with_expressions: bool) -> PhotoModels:
    """The finder and the classifier, loaded once per server (never changed after loading)."""
    return photo.load_models(with_expressions)


def show_face(number: int, face: FaceResult) -> None:
    with st.container(border=True):
        left, right = st.columns([3, 2])
        if face.probabilities is not None:
            top = face.expression
            left.plotly_chart(
                charts.expression_probabilities(
                    face.probabilities,
                    f"Face {number}: {top} ({100 * face.probabilities[top]:.0f} %)",
                ),
                key=f"photo_probs_{number}",
            )
        else:
            left.markdown(f"**Face {number}**")
        right.metric("Head turn (yaw)", f"{face.features.yaw_deg:+.0f}°")
        right.metric("Head tilt up/down (pitch)", f"{face.features.pitch_deg:+.0f}°")
        right.metric("Head roll", f"{face.features.roll_deg:+.0f}°")
        right.metric(
            "Eye openness",
            f"{face.features.eye_openness:.2f}",
            help="Eye aspect ratio: about 0.25-0.35 when open, under 0.2 when closed.",
        )


settings = state.settings()
st.title("Analyse a photo")
st.caption(
    "The photo is analysed in memory and forgotten: nothing is stored. JPEG, PNG, WebP or BMP, "
    f"up to {images.MAX_FILE_MB} MB and {images.MAX_PIXELS // 1_000_000} megapixels; larger photos "
    f"are scaled down to {photo.MAX_SIDE_PX} px first."
)
with_expressions = not settings.attention_only
if not with_expressions:
    st.info("Attention-only mode is on (Privacy & settings): expressions are not inferred.")
upload_tab, camera_tab = st.tabs(["Upload a photo", "Take a photo"])
upload = upload_tab.file_uploader(
    "Photo",
    type=["jpg", "jpeg", "png", "webp", "bmp"],
    key="photo_upload",
    max_upload_size=images.MAX_FILE_MB,
)
shot = camera_tab.camera_input("Camera", key="photo_camera")
source = upload if upload is not None else shot
if source is None:
    st.info("Upload a photo, or take one with your camera. Several faces work.")
    st.stop()

try:
    rgb = photo.decode_image(source.getvalue())
    models = load_photo_models(with_expressions)
except (photo.ImageError, photo.PhotoModelError) as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
with st.spinner("Finding faces…"):
    faces = photo.analyse(rgb, models)
st.image(
    photo.draw_faces(rgb, faces),
    caption=f"{len(faces)} face(s): boxes numbered; eyes orange, eyebrows red, nose green, mouth pink",
)
if not faces:
    st.warning("No face found. Try a sharper, frontal photo with the face at least 60 px wide.")
for number, face in enumerate(faces, start=1):
    show_face(number, face)
