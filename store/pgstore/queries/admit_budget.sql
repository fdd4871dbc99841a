-- Admits one request to budget $1 if fewer than $2 admissions lie within
-- the last $3 microseconds (database clock; an admission exactly $3 ago
-- still counts, so no closed interval of that length holds more than $2).
-- The clock is read after the row lock is taken, so the recorded time is
-- never earlier than the admission it stands for. Returns whether the
-- request was admitted, the time of the attempt and the oldest admission
-- kept (when refused: the next slot opens $3 microseconds after it).
INSERT INTO {schema}.intercom_budget AS b (key, admits, granted, at)
SELECT $1, ARRAY[t.now], true, t.now
FROM (SELECT clock_timestamp() AS now) AS t
ON CONFLICT (key) DO UPDATE SET (admits, granted, at) = (
    SELECT CASE WHEN cardinality(k.kept) < $2::int THEN k.kept || t.now ELSE k.kept END,
           cardinality(k.kept) < $2::int,
           t.now
    FROM (SELECT clock_timestamp() AS now) AS t,
    LATERAL (
        SELECT coalesce(array_agg(a ORDER BY a), ARRAY[]::timestamptz[]) AS kept
        FROM unnest(b.admits) AS a
        WHERE a >= t.now - $3::bigint * interval '1 microsecond'
    ) AS k
)
RETURNING granted, at, admits[1]
