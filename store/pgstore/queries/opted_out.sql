SELECT EXISTS (SELECT 1 FROM {schema}.opt_outs WHERE customer = $1 AND sender = $2)
