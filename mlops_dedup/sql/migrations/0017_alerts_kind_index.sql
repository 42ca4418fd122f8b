-- The alerts' foreign key to their kind gets the index every foreign key should have (the FK audit flags it
-- otherwise, and a kind's settings row could not be deleted without scanning every alert).
CREATE INDEX alerts_kind_idx ON mlops.alerts (kind);
