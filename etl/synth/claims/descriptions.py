"""What claimants write: the free-text descriptions, and the CSV quoting every free-text field goes through.

Some descriptions hold commas, "quotes" and line breaks on purpose, so the files exercise RFC 4180
quoting; multi-line ones are weighted down so that they stay a small share of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from etl.claims.parse import Service
from etl.synth.claims.calibration import CellKey
from etl.synth.claims.sampling import Pick

MULTILINE_WEIGHT = 0.15  # a multi-line description is rarer than a one-line one

# The description tables are laid out by hand (a few texts per line): not reformatted.
# fmt: off
# Descriptions, by claimant kind and damage; some hold commas, "quotes" and newlines on purpose.
DESCRIPTIONS: dict[CellKey, tuple[str, ...]] = {
    ("individual", "non_monetary"): (
        "카톡이 하루 종일 안 돼서 너무 불편했습니다", "응원합니다,\n빨리 복구되길", "재발 방지 대책을 요구합니다",
        "데이터센터 이중화는 왜 안 되어 있었나요?", "가족과 연락이 안 돼서 걱정했어요", "보상 계획이 궁금합니다",
        "사진 전송이 안 됐습니다", "로그인이 계속 풀려요", "\"먹통\" 사태에 대해 공식 사과를 요구합니다",
        "불편했지만 고생 많으셨습니다. 힘내세요!", "메시지 전송 실패, 읽음 표시 오류",
        "다음 메일 접속 불가로 업무 차질",
        "카카오 로그인이 안 되어 다른 앱도 못 썼습니다", "단톡방 공지를 못 받았어요", "", "문의드립니다",
        "이틀 동안 알림이 안 왔습니다.\n복구 후에도 일부 대화가 사라졌어요", "서비스 장애 보상 문의",
    ),
    ("individual", "paid_service"): (
        "이모티콘 플러스 이용 기간 연장 요청", "톡서랍 플러스 백업 실패, 이용료 환불 요청",
        "선물하기로 보낸 선물이 \"발송 실패\"로 나옵니다", "구독 중인데 서비스를 못 썼어요", "유료 서비스 보상 요청",
        "메이커스 주문 확인이 안 됩니다", "결제했는데 이용을 못 했습니다.\n환불 부탁드립니다",
    ),
    ("individual", "free_monetary"): (
        "선물하기 결제 후 전송 안 됨, 결제 금액 손실", "송금 확인이 안 돼서 거래가 취소됐어요",
        "로그인 실패로 예매 놓침",
        "업무 연락을 못 받아 계약이 취소됐습니다", "카카오맵이 안 돼서 길을 헤맸고 택시비가 더 들었어요",
        "중고거래 연락 두절로 손해", "교환권 기한 만료, 연장 요청",
    ),
    ("small_business", "paid_service"): (
        "알림톡 미발송으로 예약 \"노쇼\" 다수", "카카오톡 채널 주문 접수 불가, 주말 매출 손실",
        "주문 알림이 안 와서 배달 주문 취소",
        "톡스토어 주문 확인 불가\n고객 환불 처리", "선물하기 교환권 사용 불가로 환불",
        "비즈메시지 발송 실패, 광고비 손실",
        "메이커스 주문 처리 지연으로 취소 다수",
    ),
    ("small_business", "free_monetary"): (
        "예약 문의를 못 받아 손님이 줄었습니다", "카톡 주문을 못 받아 영업 손실", "단골 고객 예약이 모두 취소됐습니다",
        "10/15~10/16 영업 손실", "카카오맵에 가게가 안 떠서 손님이 못 찾아왔어요",
        "주말 예약 전부 취소\n매출 손실 증빙 첨부 예정",
        "카톡으로 받던 주문이 끊겨서 재료를 폐기했습니다",
    ),
    ("small_business", "non_monetary"): (
        "단골 고객 연락이 안 됐습니다", "재발 방지 요청", "소상공인 보상 기준 문의", "채널 공지가 안 나갔습니다",
        "피해 신고 방법 문의, 서류 목록 안내 부탁드립니다",
    ),
    ("enterprise", "paid_service"): (
        "비즈메시지 발송 장애로 고객 공지 지연", "SLA 위반에 따른 손해배상 검토 요청",
        "광고 집행 중단,\n계약 조건 확인 요청",
    ),
    ("enterprise", "free_monetary"): (
        "카카오 로그인 연동 장애, 회원 가입 중단", "간편 로그인 장애로 주문 감소",
        "업무 메일 수신 지연으로 입찰 마감 놓침",
    ),
    ("enterprise", "non_monetary"): (
        "장애 원인 및 재발 방지 대책 공유 요청", "기술 지원 문의", "공식 \"장애 보고서\" 요청",
    ),
}
# Affiliate claims by service: what went wrong there.
AFFILIATE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "kakao_t": ("택시 호출이 안 돼서 약속에 늦었습니다", "카카오T 호출 불가, 운행 손실",
                "콜을 못 받아서\n하루 운행 접었습니다", "택시 호출 장애로 대체 교통비 발생"),
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
# fmt: on
AFFILIATE_DESCRIPTION_FALLBACK = ("계열사 서비스 장애 피해 신고", "서비스 이용 불가")
RESUB_DESCRIPTIONS = ("이전 접수 건 금액 수정", "증빙 추가 제출", "추가 피해 확인되어 재접수", "정정 접수합니다")
RESUB_DESCRIPTIONS_NON = ("추가 문의드립니다", "이전 접수 내용 보완", "답변이 없어 다시 접수합니다")


def quote(text: str) -> str:
    """RFC 4180: quote a field holding a comma, quote or line break."""
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def description_pick(texts: Sequence[str]) -> Pick[str]:
    """Descriptions, already CSV-quoted, weighted so that multi-line ones stay a small share."""
    return Pick([(quote(t), MULTILINE_WEIGHT if "\n" in t else 1.0) for t in texts])


def kakao_description_picks() -> dict[CellKey, Pick[str]]:
    """The descriptions of Kakao Corp claims, by (claimant_type, damage)."""
    return {k: description_pick(v) for k, v in DESCRIPTIONS.items()}


def affiliate_description_picks(services: dict[str, Service]) -> dict[str, Pick[str]]:
    """The descriptions of affiliate claims, by service (a generic one for a service with none of its own)."""
    return {
        s: description_pick(AFFILIATE_DESCRIPTIONS.get(s, AFFILIATE_DESCRIPTION_FALLBACK))
        for s, svc in services.items()
        if not svc.kakao_corp
    }


def plain_descriptions() -> list[str]:
    """Small businesses' descriptions free of quotes, commas and line breaks (for malformed rows)."""
    return [
        d
        for k, v in DESCRIPTIONS.items()
        if k[0] == "small_business"
        for d in v
        if d and not any(ch in d for ch in ',"\n')
    ]
