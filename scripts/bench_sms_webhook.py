"""An SMS answer's signature check and reply TwiML: CPU a call, ours beside the library's, with a
floor measured in the same run (one bare HMAC-SHA1 over a string of the same length).

    .venv/bin/python scripts/bench_sms_webhook.py [--calls 20000] [--rounds 3]

Prints a line a round and one JSON object. Ours: `verify_signature` (the URL as called first, the
library's `validate` only when that fails) and `reply_twiml` (built once a text). The library's:
`RequestValidator.validate` (the URL signed with and without its port), and the TwiML built for
every answer, as the webhook did before (`reply_twiml` without its cache).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from safetynet.channels.sms.webhook import reply_twiml
from safetynet.channels.twilio.webhook import verify_signature

AUTH_TOKEN = secrets.token_hex(16)  # any token: only the CPU of checking with it is measured
URL = "https://city.example.jp/hooks/twilio/sms"
PARAMS = MultiDict([("MessageSid", "SM" + "0" * 32), ("AccountSid", "AC" + "1" * 32), ("From", "+819012345678"),
                    ("To", "+815012345678"), ("Body", "1"), ("NumMedia", "0"), ("ApiVersion", "2010-04-01")])
REPLY = "「無事」と記録しました。ありがとうございます。"


def _library_verify(token: str, url: str, params: Any, signature: str) -> bool:
    return bool(RequestValidator(token).validate(url, params, signature))


def _cpu_us(fn: Callable[..., object], args: tuple[Any, ...], calls: int) -> float:
    start = time.thread_time()
    for _ in range(calls):
        fn(*args)
    return (time.thread_time() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(URL, PARAMS)
    signed = (URL + "".join(k + v for k, v in sorted(PARAMS.items()))).encode()
    assert verify_signature(AUTH_TOKEN, URL, PARAMS, signature) and _library_verify(AUTH_TOKEN, URL, PARAMS, signature)
    uncached = reply_twiml.__wrapped__  # the same TwiML built for every answer, as the webhook did before
    assert reply_twiml(REPLY) == uncached(REPLY)

    def bare_hmac() -> bytes:
        return base64.b64encode(hmac.new(AUTH_TOKEN.encode(), signed, hashlib.sha1).digest())

    rounds = []
    for n in range(1, args.rounds + 1):
        r = {"bare_hmac_us": _cpu_us(bare_hmac, (), args.calls),
             "signature_ours_us": _cpu_us(verify_signature, (AUTH_TOKEN, URL, PARAMS, signature), args.calls),
             "signature_library_us": _cpu_us(_library_verify, (AUTH_TOKEN, URL, PARAMS, signature), args.calls),
             "twiml_ours_us": _cpu_us(reply_twiml, (REPLY,), args.calls),
             "twiml_uncached_us": _cpu_us(uncached, (REPLY,), args.calls)}
        rounds.append({k: round(v, 2) for k, v in r.items()})
        f = r["bare_hmac_us"]
        print(f"round {n}: bare HMAC {f:.1f} µs; signature check ours {r['signature_ours_us']:.1f} µs "
              f"({r['signature_ours_us'] / f:.1f}×), the library's {r['signature_library_us']:.1f} µs "
              f"({r['signature_library_us'] / f:.1f}×); TwiML ours {r['twiml_ours_us']:.2f} µs, "
              f"built each time {r['twiml_uncached_us']:.1f} µs", flush=True)
    print(json.dumps({"calls": args.calls, "rounds": rounds}))


if __name__ == "__main__":
    main()
