-- mlops.resolve_alert: a person says an open alert is dealt with; it stays in mlops.alerts, resolved, and the same
-- condition found again by a later check raises a new alert.

CREATE OR REPLACE FUNCTION mlops.resolve_alert(p_alert_id bigint)
RETURNS mlops.alerts
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_alert mlops.alerts;
BEGIN
    IF p_alert_id IS NULL THEN
        RAISE EXCEPTION 'alert id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE mlops.alerts AS a SET resolved_at = clock_timestamp(), resolved_by = current_user
    WHERE a.alert_id = p_alert_id AND a.resolved_at IS NULL
    RETURNING a.* INTO v_alert;
    IF v_alert.alert_id IS NULL THEN
        SELECT a.* INTO v_alert FROM mlops.alerts AS a WHERE a.alert_id = p_alert_id;
        IF v_alert.alert_id IS NULL THEN
            RAISE EXCEPTION 'alert % does not exist', p_alert_id
                USING ERRCODE = 'no_data_found',
                HINT = 'SELECT alert_id, kind, message FROM mlops.alerts WHERE resolved_at IS NULL lists the open ones '
                    '(an alert about a table you may not read is not visible to you).';
        END IF;
        IF v_alert.resolved_at IS NULL THEN
            RAISE EXCEPTION 'alert % is about %, which role % may not change', p_alert_id, v_alert.target,
                current_user
                USING ERRCODE = 'insufficient_privilege',
                HINT = 'Alerts are resolved by roles that may merge their table (UPDATE on it).';
        END IF;
        RAISE EXCEPTION 'alert % was already resolved at % by %', p_alert_id, v_alert.resolved_at,
            v_alert.resolved_by
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN v_alert;
END;
$$;

COMMENT ON FUNCTION mlops.resolve_alert(bigint) IS
'Resolves an open alert (resolved_at, resolved_by = the caller) and returns its row (mlops.alerts). Errors: NULL id '
'22004; no such alert, or one about a table the caller may not read, P0002; one about a table the caller may not '
'change (UPDATE) 42501; already resolved 55000.';

REVOKE EXECUTE ON FUNCTION mlops.resolve_alert(bigint) FROM PUBLIC;
