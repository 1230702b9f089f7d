ALTER TABLE hydra_oauth2_logout_request ALTER COLUMN client_id DROP NOT NULL;

