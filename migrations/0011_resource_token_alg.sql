-- Per API resource, the algorithm its access tokens are signed with: EdDSA (Ed25519, the default
-- and the cheapest to verify), or RS256 for resource servers whose JWT libraries accept nothing
-- else. RS256 needs the RSA_SIGNING_KEY secret. Grants snapshot the choice when they start, like
-- the token lifetime. (0010 is taken by another branch.)
ALTER TABLE api_resources ADD COLUMN access_token_alg TEXT NOT NULL DEFAULT 'EdDSA'
  CHECK (access_token_alg IN ('EdDSA', 'RS256'));
