-- Rules grant nothing: each rule records the role that wrote it and the evaluator compiled from its expressions,
-- a SECURITY DEFINER function owned by that role in schema mlops_rules, so the expressions run with the writer's
-- rights and never with those of whoever runs detection. The archive shows a role only rows of tables it may read.

ALTER TABLE mlops.dedup_rules
ADD COLUMN rule_owner regrole,
ADD COLUMN evaluator regprocedure;

COMMENT ON COLUMN mlops.dedup_rules.rule_owner IS
'The role that wrote the rule''s expressions (set by the rule trigger, never by the writer): they run with its rights.';
COMMENT ON COLUMN mlops.dedup_rules.evaluator IS
'The function compiled from the rule''s expressions (mlops_rules schema, owned by rule_owner, SECURITY DEFINER).';

CREATE SCHEMA mlops_rules;
REVOKE ALL ON SCHEMA mlops_rules FROM PUBLIC;
COMMENT ON SCHEMA mlops_rules IS
'Evaluators of mlops.dedup_rules, one per rule, each owned by the role that wrote the rule. Written only by the rule '
'trigger; nothing resolves names here.';

COMMENT ON TABLE mlops.dedup_rules IS
'How duplicates of one table are found and merged. exact_key, similar_text and block_key are single scalar SQL '
'expressions over the table''s row (alias t); the rule trigger compiles them, as the role writing the rule, into '
'the rule''s evaluator, and they only ever run with that role''s rights.';
COMMENT ON COLUMN mlops.dedup_rules.exact_key IS
'Expression over t: rows with the same non-NULL, non-empty value are duplicates (score 1). No ";", subquery, '
'aggregate, window, set-returning, volatile or temporary function; user functions schema-qualified.';
COMMENT ON COLUMN mlops.dedup_rules.keep_order IS
'Survivor order (first wins): a comma list of t.<column> [ASC|DESC] [NULLS FIRST|LAST], nothing else (it is rebuilt '
'from the column names, never run as written); NULL: most complete row, latest updated_at, lowest id.';

CREATE TYPE mlops.dedup_rule_values AS (
    ekey text,
    txt text,
    blk text
);

COMMENT ON TYPE mlops.dedup_rule_values IS
'What a rule''s evaluator returns for one row: exact key, text to compare, block key (each NULL when the rule has '
'none).';

ALTER TABLE mlops.merge_archive ENABLE ROW LEVEL SECURITY;

CREATE POLICY merge_archive_readable_target ON mlops.merge_archive
USING (pg_catalog.has_table_privilege(target, 'SELECT'));

COMMENT ON POLICY merge_archive_readable_target ON mlops.merge_archive IS
'A role that is not the package owner sees (and writes) archived rows only of tables it may SELECT.';
