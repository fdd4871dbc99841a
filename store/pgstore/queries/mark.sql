-- See marked.sql.
INSERT INTO {schema}.relayed_parts (part_id) VALUES ($1) ON CONFLICT (part_id) DO NOTHING
