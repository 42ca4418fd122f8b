-- What a merge does with a referencing row that re-pointing would make collide with its twin on a unique index:
-- a declared policy per referencing table (twin, combine, refuse), and what each merge did with such rows (the
-- report, per referencing table) and with the twins' values (combine, for undo).

CREATE TABLE mlops.conflict_policies (
    referencing_table regclass NOT NULL,
    action text NOT NULL,  -- noqa: RF04
    combine jsonb,
    declared_by name NOT NULL DEFAULT current_user,
    declared_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conflict_policies_pkey PRIMARY KEY (referencing_table),
    CONSTRAINT conflict_policies_action_check CHECK (action IN ('twin', 'combine', 'refuse')),
    CONSTRAINT conflict_policies_combine_check CHECK ((action = 'combine') = (combine IS NOT NULL))
);

COMMENT ON TABLE mlops.conflict_policies IS
'Per referencing table: what a merge does with a row that re-pointing would make collide with its twin on a '
'unique index. No row: twin (and every merge reports the colliding rows). Checked by a trigger when written; '
'written only by roles with the rights of the table''s owner (row-level security).';
COMMENT ON COLUMN mlops.conflict_policies.referencing_table IS 'The table whose colliding rows the policy governs.';
COMMENT ON COLUMN mlops.conflict_policies.action IS
'twin: the colliding row is merged into its twin (archived); combine: the same, and the twin keeps the combined '
'values of the columns in combine; refuse: the merge is refused (23000) naming the rows and the index.';
COMMENT ON COLUMN mlops.conflict_policies.combine IS
'For action combine: {"column": "sum" | "min" | "max" | "fill" | "concat"}; fill = the twin''s value, else the '
'first non-NULL of the colliding rows; concat joins text values with a newline. NULL for twin and refuse.';
COMMENT ON COLUMN mlops.conflict_policies.declared_by IS 'The role that wrote the policy (its default, current_user).';

-- Policies are code-like configuration: merges run by anyone read them, only the table owner's side writes them.
ALTER TABLE mlops.conflict_policies ENABLE ROW LEVEL SECURITY;

CREATE POLICY conflict_policies_readable ON mlops.conflict_policies FOR SELECT
USING (TRUE);

CREATE POLICY conflict_policies_declared_by_owner ON mlops.conflict_policies FOR INSERT
WITH CHECK (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = conflict_policies.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
);

CREATE POLICY conflict_policies_changed_by_owner ON mlops.conflict_policies FOR UPDATE
USING (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = conflict_policies.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
)
WITH CHECK (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = conflict_policies.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
);

CREATE POLICY conflict_policies_deleted_by_owner ON mlops.conflict_policies FOR DELETE
USING (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = conflict_policies.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
);

COMMENT ON POLICY conflict_policies_declared_by_owner ON mlops.conflict_policies IS
'A policy is declared only by a role with the rights of the referencing table''s owner: it decides what merges '
'do to that table''s rows.';

ALTER TABLE mlops."merges"  -- noqa: RF06
ADD COLUMN conflicts jsonb,
ADD COLUMN combined jsonb;

COMMENT ON COLUMN mlops."merges".conflicts IS  -- noqa: RF06
'Colliding referencing rows this merge resolved, per referencing table: {"table": {"policy": …, "merged": n, '
'"differed": n, "columns": [the columns in which some differed from their twin]}}; NULL when none.';
COMMENT ON COLUMN mlops."merges".combined IS  -- noqa: RF06
'Twins whose values a combine policy changed: [{"table", "relid", "row_key", "columns": {"col": {"old", "new"}}}] '
'(values as text); undo writes back "old" where the value is still "new".';
