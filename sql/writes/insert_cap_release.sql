-- Record a person's second approval of one payment above the cap (kept if given twice).
insert into cap_releases (claimant_key, amount_krw, released_by, reason, released_at)
values (:claimant_key, :amount_krw, :released_by, :reason, :released_at)
on conflict (claimant_key, amount_krw) do nothing
