-- mlops.merges_stamp_writer: BEFORE UPDATE trigger on mlops.merges. A granted role may update what undo reads
-- (filled, filled_text) and mark merges undone (the routines run as it): whoever changes them becomes the merge's
-- recorded writer (merged_by), so a more privileged role's undo refuses to write back its values; undone_by is
-- always the role that set undone_at; an undone merge stays undone.

CREATE OR REPLACE FUNCTION mlops.merges_stamp_writer()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.undone_at IS NOT NULL AND NEW.undone_at IS NULL THEN
        RAISE EXCEPTION 'merge % was undone at % by %; an undone merge stays undone', OLD.merge_id, OLD.undone_at,
            OLD.undone_by
            USING ERRCODE = 'insufficient_privilege',
            HINT = 'Merge the rows again to redo it.';
    END IF;
    IF NEW.undone_at IS DISTINCT FROM OLD.undone_at THEN
        NEW.undone_by := current_user;
    END IF;
    IF NEW.filled IS DISTINCT FROM OLD.filled OR NEW.filled_text IS DISTINCT FROM OLD.filled_text
        OR NEW.combined IS DISTINCT FROM OLD.combined THEN
        NEW.merged_by := current_user;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.merges_stamp_writer() IS
'Internal: BEFORE UPDATE trigger of mlops.merges: merged_by becomes the updating role when filled or filled_text '
'changes, undone_by the role that sets undone_at; refuses (42501) to mark an undone merge not undone.';

REVOKE EXECUTE ON FUNCTION mlops.merges_stamp_writer() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.merges') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER merges_stamp_writer_trg
        BEFORE UPDATE ON mlops.merges
        FOR EACH ROW EXECUTE FUNCTION mlops.merges_stamp_writer();
    END IF;
END;
$$;
