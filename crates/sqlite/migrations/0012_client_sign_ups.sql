-- A client's current sign-up, beside its current sign-in (the sign-up itself
-- lives in the flow store, so no foreign key).
ALTER TABLE clients ADD COLUMN sign_up_id TEXT;
