-- mlops.merge_archive_stamp_writer: BEFORE UPDATE trigger on mlops.merge_archive. A granted role may update archived
-- rows (undo corrects them; the routines run as it); whoever changes one becomes its recorded writer, so an undo
-- (which acts only on log rows written by roles with the undoing role's rights) never re-inserts a value a less
-- privileged role put there.

CREATE OR REPLACE FUNCTION mlops.merge_archive_stamp_writer()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.recorded_by := current_user;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.merge_archive_stamp_writer() IS
'Internal: BEFORE UPDATE trigger of mlops.merge_archive: the updating role becomes the row''s recorded_by.';

REVOKE EXECUTE ON FUNCTION mlops.merge_archive_stamp_writer() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.merge_archive') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER merge_archive_stamp_writer_trg
        BEFORE UPDATE ON mlops.merge_archive
        FOR EACH ROW EXECUTE FUNCTION mlops.merge_archive_stamp_writer();
    END IF;
END;
$$;
