-- mlops.linkage_estimate: estimates a learned rule's model from the detection pass's rows and candidate pairs into
-- pg_temp.mlops_linkage_model (comparison, level, label, m, u; comparison 0 is the prior). Fellegi-Sunter: a pair's
-- match weight is log2(prior / (1 - prior)) plus, per comparison, log2(m / u) of its level.
--   u (how often non-matches agree at a level): the exact level from the values' frequencies (the chance that two
--   rows drawn at random share a value), the other levels from p_random_pairs random pairs (a fixed seed: the same
--   data gives the same model).
--   m (how often matches do) and the prior (the share of matches among candidate pairs): expectation-maximisation
--   over the candidate pairs' level patterns, u held fixed, until nothing moves by 1e-5 (at most 100 rounds).
--   Review decisions (pairs scored by a model of the same comparisons, queued and decided by roles that may merge the
--   table: mlops.linkage_label_trusted) are labels: a pair decided 'merged' is one more observed match for m.
--   (Detection also scores pairs of the same levels between the model and the decisions:
--   mlops.linkage_labelled_probability.)
--   Blocking: a candidate pair agrees on the values that made it one. In the E step that agreement is not evidence
--   (every candidate has it), and a comparison's m comes from the pairs that agree on two other comparisons.
--   The prior a score starts from is over all pairs of rows (random_pair_prior), as u is.
-- Sources: Fellegi and Sunter, "A Theory for Record Linkage", JASA 1969; Winkler, "Using the EM Algorithm for Weight
-- Computation in the Fellegi-Sunter Model of Record Linkage", 1988; u from random pairs and EM with u fixed as Splink
-- does (Linacre et al., Splink, 2022).

CREATE OR REPLACE FUNCTION mlops.linkage_estimate(
    p_target regclass,
    p_kinds text[],
    p_fingerprint text,
    p_seed integer,
    p_random_pairs integer,
    OUT prior double precision,
    OUT random_pair_prior double precision,
    OUT iterations integer,
    OUT converged boolean,
    OUT random_pairs bigint,
    OUT labelled_matches integer,
    OUT labelled_distinct integer
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_n CONSTANT integer := cardinality(p_kinds);
    v_rows bigint;
    v_moved double precision;
    v_prior double precision;
    -- a level never seen among matches is rare, not impossible: half a pair of it is assumed (a Dirichlet prior),
    -- so a few hundred matches without a nickname do not make a nickname -20 bits
    v_pseudo CONSTANT double precision := 0.5;
    v_floor CONSTANT double precision := 1e-6;
    v_scratch text;
    v_short_kinds text[];
    v_long_kinds text[];
    v_level record;
    v_comparison integer;
    v_ratio double precision;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text,'
        ' cmp text[])';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_pairs (a bigint, b bigint, levels smallint[])';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_model (comparison integer, level smallint, label text,'
        ' m double precision, u double precision)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_random (levels smallint[])';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_patterns (pid bigint, levels smallint[], n bigint, matches bigint,'
        ' non_matches bigint, w double precision)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_pattern_levels (pid bigint, comparison integer, level smallint,'
        ' unbiased boolean, selected boolean)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_m (comparison integer, level smallint, m double precision)';
    -- scratch tables of an earlier pass in this session (to_regclass: no NOTICE when there are none)
    FOR v_scratch IN
        SELECT x.name FROM unnest(ARRAY['mlops_linkage_model', 'mlops_linkage_random', 'mlops_linkage_patterns',
            'mlops_linkage_pattern_levels', 'mlops_linkage_m']) AS x (name)
        WHERE to_regclass('pg_temp.' || x.name) IS NOT NULL
    LOOP
        EXECUTE format('DROP TABLE pg_temp.%I', v_scratch);
    END LOOP;
    SELECT count(*) INTO v_rows FROM pg_temp.mlops_dedup_rows;

    -- every level of every comparison, u from random pairs (smoothed: half a pair per level). Long texts cost a
    -- trigram similarity each (~0.1 ms a pair for 1.5 KB): they are compared on the first tenth of the pairs only.
    random_pairs := least(p_random_pairs::bigint, v_rows * (v_rows - 1) / 2);
    SELECT array_agg(CASE WHEN k.long THEN 'none' ELSE k.kind END ORDER BY k.i),
        array_agg(CASE WHEN k.long THEN k.kind ELSE 'none' END ORDER BY k.i)
    INTO v_short_kinds, v_long_kinds
    FROM (
        SELECT k.kind, k.i, k.kind = 'text' AND (
            SELECT avg(char_length(s.v)) FROM (
                SELECT r.cmp[k.i] AS v FROM pg_temp.mlops_dedup_rows AS r WHERE r.cmp[k.i] IS NOT NULL LIMIT 1000
            ) AS s
        ) > 30 AS long
        FROM unnest(p_kinds) WITH ORDINALITY AS k (kind, i)
    ) AS k;
    FOR v_pass IN 1..2 LOOP
        CONTINUE WHEN v_pass = 2 AND v_long_kinds <@ ARRAY['none'];
        EXECUTE format(
            $q$
            %5$s
            SELECT %1$s AS levels
            FROM (
                SELECT 1 + abs(pg_catalog.hashint8extended(g, %2$s)) %% %3$s AS a,
                    1 + abs(pg_catalog.hashint8extended(g, %2$s + 1)) %% %3$s AS b
                FROM generate_series(1, %4$s) AS g
            ) AS x
            INNER JOIN pg_temp.mlops_dedup_rows AS ra ON ra.rnk = x.a
            INNER JOIN pg_temp.mlops_dedup_rows AS rb ON rb.rnk = x.b
            WHERE x.a <> x.b
            $q$,
            mlops.comparison_levels_sql(CASE v_pass WHEN 1 THEN v_short_kinds ELSE v_long_kinds END, 'ra.cmp',
                'rb.cmp'),
            p_seed, greatest(v_rows, 1), CASE v_pass WHEN 1 THEN random_pairs ELSE greatest(random_pairs / 10, 1) END,
            CASE v_pass WHEN 1 THEN 'CREATE TEMP TABLE mlops_linkage_random AS'
                ELSE 'INSERT INTO pg_temp.mlops_linkage_random (levels)' END
        );
        IF v_pass = 1 THEN
            GET DIAGNOSTICS random_pairs = ROW_COUNT;
        END IF;
    END LOOP;
    CREATE TEMP TABLE mlops_linkage_model AS
    WITH levels AS (
        SELECT c.i AS comparison, (l.n - 1)::smallint AS level, l.label,
            cardinality(mlops.comparison_level_labels(c.kind)) - 1 AS top
        FROM unnest(p_kinds) WITH ORDINALITY AS c (kind, i)
        CROSS JOIN LATERAL unnest(mlops.comparison_level_labels(c.kind)) WITH ORDINALITY AS l (label, n)
    ),
    -- the exact level: the chance that two rows drawn at random share a value
    exact AS (
        SELECT c.i AS comparison,
            greatest(sum(f.k * (f.k - 1))::double precision / nullif(sum(f.k) * (sum(f.k) - 1), 0), 0) AS u,
            sum(f.k) AS valued
        FROM generate_series(1, v_n) AS c (i)
        CROSS JOIN LATERAL (
            SELECT count(*)::double precision AS k FROM pg_temp.mlops_dedup_rows AS r
            WHERE r.cmp[c.i] IS NOT NULL GROUP BY r.cmp[c.i]
        ) AS f
        GROUP BY c.i
    ),
    seen AS (
        SELECT x.i AS comparison, x.level, sum(p.k) AS k
        FROM (SELECT r.levels, count(*) AS k FROM pg_temp.mlops_linkage_random AS r GROUP BY r.levels) AS p
        CROSS JOIN LATERAL unnest(p.levels) WITH ORDINALITY AS x (level, i)
        WHERE x.level IS NOT NULL
        GROUP BY x.i, x.level
    )
    SELECT l.comparison::integer, l.level, l.label, NULL::double precision AS m,
        -- (a level every random pair shows leaves the others none: they get the floor)
        greatest(CASE WHEN l.level = l.top
            -- never seen twice: as if one pair in all had it
            THEN greatest(coalesce(e.u, 0), 1 / greatest(coalesce(e.valued, 2) * (coalesce(e.valued, 2) - 1), 2))
            ELSE (1 - coalesce(e.u, 0)) * (coalesce(s.k, 0) + 0.5) / (
                SELECT sum(coalesce(s2.k, 0) + 0.5) FROM levels AS l2
                LEFT JOIN seen AS s2 ON s2.comparison = l2.comparison AND s2.level = l2.level
                WHERE l2.comparison = l.comparison AND l2.level < l2.top
            )
        END, v_floor) AS u
    FROM levels AS l
    LEFT JOIN exact AS e ON e.comparison = l.comparison
    LEFT JOIN seen AS s ON s.comparison = l.comparison AND s.level = l.level AND l.level < l.top;
    DROP TABLE pg_temp.mlops_linkage_random;

    -- the candidate pairs' patterns, and the review decisions on pairs scored by a model of the same comparisons
    CREATE TEMP TABLE mlops_linkage_patterns AS
    SELECT row_number() OVER () AS pid, x.levels, sum(x.n)::bigint AS n, sum(x.matches)::bigint AS matches,
        sum(x.non_matches)::bigint AS non_matches, NULL::double precision AS w
    FROM (
        SELECT p.levels, count(*) AS n, 0 AS matches, 0 AS non_matches
        FROM pg_temp.mlops_linkage_pairs AS p GROUP BY p.levels
        UNION ALL
        SELECT l.levels, 0, l.matches, l.non_matches
        FROM mlops.linkage_labels(p_target, p_fingerprint) AS l
        WHERE cardinality(l.levels) = v_n
    ) AS x
    GROUP BY x.levels;
    SELECT coalesce(sum(p.matches), 0), coalesce(sum(p.non_matches), 0) INTO labelled_matches, labelled_distinct
    FROM pg_temp.mlops_linkage_patterns AS p;
    -- unbiased: whether the pair agrees exactly on two comparisons besides this one, so it would have been a
    -- candidate whatever this comparison says
    CREATE TEMP TABLE mlops_linkage_pattern_levels AS
    SELECT y.pid, y.comparison, y.level, y.exact_elsewhere >= 2 AS unbiased,
        y.level = y.top AND y.exact_elsewhere <= 1 AS selected
    FROM (
        SELECT x.pid, x.comparison, x.level, x.top,
            sum((x.level = x.top)::integer) OVER (PARTITION BY x.pid) - (x.level = x.top)::integer AS exact_elsewhere
        FROM (
            SELECT p.pid, z.i::integer AS comparison, z.level, t.top
            FROM pg_temp.mlops_linkage_patterns AS p
            CROSS JOIN LATERAL unnest(p.levels) WITH ORDINALITY AS z (level, i)
            INNER JOIN (
                SELECT o.comparison, max(o.level) AS top FROM pg_temp.mlops_linkage_model AS o GROUP BY o.comparison
            ) AS t ON t.comparison = z.i
            WHERE z.level IS NOT NULL
        ) AS x
    ) AS y;
    ANALYZE pg_temp.mlops_linkage_patterns;
    ANALYZE pg_temp.mlops_linkage_pattern_levels;

    -- start: matches agree (the top level 0.9), one candidate pair in ten a match
    UPDATE pg_temp.mlops_linkage_model AS o
    SET m = CASE WHEN o.level = t.top THEN 0.9 ELSE 0.1 / t.top END
    FROM (SELECT m2.comparison, max(m2.level) AS top FROM pg_temp.mlops_linkage_model AS m2 GROUP BY m2.comparison)
        AS t
    WHERE t.comparison = o.comparison;
    prior := 0.1;
    converged := false;
    iterations := 0;
    WHILE iterations < 100 AND NOT converged LOOP
        iterations := iterations + 1;
        -- E: each pattern's match probability (labelled pairs are observations of their own, below)
        UPDATE pg_temp.mlops_linkage_patterns AS p
        SET w = x.w
        FROM (
            SELECT p2.pid, 1 / (1 + (1 - prior) / prior * exp(-coalesce(sum(ln(o.m / o.u)), 0))) AS w
            FROM pg_temp.mlops_linkage_patterns AS p2
            -- agreement that made the pair a candidate (at most two exact comparisons: both were its blocking
            -- key) says nothing about whether it matches: every candidate has it
            LEFT JOIN pg_temp.mlops_linkage_pattern_levels AS pl ON pl.pid = p2.pid AND NOT pl.selected
            LEFT JOIN pg_temp.mlops_linkage_model AS o ON o.comparison = pl.comparison AND o.level = pl.level
            GROUP BY p2.pid
        ) AS x
        WHERE x.pid = p.pid;
        -- M: the prior over the candidate pairs; m over them and the pairs decided merged (decided distinct ones are
        -- non-matches: u, from random pairs, is not re-estimated)
        SELECT sum(p.n * p.w) / nullif(sum(p.n), 0) INTO v_prior FROM pg_temp.mlops_linkage_patterns AS p;
        v_prior := least(greatest(coalesce(v_prior, prior), 1e-9), 1 - 1e-9);
        IF iterations > 1 THEN
            DROP TABLE pg_temp.mlops_linkage_m;
        END IF;
        CREATE TEMP TABLE mlops_linkage_m AS
        SELECT o.comparison, o.level,
            -- a level no candidate pair shows (weighed) gets the floor; a comparison no pair has a value for keeps
            -- its m
            CASE WHEN sum(s.weight) OVER (PARTITION BY o.comparison) > 0
                THEN greatest((coalesce(s.weight, 0) + v_pseudo) / (sum(s.weight) OVER (PARTITION BY o.comparison)
                    + v_pseudo * count(*) OVER (PARTITION BY o.comparison)), v_floor)
                ELSE o.m END AS m
        FROM pg_temp.mlops_linkage_model AS o
        LEFT JOIN (
            -- a comparison's m from the candidate pairs that did not need it to be candidates (blocking on two other
            -- comparisons' values selects pairs that agree on those: counting them would make agreement look like
            -- a match), from all of them when there are none
            SELECT x.comparison, x.level,
                CASE WHEN bool_or(x.has_unbiased) OVER (PARTITION BY x.comparison) THEN x.unbiased ELSE x.everyone END
                    AS weight
            FROM (
                SELECT pl.comparison, pl.level, sum(p.n * p.w + p.matches) AS everyone,
                    sum(p.n * p.w + p.matches) FILTER (WHERE pl.unbiased) AS unbiased,
                    coalesce(sum(p.n * p.w + p.matches) FILTER (WHERE pl.unbiased), 0) > 0 AS has_unbiased
                FROM pg_temp.mlops_linkage_pattern_levels AS pl
                INNER JOIN pg_temp.mlops_linkage_patterns AS p ON p.pid = pl.pid
                GROUP BY pl.comparison, pl.level
            ) AS x
        ) AS s ON s.comparison = o.comparison AND s.level = o.level;
        SELECT max(abs(n.m - o.m)) INTO v_moved
        FROM pg_temp.mlops_linkage_m AS n
        INNER JOIN pg_temp.mlops_linkage_model AS o ON o.comparison = n.comparison AND o.level = n.level;
        UPDATE pg_temp.mlops_linkage_model AS o SET m = n.m
        FROM pg_temp.mlops_linkage_m AS n WHERE n.comparison = o.comparison AND n.level = o.level;
        converged := coalesce(v_moved, 0) < 1e-5 AND abs(v_prior - prior) < 1e-5;
        prior := v_prior;
    END LOOP;
    -- m sums to 1 per comparison after the floor
    UPDATE pg_temp.mlops_linkage_model AS o SET m = o.m / t.total
    FROM (SELECT m2.comparison, sum(m2.m) AS total FROM pg_temp.mlops_linkage_model AS m2 GROUP BY m2.comparison)
        AS t
    WHERE t.comparison = o.comparison;
    -- A closer level is never less evidence of a match than a farther one: weights are capped, from the top level
    -- down, at the level above's (m lowered to it). Estimates from few pairs say otherwise: 'different' for names of
    -- two or three letters, which random pairs never show, or an exact common name weighing less than a typo.
    FOR v_level IN
        SELECT o.comparison, o.level, o.m, o.u FROM pg_temp.mlops_linkage_model AS o
        ORDER BY o.comparison, o.level DESC
    LOOP
        IF v_level.comparison IS DISTINCT FROM v_comparison THEN
            v_comparison := v_level.comparison;
            v_ratio := v_level.m / v_level.u;
        ELSIF v_level.m / v_level.u > v_ratio THEN
            UPDATE pg_temp.mlops_linkage_model AS o SET m = o.u * v_ratio
            WHERE o.comparison = v_level.comparison AND o.level = v_level.level;
        ELSE
            v_ratio := v_level.m / v_level.u;
        END IF;
    END LOOP;
    -- ... and disagreeing never counts for a match
    UPDATE pg_temp.mlops_linkage_model AS o SET m = o.u WHERE o.level = 0 AND o.m > o.u;
    -- The prior a pair's score starts from is over all pairs, as u is: the matches EM expects among the candidate
    -- pairs, out of all pairs of rows (scoring then counts every comparison, the ones blocking agreed on too).
    SELECT least(greatest(prior * sum(p.n) / greatest(v_rows * (v_rows - 1) / 2.0, 1), 1e-12), 1 - 1e-9)
    INTO random_pair_prior
    FROM pg_temp.mlops_linkage_patterns AS p;
    random_pair_prior := coalesce(random_pair_prior, 1e-12);
    -- comparison 0: that prior, as a level whose weight is its odds
    INSERT INTO pg_temp.mlops_linkage_model (comparison, level, label, m, u)
    VALUES (0, 0, 'prior', random_pair_prior, 1 - random_pair_prior);
    DROP TABLE pg_temp.mlops_linkage_m;
    DROP TABLE pg_temp.mlops_linkage_pattern_levels;
    DROP TABLE pg_temp.mlops_linkage_patterns;
END;
$$;

COMMENT ON FUNCTION mlops.linkage_estimate(regclass, text[], text, integer, integer) IS
'Internal, detection of a learned rule: estimates the Fellegi-Sunter model of the pass (pg_temp.mlops_dedup_rows, '
'pg_temp.mlops_linkage_pairs) into pg_temp.mlops_linkage_model (comparison integer, level smallint, label text, '
'm double precision, u double precision; comparison 0 level 0 is the prior over all pairs: m = random_pair_prior, '
'u = 1 - random_pair_prior). u: exact '
'level from value frequencies, other levels from up to p_random_pairs random pairs (seed p_seed); m and prior: EM '
'over candidate pair patterns with u fixed, review decisions on pairs of models with fingerprint p_fingerprint as '
'labels. Returns prior (probability 0-1 that a candidate pair matches), random_pair_prior (that two rows drawn at '
'random match: the prior of comparison 0), iterations, converged, random_pairs, '
'labelled_matches, labelled_distinct. Sources: Fellegi and Sunter 1969; Winkler 1988.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_estimate(regclass, text[], text, integer, integer) FROM PUBLIC;
