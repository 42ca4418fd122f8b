-- The merge log: every merge, every row it deleted, every reference it moved, so each merge can be undone.
-- "merges" is quoted (noqa: RF06) only because sqlfluff 4.5 cannot parse mlops.merges unquoted.

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
