-- A merge may move a reference somewhere other than the survivor: a survivor that referenced its own loser through
-- a self-referencing FK takes the loser's own reference (a hierarchy: 1 <- 2 <- 3, merge 2 into 3: 3 reports to 1,
-- not to itself). Undo must know the value written to check that the row was not changed since, as it does for rows
-- moved to the survivor; the log records it here.

ALTER TABLE mlops.merge_moves ADD COLUMN moved_to jsonb;

COMMENT ON COLUMN mlops.merge_moves.moved_to IS
'NULL when the row was moved to the survivor; otherwise the FK column values the merge wrote, {column: value} (a '
'survivor that referenced its own loser takes the loser''s own reference). Undo points the row back at loser_id '
'only while it still holds these values.';
