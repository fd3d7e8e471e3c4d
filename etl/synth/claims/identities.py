"""Who files the claims: people, shops and companies, with their phones, business numbers and bank accounts.

Names come from weighted tables (Korean by surname frequency, some romanised or foreign); phones,
business numbers and account ids come from `Perm`s, so they are unique without looking sequential.
Each identifier is written in one of the forms people really use; all of a kind normalise alike.
"""

from __future__ import annotations

import random

from etl.claims.identifiers import brn_check_digit
from etl.synth.claims.calibration import BANK_MISSING_RATE
from etl.synth.claims.sampling import Perm, Pick

Bank = tuple[str, str, tuple[int, ...]]  # (bank_code, account digits, layout in digit groups)

PHONE_FORMS = ((0, 45), (1, 30), (2, 10), (3, 10), (4, 5))  # see phone()

# The name tables are laid out by hand (a row of names per line): not reformatted.
# fmt: off
SURNAMES = (
    ("김", "kim", 21.5), ("이", "lee", 14.7), ("박", "park", 8.4), ("최", "choi", 4.7), ("정", "jung", 4.3),
    ("강", "kang", 2.4), ("조", "cho", 2.1), ("윤", "yoon", 2.0), ("장", "jang", 2.0), ("임", "lim", 1.7),
    ("한", "han", 1.5), ("오", "oh", 1.5), ("서", "seo", 1.5), ("신", "shin", 1.4), ("권", "kwon", 1.4),
    ("황", "hwang", 1.3), ("안", "ahn", 1.3), ("송", "song", 1.2), ("류", "ryu", 1.1), ("홍", "hong", 1.0),
)
GIVEN_NAMES = (
    ("민준", "minjun"), ("서준", "seojun"), ("도윤", "doyun"), ("예준", "yejun"), ("시우", "siwoo"),
    ("하준", "hajun"), ("지호", "jiho"), ("주원", "juwon"), ("지후", "jihu"), ("준우", "junwoo"),
    ("서연", "seoyeon"), ("서윤", "seoyun"), ("지우", "jiwoo"), ("서현", "seohyun"), ("민서", "minseo"),
    ("하은", "haeun"), ("하윤", "hayun"), ("윤서", "yunseo"), ("지유", "jiyu"), ("지민", "jimin"),
    ("채원", "chaewon"), ("수아", "sua"), ("지아", "jia"), ("은서", "eunseo"), ("다은", "daeun"),
    ("영희", "younghee"), ("철수", "chulsoo"), ("영수", "youngsoo"), ("미경", "mikyung"), ("정숙", "jungsook"),
    ("순자", "soonja"), ("현우", "hyunwoo"), ("동현", "donghyun"), ("성민", "sungmin"), ("지훈", "jihoon"),
    ("은지", "eunji"), ("수빈", "subin"), ("예은", "yeeun"), ("혜진", "hyejin"), ("상훈", "sanghoon"),
)
FOREIGN_NAMES = (
    "John Smith", "Maria Garcia", "Nguyen Van An", "Tanaka Yuki", "Emily Brown", "Wang Wei", "Olga Ivanova",
)
SHOP_PREFIXES = (
    "행복", "우리", "엄마손", "할매", "새벽", "푸른", "미소", "온누리", "가온", "달빛", "소나무", "햇살", "꽃길",
    "하늘", "바다", "청춘", "정든", "다온", "한빛", "큰손", "맛있는", "착한", "동네", "원조", "새솔", "참",
)
SHOP_KINDS = (
    "분식", "김밥", "치킨", "카페", "꽃집", "미용실", "네일샵", "정육점", "베이커리", "국밥", "떡집", "세탁소", "공방",
    "필라테스", "수학학원", "약국", "반찬가게", "횟집", "족발", "피자", "떡볶이", "과일가게", "안경원", "사진관",
    "펜션", "게스트하우스", "인테리어", "마트", "식당", "스튜디오",
)
BRANDS = ("김밥천국", "본죽", "이디야커피", "교촌치킨", "파리바게뜨", "BBQ치킨", "메가커피", "GS25", "다이소")
BRANCHES = (
    "강남점", "역삼점", "판교점", "분당점", "해운대점", "서면점", "수원역점", "일산점", "신촌점", "홍대점", "전주점",
    "제주점", "대전둔산점", "광주상무점", "부평점", "성수점",
)
LATIN_SHOPS = (
    "Cafe Mellow", "Studio Ohbo", "Happy Bakery", "Blue Note Pilates", "Nail Story", "Green Flower", "Bread & Butter",
)
CORP_WORDS = ("한빛", "새솔", "다온", "누리", "가람", "온새미로", "미르", "해솔", "라온", "슬기")
CORP_KINDS = ("테크", "물류", "커머스", "소프트", "미디어", "엔터테인먼트", "헬스케어", "모빌리티", "푸드", "교육")
LATIN_CORPS = (
    "Daon Logistics Co., Ltd.", "Hanbit Soft Inc.", "Saesol Commerce Co., Ltd.", "Mir Media Corp.", "Raon Foods, Inc.",
)
TAXI_NAMES = ("개인택시", "해피택시", "행복콜택시", "우리택시", "모범택시")  # Kakao T's small businesses

# Bank codes with their account-number layouts (digit groups).
BANKS = (
    ("004", (6, 2, 6), 18), ("088", (3, 3, 6), 16), ("020", (4, 3, 6), 12), ("081", (3, 6, 5), 10),
    ("011", (3, 4, 4, 2), 14), ("003", (3, 6, 2, 3), 8), ("090", (4, 2, 7), 9), ("023", (3, 2, 6), 3),
    ("071", (6, 2, 6), 3), ("045", (4, 4, 4, 1), 3), ("089", (3, 3, 6), 2), ("092", (4, 4, 4), 2),
)
# fmt: on


def people() -> list[tuple[tuple[str, str], float]]:
    """Every (name, account-id stem) with its weight: Korean names by surname frequency, some Latin."""
    out: list[tuple[tuple[str, str], float]] = []
    per_given = 0.97 / len(GIVEN_NAMES) / sum(w for _, _, w in SURNAMES)
    for sur, sur_r, w in SURNAMES:
        for given, given_r in GIVEN_NAMES:
            out.append(((sur + given, f"{given_r}.{sur_r}"), w * per_given / 2))
            out.append(((sur + given, f"{sur_r}{given_r}"), w * per_given / 2))
            out.append(
                (
                    (f"{given_r.capitalize()} {sur_r.capitalize()}", f"{given_r}.{sur_r}"),
                    0.02 * w / len(GIVEN_NAMES) / sum(x for _, _, x in SURNAMES),
                )
            )
    out += [((name, name.lower().replace(" ", ".")), 0.01 / len(FOREIGN_NAMES)) for name in FOREIGN_NAMES]
    return out


def phone(rest8: int, form: int) -> str:
    """A mobile number 010-XXXX-XXXX in one of the forms people write it (all normalise alike)."""
    s = f"{rest8:08d}"
    a, b = s[:4], s[4:]
    if form == 0:
        return f"010-{a}-{b}"
    if form == 1:
        return f"010{s}"
    if form == 2:
        return f"010 {a} {b}"
    if form == 3:
        return f"+82 10 {a} {b}"
    return f"+82-10-{a}-{b}"


def brn(first9: str, hyphens: bool) -> str:
    """A business number from its first nine digits, with its check digit, as 123-45-67890 or bare."""
    digits = first9 + str(brn_check_digit(first9))
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if hyphens else digits


def account_no(bank: Bank, hyphens: bool) -> str:
    """An account number as digits only, or grouped by its bank's layout."""
    _, digits, layout = bank
    if not hyphens:
        return digits
    parts, pos = [], 0
    for size in layout:
        parts.append(digits[pos : pos + size])
        pos += size
    return "-".join(parts)


class Business:
    """One small business or enterprise: the identity all its claims share (slots: 140,000 of them at scale 10)."""

    __slots__ = ("bank", "bank_missing", "ctype", "first9", "name", "owner", "phone")

    def __init__(
        self, first9: str, ctype: str, name: str, owner: str, phone: int | str, bank: Bank, bank_missing: bool
    ):
        self.first9 = first9
        self.ctype = ctype
        self.name = name
        self.owner = owner
        self.phone = phone  # int: the 8 digits after 010; str: a landline as written
        self.bank = bank
        self.bank_missing = bank_missing


class Identities:
    """Makes claimants' identities from the run's random stream; every identifier it hands out is unique."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.pick_person = Pick(people())
        self.pick_bank = Pick([((code, layout), w) for code, layout, w in BANKS])
        self.pick_phone_form = Pick(PHONE_FORMS)
        # Identifier spaces: 8 digits after 010; (tax office, serial) of a business number; account-id suffixes.
        # Built in this order: each draws its constants from the stream.
        self.phones = Perm(rng, 10**8)
        self.brns = Perm(rng, 899 * 10**4)
        self.account_ids = Perm(rng, 10**7)
        self.names: dict[str, str] = {}

    def intern(self, text: str) -> str:
        """One string object per distinct name: a few hundred names serve some 140,000 businesses at scale 10."""
        return self.names.setdefault(text, text)

    def person_name(self) -> tuple[str, str]:
        """(name as written, romanised stem for an account id)."""
        return self.pick_person(self.rng)

    def account_id(self, stem: str) -> str:
        # The suffix after the last "_" is unique, so account ids never collide.
        return f"{stem}_{self.account_ids.next()}"

    def mobile(self, rest8: int) -> str:
        """A mobile number in a form drawn at random."""
        return phone(rest8, self.pick_phone_form(self.rng))

    def shop_name(self) -> str:
        rng = self.rng
        u = rng.random()
        if u < 0.05:
            return rng.choice(LATIN_SHOPS)
        if u < 0.25:
            return f"{rng.choice(BRANDS)} {rng.choice(BRANCHES)}"
        name = rng.choice(SHOP_PREFIXES) + rng.choice(SHOP_KINDS)
        return f"{name} {rng.choice(BRANCHES)}" if u < 0.35 else name

    def corp_name(self) -> str:
        rng = self.rng
        u = rng.random()
        if u < 0.15:
            return rng.choice(LATIN_CORPS)
        word = rng.choice(CORP_WORDS) + rng.choice(CORP_KINDS)
        return f"(주){word}" if u < 0.6 else f"주식회사 {word}"

    def first9(self, ctype: str) -> str:
        """The first nine digits of a fresh, unique business number (tax office, type code, serial)."""
        x = self.brns.next()
        office, serial = 101 + x // 10**4, x % 10**4
        rng = self.rng
        if ctype == "enterprise":
            mid = rng.choice((81, 81, 86, 87, 88))
        else:
            mid = rng.choice((81, 86)) if rng.random() < 0.1 else rng.randint(1, 79)
        return f"{office:03d}{mid:02d}{serial:04d}"

    def new_bank(self) -> Bank:
        code, layout = self.pick_bank(self.rng)
        n = sum(layout)
        digits = str(self.rng.randrange(10 ** (n - 1), 10**n))
        return code, digits, layout

    def new_business(self, ctype: str) -> Business:
        rng = self.rng
        owner = self.intern(self.person_name()[0])
        phone: int | str
        if ctype == "enterprise":
            name = self.intern(self.corp_name())
            if rng.random() < 0.7:
                phone = f"02-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
            else:
                phone = f"1588-{rng.randint(0, 9999):04d}"
        else:
            name = self.intern(self.shop_name())
            phone = self.phones.next()
        return Business(
            self.first9(ctype), ctype, name, owner, phone, self.new_bank(), rng.random() < BANK_MISSING_RATE[ctype]
        )

    def taxi_name(self, owner: str) -> str:
        """A Kakao T small business's name: a taxi driver's."""
        taxi = self.rng.choice(TAXI_NAMES)
        return self.intern(f"{taxi} {owner}" if taxi == "개인택시" else taxi)
