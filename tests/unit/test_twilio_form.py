"""The Twilio transport's form encoding: byte for byte what urlencode gives."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from safetynet.channels.twilio.http import form_encode


def test_an_sms_form_is_encoded_as_urlencode_does() -> None:
    data: dict[str, object] = {
        "To": "+818012345678", "From": "+815012345678",
        "Body": "【訓練】震度6強の地震が発生しました。回答: http://x.test/r/Ab-_~.cd?a=1&b=2 100% ok+",
        "StatusCallback": "https://city.example/hooks/twilio/status",
    }
    assert form_encode(data) == urlencode(data, doseq=True)


def test_values_that_are_not_strings_go_through_urlencode() -> None:
    data: dict[str, object] = {"To": "+8180", "MediaUrl": ["https://a.test/1", "https://a.test/2"], "Tries": 3}
    assert form_encode(data) == urlencode(data, doseq=True)


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=5))
def test_any_text_is_encoded_as_urlencode_does(data: dict[str, str]) -> None:
    assert form_encode(dict(data)) == urlencode(data, doseq=True)
