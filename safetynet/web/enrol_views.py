"""HTML of the enrolment page (`/join/{code}`): Japanese first, each channel a short step.

Each enrolling channel gets the section of its method (`channels.spec.ENROL_*`), in its own words
(the catalog keys its spec names: `enrol.<channel>.<role>`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from safetynet import i18n
from safetynet.channels.spec import ENROL_CONFIRM_CODE, ENROL_MESSAGE_CODE, ENROL_SUBSCRIPTION, ChannelSpec
from safetynet.replies import texts
from safetynet.replies.enrol import ChannelView, EnrolledHousehold
from safetynet.replies.words import enrol_word, kind_label
from safetynet.web.layout import esc, page
from safetynet.web.pwa import head_tags

_STYLES = ("/static/base.css", "/static/reply.css")


def _switch(code: str) -> list[tuple[str, str, str]]:
    return [(c, label, f"/join/{quote(code, safe='')}?lang={c}") for c, label in texts.LANGUAGES]


def _lang_field(lang: str) -> str:
    return f'<input type="hidden" name="lang" value="{esc(lang)}">'


def _w(spec: ChannelSpec, lang: str, role: str, **values: str) -> str:
    """The channel's word for `role` on its enrolment section, escaped."""
    return esc(enrol_word(spec, lang, role, **values))


def _base(code: str, spec: ChannelSpec) -> str:
    return f"/join/{esc(quote(code, safe=''))}/{esc(quote(spec.name, safe=''))}"


def _subscription(spec: ChannelSpec, code: str, lang: str, page: Mapping[str, str]) -> str:
    """A browser's push subscription: the button enrol.js turns on (the page works without it)."""
    w = functools.partial(_w, spec, lang)
    return (
        f'<section class="step" id="{esc(spec.name)}"><h2>{w("title")}</h2>'
        f'<button type="button" id="push-on" class="big safe" hidden data-key="{esc(page.get("key", ""))}"'
        f' data-url="{_base(code, spec)}" data-done="{w("done")}"'
        f' data-failed="{w("failed")}" data-ios="{esc(i18n.t(lang, "join.iphone_push"))}">{w("button")}</button>'
        f'<p id="push-status" role="status"></p>'
        f'<p class="muted" id="push-nojs">{w("nojs")}</p></section>'
    )


IPHONE_STEPS = ("join.iphone_step1", "join.iphone_step2", "join.iphone_step3", "join.iphone_step4")


def _iphone(lang: str, ios: bool) -> str:
    """Add to the Home Screen first: an iPhone takes web push only in a Home Screen web app. Shown to
    iOS by User-Agent; the page's script hides it again inside that app (and shows it to an iPad
    asking for the desktop site)."""
    t = lambda k: esc(i18n.t(lang, k))  # noqa: E731 - a local shorthand
    steps = "".join(f"<li>{t(key)}</li>" for key in IPHONE_STEPS)
    return (
        f'<section class="step" id="iphone"{"" if ios else " hidden"}><h2>{t("join.iphone_title")}</h2>'
        f'<p>{t("join.iphone_hint")}</p><ol>{steps}</ol><p class="muted">{t("join.iphone_version")}</p></section>'
    )


def _message_code(spec: ChannelSpec, code: str, lang: str, page: Mapping[str, str]) -> str:
    """The letter's code sent to the channel's bot: its deep link when known, else what to send."""
    w = functools.partial(_w, spec, lang)
    link = page.get("link", "")
    body = (f'<p><a class="button" href="{esc(link)}">{w("link")}</a></p>' if link
            else f"<p>{w('manual', code=code)}</p>")
    return f'<section class="step" id="{esc(spec.name)}"><h2>{w("title")}</h2>{body}</section>'


def _confirm(spec: ChannelSpec, code: str, lang: str, code_sent: bool) -> str:
    """An address typed here, confirmed by a code (typed back) or a link (opened) sent to it."""
    assert spec.enrolment is not None
    w = functools.partial(_w, spec, lang)
    base = _base(code, spec)
    kind = spec.enrolment.input_type
    out = (
        f'<section class="step" id="{esc(spec.name)}"><h2>{w("title")}</h2>'
        f'<form method="post" action="{base}">{_lang_field(lang)}'
        f'<label>{w("address")} <input type="{esc(kind)}" name="address" autocomplete="{esc(_AUTOCOMPLETE.get(kind, "on"))}"'
        f' maxlength="254" required></label>'
        f'<button type="submit">{w("send")}</button></form>'
    )
    if code_sent and spec.enrolment.method == ENROL_CONFIRM_CODE:
        out += (
            f'<form method="post" action="{base}/confirm">{_lang_field(lang)}'
            f'<label>{w("code")} <input type="text" name="confirm_code" inputmode="numeric" maxlength="6"'
            f' autocomplete="one-time-code" required></label><button type="submit">{w("confirm")}</button></form>'
        )
    return out + "</section>"


_AUTOCOMPLETE = {"tel": "tel", "email": "email"}


def section(spec: ChannelSpec, code: str, lang: str, page: Mapping[str, str], code_sent: bool) -> str:
    """The enrolment page's section of one channel, by its method."""
    assert spec.enrolment is not None
    method = spec.enrolment.method
    if method == ENROL_SUBSCRIPTION:
        return _subscription(spec, code, lang, page)
    if method == ENROL_MESSAGE_CODE:
        return _message_code(spec, code, lang, page)
    return _confirm(spec, code, lang, code_sent)


def _channels(code: str, lang: str, channels: list[ChannelView]) -> str:
    t = lambda k: esc(texts.t(lang, k))  # noqa: E731 - a local shorthand
    if not channels:
        items = f"<p>{t('enrol.list.none')}</p>"
    else:
        rows = "".join(
            f"<li>{esc(kind_label(c.kind, lang))} <span class=\"muted\">{esc(c.shown)}</span> "
            f'<form method="post" action="/join/{esc(quote(code, safe=""))}/remove">{_lang_field(lang)}'
            f'<input type="hidden" name="contact_id" value="{c.contact_id}">'
            f'<button type="submit">{t("enrol.list.remove")}</button></form></li>'
            for c in channels
        )
        items = f'<ul class="channels">{rows}</ul>'
    return f'<section class="step" id="channels"><h2>{t("enrol.list.title")}</h2>{items}</section>'


def join_page(
    code: str,
    lang: str,
    household: EnrolledHousehold,
    channels: list[ChannelView],
    sections: Sequence[tuple[ChannelSpec, Mapping[str, str]]],
    notice: str = "",
    code_sent: str = "",
    ios: bool = False,
) -> str:
    """`sections`: each enabled enrolling channel with what its section shows (a key, a link);
    `code_sent`: the channel that just sent a confirmation code (its section asks for it)."""
    parts = [
        f'<main class="reply enrol"><p class="assoc">'
        f"{esc(texts.t(lang, 'enrol.lead', association=household.association, name=household.name))}</p>",
        f"<h1>{esc(texts.t(lang, 'enrol.title'))}</h1>",
    ]
    if notice:
        parts.append(f'<p class="notice" role="status">{esc(notice)}</p>')
    parts.append(f"<p>{esc(texts.t(lang, 'enrol.intro'))}</p>")
    if any(spec.enrolment is not None and spec.enrolment.method == ENROL_SUBSCRIPTION for spec, _ in sections):
        parts.append(_iphone(lang, ios))  # web push on an iPhone needs the Home Screen app first
    parts += [section(spec, code, lang, shown, code_sent == spec.name) for spec, shown in sections]
    parts += [_channels(code, lang, channels), "</main>"]
    return page(texts.t(lang, "enrol.title"), "".join(parts), lang=lang, styles=_STYLES,
                scripts=("/static/enrol.js",), languages=_switch(code), extra_head=head_tags(code, lang))


def remove_confirm_page(code: str, lang: str, household: EnrolledHousehold, channel: ChannelView, last: bool) -> str:
    """The second step of removing a contact: what goes, and what it means when it is the last one."""
    t = lambda k, **v: esc(texts.t(lang, k, **v))  # noqa: E731 - a local shorthand
    base = f"/join/{esc(quote(code, safe=''))}"
    shown = f"{kind_label(channel.kind, lang)} {channel.shown}"
    warning = f'<p class="notice" role="alert">{t("enrol.remove.last")}</p>' if last else ""
    body = (
        f'<main class="reply enrol"><p class="assoc">{t("enrol.lead", association=household.association, name=household.name)}</p>'
        f'<h1>{t("enrol.remove.title")}</h1><p>{t("enrol.remove.ask", channel=shown)}</p>{warning}'
        f'<form method="post" action="{base}/remove">{_lang_field(lang)}'
        f'<input type="hidden" name="contact_id" value="{channel.contact_id}">'
        f'<input type="hidden" name="confirm" value="1">'
        f'<button type="submit" class="big help">{t("enrol.remove.yes")}</button></form>'
        f'<p><a class="button" href="{base}?lang={esc(quote(lang, safe=""))}">{t("enrol.remove.no")}</a></p></main>'
    )
    return page(texts.t(lang, "enrol.remove.title"), body, lang=lang, styles=_STYLES)


def bad_code_page() -> str:
    body = (
        f'<main class="reply"><h1>{esc(texts.t("ja", "enrol.bad_code"))}</h1>'
        f'<p lang="en">{esc(texts.t("en", "enrol.bad_code"))}</p></main>'
    )
    return page("404", body, lang="ja", styles=_STYLES)


def confirm_link_page(code: str, lang: str, household: EnrolledHousehold, spec: ChannelSpec, secret: str) -> str:
    """Where a confirmation link lands: one button. Opening the link changes nothing (mail scanners
    and link previewers open links); only the button's POST confirms the address."""
    w = functools.partial(_w, spec, lang)
    body = (
        f'<main class="reply enrol"><p class="assoc">'
        f"{esc(texts.t(lang, 'enrol.lead', association=household.association, name=household.name))}</p>"
        f'<h1>{w("title")}</h1>'
        f'<form method="post" action="{_base(code, spec)}/confirm">{_lang_field(lang)}'
        f'<input type="hidden" name="confirm_code" value="{esc(secret)}">'
        f'<button type="submit" class="big safe">{w("confirm")}</button></form></main>'
    )
    return page(texts.t(lang, "enrol.title"), body, lang=lang, styles=_STYLES)
