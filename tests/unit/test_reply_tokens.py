"""Reply and check tokens are derived, never stored: the derivation must not change between
releases, or every link already sent (and every token hash stored) stops matching."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from safetynet.replies.tokens import (
    TOKEN_LENGTH,
    check_token,
    looks_like_token,
    reply_token,
    token_part,
    token_within,
)


def _hmac_token(key: str, label: str) -> str:
    mac = hmac.new(key.encode(), label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:TOKEN_LENGTH]


def test_a_token_is_the_keyed_hash_of_its_label_and_stays_the_same_across_releases() -> None:
    assert reply_token("test-secret-key", 3, 42) == "cv5UhK2a6vayFcPNO_n7ow"
    assert check_token("test-secret-key", 3, 42) == "FhEeUOmu_pPrgKi5h3KWqz"
    for key, campaign, household in (("test-secret-key", 3, 42), ("another key", 1, 1), ("鍵", 10**6, 10**9)):
        assert reply_token(key, campaign, household) == _hmac_token(key, f"reply:{campaign}:{household}")
        assert check_token(key, campaign, household) == _hmac_token(key, f"check:{campaign}:{household}")
        assert looks_like_token(reply_token(key, campaign, household))


def test_each_key_and_each_label_gives_its_own_tokens() -> None:
    a, b = reply_token("key one", 1, 2), reply_token("key two", 1, 2)
    assert a != b and reply_token("key one", 1, 2) == a  # the keyed hash kept per key is not shared
    assert check_token("key one", 1, 2) != a
    assert reply_token("key one", 1, 3) != a and reply_token("key one", 2, 2) != a


def test_no_key_is_refused() -> None:
    with pytest.raises(ValueError, match="secret key"):
        reply_token("", 1, 1)
    with pytest.raises(ValueError, match="secret key"):
        check_token("", 1, 1)


@pytest.mark.parametrize("tail", ["。", ")", "）", "」", ".", "!", "/", "。ご確認ください", " ご確認ください", "\u3000詳しくは",
                                  "、よろしく", "/x", "?"])
def test_the_token_of_a_link_with_text_stuck_to_it(tail: str) -> None:
    """Chat and mail apps take along what follows a URL in a sentence: the token part is taken."""
    token = reply_token("test-secret-key", 3, 42)
    assert token_within(token + tail) == token


@pytest.mark.parametrize("text", ["", "。", "short。", "cv5UhK2a6vayFcPNO_n7ow", "cv5UhK2a6vayFcPNO_n7owX。",
                                  "cv5UhK2a6vayFcPNO_n7o。", "cv5UhK2a6vayFcPNO_n7o。w"])
def test_no_token_within_what_is_no_token_with_text_after_it(text: str) -> None:
    """A token alone needs no cleaning; a run of token characters of another length is no token."""
    assert token_within(text) is None


def test_token_part_takes_the_run_when_the_callers_rule_holds() -> None:
    assert token_part("K7QM-4XPA-93TF-R2DN。ご確認ください", lambda s: len(s) == 19) == "K7QM-4XPA-93TF-R2DN"
    assert token_part("K7QM-4XPA-93TF-R2DNX。", lambda s: len(s) == 19) is None
