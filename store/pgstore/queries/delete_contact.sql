DELETE FROM {schema}.contacts WHERE phone = $1
