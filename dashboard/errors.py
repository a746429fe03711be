"""Turning the errors a teacher can act on into one clear message instead of a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard.control import ControlError
from models.assets import AssetError
from storage.db import StorageError
from storage.masking import mask_secrets

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """The first line of an error's message, any URL in it masked (storage.masking)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return mask_secrets(text.splitlines()[0]) if text else type(exc).__name__


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show storage, asset and engine-control errors as one st.error line; re-raise anything else."""
    try:
        yield
    except (StorageError, AssetError, ControlError) as exc:
        st.error(one_line(exc), icon=":material/error:")
    except SQLAlchemyError as exc:
        log.warning("database error: %s", mask_secrets(str(exc)))
        st.error(f"The database cannot be read: {one_line(exc)}", icon=":material/error:")
