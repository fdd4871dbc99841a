SELECT contact_id FROM {schema}.contacts WHERE phone = $1
