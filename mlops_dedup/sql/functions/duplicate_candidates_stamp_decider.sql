-- mlops.duplicate_candidates_stamp_decider: BEFORE UPDATE trigger on mlops.duplicate_candidates. Whoever changes a
-- pair's status becomes its decided_by, whatever it wrote: a decision is a learned rule's label only when the role
-- behind it may merge the table (mlops.linkage_label_trusted), so the name must be the deciding role's own.

CREATE OR REPLACE FUNCTION mlops.duplicate_candidates_stamp_decider()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.decided_by := current_user;
    ELSE
        NEW.decided_by := OLD.decided_by;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.duplicate_candidates_stamp_decider() IS
'Internal: BEFORE UPDATE trigger of mlops.duplicate_candidates: decided_by becomes the updating role when status '
'changes, and stays as it was otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.duplicate_candidates_stamp_decider() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the column exists once its migration has run.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = to_regclass('mlops.duplicate_candidates') AND a.attname = 'decided_by' AND NOT a.attisdropped
    ) THEN
        CREATE OR REPLACE TRIGGER duplicate_candidates_stamp_decider_trg
        BEFORE UPDATE ON mlops.duplicate_candidates
        FOR EACH ROW EXECUTE FUNCTION mlops.duplicate_candidates_stamp_decider();
    END IF;
END;
$$;
