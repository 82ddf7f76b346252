-- The code a user was sent to prove an address they added to their own
-- account, as JSON (status, attempts, expiry and the code's keyed digest);
-- NULL for an address proved otherwise.
ALTER TABLE email_addresses ADD COLUMN verification TEXT;
ALTER TABLE phone_numbers ADD COLUMN verification TEXT;

-- The tokens a provider issued for a linked account (access token, refresh
-- token and expiry), sealed under the instance key; NULL when none.
ALTER TABLE external_accounts ADD COLUMN tokens TEXT;
