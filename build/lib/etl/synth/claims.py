"""Calibrated synthetic intake: the 19 daily `claims_YYYYMMDD.csv` files of the 1015 program.

Parsed with `etl.claims.parse_claims_file` and deduplicated by `receipt_no` (the latest delivery wins),
the files at scale 1 reproduce PROGRAM.md's table exactly, while carrying the noise the pipeline has
to survive: re-deliveries, resubmissions that move a business across a band edge, businesses on
several services, missing bank details, every phone and business-number form, multi-line quoted
descriptions and malformed rows of every quarantine reason.

How the counts stay exact: the table is a set of cells (Kakao/affiliate x claimant type x damage).
Every report is generated in a cell and never leaves it: a resubmission copies its original's cell,
a re-delivery copies a row (or adds only bank details to it), and a malformed row has a fresh
receipt_no that no valid row uses. So the distinct valid receipt_nos per cell are the cell counts.

Businesses (small and enterprise) are planned up front, since their claims span days and services
and their band-crossing resubmissions depend on the business total; they are few (about 21,000 claims
at scale 1). Individuals, the bulk, are generated day by day in time order, so memory is bounded by
the largest day's file.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Sequence, TypeVar

from etl.claims.parse import CLAIM_COLUMNS, Service, load_services
from etl.core.config import Program
from etl.claims.identifiers import brn_check_digit
from etl.io.outbox import write_atomic

T = TypeVar("T")

# The reports PROGRAM.md gives for Kakao Corp services, by (claimant_type, damage) at scale 1.
KAKAO_TABLE: dict[tuple[str, str], int] = {
    ("individual", "paid_service"): 8818,
    ("individual", "free_monetary"): 4145,
    ("individual", "non_monetary"): 56619,
    ("small_business", "paid_service"): 6000,
    ("small_business", "free_monetary"): 9000,
    ("small_business", "non_monetary"): 2439,
    ("enterprise", "paid_service"): 100,
    ("enterprise", "free_monetary"): 50,
    ("enterprise", "non_monetary"): 24,
}
# The 17,921 affiliate reports: the report gives only the total, so this mix is ours.
AFFILIATE_TABLE: dict[tuple[str, str], int] = {
    ("individual", "paid_service"): 3100,
    ("individual", "free_monetary"): 1700,
    ("individual", "non_monetary"): 8700,
    ("small_business", "paid_service"): 1500,
    ("small_business", "free_monetary"): 2200,
    ("small_business", "non_monetary"): 600,
    ("enterprise", "paid_service"): 60,
    ("enterprise", "free_monetary"): 31,
    ("enterprise", "non_monetary"): 30,
}
CLAIMANT_TYPES = ("individual", "small_business", "enterprise")
DAMAGES = ("paid_service", "free_monetary", "non_monetary")

RESUB_RATE = 0.03  # resubmissions, as a share of reports
MULTI_SERVICE_RATE = 0.04  # individuals reporting a second service
REDELIVERY_RATE = 0.02  # re-delivered rows, as a share of a day's fresh rows
MALFORMED_RATE = 0.005  # malformed rows, as a share of all rows
BANK_MISSING_RATE = {"small_business": 0.05, "enterprise": 0.03}
BANK_ADD_REDELIVERY_RATE = 0.12  # of rows without bank details, re-delivered later with them
SAME_DAY_REDELIVERY_SHARE = 0.3
RESERVOIR_SIZE = 20_000  # earlier rows kept for exact re-delivery (bounds memory at any scale)
POOL_SIZE = 5_000  # earlier individual claims kept per cell for resubmissions

# Per business, the number of services it reports on.
SERVICES_PER_BUSINESS = {"small_business": ((1, 62), (2, 27), (3, 11)), "enterprise": ((1, 70), (2, 22), (3, 8))}

# A small business's total loss over its Kakao claims: round numbers clustered at the band edges,
# median in (300,000, 500,000], about 15% above 500,000 (before resubmissions move some of them).
SB_LOSS_TOTALS = (
    (30_000, 1), (50_000, 3), (80_000, 2), (100_000, 6), (120_000, 2), (150_000, 4), (200_000, 5),
    (250_000, 4), (280_000, 3), (299_999, 2), (300_000, 6),
    (300_001, 2), (320_000, 4), (350_000, 7), (380_000, 3), (400_000, 8), (420_000, 2), (450_000, 6),
    (480_000, 3), (499_999, 2), (500_000, 6),
    (500_001, 1.5), (520_000, 1.2), (550_000, 1.8), (600_000, 2.2), (700_000, 1.4), (800_000, 1.4),
    (1_000_000, 1.4), (1_200_000, 1.2), (1_500_000, 0.7), (2_000_000, 0.5), (3_000_000, 0.3), (5_000_000, 0.2),
)
ENTERPRISE_LOSS_TOTALS = (
    (1_000_000, 3), (2_000_000, 3), (3_000_000, 3), (5_000_000, 4), (10_000_000, 4), (20_000_000, 3),
    (50_000_000, 2), (100_000_000, 1.5), (300_000_000, 0.5),
)
AFFILIATE_SB_AMOUNTS = (
    (30_000, 3), (50_000, 4), (80_000, 3), (100_000, 5), (150_000, 4), (200_000, 4), (300_000, 3),
    (500_000, 2), (1_000_000, 1),
)
IND_PAID_AMOUNTS = ((990, 2), (1_900, 3), (2_900, 2), (3_900, 3), (4_900, 4), (9_900, 2), (14_900, 1), (30_000, 1))
IND_FREE_AMOUNTS = (
    (3_000, 2), (5_000, 4), (8_000, 2), (10_000, 5), (12_000, 2), (15_000, 3), (20_000, 4), (30_000, 4),
    (50_000, 3), (100_000, 2), (150_000, 1), (300_000, 1), (1_000_000, 0.3),
)
SB_UP_300K = (300_001, 320_000, 350_000, 400_000, 450_000)
SB_UP_500K = (500_001, 550_000, 600_000, 800_000, 1_200_000)
SB_DOWN = (300_000, 400_000, 450_000, 500_000)

# Services a claim of each kind names, by weight (filtered against services.csv at run time).
KAKAO_SERVICES = {
    ("individual", "paid_service"): (("emoticon_plus", 30), ("talk_drawer", 30), ("talk_gift", 20), ("kakao_makers", 10), ("talk_store", 10)),
    ("individual", "free_monetary"): (("kakaotalk", 40), ("talk_gift", 20), ("kakao_login", 15), ("kakao_map", 10), ("daum_mail", 5), ("daum_cafe", 5), ("kakao_story", 5)),
    ("individual", "non_monetary"): (("kakaotalk", 60), ("daum_mail", 8), ("daum_cafe", 8), ("kakao_map", 6), ("kakao_story", 4), ("talk_channel", 4), ("kakao_login", 6), ("daum", 4)),
    ("small_business", "paid_service"): (("biz_message", 35), ("talk_channel", 20), ("talk_store", 20), ("talk_gift", 15), ("kakao_makers", 10)),
    ("small_business", "free_monetary"): (("kakaotalk", 40), ("talk_channel", 20), ("kakao_map", 15), ("kakao_login", 10), ("daum", 5), ("daum_cafe", 5), ("kakao_story", 5)),
    ("small_business", "non_monetary"): (("kakaotalk", 40), ("talk_channel", 25), ("kakao_map", 20), ("daum_mail", 10), ("kakao_story", 5)),
    ("enterprise", "paid_service"): (("biz_message", 50), ("talk_channel", 25), ("talk_gift", 15), ("talk_store", 10)),
    ("enterprise", "free_monetary"): (("kakao_login", 50), ("kakaotalk", 25), ("daum_mail", 25)),
    ("enterprise", "non_monetary"): (("kakao_login", 40), ("biz_message", 30), ("daum_mail", 30)),
}
AFFILIATE_SERVICES = {
    ("individual", "paid_service"): (("melon", 25), ("kakao_page", 20), ("kakao_webtoon", 15), ("kakao_games", 15), ("kakao_t", 15), ("zigzag", 10)),
    ("individual", "free_monetary"): (("kakao_t", 35), ("kakao_pay", 35), ("kakao_navi", 10), ("kakao_bank", 10), ("zigzag", 10)),
    ("individual", "non_monetary"): (("kakao_t", 25), ("kakao_pay", 20), ("kakao_bank", 15), ("melon", 10), ("kakao_navi", 10), ("kakao_webtoon", 10), ("kakao_games", 10)),
    ("small_business", "paid_service"): (("kakao_t", 40), ("zigzag", 30), ("kakao_work", 15), ("kakao_pay", 15)),
    ("small_business", "free_monetary"): (("kakao_t", 40), ("kakao_pay", 40), ("zigzag", 20)),
    ("small_business", "non_monetary"): (("kakao_t", 50), ("kakao_pay", 50)),
    ("enterprise", "paid_service"): (("kakao_work", 70), ("kakao_pay", 30)),
    ("enterprise", "free_monetary"): (("kakao_work", 50), ("kakao_pay", 50)),
    ("enterprise", "non_monetary"): (("kakao_work", 60), ("kakao_pay", 40)),
}

CHANNELS = (("web", 45), ("kakaotalk", 35), ("phone", 10), ("email", 10))
# Claims by hour of the KST day: few at night, most in business hours and the evening.
HOURS = (2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 11, 11, 10, 10, 10, 10, 10, 10, 9, 8, 6, 4)
PHONE_FORMS = ((0, 45), (1, 30), (2, 10), (3, 10), (4, 5))  # see _phone()

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
FOREIGN_NAMES = ("John Smith", "Maria Garcia", "Nguyen Van An", "Tanaka Yuki", "Emily Brown", "Wang Wei", "Olga Ivanova")
SHOP_PREFIXES = (
    "행복", "우리", "엄마손", "할매", "새벽", "푸른", "미소", "온누리", "가온", "달빛", "소나무", "햇살", "꽃길", "하늘",
    "바다", "청춘", "정든", "다온", "한빛", "큰손", "맛있는", "착한", "동네", "원조", "새솔", "참",
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
LATIN_SHOPS = ("Cafe Mellow", "Studio Ohbo", "Happy Bakery", "Blue Note Pilates", "Nail Story", "Green Flower", "Bread & Butter")
CORP_WORDS = ("한빛", "새솔", "다온", "누리", "가람", "온새미로", "미르", "해솔", "라온", "슬기")
CORP_KINDS = ("테크", "물류", "커머스", "소프트", "미디어", "엔터테인먼트", "헬스케어", "모빌리티", "푸드", "교육")
LATIN_CORPS = ("Daon Logistics Co., Ltd.", "Hanbit Soft Inc.", "Saesol Commerce Co., Ltd.", "Mir Media Corp.", "Raon Foods, Inc.")

# Bank codes with their account-number layouts (digit groups).
BANKS = (
    ("004", (6, 2, 6), 18), ("088", (3, 3, 6), 16), ("020", (4, 3, 6), 12), ("081", (3, 6, 5), 10),
    ("011", (3, 4, 4, 2), 14), ("003", (3, 6, 2, 3), 8), ("090", (4, 2, 7), 9), ("023", (3, 2, 6), 3),
    ("071", (6, 2, 6), 3), ("045", (4, 4, 4, 1), 3), ("089", (3, 3, 6), 2), ("092", (4, 4, 4), 2),
)

# Descriptions, by claimant kind and damage; some hold commas, "quotes" and newlines on purpose.
DESCRIPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("individual", "non_monetary"): (
        "카톡이 하루 종일 안 돼서 너무 불편했습니다", "응원합니다,\n빨리 복구되길", "재발 방지 대책을 요구합니다",
        "데이터센터 이중화는 왜 안 되어 있었나요?", "가족과 연락이 안 돼서 걱정했어요", "보상 계획이 궁금합니다",
        "사진 전송이 안 됐습니다", "로그인이 계속 풀려요", "\"먹통\" 사태에 대해 공식 사과를 요구합니다",
        "불편했지만 고생 많으셨습니다. 힘내세요!", "메시지 전송 실패, 읽음 표시 오류", "다음 메일 접속 불가로 업무 차질",
        "카카오 로그인이 안 되어 다른 앱도 못 썼습니다", "단톡방 공지를 못 받았어요", "", "문의드립니다",
        "이틀 동안 알림이 안 왔습니다.\n복구 후에도 일부 대화가 사라졌어요", "서비스 장애 보상 문의",
    ),
    ("individual", "paid_service"): (
        "이모티콘 플러스 이용 기간 연장 요청", "톡서랍 플러스 백업 실패, 이용료 환불 요청",
        "선물하기로 보낸 선물이 \"발송 실패\"로 나옵니다", "구독 중인데 서비스를 못 썼어요", "유료 서비스 보상 요청",
        "메이커스 주문 확인이 안 됩니다", "결제했는데 이용을 못 했습니다.\n환불 부탁드립니다",
    ),
    ("individual", "free_monetary"): (
        "선물하기 결제 후 전송 안 됨, 결제 금액 손실", "송금 확인이 안 돼서 거래가 취소됐어요", "로그인 실패로 예매 놓침",
        "업무 연락을 못 받아 계약이 취소됐습니다", "카카오맵이 안 돼서 길을 헤맸고 택시비가 더 들었어요",
        "중고거래 연락 두절로 손해", "교환권 기한 만료, 연장 요청",
    ),
    ("small_business", "paid_service"): (
        "알림톡 미발송으로 예약 \"노쇼\" 다수", "카카오톡 채널 주문 접수 불가, 주말 매출 손실", "주문 알림이 안 와서 배달 주문 취소",
        "톡스토어 주문 확인 불가\n고객 환불 처리", "선물하기 교환권 사용 불가로 환불", "비즈메시지 발송 실패, 광고비 손실",
        "메이커스 주문 처리 지연으로 취소 다수",
    ),
    ("small_business", "free_monetary"): (
        "예약 문의를 못 받아 손님이 줄었습니다", "카톡 주문을 못 받아 영업 손실", "단골 고객 예약이 모두 취소됐습니다",
        "10/15~10/16 영업 손실", "카카오맵에 가게가 안 떠서 손님이 못 찾아왔어요", "주말 예약 전부 취소\n매출 손실 증빙 첨부 예정",
        "카톡으로 받던 주문이 끊겨서 재료를 폐기했습니다",
    ),
    ("small_business", "non_monetary"): (
        "단골 고객 연락이 안 됐습니다", "재발 방지 요청", "소상공인 보상 기준 문의", "채널 공지가 안 나갔습니다",
        "피해 신고 방법 문의, 서류 목록 안내 부탁드립니다",
    ),
    ("enterprise", "paid_service"): (
        "비즈메시지 발송 장애로 고객 공지 지연", "SLA 위반에 따른 손해배상 검토 요청", "광고 집행 중단,\n계약 조건 확인 요청",
    ),
    ("enterprise", "free_monetary"): (
        "카카오 로그인 연동 장애, 회원 가입 중단", "간편 로그인 장애로 주문 감소", "업무 메일 수신 지연으로 입찰 마감 놓침",
    ),
    ("enterprise", "non_monetary"): ("장애 원인 및 재발 방지 대책 공유 요청", "기술 지원 문의", "공식 \"장애 보고서\" 요청"),
}
# Affiliate claims by service: what went wrong there.
AFFILIATE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "kakao_t": ("택시 호출이 안 돼서 약속에 늦었습니다", "카카오T 호출 불가, 운행 손실", "콜을 못 받아서\n하루 운행 접었습니다",
                "택시 호출 장애로 대체 교통비 발생"),
    "kakao_navi": ("내비 안내 중단으로 길을 잃었습니다", "카카오내비 경로 안내 오류"),
    "kakao_pay": ("카카오페이 결제 장애", "카카오페이 결제 장애로 매출 손실", "송금이 안 돼서 거래가 취소됐어요",
                  "페이 결제 연동 장애, 정산 지연"),
    "kakao_bank": ("카카오뱅크 이체 지연, 확인 부탁드립니다", "카카오뱅크 앱 로그인 불가"),
    "kakao_page": ("카카오페이지 이용권 기간 연장 요청", "유료 회차 열람 불가"),
    "kakao_webtoon": ("웹툰 결제했는데 열람이 안 됩니다", "\"기다리면 무료\" 충전 오류"),
    "melon": ("멜론 스트리밍 이용 불가", "이용권 기간 보상 요청"),
    "kakao_games": ("게임 접속 불가로 이벤트 보상 못 받음", "게임 아이템 구매 후 지급 안 됨"),
    "kakao_work": ("카카오워크 장애로 업무 중단", "사내 메신저 불통, 업무 손실"),
    "zigzag": ("지그재그 주문 처리 지연", "판매자 센터 접속 불가로 주문 누락"),
}
AFFILIATE_DESCRIPTION_FALLBACK = ("계열사 서비스 장애 피해 신고", "서비스 이용 불가")
MULTILINE_WEIGHT = 0.15  # a multi-line description is rarer than a one-line one
TAXI_NAMES = ("개인택시", "해피택시", "행복콜택시", "우리택시", "모범택시")
RESUB_DESCRIPTIONS = ("이전 접수 건 금액 수정", "증빙 추가 제출", "추가 피해 확인되어 재접수", "정정 접수합니다")
RESUB_DESCRIPTIONS_NON = ("추가 문의드립니다", "이전 접수 내용 보완", "답변이 없어 다시 접수합니다")

# Malformed rows: a kind (reason code, optionally "/variant") per way a row can be broken; together they
# cover every reason of etl.claims.REASONS (the tests check that each one comes out of the parser).
MALFORMED_KINDS: tuple[str, ...] = (
    "invalid_utf8/name", "invalid_utf8/description",
    "bad_quoting/mid_field", "bad_quoting/after_close", "bad_quoting/unterminated", "bad_quoting/unterminated_multiline",
    "wrong_field_count/short", "wrong_field_count/unquoted_comma",
    "missing_receipt_no",
    "bad_received_at/slashes", "bad_received_at/no_offset", "bad_received_at/word",
    "bad_channel", "bad_claimant_type",
    "unknown_service/unknown", "unknown_service/empty",
    "bad_boolean",
    "missing_amount",
    "bad_amount/korean", "bad_amount/thousands", "bad_amount/decimal",
    "negative_amount",
    "missing_business_reg_no", "bad_business_reg_no", "bad_check_digit/bare", "bad_check_digit/hyphen",
    "no_claimant_key/none", "no_claimant_key/landline",
    "bad_bank_details/short_code", "bad_bank_details/no_code", "bad_bank_details/letters",
)
UNKNOWN_SERVICES = ("kakao_cloud", "kakaotalk2", "naver_pay", "kakao_i", "카카오톡")


class _Pick(Generic[T]):
    """A weighted choice from a lookup table (weights resolved to 1/16384): one random() per pick.

    Millions of picks are made at scale 10; rng.choices or a bisect per pick costs several times more.
    """

    SLOTS = 1 << 14
    __slots__ = ("table", "n")

    def __init__(self, pairs: Sequence[tuple[T, float]]):
        weights = [float(w) for _, w in pairs]
        if not pairs or sum(weights) <= 0:
            raise ValueError("nothing to pick from")
        counts = _apportion(self.SLOTS, weights)
        counts = [max(c, 1) if w > 0 else 0 for c, w in zip(counts, weights)]  # rare items stay possible
        self.table: list[T] = [item for (item, _), c in zip(pairs, counts) for _ in range(c)]
        self.n = len(self.table)

    def __call__(self, rng: random.Random) -> T:
        return self.table[int(rng.random() * self.n)]


class _Perm:
    """x -> (a*x + b) mod m with gcd(a, m) = 1: unique identifiers that do not look sequential."""

    def __init__(self, rng: random.Random, modulus: int):
        self.m = modulus
        while True:
            self.a = rng.randrange(modulus // 3, 2 * modulus // 3)
            if math.gcd(self.a, modulus) == 1:
                break
        self.b = rng.randrange(modulus)
        self.n = 0

    def next(self) -> int:
        if self.n >= self.m:
            raise OverflowError("identifier space exhausted")
        x = (self.a * self.n + self.b) % self.m
        self.n += 1
        return x


@dataclass(frozen=True, eq=False)  # one object per cell: identity hashing keeps dict lookups cheap
class _Cell:
    kakao: bool
    ctype: str
    damage: str


class _Business:
    """One small business or enterprise: the identity all its claims share (slots: 140,000 of them at scale 10)."""

    __slots__ = ("first9", "ctype", "name", "owner", "phone", "bank", "bank_missing")

    def __init__(self, first9: str, ctype: str, name: str, owner: str, phone: int | str,
                 bank: tuple[str, str, tuple[int, ...]], bank_missing: bool):
        self.first9 = first9
        self.ctype = ctype
        self.name = name
        self.owner = owner
        self.phone = phone  # int: the 8 digits after 010; str: a landline as written
        self.bank = bank  # (bank_code, account digits, layout)
        self.bank_missing = bank_missing


class _BizClaim:
    """One planned business claim (a report): written on its day, in time order with the rest."""

    __slots__ = ("day", "tsec", "biz", "cell", "service", "monetary", "amount", "bank", "resub")

    def __init__(self, day: int, tsec: int, biz: _Business, cell: _Cell, service: str, monetary: bool,
                 amount: int | None, bank: bool, resub: str = ""):
        self.day = day
        self.tsec = tsec
        self.biz = biz
        self.cell = cell
        self.service = service
        self.monetary = monetary
        self.amount = amount
        self.bank = bank
        self.resub = resub  # "" for a first claim, else the kind of resubmission


def scaled_table(scale: float) -> dict[_Cell, int]:
    """Every cell of the table at a scale: round(cell x scale); margins are the sums of these."""
    table: dict[_Cell, int] = {}
    for kakao, source in ((True, KAKAO_TABLE), (False, AFFILIATE_TABLE)):
        for (ctype, damage), n in source.items():
            table[_Cell(kakao, ctype, damage)] = int(math.floor(n * scale + 0.5))
    return table


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split an integer over weights exactly (largest remainder, ties to the earlier slot)."""
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    order = sorted(range(len(weights)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def _q(text: str) -> str:
    """RFC 4180: quote a field holding a comma, quote or line break."""
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _phone(rest8: int, form: int) -> str:
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


def _split_amount(total: int, parts: int, rng: random.Random) -> list[int]:
    """A business total split over its monetary claims, in round amounts that sum to it exactly."""
    if parts == 1:
        return [total]
    unit = 10_000 if total >= 20_000 * parts else 1_000
    out: list[int] = []
    rest = total
    for i in range(parts - 1):
        left = parts - 1 - i  # parts still to come after this one
        share = int(rest * rng.uniform(0.3, 0.7) / unit) * unit
        share = max(unit, min(share, rest - unit * left))
        out.append(share)
        rest -= share
    out.append(rest)
    return out


class _ClaimsGenerator:
    """One run: a single random.Random drives every choice in a fixed order, so (scale, seed) fixes the bytes."""

    def __init__(self, program: Program, services: dict[str, Service], scale: float, seed: int):
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive number, got {scale}")
        self.rng = random.Random(seed)
        self.days = program.intake_days()
        self.n_days = len(self.days)
        self.table = scaled_table(scale)
        self.cells = list(self.table)
        self.cell_of = {(c.kakao, c.ctype, c.damage): c for c in self.cells}
        # Malformed rows keep their other fields free of quotes, commas and line breaks.
        self.plain_descriptions = [d for k, v in DESCRIPTIONS.items() if k[0] == "small_business" for d in v
                                   if d and not any(ch in d for ch in ',"\n')]
        # More reports in the first days, tailing off over the window.
        self.day_weights = [math.exp(-d / 4.0) + 0.04 for d in range(self.n_days)]
        self.pick_day = _Pick(list(enumerate(self.day_weights)))
        self.pick_hour = _Pick(list(enumerate(HOURS)))
        self.pick_channel = _Pick(CHANNELS)
        self.pick_phone_form = _Pick(PHONE_FORMS)
        self.pick_person = _Pick(self._people())
        self.pick_bank = _Pick([((code, layout), w) for code, layout, w in BANKS])
        self.pick_sb_total = _Pick(SB_LOSS_TOTALS)
        self.pick_ent_total = _Pick(ENTERPRISE_LOSS_TOTALS)
        self.pick_aff_sb = _Pick(AFFILIATE_SB_AMOUNTS)
        self.pick_ind_paid = _Pick(IND_PAID_AMOUNTS)
        self.pick_ind_free = _Pick(IND_FREE_AMOUNTS)
        self.pick_k = {t: _Pick(p) for t, p in SERVICES_PER_BUSINESS.items()}
        self.services = self._service_picks(services)
        self.service_kakao = {code: s.kakao_corp for code, s in services.items()}
        self.unknown_services = [s for s in UNKNOWN_SERVICES if s not in services] or ["no_such_service"]
        self.descriptions = {k: self._desc_pick(v) for k, v in DESCRIPTIONS.items()}
        self.aff_descriptions = {s: self._desc_pick(AFFILIATE_DESCRIPTIONS.get(s, AFFILIATE_DESCRIPTION_FALLBACK))
                                 for s, svc in services.items() if not svc.kakao_corp}
        # Identifier spaces: 8 digits after 010; (tax office, serial) of a business number; account-id suffixes.
        self.phones = _Perm(self.rng, 10**8)
        self.brns = _Perm(self.rng, 899 * 10**4)
        self.account_ids = _Perm(self.rng, 10**7)
        self.dates = [d.isoformat() for d in self.days]
        self.names: dict[str, str] = {}
        self.clock = [f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}" for t in range(86_400)]
        # State carried across days.
        self.biz_by_day: list[list[_BizClaim]] = [[] for _ in range(self.n_days)]
        self.sb_losses: list[int] = []  # each small business's final loss (sum over its Kakao claims)
        self.ind_pools: dict[_Cell, list[tuple[int, tuple[str, str, int | None], str, int | None]]] = {
            c: [] for c in self.cells if c.ctype == "individual"
        }
        self.reservoir: list[bytes] = []
        self.reservoir_seen = 0
        self.pending_bank: list[list[bytes]] = [[] for _ in range(self.n_days)]  # bank-adding re-deliveries by day
        self.counters = {"resubmissions": 0, "multi_service_individuals": 0, "bank_added_redeliveries": 0,
                         "crossings": {"up_300k": 0, "up_500k": 0, "down": 0}}

    # ---------- set-up ----------

    def _service_picks(self, services: dict[str, Service]) -> dict[_Cell, _Pick[str]]:
        """The weighted service lists, restricted to services.csv (Kakao Corp or not, per cell)."""
        picks = {}
        for cell in self.cells:
            wanted = (KAKAO_SERVICES if cell.kakao else AFFILIATE_SERVICES)[(cell.ctype, cell.damage)]
            pairs = [(s, w) for s, w in wanted if s in services and services[s].kakao_corp == cell.kakao]
            if not pairs:
                pairs = [(s.code, 1.0) for s in services.values() if s.kakao_corp == cell.kakao]
            if not pairs:
                raise ValueError(f"services.csv has no service with kakao_corp={str(cell.kakao).lower()}")
            picks[cell] = _Pick(pairs)
        return picks

    @staticmethod
    def _desc_pick(texts: Sequence[str]) -> _Pick[str]:
        """Descriptions, already CSV-quoted, weighted so that multi-line ones stay a small share."""
        return _Pick([(_q(t), MULTILINE_WEIGHT if "\n" in t else 1.0) for t in texts])

    @staticmethod
    def _people() -> list[tuple[tuple[str, str], float]]:
        """Every (name, account-id stem) with its weight: Korean names by surname frequency, some Latin."""
        people: list[tuple[tuple[str, str], float]] = []
        per_given = 0.97 / len(GIVEN_NAMES) / sum(w for _, _, w in SURNAMES)
        for sur, sur_r, w in SURNAMES:
            for given, given_r in GIVEN_NAMES:
                people.append(((sur + given, f"{given_r}.{sur_r}"), w * per_given / 2))
                people.append(((sur + given, f"{sur_r}{given_r}"), w * per_given / 2))
                people.append(((f"{given_r.capitalize()} {sur_r.capitalize()}", f"{given_r}.{sur_r}"),
                               0.02 * w / len(GIVEN_NAMES) / sum(x for _, _, x in SURNAMES)))
        people += [((name, name.lower().replace(" ", ".")), 0.01 / len(FOREIGN_NAMES)) for name in FOREIGN_NAMES]
        return people

    def _time(self) -> int:
        return self.pick_hour(self.rng) * 3600 + int(self.rng.random() * 3600)

    def _intern(self, text: str) -> str:
        """One string object per distinct name: a few hundred names serve some 140,000 businesses at scale 10."""
        return self.names.setdefault(text, text)

    def _person_name(self) -> tuple[str, str]:
        """(name as written, romanised stem for an account id)."""
        return self.pick_person(self.rng)

    def _account_id(self, stem: str) -> str:
        # The suffix after the last "_" is unique, so account ids never collide.
        return f"{stem}_{self.account_ids.next()}"

    def _shop_name(self) -> str:
        rng = self.rng
        u = rng.random()
        if u < 0.05:
            return rng.choice(LATIN_SHOPS)
        if u < 0.25:
            return f"{rng.choice(BRANDS)} {rng.choice(BRANCHES)}"
        name = rng.choice(SHOP_PREFIXES) + rng.choice(SHOP_KINDS)
        return f"{name} {rng.choice(BRANCHES)}" if u < 0.35 else name

    def _corp_name(self) -> str:
        rng = self.rng
        u = rng.random()
        if u < 0.15:
            return rng.choice(LATIN_CORPS)
        word = rng.choice(CORP_WORDS) + rng.choice(CORP_KINDS)
        return f"(주){word}" if u < 0.6 else f"주식회사 {word}"

    def _first9(self, ctype: str) -> str:
        """The first nine digits of a fresh, unique business number (tax office, type code, serial)."""
        x = self.brns.next()
        office, serial = 101 + x // 10**4, x % 10**4
        rng = self.rng
        if ctype == "enterprise":
            mid = rng.choice((81, 81, 86, 87, 88))
        else:
            mid = rng.choice((81, 86)) if rng.random() < 0.1 else rng.randint(1, 79)
        return f"{office:03d}{mid:02d}{serial:04d}"

    def _brn(self, first9: str, hyphens: bool) -> str:
        digits = first9 + str(brn_check_digit(first9))
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if hyphens else digits

    def _new_bank(self) -> tuple[str, str, tuple[int, ...]]:
        code, layout = self.pick_bank(self.rng)
        n = sum(layout)
        digits = str(self.rng.randrange(10 ** (n - 1), 10**n))
        return code, digits, layout

    def _account_no(self, bank: tuple[str, str, tuple[int, ...]], hyphens: bool) -> str:
        _, digits, layout = bank
        if not hyphens:
            return digits
        parts, pos = [], 0
        for size in layout:
            parts.append(digits[pos:pos + size])
            pos += size
        return "-".join(parts)

    def _new_business(self, ctype: str) -> _Business:
        rng = self.rng
        owner = self._intern(self._person_name()[0])
        if ctype == "enterprise":
            name = self._intern(self._corp_name())
            phone: int | str = (f"02-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}" if rng.random() < 0.7
                                else f"1588-{rng.randint(0, 9999):04d}")
        else:
            name = self._intern(self._shop_name())
            phone = self.phones.next()
        return _Business(self._first9(ctype), ctype, name, owner, phone, self._new_bank(),
                         rng.random() < BANK_MISSING_RATE[ctype])

    # ---------- businesses: planned up front ----------

    def plan_businesses(self) -> None:
        """Every small-business and enterprise claim, with its day, time, service, amount and bank details."""
        rng = self.rng
        for ctype in ("small_business", "enterprise"):
            cells = [c for c in self.cells if c.ctype == ctype]
            counts = [self.table[c] for c in cells]
            resubs = [int(n * RESUB_RATE + 0.5) if n >= 4 else 0 for n in counts]
            remaining = [n - r for n, r in zip(counts, resubs)]
            # Which first claims get a resubmission: selection sampling (need/left), exact per cell,
            # decided as each business is made so that no business has to be kept afterwards.
            need = dict(zip(cells, resubs))
            left = dict(zip(cells, remaining))
            total = sum(remaining)
            while total > 0:
                k = min(self.pick_k[ctype](rng), total)
                chosen: list[_Cell] = []
                for _ in range(k):
                    x = int(rng.random() * total)
                    i = 0
                    while x >= remaining[i]:
                        x -= remaining[i]
                        i += 1
                    remaining[i] -= 1
                    total -= 1
                    chosen.append(cells[i])
                biz = self._new_business(ctype)
                claims = self._first_claims(biz, chosen)
                for claim in claims[:]:
                    cell = claim.cell
                    if need[cell] and rng.random() * left[cell] < need[cell]:
                        need[cell] -= 1
                        self._resubmit(claim, claims)
                    left[cell] -= 1
                if ctype == "small_business":
                    loss = sum(c.amount or 0 for c in self._effective(claims).values())
                    if loss > 0:
                        self.sb_losses.append(loss)
            assert not any(need.values()), need

    def _first_claims(self, biz: _Business, cells: list[_Cell]) -> list[_BizClaim]:
        """A business's claims, one per service: days from its first, bank details, amounts summing to its loss."""
        rng = self.rng
        d0 = self.pick_day(rng)
        days = sorted(min(self.n_days - 1, d0 + (0 if i == 0 or rng.random() < 0.4 else 1 + int(rng.expovariate(0.5))))
                      for i in range(len(cells)))
        used: set[str] = set()
        claims = []
        for i, (cell, day) in enumerate(zip(cells, days)):
            service = self.services[cell](rng)
            for _ in range(20):
                if service not in used:
                    break
                service = self.services[cell](rng)
            else:  # all this cell's services taken: any other of the same operator kind
                service = next(s for s, kakao in self.service_kakao.items() if s not in used and kakao == cell.kakao)
            used.add(service)
            if cell.damage == "free_monetary":
                monetary = True
            elif cell.damage == "paid_service":
                monetary = rng.random() < 0.92
            else:
                monetary = False
            if i == 0:
                bank = not biz.bank_missing
            else:
                bank = rng.random() < (0.5 if biz.bank_missing else 0.97)
            claim = _BizClaim(day, self._time(), biz, cell, service, monetary, None, bank)
            claims.append(claim)
        if "kakao_t" in used and biz.ctype == "small_business":  # Kakao T's small businesses are taxi drivers
            taxi = rng.choice(TAXI_NAMES)
            biz.name = self._intern(f"{taxi} {biz.owner}" if taxi == "개인택시" else taxi)
        kakao_money = [c for c in claims if c.monetary and c.cell.kakao]
        if kakao_money:
            total = (self.pick_sb_total if biz.ctype == "small_business" else self.pick_ent_total)(rng)
            for claim, amount in zip(kakao_money, _split_amount(total, len(kakao_money), rng)):
                claim.amount = amount
        for claim in claims:
            if claim.monetary and not claim.cell.kakao:
                claim.amount = (self.pick_aff_sb if biz.ctype == "small_business" else self.pick_ent_total)(rng)
        for claim in claims:
            self.biz_by_day[claim.day].append(claim)
        return claims

    @staticmethod
    def _effective(claims: list[_BizClaim]) -> dict[str, _BizClaim]:
        """The surviving claim per Kakao service with a monetary loss (the latest one) of one business."""
        eff: dict[str, _BizClaim] = {}
        for c in claims:
            if c.monetary and c.cell.kakao:
                cur = eff.get(c.service)
                if cur is None or (c.day, c.tsec) > (cur.day, cur.tsec):
                    eff[c.service] = c
        return eff

    def _resubmit(self, target: _BizClaim, claims: list[_BizClaim]) -> None:
        """A later claim by the same business for the same service and cell, usually with a corrected amount.

        Small businesses' corrections are aimed at the band edges: a total just under 300,000 or
        500,000 is lifted over it on a later day, a total over 500,000 is sometimes lowered.
        """
        rng = self.rng
        biz = target.biz
        kind = "correction"
        amount = target.amount
        if target.monetary and amount is not None:
            if biz.ctype == "small_business" and target.cell.kakao:
                total = sum(c.amount or 0 for c in self._effective(claims).values())
                u = rng.random()
                if 100_000 < total <= 300_000 and u < 0.7:
                    kind, amount = "up_300k", amount + rng.choice(SB_UP_300K) - total
                elif 300_000 < total <= 500_000 and u < 0.5:
                    kind, amount = "up_500k", amount + rng.choice(SB_UP_500K) - total
                elif total > 500_000 and u < 0.5:
                    kind = "down"
                    amount = amount - (total - rng.choice(SB_DOWN))
                    if amount < 10_000:
                        amount = max(10_000, int(target.amount * 0.6 / 10_000) * 10_000)
                else:
                    amount = max(10_000, amount + rng.choice((-50_000, -20_000, -10_000, 10_000, 20_000, 30_000, 50_000)))
            else:
                unit = 10_000 if amount >= 100_000 else 1_000
                amount = max(unit, int(amount * rng.uniform(0.8, 1.25) / unit) * unit)
            if amount == target.amount:
                amount += 10_000
        last = max(claims, key=lambda c: (c.day, c.tsec))
        if kind.startswith(("up_", "down")):
            offset = 1 + int(rng.expovariate(0.7))  # a later day: the business's tier moves overnight
        else:
            offset = 0 if rng.random() < 0.5 else 1 + int(rng.expovariate(0.7))
        day = min(self.n_days - 1, last.day + offset)
        if day > last.day:
            tsec = self._time()
        elif last.tsec < 86_399:
            tsec = rng.randint(last.tsec + 1, min(86_399, last.tsec + 6 * 3600))
        else:  # the last second of the day: the receipt_no breaks the tie
            tsec = last.tsec
        if biz.bank_missing and not any(c.bank for c in claims):
            bank = rng.random() < 0.6  # the later claim brings the missing bank details
        else:
            bank = rng.random() < 0.95
        if kind in self.counters["crossings"]:
            self.counters["crossings"][kind] += 1
        claim = _BizClaim(day, tsec, biz, target.cell, target.service, target.monetary, amount, bank, kind)
        claims.append(claim)
        self.biz_by_day[day].append(claim)
        self.counters["resubmissions"] += 1

    def sb_loss_stats(self) -> dict:
        """The small businesses' losses as the contract sums them (PROGRAM.md: the median sets the bands)."""
        losses = sorted(self.sb_losses)
        if not losses:
            return {"businesses_with_loss": 0}
        n = len(losses)
        return {
            "businesses_with_loss": n,
            "median_krw": statistics.median_low(losses),
            "at_most_300000": sum(1 for x in losses if x <= 300_000),
            "over_500000": sum(1 for x in losses if x > 500_000),
            "share_over_500000": round(sum(1 for x in losses if x > 500_000) / n, 4),
        }

    # ---------- rows ----------

    def _bank_fields(self, biz: _Business) -> list[str]:
        """bank_code, account_no (with or without hyphens) and account_holder (the owner or the business)."""
        rng = self.rng
        return [biz.bank[0], self._account_no(biz.bank, rng.random() < 0.7),
                _q(biz.owner if biz.ctype == "small_business" and rng.random() < 0.7 else biz.name)]

    def _biz_fields(self, receipt: str, ts: str, claim: _BizClaim) -> list[str]:
        """A business claim's 16 fields, CSV-quoted where needed."""
        rng = self.rng
        biz = claim.biz
        with_bank = claim.bank
        phone = _phone(biz.phone, self.pick_phone_form(rng)) if isinstance(biz.phone, int) else biz.phone
        amount = claim.amount if claim.monetary else None
        if claim.resub:
            if amount is not None:
                desc = _q(f"금액 정정: {amount:,}원" if rng.random() < 0.5 else rng.choice(RESUB_DESCRIPTIONS))
            else:
                desc = _q(rng.choice(RESUB_DESCRIPTIONS_NON))
            if with_bank and biz.bank_missing and rng.random() < 0.5:
                desc = _q("계좌 정보 추가합니다")
        elif not claim.cell.kakao:
            desc = self.aff_descriptions[claim.service](rng)
        elif amount is not None and rng.random() < 0.3:
            desc = _q(f"매출 손실 약 {amount:,}원")
        else:
            desc = self.descriptions[(biz.ctype, claim.cell.damage)](rng)
        return [
            receipt, ts, self.pick_channel(rng), biz.ctype, _q(biz.name), "", phone,
            self._brn(biz.first9, rng.random() < 0.5), claim.service,
            "true" if claim.cell.damage == "paid_service" else "false",
            "true" if claim.monetary else "false", "" if amount is None else str(amount),
            *(self._bank_fields(biz) if with_bank else ("", "", "")), desc,
        ]

    def _individual_line(self, receipt: str, ts: str, cell: _Cell, abs_t: int) -> str:
        """One individual's report: a new person, a second service of an earlier one, or a resubmission."""
        rng = self.rng
        pool = self.ind_pools[cell]
        u = rng.random()
        person: tuple[str, str, int | None] | None = None
        resub = False
        service = ""
        amount: int | None = None
        if pool and u < RESUB_RATE + MULTI_SERVICE_RATE:
            j = int(rng.random() * len(pool))
            entry = pool[j]
            if entry[0] < abs_t:
                person = entry[1]
                if u < RESUB_RATE:  # the same person and service, later, usually with a corrected amount
                    resub = True
                    service = entry[2]
                    pool[j] = pool[-1]
                    pool.pop()
                    self.counters["resubmissions"] += 1
                else:
                    for _ in range(5):
                        service = self.services[cell](rng)
                        if service != entry[2]:
                            break
                    self.counters["multi_service_individuals"] += 1
        if person is None:
            name, stem = self._person_name()
            account_id = self._account_id(stem) if rng.random() < 0.7 else ""
            phone = self.phones.next() if not account_id or rng.random() < 0.3 else None
            person = (name, account_id, phone)
        if not service:
            service = self.services[cell](rng)
        if cell.damage == "free_monetary":
            monetary = True
        elif cell.damage == "paid_service":
            monetary = rng.random() < 0.25
        else:
            monetary = False
        if monetary:
            amount = (self.pick_ind_free if cell.damage == "free_monetary" else self.pick_ind_paid)(rng)
            if resub and amount == entry[3]:
                amount += 1_000
        if resub:
            desc = _q(f"금액 정정: {amount:,}원") if amount is not None else _q(rng.choice(RESUB_DESCRIPTIONS_NON))
        elif cell.kakao:
            desc = self.descriptions[("individual", cell.damage)](rng)
        else:
            desc = self.aff_descriptions[service](rng)
        if not resub:
            if len(pool) < POOL_SIZE:
                pool.append((abs_t, person, service, amount))
            else:
                pool[int(rng.random() * POOL_SIZE)] = (abs_t, person, service, amount)
        name, account_id, phone = person
        return ",".join((
            receipt, ts, self.pick_channel(rng), "individual", _q(name), account_id,
            "" if phone is None else _phone(phone, self.pick_phone_form(rng)), "", service,
            "true" if cell.damage == "paid_service" else "false", "true" if monetary else "false",
            "" if amount is None else str(amount), "", "", "", desc,
        )) + "\r\n"

    def _malformed_line(self, kind: str, receipt: str, day: int, tsec: int) -> bytes:
        """A row broken in exactly one way, so the parser quarantines it with exactly that reason.

        Its other fields are plain (no quotes, commas or line breaks) so that broken quoting never
        reaches into the next row, and every check before the broken one passes.
        """
        rng = self.rng
        date = self.dates[day]
        h, m, s = tsec // 3600, tsec // 60 % 60, tsec % 60
        individual = kind.startswith("no_claimant_key")
        owner, stem = self._person_name()
        owner = owner.replace(",", " ")
        if individual:
            service = self.services[self.cell_of[(True, "individual", "non_monetary")]](rng)
            fields = [receipt, f"{date}T{h:02d}:{m:02d}:{s:02d}+09:00", self.pick_channel(rng), "individual",
                      owner, "", "", "", service, "false", "false", "", "", "", "", "보상 문의"]
        else:
            first9 = self._first9("small_business")
            bank = self._new_bank()
            amount = rng.choice((150_000, 250_000, 300_000, 350_000, 450_000, 600_000))
            fields = [receipt, f"{date}T{h:02d}:{m:02d}:{s:02d}+09:00", self.pick_channel(rng), "small_business",
                      rng.choice(SHOP_PREFIXES) + rng.choice(SHOP_KINDS), "",
                      _phone(self.phones.next(), self.pick_phone_form(rng)),
                      self._brn(first9, rng.random() < 0.5),
                      self.services[self.cell_of[(True, "small_business", "free_monetary")]](rng),
                      "false", "true", str(amount), bank[0], self._account_no(bank, True), owner,
                      rng.choice(self.plain_descriptions)]
        raw: dict[int, str] = {}  # fields written as they are, unquoted
        cp949: dict[int, bytes] = {}
        if kind == "invalid_utf8/name":
            cp949[4] = fields[4].encode("cp949")
        elif kind == "invalid_utf8/description":
            cp949[15] = "주문 누락 피해 신고".encode("euc-kr")
        elif kind == "bad_quoting/mid_field":
            raw[4] = fields[4][:2] + '"' + fields[4][2:]
        elif kind == "bad_quoting/after_close":
            raw[4] = f'"{fields[4]}"점'
        elif kind == "bad_quoting/unterminated":
            raw[15] = '"주문 누락 피해'
        elif kind == "bad_quoting/unterminated_multiline":
            raw[15] = '"주문 누락 피해\n증빙은 내일 보냅니다'
        elif kind == "wrong_field_count/short":
            del fields[12]
        elif kind == "wrong_field_count/unquoted_comma":
            raw[15] = "주문 취소, 환불 요청"
        elif kind == "missing_receipt_no":
            fields[0] = ""
        elif kind == "bad_received_at/slashes":
            fields[1] = f"{date.replace('-', '/')} {h:02d}:{m:02d}"
        elif kind == "bad_received_at/no_offset":
            fields[1] = f"{date}T{h:02d}:{m:02d}:{s:02d}"
        elif kind == "bad_received_at/word":
            fields[1] = rng.choice(("yesterday", "어제 오후", "N/A"))
        elif kind == "bad_channel":
            fields[2] = rng.choice(("fax", "visit", "sms"))
        elif kind == "bad_claimant_type":
            fields[3] = rng.choice(("corporation", "개인사업자", "sole_trader"))
        elif kind == "unknown_service/unknown":
            fields[8] = rng.choice(self.unknown_services)
        elif kind == "unknown_service/empty":
            fields[8] = ""
        elif kind == "bad_boolean":
            fields[9 + int(rng.random() * 2)] = rng.choice(("yes", "Y", "1", "유료"))
        elif kind == "missing_amount":
            fields[11] = ""
        elif kind == "bad_amount/korean":
            fields[11] = rng.choice(("삼십만원", "30만원", "약 50만"))
        elif kind == "bad_amount/thousands":
            fields[11] = f"{amount:,}"  # quoted below: valid CSV, invalid number
        elif kind == "bad_amount/decimal":
            fields[11] = f"{amount}.5"
        elif kind == "negative_amount":
            fields[11] = f"-{amount}"
        elif kind == "missing_business_reg_no":
            fields[7] = ""
        elif kind == "bad_business_reg_no":
            fields[7] = rng.choice((first9, first9 + "01", f"{first9[:3]}-{first9[3:5]}-{first9[5:]}"))
        elif kind.startswith("bad_check_digit"):
            wrong = first9 + str((brn_check_digit(first9) + rng.randint(1, 9)) % 10)
            fields[7] = f"{wrong[:3]}-{wrong[3:5]}-{wrong[5:]}" if kind.endswith("hyphen") else wrong
        elif kind == "no_claimant_key/none":
            pass
        elif kind == "no_claimant_key/landline":
            fields[6] = f"02-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        elif kind == "bad_bank_details/short_code":
            fields[12] = fields[12][1:]
        elif kind == "bad_bank_details/no_code":
            fields[12] = ""
        elif kind == "bad_bank_details/letters":
            fields[13] = fields[13][:-1] + "O"
        else:
            raise AssertionError(kind)
        out = []
        for i, f in enumerate(fields):
            if i in cp949:
                out.append(cp949[i])
            elif i in raw:
                out.append(raw[i].encode("utf-8"))
            else:
                out.append(_q(f).encode("utf-8"))
        return b",".join(out) + b"\r\n"

    def _malformed_kinds(self, total: int) -> list[str]:
        """Every kind once (when there is room), the rest drawn at random, in random order."""
        rng = self.rng
        kinds = rng.sample(MALFORMED_KINDS, min(total, len(MALFORMED_KINDS)))
        kinds += [rng.choice(MALFORMED_KINDS) for _ in range(total - len(kinds))]
        rng.shuffle(kinds)
        return kinds

    def day_file(self, d: int, n_malformed: int, kinds: list[str], ind_counts: dict[_Cell, int]) -> tuple[bytes, dict]:
        """One day's file, in time order: fresh rows, then re-deliveries and malformed rows between them."""
        rng = self.rng
        items: list[tuple[int, int, _BizClaim | _Cell]] = []
        order = 0
        for claim in self.biz_by_day[d]:
            items.append((claim.tsec, order, claim))
            order += 1
        self.biz_by_day[d] = []  # written today: let the claims go
        hours, n_hours, rnd = self.pick_hour.table, self.pick_hour.n, rng.random
        for cell, n in ind_counts.items():
            for _ in range(n):
                items.append((hours[int(rnd() * n_hours)] * 3600 + int(rnd() * 3600), order, cell))
                order += 1
        items.sort()  # (time, order): order is unique, so the payloads are never compared
        n = len(items)
        date = self.dates[d]
        prefix = f"R{date.replace('-', '')}"
        # Malformed rows go after distinct fresh rows: never two in a row, so broken quoting always
        # meets a well-formed row next (the reader's recovery point).
        n_malformed = min(n_malformed, n)
        malformed_at = dict(zip(sorted(rng.sample(range(1, n + 1), n_malformed)), kinds[:n_malformed]))
        bank_adds = self.pending_bank[d]
        self.pending_bank[d] = []
        n_copies = int(n * REDELIVERY_RATE + rng.random())
        redeliveries = sorted(
            [(rng.randint(0, n), 1) for _ in range(n_copies)] + [(rng.randint(0, n), 0) for _ in range(len(bank_adds))]
        )
        header = (",".join(CLAIM_COLUMNS) + "\r\n").encode("utf-8")
        out: list[bytes] = [header]
        today: list[int] = []  # indices in `out` of today's fresh valid rows
        no_copy: set[int] = set()  # rows whose bank details a later re-delivery adds: not copied across days
        seq = 0
        ri = 0
        clock = self.clock
        stats = {"rows": 0, "reports": 0, "duplicates": 0, "malformed": 0}
        for i in range(n + 1):
            kind = malformed_at.get(i)
            if kind is not None:
                t_prev = items[i - 1][0]
                t_next = items[i][0] if i < n else 86_399
                tsec = t_prev + int(rng.random() * (t_next - t_prev + 1))
                if kind != "missing_receipt_no":
                    seq += 1
                out.append(self._malformed_line(kind, f"{prefix}{seq:06d}", d, tsec))
                stats["malformed"] += 1
            while ri < len(redeliveries) and redeliveries[ri][0] == i:
                if redeliveries[ri][1] == 0:
                    out.append(bank_adds.pop(0))
                    self.counters["bank_added_redeliveries"] += 1
                    stats["duplicates"] += 1
                else:
                    same_day = today and (not self.reservoir or rng.random() < SAME_DAY_REDELIVERY_SHARE)
                    if same_day:
                        out.append(out[today[int(rng.random() * len(today))]])
                        stats["duplicates"] += 1
                    elif self.reservoir:
                        out.append(self.reservoir[int(rng.random() * len(self.reservoir))])
                        stats["duplicates"] += 1
                ri += 1
            if i == n:
                break
            tsec, _, what = items[i]
            seq += 1
            receipt = f"{prefix}{seq:06d}"
            ts = f"{date}T{clock[tsec]}+09:00"
            if isinstance(what, _BizClaim):
                fields = self._biz_fields(receipt, ts, what)
                line = ",".join(fields) + "\r\n"
                if not what.bank and d + 1 < self.n_days and rng.random() < BANK_ADD_REDELIVERY_RATE:
                    # The same row again on a later day, with only the missing bank details added.
                    later = d + 1 + int(rng.random() * min(3, self.n_days - 1 - d))
                    fields[12:15] = self._bank_fields(what.biz)
                    self.pending_bank[later].append((",".join(fields) + "\r\n").encode("utf-8"))
                    no_copy.add(len(out))
            else:
                line = self._individual_line(receipt, ts, what, d * 86_400 + tsec)
            today.append(len(out))
            out.append(line.encode("utf-8"))
            stats["reports"] += 1
        # Keep a uniform sample of all rows so far for later days' re-deliveries (reservoir sampling).
        for idx in today:
            if idx in no_copy:
                continue
            self.reservoir_seen += 1
            if len(self.reservoir) < RESERVOIR_SIZE:
                self.reservoir.append(out[idx])
            else:
                j = int(rng.random() * self.reservoir_seen)
                if j < RESERVOIR_SIZE:
                    self.reservoir[j] = out[idx]
        stats["rows"] = stats["reports"] + stats["duplicates"] + stats["malformed"]
        return b"".join(out), stats

    def run(self, inbox: Path) -> dict:
        self.plan_businesses()
        ind_cells = [c for c in self.cells if c.ctype == "individual"]
        ind_by_day = {c: _apportion(self.table[c], self.day_weights) for c in ind_cells}
        fresh_by_day = [len(self.biz_by_day[d]) + sum(ind_by_day[c][d] for c in ind_cells) for d in range(self.n_days)]
        reports = sum(self.table.values())
        n_malformed = int(reports * (1 + REDELIVERY_RATE) * MALFORMED_RATE + 0.5)
        malformed_by_day = [min(m, n) for m, n in zip(_apportion(n_malformed, fresh_by_day), fresh_by_day)]
        kinds = self._malformed_kinds(sum(malformed_by_day))
        reasons: dict[str, int] = {}
        for k in kinds:
            reasons[k.split("/")[0]] = reasons.get(k.split("/")[0], 0) + 1
        inbox = Path(inbox)
        inbox.mkdir(parents=True, exist_ok=True)
        per_day = []
        totals = {"rows": 0, "reports": 0, "duplicates": 0, "malformed": 0}
        k0 = 0
        for d, day in enumerate(self.days):
            data, stats = self.day_file(d, malformed_by_day[d], kinds[k0:k0 + malformed_by_day[d]],
                                        {c: ind_by_day[c][d] for c in ind_cells})
            k0 += malformed_by_day[d]
            name = f"claims_{day:%Y%m%d}.csv"
            write_atomic(inbox / name, data)
            per_day.append({"file": name, "bytes": len(data), **stats})
            for key in totals:
                totals[key] += stats[key]
        if totals["reports"] != reports:
            raise AssertionError(f"generated {totals['reports']} reports, planned {reports}")
        kakao = {c: n for c, n in self.table.items() if c.kakao}
        expected = {
            "reports_received": reports,
            "reports_kakao": sum(kakao.values()),
            "reports_affiliate": sum(n for c, n in self.table.items() if not c.kakao),
            **{t: sum(n for c, n in kakao.items() if c.ctype == t) for t in CLAIMANT_TYPES},
            **{g: sum(n for c, n in kakao.items() if c.damage == g) for g in DAMAGES},
            "rows": totals["rows"],
            "duplicates": totals["duplicates"],
            "malformed": totals["malformed"],
        }
        return {
            "inbox": str(inbox),
            "files": [p["file"] for p in per_day],
            "rows_written": totals["rows"],
            "expected": expected,
            "table": {f"{'kakao' if c.kakao else 'affiliate'}.{c.ctype}.{c.damage}": n for c, n in self.table.items()},
            "malformed_by_reason": dict(sorted(reasons.items())),
            "resubmissions": self.counters["resubmissions"],
            "band_crossing_resubmissions": dict(self.counters["crossings"]),
            "multi_service_individuals": self.counters["multi_service_individuals"],
            "bank_added_redeliveries": self.counters["bank_added_redeliveries"],
            "small_business_losses": self.sb_loss_stats(),
            "per_day": per_day,
        }


def generate_claims(inbox: Path, program: Program, scale: float = 1.0, seed: int = 1015) -> dict:
    """Write the intake window's `claims_YYYYMMDD.csv` files into `inbox`; return what they hold.

    The same (scale, seed) always gives the same bytes. `expected` holds the exact figures a correct
    parse and dedup of these files must give (PROGRAM.md's table at scale 1).
    """
    services = load_services(program.services_path)
    gen = _ClaimsGenerator(program, services, scale, seed)
    summary = gen.run(Path(inbox))
    summary["scale"] = scale
    summary["seed"] = seed
    return summary
