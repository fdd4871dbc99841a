SELECT kind,
       count(*) FILTER (WHERE state = 'ready'),
       count(*) FILTER (WHERE state = 'leased'),
       count(*) FILTER (WHERE state = 'dead'),
       min(created_at) FILTER (WHERE state = 'ready')
FROM {schema}.jobs
GROUP BY kind
ORDER BY kind
