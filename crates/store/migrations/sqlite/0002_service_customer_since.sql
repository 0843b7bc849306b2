-- When a service began to belong to its current customer.
--
-- A service can move from one customer to another (or to none) while it lives. Billing must
-- start for the new customer on the day the move was seen, not on the day the service was
-- first seen, or the new customer pays for the time it belonged to the old one.
--
-- customer_since: taken_at of the snapshot that first reported the service with its current
-- customer_id (or first unassigned). It equals first_seen until the customer changes, and a
-- service that starts a new life gets its new first_seen here too. Rows written before this
-- column existed are filled with first_seen, the best that is known about them.
ALTER TABLE services ADD COLUMN customer_since TEXT;

UPDATE services SET customer_since = first_seen WHERE customer_since IS NULL;
