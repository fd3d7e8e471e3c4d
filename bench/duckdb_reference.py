"""The reference for `bench/claims_window.py`: the 1015 payment rules in DuckDB, recomputed in full for each day.

From the raw `claims_YYYYMMDD.csv` files alone, independently of `etl/` (only the program config is shared):

* **valid rows**: the checks of CONTRACT.md / README's reason codes that decide whether a row is staged
  (received_at ISO 8601 with an offset, from the outage's day to the end of its file's day in KST; channel,
  claimant type, service, booleans; a whole non-negative amount up to 10^12 when monetary_loss; a 10-digit
  business number with its check digit for a business; an individual's key; bank details 3 digits + 6-20
  digits with a name to pay; no control characters; field lengths). Rows DuckDB cannot read as 16 fields are
  dropped (the pipeline quarantines them too);
* **re-deliveries**: the latest delivery of a receipt_no wins (later day, then later line);
* **resubmissions**: per claimant key and service, the latest received_at wins (ties: the greater receipt_no),
  whatever the claimant type;
* **loss**: a small business's surviving small_business claims on Kakao Corp services with a monetary loss,
  summed; **affiliates** (services not run by Kakao Corp) never count;
* **tiers** from the program config (30,000 / 50,000 KRW; above the review threshold, 500,000, nothing is paid
  without a council decision, and there are none here);
* **fraud holds**: a bank account given by more than `max_businesses_per_account` businesses, or one account
  holder + phone under several business numbers, holds those businesses (nothing paid);
* **payable**: bank details on any of the business's effective small_business claims on Kakao Corp services;
* **payments** = entitlement now - paid before (this reference's own earlier days), when positive.

No council decisions, bank returns, cap or close. Every day is computed from scratch over all files up to it
(no state but what was paid). Prints JSON: per day, payments and total KRW; and the seconds taken.

    python bench/duckdb_reference.py INBOX [--program programs/kakao_1015_demo.toml]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The raw columns, as delivered (CONTRACT.md).
COLUMNS = [
    "receipt_no", "received_at", "channel", "claimant_type", "claimant_name", "kakao_account_id", "phone",
    "business_reg_no", "service", "paid_service", "monetary_loss", "claimed_loss_krw", "bank_code", "account_no",
    "account_holder", "description",
]  # fmt: skip
LIMITS = {
    "receipt_no": 64, "received_at": 64, "channel": 16, "claimant_type": 32, "claimant_name": 100,
    "kakao_account_id": 100, "phone": 32, "business_reg_no": 32, "service": 64, "paid_service": 16,
    "monetary_loss": 16, "claimed_loss_krw": 32, "account_holder": 70,
}  # fmt: skip

MACROS = r"""
create macro phone_digits(p) as regexp_replace(p, '[\s\-.()]', '', 'g');
create macro phone_trunk(d) as case when d like '+82%' then '0' || d[4:]
                                    when d like '82%' and length(d) in (11, 12) then '0' || d[3:]
                                    else d end;
create macro phone_zero(d) as case when d like '00%' then d[2:] else d end;
create macro phone_norm(p) as case
    when regexp_full_match(phone_zero(phone_trunk(phone_digits(p))), '01[016789][0-9]{7,8}')
    then phone_zero(phone_trunk(phone_digits(p))) end;
create macro brn_ok(b) as regexp_full_match(b, '[0-9]{10}') and (
    10 - ((b[1]::int * 1 + b[2]::int * 3 + b[3]::int * 7 + b[4]::int * 1 + b[5]::int * 3 + b[6]::int * 7
           + b[7]::int * 1 + b[8]::int * 3 + b[9]::int * 5 + (b[9]::int * 5) // 10) % 10)
) % 10 = b[10]::int;
"""

LOAD = r"""
create table services as
select service_code, lower(trim(kakao_corp)) = 'true' as kakao_corp
from read_csv('{services}', header = true, all_varchar = true);
create table raw as select * from read_parquet('{records}');
create table t as
select
    seq,
    day,
    {trimmed},
    coalesce(description, '') as description,
    -- control characters, as delivered (before trimming): only description may hold tab, CR and LF
    regexp_matches({joined}, '[\x00-\x1f\x7f-\x9f\x{{fffe}}\x{{ffff}}]')
    or regexp_matches(coalesce(description, ''), '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{{fffe}}\x{{ffff}}]')
        as control_character
from raw;
create table d as
with c as (
    select
        t.*,
        s.kakao_corp,
        case when regexp_matches(received_at, '(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')
                  and regexp_full_match(received_at, '[ -~]+')
             then try_cast(received_at as timestamptz) end as received_ts,
        case when regexp_full_match(business_reg_no, '[0-9]{{3}}-?[0-9]{{2}}-?[0-9]{{5}}')
             then replace(business_reg_no, '-', '') end as brn,
        case when phone <> '' then phone_norm(phone) end as phone_n,
        replace(account_no, '-', '') as account_digits,
        case when regexp_full_match(claimed_loss_krw, '\+?[0-9]+')
             then try_cast(ltrim(claimed_loss_krw, '+') as hugeint) end as amount
    from t
    left join services as s on s.service_code = t.service
),
k as (
    select
        *,
        case when claimant_type in ('small_business', 'enterprise') then brn
             when claimant_type = 'individual' then coalesce(nullif(kakao_account_id, ''), phone_n) end as key
    from c
)
select
    seq, day, receipt_no, received_ts as received_at, claimant_type, key, service, kakao_corp,
    monetary_loss = 'true' as monetary_loss,
    case when monetary_loss = 'true' then amount::bigint end as amount,
    nullif(bank_code, '') as bank_code, nullif(account_digits, '') as account_no,
    nullif(account_holder, '') as account_holder, phone_n as phone
from k
where receipt_no <> ''
  and not control_character
  and {lengths}
  and length(description) <= 4000
  and received_ts is not null
  and received_ts >= '{outage} 00:00:00+09:00'::timestamptz
  and received_ts < ((day + 1)::varchar || ' 00:00:00+09:00')::timestamptz
  and channel in ('web', 'kakaotalk', 'phone', 'email')
  and claimant_type in ('individual', 'small_business', 'enterprise')
  and kakao_corp is not null
  and paid_service in ('true', 'false')
  and monetary_loss in ('true', 'false')
  and (monetary_loss = 'false' or (amount is not null and amount <= 1000000000000))
  and (claimant_type = 'individual' or (brn is not null and brn_ok(brn)))
  and key is not null
  and ((bank_code = '' and account_no = '')
       or (regexp_full_match(bank_code, '[0-9]{{3}}') and regexp_full_match(account_no, '[0-9][0-9-]*[0-9]')
           and length(account_digits) between 6 and 20 and (claimant_name <> '' or account_holder <> '')));
create table paid (day date, key varchar, amount bigint);
"""

DAY = """
with eff as (
    select * from d where day <= $day
    qualify row_number() over (partition by receipt_no order by day desc, seq desc) = 1
),
surv as (
    select * from eff
    qualify row_number() over (partition by key, service order by received_at desc, receipt_no desc) = 1
),
loss as (
    select key, sum(amount) as loss
    from surv
    where claimant_type = 'small_business' and kakao_corp and monetary_loss
    group by key
),
bank as (
    select distinct key from eff
    where claimant_type = 'small_business' and kakao_corp and bank_code is not null and account_no is not null
),
shared_accounts as (
    select key from (
        select bank_code, account_no, key from d
        where day <= $day and claimant_type = 'small_business' and account_no is not null
        group by all
    )
    qualify count(*) over (partition by bank_code, account_no) > $max_per_account
),
shared_contacts as (
    select key from (
        select account_holder, phone, key from d
        where day <= $day and claimant_type = 'small_business' and phone is not null and account_holder is not null
        group by all
    )
    qualify count(*) over (partition by account_holder, phone) > 1
),
held as (select key from shared_accounts union select key from shared_contacts),
entitled as (
    select
        l.key,
        case when l.loss <= 0 or h.key is not null or l.loss > $review then 0
             {tiers}
             else 0 end as entitlement
    from loss as l
    left join held as h using (key)
    where l.key in (select key from bank)
),
before as (select key, sum(amount) as paid from paid group by key)
insert into paid
select $day, e.key, e.entitlement - coalesce(b.paid, 0) as due
from entitled as e
left join before as b using (key)
where e.entitlement - coalesce(b.paid, 0) > 0
"""


def frame(inbox: Path, program, out: Path) -> int:
    """The day files' records (day, line, 16 raw fields) to Parquet; records that are not 16 fields are left out.

    Framing only: RFC 4180 with the pipeline's recovery (etl.io.csvfile), so that a malformed record (an
    unterminated quote, a quote inside a field) costs that record and nothing else, as in the pipeline;
    DuckDB's reader would let an unterminated quote swallow the lines after it, or accept a 17-field row.
    Every rule is applied in DuckDB.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from etl.io.csvfile import read_records

    schema = pa.schema([("seq", pa.int64()), ("day", pa.date32()), *((c, pa.string()) for c in COLUMNS)])
    seq = 0
    with pq.ParquetWriter(out, schema) as writer:
        for day in program.intake_days():
            path = inbox / f"claims_{day:%Y%m%d}.csv"
            if not path.is_file():
                continue
            batch: list[tuple] = []
            for rec in read_records(path, COLUMNS):
                if rec.error or rec.fields is None or len(rec.fields) != len(COLUMNS):
                    continue
                seq += 1
                batch.append((seq, day, *rec.fields))
                if len(batch) >= 200_000:
                    writer.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in batch], schema))
                    batch.clear()
            if batch:
                writer.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in batch], schema))
    return seq


def reference(inbox: Path, program, records: Path) -> dict:
    """Per intake day: {"payments": n, "total_krw": sum} under the rules above, from `frame`'s records."""
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    trimmed = ",\n    ".join(
        f"{'lower(' if c in ('channel', 'claimant_type', 'paid_service', 'monetary_loss') else ''}"
        f"regexp_replace(coalesce({c}, ''), '^\\s+|\\s+$', '', 'g')"
        f"{')' if c in ('channel', 'claimant_type', 'paid_service', 'monetary_loss') else ''} as {c}"
        for c in COLUMNS
        if c != "description"
    )
    sql = LOAD.format(
        services=program.services_path,
        records=records,
        trimmed=trimmed,
        joined="concat_ws('|', " + ", ".join(f"coalesce({c}, '')" for c in COLUMNS if c != "description") + ")",
        lengths=" and ".join(f"length({c}) <= {n}" for c, n in LIMITS.items()),
        outage=program.outage_date.isoformat(),
    )
    con.execute(MACROS)
    con.execute(sql)
    tiers = " ".join(f"when l.loss <= {t.max_loss_krw} then {t.support_krw}" for t in program.tiers)
    query = DAY.replace("{tiers}", tiers)
    out = {}
    for day in program.intake_days():
        params = {
            "day": day,
            "review": program.review_threshold_krw,
            "max_per_account": program.max_businesses_per_account,
        }
        con.execute(query, params)
        n, total = con.execute(
            "select count(*), coalesce(sum(amount), 0) from paid where day = $day", {"day": day}
        ).fetchone()
        out[day.isoformat()] = {"payments": int(n), "total_krw": int(total)}
    out["_rows"] = {
        "read": con.execute("select count(*) from raw").fetchone()[0],
        "valid": con.execute("select count(*) from d").fetchone()[0],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inbox", type=Path)
    parser.add_argument("--program", default=str(REPO / "programs" / "kakao_1015_demo.toml"))
    args = parser.parse_args(argv)
    from etl.core.config import load_program

    program = load_program(args.program)
    with tempfile.TemporaryDirectory(prefix="relief-ref-") as tmp:
        started = time.perf_counter()
        framed = frame(args.inbox.resolve(), program, Path(tmp) / "records.parquet")
        framed_at = time.perf_counter()
        result = reference(args.inbox.resolve(), program, Path(tmp) / "records.parquet")
        done = time.perf_counter()
    result["_records"] = framed
    result["_seconds"] = {"frame": round(framed_at - started, 3), "rules": round(done - framed_at, 3)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
