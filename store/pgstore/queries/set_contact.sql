INSERT INTO {schema}.contacts (phone, contact_id) VALUES ($1, $2)
ON CONFLICT (phone) DO UPDATE SET contact_id = EXCLUDED.contact_id, updated_at = now()
