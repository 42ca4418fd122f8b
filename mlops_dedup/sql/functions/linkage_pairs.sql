-- mlops.linkage_pairs: the candidate pairs of a learned rule's detection pass, with their comparison levels, into
-- pg_temp.mlops_linkage_pairs (a, b, levels). Blocking is derived from the comparisons, nothing to configure: rows
-- are candidates when they share the values of two comparisons (every pair of non-null values is a blocking key),
-- the value of one comparison that at most p_single_cap rows hold, or all their values. A key held by more than
-- p_pair_cap rows is a common combination, not evidence, and pairs nothing (identical rows beyond it pair with their
-- best row). Each row makes n(n-1)/2 + n + 1 keys for n comparisons, and each key at most p_pair_cap^2 / 2 pairs:
-- linear in the rows. A duplicate whose fields are mostly wrong or missing is missed: it needs two agreeing fields.
-- Source: multi-pass blocking (Hernandez and Stolfo, "The merge/purge problem for large databases", SIGMOD 1995),
-- with every pair of fields as a pass.

CREATE OR REPLACE FUNCTION mlops.linkage_pairs(p_kinds text[], p_pair_cap integer, p_single_cap integer)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_pairs bigint;
    v_n CONSTANT integer := cardinality(p_kinds);
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text,'
        ' cmp text[])';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_keys (id bigint, rnk bigint, h bigint, cap integer)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_members (id bigint, rnk bigint, h bigint, cap integer, df bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_pairs (a bigint, b bigint, levels smallint[])';
    IF to_regclass('pg_temp.mlops_linkage_keys') IS NOT NULL THEN
        DROP TABLE pg_temp.mlops_linkage_keys;
    END IF;
    IF to_regclass('pg_temp.mlops_linkage_members') IS NOT NULL THEN
        DROP TABLE pg_temp.mlops_linkage_members;
    END IF;
    IF to_regclass('pg_temp.mlops_linkage_pairs') IS NOT NULL THEN
        DROP TABLE pg_temp.mlops_linkage_pairs;
    END IF;
    -- blocking keys: 64-bit hashes of (comparisons, values, block key), each value hashed once per row; cap: how
    -- many rows may share the key
    CREATE TEMP TABLE mlops_linkage_keys AS
    WITH hashed AS (
        SELECT r.id, r.rnk, ARRAY(
            SELECT pg_catalog.hashtextextended(coalesce(r.blk, '') || chr(31) || c.v, c.i)
            FROM unnest(r.cmp) WITH ORDINALITY AS c (v, i) ORDER BY c.i
        ) AS hs, r.cmp::text || chr(31) || coalesce(r.blk, '') AS whole
        FROM pg_temp.mlops_dedup_rows AS r
    )
    SELECT x.id, x.rnk, pg_catalog.hashint8extended(x.hs[i], x.hs[j]) AS h, p_pair_cap AS cap
    FROM hashed AS x
    CROSS JOIN generate_series(1, v_n) AS i
    CROSS JOIN generate_series(1, v_n) AS j
    WHERE i < j AND x.hs[i] IS NOT NULL AND x.hs[j] IS NOT NULL
    UNION ALL
    SELECT x.id, x.rnk, x.hs[i], p_single_cap
    FROM hashed AS x
    CROSS JOIN generate_series(1, v_n) AS i
    WHERE x.hs[i] IS NOT NULL
    UNION ALL
    -- all values: identical rows always meet
    SELECT x.id, x.rnk, pg_catalog.hashtextextended(x.whole, 0), NULL
    FROM hashed AS x
    WHERE x.hs <> array_fill(NULL::bigint, ARRAY[v_n]);
    ANALYZE pg_temp.mlops_linkage_keys;
    -- the rows of keys that at least two rows share, with how many (a table, analyzed: the self-join below then
    -- hashes a known number of rows instead of sorting all keys)
    CREATE TEMP TABLE mlops_linkage_members AS
    SELECT k.id, k.rnk, k.h, k.cap, k.df
    FROM (SELECT k.*, count(*) OVER (PARTITION BY k.h) AS df FROM pg_temp.mlops_linkage_keys AS k) AS k
    WHERE k.df >= 2;
    ANALYZE pg_temp.mlops_linkage_members;
    DROP TABLE pg_temp.mlops_linkage_keys;

    -- pairs sharing a key, with their levels (computed once per pair)
    EXECUTE format(
        $q$
        CREATE TEMP TABLE mlops_linkage_pairs AS
        WITH candidates AS (
            SELECT m1.id AS a, m2.id AS b
            FROM pg_temp.mlops_linkage_members AS m1
            INNER JOIN pg_temp.mlops_linkage_members AS m2 ON m2.h = m1.h AND m2.id > m1.id
            WHERE m1.df <= coalesce(m1.cap, %1$s)
            UNION
            -- a group of identical rows too big to pair: each row with the group's best
            SELECT least(m.id, g.best), greatest(m.id, g.best)
            FROM (
                SELECT m.h, (array_agg(m.id ORDER BY m.rnk))[1] AS best
                FROM pg_temp.mlops_linkage_members AS m
                WHERE m.cap IS NULL AND m.df > %1$s
                GROUP BY m.h
            ) AS g
            INNER JOIN pg_temp.mlops_linkage_members AS m ON m.h = g.h AND m.id <> g.best
        )
        SELECT c.a, c.b, %2$s AS levels
        FROM candidates AS c
        INNER JOIN pg_temp.mlops_dedup_rows AS ra ON ra.id = c.a
        INNER JOIN pg_temp.mlops_dedup_rows AS rb ON rb.id = c.b
        $q$,
        p_pair_cap, mlops.comparison_levels_sql(p_kinds, 'ra.cmp', 'rb.cmp')
    );
    GET DIAGNOSTICS v_pairs = ROW_COUNT;
    DROP TABLE pg_temp.mlops_linkage_members;
    ANALYZE pg_temp.mlops_linkage_pairs;
    RETURN v_pairs;
END;
$$;

COMMENT ON FUNCTION mlops.linkage_pairs(text[], integer, integer) IS
'Internal, detection of a learned rule: from the pass''s rows (pg_temp.mlops_dedup_rows: id, rnk, cmp text[], blk), '
'makes pg_temp.mlops_linkage_pairs (a bigint, b bigint, levels smallint[]) of the candidate pairs (a < b, equal block '
'keys): rows sharing the values of two comparisons (keys held by at most p_pair_cap rows), of one comparison (at '
'most p_single_cap rows) or of all of them. Levels by mlops.comparison_levels_sql for kinds p_kinds. Returns the '
'number of candidate pairs.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_pairs(text[], integer, integer) FROM PUBLIC;
