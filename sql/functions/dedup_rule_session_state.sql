-- mlops.dedup_rule_session_state: a fingerprint of what code running as another role could leave behind in this
-- session: settings (a session-level SET inside a function outlives it, e.g. search_path), temporary objects owned by
-- another role, advisory locks, prepared statements, cursors, LISTEN. Taken before and after a rule's evaluator runs.
-- No SET clause, on purpose: it would hide the caller's search_path, the setting that matters most. Nothing here
-- resolves names when it runs: a SQL-standard body binds every name when the function is created.

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
'evaluator runs by mlops.dedup_rule_assert_session_unchanged.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_session_state() FROM PUBLIC;
