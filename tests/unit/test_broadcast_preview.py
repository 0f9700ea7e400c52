"""The preview's arithmetic (pure): households per channel per step, time at the provider limit, cost."""

from __future__ import annotations

from safetynet.broadcast.preview import PreviewCounter
from safetynet.channels import registry
from safetynet.config import load_config
from safetynet.domain.roster import Contact, TargetHousehold
from safetynet.i18n import t

CFG = load_config(None, env={"SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": "10", "SAFETYNET_CHANNELS_VOICE_MAX_PER_SECOND": "1",
                             "SAFETYNET_CHANNELS_SMS_PRICE_PER_SEGMENT_JPY": "8",
                             "SAFETYNET_CHANNELS_VOICE_PRICE_PER_CALL_JPY": "20"})


def hh(i: int, *kinds: str, vulnerable: bool = False) -> TargetHousehold:
    return TargetHousehold(i, 1, None, vulnerable, "en",
                           tuple(Contact(i * 10 + n, i, k, "x") for n, k in enumerate(kinds)))


def test_sms_time_and_cost_are_what_the_limits_and_prices_imply() -> None:
    counter = PreviewCounter(CFG, registry.default_ladder(), {"ja": "訓練", "en": "Drill: are you safe?"}, drill=True)
    counter.add(hh(i, "mobile") for i in range(12_400))
    counter.add([hh(20_000, "webpush", vulnerable=True), hh(20_001)])
    p = counter.result()
    assert (p.households, p.no_contact, p.vulnerable) == (12_402, 1, 1)
    step0, step1, step2, knock = p.steps
    assert step0.households == {"sms": 12_400, "webpush": 1}
    assert step0.seconds["sms"] == 1240.0 and step0.seconds["webpush"] is None
    assert step1.households == {"sms": 12_400} and step2.households == {"voice": 12_400}
    assert knock.door_knock
    lines = p.lines()
    assert "12,400 sms at 10/s = 21 min" in lines[1]
    assert "12,400 voice at 1/s = 3.4 h" in lines[3]
    # an English SMS with its link fits one GSM-7 segment: 2 SMS steps x 12,400 x ¥8, and the calls
    assert p.units == {"sms": 24_800, "voice": 12_400}
    assert p.cost_jpy == {"sms": 198_400.0, "voice": 248_000.0, "total": 446_400.0}


def test_the_console_says_a_channel_without_a_limit_goes_out_right_away() -> None:
    from safetynet.web.city_console import _steps

    counter = PreviewCounter(CFG, registry.default_ladder(), {"ja": "訓練"}, drill=True)
    counter.add([hh(1, "webpush"), hh(2, "mobile")])
    rows = {(index, channel): took for index, _, channel, _, took in _steps("ja", counter.result())}
    # "上限なし" (no limit) read as "it may take forever" on the night it matters
    assert rows[(0, "プッシュ通知")] == "すぐ（送信数の制限なし）"
    assert rows[(0, "SMS")] == "1 分"


def test_the_cost_estimate_says_calls_that_ring_out_may_add_calls_without_counting_them() -> None:
    counter = PreviewCounter(CFG, registry.default_ladder(), {"ja": "訓練", "en": "Drill"}, drill=True)
    counter.add(hh(i, "landline") for i in range(10))
    p = counter.result()
    assert p.units == {"sms": 0, "voice": 20} and p.cost_jpy["voice"] == 400.0  # step 0 and the voice step
    assert p.lines()[-1] == t("en", "cli.preview.redials", channel="voice", redials=2, minutes=5)
    assert p.lines("ja")[-1].startswith(t("ja", "cli.preview.redials", channel=t("ja", registry.spec("voice").label_key),
                                          redials=2, minutes=5))
    texts_only = PreviewCounter(CFG, registry.default_ladder(), {"en": "Drill"}, drill=True)
    texts_only.add([hh(1, "webpush")])  # no call in the preview: nothing to say of redials
    assert texts_only.result().redial_notes() == []
    off = load_config(None, env={"SAFETYNET_CHANNELS_VOICE_REDIALS": "0"})
    counter = PreviewCounter(off, registry.default_ladder(), {"en": "Drill"}, drill=True)
    counter.add([hh(1, "landline")])
    assert counter.result().redial_notes() == []
