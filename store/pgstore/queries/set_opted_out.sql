INSERT INTO {schema}.opt_outs (customer, sender) VALUES ($1, $2)
ON CONFLICT (customer, sender) DO NOTHING
