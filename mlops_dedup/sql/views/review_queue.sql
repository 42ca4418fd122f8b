-- mlops.review_queue: the pending pairs in the order a person should decide them. A learned rule's pairs come most
-- uncertain first (match probability nearest 0.5: the decision that teaches its model most, uncertainty sampling);
-- other pairs by score, highest first. Read with the caller's rights (security_invoker): the queue's own privileges
-- and row-level security apply.

CREATE OR REPLACE VIEW mlops.review_queue WITH (security_invoker = TRUE) AS
SELECT
    c.candidate_id,
    c.target,
    c.left_key,
    c.right_key,
    c.score,
    c.reason,
    c.levels,
    c.created_at,
    CASE WHEN c.levels IS NOT NULL THEN (1 - 2 * abs(c.score - 0.5))::real END AS uncertainty,
    row_number() OVER (
        PARTITION BY c.target
        ORDER BY CASE WHEN c.levels IS NOT NULL THEN abs(c.score - 0.5) ELSE 1 - c.score END, c.candidate_id
    ) AS position
FROM mlops.duplicate_candidates AS c
WHERE c.status = 'pending';

COMMENT ON VIEW mlops.review_queue IS
'Pending review pairs in the order to ask: (candidate_id, target, left_key, right_key, score, reason, levels, '
'created_at, uncertainty real 0-1, position bigint per table from 1). Learned rules'' pairs (levels set): most '
'uncertain first, uncertainty = 1 - 2|p - 0.5| for match probability p (uncertainty sampling: Lewis and Gale, "A '
'Sequential Algorithm for Training Text Classifiers", SIGIR 1994); other pairs by score, highest first. Read with '
'the caller''s rights.';
