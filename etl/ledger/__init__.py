"""The ledger's own rules: day order, published days that never change, the audit trail, reconciliation."""
