-- The package's own tables: the merge log (every merge, every row it deleted, every reference it moved, so each
-- merge can be undone) and detection's rules, runs and review queue. The DDL below is, statement for statement,
-- what migrations 0005 and 0006 of the first history created, so a database installed from that history is re-based
-- onto this one without a change (runner.py: LEGACY_HISTORY).

CREATE TABLE mlops."merges" (  -- noqa: RF06
    merge_id bigint GENERATED ALWAYS AS IDENTITY,
    parent_merge_id bigint,
    target regclass NOT NULL,
    survivor_id bigint NOT NULL,
    loser_ids bigint[] NOT NULL,
    reason text NOT NULL,
    score real,
    soft_deleted boolean NOT NULL,
    filled jsonb,
    merged_at timestamptz NOT NULL DEFAULT now(),
    merged_by name NOT NULL DEFAULT current_user,
    undone_at timestamptz,
    undone_by name,
    CONSTRAINT merges_pkey PRIMARY KEY (merge_id),
    CONSTRAINT merges_parent_merge_id_fkey FOREIGN KEY (parent_merge_id)
    REFERENCES mlops."merges" (merge_id),  -- noqa: RF06
    CONSTRAINT merges_loser_ids_check CHECK (cardinality(loser_ids) > 0)
);

-- Few indexes: a batch writes one row per cluster. The GIN index answers "which merge took this id"
-- (resolve_id, already-merged checks, undo dependencies).
CREATE INDEX merges_parent_merge_id_idx ON mlops."merges" (parent_merge_id);  -- noqa: RF06
CREATE INDEX merges_loser_ids_idx ON mlops."merges" USING gin (loser_ids);  -- noqa: RF06

COMMENT ON TABLE mlops."merges" IS  -- noqa: RF06
'One row per merge: losers merged into a survivor of one table. Conflict merges on referencing tables are '
'child rows (parent_merge_id). undone_at is set by mlops.unmerge.';
COMMENT ON COLUMN mlops."merges".target IS 'The table whose rows were merged.';  -- noqa: RF06
COMMENT ON COLUMN mlops."merges".loser_ids IS  -- noqa: RF06
'Ids merged away, in the order their values were used to fill the survivor.';
COMMENT ON COLUMN mlops."merges".soft_deleted IS  -- noqa: RF06
'Losers were kept and marked (deleted_at, merged_into), not deleted.';
COMMENT ON COLUMN mlops."merges".filled IS  -- noqa: RF06
'Survivor columns that were NULL and took a loser''s value (fill_nulls): column -> value filled in.';

CREATE TABLE mlops.merge_archive (
    archive_id bigint GENERATED ALWAYS AS IDENTITY,
    merge_id bigint NOT NULL,
    target regclass NOT NULL,
    row_id bigint,
    row_data jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT merge_archive_pkey PRIMARY KEY (archive_id)
);

-- merge_archive and merge_moves are written only by mlops.merge_clusters, in the transaction that writes their
-- mlops.merges row, and grow by one row per deleted or moved row. So: no FK to mlops.merges (its check locks the
-- merges row once per logged row: +0.45 s per 100k rows, measured), and BRIN indexes on merge_id, which only ever
-- grows (a btree costs another +0.3 s per 100k; undo reads one merge's rows, a few block ranges).
CREATE INDEX merge_archive_merge_id_idx ON mlops.merge_archive USING brin (merge_id);

COMMENT ON TABLE mlops.merge_archive IS
'Every row a merge deleted, as to_jsonb(row): the losers (target = the merge''s table, row_id = their id) and '
'colliding rows of referencing tables without an integer key (row_id NULL).';

CREATE TABLE mlops.merge_moves (
    merge_id bigint NOT NULL,
    referencing_table regclass NOT NULL,
    fk_name text NOT NULL,
    row_key jsonb NOT NULL,
    loser_id bigint NOT NULL
);

CREATE INDEX merge_moves_merge_id_idx ON mlops.merge_moves USING brin (merge_id);

COMMENT ON TABLE mlops.merge_moves IS
'Every referencing row a merge re-pointed: the row''s primary key (or, without one, the whole row after the move) '
'and the loser it pointed at before; undo points it back at that loser''s key.';

CREATE TABLE mlops.dedup_rules (
    target regclass NOT NULL,
    exact_key text,
    similar_text text,
    block_key text,
    threshold real NOT NULL DEFAULT 0.8,
    review_threshold real NOT NULL DEFAULT 0.6,
    keep_order text,
    soft_delete boolean NOT NULL DEFAULT FALSE,
    fill_nulls boolean NOT NULL DEFAULT FALSE,
    enabled boolean NOT NULL DEFAULT TRUE,
    CONSTRAINT dedup_rules_pkey PRIMARY KEY (target)
);

COMMENT ON TABLE mlops.dedup_rules IS
'How duplicates of one table are found and merged. Expressions are SQL over the table''s row (alias t); a '
'trigger compiles them when the rule is written.';
COMMENT ON COLUMN mlops.dedup_rules.exact_key IS
'Rows with the same non-NULL, non-empty value are duplicates (score 1).';
COMMENT ON COLUMN mlops.dedup_rules.similar_text IS
'Text compared with pg_trgm similarity(); pairs at or above threshold merge, in [review_threshold, threshold) '
'go to the review queue.';
COMMENT ON COLUMN mlops.dedup_rules.block_key IS 'When set, only rows with equal block keys are compared by text.';
COMMENT ON COLUMN mlops.dedup_rules.keep_order IS
'ORDER BY list over t choosing the survivor (first wins); NULL: most complete row, latest updated_at, lowest id.';

CREATE TABLE mlops.dedup_runs (
    run_id bigint GENERATED ALWAYS AS IDENTITY,
    target regclass NOT NULL,
    dry_run boolean NOT NULL,
    status text NOT NULL DEFAULT 'running',
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    clusters bigint NOT NULL DEFAULT 0,
    rows_merged bigint NOT NULL DEFAULT 0,
    references_moved bigint NOT NULL DEFAULT 0,
    conflicts_merged bigint NOT NULL DEFAULT 0,
    candidates_queued bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0,
    batches_failed bigint NOT NULL DEFAULT 0,
    detect_ms bigint,
    merge_ms bigint,
    error text,
    CONSTRAINT dedup_runs_pkey PRIMARY KEY (run_id),
    CONSTRAINT dedup_runs_status_check CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'skipped'))
);

CREATE INDEX dedup_runs_target_idx ON mlops.dedup_runs (target);
COMMENT ON COLUMN mlops.dedup_runs.batches IS
'Merge calls made: one per batch of batch_size clusters and kind of evidence (exact_key, similar_text, both).';

COMMENT ON TABLE mlops.dedup_runs IS
'One row per target per CALL mlops.merge_duplicates(): status, counts, timings, error. partial: some batches '
'kept failing on locks and were left for the next run; skipped: another run held the target.';

CREATE TABLE mlops.duplicate_candidates (
    candidate_id bigint GENERATED ALWAYS AS IDENTITY,
    target regclass NOT NULL,
    left_id bigint NOT NULL,
    right_id bigint NOT NULL,
    score real NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    CONSTRAINT duplicate_candidates_pkey PRIMARY KEY (candidate_id),
    CONSTRAINT duplicate_candidates_target_left_id_right_id_key UNIQUE (target, left_id, right_id),
    CONSTRAINT duplicate_candidates_status_check CHECK (status IN ('pending', 'merged', 'distinct')),
    CONSTRAINT duplicate_candidates_order_check CHECK (left_id < right_id)
);

COMMENT ON TABLE mlops.duplicate_candidates IS
'Pairs scoring in the review band, for a person to decide with mlops.review_candidate(); a pair judged distinct '
'is never proposed again.';
