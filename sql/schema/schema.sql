-- The warehouse schema: created on first use, the same on SQLite and PostgreSQL.
-- Day-partitioned tables are rewritten by partition (run_date) in one transaction per run.
-- Booleans are integers (0/1) and amounts are bigint won: no floats anywhere near money.

create table if not exists schema_version (
    version integer not null
);

-- Every valid row of every day's claims file, as delivered (append-only by day).
-- The effective version of a receipt as of day D is its latest delivery on or before D.
create table if not exists deliveries (
    run_date text not null,
    line_no integer not null,
    receipt_no text not null,
    received_at text not null,            -- UTC, sortable text
    channel text not null,
    claimant_type text not null,
    claimant_key text not null,
    claimant_name text,
    kakao_account_id text,
    phone text,
    business_reg_no text,
    service text not null,
    operator text not null,
    kakao_corp integer not null,
    paid_service integer not null,
    monetary_loss integer not null,
    claimed_loss_krw bigint,
    bank_code text,
    account_no text,
    account_holder text,
    description text,
    outcome text not null,                -- accepted | excluded | duplicate
    primary key (run_date, line_no)
);
create index if not exists deliveries_by_receipt on deliveries (receipt_no, run_date);

-- Rows that could not be accepted, with the reason and the raw text: nothing is lost.
create table if not exists quarantine (
    run_date text not null,
    source_file text not null,
    line_no integer not null,
    reason text not null,
    detail text not null,
    raw text not null,
    primary key (run_date, line_no)
);

-- The claimant keys whose entitlement a day's run recomputes.
create table if not exists touched_keys (
    run_date text not null,
    claimant_key text not null,
    primary key (run_date, claimant_key)
);

-- Each business's state after a day's run (written for the businesses that day touched).
create table if not exists business_state (
    run_date text not null,
    claimant_key text not null,
    business_reg_no text,
    claimant_name text,
    loss_krw bigint not null,
    surviving_claims integer not null,
    services text not null,
    receipts text not null,               -- the receipt_nos of the surviving claims counted in the loss
    status text not null,                 -- tier | review_pending | review_approved | review_rejected | held | no_loss
    entitlement_krw bigint not null,
    paid_krw bigint not null,             -- paid up to and including this day
    owed_krw bigint not null,             -- entitled but not yet payable (no bank details)
    has_bank_details integer not null,
    primary key (claimant_key, run_date)
);
create index if not exists business_state_by_status on business_state (status, claimant_key);
create index if not exists business_state_by_owed on business_state (owed_krw, claimant_key);

-- The payment ledger: one row per payment, partitioned by the day that issued it.
create table if not exists payments (
    payment_id text primary key,
    run_date text not null,
    claimant_key text not null,
    business_reg_no text not null,
    payee_name text,
    bank_code text not null,
    account_no text not null,
    account_holder text,
    amount_krw bigint not null,
    basis text not null
);
create index if not exists payments_by_claimant on payments (claimant_key, run_date);
create index if not exists payments_by_day on payments (run_date);

-- The council's decisions, as delivered.
create table if not exists decisions (
    run_date text not null,
    line_no integer not null,
    claimant_key text not null,
    decision text not null,
    approved_amount_krw bigint,
    decided_by text,
    decided_at text not null,             -- UTC, sortable text
    primary key (run_date, line_no)
);
create index if not exists decisions_by_claimant on decisions (claimant_key, decided_at);

-- One row per day run: its status, the inputs' hashes and the day's and cumulative counts (JSON).
create table if not exists day_runs (
    run_date text primary key,
    run_id text not null,
    status text not null,                 -- staged | computed | published | rejected
    config_sha256 text not null,
    claims_sha256 text,
    day_counts text,
    cumulative_counts text,
    updated_at text not null
);

-- Great Expectations results, kept whether they passed or not.
create table if not exists validation_results (
    run_date text not null,
    suite text not null,
    success integer not null,
    hard_failures integer not null,
    soft_failures integer not null,
    result_json text not null,
    primary key (run_date, suite)
);

-- Council decisions that were not applied, with the reason (published beside the review queue).
create table if not exists decision_errors (
    run_date text not null,
    line_no integer not null,
    claimant_key text not null,
    reason text not null,
    detail text not null,
    raw text not null,
    primary key (run_date, line_no)
);

-- Maker-checker: who released (or rejected) each day's payment batch, and the batch they saw.
create table if not exists batch_approvals (
    run_date text primary key,
    decision text not null,               -- approved | rejected
    decided_by text not null,
    batch_sha256 text not null,
    payments integer not null,
    control_sum_krw bigint not null,
    decided_at text not null
);

-- The bank's results for issued payments, as delivered; the latest line per payment stands.
create table if not exists payment_returns (
    run_date text not null,
    line_no integer not null,
    payment_id text not null,
    status text not null,                 -- settled | returned
    reason text,
    primary key (run_date, line_no)
);
create index if not exists payment_returns_by_payment on payment_returns (payment_id, run_date);

-- Bank result rows that were not applied, with the reason.
create table if not exists return_errors (
    run_date text not null,
    line_no integer not null,
    payment_id text not null,
    reason text not null,
    raw text not null,
    primary key (run_date, line_no)
);

-- Businesses held for review by the fraud checks, per day they were recomputed.
create table if not exists holds (
    run_date text not null,
    claimant_key text not null,
    reason text not null,                 -- shared_account | suspected_duplicate
    detail text not null,
    primary key (run_date, claimant_key, reason)
);

-- The fraud checks look up small businesses only (shared_accounts.sql, shared_contacts.sql): their indexes hold
-- those rows only (schema 3, a fifth of the rows): the other claims' loads never touch them.
drop index if exists deliveries_by_account;
drop index if exists deliveries_by_phone;
create index if not exists deliveries_by_business_account on deliveries (account_no, bank_code)
where claimant_type = 'small_business';
create index if not exists deliveries_by_business_phone on deliveries (phone)
where claimant_type = 'small_business';

-- Schema 2 ---------------------------------------------------------------------------------------

-- One writer at a time: the process that holds this row (until its lease ends) may write the ledger.
create table if not exists writer_lock (
    id integer primary key,               -- always 1
    holder text not null,                 -- what is writing: step, day, run id
    host text not null,
    pid integer not null,
    acquired_at text not null,
    expires_at text not null              -- UTC; a lease past its end may be taken over
);

-- The hash of every input a day was computed from (claims, decisions, returns files; program config).
-- A published day reruns only on byte-identical inputs.
create table if not exists day_inputs (
    run_date text not null,
    kind text not null,                   -- claims | decisions | returns | config
    sha256 text not null,                 -- 'absent' for an optional file that was not delivered
    primary key (run_date, kind)
);

-- The audit trail: every ledger event, appended, never updated or deleted.
create table if not exists ledger_events (
    event_no bigint primary key,
    run_date text not null,
    run_id text not null,
    event text not null,                  -- see etl/payments/audit.py EVENTS
    claimant_key text,
    payment_id text,
    amount_krw bigint,
    actor text not null,
    at text not null,                     -- UTC, when it was recorded
    detail text
);
create index if not exists ledger_events_by_claimant on ledger_events (claimant_key, event_no);

-- Second approvals of payments above the program's cap (cash.max_payment_krw): a person releases
-- exactly one amount for one business; the next computed day pays it.
create table if not exists cap_releases (
    claimant_key text not null,
    amount_krw bigint not null,
    released_by text not null,
    reason text not null,
    released_at text not null,
    primary key (claimant_key, amount_krw)
);

-- Payments a day computed above the cap and did not pay: each waits for a person's second approval.
create table if not exists over_cap (
    run_date text not null,
    claimant_key text not null,
    business_reg_no text not null,
    amount_krw bigint not null,
    cap_krw bigint not null,
    basis text not null,
    primary key (run_date, claimant_key)
);

-- The program's close: once closed, no day computes or pays again (a published day may still be rewritten).
create table if not exists program_close (
    program text primary key,
    closed_on text not null,              -- the close date (KST)
    closed_by text not null,
    closed_at text not null
);

-- Schema 3 ---------------------------------------------------------------------------------------

-- The finance report's groups as of each published day (etl/reports/finance/snapshot.py): a day's are the previous
-- published day's with the businesses touched since taken out as they were and put back as they are, so a day's
-- publish costs what the day changed, not the whole history. finance_snapshot_days says which days have them.
create table if not exists finance_snapshot_days (
    run_date text primary key
);

create table if not exists finance_groups (
    run_date text not null,
    loss_krw bigint,                      -- the paid business's latest claimed loss (null: no state)
    basis text not null,
    status text,                          -- the payments' latest bank result (null: none yet)
    payments bigint not null,
    krw bigint not null,
    businesses bigint not null,           -- counted on each business's first payment's group
    basis_businesses bigint not null      -- counted on each business's first payment of the basis
);
create index if not exists finance_groups_by_day on finance_groups (run_date);

create table if not exists finance_loss_counts (
    run_date text not null,
    loss_krw bigint not null,             -- a latest claimed loss
    businesses bigint not null,           -- how many businesses' latest loss it is
    primary key (run_date, loss_krw)
);

-- Schema 4 ---------------------------------------------------------------------------------------

-- The claimant lookups are all of businesses (the day's touched keys, the fraud checks' touched businesses,
-- `relief explain`): the claimant index holds business rows only, as the fraud checks' do (individuals are two
-- thirds of the claims, and their loads no longer touch it). The predicate is an `or`, not an `in`: SQLite uses a
-- partial index only when the query's terms imply its predicate, and it sees `claimant_type = 'small_business'`
-- implying an `or` of which it is one side, never an `in` list.
drop index if exists deliveries_by_claimant;
create index if not exists deliveries_by_business_claimant on deliveries (claimant_key, run_date)
where claimant_type = 'small_business' or claimant_type = 'enterprise';
