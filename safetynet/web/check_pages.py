"""`/c/{token}`: a contact check's confirm link (連絡先確認).

The token belongs to one contact (`replies.tokens.check_token`), so a tap confirms the address the
message went to, not merely its household. GET only shows the button (link previewers fetch
URLs); POST confirms. Unknown and malformed tokens get the reply pages' plain 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from safetynet.channels import registry
from safetynet.domain import CampaignState
from safetynet.domain.campaigns import ContactCheck
from safetynet.i18n import t
from safetynet.replies import texts
from safetynet.replies.tokens import looks_like_token, token_hash
from safetynet.templating import page_context, render
from safetynet.web.app import SERVICES
from safetynet.web.ratelimit import KeyedRateLimit
from safetynet.web.replies_common import html, limit_ip, limiter, small_form, too_large
from safetynet.web.reply_pages import dead_end_contact
from safetynet.web.reply_views import not_found_page, too_large_page

_STYLES = ("/static/base.css", "/static/reply.css")


@dataclass(frozen=True)
class _Limits:
    check: KeyedRateLimit | None


_LIMITS = web.AppKey("check_limits", _Limits)


async def _find(request: web.Request) -> tuple[str, ContactCheck | None]:
    limit_ip(request.app[_LIMITS].check, request)
    token = request.match_info["token"]
    if not looks_like_token(token):
        return token, None
    return token, await request.app[SERVICES].store.replies.check_by_token(token_hash(token))


def _channel_label(lang: str, channel: str) -> str:
    return t(lang, f"channel.{channel}.label") if registry.is_channel(channel) else channel


def _ask(token: str, lang: str, check: ContactCheck) -> str:
    if check.confirmed_at is not None:
        state = "confirmed"
    elif check.campaign_state != CampaignState.RUNNING:
        state = "closed"
    else:
        state = "ask"
    return render("check.html", **page_context(lang=lang, title=t(lang, "check.page.title"), styles=_STYLES),
                  state=state, token=token, channel=_channel_label(lang, check.channel))


async def check_get(request: web.Request) -> web.Response:
    token, check = await _find(request)
    if check is None:
        return html(not_found_page(*dead_end_contact(request)), status=404)
    return html(_ask(token, texts.ui_language(check.language), check))


async def check_post(request: web.Request) -> web.Response:
    if too_large(request):
        return html(too_large_page(), status=413)
    token, check = await _find(request)
    if check is None:
        return html(not_found_page(*dead_end_contact(request)), status=404)
    await small_form(request)
    svc = request.app[SERVICES]
    after = await svc.store.replies.confirm_check(token_hash(token), svc.clock.now())
    assert after is not None  # the token was found just above; rows are never deleted
    return html(_ask(token, texts.ui_language(after.language), after))


def setup(app: web.Application) -> None:
    svc = app[SERVICES]
    replies = svc.cfg.replies
    app[_LIMITS] = _Limits(limiter(svc, replies.rate_limit_per_minute, replies.rate_limit_burst or None))
    app.router.add_get("/c/{token}", check_get)
    app.router.add_post("/c/{token}", check_post)
