"""Secrets in URLs and messages are hidden the same way everywhere."""

from __future__ import annotations

import pytest

from storage.masking import mask_secrets, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://teacher:s3cret@db.school/classpulse",
         "postgresql+psycopg://teacher:***@db.school/classpulse"),
        ("rtsp://cam:pa/ss@w0rd@10.0.0.5:554/stream", "rtsp://cam:***@10.0.0.5:554/stream"),
        ("https://host/live.m3u8?token=abc123&quality=hd", "https://host/live.m3u8?token=***&quality=hd"),
        ("postgresql://u@h/db?password=hunter2&sslmode=require",
         "postgresql://u@h/db?password=***&sslmode=require"),
        ("https://ghp_aB3dE5fG7hI9jK1lM3nO5p@host/x", "https://***@host/x"),
        ("https://host/a?X-Amz-Signature=deadbeef#t=3", "https://host/a?X-Amz-Signature=***#t=3"),
        ("rtsp://10.0.0.5:554/stream", "rtsp://10.0.0.5:554/stream"),
        ("sqlite:///data/classpulse.db", "sqlite:///data/classpulse.db"),
        ("http://alice@host/feed", "http://alice@host/feed"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url_hides_passwords_and_tokens(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_secrets_masks_every_url_in_a_message_and_known_secrets() -> None:
    message = ('connection to "db" failed for postgresql://t:pw@db/x; '
               "password p@ss/1 rejected (p%40ss%2F1)")
    out = mask_secrets(message, "p@ss/1")
    assert "pw" not in out.replace("password", "")
    assert "p@ss/1" not in out and "p%40ss%2F1" not in out
    assert "postgresql://t:***@db/x" in out


@pytest.mark.parametrize(
    "text",
    [
        "cannot open stream rtsp://cam:***@10.0.0.5/live?token=***&channel=1; check that it is connected",
        "https://host/live.m3u8?token=***&quality=hd&note=a%20b;",
    ],
)
def test_masking_text_that_is_already_masked_leaves_it_as_written(text: str) -> None:
    assert mask_secrets(text) == text


def test_a_secret_query_value_is_hidden_whole_and_other_parameters_are_kept_as_written() -> None:
    url = "rtsp://10.0.0.5/live?channel=1;2&Token=ab%3Bcd;ef&sig=x==&name=a+b"
    assert mask_url(url) == "rtsp://10.0.0.5/live?channel=1;2&Token=***&sig=***&name=a+b"
