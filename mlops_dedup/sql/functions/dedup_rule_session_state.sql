-- mlops.dedup_rule_session_state: what code running as another role could leave behind in this session: settings
-- (a session-level SET inside a function outlives it, e.g. search_path), temporary objects owned by another role,
-- advisory locks, prepared statements, cursors, LISTEN. Two forms: () takes the fingerprint, before and after a
-- rule's evaluator runs; (target, before, after) raises when they differ, and the error undoes what was left.
-- The first has no SET clause, on purpose: it would hide the caller's search_path, the setting that matters most.
-- Nothing in it resolves names when it runs: a SQL-standard body binds every name when the function is created.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_session_state()
RETURNS text
LANGUAGE sql
VOLATILE
SECURITY INVOKER
RETURN pg_catalog.md5(pg_catalog.concat_ws(
    E'\n',
    (
        SELECT pg_catalog.string_agg(s.name || '=' || coalesce(s.setting, ''), ',' ORDER BY s.name)
        FROM pg_catalog.pg_settings AS s
    ),
    (
        SELECT pg_catalog.string_agg(x.kind || x.oid::text, ',' ORDER BY x.kind, x.oid)
        FROM (
            SELECT
                'c' AS kind,
                c.oid,
                c.relowner AS owner_oid,
                c.relnamespace AS nsp
            FROM pg_catalog.pg_class AS c
            UNION ALL
            SELECT
                't' AS kind,
                t.oid,
                t.typowner,
                t.typnamespace
            FROM pg_catalog.pg_type AS t
            UNION ALL
            SELECT
                'p' AS kind,
                p.oid,
                p.proowner,
                p.pronamespace
            FROM pg_catalog.pg_proc AS p
            UNION ALL
            SELECT
                'o' AS kind,
                o.oid,
                o.oprowner,
                o.oprnamespace
            FROM pg_catalog.pg_operator AS o
        ) AS x
        WHERE x.nsp = pg_catalog.pg_my_temp_schema() AND x.owner_oid <> current_user::regrole::oid
    ),
    (
        SELECT
            pg_catalog.string_agg(
                pg_catalog.concat_ws(':', l.classid, l.objid, l.objsubid, l.mode), ',' ORDER BY l.classid, l.objid
            )
        FROM pg_catalog.pg_locks AS l
        WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'advisory'
    ),
    (
        SELECT pg_catalog.string_agg(ps.name, ',' ORDER BY ps.name)
        FROM pg_catalog.pg_prepared_statements AS ps
    ),
    (SELECT pg_catalog.string_agg(cu.name, ',' ORDER BY cu.name) FROM pg_catalog.pg_cursors AS cu),
    (
        SELECT pg_catalog.string_agg(lc.channel, ',' ORDER BY lc.channel)
        FROM pg_catalog.pg_listening_channels() AS lc (channel)
    )
));

COMMENT ON FUNCTION mlops.dedup_rule_session_state() IS
'Internal: md5 fingerprint (text) of this session''s settings as the caller sees them, temporary objects owned by '
'other roles, advisory locks, prepared statements, cursors and LISTEN channels; compared before and after a rule''s '
'evaluator runs by mlops.dedup_rule_session_state(regclass, text, text).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_session_state() FROM PUBLIC;

CREATE OR REPLACE FUNCTION mlops.dedup_rule_session_state(p_target regclass, p_before text, p_after text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_before IS DISTINCT FROM p_after THEN
        RAISE EXCEPTION 'dedup rule for %: its evaluator changed the session''s state', p_target
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A setting, a temporary object of another role, an advisory lock, a prepared statement, a '
                'cursor or a LISTEN changed while the rule''s expressions ran as its owner; the error undoes it.',
            HINT = 'Functions called by rule expressions must not change the session.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_session_state(regclass, text, text) IS
'Internal: raises insufficient_privilege (42501) naming the rule''s table when the session fingerprints taken with '
'mlops.dedup_rule_session_state() before and after its evaluator ran differ; returns quietly otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_session_state(regclass, text, text) FROM PUBLIC;
