"""A fictional city's roster, for demos and benchmarks (deterministic for a given seed).

Shape: districts of about a dozen associations, about 200 households per association, groups
(班) of about 15; Japanese names and addresses; about 12% of households with vulnerable members,
8% with only a landline, 2% with no phone at all, a few percent of foreign residents (English,
Vietnamese, Portuguese, Chinese, Korean, やさしい日本語) and a few Telegram chat ids.

Phone numbers are fictional-looking but NOT guaranteed unassigned: mobiles are 0X0-00NN-NNNN
and landlines 077-0NN-NNNN (a local number starting with 0 cannot be dialled, so no real
subscriber has one). Never send to a generated roster through a real provider.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

from safetynet.domain.roster import HouseholdRecord

_DISTRICT_PLACES = (
    "中央", "北部", "南部", "東部", "西部", "桜台", "緑ヶ丘", "青葉", "旭", "若葉", "松原", "梅林",
    "泉", "日吉", "白山", "本郷", "富士見", "清水", "高砂", "川端", "山王", "八幡", "新田", "大森",
    "宮の森", "星が丘", "柳原", "港", "浜田", "鶴見", "野田", "石川", "小松", "三和", "平和", "明星",
)  # fmt: skip
_TOWNS = (
    "本町", "栄町", "幸町", "錦町", "寿町", "元町", "新町", "東町", "西町", "南町", "北町", "大手町",
    "春日町", "若松町", "花園町", "柳町", "桜町", "梅ヶ丘", "竹の内", "宮前", "城南", "港町", "浜町",
    "川原町", "高台", "山手", "緑町", "朝日町", "昭和町", "平和町", "日の出町", "松ヶ枝町", "末広町",
    "旭町", "美園", "泉町", "中島", "上野町", "田町", "桜木町", "白金", "青柳町", "富士見町", "清水町",
    "住吉町", "天神町", "八幡町", "稲荷町", "弥生町", "若葉町", "光町", "千代田", "日吉町", "鶴ヶ丘",
    "明神町", "大池", "小川町", "石田", "岡本", "藤が丘", "萩原", "菊水", "曙町", "常盤町", "双葉町",
)  # fmt: skip
_BUILDINGS = ("サンハイツ", "コーポ", "グリーンハイツ", "メゾン", "パレス", "レジデンス", "ハイム", "荘")
_SURNAMES = (
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
    "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水", "山崎", "森", "池田", "橋本",
    "阿部", "石川", "山下", "中島", "石井", "小川", "前田", "岡田", "長谷川", "藤田", "後藤", "近藤",
    "村上", "遠藤", "青木", "坂本", "斉藤", "福田", "太田", "西村", "藤井", "金子", "岡本", "藤原",
    "中野", "三浦", "原田", "中川", "松田", "竹内", "小野", "田村", "中山", "和田", "石田", "森田",
)  # fmt: skip
_GIVEN = (
    "一郎", "清", "茂", "博", "正", "実", "勇", "進", "和夫", "昭", "武", "修", "隆", "誠", "健一",
    "浩", "明", "聡", "大輔", "翔太", "拓也", "健太", "和子", "幸子", "節子", "洋子", "恵子", "京子",
    "美智子", "久美子", "由美子", "智子", "裕子", "真由美", "陽子", "美咲", "彩", "愛", "陽菜", "結衣",
)  # fmt: skip
_FOREIGN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("John", "Emily", "Michael", "Sarah", "David", "Olivia"), ("Smith", "Brown", "Wilson", "Taylor")),
    "vi": (("Van An", "Thi Hoa", "Minh Duc", "Thi Lan", "Quoc Bao"), ("Nguyen", "Tran", "Le", "Pham")),
    "pt": (("Carlos", "Maria", "João", "Ana", "Lucas", "Fernanda"), ("Silva", "Santos", "Oliveira", "Souza")),
    "zh": (("偉", "静", "敏", "磊", "芳"), ("王", "李", "張", "劉", "陳")),
    "ko": (("ミンジュン", "ジウ", "ソヨン", "ヒョヌ"), ("キム", "イ", "パク", "チェ")),
    "ja-easy": (("Rizky", "Siti", "Bishnu", "Maya"), ("Pratama", "Gurung", "Rai", "Wijaya")),
}
_LANGUAGES = ("ja", "en", "vi", "pt", "zh", "ko", "ja-easy")
_LANGUAGE_CUM = tuple(itertools.accumulate((965, 8, 8, 8, 5, 3, 3)))
_MEMBERS = (1, 2, 3, 4, 5, 6)
_MEMBER_CUM = tuple(itertools.accumulate((30, 30, 18, 14, 6, 2)))
_CARE_NOTES = ("一人暮らし", "車いす使用", "要介護2", "耳が不自由", "寝たきり", "人工透析", "視覚障がい")
_KANJI_NUMBERS = "〇一二三四五六七八九"


def _kanji(n: int) -> str:
    return "".join(_KANJI_NUMBERS[int(d)] for d in str(n)) if n < 10 else f"{n}"


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` sizes that vary by about ±30% and add up exactly."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(parts)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    i = 0
    while sum(sizes) != total:
        step = 1 if sum(sizes) < total else -1
        if sizes[i % parts] + step >= 1:
            sizes[i % parts] += step
        i += 1
    return sizes


def _district_names(count: int) -> list[str]:
    names = [f"{p}地区" for p in _DISTRICT_PLACES[:count]]
    for i in itertools.count(2):
        if len(names) >= count:
            break
        names += [f"{p}第{i}地区" for p in _DISTRICT_PLACES[: count - len(names)]]
    return names


def _association_names(count: int, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(association name, address prefix, town): a town has 2-5 numbered 丁目 associations."""
    towns = list(_TOWNS)
    rng.shuffle(towns)
    made = 0
    for prefix in itertools.chain(["", "新", "上", "下", "東", "西"], (f"第{i}" for i in itertools.count(2))):
        for town in towns:
            for chome in range(1, rng.randint(2, 5) + 1):
                if made == count:
                    return
                yield (
                    f"{prefix}{town}{_kanji(chome)}丁目町会",
                    f"{prefix}{town}{_kanji(chome)}丁目",
                    prefix + town,
                )
                made += 1


class _Phones:
    """Unique fictional numbers from a counter, scattered so neighbours do not look sequential."""

    def __init__(self, rng: random.Random) -> None:
        self.offset = rng.randrange(1_000_000)
        self.landline_offset = rng.randrange(1_000_000)
        self.mobiles = itertools.count()
        self.landlines = itertools.count()

    def mobile(self) -> str:
        i = next(self.mobiles)
        prefix = ("90", "80", "70")[(i // 1_000_000) % 3]
        return f"+81{prefix}00{(i * 386_543 + self.offset) % 1_000_000:06d}"

    def landline(self) -> str:
        i = next(self.landlines)
        return f"+81770{(i * 611_953 + self.landline_offset) % 1_000_000:06d}"


def _name(rng: random.Random, language: str) -> str:
    if language == "ja":
        return f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}"
    given, family = _FOREIGN[language]
    if language in ("zh", "ko", "vi"):  # family name first
        return f"{rng.choice(family)} {rng.choice(given)}"
    return f"{rng.choice(given)} {rng.choice(family)}"


_VULNERABLE_CONSENT = ("yes", "yes", "ordinance", "yes", "no")


def _household(
    rng: random.Random, phones: _Phones, place: tuple[str, str, str, str, str], key: int, city: str
) -> HouseholdRecord:
    district, association, street, town, group = place
    language = rng.choices(_LANGUAGES, cum_weights=_LANGUAGE_CUM)[0]
    address = f"{city}{street}{rng.randint(1, 30)}-{rng.randint(1, 25)}"
    if rng.random() < 0.15:
        address += f" {rng.choice(_BUILDINGS)}{town} {rng.randint(1, 4)}0{rng.randint(1, 8)}"
    vulnerable = rng.random() < 0.12
    members = 1 if vulnerable and rng.random() < 0.4 else rng.choices(_MEMBERS, cum_weights=_MEMBER_CUM)[0]
    roll = rng.random()
    phone = landline = ""
    if roll < 0.08:
        landline = phones.landline()  # landline only: mostly elderly households
    elif roll < 0.10:
        pass  # no phone on the roster yet
    else:
        phone = phones.mobile()
        if rng.random() < 0.2:
            landline = phones.landline()
    telegram = str(rng.randrange(5_000_000_000, 7_000_000_000)) if phone and rng.random() < 0.03 else ""
    return HouseholdRecord(
        district=district,
        association=association,
        group=group,
        household_key=str(key),
        name=_name(rng, language),
        address=address,
        members=members,
        vulnerable=vulnerable,
        language=language,
        contacts=tuple((kind, a) for kind, a in (("mobile", phone), ("landline", landline), ("telegram", telegram)) if a),
        notes=rng.choice(_CARE_NOTES) if vulnerable and rng.random() < 0.6 else "",
        # most 要配慮 households consent, some under the city's ordinance, some refuse; not drawn from
        # `rng`, so every other value stays what it was for a seed
        consent=_VULNERABLE_CONSENT[key % len(_VULNERABLE_CONSENT)] if vulnerable else "yes",
    )


def generate_roster(
    n: int,
    seed: int = 1,
    *,
    city: str = "さくら市",
    households_per_association: int = 200,
    associations_per_district: int = 12,
    group_size: int = 15,
) -> Iterator[HouseholdRecord]:
    """`n` households of a fictional city, the same ones for the same arguments."""
    if n < 1:
        return
    rng = random.Random(seed)
    n_assoc = max(1, round(n / households_per_association))
    n_districts = max(1, math.ceil(n_assoc / associations_per_district))
    districts = _district_names(n_districts)
    sizes = _split(n, n_assoc, rng)
    phones = _Phones(rng)
    for i, ((association, street, town), size) in enumerate(
        zip(_association_names(n_assoc, rng), sizes, strict=True)
    ):
        district = districts[i * n_districts // n_assoc]
        for key in range(1, size + 1):
            group = f"{(key - 1) // group_size + 1}班"
            yield _household(rng, phones, (district, association, street, town, group), key, city)
