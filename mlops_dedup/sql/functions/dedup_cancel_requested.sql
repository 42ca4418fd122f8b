-- mlops.dedup_cancel_requested: inside a handler of query_canceled (57014), tells a cancel request (Ctrl-C in psql or
-- the runner, pg_cancel_backend) from statement_timeout, which raises the same SQLSTATE: the timeout fires only once
-- the statement has run for as long as it allows. A cancel is the caller's choice (the run is recorded 'cancelled');
-- a timeout is a failure.

CREATE OR REPLACE FUNCTION mlops.dedup_cancel_requested()
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        current_setting('statement_timeout') = '0'
        OR clock_timestamp() - statement_timestamp() < current_setting('statement_timeout')::interval,
        true
    )
$$;

COMMENT ON FUNCTION mlops.dedup_cancel_requested() IS
'Internal helper of mlops.merge_duplicates, called where it catches query_canceled (57014): true when that came from '
'a cancel request (pg_cancel_backend, Ctrl-C), false when statement_timeout fired (the statement has run as long '
'as the setting allows). Returns boolean.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_cancel_requested() FROM PUBLIC;
