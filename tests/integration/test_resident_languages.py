"""zh, ko, vi and pt households read the reply and enrolment pages in their language."""

from __future__ import annotations

from pathlib import Path

import pytest
from replies_fixtures import enrolment_code, running_app

from safetynet.domain.roster import CodeTarget
from safetynet.roster.letters import Letter

WORDS = {  # the safe button, the enrolment page's title
    "zh": ("平安无事", "安全确认联系方式登记"),
    "ko": ("무사합니다", "안부 확인 연락처 등록"),
    "vi": ("Tôi an toàn", "Đăng ký liên lạc xác nhận an toàn"),
    "pt": ("Estou bem", "Cadastro de contatos da confirmação de segurança"),
}


@pytest.mark.parametrize("lang", sorted(WORDS))
async def test_reply_and_join_pages_in_the_households_language(tmp_path: Path, lang: str) -> None:
    safe, enrol_title = WORDS[lang]
    async with running_app(tmp_path) as env:
        async with env.http.get(env.reply_url("A-001") + f"?lang={lang}") as resp:
            page = await resp.text()
        assert safe in page and f'lang="{lang}"' in page
        assert "無事です" not in page and "ぶじ" not in page
        assert page.count("hreflang=") == 7  # ja, やさしい日本語, en, zh, ko, vi, pt
        async with env.http.post(env.reply_url("A-001"), data={"status": "safe", "lang": lang}) as resp:
            done = await resp.text()
        assert resp.status == 200 and f'lang="{lang}"' in done and "「無事」" not in done
        code = await enrolment_code(env, "A-001")
        async with env.http.get(f"{env.url}/join/{code}?lang={lang}") as resp:
            assert enrol_title in await resp.text()


@pytest.mark.parametrize(("language", "letter"), [("zh", "ja-easy"), ("pt-BR", "ja-easy"), ("en", "en"),
                                                  ("ja", "ja"), ("ja-easy", "ja-easy")])
def test_a_letter_is_printed_whole_in_a_language_its_texts_exist_in(language: str, letter: str) -> None:
    target = CodeTarget(1, "桜地区", "桜町一丁目町会", "1班", "A-001", "山田 太郎", "桜町1-1-1", language)
    assert Letter(target, "ABCD-EFGH-JKLM-NPQR", "https://example.jp/join/x").lang == letter
