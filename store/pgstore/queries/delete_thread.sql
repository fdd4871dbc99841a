DELETE FROM {schema}.threads WHERE customer = $1 AND sender = $2
