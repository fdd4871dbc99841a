SELECT EXISTS (SELECT 1 FROM {schema}.relayed_parts WHERE part_id = $1)
