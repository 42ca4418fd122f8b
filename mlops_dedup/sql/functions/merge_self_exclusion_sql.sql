-- mlops.merge_self_exclusion_sql: for an FK of the target to itself, the condition (over alias r, and v for the
-- mapping) that leaves out rows that are losers themselves: every loser, or only losers of the same cluster.
-- A loser that points at a loser of its own cluster keeps its value: both go away together and undo together.
-- Empty for other tables. An anti-join, not "<> ALL (array)", so large batches stay linear.

CREATE OR REPLACE FUNCTION mlops.merge_self_exclusion_sql(
    p_target regclass, p_referencing regclass, p_same_cluster_only boolean
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_referencing <> p_target THEN
        RETURN '';
    END IF;
    RETURN format(
        ' AND NOT EXISTS (SELECT FROM unnest($1::text[], $2::text[]) AS o (loser_id, survivor_id)'
        ' WHERE %s%s)',
        mlops.key_match_sql(p_target, 'r', 'o.loser_id', false),
        CASE WHEN p_same_cluster_only THEN ' AND o.survivor_id = v.survivor_id' ELSE '' END
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_self_exclusion_sql(regclass, regclass, boolean) IS
'Internal: SQL condition that excludes loser rows from a self-referencing FK''s merge statements (all losers, or '
'only those of the same cluster); empty when the referencing table is not the target.';

REVOKE EXECUTE ON FUNCTION mlops.merge_self_exclusion_sql(regclass, regclass, boolean) FROM PUBLIC;
