-- One payment computed above the cap and held for a second approval.
insert into over_cap (run_date, claimant_key, business_reg_no, amount_krw, cap_krw, basis)
values (:run_date, :claimant_key, :business_reg_no, :amount_krw, :cap_krw, :basis)
