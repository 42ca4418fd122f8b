-- The incident's fix, step 1: add the ON DELETE CASCADE constraints NOT VALID. Adding a NOT VALID
-- FK scans nothing, so this transaction holds its locks only for a moment.

ALTER TABLE mlops.job_recommendations
ADD CONSTRAINT job_recommendations_resume_id_cascade_fkey FOREIGN KEY (resume_id)
REFERENCES mlops.cover_letter_samples (id) ON DELETE CASCADE NOT VALID;

ALTER TABLE mlops.job_recommendations
ADD CONSTRAINT job_recommendations_job_id_cascade_fkey FOREIGN KEY (job_id)
REFERENCES mlops.job_postings (id) ON DELETE CASCADE NOT VALID;
