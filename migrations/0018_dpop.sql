-- RFC 9449 §5.2: a client registered with `dpop_bound_access_tokens: true` (or marked so by an
-- administrator) gets DPoP-bound tokens only: its token requests without a proof are refused.
ALTER TABLE oauth_clients ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
