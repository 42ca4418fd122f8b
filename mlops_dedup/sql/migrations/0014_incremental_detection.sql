-- Issue 11: incremental detection. A run probes only the rows inserted or changed since the last run against the
-- signatures earlier runs stored. Changes are captured by statement-level triggers the first run puts on the rule's
-- table (mlops.dedup_track_changes); signatures and the change queue are derived data, so they are UNLOGGED: a crash
-- empties them together and the next run is a full pass (mlops.dedup_state has no row then).

ALTER TABLE mlops.dedup_rules ADD COLUMN incremental boolean NOT NULL DEFAULT TRUE;
COMMENT ON COLUMN mlops.dedup_rules.incremental IS
'true (default): merge_duplicates keeps the rule''s signatures between runs and probes only rows inserted, changed or '
'deleted since the last run (captured by statement-level triggers on the table, created by the first run); false: '
'every run reads the whole table, and no trigger is created.';

-- No identity and no index: every write of the application appends here, and an index or a sequence tripled the
-- append's cost (10k keys: 13 ms bare, 47 ms with both); the queue stays small (each run consumes it) and is read
-- whole. Runs consume what they read by ctid.
CREATE UNLOGGED TABLE mlops.dedup_changes (  -- noqa: LT09
    target regclass NOT NULL,
    key text  -- noqa: RF04
);
COMMENT ON TABLE mlops.dedup_changes IS
'Keys of rule tables'' rows inserted, updated or deleted since the last run read them (written by the triggers of '
'mlops.dedup_track_changes; a NULL key: the table was truncated, the next run is a full pass). Consumed at the end '
'of a run. UNLOGGED: lost in a crash together with the signatures, which forces a full pass.';

CREATE UNLOGGED TABLE mlops.dedup_signatures (
    target regclass NOT NULL,
    key text NOT NULL,  -- noqa: RF04
    kind "char" NOT NULL,
    sig bigint NOT NULL,
    n integer,
    CONSTRAINT dedup_signatures_kind_check CHECK (kind IN ('k', 't', 's', 'g'))
);
CREATE INDEX dedup_signatures_probe_idx ON mlops.dedup_signatures (target, kind, sig);
CREATE INDEX dedup_signatures_key_idx ON mlops.dedup_signatures (target, key);
COMMENT ON TABLE mlops.dedup_signatures IS
'What detection compares, per live row of a rule''s table, as 64-bit hashes (hashtextextended; never the values): '
'kind k the exact key, t the text with its block (identical texts), s a sentence or word pair of a text over 40 '
'characters (n = the text''s number of them), g a trigram of a text up to 80 characters (n = its number of '
'trigrams). A hash collision only makes a run compare more rows. key is the row''s key as text. Rebuilt by a full '
'pass; UNLOGGED (derived data).';

CREATE UNLOGGED TABLE mlops.dedup_state (
    target regclass NOT NULL,
    fingerprint text NOT NULL,
    complete boolean NOT NULL DEFAULT FALSE,
    built_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dedup_state_pkey PRIMARY KEY (target)
);
COMMENT ON TABLE mlops.dedup_state IS
'One row per rule whose signatures are stored: the rule''s fingerprint they were made with (a changed rule makes '
'the next run a full pass), when the last full pass built them, and whether the last run finished (complete false: '
'a run stopped between detection and its end, so clusters it found may be unmerged and the next run is a full '
'pass). UNLOGGED, like the signatures.';

-- Signatures are hashes of the user's values and keys: a role sees them only for tables it may read, as with the
-- archive. Removing or writing them (and marking the state complete) changes what the next run compares, so only
-- roles that may update the table do; queuing a change only makes a run look again, so reading the table is enough.
ALTER TABLE mlops.dedup_signatures ENABLE ROW LEVEL SECURITY;
CREATE POLICY dedup_signatures_readable ON mlops.dedup_signatures FOR SELECT
USING (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY dedup_signatures_written ON mlops.dedup_signatures FOR INSERT
WITH CHECK (pg_catalog.has_table_privilege(target, 'UPDATE'));
CREATE POLICY dedup_signatures_removed ON mlops.dedup_signatures FOR DELETE
USING (pg_catalog.has_table_privilege(target, 'UPDATE'));
ALTER TABLE mlops.dedup_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY dedup_changes_readable ON mlops.dedup_changes FOR SELECT
USING (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY dedup_changes_queued ON mlops.dedup_changes FOR INSERT
WITH CHECK (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY dedup_changes_consumed ON mlops.dedup_changes FOR DELETE
USING (pg_catalog.has_table_privilege(target, 'UPDATE'));
ALTER TABLE mlops.dedup_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY dedup_state_readable ON mlops.dedup_state FOR SELECT
USING (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY dedup_state_written ON mlops.dedup_state FOR INSERT
WITH CHECK (pg_catalog.has_table_privilege(target, 'UPDATE'));
CREATE POLICY dedup_state_changed ON mlops.dedup_state FOR UPDATE
USING (pg_catalog.has_table_privilege(target, 'UPDATE'));
CREATE POLICY dedup_state_removed ON mlops.dedup_state FOR DELETE
USING (pg_catalog.has_table_privilege(target, 'UPDATE'));

ALTER TABLE mlops.dedup_runs
ADD COLUMN full_pass boolean,
ADD COLUMN rows_changed bigint,
ADD COLUMN rows_compared bigint;
COMMENT ON COLUMN mlops.dedup_runs.full_pass IS
'Whether detection read the whole table (first run, changed rule, p_full, a dry run, a rule not incremental) or '
'only the rows changed since the last run and those they may match.';
COMMENT ON COLUMN mlops.dedup_runs.rows_changed IS
'Rows inserted, updated or deleted since the last run that detection probed (all live rows in a full pass).';
COMMENT ON COLUMN mlops.dedup_runs.rows_compared IS 'Rows detection read and compared (live rows in a full pass).';

-- The review queue's pairs are found by either key (the pairs judged distinct among the rows a run looks at).
CREATE INDEX duplicate_candidates_right_key_idx ON mlops.duplicate_candidates (target, right_key);

-- New parameters: the old signatures go (install re-creates the routines after the migrations).
DROP PROCEDURE IF EXISTS mlops.merge_duplicates(regclass, boolean, integer);
DROP FUNCTION IF EXISTS mlops.dedup_detect(regclass);
