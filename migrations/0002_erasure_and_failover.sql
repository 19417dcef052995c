-- Data protection: a woman's personal data can be erased on request. Her
-- record stays, stripped of everything that names or reaches her, so that
-- the counts in coverage and delivery reports still add up.
ALTER TABLE women ADD COLUMN erased_at INTEGER;

-- When a message was first handed to a dispatcher: how long its gateway has
-- been failing it, for failing over to another gateway.
ALTER TABLE outbox ADD COLUMN first_tried_at INTEGER;
