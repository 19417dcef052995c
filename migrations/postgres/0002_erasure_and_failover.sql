-- Twin of ../0002_erasure_and_failover.sql.
ALTER TABLE women ADD COLUMN erased_at BIGINT;
ALTER TABLE outbox ADD COLUMN first_tried_at BIGINT;
