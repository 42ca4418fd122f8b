-- mlops.duplicate_candidates_requeue: a pair judged distinct that is un-judged (its decision changed, or the queue
-- row deleted) may be a match again; incremental detection compares only rows in the change queue, so both rows go
-- there and the next run looks at the pair again, as a full pass would.

CREATE OR REPLACE FUNCTION mlops.duplicate_candidates_requeue()
RETURNS trigger
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF old.status = 'distinct' AND (tg_op = 'DELETE' OR new.status IS DISTINCT FROM 'distinct')
        AND EXISTS (SELECT FROM mlops.dedup_state AS s WHERE s.target = old.target) THEN
        INSERT INTO mlops.dedup_changes (target, key) VALUES (old.target, old.left_key), (old.target, old.right_key);
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.duplicate_candidates_requeue() IS
'Internal: AFTER UPDATE OR DELETE row trigger of mlops.duplicate_candidates: when a pair judged distinct is no '
'longer (status changed or row deleted) and its table keeps signatures, queues both keys in mlops.dedup_changes so '
'the next incremental run compares them again.';

REVOKE EXECUTE ON FUNCTION mlops.duplicate_candidates_requeue() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the tables exist once their migrations have run.
DO $$
BEGIN
    IF to_regclass('mlops.dedup_changes') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER duplicate_candidates_requeue_trg
        AFTER UPDATE OR DELETE ON mlops.duplicate_candidates
        FOR EACH ROW EXECUTE FUNCTION mlops.duplicate_candidates_requeue();
    END IF;
END;
$$;
