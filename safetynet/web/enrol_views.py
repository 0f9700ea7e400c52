"""HTML of the enrolment page (`/join/{code}`): Japanese first, each channel a short step."""

from __future__ import annotations

from urllib.parse import quote

from safetynet.replies import texts
from safetynet.replies.enrol import ChannelView, EnrolledHousehold
from safetynet.web.layout import esc, page

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
        f'<section class="step" id="push"><h2>{t("enrol_push_title")}</h2>'
        f'<button type="button" id="push-on" class="big safe" hidden data-key="{esc(server_key)}"'
        f' data-url="/join/{esc(quote(code, safe=""))}/webpush" data-done="{t("enrol_push_done")}"'
        f' data-failed="{t("enrol_push_failed")}">{t("enrol_push_button")}</button>'
        f'<p id="push-status" role="status"></p>'
        f'<p class="muted" id="push-nojs">{t("enrol_push_nojs")}</p></section>'
    )


def _telegram(code: str, lang: str, bot_username: str) -> str:
    t = lambda k, **v: esc(texts.t(lang, k, **v))  # noqa: E731 - a local shorthand
    if bot_username:
        body = f'<p><a class="button" href="{esc(telegram_link(bot_username, code))}">{t("enrol_tg_link")}</a></p>'
    else:
        body = f"<p>{t('enrol_tg_manual', code=code)}</p>"
    return f'<section class="step" id="telegram"><h2>{t("enrol_tg_title")}</h2>{body}</section>'


def _sms(code: str, lang: str, code_sent: bool) -> str:
    t = lambda k: esc(texts.t(lang, k))  # noqa: E731 - a local shorthand
    base = f"/join/{esc(quote(code, safe=''))}"
    out = (
        f'<section class="step" id="sms"><h2>{t("enrol_sms_title")}</h2>'
        f'<form method="post" action="{base}/phone">{_lang_field(lang)}'
        f'<label>{t("enrol_phone")} <input type="tel" name="phone" autocomplete="tel" maxlength="20" required></label>'
        f'<button type="submit">{t("enrol_send_code")}</button></form>'
    )
    if code_sent:
        out += (
            f'<form method="post" action="{base}/phone/confirm">{_lang_field(lang)}'
            f'<label>{t("enrol_code")} <input type="text" name="sms_code" inputmode="numeric" maxlength="6"'
            f' autocomplete="one-time-code" required></label><button type="submit">{t("enrol_confirm")}</button></form>'
        )
    return out + "</section>"


def _channels(code: str, lang: str, channels: list[ChannelView]) -> str:
    t = lambda k: esc(texts.t(lang, k))  # noqa: E731 - a local shorthand
    if not channels:
        items = f"<p>{t('enrol_none')}</p>"
    else:
        rows = "".join(
            f"<li>{esc(texts.t(lang, 'kind_' + c.kind.value))} <span class=\"muted\">{esc(c.shown)}</span> "
            f'<form method="post" action="/join/{esc(quote(code, safe=""))}/remove">{_lang_field(lang)}'
            f'<input type="hidden" name="contact_id" value="{c.contact_id}">'
            f'<button type="submit">{t("enrol_remove")}</button></form></li>'
            for c in channels
        )
        items = f'<ul class="channels">{rows}</ul>'
    return f'<section class="step" id="channels"><h2>{t("enrol_list_title")}</h2>{items}</section>'


def join_page(
    code: str,
    lang: str,
    household: EnrolledHousehold,
    channels: list[ChannelView],
    server_key: str,
    bot_username: str,
    notice: str = "",
    code_sent: bool = False,
) -> str:
    parts = [
        f'<main class="reply enrol"><p class="assoc">'
        f"{esc(texts.t(lang, 'enrol_lead', association=household.association, name=household.name))}</p>",
        f"<h1>{esc(texts.t(lang, 'enrol_title'))}</h1>",
    ]
    if notice:
        parts.append(f'<p class="notice" role="status">{esc(notice)}</p>')
    parts.append(f"<p>{esc(texts.t(lang, 'enrol_intro'))}</p>")
    parts += [_push(code, lang, server_key), _telegram(code, lang, bot_username), _sms(code, lang, code_sent),
              _channels(code, lang, channels), "</main>"]
    return page(texts.t(lang, "enrol_title"), "".join(parts), lang=lang, styles=_STYLES,
                scripts=("/static/enrol.js",), languages=_switch(code))


def remove_confirm_page(code: str, lang: str, household: EnrolledHousehold, channel: ChannelView, last: bool) -> str:
    """The second step of removing a contact: what goes, and what it means when it is the last one."""
    t = lambda k, **v: esc(texts.t(lang, k, **v))  # noqa: E731 - a local shorthand
    base = f"/join/{esc(quote(code, safe=''))}"
    shown = f"{texts.t(lang, 'kind_' + channel.kind.value)} {channel.shown}"
    warning = f'<p class="notice" role="alert">{t("enrol_remove_last")}</p>' if last else ""
    body = (
        f'<main class="reply enrol"><p class="assoc">{t("enrol_lead", association=household.association, name=household.name)}</p>'
        f'<h1>{t("enrol_remove_title")}</h1><p>{t("enrol_remove_ask", channel=shown)}</p>{warning}'
        f'<form method="post" action="{base}/remove">{_lang_field(lang)}'
        f'<input type="hidden" name="contact_id" value="{channel.contact_id}">'
        f'<input type="hidden" name="confirm" value="1">'
        f'<button type="submit" class="big help">{t("enrol_remove_yes")}</button></form>'
        f'<p><a class="button" href="{base}?lang={esc(quote(lang, safe=""))}">{t("enrol_remove_no")}</a></p></main>'
    )
    return page(texts.t(lang, "enrol_remove_title"), body, lang=lang, styles=_STYLES)


def bad_code_page() -> str:
    body = (
        f'<main class="reply"><h1>{esc(texts.t("ja", "enrol_bad_code"))}</h1>'
        f'<p lang="en">{esc(texts.t("en", "enrol_bad_code"))}</p></main>'
    )
    return page("404", body, lang="ja", styles=_STYLES)
