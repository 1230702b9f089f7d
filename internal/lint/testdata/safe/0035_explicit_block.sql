-- fleetgate:up
BEGIN;
ALTER TABLE refunds ADD COLUMN reason text;
COMMENT ON COLUMN refunds.reason IS 'why; see UPDATE refunds SET reason = ...';
COMMIT;
