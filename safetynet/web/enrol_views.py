"""HTML of the enrolment page (`/join/{code}`): Japanese first, each channel a short step."""

from __future__ import annotations

from urllib.parse import quote

from safetynet import i18n
from safetynet.replies import texts
from safetynet.replies.enrol import ChannelView, EnrolledHousehold
from safetynet.web.layout import esc, page
from safetynet.web.pwa import head_tags

_STYLES = ("/static/base.css", "/static/reply.css")


def _switch(code: str) -> list[tuple[str, str, str]]:
    return [(c, label, f"/join/{quote(code, safe='')}?lang={c}") for c, label in texts.LANGUAGES]


def _lang_field(lang: str) -> str:
    return f'<input type="hidden" name="lang" value="{esc(lang)}">'


def telegram_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{quote(bot_username, safe='')}?start={quote(code, safe='')}"


def _push(code: str, lang: str, server_key: str) -> str:
    t = lambda k: esc(texts.t(lang, k))  # noqa: E731 - a local shorthand
    return (
        f'<section class="step" id="push"><h2>{t("enrol.push.title")}</h2>'
        f'<button type="button" id="push-on" class="big safe" hidden data-key="{esc(server_key)}"'
        f' data-url="/join/{esc(quote(code, safe=""))}/webpush" data-done="{t("enrol.push.done")}"'
        f' data-failed="{t("enrol.push.failed")}" data-ios="{esc(i18n.t(lang, "join.iphone_push"))}">'
        f'{t("enrol.push.button")}</button>'
        f'<p id="push-status" role="status"></p>'
        f'<p class="muted" id="push-nojs">{t("enrol.push.nojs")}</p></section>'
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


def _telegram(code: str, lang: str, bot_username: str) -> str:
    t = lambda k, **v: esc(texts.t(lang, k, **v))  # noqa: E731 - a local shorthand
    if bot_username:
        body = f'<p><a class="button" href="{esc(telegram_link(bot_username, code))}">{t("enrol.telegram.link")}</a></p>'
    else:
        body = f"<p>{t('enrol.telegram.manual', code=code)}</p>"
    return f'<section class="step" id="telegram"><h2>{t("enrol.telegram.title")}</h2>{body}</section>'


def _sms(code: str, lang: str, code_sent: bool) -> str:
    t = lambda k: esc(texts.t(lang, k))  # noqa: E731 - a local shorthand
    base = f"/join/{esc(quote(code, safe=''))}"
    out = (
        f'<section class="step" id="sms"><h2>{t("enrol.sms.title")}</h2>'
        f'<form method="post" action="{base}/phone">{_lang_field(lang)}'
        f'<label>{t("enrol.sms.phone")} <input type="tel" name="phone" autocomplete="tel" maxlength="20" required></label>'
        f'<button type="submit">{t("enrol.sms.send_code")}</button></form>'
    )
    if code_sent:
        out += (
            f'<form method="post" action="{base}/phone/confirm">{_lang_field(lang)}'
            f'<label>{t("enrol.sms.code")} <input type="text" name="sms_code" inputmode="numeric" maxlength="6"'
            f' autocomplete="one-time-code" required></label><button type="submit">{t("enrol.sms.confirm")}</button></form>'
        )
    return out + "</section>"


def _channels(code: str, lang: str, channels: list[ChannelView]) -> str:
    t = lambda k: esc(texts.t(lang, k))  # noqa: E731 - a local shorthand
    if not channels:
        items = f"<p>{t('enrol.list.none')}</p>"
    else:
        rows = "".join(
            f"<li>{esc(texts.t(lang, 'contact.kind.' + c.kind.value))} <span class=\"muted\">{esc(c.shown)}</span> "
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
    server_key: str,
    bot_username: str,
    notice: str = "",
    code_sent: bool = False,
    ios: bool = False,
) -> str:
    parts = [
        f'<main class="reply enrol"><p class="assoc">'
        f"{esc(texts.t(lang, 'enrol.lead', association=household.association, name=household.name))}</p>",
        f"<h1>{esc(texts.t(lang, 'enrol.title'))}</h1>",
    ]
    if notice:
        parts.append(f'<p class="notice" role="status">{esc(notice)}</p>')
    parts.append(f"<p>{esc(texts.t(lang, 'enrol.intro'))}</p>")
    parts += [_iphone(lang, ios), _push(code, lang, server_key), _telegram(code, lang, bot_username),
              _sms(code, lang, code_sent), _channels(code, lang, channels), "</main>"]
    return page(texts.t(lang, "enrol.title"), "".join(parts), lang=lang, styles=_STYLES,
                scripts=("/static/enrol.js",), languages=_switch(code), extra_head=head_tags(code, lang))


def remove_confirm_page(code: str, lang: str, household: EnrolledHousehold, channel: ChannelView, last: bool) -> str:
    """The second step of removing a contact: what goes, and what it means when it is the last one."""
    t = lambda k, **v: esc(texts.t(lang, k, **v))  # noqa: E731 - a local shorthand
    base = f"/join/{esc(quote(code, safe=''))}"
    shown = f"{texts.t(lang, 'contact.kind.' + channel.kind.value)} {channel.shown}"
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
