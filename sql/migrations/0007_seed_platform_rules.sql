-- The platform's rules. Cover letters: the same page under URL variants, or a text that differs by a word or two
-- (trigram similarity >= 0.8), merge automatically; 0.55-0.8 goes to review (unrelated letters score about
-- 0.33, at most about 0.43). Job postings: same page, or the same title, company and description.

INSERT INTO mlops.dedup_rules (
    target, exact_key, similar_text, block_key, threshold, review_threshold, soft_delete, fill_nulls
)
VALUES
(
    'mlops.cover_letter_samples', 'mlops.normalize_url(t.url)', 't.content', NULL, 0.8, 0.55, TRUE, TRUE
),
(
    'mlops.job_postings',
    'mlops.normalize_url(t.url)',
    'coalesce(t.title, '''') || '' | '' || coalesce(t.company, '''') || '' | '' || coalesce(t.location, '''')'
    || ' || ''. '' || coalesce(t.description, '''')',
    NULL, 0.85, 0.6, TRUE, TRUE
);
