-- The incident's fix, step 2, in its own transaction: VALIDATE scans the table under SHARE UPDATE
-- EXCLUSIVE (writes go on), then the old NO ACTION constraints go and the new ones take their names.

ALTER TABLE mlops.job_recommendations VALIDATE CONSTRAINT job_recommendations_resume_id_cascade_fkey;
ALTER TABLE mlops.job_recommendations VALIDATE CONSTRAINT job_recommendations_job_id_cascade_fkey;

ALTER TABLE mlops.job_recommendations DROP CONSTRAINT job_recommendations_resume_id_fkey;
ALTER TABLE mlops.job_recommendations DROP CONSTRAINT job_recommendations_job_id_fkey;

ALTER TABLE mlops.job_recommendations
RENAME CONSTRAINT job_recommendations_resume_id_cascade_fkey TO job_recommendations_resume_id_fkey;
ALTER TABLE mlops.job_recommendations
RENAME CONSTRAINT job_recommendations_job_id_cascade_fkey TO job_recommendations_job_id_fkey;
