-- Records key $1 for $2 microseconds (database clock). A row comes back when
-- the key is new or its earlier record has expired; none when it is still
-- live. The earlier record's expiry is not extended.
INSERT INTO {schema}.seen_keys AS s (key, expires_at)
VALUES ($1, now() + $2::bigint * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
    WHERE s.expires_at <= now()
RETURNING true
