-- mlops.alerts_stamp_resolver: BEFORE UPDATE trigger on mlops.alerts. resolved_by is always the role that resolved
-- the alert, and a resolved alert stays resolved (the same condition found again raises a new alert).

CREATE OR REPLACE FUNCTION mlops.alerts_stamp_resolver()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.resolved_at IS NOT NULL AND (NEW.resolved_at IS DISTINCT FROM OLD.resolved_at
        OR NEW.resolved_by IS DISTINCT FROM OLD.resolved_by) THEN
        RAISE EXCEPTION 'alert % was resolved at % by %; a resolved alert stays resolved', OLD.alert_id,
            OLD.resolved_at, OLD.resolved_by
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NEW.resolved_at IS DISTINCT FROM OLD.resolved_at OR NEW.resolved_by IS DISTINCT FROM OLD.resolved_by THEN
        NEW.resolved_by := current_user;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.alerts_stamp_resolver() IS
'Internal: BEFORE UPDATE trigger of mlops.alerts: resolved_by becomes the updating role when the alert is resolved; '
'an alert resolved once cannot be reopened or re-resolved (55000).';

REVOKE EXECUTE ON FUNCTION mlops.alerts_stamp_resolver() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.alerts') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER alerts_stamp_resolver_trg
        BEFORE UPDATE ON mlops.alerts
        FOR EACH ROW EXECUTE FUNCTION mlops.alerts_stamp_resolver();
    END IF;
END;
$$;
