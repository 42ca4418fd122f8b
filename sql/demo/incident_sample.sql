-- The incident in miniature: the crawler stored the same cover letter twice (URL variants of one page),
-- and recommendations point at both copies; deleting either copy is what raised the ForeignKeyViolation.

INSERT INTO mlops.job_postings (id, url, title, company, location)
OVERRIDING SYSTEM VALUE
VALUES
(1, 'https://jobs.example.com/postings/101', 'ML Engineer', 'Acme', 'Seoul'),
(2, 'https://www.jobs.example.com/postings/101/?utm_source=feed', 'ML Engineer', 'Acme', 'Seoul'),
(3, 'https://jobs.example.com/postings/202', 'Data Engineer', 'Globex', 'Busan');

INSERT INTO mlops.cover_letter_samples (id, url, title, company, position, content)
OVERRIDING SYSTEM VALUE
VALUES
(
    1, 'https://letters.example.com/samples/7', 'ML engineer cover letter', 'Acme', 'ML Engineer',
    'I have built and operated machine learning pipelines in production for three years.'
),
(
    2, 'https://letters.example.com/samples/7?utm_campaign=crawl#top', 'ML engineer cover letter', 'Acme',
    'ML Engineer',
    'I have built and operated machine learning pipelines in production for three years.'
),
(
    3, 'https://letters.example.com/samples/9', 'Data engineer cover letter', 'Globex', 'Data Engineer',
    'I design batch and streaming data platforms and care about data quality.'
);

INSERT INTO mlops.job_recommendations (id, resume_id, job_id, score)
OVERRIDING SYSTEM VALUE
VALUES
(1, 1, 1, 0.91),
(2, 2, 1, 0.90),
(3, 2, 3, 0.42),
(4, 3, 3, 0.88);

INSERT INTO mlops.user_interactions (user_id, job_id, recommendation_id, interaction_type)
VALUES
(100, 1, 1, 'view'),
(100, 1, 2, 'apply'),
(200, 3, 4, 'view');

-- Explicit ids above: move the identity sequences past them.
SELECT setval(pg_get_serial_sequence('mlops.job_postings', 'id'), 3);
SELECT setval(pg_get_serial_sequence('mlops.cover_letter_samples', 'id'), 3);
SELECT setval(pg_get_serial_sequence('mlops.job_recommendations', 'id'), 4);
