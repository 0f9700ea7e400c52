"""HTML of the enrolment page (`/join/{code}`): Japanese first, each channel a short step
(templates `join*.html`).

Each enrolling channel gets the section of its method (`channels.spec.ENROL_*`), in its own words
(the catalog keys its spec names: `enrol.<channel>.<role>`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from safetynet.channels.spec import ENROL_CONFIRM_CODE, ENROL_SUBSCRIPTION, ChannelSpec
from safetynet.replies import texts
from safetynet.replies.enrol import ChannelView, EnrolledHousehold
from safetynet.replies.words import enrol_word, kind_label
from safetynet.templating import ENV, page_context, render
from safetynet.web.pwa import head_tags
from safetynet.web.reply_views import dead_end_page

_STYLES = ("/static/base.css", "/static/reply.css")
_AUTOCOMPLETE = {"tel": "tel", "email": "email"}
IPHONE_STEPS = ("join.iphone_step1", "join.iphone_step2", "join.iphone_step3", "join.iphone_step4")
IPHONE_IN_APP_STEP = "join.iphone_step_in_app"


def _switch(code: str) -> list[tuple[str, str, str]]:
    return [(c, label, f"/join/{quote(code, safe='')}?lang={c}") for c, label in texts.LANGUAGES]


def _home(code: str) -> str:
    return f"/join/{quote(code, safe='')}"


@dataclass(frozen=True)
class _Section:
    """What a channel's section shows: its method, its words and what its page part gave."""

    name: str
    method: str
    base: str
    input_type: str
    autocomplete: str
    ask_code: bool
    shown: Mapping[str, str]
    w: Callable[..., str]
    allow: str


def _section(spec: ChannelSpec, code: str, lang: str, shown: Mapping[str, str], code_sent: bool) -> _Section:
    assert spec.enrolment is not None
    kind = spec.enrolment.input_type
    return _Section(
        name=spec.name, method=spec.enrolment.method, base=f"{_home(code)}/{quote(spec.name, safe='')}",
        input_type=kind, autocomplete=_AUTOCOMPLETE.get(kind, "on"),
        ask_code=code_sent and spec.enrolment.method == ENROL_CONFIRM_CODE, shown=shown,
        w=functools.partial(enrol_word, spec, lang), allow=allow_words(spec, lang, shown),
    )


def allow_words(spec: ChannelSpec, lang: str, shown: Mapping[str, str]) -> str:
    """The channel's `allow` words, naming the sender its confirmation comes from (`shown` holds its
    `resident_words`): a phone that takes mail only from chosen senders (指定受信) must allow it first.
    Empty for a channel without them."""
    return enrol_word(spec, lang, "allow", "", **shown)


def section(spec: ChannelSpec, code: str, lang: str, page: Mapping[str, str], code_sent: bool) -> str:
    """The enrolment page's section of one channel, by its method."""
    macro = ENV.get_template("join_parts.html").module.section  # type: ignore[attr-defined]
    return str(macro(_section(spec, code, lang, page, code_sent), code, lang))


def join_page(
    code: str,
    lang: str,
    household: EnrolledHousehold,
    channels: list[ChannelView],
    sections: Sequence[tuple[ChannelSpec, Mapping[str, str]]],
    notice: str = "",
    code_sent: str = "",
    ios: bool = False,
    in_app: bool = False,
) -> str:
    """`sections`: each enabled enrolling channel with what its section shows (a key, a link);
    `code_sent`: the channel that just sent a confirmation code (its section asks for it)."""
    push = any(spec.enrolment is not None and spec.enrolment.method == ENROL_SUBSCRIPTION for spec, _ in sections)
    return render(
        "join.html",
        **page_context(lang=lang, title=texts.t(lang, "enrol.title"), styles=_STYLES, scripts=("/static/enrol.js",),
                       languages=_switch(code), head=head_tags(code, lang)),
        code=code, base=_home(code), household=household, notice=notice,
        # web push on an iPhone needs the Home Screen app first
        # (first out of another app's browser, such as LINE's QR reader, into Safari)
        iphone=ios if push else None, iphone_steps=(IPHONE_IN_APP_STEP, *IPHONE_STEPS) if in_app else IPHONE_STEPS,
        sections=[_section(spec, code, lang, shown, code_sent == spec.name) for spec, shown in sections],
        channels=[{"label": kind_label(c.kind, lang), "shown": c.shown, "contact_id": c.contact_id} for c in channels],
    )


def remove_confirm_page(code: str, lang: str, household: EnrolledHousehold, channel: ChannelView, last: bool) -> str:
    """The second step of removing a contact: what goes, and what it means when it is the last one."""
    return render(
        "join_remove.html",
        **page_context(lang=lang, title=texts.t(lang, "enrol.remove.title"), styles=_STYLES),
        base=_home(code), household=household, shown=f"{kind_label(channel.kind, lang)} {channel.shown}",
        contact_id=channel.contact_id, last=last,
    )


def bad_code_page(contact_phone: str = "", city: str = "") -> str:
    """A code that matches no household: what to check, a field to type it again, whom to call."""
    return dead_end_page("enrol.bad_code", "enrol.bad_code_what", contact_phone, city, 404, retry=True)


def type_code_page(contact_phone: str = "", city: str = "") -> str:
    """`/join` with no code yet: the field to type the letter's code (no error: nothing was typed)."""
    return dead_end_page("enrol.type_code", "enrol.type_code_what", contact_phone, city, 200, retry=True,
                         retry_label="enrol.code_label", title=texts.t("ja", "enrol.title"))


def no_channel_page(code: str, contact_phone: str = "", city: str = "") -> str:
    """A `/join/{code}/…` page that is not there (a channel that is off or unknown, or a confirmation
    page of a channel that confirms otherwise): the way back to the household's page. Whether the
    code is good is that page's to say."""
    return dead_end_page("enrol.no_channel", "enrol.no_channel_what", contact_phone, city, 404,
                         back=_home(code), back_label="enrol.back")


def confirm_link_page(code: str, lang: str, household: EnrolledHousehold, spec: ChannelSpec, secret: str) -> str:
    """Where a confirmation link lands: one button; only its POST confirms the address."""
    return render(
        "join_confirm_link.html",
        **page_context(lang=lang, title=texts.t(lang, "enrol.title"), styles=_STYLES),
        household=household, action=f"{_home(code)}/{quote(spec.name, safe='')}/confirm", secret=secret,
        title_word=enrol_word(spec, lang, "title"), confirm_word=enrol_word(spec, lang, "confirm"),
    )
