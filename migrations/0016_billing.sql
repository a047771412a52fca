-- Plans and payments (issue 17). A user's subscription to a plugin's plan, as Stripe's webhook
-- events last said, in the order of the subscription's own history (`event_created`); the
-- customer each user is at Stripe (the billing portal opens for it); and every event id applied,
-- so a redelivered event changes nothing. Deleting the user deletes their rows here; Stripe keeps
-- its own records.
CREATE TABLE IF NOT EXISTS subscriptions (
  plugin              TEXT NOT NULL,
  user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  plan                TEXT NOT NULL,
  status              TEXT NOT NULL,
  stripe_subscription TEXT NOT NULL,
  stripe_customer     TEXT NOT NULL,
  current_period_end  INTEGER,
  event_created       INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  PRIMARY KEY (plugin, user_id)
) WITHOUT ROWID;
-- invoice.payment_failed names only the subscription; the admin console lists a plan's subscribers.
CREATE INDEX IF NOT EXISTS subscriptions_by_stripe ON subscriptions (stripe_subscription);
CREATE INDEX IF NOT EXISTS subscriptions_by_plan ON subscriptions (plugin, plan, status);

CREATE TABLE IF NOT EXISTS billing_customers (
  user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  stripe_customer TEXT NOT NULL,
  updated_at      INTEGER NOT NULL
);

-- Event ids applied, per plugin: Stripe sends one event to every endpoint, and each plugin's
-- endpoint applies it for itself (`nonce` marks the delivery that recorded it, so the statements
-- applying it run only in that one). The cron deletes ids older than 30 days: Stripe retries
-- for 3.
CREATE TABLE IF NOT EXISTS billing_events (
  plugin      TEXT NOT NULL,
  id          TEXT NOT NULL,
  nonce       TEXT NOT NULL,
  type        TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (plugin, id)
);
CREATE INDEX IF NOT EXISTS billing_events_by_received ON billing_events (received_at);
