-- mlops.merge_losers_record: AFTER INSERT (per statement) and AFTER UPDATE OF target, loser_keys (per row) trigger
-- on mlops.merges: writes each (table, loser key, merge) into mlops.merge_losers, the btree index of the merge log
-- that every "which merge took this key" lookup probes. Runs as the merging role (it needs INSERT there).

CREATE OR REPLACE FUNCTION mlops.merge_losers_record()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        -- one statement of merges (a batch writes one row per cluster): one insert
        INSERT INTO mlops.merge_losers (target, loser_key, merge_id)
        SELECT DISTINCT n.target, u.loser_key, n.merge_id
        FROM mlops_new_merges AS n CROSS JOIN LATERAL unnest(n.loser_keys) AS u (loser_key)
        WHERE u.loser_key IS NOT NULL;
        RETURN NULL;
    END IF;
    -- a merge row whose table or keys were changed (only the table's owner may): its new keys are indexed too; the
    -- old rows stay and are ignored by readers, who check the merge row's loser_keys
    INSERT INTO mlops.merge_losers (target, loser_key, merge_id)
    SELECT DISTINCT NEW.target, u.loser_key, NEW.merge_id
    FROM unnest(NEW.loser_keys) AS u (loser_key)
    WHERE u.loser_key IS NOT NULL
        AND NOT EXISTS (
            SELECT FROM mlops.merge_losers AS l
            WHERE l.target = NEW.target AND l.loser_key = u.loser_key AND l.merge_id = NEW.merge_id
        );
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.merge_losers_record() IS
'Internal: AFTER INSERT statement trigger (transition table mlops_new_merges) and AFTER UPDATE OF target, '
'loser_keys row trigger of mlops.merges: inserts one mlops.merge_losers row per (target, loser key, merge_id) of the '
'new or changed merge rows. Needs INSERT on mlops.merge_losers (granted with usage).';

REVOKE EXECUTE ON FUNCTION mlops.merge_losers_record() FROM PUBLIC;

-- Created once, with the rows of merges logged since the migration filled mlops.merge_losers (its table exists once
-- migration 0013 has run): the trigger's lock on mlops.merges makes the two one step.
DO $$
BEGIN
    IF to_regclass('mlops.merge_losers') IS NOT NULL AND NOT EXISTS (
        SELECT FROM pg_catalog.pg_trigger AS g
        WHERE g.tgrelid = 'mlops.merges'::regclass AND g.tgname = 'merges_losers_insert_trg'
    ) THEN
        CREATE TRIGGER merges_losers_insert_trg
        AFTER INSERT ON mlops.merges
        REFERENCING NEW TABLE AS mlops_new_merges
        FOR EACH STATEMENT EXECUTE FUNCTION mlops.merge_losers_record();
        CREATE TRIGGER merges_losers_update_trg
        AFTER UPDATE OF target, loser_keys ON mlops.merges
        FOR EACH ROW EXECUTE FUNCTION mlops.merge_losers_record();
        INSERT INTO mlops.merge_losers (target, loser_key, merge_id)
        SELECT DISTINCT m.target, u.loser_key, m.merge_id
        FROM mlops.merges AS m CROSS JOIN LATERAL unnest(m.loser_keys) AS u (loser_key)
        WHERE u.loser_key IS NOT NULL
            AND NOT EXISTS (
                SELECT FROM mlops.merge_losers AS l
                WHERE l.target = m.target AND l.loser_key = u.loser_key AND l.merge_id = m.merge_id
            );
    END IF;
END;
$$;
