-- mlops.dedup_detect: the detection pass of a table's rule, into session temp tables: mlops_dedup_members (the
-- clusters a merge would make) and mlops_dedup_review (pairs for the review queue). Reads the table, changes nothing.
-- Values are compared as mlops.normalize_text spells them (any locale; keys keep their case; blank and placeholder
-- values are no evidence). Candidates: exact keys by grouping; texts over 40 characters by shared sentence hashes
-- (or word pairs, for one sentence) with a document-frequency cap; texts up to 80 characters by trigram prefix
-- filtering (exact at the threshold). Similarity only verifies candidates (pg_trgm's, or the package's trigrams
-- where pg_trgm sees no letter). An exact-key pair whose texts disagree goes to review. Clusters are stars.
-- A learned rule (comparisons) replaces steps 2 and 3: candidate pairs from pairs of its comparisons' values, scored
-- by its model (mlops.dedup_linkage_edges); p_train re-estimates and stores the model and stops there.
-- Incremental (merge_duplicates): only rows changed since the last run are compared, with the rows their stored
-- signatures may match; the whole table when nothing is stored, the rule changed, or p_full.
-- Rows are numbered by a bigint: the key itself when it is an integer, else the row's place in key order (with the
-- key's text beside it), so every step works on bigints whatever the key type; keys come back as text at the end.

CREATE OR REPLACE FUNCTION mlops.dedup_detect(
    p_target regclass,
    p_incremental boolean DEFAULT FALSE,
    p_full boolean DEFAULT FALSE,
    p_train boolean DEFAULT FALSE,
    p_seed integer DEFAULT 1,
    OUT live_rows bigint,
    OUT candidate_pairs bigint,
    OUT members bigint,
    OUT review_pairs bigint,
    OUT changed_rows bigint,
    OUT full_pass boolean,
    OUT model_id bigint
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for a second what runs in milliseconds (scratch tables' row estimates are rough)
SET jit = off
AS $$
DECLARE
    v_rule mlops.dedup_rules;
    v_key text;
    v_integer boolean;
    v_evaluator text;
    v_order text;
    v_state text;
    v_live text := 'true';
    v_changed bigint;
    v_scratch text;
    v_similarity text;
    v_placeholders text[];
    -- a token shared by more rows than this is boilerplate ("Thank you for your consideration."), not evidence
    v_df_cap CONSTANT integer := 100;
    -- an exact-key group up to this size is linked pairwise, a bigger one as a star around its best row
    v_pairwise_group CONSTANT integer := 50;
    -- what the stored signatures were made with: the rule, and this detector's version of them
    v_fingerprint text;
    v_keep boolean := false;
    v_source text;
    v_linkage record;
    v_levels text := 'NULL::smallint[]';
BEGIN
    -- the session temp tables, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text,'
        ' cmp text[])';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_texts (id bigint, rep bigint, size bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_grams (id bigint, g bigint, n integer)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_candidates (a bigint, b bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_edges (a bigint, b bigint, score real, reason text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_pairs (a bigint, b bigint, score real, reason text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_judged (a bigint, b bigint, is_distinct boolean)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_tokens (id bigint, h bigint, n integer)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_changed (row_ctid tid, key text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_load (key text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_removed (sig bigint, n bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_fresh (id bigint, key text, ekey text, txt text, blk text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_sigs (id bigint, key text, kind "char", sig bigint, n integer)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_key_pairs (ka text, kb text, via text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_nodes (id bigint, rnk bigint, survivor_id bigint, decided boolean)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_members (cluster_id bigint, survivor_id bigint, member_id bigint,'
        ' reason text, score real, rnk bigint, survivor_key text, member_key text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_review (left_id bigint, right_id bigint, left_key text, right_key text,'
        ' score real, reason text, levels smallint[], model_id bigint)';
    PERFORM mlops.assert_table(p_target);
    SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF v_rule.target IS NULL THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, exact_key, similar_text) VALUES (...).';
    END IF;
    PERFORM mlops.key_refusal(p_target, true);
    v_key := mlops.key_column(p_target);
    v_integer := mlops.key_is_integer(p_target);
    IF EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_target AND a.attname = 'deleted_at' AND NOT a.attisdropped
    ) THEN
        v_live := 't.deleted_at IS NULL';
    END IF;
    -- Where pg_trgm sees no letter outside ASCII (LC_CTYPE 'C'), texts with such letters are compared with the
    -- package's own trigrams (mlops.text_similarity: the same trigram sets pg_trgm makes in a UTF-8 locale).
    v_similarity := mlops.text_similarity_sql('ra.txt', 'rb.txt');
    v_placeholders := v_rule.placeholders;

    -- Scratch tables of an earlier pass in this session go first (to_regclass: no NOTICE when there are none).
    FOR v_scratch IN
        SELECT x.name FROM unnest(ARRAY['mlops_dedup_rows', 'mlops_dedup_tokens', 'mlops_dedup_edges',
            'mlops_dedup_pairs', 'mlops_dedup_judged', 'mlops_dedup_nodes', 'mlops_dedup_members',
            'mlops_dedup_review', 'mlops_dedup_texts', 'mlops_dedup_grams', 'mlops_dedup_candidates',
            'mlops_dedup_changed', 'mlops_dedup_fresh', 'mlops_dedup_load', 'mlops_dedup_sigs',
            'mlops_dedup_key_pairs', 'mlops_dedup_removed']) AS x (name)
        WHERE to_regclass('pg_temp.' || x.name) IS NOT NULL
    LOOP
        EXECUTE format('DROP TABLE pg_temp.%I', v_scratch);
    END LOOP;

    -- 0. An incremental run (merge_duplicates) reads the changes captured since the last run (the queue as this
    --    snapshot sees it; what commits later stays for the next run) and probes only those rows, when the stored
    --    signatures are complete and were made by this rule. Otherwise, and always for find_duplicates and dry
    --    runs (they store nothing), the whole table is read.
    full_pass := true;
    -- (a learned rule reads the whole table: its blocking keys are not stored)
    IF p_incremental AND v_rule.incremental AND v_rule.comparisons IS NULL AND mlops.dedup_changes_captured(p_target)
    THEN
        v_keep := true;
        -- the rule as detection reads it (placeholders too) and this version of the signatures
        v_fingerprint := mlops.dedup_rule_fingerprint(p_target) || md5(coalesce(v_rule.placeholders::text, ''))
            || ' signatures 2';
        CREATE TEMP TABLE mlops_dedup_changed AS
        SELECT c.ctid AS row_ctid, c.key FROM mlops.dedup_changes AS c WHERE c.target = p_target;
        full_pass := p_full OR NOT coalesce((
            SELECT s.complete AND s.fingerprint = v_fingerprint FROM mlops.dedup_state AS s
            WHERE s.target = p_target
        ), false) OR EXISTS (SELECT FROM pg_temp.mlops_dedup_changed AS c WHERE c.key IS NULL);
    END IF;

    IF NOT full_pass THEN
        -- The changed keys: the queue holds them as the trigger read them; they are compared as the key type's
        -- values and kept as the log's text.
        BEGIN
            EXECUTE format(
                'CREATE TEMP TABLE mlops_dedup_load AS SELECT DISTINCT %s AS key FROM pg_temp.mlops_dedup_changed AS c',
                mlops.key_text_sql(p_target, format('(c.key)::%s', mlops.key_type_sql(p_target)))
            );
            GET DIAGNOSTICS changed_rows = ROW_COUNT;
        EXCEPTION
            WHEN data_exception THEN
                -- a queued key this session cannot read back as the key type: the whole table is read instead
                full_pass := true;
        END;
    END IF;
    -- Most of the table changed (an UPDATE of every row): reading it whole is cheaper than probing each row.
    IF NOT full_pass AND changed_rows > 0.3 * greatest((
        SELECT c.reltuples FROM pg_catalog.pg_class AS c WHERE c.oid = p_target
    ), 100) THEN
        full_pass := true;
    END IF;
    IF NOT full_pass THEN
        EXECUTE 'ANALYZE pg_temp.mlops_dedup_load';
        IF changed_rows = 0 THEN
            -- nothing changed since the last run: nothing to compare
            live_rows := 0;
            candidate_pairs := 0;
            members := 0;
            review_pairs := 0;
            PERFORM mlops.dedup_detect_no_clusters();
            RETURN;
        END IF;
    END IF;

    -- 1. Rows with their rank in keep_order and the rule's values. No rule text reaches this SQL: the values
    --    come from the rule's evaluator, which runs as the rule's owner (checked just before), and keep_order is
    --    rebuilt from column names. Whatever the evaluator's owner leaves in this session is an error.
    v_evaluator := mlops.dedup_rule_runnable_evaluator(p_target);
    v_order := mlops.dedup_rule_keep_order_sql(p_target, v_rule.keep_order);
    v_state := mlops.dedup_rule_session_state();
    IF NOT full_pass THEN
        -- 1a. The changed rows' values and signatures (a deleted row has none), their stored signatures removed,
        --     then probed against the other rows' (mlops.dedup_signatures_probe).
        EXECUTE format(
            'CREATE TEMP TABLE mlops_dedup_fresh AS'
            ' SELECT NULL::bigint AS id, %1$s AS key, %5$s AS ekey, %6$s AS txt, %7$s AS blk'
            ' FROM pg_temp.mlops_dedup_load AS l INNER JOIN %2$s AS t ON %8$s'
            ' CROSS JOIN LATERAL %3$s(t.*) AS v WHERE %4$s',
            mlops.key_text_sql(p_target, format('t.%I', v_key)), p_target, v_evaluator, v_live,
            mlops.dedup_value_sql('v.ekey', v_placeholders, false), mlops.dedup_value_sql('v.txt', v_placeholders),
            mlops.dedup_value_sql('v.blk', v_placeholders), mlops.key_match_sql(p_target, 't', 'l.key', false)
        );
        EXECUTE 'ANALYZE pg_temp.mlops_dedup_fresh';
        CREATE TEMP TABLE mlops_dedup_removed AS
        WITH gone AS (
            DELETE FROM mlops.dedup_signatures AS s
            WHERE s.target = p_target AND s.key = ANY (ARRAY(SELECT l.key FROM pg_temp.mlops_dedup_load AS l))
            RETURNING s.kind, s.sig
        )
        SELECT g.sig, count(*) AS n FROM gone AS g WHERE g.kind = 's' GROUP BY g.sig;
        PERFORM mlops.dedup_signatures_make('mlops_dedup_fresh');
        -- A sentence the changed rows shared with more than v_df_cap rows, and no longer: in a full pass the rows
        -- still holding it now pair on it, so they are probed too, with their stored signatures.
        PERFORM mlops.dedup_signatures_uncapped(p_target, v_df_cap, true);
        PERFORM mlops.dedup_signatures_probe(p_target, (v_rule.review_threshold - 0.01)::real, v_df_cap);
        -- 1b. The rows to compare: the changed ones, the rows they may match, and the rows whose text is identical
        --     to one of those (detection links identical texts all together).
        EXECUTE 'TRUNCATE pg_temp.mlops_dedup_load';
        INSERT INTO pg_temp.mlops_dedup_load (key)
        SELECT f.key FROM pg_temp.mlops_dedup_fresh AS f
        UNION
        SELECT g.key FROM pg_temp.mlops_dedup_sigs AS g
        UNION
        SELECT p.kb FROM pg_temp.mlops_dedup_key_pairs AS p
        UNION
        SELECT s2.key
        FROM pg_temp.mlops_dedup_key_pairs AS p
        -- (LATERAL ... OFFSET 0: index probes, whatever the store's lagging statistics say)
        CROSS JOIN LATERAL (
            SELECT s1.sig FROM mlops.dedup_signatures AS s1
            WHERE s1.target = p_target AND s1.key = p.kb AND s1.kind = 't'
            OFFSET 0
        ) AS s1
        CROSS JOIN LATERAL (
            SELECT s2.key FROM mlops.dedup_signatures AS s2
            WHERE s2.target = p_target AND s2.kind = 't' AND s2.sig = s1.sig
            OFFSET 0
        ) AS s2;
        EXECUTE 'ANALYZE pg_temp.mlops_dedup_load';
        v_source := format(
            'pg_temp.mlops_dedup_load AS l INNER JOIN %s AS t ON %s',
            p_target, mlops.key_match_sql(p_target, 't', 'l.key', false)
        );
    ELSE
        v_source := format('%s AS t', p_target);
    END IF;
    --    An integer key is the row's number itself (no text, no second sort); any other key is numbered in the key
    --    type's order (so the lower number is the lower key; in an incremental run, among the rows compared) and
    --    kept beside it as text (mlops.key_text_sql). Values as mlops.normalize_text spells them; blank ones and
    --    the rule's placeholders are NULL (no evidence).
    EXECUTE format(
        'CREATE TEMP TABLE mlops_dedup_rows AS'
        ' SELECT %1$s AS id, row_number() OVER (ORDER BY %2$s) AS rnk, %7$s AS ekey, %8$s AS txt,'
        ' %9$s AS blk, %6$s AS key, %10$s AS cmp'
        ' FROM %3$s CROSS JOIN LATERAL %4$s(t.*) AS v WHERE %5$s',
        CASE WHEN v_integer THEN format('t.%I::bigint', v_key) ELSE format('row_number() OVER (ORDER BY t.%I)', v_key)
            END,
        v_order, v_source, v_evaluator, v_live,
        CASE WHEN v_integer THEN 'NULL::text' ELSE mlops.key_text_sql(p_target, format('t.%I', v_key)) END,
        mlops.dedup_value_sql('v.ekey', v_placeholders, false), mlops.dedup_value_sql('v.txt', v_placeholders),
        mlops.dedup_value_sql('v.blk', v_placeholders),
        mlops.comparison_values_sql('v.cmp', v_rule.comparison_types, v_placeholders)
    );
    GET DIAGNOSTICS live_rows = ROW_COUNT;
    PERFORM mlops.dedup_rule_session_state(p_target, v_state, mlops.dedup_rule_session_state());
    EXECUTE 'ALTER TABLE pg_temp.mlops_dedup_rows ADD PRIMARY KEY (id)';
    EXECUTE 'ANALYZE pg_temp.mlops_dedup_rows';
    IF full_pass THEN
        changed_rows := live_rows;
    END IF;
    IF full_pass AND v_rule.comparisons IS NULL THEN
        -- every row's signatures: the candidates below are made from them, and an incremental rule keeps them
        PERFORM mlops.dedup_signatures_make('mlops_dedup_rows');
    END IF;
    IF v_keep THEN
        PERFORM mlops.dedup_signatures_store(p_target, full_pass, v_fingerprint);
    END IF;

    EXECUTE 'CREATE TEMP TABLE mlops_dedup_edges (a bigint NOT NULL, b bigint NOT NULL, score real NOT NULL,'
        ' reason text NOT NULL)';

    -- Pairs judged distinct in the review queue, among the compared rows, found by their keys (as text: the queue
    -- was written with the same text); they never pair again.
    EXECUTE format(
        $q$
        CREATE TEMP TABLE mlops_dedup_judged AS
        SELECT least(rl.id, rr.id) AS a, greatest(rl.id, rr.id) AS b, bool_or(d.status = 'distinct') AS is_distinct
        FROM pg_temp.mlops_dedup_rows AS rl
        INNER JOIN mlops.duplicate_candidates AS d ON d.target = %1$L::regclass AND d.left_key = %2$s
        INNER JOIN pg_temp.mlops_dedup_rows AS rr ON %3$s = d.right_key
        GROUP BY least(rl.id, rr.id), greatest(rl.id, rr.id)
        $q$,
        p_target,
        CASE WHEN v_integer THEN 'rl.id::text' ELSE 'rl.key' END,
        CASE WHEN v_integer THEN 'rr.id::text' ELSE 'rr.key' END
    );
    EXECUTE 'ANALYZE pg_temp.mlops_dedup_judged';

    -- A learned rule: candidate pairs from its comparisons, scored by its model (trained now when it has none, or
    -- p_train: then stored, unless this pass is read-only). Steps 2 and 3 are for keys and texts.
    IF v_rule.comparisons IS NOT NULL THEN
        SELECT l.* INTO v_linkage
        FROM mlops.dedup_linkage_edges(v_rule, p_train, p_train OR p_incremental, p_seed) AS l;
        candidate_pairs := v_linkage.candidate_pairs;
        model_id := v_linkage.model_id;
        v_levels := mlops.comparison_levels_sql(v_linkage.kinds, 'la.cmp', 'lb.cmp');
        IF p_train THEN
            members := 0;
            review_pairs := 0;
            PERFORM mlops.dedup_detect_no_clusters();
            RETURN;
        END IF;
    END IF;

    -- An exact key alone, nothing judged distinct: every group of equal keys is a clique, so its star is the group
    -- itself, around its best-ranked row; no pairs, no rounds.
    IF nullif(btrim(v_rule.similar_text), '') IS NULL AND v_rule.comparisons IS NULL
        AND NOT EXISTS (SELECT FROM pg_temp.mlops_dedup_judged AS j WHERE j.is_distinct) THEN
        EXECUTE format(
            $q$
            CREATE TEMP TABLE mlops_dedup_members AS
            SELECT dense_rank() OVER (ORDER BY g.best_rnk) AS cluster_id, g.best AS survivor_id, g.id AS member_id,
                'exact_key'::text AS reason, 1::real AS score, g.rnk, %1$s AS survivor_key, %2$s AS member_key
            FROM (
                SELECT r.id, r.rnk, r.key, count(*) OVER w AS size, first_value(r.id) OVER w AS best,
                    first_value(r.rnk) OVER w AS best_rnk, first_value(r.key) OVER w AS best_key
                FROM pg_temp.mlops_dedup_rows AS r
                WHERE r.ekey IS NOT NULL
                WINDOW w AS (
                    PARTITION BY r.ekey COLLATE "C" ORDER BY r.rnk
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                )
            ) AS g
            WHERE g.size > 1 AND g.id <> g.best
            $q$,
            CASE WHEN v_integer THEN 'g.best::text' ELSE 'g.best_key' END,
            CASE WHEN v_integer THEN 'g.id::text' ELSE 'g.key' END
        );
        GET DIAGNOSTICS members = ROW_COUNT;
        candidate_pairs := members;
        review_pairs := 0;
        CREATE TEMP TABLE mlops_dedup_review (
            left_id bigint, right_id bigint, left_key text, right_key text, score real, reason text,
            levels smallint[], model_id bigint
        );
        RETURN;
    END IF;

    -- 2. Exact groups: the exact key, and identical texts (ignoring case), score 1.
    EXECUTE format(
        $q$
        INSERT INTO pg_temp.mlops_dedup_edges (a, b, score, reason)
        WITH keyed AS (
            SELECT r.id, r.rnk, x.reason, x.k
            FROM pg_temp.mlops_dedup_rows AS r
            CROSS JOIN LATERAL (VALUES
                ('exact_key', r.ekey),
                ('similar_text', md5(r.txt) || coalesce(r.blk, ''))
            ) AS x (reason, k)
            WHERE x.k IS NOT NULL
        ),
        sized AS (
            SELECT y.*, count(*) OVER w AS size, first_value(y.id) OVER (w ORDER BY y.rnk) AS best
            FROM keyed AS y
            WINDOW w AS (PARTITION BY y.reason, y.k COLLATE "C")
        )
        SELECT s1.id, s1.best, 1, s1.reason FROM sized AS s1 WHERE s1.size > %1$s AND s1.id <> s1.best
        UNION ALL
        SELECT s1.id, s2.id, 1, s1.reason
        FROM sized AS s1
        INNER JOIN sized AS s2 ON s2.reason = s1.reason AND s2.k = s1.k AND s2.rnk < s1.rnk
        WHERE s1.size <= %1$s AND s1.size > 1
        $q$,
        v_pairwise_group
    );

    -- Texts: one representative per distinct text (and block), the best-ranked row; identical texts were linked in
    -- step 2, and everything below compares representatives only.
    IF nullif(btrim(v_rule.similar_text), '') IS NOT NULL THEN
        EXECUTE $q$
            CREATE TEMP TABLE mlops_dedup_texts AS
            SELECT r.id, first_value(r.id) OVER w AS rep, count(*) OVER w AS size
            FROM pg_temp.mlops_dedup_rows AS r
            WHERE r.txt IS NOT NULL
            WINDOW w AS (
                PARTITION BY r.txt COLLATE "C", r.blk COLLATE "C" ORDER BY r.rnk
                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            )
        $q$;
        EXECUTE 'ALTER TABLE pg_temp.mlops_dedup_texts ADD PRIMARY KEY (id)';
        EXECUTE 'ANALYZE pg_temp.mlops_dedup_texts';
    END IF;

    -- 2b. A key alone does not merge two rows whose texts say they differ: an exact-key pair whose texts score below
    --     review_threshold goes to review instead (reason exact_key_text_differs), with that score. Scored once per
    --     pair of distinct texts.
    IF nullif(btrim(v_rule.similar_text), '') IS NOT NULL AND nullif(btrim(v_rule.exact_key), '') IS NOT NULL THEN
        EXECUTE format(
            $q$
            WITH keyed AS (
                SELECT e.a, e.b, least(xa.rep, xb.rep) AS l, greatest(xa.rep, xb.rep) AS r
                FROM pg_temp.mlops_dedup_edges AS e
                INNER JOIN pg_temp.mlops_dedup_texts AS xa ON xa.id = e.a
                INNER JOIN pg_temp.mlops_dedup_texts AS xb ON xb.id = e.b
                WHERE e.reason = 'exact_key' AND xa.rep <> xb.rep
            ),
            scored AS (
                SELECT q.l, q.r, s.score
                FROM (SELECT DISTINCT k.l, k.r FROM keyed AS k) AS q
                INNER JOIN pg_temp.mlops_dedup_rows AS ra ON ra.id = q.l
                INNER JOIN pg_temp.mlops_dedup_rows AS rb ON rb.id = q.r
                CROSS JOIN LATERAL (SELECT %1$s AS score) AS s
                WHERE s.score < %2$s
            )
            UPDATE pg_temp.mlops_dedup_edges AS e SET score = s.score, reason = 'exact_key_text_differs'
            FROM keyed AS k INNER JOIN scored AS s ON s.l = k.l AND s.r = k.r
            WHERE e.reason = 'exact_key' AND e.a = k.a AND e.b = k.b
            $q$,
            v_similarity, v_rule.review_threshold
        );
    END IF;

    -- 3. Text candidates among the representatives: short texts by trigram prefix filtering (exact), longer ones by
    --    shared sentences or, with a single sentence, shared words, both with a document-frequency cap (linear). The
    --    bands overlap (41 to 80 characters take both: mlops.dedup_signatures_make), so a short text and a slightly
    --    longer near-duplicate of it still meet. The tokens and trigrams are the rows' signatures
    --    (mlops.dedup_signatures_make); an incremental run got its candidates from the stored ones (step 1a).
    IF nullif(btrim(v_rule.similar_text), '') IS NOT NULL THEN
        EXECUTE 'CREATE TEMP TABLE mlops_dedup_candidates (a bigint NOT NULL, b bigint NOT NULL)';
    END IF;
    IF nullif(btrim(v_rule.similar_text), '') IS NOT NULL AND NOT full_pass THEN
        -- keys to the compared rows' numbers, each to its text's representative
        EXECUTE format(
            $q$
            INSERT INTO pg_temp.mlops_dedup_candidates (a, b)
            SELECT DISTINCT xa.rep, xb.rep
            FROM pg_temp.mlops_dedup_key_pairs AS p
            INNER JOIN pg_temp.mlops_dedup_rows AS ra ON %1$s = p.ka
            INNER JOIN pg_temp.mlops_dedup_rows AS rb ON %2$s = p.kb
            INNER JOIN pg_temp.mlops_dedup_texts AS xa ON xa.id = ra.id
            INNER JOIN pg_temp.mlops_dedup_texts AS xb ON xb.id = rb.id
            WHERE p.via = 'text' AND xa.rep <> xb.rep
            $q$,
            CASE WHEN v_integer THEN 'ra.id::text' ELSE 'ra.key' END,
            CASE WHEN v_integer THEN 'rb.id::text' ELSE 'rb.key' END
        );
    ELSIF nullif(btrim(v_rule.similar_text), '') IS NOT NULL THEN
        -- 3a. Texts over 40 characters: rows sharing a sentence that at most v_df_cap rows have (two such, for
        --     rows with four or more); a text of one sentence by its pairs of consecutive words.
        EXECUTE $q$
            CREATE TEMP TABLE mlops_dedup_tokens AS
            SELECT s.id, s.sig AS h, s.n
            FROM pg_temp.mlops_dedup_sigs AS s
            INNER JOIN pg_temp.mlops_dedup_texts AS x ON x.id = s.id AND x.rep = s.id
            WHERE s.kind = 's'
        $q$;
        EXECUTE 'ANALYZE pg_temp.mlops_dedup_tokens';
        EXECUTE format(
            $q$
            INSERT INTO pg_temp.mlops_dedup_candidates (a, b)
            SELECT t1.id, t2.id
            FROM (
                -- rows holding the token, as the stored signatures count them (identical texts count each)
                SELECT k.sig AS h FROM pg_temp.mlops_dedup_sigs AS k WHERE k.kind = 's'
                GROUP BY k.sig HAVING count(*) BETWEEN 2 AND %1$s
            ) AS f
            INNER JOIN pg_temp.mlops_dedup_tokens AS t1 ON t1.h = f.h
            INNER JOIN pg_temp.mlops_dedup_tokens AS t2 ON t2.h = f.h AND t2.id > t1.id
            GROUP BY t1.id, t2.id
            HAVING count(*) >= CASE WHEN least(min(t1.n), min(t2.n)) >= 4 THEN 2 ELSE 1 END
            $q$,
            v_df_cap
        );
        -- 3b. Texts up to 80 characters (names, titles, short fields): prefix filtering on trigrams.
        --     Trigrams in a global order, rarest first; a text of n trigrams keeps its first n - ceil(t * n) + 1 (t the
        --     review threshold); two texts whose Jaccard similarity is at least t share one of those, and their sizes
        --     are within a factor t. Exact at the threshold, and rare trigrams keep it about linear.
        --     Source: Chaudhuri, Ganti, Kaushik, "A Primitive Operator for Similarity Joins in Data Cleaning"
        --     (ICDE 2006); Bayardo, Ma, Srikant, "Scaling Up All Pairs Similarity Search" (WWW 2007).
        EXECUTE $q$
            CREATE TEMP TABLE mlops_dedup_grams AS
            SELECT s.id, s.sig AS g, s.n
            FROM pg_temp.mlops_dedup_sigs AS s
            INNER JOIN pg_temp.mlops_dedup_texts AS x ON x.id = s.id AND x.rep = s.id
            WHERE s.kind = 'g'
        $q$;
        EXECUTE 'ANALYZE pg_temp.mlops_dedup_grams';
        EXECUTE format(
            $q$
            INSERT INTO pg_temp.mlops_dedup_candidates (a, b)
            WITH sized AS (
                SELECT m.id, m.g, count(*) OVER (PARTITION BY m.g) AS df, m.n
                FROM pg_temp.mlops_dedup_grams AS m
            ),
            prefix AS (
                SELECT y.id, y.g, y.n, y.pos
                FROM (SELECT s.*, row_number() OVER (PARTITION BY s.id ORDER BY s.df, s.g) AS pos FROM sized AS s) AS y
                WHERE y.pos <= y.n - ceil(%1$s::numeric * y.n) + 1
            )
            -- positional filter (Xiao, Wang, Lin, Yu, "Efficient Similarity Joins for Near Duplicate Detection",
            -- WWW 2008): trigrams shared beyond the prefixes all come after the last shared prefix trigram in both
            -- texts, so the overlap is at most the shared prefix trigrams plus the shorter remainder; Jaccard >= t
            -- needs an overlap of t / (1 + t) * (n1 + n2). Exact, and it drops most pairs that share only a common
            -- word's trigrams (measured: 2.0M candidates to 0.47M on 20k names, the same pairs verified)
            SELECT p1.id, p2.id
            FROM prefix AS p1
            INNER JOIN prefix AS p2 ON p2.g = p1.g AND p2.id > p1.id
            WHERE least(p1.n, p2.n) >= %1$s::numeric * greatest(p1.n, p2.n)
            GROUP BY p1.id, p2.id
            HAVING count(*) + least(min(p1.n) - max(p1.pos), min(p2.n) - max(p2.pos))
                >= ceil(%1$s::numeric / (1 + %1$s::numeric) * (min(p1.n) + min(p2.n)))
            $q$,
            -- a hair under the threshold: pg_trgm's sets can differ from these by a hash collision or a character
            -- the two disagree on
            v_rule.review_threshold - 0.01
        );
    END IF;
    IF nullif(btrim(v_rule.similar_text), '') IS NOT NULL THEN
        -- 3c. Verified with the similarity, within one block, once per pair; then every row of either text linked
        --     to every row of the other (stars need each member's own edge to its survivor), or, past
        --     v_pairwise_group rows on a side, each row to the other text's representative.
        EXECUTE format(
            $q$
            INSERT INTO pg_temp.mlops_dedup_edges (a, b, score, reason)
            WITH verified AS (
                SELECT c.a, c.b, s.score, xa.size AS a_size, xb.size AS b_size
                FROM (SELECT DISTINCT least(c.a, c.b) AS a, greatest(c.a, c.b) AS b
                    FROM pg_temp.mlops_dedup_candidates AS c) AS c
                INNER JOIN pg_temp.mlops_dedup_rows AS ra ON ra.id = c.a
                INNER JOIN pg_temp.mlops_dedup_rows AS rb ON rb.id = c.b
                INNER JOIN pg_temp.mlops_dedup_texts AS xa ON xa.id = c.a
                INNER JOIN pg_temp.mlops_dedup_texts AS xb ON xb.id = c.b
                CROSS JOIN LATERAL (SELECT %1$s AS score) AS s
                WHERE ra.blk IS NOT DISTINCT FROM rb.blk AND s.score >= %2$s
            )
            SELECT xa.id, xb.id, v.score, 'similar_text'
            FROM verified AS v
            INNER JOIN pg_temp.mlops_dedup_texts AS xa ON xa.rep = v.a
            INNER JOIN pg_temp.mlops_dedup_texts AS xb ON xb.rep = v.b
            WHERE v.a_size <= %3$s AND v.b_size <= %3$s
            UNION ALL
            SELECT x.id, v.b, v.score, 'similar_text'
            FROM verified AS v INNER JOIN pg_temp.mlops_dedup_texts AS x ON x.rep = v.a
            WHERE v.a_size > %3$s OR v.b_size > %3$s
            UNION ALL
            SELECT v.a, x.id, v.score, 'similar_text'
            FROM verified AS v INNER JOIN pg_temp.mlops_dedup_texts AS x ON x.rep = v.b AND x.id <> v.b
            WHERE v.a_size > %3$s OR v.b_size > %3$s
            $q$,
            v_similarity, v_rule.review_threshold, v_pairwise_group
        );
    END IF;

    -- 4. One edge per pair, both directions, strongest signal; pairs judged distinct (above) never come back.
    EXECUTE $q$
        CREATE TEMP TABLE mlops_dedup_pairs AS
        SELECT DISTINCT ON (least(e.a, e.b), greatest(e.a, e.b))
            least(e.a, e.b) AS a, greatest(e.a, e.b) AS b, e.score, e.reason
        FROM pg_temp.mlops_dedup_edges AS e
        WHERE NOT EXISTS (
            SELECT FROM pg_temp.mlops_dedup_judged AS j
            WHERE j.is_distinct AND j.a = least(e.a, e.b) AND j.b = greatest(e.a, e.b)
        )
        ORDER BY least(e.a, e.b), greatest(e.a, e.b), e.score DESC, e.reason
    $q$;
    EXECUTE 'TRUNCATE pg_temp.mlops_dedup_edges';
    EXECUTE 'INSERT INTO pg_temp.mlops_dedup_edges'
        ' SELECT n.a, n.b, n.score, n.reason FROM pg_temp.mlops_dedup_pairs AS n'
        ' UNION ALL SELECT n.b, n.a, n.score, n.reason FROM pg_temp.mlops_dedup_pairs AS n';
    IF v_rule.comparisons IS NULL THEN
        GET DIAGNOSTICS candidate_pairs = ROW_COUNT;
        candidate_pairs := candidate_pairs / 2;
    END IF;
    EXECUTE 'DROP TABLE pg_temp.mlops_dedup_pairs';
    EXECUTE 'CREATE INDEX ON pg_temp.mlops_dedup_edges (a)';
    EXECUTE 'ANALYZE pg_temp.mlops_dedup_edges';

    -- 5. Stars in keep_order: a row is decided once every better-ranked strong neighbour is; it is absorbed by
    --    the best-ranked survivor among them, or else survives. Each round decides at least the best undecided row.
    EXECUTE format(
        'CREATE TEMP TABLE mlops_dedup_nodes AS SELECT DISTINCT e.a AS id, r.rnk, NULL::bigint AS survivor_id,'
        ' NULL::boolean AS decided FROM pg_temp.mlops_dedup_edges AS e'
        ' INNER JOIN pg_temp.mlops_dedup_rows AS r ON r.id = e.a WHERE e.score >= %s',
        v_rule.threshold
    );
    EXECUTE 'ALTER TABLE pg_temp.mlops_dedup_nodes ADD PRIMARY KEY (id)';
    EXECUTE 'ANALYZE pg_temp.mlops_dedup_nodes';
    LOOP
        EXECUTE format(
            $q$
            UPDATE pg_temp.mlops_dedup_nodes AS n
            SET decided = true,
                survivor_id = (
                    SELECT m.id FROM pg_temp.mlops_dedup_edges AS e
                    INNER JOIN pg_temp.mlops_dedup_nodes AS m ON m.id = e.b
                    WHERE e.a = n.id AND e.score >= %1$s AND m.rnk < n.rnk AND m.survivor_id IS NULL
                    ORDER BY m.rnk LIMIT 1
                )
            WHERE n.decided IS NULL AND NOT EXISTS (
                SELECT FROM pg_temp.mlops_dedup_edges AS e
                INNER JOIN pg_temp.mlops_dedup_nodes AS m ON m.id = e.b
                WHERE e.a = n.id AND e.score >= %1$s AND m.rnk < n.rnk AND m.decided IS NULL
            )
            $q$,
            v_rule.threshold
        );
        GET DIAGNOSTICS v_changed = ROW_COUNT;
        EXIT WHEN v_changed = 0;
    END LOOP;

    EXECUTE format(
        $q$
        CREATE TEMP TABLE mlops_dedup_members AS
        SELECT dense_rank() OVER (ORDER BY s.rnk) AS cluster_id, n.survivor_id, n.id AS member_id, e.reason, e.score,
            n.rnk, %1$s AS survivor_key, %2$s AS member_key
        FROM pg_temp.mlops_dedup_nodes AS n
        INNER JOIN pg_temp.mlops_dedup_nodes AS s ON s.id = n.survivor_id
        INNER JOIN pg_temp.mlops_dedup_edges AS e ON e.a = n.id AND e.b = n.survivor_id
        %3$s
        $q$,
        CASE WHEN v_integer THEN 'n.survivor_id::text' ELSE 'rs.key' END,
        CASE WHEN v_integer THEN 'n.id::text' ELSE 'rm.key' END,
        CASE WHEN NOT v_integer THEN 'INNER JOIN pg_temp.mlops_dedup_rows AS rs ON rs.id = n.survivor_id'
            ' INNER JOIN pg_temp.mlops_dedup_rows AS rm ON rm.id = n.id' ELSE '' END
    );
    GET DIAGNOSTICS members = ROW_COUNT;

    -- 6. Review band: pairs in [review_threshold, threshold), each end taken to its cluster's survivor, minus pairs
    --    queued or judged already; the lower row number (the lower key) on the left.
    EXECUTE format(
        $q$
        CREATE TEMP TABLE mlops_dedup_review AS
        SELECT %2$s AS left_id, %3$s AS right_id, %4$s AS left_key, %5$s AS right_key, p.score, p.reason,
            %7$s AS levels, %8$L::bigint AS model_id
        FROM (
            SELECT least(x.l, x.r) AS a, greatest(x.l, x.r) AS b, max(x.score) AS score,
                (array_agg(x.reason ORDER BY x.score DESC, x.reason))[1] AS reason
            FROM (
                SELECT coalesce(ma.survivor_id, e.a) AS l, coalesce(mb.survivor_id, e.b) AS r, e.score, e.reason
                FROM pg_temp.mlops_dedup_edges AS e
                LEFT JOIN pg_temp.mlops_dedup_members AS ma ON ma.member_id = e.a
                LEFT JOIN pg_temp.mlops_dedup_members AS mb ON mb.member_id = e.b
                WHERE e.a < e.b AND e.score < %1$s
            ) AS x
            WHERE x.l <> x.r
                AND NOT EXISTS (
                    SELECT FROM pg_temp.mlops_dedup_judged AS j WHERE j.a = least(x.l, x.r) AND j.b = greatest(x.l, x.r)
                )
            GROUP BY least(x.l, x.r), greatest(x.l, x.r)
        ) AS p
        %6$s
        -- the pair's levels under a learned rule: kept with the person's decision, they are the model's labels
        LEFT JOIN pg_temp.mlops_dedup_rows AS la ON %9$s AND la.id = p.a
        LEFT JOIN pg_temp.mlops_dedup_rows AS lb ON %9$s AND lb.id = p.b
        $q$,
        v_rule.threshold,
        CASE WHEN v_integer THEN 'p.a' ELSE 'NULL::bigint' END,
        CASE WHEN v_integer THEN 'p.b' ELSE 'NULL::bigint' END,
        CASE WHEN v_integer THEN 'p.a::text' ELSE 'ra.key' END,
        CASE WHEN v_integer THEN 'p.b::text' ELSE 'rb.key' END,
        CASE WHEN NOT v_integer THEN 'INNER JOIN pg_temp.mlops_dedup_rows AS ra ON ra.id = p.a'
            ' INNER JOIN pg_temp.mlops_dedup_rows AS rb ON rb.id = p.b' ELSE '' END,
        v_levels, model_id, (v_rule.comparisons IS NOT NULL)::text
    );
    GET DIAGNOSTICS review_pairs = ROW_COUNT;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_detect(regclass, boolean, boolean, boolean, integer) IS
'Detection pass of a table''s dedup rule into session temp tables pg_temp.mlops_dedup_members (cluster_id, '
'survivor_id, member_id, reason, score, rnk, survivor_key, member_key) and pg_temp.mlops_dedup_review (left_id, '
'right_id, left_key, right_key, score, reason, levels, model_id: a learned rule''s comparison levels and model). A '
'rule with comparisons is scored by its model (mlops.dedup_linkage_edges), estimated when it has none; p_train '
're-estimates (random pairs drawn with p_seed) and stores it and returns before clustering (members 0). Keys are '
'text (mlops.key_text_sql); the bigint ids are the keys for an integer key, else row numbers in key order in '
'mlops_dedup_members and NULL in mlops_dedup_review. p_incremental (merge_duplicates'' real runs): for an '
'incremental rule whose table''s changes are captured (mlops.dedup_track_changes), stores the rows'' signatures '
'(mlops.dedup_signatures) and, when they are complete and made by the same rule and p_full is false, compares only '
'the rows changed since (pg_temp.mlops_dedup_changed) with the rows they may match. Otherwise reads the whole table '
'and changes no table. Any key type of a single-column primary key; other tables 0A000 (mlops.key_refusal), no rule '
'42704. Returns counts: rows compared (live_rows), candidate pairs, members, review pairs, rows changed since the '
'last run (changed_rows; all live rows in a full pass), whether the whole table was read (full_pass), and the '
'learned rule''s model that scored the pass (model_id; NULL: none stored, or not a learned rule).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_detect(regclass, boolean, boolean, boolean, integer) FROM PUBLIC;
