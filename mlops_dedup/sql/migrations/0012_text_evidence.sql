-- Issue 10: a rule names the placeholder values that are no evidence (N/A, unknown, -), and the review queue
-- records why a pair is there (an exact key whose texts disagree goes to review, not to a merge).

ALTER TABLE mlops.dedup_rules ADD COLUMN placeholders text[];
COMMENT ON COLUMN mlops.dedup_rules.placeholders IS
'Values that say nothing (e.g. {N/A,unknown,-,미정}): an exact_key, similar_text or block_key equal to one of them, '
'compared by letters and digits after mlops.normalize_text, is treated as missing and matches nothing. Blank values '
'(no letter or digit) never match, whatever this holds.';

ALTER TABLE mlops.duplicate_candidates ADD COLUMN reason text;
COMMENT ON COLUMN mlops.duplicate_candidates.reason IS
'Why the pair is queued: similar_text (its texts score in the review band), or exact_key_text_differs (the exact '
'key is equal but the texts score below review_threshold, so the key alone did not merge them). NULL for pairs '
'queued before 0012.';
