"""The channel registry: every spec is complete, its references resolve, the registry stays light,
and a channel that is off has no webhook."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from channel_helpers import write_config
from replies_fixtures import running_app
from roster_helpers import SECRET_KEY

from safetynet.channels import registry
from safetynet.channels.base import ChannelSettings, InboundPort, ProviderSettings, WebhookRoute
from safetynet.channels.fakes import ChannelFake, SimulatedResident
from safetynet.channels.spec import ENROL_METHODS, ENROL_ROLES, MESSAGE_LAYOUTS, ChannelSpec, load
from safetynet.clock import FakeClock
from safetynet.config import channel_context, load_config
from safetynet.domain.campaigns import LadderStep
from safetynet.i18n import catalog
from safetynet.replies.words import channel_label, kind_label

SPECS = {s.name: s for s in registry.SPECS}


@pytest.mark.parametrize("spec", registry.SPECS, ids=lambda s: s.name)
def test_every_spec_is_complete(spec: ChannelSpec, tmp_path: Path) -> None:
    # settings: defaults that pass their own checks, the keys every channel has
    settings = spec.settings()
    assert isinstance(settings, ChannelSettings) and settings.problems() == []
    # secrets: named by environment variables the deployer sets, never read from the file
    for sec in spec.secrets:
        assert sec.env.startswith("SAFETYNET_") and sec.env.isupper() and sec.key
    if spec.secrets:
        # a channel with credentials names its provider (a URL, or an SMTP host) and says when it is the sandbox
        assert isinstance(settings, ProviderSettings) or (
            type(settings).talks_to_sandbox is not ChannelSettings.talks_to_sandbox), "credentials without a provider"
    # the sender: importable, built from a context alone, named after its channel
    cfg = load_config(write_config(tmp_path), env={"SAFETYNET_SECRET_KEY": SECRET_KEY})
    sender = load(spec.sender)(channel_context(cfg, spec.name, clock=FakeClock()))
    assert sender.name == spec.name and inspect.iscoroutinefunction(sender.send)
    # contact kinds: what it sends to is declared by some channel; its roster columns are its own kinds
    assert spec.sends_to and all(k in registry.kinds() for k in spec.sends_to)
    assert {c.kind for c in spec.roster_columns} <= {k.name for k in spec.kinds}
    # its words, in the catalogs (Japanese, and English for the pages' switch): a label, a label for
    # each kind it declares, and every text of its enrolment section
    keys = [spec.label_key, *(k.label_key for k in spec.kinds)]
    if spec.enrolment is not None:
        keys += [spec.enrolment.key(spec.name, role) for role in ENROL_ROLES[spec.enrolment.method]]
    keys += [f"letters.step_{step}" for step in spec.letter_steps]  # what its enrolment letters say
    for lang in ("ja", "en"):
        assert [k for k in keys if k not in catalog(lang)] == [], f"{spec.name}: texts missing in {lang}"
    assert channel_label(spec, "en") and kind_label(spec.kinds[0].name if spec.kinds else spec.sends_to[0], "ja")
    # webhooks: routes that resolve, under /hooks/
    if spec.webhooks is not None:
        routes = load(spec.webhooks)(channel_context(cfg, spec.name), _NoInbound(), None)
        assert routes and all(isinstance(r, WebhookRoute) and r.path.startswith("/hooks/") for r in routes)
        assert all(r.method == "POST" and inspect.iscoroutinefunction(r.handle) for r in routes)
    # its provider's fake for the sandbox, and its simulated resident for the lab
    assert spec.sandbox is not None and issubclass(load(spec.sandbox), ChannelFake)
    assert load(spec.sandbox).name == spec.name
    assert spec.resident is not None and issubclass(load(spec.resident), SimulatedResident)
    assert load(spec.resident).channel == spec.name
    # enrolment, message layout, price
    if spec.enrolment is not None:
        assert spec.enrolment.method in ENROL_METHODS and spec.enrolment.kind in registry.kinds()
        for ref in (spec.enrolment.accept, spec.enrolment.page):
            if ref is not None:
                assert callable(load(ref))
    assert spec.message in MESSAGE_LAYOUTS
    if not spec.free:
        assert spec.estimate is not None and spec.ladder_after_seconds is not None
        units, yen = load(spec.estimate)(settings, "安否確認です https://x.jp/r/abc")
        assert units >= 1 and yen >= 0
    if spec.init is not None:
        load(spec.init)(tmp_path / "keys")


class _NoInbound:
    """Stands where the InboundPort goes: building routes must not call it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a webhook factory called InboundPort.{name} while building its routes")


def test_names_kinds_and_secrets_are_declared_once() -> None:
    assert len(set(registry.names())) == len(registry.SPECS)
    kinds = [k.name for s in registry.SPECS for k in s.kinds]
    assert len(kinds) == len(set(kinds))
    keys = [sec.key for sec, _ in registry.secrets()]
    assert len(keys) == len(set(keys))
    assert registry.kind("mobile") is SPECS["sms"].kinds[0]
    assert registry.channels_of_kind()["mobile"] == ("sms", "voice")
    assert registry.free() == tuple(s.name for s in registry.SPECS if s.free)


def test_the_default_ladder_is_the_free_channels_then_each_priced_one_then_the_door_knock() -> None:
    steps = registry.default_ladder()
    assert steps[0] == LadderStep(0.0, registry.free(), ("sms", "voice"))
    assert [s.channels for s in steps[1:-1]] == [("sms",), ("voice",)]
    assert steps[-1].door_knock and steps[-1].after_seconds > steps[-2].after_seconds


def test_the_routes_are_the_kinds_channels_and_the_free_channels() -> None:
    routes = registry.routes()
    assert routes.of_kind["mobile"] == ("sms", "voice") and routes.of_kind["landline"] == ("voice",)
    assert routes.preferred == frozenset(registry.free()) == {"webpush", "telegram", "line", "email"}


def test_the_registry_and_every_spec_import_no_provider_library() -> None:
    """Config loads the registry: it and each package's SPEC must stay light (senders, webhooks and
    fakes are referenced as "module:callable")."""
    code = ("import sys; import safetynet.config; "
            "heavy = ('aiohttp', 'twilio', 'telegram', 'pywebpush', 'py_vapid', 'cryptography', 'http_ece', "
            "'multidict', 'aiosqlite'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_config_has_a_section_per_channel_of_its_own_type() -> None:
    cfg = load_config(None, env={})
    assert [n for n, _ in cfg.channels.items()] == list(registry.names())
    for name, settings in cfg.channels.items():
        assert type(settings) is SPECS[name].settings
    changed = cfg.channels.replace(sms=dataclasses.replace(cfg.channels.sms, enabled=False))
    assert changed.enabled() == [n for n in registry.names() if n != "sms"]


def _webhook_paths() -> dict[str, list[str]]:
    cfg = load_config(None, env={})
    return {s.name: [r.path for r in load(s.webhooks)(channel_context(cfg, s.name), _NoInbound(), None)]
            for s in registry.SPECS if s.webhooks is not None}


async def test_a_channel_that_is_off_has_no_webhook(tmp_path: Path) -> None:
    """Only the enabled channels' routes are mounted; a route two channels share (Twilio's status
    callbacks) stays while one of them is on."""
    paths = _webhook_paths()
    assert paths, "some channel has webhooks"
    for only in paths:
        off = {f"SAFETYNET_CHANNELS_{n.upper()}_ENABLED": "false" for n in registry.names() if n != only}
        (tmp_path / only).mkdir()
        async with running_app(tmp_path / only, seeded=False, **off) as env:
            for name, routes in paths.items():
                for path in routes:
                    async with env.http.post(env.url + path, data={"x": "1"}) as r:
                        shared = path in paths[only]
                        assert (r.status != 404) == shared, (only, name, path, r.status)


def test_inbound_port_is_what_replies_implement() -> None:
    """replies.inbound.Inbound has every method of the port, with the same parameters."""
    from safetynet.replies.inbound import Inbound

    for name, member in inspect.getmembers(InboundPort, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(Inbound, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters), name


def test_the_channel_layer_imports_nothing_above_it() -> None:
    """pyproject's layers contract (lazy imports count) puts the channels right below config, above
    only the utilities and the domain: they never reach store, replies, web, broadcast, roster,
    config, system… . The contract is kept."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    contracts = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    names = [[m.strip() for m in layer.split("|")] for layer in layers]
    channels = next(i for i, layer in enumerate(names) if "safetynet.channels" in layer)
    below = {m for layer in names[channels + 1:] for m in layer}
    assert names[channels - 1] == ["safetynet.config"] and "safetynet.store" not in below
    assert below >= {"safetynet.domain", "safetynet.i18n", "safetynet.clock", "safetynet.logs"}
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
                           " sys.argv = ['lint-imports']; lint_imports_command()"],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"Layers: .*KEPT", done.stdout.replace("\n", " "), re.S)
