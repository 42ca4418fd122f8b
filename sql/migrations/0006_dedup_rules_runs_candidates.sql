-- Detection and batch merging: one rule per table, a record per run, the review queue.

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
