-- mlops.dedup_signatures_probe: the candidates of an incremental run. The changed rows' signatures
-- (pg_temp.mlops_dedup_sigs) are probed against the stored signatures of the table's other rows
-- (mlops.dedup_signatures, the changed rows' own removed first) and against each other, through the index on
-- (target, kind, sig): each probe costs what the changed rows share, not the table's size. The same rules as the
-- full pass: equal exact keys and identical texts; a shared sentence or word pair that at most p_df_cap rows have
-- (two shared, when both texts have four or more); for texts up to 80 characters, trigram prefix filtering.

CREATE OR REPLACE FUNCTION mlops.dedup_signatures_probe(p_target regclass, p_threshold real, p_df_cap integer)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for a second what runs in milliseconds (scratch tables' row estimates are rough)
SET jit = off
AS $$
DECLARE
    v_pairs bigint;
    -- past this many rows a trigram is common; the prefixes order trigrams by their counts up to it
    v_gram_count_cap CONSTANT integer := 1000;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_sigs (id bigint, key text, kind "char", sig bigint, n integer)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_key_pairs (ka text, kb text, via text)';
    IF to_regclass('pg_temp.mlops_dedup_key_pairs') IS NOT NULL THEN
        EXECUTE 'DROP TABLE pg_temp.mlops_dedup_key_pairs';
    END IF;
    CREATE TEMP TABLE mlops_dedup_key_pairs (ka text NOT NULL, kb text NOT NULL, via text NOT NULL);

    -- Equal exact keys and identical texts: every other row that has them (they are grouped by detection).
    -- (LATERAL ... OFFSET 0: one index probe per signature, whatever the planner thinks the table holds: the store's
    -- statistics lag behind its writes)
    INSERT INTO pg_temp.mlops_dedup_key_pairs (ka, kb, via)
    SELECT DISTINCT f.key, s.key, 'exact'
    FROM pg_temp.mlops_dedup_sigs AS f
    CROSS JOIN LATERAL (
        SELECT s.key FROM mlops.dedup_signatures AS s
        WHERE s.target = p_target AND s.kind = f.kind AND s.sig = f.sig
        OFFSET 0
    ) AS s
    WHERE f.kind IN ('k', 't')
    UNION
    SELECT f.key, g.key, 'exact'
    FROM pg_temp.mlops_dedup_sigs AS f
    INNER JOIN pg_temp.mlops_dedup_sigs AS g ON g.kind = f.kind AND g.sig = f.sig AND g.key <> f.key
    WHERE f.kind IN ('k', 't');

    -- Sentences and word pairs: a token's rows are read up to the cap (a boilerplate sentence costs p_df_cap + 1
    -- index entries, whatever its count); the changed rows were removed from the store, so none counts twice.
    INSERT INTO pg_temp.mlops_dedup_key_pairs (ka, kb, via)
    WITH wanted AS (
        SELECT DISTINCT f.sig FROM pg_temp.mlops_dedup_sigs AS f WHERE f.kind = 's'
    ),
    postings AS (
        SELECT w.sig, p.key, p.n
        FROM wanted AS w
        CROSS JOIN LATERAL (
            SELECT s.key, s.n FROM mlops.dedup_signatures AS s
            WHERE s.target = p_target AND s.kind = 's' AND s.sig = w.sig
            LIMIT p_df_cap + 1
        ) AS p
        UNION ALL
        SELECT f.sig, f.key, f.n FROM pg_temp.mlops_dedup_sigs AS f WHERE f.kind = 's'
    ),
    rare AS (
        SELECT p.sig FROM postings AS p GROUP BY p.sig HAVING count(*) BETWEEN 2 AND p_df_cap
    )
    SELECT f.key, p.key, 'text'
    FROM pg_temp.mlops_dedup_sigs AS f
    INNER JOIN rare AS r ON r.sig = f.sig
    INNER JOIN postings AS p ON p.sig = f.sig AND p.key <> f.key
    WHERE f.kind = 's'
    GROUP BY f.key, p.key
    HAVING count(*) >= CASE WHEN least(min(f.n), min(p.n)) >= 4 THEN 2 ELSE 1 END;

    -- Trigrams: a changed text keeps its n - ceil(t * n) + 1 rarest trigrams (counted up to a cap); any text whose
    -- Jaccard similarity with it is at least t has one of them, whatever the order (its overlap is at least t * n),
    -- so probing the prefix against every stored trigram is exact; sizes within a factor t.
    -- Source: Chaudhuri, Ganti, Kaushik, "A Primitive Operator for Similarity Joins in Data Cleaning" (ICDE 2006).
    INSERT INTO pg_temp.mlops_dedup_key_pairs (ka, kb, via)
    WITH wanted AS (
        SELECT DISTINCT f.sig FROM pg_temp.mlops_dedup_sigs AS f WHERE f.kind = 'g'
    ),
    counted AS (
        SELECT w.sig, (
            SELECT count(*) FROM (
                SELECT FROM mlops.dedup_signatures AS s
                WHERE s.target = p_target AND s.kind = 'g' AND s.sig = w.sig
                LIMIT v_gram_count_cap
            ) AS x
        ) AS df
        FROM wanted AS w
    ),
    prefix AS (
        SELECT y.key, y.sig, y.n
        FROM (
            SELECT f.key, f.sig, f.n, row_number() OVER (PARTITION BY f.key ORDER BY c.df, f.sig) AS pos
            FROM pg_temp.mlops_dedup_sigs AS f INNER JOIN counted AS c ON c.sig = f.sig
            WHERE f.kind = 'g'
        ) AS y
        WHERE y.pos <= y.n - ceil(p_threshold::numeric * y.n) + 1
    )
    SELECT DISTINCT p.key, q.key, 'text'
    FROM prefix AS p
    CROSS JOIN LATERAL (
        SELECT s.key, s.n FROM mlops.dedup_signatures AS s
        WHERE s.target = p_target AND s.kind = 'g' AND s.sig = p.sig
        UNION ALL
        SELECT g.key, g.n FROM pg_temp.mlops_dedup_sigs AS g WHERE g.kind = 'g' AND g.sig = p.sig
    ) AS q
    WHERE q.key <> p.key AND least(p.n, q.n) >= p_threshold::numeric * greatest(p.n, q.n);

    SELECT count(*) INTO v_pairs FROM pg_temp.mlops_dedup_key_pairs;
    RETURN v_pairs;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_signatures_probe(regclass, real, integer) IS
'Internal helper of mlops.dedup_detect''s incremental runs: probes the changed rows'' signatures '
'(pg_temp.mlops_dedup_sigs, mlops.dedup_signatures_make) against the table''s stored ones (mlops.dedup_signatures) '
'and each other into pg_temp.mlops_dedup_key_pairs (ka text, kb text, via text): ka a changed row''s key, kb another '
'row''s; via ''exact'' (equal exact key or identical text and block) or ''text'' (a sentence or word pair shared by '
'2 to p_df_cap rows, two of them when both texts have four or more; or, for texts up to 80 characters, a trigram of '
'ka''s prefix at Jaccard threshold p_threshold, 0-1, with sizes within that factor). Returns the number of pairs.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_signatures_probe(regclass, real, integer) FROM PUBLIC;
