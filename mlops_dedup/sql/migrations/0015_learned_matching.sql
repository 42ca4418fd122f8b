-- Learned matching: rules with per-field comparisons, a Fellegi-Sunter model per rule estimated in the database
-- (mlops.train_rule), review decisions kept with the comparison levels they were made on (the model's labels).

-- A rule's evaluator also returns the comparisons' values (text, each in one spelling whatever the session's
-- settings). Evaluators compiled before return NULL there, which is right: their rules have no comparisons.
ALTER TYPE mlops.dedup_rule_values ADD ATTRIBUTE cmp text[];

ALTER TABLE mlops.dedup_rules
ADD COLUMN comparisons text[],
ADD COLUMN comparison_types regtype[];

COMMENT ON COLUMN mlops.dedup_rules.comparisons IS
'SQL expressions over the row, alias t, one per field compared (e.g. {t.given_name,t.surname,t.date_of_birth}). '
'With comparisons set, detection scores candidate pairs with the rule''s learned model (mlops.train_rule) and '
'threshold / review_threshold are match probabilities (0-1); exact_key and similar_text stay NULL.';
COMMENT ON COLUMN mlops.dedup_rules.comparison_types IS
'The type of each comparison''s expression, set by the rule trigger when the rule is written (never by the writer).';

CREATE TABLE mlops.dedup_models (
    model_id bigint GENERATED ALWAYS AS IDENTITY,
    target regclass NOT NULL,
    version integer NOT NULL,  -- noqa: RF04
    fingerprint text NOT NULL,
    comparisons text[] NOT NULL,
    kinds text[] NOT NULL,
    prior_probability double precision NOT NULL,
    random_pair_prior double precision NOT NULL,
    live_rows bigint NOT NULL,
    candidate_pairs bigint NOT NULL,
    random_pairs bigint NOT NULL,
    labelled_matches integer NOT NULL DEFAULT 0,
    labelled_distinct integer NOT NULL DEFAULT 0,
    iterations integer NOT NULL,
    converged boolean NOT NULL,
    seed integer NOT NULL,
    trained_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    trained_by name NOT NULL DEFAULT current_user,
    CONSTRAINT dedup_models_pkey PRIMARY KEY (model_id),
    CONSTRAINT dedup_models_target_version_key UNIQUE (target, version),
    CONSTRAINT dedup_models_prior_check CHECK (prior_probability > 0 AND prior_probability < 1),
    CONSTRAINT dedup_models_random_pair_prior_check CHECK (random_pair_prior > 0 AND random_pair_prior < 1)
);

COMMENT ON TABLE mlops.dedup_models IS
'One row per trained version of a rule''s model (Fellegi-Sunter): which rule it was trained for (fingerprint of '
'its comparisons), what it was trained on (live rows, candidate pairs, random pairs for u, review decisions used as '
'labels), how EM went (iterations, converged), when and by whom. prior_probability: the probability that a candidate '
'pair is a match (EM''s); random_pair_prior: the probability that two rows drawn at random match, the prior odds a '
'pair''s score starts from. Written only by roles with the rights of the rule''s owner. Detection uses the newest '
'version whose fingerprint matches the rule (trained by such a role); the levels are in mlops.dedup_model_levels.';

CREATE TABLE mlops.dedup_model_levels (
    model_id bigint NOT NULL REFERENCES mlops.dedup_models (model_id) ON DELETE CASCADE,
    comparison integer NOT NULL,
    level smallint NOT NULL,  -- noqa: RF04
    label text NOT NULL,  -- noqa: RF04
    m double precision NOT NULL,
    u double precision NOT NULL,
    weight double precision GENERATED ALWAYS AS (pg_catalog.ln(m / u) / pg_catalog.ln(2::double precision)) STORED,
    CONSTRAINT dedup_model_levels_pkey PRIMARY KEY (model_id, comparison, level),
    CONSTRAINT dedup_model_levels_probabilities_check CHECK (m > 0 AND m <= 1 AND u > 0 AND u <= 1)
);

COMMENT ON TABLE mlops.dedup_model_levels IS
'A model''s comparison levels: for comparison (1-based, as in the rule''s comparisons) and level (0 = disagree, '
'higher = closer), its label, m (probability of the level among matches), u (among non-matches) and weight '
'(log2 m/u, bits: the evidence the level adds to a pair''s match weight).';

-- Review decisions are the model's labels: a pair queued by a learned rule keeps the levels it was scored on and
-- the model that scored it, so the label outlives the rows (a merged row is gone from the table).
ALTER TABLE mlops.duplicate_candidates
ADD COLUMN levels smallint[],
ADD COLUMN model_id bigint,
ADD COLUMN queued_by name DEFAULT current_user,
ADD COLUMN decided_by name;

COMMENT ON COLUMN mlops.duplicate_candidates.queued_by IS
'The role that queued the pair (its default; not granted to anyone).';
COMMENT ON COLUMN mlops.duplicate_candidates.decided_by IS
'The role that decided the pair (stamped by the trigger duplicate_candidates_stamp_decider). A decision is a label for '
'a learned rule only when the role that queued the pair and the one that decided it hold the rights a merge of the '
'table takes (mlops.linkage_label_trusted).';

COMMENT ON COLUMN mlops.duplicate_candidates.levels IS
'For a pair a learned rule queued: each comparison''s level (NULL: no evidence) when it was scored; with the decision, '
'a label mlops.train_rule learns from.';
COMMENT ON COLUMN mlops.duplicate_candidates.model_id IS
'The model version (mlops.dedup_models.model_id) that scored the pair (learned rules); its fingerprint says which '
'comparisons the levels are of. No foreign key: a decision stays in the queue whatever happens to the models.';

CREATE INDEX dedup_models_target_idx ON mlops.dedup_models (target, version);
CREATE INDEX duplicate_candidates_model_idx ON mlops.duplicate_candidates (model_id);

-- Row-level security: a model is read with SELECT on the table; it decides what merges, as the rule's thresholds do,
-- so it is written and removed only by a role with the rights of the rule's owner (as the rule itself: 0003).
ALTER TABLE mlops.dedup_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY dedup_models_readable ON mlops.dedup_models FOR SELECT
USING (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY dedup_models_written ON mlops.dedup_models FOR INSERT
WITH CHECK (EXISTS (
    SELECT FROM mlops.dedup_rules AS r
    WHERE r.target = dedup_models.target AND pg_catalog.pg_has_role(current_user, r.rule_owner, 'USAGE')
));
CREATE POLICY dedup_models_removed ON mlops.dedup_models FOR DELETE
USING (EXISTS (
    SELECT FROM mlops.dedup_rules AS r
    WHERE r.target = dedup_models.target AND pg_catalog.pg_has_role(current_user, r.rule_owner, 'USAGE')
));
ALTER TABLE mlops.dedup_model_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY dedup_model_levels_readable ON mlops.dedup_model_levels FOR SELECT
USING (EXISTS (
    SELECT FROM mlops.dedup_models AS d
    WHERE d.model_id = dedup_model_levels.model_id
));
CREATE POLICY dedup_model_levels_written ON mlops.dedup_model_levels FOR INSERT
WITH CHECK (EXISTS (
    SELECT FROM mlops.dedup_models AS d
    INNER JOIN mlops.dedup_rules AS r ON d.target = r.target
    WHERE d.model_id = dedup_model_levels.model_id AND pg_catalog.pg_has_role(current_user, r.rule_owner, 'USAGE')
));

-- New parameters and results: the old signatures go (install re-creates the routines after the migrations).
DROP FUNCTION IF EXISTS mlops.dedup_rule_compile(regclass, text, text, text);
DROP FUNCTION IF EXISTS mlops.dedup_detect(regclass, boolean, boolean);
