-- Who wrote each row of the merge log. Roles granted mlops.grant_usage write the log themselves (the routines run
-- SECURITY INVOKER), and cannot choose these values (no column privilege on them): so undo can refuse to act, with
-- a more privileged role's rights, on log rows a less privileged role recorded (a forged loser, a forged move).

ALTER TABLE mlops.merge_archive ADD COLUMN recorded_by name NOT NULL DEFAULT current_user;
ALTER TABLE mlops.merge_moves ADD COLUMN recorded_by name NOT NULL DEFAULT current_user;

COMMENT ON COLUMN mlops.merge_archive.recorded_by IS
'The role that archived the row (always its default, current_user): undo refuses rows recorded by a role without '
'the undoing role''s rights.';
COMMENT ON COLUMN mlops.merge_moves.recorded_by IS
'The role that moved the row (always its default, current_user): undo refuses rows recorded by a role without the '
'undoing role''s rights.';
