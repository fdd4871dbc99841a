SELECT count(*) FILTER (WHERE state = 'ready'),
       count(*) FILTER (WHERE state = 'leased'),
       count(*) FILTER (WHERE state = 'dead')
FROM {schema}.jobs
