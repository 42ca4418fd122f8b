-- mlops.dedup_detect_no_clusters: the result tables of a detection pass that clusters nothing (nothing changed since
-- the last run, or a pass that only trains a model), empty: callers read them whatever the pass did.

CREATE OR REPLACE FUNCTION mlops.dedup_detect_no_clusters()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CREATE TEMP TABLE mlops_dedup_members (
        cluster_id bigint, survivor_id bigint, member_id bigint, reason text, score real, rnk bigint,
        survivor_key text, member_key text
    );
    CREATE TEMP TABLE mlops_dedup_review (
        left_id bigint, right_id bigint, left_key text, right_key text, score real, reason text,
        levels smallint[], model_id bigint
    );
END;
$$;

COMMENT ON FUNCTION mlops.dedup_detect_no_clusters() IS
'Internal, mlops.dedup_detect: creates its result tables empty, pg_temp.mlops_dedup_members (cluster_id, survivor_id, '
'member_id, reason, score, rnk, survivor_key, member_key) and pg_temp.mlops_dedup_review (left_id, right_id, '
'left_key, right_key, score, reason, levels, model_id), for a pass that clusters nothing.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_detect_no_clusters() FROM PUBLIC;
